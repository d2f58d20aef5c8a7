package simnet

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link/emu"
	"github.com/mptcp-go/mptcp/tcp"
)

// flow is one direction of application data over a connection.
type flow struct {
	t        testing.TB
	src, dst *tcp.Endpoint
	data     []byte
	off      int
	closed   bool
	got      bytes.Buffer
	eof      bool
	buf      []byte
}

func newFlow(t testing.TB, src, dst *tcp.Endpoint, data []byte) *flow {
	return &flow{t: t, src: src, dst: dst, data: data, buf: make([]byte, 32<<10)}
}

// pump plays both applications once: write what fits, close the write side
// when all is written, read what arrived. It reports whether the reader
// saw EOF.
func (f *flow) pump() bool {
	for f.off < len(f.data) {
		n, err := f.src.Write(f.data[f.off:])
		if err != nil {
			f.t.Fatalf("write: %v", err)
		}
		if n == 0 {
			break
		}
		f.off += n
	}
	if f.off == len(f.data) && !f.closed && f.src.State() >= tcp.StateEstablished {
		f.src.CloseWrite()
		f.closed = true
	}
	for !f.eof {
		n, err := f.dst.Read(f.buf)
		f.got.Write(f.buf[:n])
		if err == io.EOF {
			f.eof = true
		} else if err != nil {
			f.t.Fatalf("read: %v after %d bytes", err, f.got.Len())
		}
		if n == 0 {
			break
		}
	}
	return f.eof
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0xabcdef))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// connect makes a connection between hosts c and s over their addresses
// and completes the handshake.
func connect(t testing.TB, n *Net, c, s *Host, ca, sa netip.AddrPort, cfg tcp.Config) (*tcp.Endpoint, *tcp.Endpoint) {
	t.Helper()
	ce, err := c.Endpoint(ca, sa, cfg)
	if err != nil {
		t.Fatal(err)
	}
	se, err := s.Endpoint(sa, ca, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := se.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := ce.Connect(); err != nil {
		t.Fatal(err)
	}
	if err := n.Run(func() bool {
		return ce.State() == tcp.StateEstablished && se.State() == tcp.StateEstablished
	}, time.Minute); err != nil {
		t.Fatalf("handshake %v-%v: %v (%v, %v)", ca, sa, err, ce.State(), se.State())
	}
	return ce, se
}

// TestTCPTransferTwoPaths: two connections between two hosts, one over an
// IPv4 path with loss and a bottleneck, one over an IPv6 path with loss,
// jitter and reordering, each carrying data both ways at once: every byte
// arrives, checked byte for byte, and the losses were real.
func TestTCPTransferTwoPaths(t *testing.T) {
	n := New(42)
	cli, err := n.NewHost(addrA, addr6A)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := n.NewHost(addrB, addr6B)
	if err != nil {
		t.Fatal(err)
	}
	p4, _ := n.Link(addrA, addrB, emu.Spec{Rate: 20e6, Delay: 20 * ms, Loss: 0.02, QueueLimit: 100},
		emu.Spec{Rate: 20e6, Delay: 20 * ms, Loss: 0.01})
	p6, err := n.Link(addr6A, addr6B, emu.Spec{Delay: 35 * ms, Jitter: 3 * ms, Loss: 0.01, Reorder: 0.02},
		emu.Spec{Delay: 35 * ms, Jitter: 3 * ms, Loss: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	c4, s4 := connect(t, n, cli, srv, ap(addrA, 40000), ap(addrB, 80), tcp.Config{})
	c6, s6 := connect(t, n, cli, srv, ap(addr6A, 40001), ap(addr6B, 443), tcp.Config{CongestionControl: "bbr"})
	const size = 1 << 20
	flows := []*flow{
		newFlow(t, c4, s4, randomData(size, 1)), newFlow(t, s4, c4, randomData(size/2, 2)),
		newFlow(t, c6, s6, randomData(size, 3)), newFlow(t, s6, c6, randomData(size/2, 4)),
	}
	start := n.Now()
	if err := n.Run(func() bool {
		done := true
		for _, f := range flows {
			done = f.pump() && done
		}
		return done
	}, 10*time.Minute); err != nil {
		for i, f := range flows {
			t.Logf("flow %d: sent %d/%d, received %d", i, f.off, len(f.data), f.got.Len())
		}
		t.Fatalf("transfer: %v", err)
	}
	for i, f := range flows {
		if !bytes.Equal(f.got.Bytes(), f.data) {
			t.Errorf("flow %d: received %d bytes, not what was sent (%d)", i, f.got.Len(), len(f.data))
		}
	}
	var rtx uint64
	for _, ep := range []*tcp.Endpoint{c4, s4, c6, s6} {
		rtx += ep.Info().Stats.RetransSegs
	}
	d4, d6 := p4.Stats(AToB).DroppedLoss+p4.Stats(BToA).DroppedLoss, p6.Stats(AToB).DroppedLoss+p6.Stats(BToA).DroppedLoss
	if d4 == 0 || d6 == 0 || rtx == 0 {
		t.Errorf("losses %d/%d, retransmissions %d: the paths did not test recovery", d4, d6, rtx)
	}
	t.Logf("3 MiB over two paths in %v simulated (%d events); losses %d (v4) %d (v6), %d retransmissions, %d packets delivered",
		n.Now()-start, n.Stats().Events, d4, d6, rtx, n.Stats().Delivered)
	for _, ep := range []*tcp.Endpoint{c4, s4, c6, s6} {
		ep.Close()
	}
	if err := n.RunFor(5 * time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []*tcp.Endpoint{c4, s4, c6, s6} {
		if ep.State() != tcp.StateClosed {
			t.Errorf("%v after close", ep.State())
		}
	}
	if cli.Unmatched+cli.Bad+srv.Unmatched+srv.Bad != 0 {
		t.Errorf("hosts dropped segments: %d %d %d %d", cli.Unmatched, cli.Bad, srv.Unmatched, srv.Bad)
	}
}

// TestTCPPathOutage: the only path goes down for 3 s mid-transfer (a
// scheduled event); the connection waits it out with backed-off
// retransmissions and completes byte-exact.
func TestTCPPathOutage(t *testing.T) {
	n := New(3)
	cli, _ := n.NewHost(addrA)
	srv, _ := n.NewHost(addrB)
	spec := emu.Spec{Rate: 10e6, Delay: 10 * ms, Events: []emu.Event{emu.Down(2 * time.Second), emu.Up(5 * time.Second)}}
	p, _ := n.Link(addrA, addrB, spec, emu.Spec{Delay: 10 * ms})
	c, s := connect(t, n, cli, srv, ap(addrA, 1000), ap(addrB, 2000), tcp.Config{})
	f := newFlow(t, c, s, randomData(8<<20, 9))
	var stall, last time.Duration
	lastLen := 0
	if err := n.Run(func() bool {
		done := f.pump()
		if f.got.Len() > lastLen {
			stall = max(stall, n.Now()-last)
			last, lastLen = n.Now(), f.got.Len()
		}
		return done
	}, 10*time.Minute); err != nil {
		t.Fatalf("transfer: %v (received %d)", err, f.got.Len())
	}
	if !bytes.Equal(f.got.Bytes(), f.data) {
		t.Fatal("data differs")
	}
	st := p.Stats(AToB)
	if st.DroppedDown == 0 || stall < 3*time.Second {
		t.Errorf("outage not felt: %d dropped while down, longest stall %v", st.DroppedDown, stall)
	}
	t.Logf("8 MiB done at %v; longest stall %v; %d packets dropped while down; %d timeouts",
		n.Now(), stall, st.DroppedDown, c.Info().Stats.Timeouts)
}

func TestParseTCP(t *testing.T) {
	n, _, _, sb := pair(t, 1, addrA, addrB, emu.Spec{}, emu.Spec{})
	n6, _, _, sb6 := pair(t, 1, addr6A, addr6B, emu.Spec{}, emu.Spec{})
	hdr := make([]byte, 20, 40)
	header.TCP(hdr).Encode(&header.TCPFields{SrcPort: 1234, DstPort: 80, Seq: 7, Ack: 9, DataOffset: 24,
		Flags: header.TCPFlagACK | header.TCPFlagPSH, Window: 512})
	hdr = header.AppendMSS(hdr, 1400)
	out := n.TCPOutput(ap(addrA, 1234), ap(addrB, 80))
	out.ECT = func() bool { return true }
	out.OutputSegment(hdr, []byte("hello "), []byte("world"))
	n6.TCPOutput(ap(addr6A, 1234), ap(addr6B, 80)).OutputSegment(hdr, []byte("hello "), []byte("world"))
	drain(t, n)
	drain(t, n6)
	for _, pkt := range [][]byte{sb.pkts[0], sb6.pkts[0]} {
		src, dst, seg, ok := ParseTCP(pkt)
		if !ok || src.Port() != 1234 || dst.Port() != 80 || seg.Seq != 7 || seg.Ack != 9 || seg.Window != 512 ||
			string(seg.Payload) != "hello world" || seg.Flags != header.TCPFlagACK|header.TCPFlagPSH || len(seg.Options) != 4 || seg.CE {
			t.Fatalf("ParseTCP = %v %v %+v %v", src, dst, seg, ok)
		}
	}
	if header.IPv4(sb.pkts[0]).TOS()&3 != ecnECT0 || header.IPv6(sb6.pkts[0]).TrafficClass() != 0 {
		t.Error("ECT marking")
	}
	// CE is reported; a broken checksum or a fragment is refused.
	ce := bytes.Clone(sb.pkts[0])
	header.IPv4(ce).SetTOS(ecnCE)
	header.IPv4(ce).SetChecksum()
	if _, _, seg, ok := ParseTCP(ce); !ok || !seg.CE {
		t.Error("CE not reported")
	}
	bad := bytes.Clone(sb6.pkts[0])
	bad[len(bad)-1] ^= 1
	frag := bytes.Clone(sb.pkts[0])
	frag[6] |= 0x20 // MF
	header.IPv4(frag).SetChecksum()
	for _, p := range [][]byte{bad, frag, sb.pkts[0][:30], nil} {
		if _, _, _, ok := ParseTCP(p); ok {
			t.Errorf("ParseTCP accepted %x", p)
		}
	}
}

// FuzzParseTCP: never panics; what it accepts has a valid TCP checksum
// and slices inside the packet.
func FuzzParseTCP(f *testing.F) {
	n, _, _, sb := pair(f, 1, addrA, addrB, emu.Spec{}, emu.Spec{})
	hdr := make([]byte, 20)
	header.TCP(hdr).Encode(&header.TCPFields{SrcPort: 1, DstPort: 2, DataOffset: 20, Flags: header.TCPFlagSYN})
	n.TCPOutput(ap(addrA, 1), ap(addrB, 2)).OutputSegment(hdr, []byte("x"), nil)
	n6, _, _, sb6 := pair(f, 1, addr6A, addr6B, emu.Spec{}, emu.Spec{})
	n6.TCPOutput(ap(addr6A, 1), ap(addr6B, 2)).OutputSegment(hdr, nil, nil)
	drain(f, n)
	drain(f, n6)
	f.Add(sb.pkts[0])
	f.Add(sb6.pkts[0])
	f.Fuzz(func(t *testing.T, pkt []byte) {
		src, dst, seg, ok := ParseTCP(pkt)
		if !ok {
			return
		}
		if src.Addr().Is4() != dst.Addr().Is4() || len(seg.Payload)+len(seg.Options)+header.TCPMinHeaderLen > len(pkt) {
			t.Fatalf("%v %v %+v", src, dst, seg)
		}
	})
}

// BenchmarkTCPTransfer measures the Net and two engines moving data over
// a 1 Gbit/s, 1 ms path: cost per delivered packet, allocations included.
func BenchmarkTCPTransfer(b *testing.B) {
	n := New(1)
	cli, _ := n.NewHost(addrA)
	srv, _ := n.NewHost(addrB)
	n.Link(addrA, addrB, emu.Spec{Rate: 1e9, Delay: ms, QueueLimit: 1000}, emu.Spec{Rate: 1e9, Delay: ms})
	c, s := connect(b, n, cli, srv, ap(addrA, 1000), ap(addrB, 2000), tcp.Config{})
	data := make([]byte, 64<<10)
	buf := make([]byte, 64<<10)
	pump := func() {
		for {
			if w, _ := c.Write(data); w == 0 {
				break
			}
		}
		for {
			if r, _ := s.Read(buf); r == 0 {
				break
			}
		}
	}
	// Warm up to a steady window.
	n.Run(func() bool { pump(); return n.Now() > 2*time.Second }, time.Minute)
	b.ReportAllocs()
	start := n.Stats().Delivered
	for b.Loop() {
		pump()
		n.Step()
	}
	pkts := n.Stats().Delivered - start
	b.ReportMetric(float64(pkts)/float64(b.N), "pkts/op")
}
