package mptcp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/stack"
)

// pair is two stacks joined by two in-memory links ("wifi" 198.18.1.0/24
// and "cellular" 198.18.2.0/24), each with an MPTCP host.
type pair struct {
	cli, srv   *stack.Stack
	hcli, hsrv *mptcp.Host
	cliLinks   []*link.Pipe // the client's ends (a test may write into them, as on a shared link)
}

func newPair(t *testing.T, ccfg, scfg mptcp.Config) *pair {
	t.Helper()
	p := &pair{cli: stack.New(stack.Options{}), srv: stack.New(stack.Options{})}
	t.Cleanup(func() { p.cli.Close(); p.srv.Close() })
	for i, name := range []string{"wifi", "cell"} {
		a, b := link.NewPipe(link.PipeOptions{})
		p.cliLinks = append(p.cliLinks, a)
		net := byte(i + 1)
		ca := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, net, 1}), 24)
		sa := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, net, 2}), 24)
		if err := p.cli.AddInterface(a, stack.InterfaceConfig{Name: name, Addrs: []netip.Prefix{ca}}); err != nil {
			t.Fatal(err)
		}
		if err := p.srv.AddInterface(b, stack.InterfaceConfig{Name: name, Addrs: []netip.Prefix{sa}}); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if p.hcli, err = mptcp.NewHost(p.cli, ccfg); err != nil {
		t.Fatal(err)
	}
	if p.hsrv, err = mptcp.NewHost(p.srv, scfg); err != nil {
		t.Fatal(err)
	}
	return p
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// echoServer accepts one connection, reads everything, writes its
// SHA-256 back and closes.
func sinkServer(t *testing.T, ln *mptcp.Listener, got chan<- []byte) {
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, err := io.ReadAll(c)
		if err != nil {
			t.Errorf("server read: %v", err)
		}
		sum := sha256.Sum256(b)
		c.Write(sum[:])
		c.Close()
		got <- b
	}()
}

func TestDialListenTwoPaths(t *testing.T) {
	quick := mptcp.Config{}
	quick.TCP.TimeWait = time.Second
	p := newPair(t, quick, quick)
	ln, err := p.hsrv.Listen(netip.MustParseAddrPort("0.0.0.0:5201"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	sinkServer(t, ln, got)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := p.hcli.Dial(ctx, netip.MustParseAddrPort("198.18.1.2:5201"))
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(8<<20, 1)
	// Wait for the join to the announced address before sending, so both
	// paths carry data.
	deadline := time.Now().Add(10 * time.Second)
	for len(c.Info().Subflows) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	reply, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("client read: %v\n%+v", err, c.Info())
	}
	want := sha256.Sum256(data)
	if !bytes.Equal(reply, want[:]) {
		t.Fatalf("server's SHA-256 %x, want %x", reply, want)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("server got %d bytes", len(b))
	}
	in := c.Info()
	if in.Fallback || len(in.Subflows) != 2 {
		t.Fatalf("fallback %v, %d subflows", in.Fallback, len(in.Subflows))
	}
	for _, sf := range in.Subflows {
		if sf.DataSent == 0 {
			t.Errorf("subflow %v -> %v carried no data", sf.Local, sf.Remote)
		}
	}
	c.Close()
	if m := p.hsrv.MIB(); m.MPJoinAckRx.Load() != 1 || m.AddAddrTx.Load() == 0 {
		t.Errorf("server MPJoinAckRx %d AddAddrTx %d", m.MPJoinAckRx.Load(), m.AddAddrTx.Load())
	}
	select {
	case <-c.Done():
	case <-time.After(2 * time.Minute):
		t.Fatal("connection not done")
	}
}

func TestFallbackToPlainTCPServer(t *testing.T) {
	p := newPair(t, mptcp.Config{}, mptcp.Config{})
	ln, err := p.srv.ListenTCP(netip.MustParseAddrPort("198.18.1.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := p.hcli.Dial(ctx, netip.MustParseAddrPort("198.18.1.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(1<<20, 2)
	go func() { c.Write(data); c.CloseWrite() }()
	back, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("echo through fallback: %d bytes, %v", len(back), err)
	}
	if !c.Fallback() {
		t.Fatal("not in fallback with a plain TCP server")
	}
	if p.hcli.MIB().MPCapableFallbackSYNACK.Load() != 1 {
		t.Fatal("MPCapableFallbackSYNACK not counted")
	}
	c.Close()
}

func TestPlainTCPClientToMPTCPListener(t *testing.T) {
	p := newPair(t, mptcp.Config{}, mptcp.Config{})
	ln, err := p.hsrv.Listen(netip.MustParseAddrPort("198.18.1.2:81"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	sinkServer(t, ln, got)
	c, err := p.cli.DialTCP(context.Background(), netip.AddrPort{}, netip.MustParseAddrPort("198.18.1.2:81"))
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(300<<10, 3)
	c.Write(data)
	c.CloseWrite()
	reply, _ := io.ReadAll(c)
	want := sha256.Sum256(data)
	if !bytes.Equal(reply, want[:]) {
		t.Fatalf("reply %x", reply)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatal("data differs")
	}
	c.Close()
}

func TestDialRefused(t *testing.T) {
	p := newPair(t, mptcp.Config{}, mptcp.Config{})
	_, err := p.hcli.Dial(context.Background(), netip.MustParseAddrPort("198.18.1.2:9"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a closed port: %v", err)
	}
}
