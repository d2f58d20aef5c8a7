package mptcp

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp/mpconn"
	"github.com/mptcp-go/mptcp/stack"
	"github.com/mptcp-go/mptcp/tcp"
)

// Conn is an MPTCP connection. It implements net.Conn (deadlines,
// CloseWrite for a half close with DATA_FIN) and tells its subflows
// (Info).
type Conn struct {
	*stack.Stream
	h  *Host
	o  *stack.Owner
	mc *mpconn.Conn
	ln *Listener // the listener of a passive connection not yet accepted (under o's lock)
	// first is the initial subflow's flow (a listener drops a half-open
	// connection by closing it first: nothing goes out).
	first *stack.Flow

	tos uint8 // every subflow's TOS / traffic class (under o's lock)

	estCh    chan struct{}
	estOnce  sync.Once
	doneCh   chan struct{}
	doneOnce sync.Once
}

var _ net.Conn = (*Conn)(nil)

// env is the mpconn.Env of one connection.
type env struct{ c *Conn }

func (e env) Now() time.Duration      { return e.c.h.st.Now() }
func (e env) NewKey() (uint64, error) { return e.c.h.newKey(e.c) }
func (e env) Nonce() uint32           { return nonce() }
func (e env) LocalAddrs() []netip.Addr {
	return e.c.h.st.Addrs()
}
func (e env) SourceAddr(remote netip.Addr) netip.Addr {
	a, _ := e.c.h.st.SourceAddr(remote)
	return a
}
func (e env) OpenSubflow(local, remote netip.AddrPort) (mpconn.SubflowIO, error) {
	f, err := e.c.h.st.OpenFlow(e.c.o, local, remote)
	if err != nil {
		return nil, err
	}
	f.SetTOS(e.c.tos)
	return f, nil
}
func (e env) Notify(n tcp.Notify) { e.c.notify(n) }

// connOpts are a connection's own settings.
type connOpts struct {
	tos    uint8  // DialOptions.TOS
	cookie []byte // the peer's Fast Open cookie, if the listener takes Fast Open
}

// newConn makes the driver of a connection: owner, first flow, engine.
func (h *Host) newConn(local, remote netip.AddrPort, active bool, o connOpts) (*Conn, *stack.Flow, error) {
	if !h.connSlot() {
		h.limitDrops.Add(1)
		return nil, nil, ErrTooManyConnections
	}
	c := &Conn{h: h, tos: o.tos, estCh: make(chan struct{}), doneCh: make(chan struct{})}
	c.o = h.st.NewOwner(c)
	f, err := h.st.OpenFlow(c.o, local, remote)
	if err != nil {
		h.connGone()
		return nil, nil, err
	}
	f.SetTOS(o.tos)
	cfg := h.cfg
	cfg.TCP.FastOpenCookie = o.cookie
	var mc *mpconn.Conn
	if active {
		mc, err = mpconn.NewActive(env{c}, cfg, f)
	} else {
		mc, err = mpconn.NewPassive(env{c}, cfg, f)
	}
	if err != nil {
		f.Close()
		h.connGone()
		return nil, nil, err
	}
	c.mc, c.first = mc, f
	for _, a := range h.downAddrs() {
		mc.LocalAddrDown(a) // before any other goroutine knows c
	}
	c.Stream = stack.NewStream(c.o, mc, f.Local(), f.Remote())
	return c, f, nil
}

// notify is the engine's readiness callback (under the owner's lock).
func (c *Conn) notify(n tcp.Notify) {
	c.Stream.Notify(n)
	if n&tcp.NotifyEstablished != 0 {
		c.estOnce.Do(func() { close(c.estCh) })
		if c.ln != nil {
			c.ln.enqueue(c)
		}
	}
}

// HandleTimers, NextDeadline, Finished, Retired and AbortEngine implement
// stack.OwnerEngine.
func (c *Conn) HandleTimers()                       { c.mc.HandleTimers() }
func (c *Conn) NextDeadline() (time.Duration, bool) { return c.mc.NextDeadline() }
func (c *Conn) Finished() bool                      { return c.mc.Finished() }
func (c *Conn) AbortEngine()                        { c.mc.AbortEngine() }
func (c *Conn) Retired() {
	c.h.connGone()
	c.h.releaseToken(c.mc.LocalToken(), c)
	if c.ln != nil {
		c.ln.q.Forget(c)
		c.ln = nil
	}
	c.doneOnce.Do(func() { close(c.doneCh) })
	c.Stream.Notify(tcp.NotifyClosed)
}

// Dial opens an MPTCP connection to raddr from the address the route
// picks. It returns when the handshake completes (MPTCP, or TCP if the
// peer or the path does not let MPTCP through), fails, or ctx ends.
func (h *Host) Dial(ctx context.Context, raddr netip.AddrPort) (*Conn, error) {
	return h.DialFrom(ctx, netip.AddrPort{}, raddr)
}

// DialFrom is Dial from laddr (zero address or port: the stack picks).
func (h *Host) DialFrom(ctx context.Context, laddr, raddr netip.AddrPort) (*Conn, error) {
	return h.DialWith(ctx, raddr, DialOptions{Local: laddr})
}

// DialOptions are the settings of one connection that DialWith makes.
type DialOptions struct {
	// Local is the address to dial from (zero address or port: the
	// stack picks).
	Local netip.AddrPort
	// TOS is the IPv4 TOS or IPv6 traffic class byte of every subflow's
	// packets, the SYN included (IP_TOS, IPV6_TCLASS on the MPTCP
	// socket before connect); its two ECN bits stay the stack's.
	TOS uint8
}

// DialWith is Dial with per-connection settings.
func (h *Host) DialWith(ctx context.Context, raddr netip.AddrPort, o DialOptions) (*Conn, error) {
	laddr := o.Local
	c, _, err := h.newConn(laddr, raddr, true, connOpts{tos: o.TOS})
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(raddr), Err: err}
	}
	c.o.Lock()
	err = c.mc.Connect()
	c.o.Unlock()
	if err != nil {
		c.Abort()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(raddr), Err: err}
	}
	select {
	case <-c.estCh:
		return c, nil
	case <-c.doneCh:
	case <-ctx.Done():
		c.Abort()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(raddr), Err: ctx.Err()}
	}
	c.o.Lock()
	err = c.mc.Err()
	c.o.Unlock()
	if err == nil {
		err = tcp.ErrConnectionRefused
	}
	return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(raddr), Err: err}
}

// Info returns the connection's state and its subflows', in the manner
// of `ss -Mi` (MPTCP_INFO, and tcp_info per subflow).
func (c *Conn) Info() mpconn.ConnInfo {
	c.o.Lock()
	defer c.o.Unlock()
	return c.mc.Info()
}

// Fallback reports whether the connection fell back to TCP.
func (c *Conn) Fallback() bool {
	c.o.Lock()
	defer c.o.Unlock()
	return c.mc.Fallback()
}

// SetBackup marks the subflows from local address a as backup or not
// (MP_PRIO, RFC 8684 §3.3.8).
func (c *Conn) SetBackup(a netip.Addr, backup bool) {
	c.o.Lock()
	c.mc.SetBackup(a, backup)
	c.o.Unlock()
}

// SetNoDelay turns Nagle's algorithm off (noDelay, the default unless
// Config.TCP.Nagle) or on for every subflow, as net.TCPConn's SetNoDelay
// (TCP_NODELAY) does for one TCP connection.
func (c *Conn) SetNoDelay(noDelay bool) error {
	c.o.Lock()
	c.mc.SetNoDelay(noDelay)
	c.o.Unlock()
	return nil
}

// RemoveAddr withdraws local address a from the connection (REMOVE_ADDR,
// RFC 8684 §3.4.2).
func (c *Conn) RemoveAddr(a netip.Addr) {
	c.o.Lock()
	c.mc.RemoveAddr(a)
	c.o.Unlock()
}

// Done is closed when the connection and all its subflows are gone.
func (c *Conn) Done() <-chan struct{} { return c.doneCh }

// Err returns why the connection ended abnormally, or nil.
func (c *Conn) Err() error {
	c.o.Lock()
	defer c.o.Unlock()
	return c.mc.Err()
}
