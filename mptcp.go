// Package mptcp is Multipath TCP (RFC 8684) in user space: connections
// that use several paths at once over a userspace TCP/IP stack (package
// stack), interoperating with the Linux kernel's MPTCP in both roles.
//
// A Host gives MPTCP to a stack.Stack that owns one or more interfaces:
// Dial and Listen return a Conn and a Listener that are a net.Conn and a
// net.Listener. A connection starts with MP_CAPABLE on one path; the
// client then joins the server from its other addresses and to the
// addresses the server advertises (ADD_ADDR), data is spread over the
// subflows by a scheduler, reinjected when a path fails, and the
// connection falls back to TCP when the peer or a middlebox does not
// let MPTCP through.
//
//	h, err := mptcp.NewHost(st, mptcp.Config{})
//	conn, err := h.Dial(ctx, netip.MustParseAddrPort("198.18.1.2:5201"))
//	ln, err := h.Listen(netip.MustParseAddrPort("0.0.0.0:5201"))
//
// The protocol engine is package mpconn (no I/O, an injected clock); this
// package drives it with the stack's flows, timers and locks.
package mptcp

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/mpconn"
	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
	"github.com/mptcp-go/mptcp/stack"
	"github.com/mptcp-go/mptcp/tcp"
)

// Config configures the connections of a Host (checksums, subflow
// limits, buffers, the subflows' TCP settings, the scheduler). The zero
// value is Linux's defaults.
type Config = mpconn.Config

// MIB holds a host's MPTCP counters, named after Linux's MPTcpExt MIB.
type MIB = mpconn.MIB

// ErrTokenSpace: no unique token could be drawn for a new connection.
var ErrTokenSpace = errors.New("mptcp: no free token")

// ErrTooManyConnections: the host has Config.MaxConnections connections.
var ErrTooManyConnections = errors.New("mptcp: connection limit reached")

// Host is MPTCP on a stack: its connections, their tokens (unique on the
// host, RFC 8684 §3.1) and the joins addressed to them. It is safe for
// concurrent use.
type Host struct {
	st  *stack.Stack
	cfg Config
	mib MIB
	// limitDrops counts connections refused at Config.MaxConnections.
	limitDrops atomic.Uint64

	mu     sync.Mutex
	tokens map[uint32]*Conn
	nconns int                 // connections made and not retired (Config.MaxConnections)
	down   map[netip.Addr]bool // local addresses that are gone (AddrDown)
	closed bool
}

// NewHost gives MPTCP to st. A stack has at most one Host (it takes the
// stack's SYN tap to route MP_JOIN SYNs to their connection).
func NewHost(st *stack.Stack, cfg Config) (*Host, error) {
	h := &Host{st: st, cfg: cfg, tokens: make(map[uint32]*Conn)}
	if cfg.MIB == nil {
		h.cfg.MIB = &h.mib
	}
	if cfg.MaxConnections <= 0 {
		h.cfg.MaxConnections = mpconn.DefaultMaxConnections
	}
	if err := tcp.ValidCongestionControl(cfg.TCP.CongestionControl); err != nil {
		return nil, err
	}
	if err := st.SetSYNTap(h.joinSYN); err != nil {
		return nil, err
	}
	return h, nil
}

// MIB returns the host's counters.
func (h *Host) MIB() *MIB { return h.cfg.MIB }

// Stack returns the host's stack.
func (h *Host) Stack() *stack.Stack { return h.st }

// Close stops routing joins; connections go on until they end.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	return h.st.SetSYNTap(nil)
}

// AddrDown tells every connection of the host that local address a is
// gone: its interface went down or lost the address (the path manager's
// part of Linux's address events). Subflows from a close with
// REMOVE_ADDR to the peer where other subflows carry on, or are parked
// where none can; connections opened later do not use a either.
func (h *Host) AddrDown(a netip.Addr) {
	h.mu.Lock()
	if h.down == nil {
		h.down = make(map[netip.Addr]bool)
	}
	h.down[a] = true
	conns := h.conns()
	h.mu.Unlock()
	for _, c := range conns {
		c.o.Lock()
		c.mc.LocalAddrDown(a)
		c.o.Unlock()
	}
}

// AddrUp tells every connection that local address a works again: clients
// open their subflows from it again, servers announce it (ADD_ADDR).
func (h *Host) AddrUp(a netip.Addr) {
	h.mu.Lock()
	delete(h.down, a)
	conns := h.conns()
	h.mu.Unlock()
	for _, c := range conns {
		c.o.Lock()
		c.mc.LocalAddrUp(a)
		c.o.Unlock()
	}
}

// NumConns returns the number of the host's connections (handshakes
// included, until they are gone for good).
func (h *Host) NumConns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nconns
}

// ConnLimitDrops returns how many connections (SYNs and dials) were
// refused because the host had Config.MaxConnections.
func (h *Host) ConnLimitDrops() uint64 { return h.limitDrops.Load() }

// connSlot takes a place for a new connection, if the host has one
// (Config.MaxConnections).
func (h *Host) connSlot() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nconns >= h.cfg.MaxConnections {
		return false
	}
	h.nconns++
	return true
}

func (h *Host) connGone() {
	h.mu.Lock()
	h.nconns--
	h.mu.Unlock()
}

// conns returns the connections with a token (h.mu held).
func (h *Host) conns() []*Conn {
	out := make([]*Conn, 0, len(h.tokens))
	for _, c := range h.tokens {
		out = append(out, c)
	}
	return out
}

// downAddrs returns the addresses marked down.
func (h *Host) downAddrs() []netip.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]netip.Addr, 0, len(h.down))
	for a := range h.down {
		out = append(out, a)
	}
	return out
}

// newKey draws a key whose token no other connection of the host uses
// and reserves the token for c (RFC 8684 §3.1; Linux retries a few times
// and falls back to TCP if it cannot find one).
func (h *Host) newKey(c *Conn) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := 0; i < 16; i++ {
		key, err := mpcrypto.NewKey(nil)
		if err != nil {
			return 0, err
		}
		if key == 0 {
			continue
		}
		tok := mpcrypto.Token(option.V1, key)
		if _, used := h.tokens[tok]; used {
			continue
		}
		h.tokens[tok] = c
		return key, nil
	}
	return 0, ErrTokenSpace
}

func (h *Host) releaseToken(tok uint32, c *Conn) {
	h.mu.Lock()
	if h.tokens[tok] == c {
		delete(h.tokens, tok)
	}
	h.mu.Unlock()
}

func (h *Host) lookup(tok uint32) *Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tokens[tok]
}

func nonce() uint32 {
	var b [4]byte
	_, _ = crand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// joinSYN is the stack's SYN tap: an MP_JOIN SYN goes to the connection
// its token names (RFC 8684 §3.2), or is refused with MP_TCPRST; any
// other SYN goes on to the listeners.
func (h *Host) joinSYN(local, remote netip.AddrPort, seg *tcp.Segment) (*stack.Flow, stack.SYNVerdict) {
	var j option.MPJoin
	found := false
	for it := header.NewTCPOptionIterator(seg.Options); it.Next(); {
		if it.Kind() != header.TCPOptMPTCP {
			continue
		}
		o, err := option.Parse(it.Raw())
		if err == nil && o.Subtype == option.SubtypeMPJoin && o.MPJoin.Stage == option.JoinSYN {
			j, found = o.MPJoin, true
			break
		}
	}
	if !found {
		return nil, stack.SYNPass
	}
	c := h.lookup(j.Token)
	if c == nil {
		h.cfg.MIB.MPJoinNoTokenFound.Add(1)
		h.refuse(local, remote, seg, option.RstMPTCPError)
		return nil, stack.SYNDrop
	}
	c.o.Lock()
	if c.o.Retired() {
		c.o.Unlock()
		h.refuse(local, remote, seg, option.RstMPTCPError)
		return nil, stack.SYNDrop
	}
	f, err := h.st.OpenFlow(c.o, local, remote)
	if err != nil {
		c.o.Unlock()
		h.refuse(local, remote, seg, option.RstLackOfResources)
		return nil, stack.SYNDrop
	}
	f.SetTOS(c.tos)
	ok, reason := c.mc.AcceptJoin(f, &j)
	if !ok {
		f.Close()
		c.o.Unlock()
		h.refuse(local, remote, seg, reason)
		return nil, stack.SYNDrop
	}
	c.o.Unlock()
	return f, stack.SYNDeliver
}

// refuse answers a SYN with RST carrying MP_TCPRST (RFC 8684 §3.6).
func (h *Host) refuse(local, remote netip.AddrPort, seg *tcp.Segment, r option.RstReason) {
	o := option.Option{Subtype: option.SubtypeMPTCPRst, MPTCPRst: option.MPTCPRst{Reason: r}}
	b, _ := o.Append(nil)
	h.cfg.MIB.MPRstTx.Add(1)
	h.st.ReplyRST(local, remote, seg, b)
}
