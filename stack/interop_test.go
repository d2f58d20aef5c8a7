//go:build linux

package stack

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/tcp"
)

// kernelNS is a network namespace made by the test, where the kernel's
// TCP is the peer of our Stack through a TUN device.
type kernelNS struct {
	name            string
	kernel4, stack4 netip.Addr
	kernel6, stack6 netip.Addr
	s               *Stack
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) from iproute2")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newKernelNS creates namespace "stack<pid><rand>" with a TUN device
// tun0 (kernel side 198.18.0.1 and 2001:db8::1) whose other end is a
// new Stack (198.18.0.2, 2001:db8::2). Everything is removed at cleanup.
func newKernelNS(t testing.TB, opts Options, offload bool) *kernelNS {
	needRoot(t)
	k := &kernelNS{
		name:    fmt.Sprintf("stack%d%04x", os.Getpid(), rand.Uint32()&0xffff),
		kernel4: netip.MustParseAddr("198.18.0.1"), stack4: netip.MustParseAddr("198.18.0.2"),
		kernel6: netip.MustParseAddr("2001:db8::1"), stack6: netip.MustParseAddr("2001:db8::2"),
	}
	ipCmd(t, "netns", "add", k.name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", k.name).Run() })
	var tun *link.TUN
	if err := lab.DoNS(k.name, func() error {
		var err error
		tun, err = link.OpenTUN("tun0", link.TUNOptions{MTU: 1500, Offload: offload})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ipCmd(t, "-n", k.name, "link", "set", "lo", "up")
	ipCmd(t, "-n", k.name, "addr", "add", "198.18.0.1/24", "dev", "tun0")
	ipCmd(t, "-n", k.name, "addr", "add", "2001:db8::1/64", "dev", "tun0", "nodad")
	ipCmd(t, "-n", k.name, "link", "set", "tun0", "up")
	k.s = New(opts)
	if err := k.s.AddInterface(tun, InterfaceConfig{Name: "tun0", Addrs: []netip.Prefix{
		netip.PrefixFrom(k.stack4, 24), netip.PrefixFrom(k.stack6, 64)}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.s.Close() })
	if offload {
		t.Cleanup(func() {
			w, r := tun.GSOCounts()
			t.Logf("TUN offload: %d super-packets written, %d read", w, r)
			if w == 0 || r == 0 {
				t.Errorf("offloads on but %d super-packets written, %d read", w, r)
			}
		})
	}
	return k
}

// kernelListen listens with the kernel's TCP inside the namespace.
func (k *kernelNS) kernelListen(t testing.TB, v6 bool) net.Listener {
	t.Helper()
	var ln net.Listener
	addr := k.kernel4.String() + ":0"
	if v6 {
		addr = "[" + k.kernel6.String() + "]:0"
	}
	if err := lab.DoNS(k.name, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// kernelDial connects with the kernel's TCP from inside the namespace.
func (k *kernelNS) kernelDial(t testing.TB, to netip.AddrPort) net.Conn {
	t.Helper()
	var c net.Conn
	if err := lab.DoNS(k.name, func() error {
		var err error
		c, err = net.DialTimeout("tcp", to.String(), 10*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

// connPair returns (ours, kernel's) connected either way round.
func (k *kernelNS) connPair(t testing.TB, stackIsClient, v6 bool) (ours *Conn, theirs net.Conn) {
	t.Helper()
	if stackIsClient {
		return stackDials(t, k.s, k.kernelListen(t, v6), 10*time.Second)
	}
	addr := k.stack4
	if v6 {
		addr = k.stack6
	}
	l, err := k.s.ListenTCP(netip.AddrPortFrom(addr, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan *Conn, 1)
	go func() {
		c, err := l.AcceptTCP()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	kc := k.kernelDial(t, l.AddrPort())
	c := <-ch
	if c == nil {
		t.Fatal("accept failed")
	}
	return c, kc
}

// sendAndVerify streams size bytes of pseudo-random data from src to
// dst; dst answers with the SHA-256 of what it read, which src compares
// with what it sent. This checks the transfer byte for byte.
func sendAndVerify(t testing.TB, src, dst net.Conn, size int, timeout time.Duration) time.Duration {
	t.Helper()
	src.SetDeadline(time.Now().Add(timeout))
	dst.SetDeadline(time.Now().Add(timeout))
	errc := make(chan error, 1)
	go func() {
		h := sha256.New()
		n, err := io.Copy(h, dst)
		if err != nil {
			errc <- fmt.Errorf("receiver: %w after %d bytes", err, n)
			return
		}
		if _, err := dst.Write(h.Sum(nil)); err != nil {
			errc <- fmt.Errorf("receiver reply: %w", err)
			return
		}
		errc <- dst.Close()
	}()
	start := time.Now()
	h := sha256.New()
	r := rand.New(rand.NewPCG(uint64(size), 42))
	buf := make([]byte, 256<<10)
	for sent := 0; sent < size; {
		n := min(len(buf), size-sent)
		for i := 0; i < n; i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < n; j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		h.Write(buf[:n])
		if _, err := src.Write(buf[:n]); err != nil {
			t.Fatalf("sender: %v after %d bytes", err, sent)
		}
		sent += n
	}
	if cw, ok := src.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			t.Fatalf("CloseWrite: %v", err)
		}
	}
	digest := make([]byte, sha256.Size)
	if _, err := io.ReadFull(src, digest); err != nil {
		t.Fatalf("reading digest: %v", err)
	}
	el := time.Since(start)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if string(digest) != string(h.Sum(nil)) {
		t.Fatalf("SHA-256 mismatch after %d bytes", size)
	}
	src.Close()
	return el
}

func TestKernelInteropTUN(t *testing.T) {
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) { testKernelInteropTUN(t, offload) })
	}
}

// testKernelInteropTUN runs the transfer matrix over a TUN device, with
// or without the virtio-net offloads (kernel GSO/GRO super-packets split
// by the TUN endpoint).
func testKernelInteropTUN(t *testing.T, offload bool) {
	k := newKernelNS(t, Options{}, offload)
	sizes := []int{1 << 20, 16 << 20}
	for _, v6 := range []bool{false, true} {
		for _, stackIsClient := range []bool{true, false} {
			for _, upload := range []bool{true, false} {
				for _, size := range sizes {
					name := fmt.Sprintf("v6=%v/stackClient=%v/stackSends=%v/%dMB", v6, stackIsClient, upload, size>>20)
					t.Run(name, func(t *testing.T) {
						ours, theirs := k.connPair(t, stackIsClient, v6)
						var el time.Duration
						if upload {
							el = sendAndVerify(t, ours, theirs, size, time.Minute)
						} else {
							el = sendAndVerify(t, theirs, ours, size, time.Minute)
						}
						t.Logf("%d bytes in %v (%.0f Mbit/s)", size, el, float64(size)*8/el.Seconds()/1e6)
					})
				}
			}
		}
	}
}

// TestKernelInteropECN negotiates ECN with the kernel (which accepts it
// when asked, net.ipv4.tcp_ecn=2 by default) and moves data ECN-capable.
func TestKernelInteropECN(t *testing.T) {
	k := newKernelNS(t, Options{TCP: tcp.Config{ECN: true}}, false)
	ours, theirs := k.connPair(t, true, false)
	if !ours.Info().ECNOK {
		t.Fatal("ECN not negotiated with the kernel")
	}
	sendAndVerify(t, ours, theirs, 4<<20, time.Minute)
}

func TestKernelInteropCloseAndReset(t *testing.T) {
	k := newKernelNS(t, Options{TCP: tcp.Config{TimeWait: time.Second}}, false)
	for _, stackIsClient := range []bool{true, false} {
		t.Run(fmt.Sprintf("stackClient=%v", stackIsClient), func(t *testing.T) {
			t.Run("we reset", func(t *testing.T) {
				ours, theirs := k.connPair(t, stackIsClient, false)
				defer theirs.Close()
				ours.Abort()
				theirs.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err := theirs.Read(make([]byte, 1))
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("kernel read after our RST: %v", err)
				}
			})
			t.Run("kernel resets", func(t *testing.T) {
				ours, theirs := k.connPair(t, stackIsClient, false)
				theirs.(*net.TCPConn).SetLinger(0)
				theirs.Close()
				ours.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err := ours.Read(make([]byte, 1))
				if !errors.Is(err, tcp.ErrConnectionReset) {
					t.Fatalf("our read after kernel RST: %v", err)
				}
			})
			t.Run("clean close, we close first", func(t *testing.T) {
				ours, theirs := k.connPair(t, stackIsClient, false)
				ours.Write([]byte("bye"))
				ours.Close()
				theirs.SetReadDeadline(time.Now().Add(5 * time.Second))
				b, err := io.ReadAll(theirs)
				if err != nil || string(b) != "bye" {
					t.Fatalf("kernel got %q, %v", b, err)
				}
				theirs.Close()
				select {
				case <-ours.Done(): // FIN-WAIT-2 -> TIME-WAIT (1 s) -> CLOSED
				case <-time.After(10 * time.Second):
					t.Fatalf("not closed: %v", ours.Info().State)
				}
			})
			t.Run("clean close, kernel closes first", func(t *testing.T) {
				ours, theirs := k.connPair(t, stackIsClient, false)
				theirs.Write([]byte("bye"))
				theirs.Close()
				ours.SetReadDeadline(time.Now().Add(5 * time.Second))
				b, err := io.ReadAll(ours)
				if err != nil || string(b) != "bye" {
					t.Fatalf("we got %q, %v", b, err)
				}
				if st := ours.Info().State; st != tcp.StateCloseWait {
					t.Fatalf("state after kernel FIN: %v", st)
				}
				ours.Close()
				select {
				case <-ours.Done(): // LAST-ACK -> CLOSED
				case <-time.After(10 * time.Second):
					t.Fatalf("not closed: %v", ours.Info().State)
				}
			})
		})
	}
}

// vethPeer is a lab with one bridged veth path (no emulator): our Stack
// owns the client's interface through AF_PACKET, the kernel's TCP runs in
// the server namespace. With offload, the veths keep TSO/GSO/GRO and
// checksum offload on and the AF_PACKET socket uses the virtio-net header
// (link.AFPacketOptions.Offload), so both sides exchange TSO super-frames.
type vethPeer struct {
	labPeer
	ep      *link.AFPacket
	server6 netip.Addr
	client6 netip.Addr
	offload bool
}

func newVethPeer(t testing.TB, opts Options, offload, ipv6 bool) *vethPeer {
	t.Helper()
	cfg := lab.Config{
		Name:    fmt.Sprintf("stv%d-%d", os.Getpid()%100000, labSeq.Add(1)),
		Paths:   []lab.PathSpec{{Name: "p1"}},
		Offload: offload,
		IPv6:    ipv6,
	}
	var setup func(ctx context.Context, l *lab.Lab, iface string)
	if offload {
		setup = func(ctx context.Context, l *lab.Lab, iface string) {
			// Segmentation offload on the stack's veth, so the super-frames
			// we hand AF_PACKET go out whole (veth's defaults, made explicit).
			out, err := l.Command(ctx, lab.Client, "ethtool", "-K", iface, "tx", "on", "sg", "on", "tso", "on", "gso", "on", "gro", "on").CombinedOutput()
			if err != nil {
				t.Fatalf("ethtool: %v: %s", err, out)
			}
		}
	}
	l, ep, iface, mac := upUserLab(t, cfg, link.AFPacketOptions{Offload: offload}, setup)
	p := &vethPeer{labPeer: labPeer{l: l, server: l.ServerAddr(1)}, ep: ep, offload: offload}
	p.s = New(opts)
	t.Cleanup(func() { p.s.Close() })
	addrs := []netip.Prefix{netip.PrefixFrom(l.ClientAddr(1), l.State().Paths[0].Prefix)}
	if ipv6 {
		p.client6, p.server6 = l.ClientAddr6(1), l.ServerAddr6(1)
		addrs = append(addrs, netip.PrefixFrom(p.client6, 64))
	}
	if err := p.s.AddInterface(p.ep, InterfaceConfig{Name: iface, MAC: mac, Addrs: addrs}); err != nil {
		t.Fatal(err)
	}
	return p
}

// connPairV is connPair over IPv4 or IPv6.
func (p *vethPeer) connPairV(t testing.TB, stackIsClient, v6 bool) (*Conn, net.Conn) {
	t.Helper()
	if !v6 {
		return p.connPair(t, stackIsClient)
	}
	saved := p.server
	p.server = p.server6
	defer func() { p.server = saved }()
	if stackIsClient {
		return p.connPair(t, true)
	}
	return p.kernelDials(t, p.client6)
}

// TestKernelInteropAFPacket runs byte-exact transfers (SHA-256) against
// the kernel over a bridged veth path through AF_PACKET, IPv4 and IPv6,
// our stack sending and receiving, with the veths' offloads off (plain
// frames) and on (TSO super-frames both ways through PACKET_VNET_HDR).
// With offload it checks that super-frames really went each way.
func TestKernelInteropAFPacket(t *testing.T) {
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			p := newVethPeer(t, Options{}, offload, true)
			for _, v6 := range []bool{false, true} {
				for _, stackIsClient := range []bool{true, false} {
					for _, upload := range []bool{true, false} {
						name := fmt.Sprintf("v6=%v/stackClient=%v/stackSends=%v", v6, stackIsClient, upload)
						t.Run(name, func(t *testing.T) {
							w0, r0 := p.ep.GSOCounts()
							ours, theirs := p.connPairV(t, stackIsClient, v6)
							const size = 16 << 20
							var el time.Duration
							if upload {
								el = sendAndVerify(t, ours, theirs, size, time.Minute)
							} else {
								el = sendAndVerify(t, theirs, ours, size, time.Minute)
							}
							w, r := p.ep.GSOCounts()
							t.Logf("%d bytes in %v (%.0f Mbit/s), super-frames written %d, read %d",
								size, el, float64(size)*8/el.Seconds()/1e6, w-w0, r-r0)
							switch {
							case !offload && (w != 0 || r != 0):
								t.Errorf("offload off but %d super-frames written, %d read", w, r)
							case offload && upload && w == w0:
								t.Error("offload on but no super-frame written while sending")
							case offload && !upload && r == r0:
								t.Error("offload on but no super-frame read while receiving")
							}
						})
					}
				}
			}
		})
	}
}
