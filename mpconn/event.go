package mpconn

import (
	"net/netip"

	"github.com/mptcp-go/mptcp/tcp"
)

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds, in the manner of Linux's MPTCP netlink events
// (MPTCP_EVENT_ESTABLISHED, SUB_ESTABLISHED, SUB_CLOSED, ANNOUNCED, ...).
const (
	// EventEstablished: the initial subflow's handshake completed (as
	// MPTCP, or as TCP when Fallback is set).
	EventEstablished EventKind = iota + 1
	// EventSubflowEstablished: a join completed its handshake (either
	// direction; Subflow tells which addresses and whether it is a backup).
	EventSubflowEstablished
	// EventSubflowClosed: a subflow left the connection (Err: why, nil
	// after a clean close).
	EventSubflowClosed
	// EventAddAddr: the peer announced Addr with ID AddrID (ADD_ADDR with a
	// valid HMAC, RFC 8684 §3.4.1).
	EventAddAddr
	// EventAddAddrSent: we announced Addr with ID AddrID (first
	// transmission).
	EventAddAddrSent
	// EventRemoveAddr: the peer withdrew address ID AddrID (§3.4.2).
	EventRemoveAddr
	// EventPrio: the peer changed Subflow's priority (MP_PRIO, §3.3.8).
	EventPrio
	// EventFallback: the connection fell back to TCP (§3.7).
	EventFallback
	// EventClosed: the connection ended (Err: why, nil after a clean close).
	EventClosed
	// EventAddrDown and EventAddrUp: a local address went away or came
	// back (LocalAddrDown, LocalAddrUp; Addr).
	EventAddrDown
	EventAddrUp
)

func (k EventKind) String() string {
	switch k {
	case EventEstablished:
		return "established"
	case EventSubflowEstablished:
		return "subflow_established"
	case EventSubflowClosed:
		return "subflow_closed"
	case EventAddAddr:
		return "add_addr"
	case EventAddAddrSent:
		return "add_addr_sent"
	case EventRemoveAddr:
		return "remove_addr"
	case EventPrio:
		return "mp_prio"
	case EventFallback:
		return "fallback"
	case EventClosed:
		return "closed"
	case EventAddrDown:
		return "addr_down"
	case EventAddrUp:
		return "addr_up"
	}
	return "unknown"
}

// Event is a path or connection event reported to Config.OnEvent.
type Event struct {
	Kind     EventKind
	Token    uint32         // the connection's local token (0 before it has a key)
	Fallback bool           // EventEstablished: the connection is plain TCP
	Subflow  SubflowInfo    // subflow events: the subflow as it is now
	Addr     netip.AddrPort // address events (port 0: the connection's)
	AddrID   uint8
	Err      error
}

// event reports e to Config.OnEvent, if set (called with the driver's
// lock held, like every engine call), after any change of state not yet
// reported, so that the connection's establishment comes first.
func (c *Conn) event(e Event) {
	if c.cfg.OnEvent == nil {
		return
	}
	c.reportEvents()
	c.emit(e)
}

func (c *Conn) emit(e Event) {
	e.Token = c.localToken
	c.cfg.OnEvent(e)
}

// reportEvents reports the changes no single call site owns (the
// connection's state and fallback, which several paths set); called on
// leaving every engine call and before every other event.
func (c *Conn) reportEvents() {
	if c.cfg.OnEvent == nil {
		return
	}
	if c.state != StateConnecting && !c.ev.established && len(c.subflows) > 0 {
		c.ev.established = true
		c.ev.fallback = c.fallback
		c.emit(Event{Kind: EventEstablished, Fallback: c.fallback, Subflow: c.subflows[0].Info()})
	}
	if c.fallback && !c.ev.fallback && c.ev.established {
		c.ev.fallback = true
		c.emit(Event{Kind: EventFallback, Subflow: c.subflows[0].Info()})
	}
	if c.state == StateClosed && !c.ev.closed {
		c.ev.closed = true
		c.emit(Event{Kind: EventClosed, Err: c.err})
	}
}

// eventState remembers what reportEvents already reported.
type eventState struct{ established, fallback, closed bool }

// subflowErr is why a subflow ended (nil after a clean close).
func subflowErr(s *Subflow) error {
	if s.ep.State() == tcp.StateClosed {
		return s.ep.Err()
	}
	return nil
}
