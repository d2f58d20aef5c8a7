package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Timeouts of the scenarios. Quick bounds an answer the DUT gives at once
// (a SYN-ACK, an ACK to out-of-order data): generous, because a loaded
// machine may hold our stack's goroutines for a while, and it only delays
// a failing run. Timer-driven segments are checked with Got.Within and
// their own bounds.
const (
	Quick = 2 * time.Second
)

func (t *T) checkCtx() {
	if err := t.ctx.Err(); err != nil {
		t.Fatalf("run ended: %v", err)
	}
}

// must ends the scenario on err: as not yet possible if the DUT does not
// support what was asked, as a failure otherwise.
func (t *T) must(what string, err error) {
	if err == nil {
		return
	}
	if errors.Is(err, ErrNotSupported) {
		t.notYet(err)
	}
	t.Fatalf("%s: %v", what, err)
}

// Listen opens a listener on the DUT's primary address with a port the DUT
// picks, closed when the scenario ends.
func (t *T) Listen(o SockOpts) Listener {
	return t.ListenOn(0, o)
}

// ListenAny listens on every address of the family (the unspecified
// address), for scenarios where the peer joins at another address of the
// DUT; Addr of the result names the primary address.
func (t *T) ListenAny(o SockOpts) Listener {
	un := netip.IPv4Unspecified()
	if t.Family() == IPv6 {
		un = netip.IPv6Unspecified()
	}
	l, err := t.dut.Listen(t.ctx, netip.AddrPortFrom(un, 0), o)
	t.must("listen", err)
	t.Logf("app: listening on %v (mptcp %v)", l.Addr(), o.MPTCP)
	t.Cleanup(func() { l.Close() })
	return anyListener{l, netip.AddrPortFrom(t.topo.DUT[0], l.Addr().Port())}
}

type anyListener struct {
	Listener
	addr netip.AddrPort
}

func (l anyListener) Addr() netip.AddrPort { return l.addr }

// PathManager returns the DUT's path-manager control, ending the scenario
// as not yet possible if the DUT has none.
func (t *T) PathManager() PathManager {
	pm, ok := t.dut.(PathManager)
	if !ok {
		t.notYet(fmt.Errorf("%s: no path-manager control: %w", t.dut.Name(), ErrNotSupported))
	}
	return pm
}

// ListenOn is Listen on the DUT's address i.
func (t *T) ListenOn(i int, o SockOpts) Listener {
	l, err := t.dut.Listen(t.ctx, netip.AddrPortFrom(t.topo.DUT[i], 0), o)
	t.must("listen", err)
	t.Logf("app: listening on %v (mptcp %v)", l.Addr(), o.MPTCP)
	t.Cleanup(func() { l.Close() })
	return l
}

// Op is an application call running in the background while the
// testbench plays its part (an accept or a connect waiting for the
// handshake).
type Op[V any] struct {
	t    *T
	name string
	done chan struct{}
	v    V
	err  error
}

// Start runs fn in the background as the application call name.
func Start[V any](t *T, name string, fn func(ctx context.Context) (V, error)) *Op[V] {
	o := &Op[V]{t: t, name: name, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		o.v, o.err = fn(t.ctx)
		if errors.Is(o.err, ErrNotSupported) {
			// The scenario may be waiting for a packet this call would
			// have caused: the verdict is made now.
			t.record(NotYet, o.err.Error())
		}
		if o.err != nil {
			t.Logf("app: %s: %v", name, o.err)
		} else {
			t.Logf("app: %s returned", name)
		}
	}()
	return o
}

// Wait waits up to within for the call and returns its result; the
// scenario ends if it has not returned by then.
func (o *Op[V]) Wait(within time.Duration) (V, error) {
	select {
	case <-o.done:
		return o.v, o.err
	case <-time.After(within):
		o.t.Fatalf("%s did not return within %v", o.name, within)
	case <-o.t.ctx.Done():
		o.t.checkCtx()
	}
	panic("unreachable")
}

// Result waits like Wait and ends the scenario if the call failed.
func (o *Op[V]) Result(within time.Duration) V {
	v, err := o.Wait(within)
	o.t.must(o.name, err)
	return v
}

// Returned reports whether the call has returned.
func (o *Op[V]) Returned() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

// Accept starts an accept on l.
func (t *T) Accept(l Listener) *Op[Conn] {
	return Start(t, "accept", func(ctx context.Context) (Conn, error) {
		c, err := l.Accept(ctx)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		return c, err
	})
}

// Dial starts a connect from the DUT to the testbench's address i and the
// given port.
func (t *T) Dial(i int, port uint16, o SockOpts) *Op[Conn] {
	raddr := netip.AddrPortFrom(t.topo.TB[i], port)
	return Start(t, "connect to "+raddr.String(), func(ctx context.Context) (Conn, error) {
		c, err := t.dut.Dial(ctx, raddr, o)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		return c, err
	})
}

// Write writes b on c, which must take all of it within Quick.
func (t *T) Write(c Conn, b []byte) {
	c.SetWriteDeadline(time.Now().Add(Quick))
	n, err := c.Write(b)
	t.Logf("app: write %d bytes: %d, %v", len(b), n, err)
	if err != nil || n != len(b) {
		t.Fatalf("write %d bytes: wrote %d: %v", len(b), n, err)
	}
}

// Read reads exactly n bytes from c within the given time and returns them.
func (t *T) Read(c Conn, n int, within time.Duration) []byte {
	c.SetReadDeadline(time.Now().Add(within))
	b := make([]byte, n)
	m, err := io.ReadFull(c, b)
	t.Logf("app: read %d bytes: %d, %v", n, m, err)
	if err != nil {
		t.Fatalf("read %d bytes: got %d: %v", n, m, err)
	}
	return b
}

// ReadErr reads from c until it returns an error (io.EOF included) within
// the given time, and returns the error and the data read before it.
func (t *T) ReadErr(c Conn, within time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(within))
	var data []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		data = append(data, buf[:n]...)
		if err != nil {
			t.Logf("app: read: %d bytes then %v", len(data), err)
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, io.EOF) {
				t.Fatalf("read: no error or EOF within %v (%d bytes read)", within, len(data))
			}
			return data, err
		}
	}
}

// CloseWrite shuts c's sending side down.
func (t *T) CloseWrite(c Conn) {
	err := c.CloseWrite()
	t.Logf("app: shutdown(SHUT_WR): %v", err)
	if err != nil {
		t.Fatalf("shutdown(SHUT_WR): %v", err)
	}
}

// Close closes c.
func (t *T) Close(c Conn) {
	err := c.Close()
	t.Logf("app: close: %v", err)
	if err != nil {
		t.Fatalf("close: %v", err)
	}
}

// Abort closes c with RST.
func (t *T) Abort(c Conn) {
	err := c.Abort()
	t.Logf("app: abort (SO_LINGER 0, close): %v", err)
	if err != nil {
		t.Fatalf("abort: %v", err)
	}
}

// Pattern returns n bytes of a recognisable pattern (for payload checks).
func Pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}
