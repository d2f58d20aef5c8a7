package mptcp

import (
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/mptcp-go/mptcp/stack"
	"github.com/mptcp-go/mptcp/tcp"
)

// Listener accepts MPTCP connections (and plain TCP ones, which become
// connections in fallback, as Linux's MPTCP listener does). It
// implements net.Listener. Its connections not yet accepted are bounded
// as the stack's own listeners' are (stack.Options Backlog and
// MaxHalfOpen, stack.SYNQueue): a flood of MP_CAPABLE SYNs recycles the
// oldest half-open connections instead of filling memory or locking out
// real clients.
type Listener struct {
	h       *Host
	addr    netip.AddrPort
	stop    func()
	acceptQ chan *Conn
	q       *stack.SYNQueue[*Conn]
	closed  chan struct{}
	once    sync.Once
	// tfoKey is the secret of the listener's Fast Open cookies (nil:
	// Fast Open off).
	tfoKey []byte
}

var _ net.Listener = (*Listener)(nil)

// Backlog is the default number of established connections a Listener
// holds for Accept (the stack's Options.Backlog).
const Backlog = 128

// Listen listens on laddr (an unspecified address listens on every
// address of its family; port 0 picks one).
func (h *Host) Listen(laddr netip.AddrPort) (*Listener, error) {
	return h.ListenWith(laddr, ListenOptions{})
}

// ListenOptions are the settings of a listener that ListenWith makes.
type ListenOptions struct {
	// FastOpen accepts TCP Fast Open (RFC 7413; TCP_FASTOPEN on Linux's
	// listener): a client's SYN asking for a cookie gets one (the MAC of
	// its address under the listener's random key, §4.1.2), and the data
	// of a SYN with a valid cookie is accepted at once, ahead of the
	// MPTCP data sequence space (RFC 8684 Appendix B). Connections are
	// still handed to Accept once their handshake completes.
	FastOpen bool
}

// ListenWith is Listen with per-listener settings.
func (h *Host) ListenWith(laddr netip.AddrPort, o ListenOptions) (*Listener, error) {
	backlog, half := h.st.ListenLimits()
	l := &Listener{h: h, acceptQ: make(chan *Conn, backlog), closed: make(chan struct{}), q: stack.NewSYNQueue[*Conn](half, backlog)}
	if o.FastOpen {
		l.tfoKey = make([]byte, 16)
		if _, err := crand.Read(l.tfoKey); err != nil {
			return nil, fmt.Errorf("mptcp: Fast Open key: %w", err)
		}
	}
	a, stop, err := h.st.ListenSYN(laddr, l.handleSYN)
	if err != nil {
		return nil, err
	}
	l.addr, l.stop = a, stop
	return l, nil
}

// handleSYN makes a passive connection for a SYN (its MP_CAPABLE, if
// any, is read by the connection's first subflow), within the listener's
// and the host's bounds.
func (l *Listener) handleSYN(local, remote netip.AddrPort, seg *tcp.Segment) (*stack.Flow, stack.SYNVerdict) {
	stats := l.h.st.Stats()
	victim, evict, ok := l.q.Admit()
	if !ok {
		stats.ListenOverflows.Add(1)
		return nil, stack.SYNDrop
	}
	if evict {
		stats.HalfOpenEvicted.Add(1)
		l.drop(victim)
	}
	var o connOpts
	if l.tfoKey != nil {
		o.cookie = fastOpenCookie(l.tfoKey, remote.Addr())
	}
	c, f, err := l.h.newConn(local, remote, false, o)
	if err != nil {
		l.q.Cancel()
		return nil, stack.SYNDrop
	}
	c.ln = l
	if !l.q.Add(c) {
		c.o.Lock()
		c.ln = nil
		f.Close()
		c.mc.AbortEngine()
		c.o.Unlock()
		return nil, stack.SYNDrop
	}
	return f, stack.SYNDeliver
}

// fastOpenCookie is the Fast Open cookie of client address a: 8 bytes of
// HMAC-SHA256 under key (RFC 7413 §4.1.2 asks for a MAC of the client's
// IP address under a server secret).
func fastOpenCookie(key []byte, a netip.Addr) []byte {
	m := hmac.New(sha256.New, key)
	b := a.Unmap().As16()
	m.Write(b[:])
	return m.Sum(nil)[:8]
}

// drop ends a half-open connection the queue gave up, silently: its flow
// is closed first, so not even a RST goes to what is likely a forged
// source.
func (l *Listener) drop(c *Conn) {
	c.o.Lock()
	if c.ln == l {
		c.ln = nil
		c.first.Close()
		c.mc.AbortEngine()
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
	l.h.st.Stats().ListenOverflows.Add(1)
	c.ln = nil
	c.mc.AbortEngine()
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
		l.q.Forget(c)
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
		for _, c := range l.q.Close() {
			c.o.Lock()
			if c.ln == l {
				c.ln = nil
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
