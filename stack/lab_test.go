//go:build linux

package stack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/link/emu"
	"github.com/mptcp-go/mptcp/tcp"
)

var labSeq atomic.Uint32

// labPeer is a lab with one emulated path: our Stack owns the client's
// interface through AF_PACKET (the lab's user mode gives it no kernel
// address), the kernel's TCP runs in the server namespace.
type labPeer struct {
	l      *lab.Lab
	s      *Stack
	server netip.Addr
}

func newLabPeer(t testing.TB, spec emu.Spec, opts Options) *labPeer {
	t.Helper()
	l, ep, iface, mac := upUserLab(t, lab.Config{
		Name:  fmt.Sprintf("stk%d-%d", os.Getpid()%100000, labSeq.Add(1)),
		Paths: []lab.PathSpec{lab.Symmetric("p1", spec)},
	}, link.AFPacketOptions{}, nil)
	p := &labPeer{l: l, server: l.ServerAddr(1)}
	p.s = New(opts)
	t.Cleanup(func() { p.s.Close() })
	pfx := l.State().Paths[0].Prefix
	if err := p.s.AddInterface(ep, InterfaceConfig{Name: iface, MAC: mac,
		Addrs: []netip.Prefix{netip.PrefixFrom(l.ClientAddr(1), pfx)}}); err != nil {
		t.Fatal(err)
	}
	return p
}

// upUserLab brings up cfg with our stack's side as the client (user mode:
// no kernel addresses on its interfaces) and the kernel as the server,
// runs setup (if any) on the client's interface of path 1, and opens an
// AF_PACKET endpoint with af there. It returns the lab, the endpoint and
// the interface's name and MAC; the lab is closed when t ends.
func upUserLab(t testing.TB, cfg lab.Config, af link.AFPacketOptions, setup func(ctx context.Context, l *lab.Lab, iface string)) (*lab.Lab, *link.AFPacket, string, header.MAC) {
	t.Helper()
	needRoot(t)
	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Skip("needs ethtool")
	}
	cfg.ClientMode, cfg.ServerMode = lab.User, lab.Kernel
	cfg.Seed = 7
	cfg.StateDir = filepath.Join(os.TempDir(), "mptcp-stack-test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, cfg)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	iface := l.Iface(lab.Client, 1)
	if setup != nil {
		setup(ctx, l, iface)
	}
	var ep *link.AFPacket
	var mac header.MAC
	if err := l.Do(lab.Client, func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		copy(mac[:], ifc.HardwareAddr)
		ep, err = link.OpenAFPacket(iface, af)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return l, ep, iface, mac
}

// kernelListen listens with plain (non-MPTCP) kernel TCP in the server namespace.
func (p *labPeer) kernelListen(t testing.TB) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := p.l.Do(lab.Server, func() error {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(false)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(p.server, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func (p *labPeer) connPair(t testing.TB, stackIsClient bool) (*Conn, net.Conn) {
	t.Helper()
	if stackIsClient {
		return stackDials(t, p.s, p.kernelListen(t), 30*time.Second)
	}
	return p.kernelDials(t, p.l.ClientAddr(1))
}

// stackDials has stack s dial the kernel's listener ln and returns both
// ends once the kernel has accepted.
func stackDials(t testing.TB, s *Stack, ln net.Listener, timeout time.Duration) (*Conn, net.Conn) {
	t.Helper()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		ch <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := s.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort(ln.Addr().String()))
	if err != nil {
		t.Fatalf("dial kernel: %v", err)
	}
	kc := <-ch
	if kc == nil {
		t.Fatal("kernel accept failed")
	}
	return c, kc
}

// kernelDials has the kernel in the server namespace dial a listener of
// our stack on addr and returns both ends.
func (p *labPeer) kernelDials(t testing.TB, addr netip.Addr) (*Conn, net.Conn) {
	t.Helper()
	l, err := p.s.ListenTCP(netip.AddrPortFrom(addr, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan *Conn, 1)
	go func() {
		c, _ := l.AcceptTCP()
		ch <- c
	}()
	var kc net.Conn
	if err := p.l.Do(lab.Server, func() error {
		d := net.Dialer{Timeout: 30 * time.Second}
		d.SetMultipathTCP(false)
		var err error
		kc, err = d.Dial("tcp", l.AddrPort().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c := <-ch
	if c == nil {
		t.Fatal("accept failed")
	}
	return c, kc
}

// TestKernelInteropEmulated runs byte-exact transfers against the kernel
// through the lab's emulator on lossy, long-delay and reordering paths,
// with our stack as client and as server, sending and receiving.
func TestKernelInteropEmulated(t *testing.T) {
	if testing.Short() {
		t.Skip("long-running")
	}
	tests := []struct {
		name string
		spec emu.Spec
		size int
	}{
		{"1pct-loss-50ms-100mbit", emu.Spec{Rate: 100e6, Delay: 25 * time.Millisecond, Loss: 0.01}, 2 << 20},
		{"5pct-loss-100ms", emu.Spec{Rate: 50e6, Delay: 50 * time.Millisecond, Loss: 0.05}, 1 << 20},
		{"2pct-loss-200ms", emu.Spec{Rate: 50e6, Delay: 100 * time.Millisecond, Loss: 0.02}, 1 << 20},
		{"reorder-jitter", emu.Spec{Rate: 100e6, Delay: 10 * time.Millisecond, Reorder: 0.05, ReorderDelay: 5 * time.Millisecond}, 8 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newLabPeer(t, tt.spec, Options{})
			for _, stackIsClient := range []bool{true, false} {
				for _, stackSends := range []bool{true, false} {
					t.Run(fmt.Sprintf("stackClient=%v/stackSends=%v", stackIsClient, stackSends), func(t *testing.T) {
						ours, theirs := p.connPair(t, stackIsClient)
						before, _ := p.l.EmulatorStats(1)
						defer func() {
							after, _ := p.l.EmulatorStats(1)
							t.Logf("emulator: up %d fwd %d loss %d queue; down %d fwd %d loss %d queue",
								after.AtoB.Forwarded-before.AtoB.Forwarded, after.AtoB.DroppedLoss-before.AtoB.DroppedLoss, after.AtoB.DroppedQueue-before.AtoB.DroppedQueue,
								after.BtoA.Forwarded-before.BtoA.Forwarded, after.BtoA.DroppedLoss-before.BtoA.DroppedLoss, after.BtoA.DroppedQueue-before.BtoA.DroppedQueue)
						}()
						var el time.Duration
						if stackSends {
							el = sendAndVerify(t, ours, theirs, tt.size, 3*time.Minute)
						} else {
							el = sendAndVerify(t, theirs, ours, tt.size, 3*time.Minute)
						}
						in := ours.Info()
						t.Logf("%d MB in %v (%.1f Mbit/s); ours: retrans %d timeouts %d recoveries %d srtt %v dup %d ooo %d",
							tt.size>>20, el.Round(time.Millisecond), float64(tt.size)*8/el.Seconds()/1e6,
							in.Stats.RetransSegs, in.Stats.Timeouts, in.Stats.Recoveries, in.SRTT, in.Stats.DupSegs, in.Stats.OutOfOrderSegs)
					})
				}
			}
		})
	}
}

// TestKernelInteropOutage takes the path down for three seconds in the
// middle of transfers in both directions; the connections must survive
// (RTO backoff) and deliver every byte.
func TestKernelInteropOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("long-running")
	}
	p := newLabPeer(t, emu.Spec{Rate: 20e6, Delay: 20 * time.Millisecond}, Options{TCP: tcp.Config{}})
	for _, stackSends := range []bool{true, false} {
		t.Run(fmt.Sprintf("stackSends=%v", stackSends), func(t *testing.T) {
			ours, theirs := p.connPair(t, true)
			go func() {
				time.Sleep(time.Second)
				p.l.SetPathDown(1)
				time.Sleep(3 * time.Second)
				p.l.SetPathUp(1)
			}()
			var el time.Duration
			if stackSends {
				el = sendAndVerify(t, ours, theirs, 12<<20, 2*time.Minute)
			} else {
				el = sendAndVerify(t, theirs, ours, 12<<20, 2*time.Minute)
			}
			in := ours.Info()
			t.Logf("12 MB with a 3 s outage in %v; ours: timeouts %d retrans %d", el.Round(time.Millisecond), in.Stats.Timeouts, in.Stats.RetransSegs)
			if el < 3*time.Second {
				t.Fatalf("finished in %v: the outage did not happen during the transfer", el)
			}
		})
	}
}
