package stack

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp/tcp"
)

// Conn is a TCP connection of a Stack. It implements net.Conn.
type Conn struct {
	Stream
	s    *Stack
	flow *Flow
	ep   *tcp.Endpoint
	ln   *Listener // the listener of a passive conn not yet accepted (under the owner's lock)

	estCh    chan struct{} // closed when established
	estOnce  sync.Once
	doneCh   chan struct{} // closed when the engine reached CLOSED
	doneOnce sync.Once
}

var _ net.Conn = (*Conn)(nil)

// newConn makes a TCP connection on a new flow from local to remote (see
// OpenFlow for zero parts of local).
func (s *Stack) newConn(local, remote netip.AddrPort, hooks tcp.SegmentHooks) (*Conn, error) {
	c := &Conn{s: s, estCh: make(chan struct{}), doneCh: make(chan struct{})}
	o := s.NewOwner(c)
	f, err := s.OpenFlow(o, local, remote)
	if err != nil {
		return nil, err
	}
	cfg := f.TCPConfig(s.opts.TCP)
	cfg.Hooks = hooks
	cfg.Notify = c.notify
	c.flow = f
	c.ep = tcp.New(cfg, s, f)
	c.ep.DeferAcks(true) // the reader flushes ACKs once per batch
	f.Attach(c.ep, nil)
	c.Stream.init(o, c.ep, f.Local(), f.Remote())
	return c, nil
}

// HandleTimers, NextDeadline, Finished and Retired implement OwnerEngine.
func (c *Conn) HandleTimers()                       { c.ep.HandleTimers() }
func (c *Conn) NextDeadline() (time.Duration, bool) { return c.ep.NextDeadline() }
func (c *Conn) Finished() bool                      { return c.ep.State() == tcp.StateClosed }
func (c *Conn) AbortEngine()                        { c.ep.Abort() }
func (c *Conn) Retired() {
	if c.ln != nil {
		c.ln.q.Forget(c)
		c.ln = nil
	}
	c.doneOnce.Do(func() { close(c.doneCh) })
	signal(c.rdCh)
	signal(c.wrCh)
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

// Info returns the engine's view of the connection (RTT, windows, counters).
func (c *Conn) Info() tcp.Info {
	c.o.Lock()
	defer c.o.Unlock()
	return c.ep.Info()
}

// Done is closed when the connection has fully closed (after TIME-WAIT,
// or at once on reset).
func (c *Conn) Done() <-chan struct{} { return c.doneCh }

// SendAck sends a pure ACK now (with the hooks' options).
func (c *Conn) SendAck() {
	c.o.Lock()
	c.ep.SendAck()
	c.o.Unlock()
}

// DialOptions tune DialTCPOptions.
type DialOptions struct {
	// Hooks, if set, ride on the connection's segments (MPTCP).
	Hooks tcp.SegmentHooks
}

// DialTCP opens a connection from laddr (its address and port may be
// zero: the stack picks them) to raddr. It returns when the handshake
// completes, fails, or ctx ends (the attempt is then aborted).
func (s *Stack) DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (*Conn, error) {
	return s.DialTCPOptions(ctx, laddr, raddr, DialOptions{})
}

// DialTCPOptions is DialTCP with options.
func (s *Stack) DialTCPOptions(ctx context.Context, laddr, raddr netip.AddrPort, o DialOptions) (*Conn, error) {
	c, err := s.newConn(laddr, raddr, o.Hooks)
	if err != nil {
		return nil, err
	}
	s.stats.TCPActiveOpens.Add(1)
	c.o.Lock()
	_ = c.ep.Connect()
	c.o.Unlock()
	select {
	case <-c.estCh:
		return c, nil
	case <-c.doneCh:
		s.stats.TCPAttemptFails.Add(1)
		c.o.Lock()
		err := c.ep.Err()
		c.o.Unlock()
		if err == nil {
			err = tcp.ErrConnectionRefused
		}
		return nil, c.opErr("dial", err)
	case <-ctx.Done():
		s.stats.TCPAttemptFails.Add(1)
		c.abort()
		return nil, c.opErr("dial", ctx.Err())
	}
}

// ListenOptions tune ListenTCPOptions.
type ListenOptions struct {
	// Hooks, if set, is called for each SYN with its raw options; it
	// returns the hooks for the new connection, or an error to refuse it
	// with RST (the MPTCP layer rejecting an MP_JOIN, say).
	Hooks func(local, remote netip.AddrPort, synOptions []byte) (tcp.SegmentHooks, error)
}

// Listener is a TCP listener of a Stack. It implements net.Listener.
type Listener struct {
	s       *Stack
	addr    netip.AddrPort
	opts    ListenOptions
	acceptQ chan *Conn
	q       *SYNQueue[*Conn] // connections not yet accepted (Options.Backlog, Options.MaxHalfOpen)
	closed  chan struct{}
	once    sync.Once
	stop    func()
}

var _ net.Listener = (*Listener)(nil)

// ListenTCP listens on addr. An unspecified address listens on every
// address of that family; port 0 picks an ephemeral port.
func (s *Stack) ListenTCP(addr netip.AddrPort) (*Listener, error) {
	return s.ListenTCPOptions(addr, ListenOptions{})
}

// ListenTCPOptions is ListenTCP with options.
func (s *Stack) ListenTCPOptions(addr netip.AddrPort, o ListenOptions) (*Listener, error) {
	l := &Listener{s: s, opts: o, acceptQ: make(chan *Conn, s.opts.Backlog), closed: make(chan struct{}),
		q: NewSYNQueue[*Conn](s.opts.MaxHalfOpen, s.opts.Backlog)}
	a, stop, err := s.ListenSYN(addr, l.handleSYN)
	if err != nil {
		return nil, err
	}
	l.addr, l.stop = a, stop
	return l, nil
}

// handleSYN opens a connection for a SYN (RFC 9293 §3.10.7.2), within
// the listener's bounds (SYNQueue).
func (l *Listener) handleSYN(local, remote netip.AddrPort, seg *tcp.Segment) (*Flow, SYNVerdict) {
	var hooks tcp.SegmentHooks
	if l.opts.Hooks != nil {
		h, err := l.opts.Hooks(local, remote, seg.Options)
		if err != nil {
			return nil, SYNReset
		}
		hooks = h
	}
	victim, evict, ok := l.q.Admit()
	if !ok {
		l.s.stats.ListenOverflows.Add(1)
		return nil, SYNDrop // accept queue full: the peer retries (like Linux)
	}
	if evict {
		l.s.stats.HalfOpenEvicted.Add(1)
		l.drop(victim)
	}
	c, err := l.s.newConn(local, remote, hooks)
	if err != nil {
		l.q.Cancel()
		return nil, SYNDrop
	}
	c.ln = l
	if !l.q.Add(c) {
		c.o.Lock()
		c.ln = nil
		c.flow.Close()
		c.o.Unlock()
		return nil, SYNDrop
	}
	l.s.stats.TCPPassiveOpens.Add(1)
	c.o.Lock()
	_ = c.ep.Listen()
	c.o.Unlock()
	return c.flow, SYNDeliver
}

// drop ends a half-open connection the queue gave up, silently: its flow
// is closed first, so not even a RST goes out (to a forged source, as a
// request socket that times out in Linux).
func (l *Listener) drop(c *Conn) {
	c.o.Lock()
	if c.ln == l {
		c.ln = nil
		c.flow.Close()
		c.ep.Abort()
	}
	c.o.Unlock()
}

// enqueue hands an established connection to Accept (under its owner's
// lock); one the queue has no room for, or gave up, is reset.
func (l *Listener) enqueue(c *Conn) {
	if l.q.Established(c) {
		select {
		case l.acceptQ <- c:
			return
		default: // cannot happen: the queue bounds acceptQ's contents
		}
	}
	l.s.stats.ListenOverflows.Add(1)
	c.ln = nil
	c.ep.Abort()
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) { return l.AcceptTCP() }

// AcceptTCP waits for the next established connection.
func (l *Listener) AcceptTCP() (*Conn, error) {
	for {
		select {
		case c := <-l.acceptQ:
			c.o.Lock()
			c.ln = nil
			c.o.Unlock()
			l.q.Forget(c)
			return c, nil
		case <-l.closed:
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
		}
	}
}

// Close implements net.Listener: it stops listening and resets the
// connections not yet accepted.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.stop()
		for _, c := range l.q.Close() {
			c.o.Lock()
			if c.ln == l {
				c.ln = nil
				c.ep.Abort()
			}
			c.o.Unlock()
		}
	})
	return nil
}

// Addr implements net.Listener.
func (l *Listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }

// AddrPort returns the listening address.
func (l *Listener) AddrPort() netip.AddrPort { return l.addr }
