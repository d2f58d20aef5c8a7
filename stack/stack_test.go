package stack

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/tcp"
	"golang.org/x/net/nettest"
)

// pair is two stacks joined by an in-memory pipe.
type pair struct {
	a, b         *Stack
	addrA, addrB netip.Addr
}

func newPair(t testing.TB, typ link.Type, v6 bool) *pair {
	t.Helper()
	pa, pb := link.NewPipe(link.PipeOptions{Type: typ, MTU: 1500})
	p := &pair{a: New(Options{}), b: New(Options{})}
	pfx := "198.18.0.%d/24"
	ap, bp := netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("198.18.0.2/24")
	if v6 {
		ap, bp = netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::2/64")
	}
	_ = pfx
	p.addrA, p.addrB = ap.Addr(), bp.Addr()
	if err := p.a.AddInterface(pa, InterfaceConfig{Name: "a", MAC: header.MAC{2, 0, 0, 0, 0, 1}, Addrs: []netip.Prefix{ap}}); err != nil {
		t.Fatal(err)
	}
	if err := p.b.AddInterface(pb, InterfaceConfig{Name: "b", MAC: header.MAC{2, 0, 0, 0, 0, 2}, Addrs: []netip.Prefix{bp}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.a.Close(); p.b.Close() })
	return p
}

// connect dials from a to a listener on b and returns both ends.
func (p *pair) connect(t testing.TB) (client, server *Conn) {
	t.Helper()
	l, err := p.b.ListenTCP(netip.AddrPortFrom(p.addrB, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.AcceptTCP()
		ch <- res{c, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err = p.a.DialTCP(ctx, netip.AddrPort{}, l.AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return client, r.c
}

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestTransferBothDirections(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  link.Type
		v6   bool
	}{{"ip4", link.TypeIP, false}, {"ip6", link.TypeIP, true}, {"eth4", link.TypeEthernet, false}, {"eth6", link.TypeEthernet, true}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, tc.typ, tc.v6)
			c, s := p.connect(t)
			up, down := randBytes(3<<20, 1), randBytes(2<<20, 2)
			var wg sync.WaitGroup
			var gotUp, gotDown []byte
			var errUp, errDown error
			wg.Add(2)
			go func() {
				defer wg.Done()
				gotUp, errUp = io.ReadAll(s)
			}()
			go func() {
				defer wg.Done()
				gotDown, errDown = io.ReadAll(c)
			}()
			go func() {
				c.Write(up)
				c.CloseWrite()
			}()
			go func() {
				s.Write(down)
				s.CloseWrite()
			}()
			wg.Wait()
			if errUp != nil || errDown != nil {
				t.Fatal(errUp, errDown)
			}
			if sha256.Sum256(gotUp) != sha256.Sum256(up) || sha256.Sum256(gotDown) != sha256.Sum256(down) {
				t.Fatalf("content differs: %d/%d %d/%d", len(gotUp), len(up), len(gotDown), len(down))
			}
			c.Close()
			s.Close()
		})
	}
}

func TestConnRefusedAndReset(t *testing.T) {
	p := newPair(t, link.TypeIP, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := p.a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(p.addrB, 9))
	if !errors.Is(err, tcp.ErrConnectionRefused) {
		t.Fatalf("dial closed port: %v", err)
	}
	c, s := p.connect(t)
	s.Abort()
	buf := make([]byte, 10)
	if _, err := c.Read(buf); !errors.Is(err, tcp.ErrConnectionReset) || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after peer abort: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("reset connection not retired")
	}
}

func TestDialContextCancel(t *testing.T) {
	p := newPair(t, link.TypeIP, false)
	p.b.Close() // nobody answers
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(p.addrB, 80))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("dial did not honour the context")
	}
}

func TestDeadlines(t *testing.T) {
	p := newPair(t, link.TypeIP, false)
	c, s := p.connect(t)
	defer c.Close()
	defer s.Close()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	s.Write([]byte("ok"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read after clearing deadline: %v %q", err, buf)
	}
	// A writer blocked on a full window times out too.
	s.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = s.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write past deadline: %v", err)
	}
}

func TestListenerCloseAndAddrInUse(t *testing.T) {
	p := newPair(t, link.TypeIP, false)
	l, err := p.b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 8080))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 8080)); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("second listen: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	l.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
}

// TestNetConn runs the standard net.Conn conformance suite.
func TestNetConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		p := newPair(t, link.TypeIP, false)
		a, b := p.connect(t)
		return a, b, func() { a.Close(); b.Close() }, nil
	})
}

func BenchmarkBulkPipe(b *testing.B) {
	p := newPair(b, link.TypeIP, false)
	c, s := p.connect(b)
	buf := make([]byte, 64<<10)
	const chunk = 1 << 20
	go func() {
		rb := make([]byte, 64<<10)
		for {
			if _, err := s.Read(rb); err != nil {
				return
			}
		}
	}()
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for off := 0; off < chunk; off += len(buf) {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	c.Close()
}
