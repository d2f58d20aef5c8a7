package mptcp

import (
	"net"
	"net/netip"
	"sync"

	"github.com/mptcp-go/mptcp/stack"
	"github.com/mptcp-go/mptcp/tcp"
)

// Listener accepts MPTCP connections (and plain TCP ones, which become
// connections in fallback, as Linux's MPTCP listener does). It
// implements net.Listener.
type Listener struct {
	h       *Host
	addr    netip.AddrPort
	stop    func()
	acceptQ chan *Conn
	closed  chan struct{}
	once    sync.Once

	mu      sync.Mutex
	pending int
	open    map[*Conn]struct{}
}

var _ net.Listener = (*Listener)(nil)

// Backlog is the number of connections a Listener holds for Accept
// (established or in their handshake).
const Backlog = 128

// Listen listens on laddr (an unspecified address listens on every
// address of its family; port 0 picks one).
func (h *Host) Listen(laddr netip.AddrPort) (*Listener, error) {
	l := &Listener{h: h, acceptQ: make(chan *Conn, Backlog), closed: make(chan struct{}), open: make(map[*Conn]struct{})}
	a, stop, err := h.st.ListenSYN(laddr, l.handleSYN)
	if err != nil {
		return nil, err
	}
	l.addr, l.stop = a, stop
	return l, nil
}

// handleSYN makes a passive connection for a SYN (its MP_CAPABLE, if
// any, is read by the connection's first subflow).
func (l *Listener) handleSYN(local, remote netip.AddrPort, seg *tcp.Segment) (*stack.Flow, stack.SYNVerdict) {
	if !l.reserve() {
		return nil, stack.SYNDrop
	}
	c, f, err := l.h.newConn(local, remote, false)
	if err != nil {
		l.unreserve()
		return nil, stack.SYNDrop
	}
	c.ln = l
	l.mu.Lock()
	l.open[c] = struct{}{}
	l.mu.Unlock()
	return f, stack.SYNDeliver
}

func (l *Listener) reserve() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.closed:
		return false
	default:
	}
	if l.pending >= cap(l.acceptQ) {
		return false
	}
	l.pending++
	return true
}

func (l *Listener) unreserve() {
	l.mu.Lock()
	l.pending--
	l.mu.Unlock()
}

func (l *Listener) forget(c *Conn) {
	l.mu.Lock()
	if _, ok := l.open[c]; ok {
		delete(l.open, c)
		l.pending--
	}
	l.mu.Unlock()
}

// enqueue hands an established connection to Accept (under its owner's
// lock).
func (l *Listener) enqueue(c *Conn) {
	select {
	case l.acceptQ <- c:
	default:
		c.ln = nil
		c.mc.AbortEngine()
	}
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) { return l.AcceptMPTCP() }

// AcceptMPTCP waits for the next established connection.
func (l *Listener) AcceptMPTCP() (*Conn, error) {
	select {
	case c := <-l.acceptQ:
		c.o.Lock()
		c.ln = nil
		c.o.Unlock()
		l.forget(c)
		return c, nil
	case <-l.closed:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
}

// Close implements net.Listener: it stops listening and resets the
// connections not yet accepted.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.stop()
		l.mu.Lock()
		orphans := make([]*Conn, 0, len(l.open))
		for c := range l.open {
			orphans = append(orphans, c)
		}
		l.mu.Unlock()
		for _, c := range orphans {
			c.o.Lock()
			if c.ln == l {
				c.mc.AbortEngine()
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
