package simnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link/emu"
)

const ms = time.Millisecond

var (
	addrA  = netip.MustParseAddr("198.18.1.1")
	addrB  = netip.MustParseAddr("198.18.1.2")
	addrA2 = netip.MustParseAddr("198.18.2.1")
	addrB2 = netip.MustParseAddr("198.18.2.2")
	addr6A = netip.MustParseAddr("fd00:198:18:3::1")
	addr6B = netip.MustParseAddr("fd00:198:18:3::2")
)

// sink is a Node that records what it receives.
type sink struct {
	n    *Net
	at   []time.Duration
	pkts [][]byte
}

func (s *sink) Deliver(pkt []byte) {
	s.at = append(s.at, s.n.Now())
	s.pkts = append(s.pkts, bytes.Clone(pkt))
}
func (s *sink) NextDeadline() (time.Duration, bool) { return 0, false }
func (s *sink) HandleTimers()                       {}

// seqOf returns the number testPacket put in a packet.
func seqOf(pkt []byte) uint32 {
	if pkt[0]>>4 == 4 {
		return binary.BigEndian.Uint32(pkt[header.IPv4MinHeaderLen:])
	}
	return binary.BigEndian.Uint32(pkt[header.IPv6HeaderLen:])
}

// testPacket builds an IP packet of size bytes (protocol 253, RFC 3692
// experimentation) carrying seq.
func testPacket(src, dst netip.Addr, size int, seq uint32) []byte {
	b := make([]byte, size)
	off := header.IPv4MinHeaderLen
	if src.Is4() {
		ip := header.IPv4(b)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(size), TTL: 64, Protocol: 253, Src: src, Dst: dst})
		ip.SetChecksum()
	} else {
		off = header.IPv6HeaderLen
		header.IPv6(b).Encode(&header.IPv6Fields{PayloadLength: uint16(size - off), NextHeader: 253, HopLimit: 64, Src: src, Dst: dst})
	}
	binary.BigEndian.PutUint32(b[off:], seq)
	return b
}

// pair returns a Net with sinks at a and b joined by one path.
func pair(t testing.TB, seed uint64, a, b netip.Addr, ab, ba emu.Spec) (*Net, *Path, *sink, *sink) {
	t.Helper()
	n := New(seed)
	sa, sb := &sink{n: n}, &sink{n: n}
	if err := n.Attach(sa, a); err != nil {
		t.Fatal(err)
	}
	if err := n.Attach(sb, b); err != nil {
		t.Fatal(err)
	}
	p, err := n.Link(a, b, ab, ba)
	if err != nil {
		t.Fatal(err)
	}
	return n, p, sa, sb
}

func drain(t testing.TB, n *Net) {
	t.Helper()
	if err := n.Run(func() bool { return false }, time.Hour); !errors.Is(err, ErrIdle) {
		t.Fatalf("run: %v, want ErrIdle", err)
	}
}

func TestDelayAndRate(t *testing.T) {
	// 8 Mbit/s: a 1000-byte packet takes 1 ms to serialize.
	n, _, _, sb := pair(t, 1, addrA, addrB, emu.Spec{Rate: 8e6, Delay: 10 * ms}, emu.Spec{})
	for i := range 5 {
		n.Send(testPacket(addrA, addrB, 1000, uint32(i)))
	}
	n.At(50*ms, func() { n.Send(testPacket(addrA, addrB, 1000, 99)) })
	drain(t, n)
	want := []time.Duration{11 * ms, 12 * ms, 13 * ms, 14 * ms, 15 * ms, 61 * ms}
	if len(sb.at) != len(want) {
		t.Fatalf("%d packets arrived, want %d", len(sb.at), len(want))
	}
	for i, at := range sb.at {
		if at != want[i] {
			t.Errorf("packet %d arrived at %v, want %v", i, at, want[i])
		}
	}
	if seqOf(sb.pkts[5]) != 99 {
		t.Error("wrong packet last")
	}
}

// binomialOK reports whether k successes of n trials at probability p lie
// within z standard deviations of the mean.
func binomialOK(k, n int, p, z float64) bool {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(k)-mean) <= z*sd
}

func TestLossStatistics(t *testing.T) {
	const total = 20000
	for _, c := range []struct {
		name string
		spec emu.Spec
		p    float64
	}{
		{"bernoulli 5%", emu.Spec{Loss: 0.05}, 0.05},
		{"gilbert-elliott", emu.Spec{Burst: emu.GilbertElliott{P: 0.01, R: 0.25, LossBad: 1}}, 0.01 / 0.26},
	} {
		for seed := range uint64(3) {
			n, p, _, sb := pair(t, seed, addrA, addrB, c.spec, emu.Spec{})
			for i := range total {
				n.At(time.Duration(i)*time.Microsecond, func() { n.Send(testPacket(addrA, addrB, 100, uint32(i))) })
			}
			drain(t, n)
			st := p.Stats(AToB)
			lost := total - len(sb.pkts)
			if uint64(lost) != st.Dropped() || st.Sent != total || st.Delivered != uint64(len(sb.pkts)) {
				t.Errorf("%s seed %d: stats %+v, %d lost", c.name, seed, st, lost)
			}
			// Bursts are correlated: allow more spread.
			z := 4.0
			if c.spec.Burst.Enabled() {
				z = 12
			}
			if !binomialOK(lost, total, c.p, z) {
				t.Errorf("%s seed %d: %d of %d lost, expected about %.0f", c.name, seed, lost, total, c.p*total)
			}
			// Order is kept without jitter or reordering.
			for i := 1; i < len(sb.pkts); i++ {
				if seqOf(sb.pkts[i]) <= seqOf(sb.pkts[i-1]) {
					t.Fatalf("%s: reordered", c.name)
				}
			}
		}
	}
}

// trace runs a fixed workload with jitter, reordering and loss on two
// paths and returns every packet delivered, with its time.
func trace(t testing.TB, seed uint64) []byte {
	n := New(seed)
	s1, s2 := &sink{n: n}, &sink{n: n}
	n.Attach(s1, addrB)
	n.Attach(s2, addrB2)
	n.Attach(&sink{n: n}, addrA, addrA2)
	spec := emu.Spec{Delay: 5 * ms, Jitter: 2 * ms, Loss: 0.1, Reorder: 0.05, Rate: 100e6}
	if _, err := n.Link(addrA, addrB, spec, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Link(addrA2, addrB2, spec, spec); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n.Tap(func(at time.Duration, pkt []byte) {
		out.Write(binary.BigEndian.AppendUint64(nil, uint64(at)))
		out.Write(pkt)
	})
	for i := range 2000 {
		n.At(time.Duration(i)*50*time.Microsecond, func() {
			n.Send(testPacket(addrA, addrB, 200+i%1000, uint32(i)))
			n.Send(testPacket(addrA2, addrB2, 1200-i%1000, uint32(i)))
		})
	}
	drain(t, n)
	return out.Bytes()
}

func TestDeterminism(t *testing.T) {
	a, b, c := trace(t, 7), trace(t, 7), trace(t, 8)
	if !bytes.Equal(a, b) {
		t.Error("same seed, different traces")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds, same trace")
	}
}

func TestPathDownUp(t *testing.T) {
	// Scheduled outage 10-20 ms on a->b, manual outage 30-40 ms both ways.
	n, p, sa, sb := pair(t, 1, addrA, addrB, emu.Spec{Delay: ms, Events: []emu.Event{emu.Down(10 * ms), emu.Up(20 * ms)}}, emu.Spec{Delay: ms})
	n.At(30*ms, func() { p.SetDown(true) })
	n.At(40*ms, func() { p.SetDown(false) })
	for i := range 50 {
		n.At(time.Duration(i)*ms, func() {
			n.Send(testPacket(addrA, addrB, 100, uint32(i)))
			n.Send(testPacket(addrB, addrA, 100, uint32(i)))
		})
	}
	drain(t, n)
	got := map[uint32]bool{}
	for _, pk := range sb.pkts {
		got[seqOf(pk)] = true
	}
	for i := range uint32(50) {
		down := i >= 10 && i < 20 || i >= 30 && i < 40
		if got[i] == down {
			t.Errorf("a->b packet sent at %d ms: delivered %v", i, got[i])
		}
	}
	if len(sa.pkts) != 40 {
		t.Errorf("b->a delivered %d, want 40 (down 30-40 ms only)", len(sa.pkts))
	}
	if st := p.Stats(AToB); st.DroppedDown != 20 || st.Down {
		t.Errorf("a->b stats %+v", st)
	}
	// One direction only.
	p.SetDirDown(BToA, true)
	n.Send(testPacket(addrA, addrB, 100, 1000))
	n.Send(testPacket(addrB, addrA, 100, 1000))
	drain(t, n)
	if seqOf(sb.pkts[len(sb.pkts)-1]) != 1000 || seqOf(sa.pkts[len(sa.pkts)-1]) == 1000 {
		t.Error("SetDirDown(BToA) did not take only b->a down")
	}
}

func TestRoutingAndCounters(t *testing.T) {
	n := New(1)
	h1, h2, h3 := &sink{n: n}, &sink{n: n}, &sink{n: n}
	if err := n.Attach(h1, addrA, addrA2); err != nil {
		t.Fatal(err)
	}
	n.Attach(h2, addrB)
	n.Attach(h3, addr6B)
	if err := n.Attach(h3, addrA); err == nil {
		t.Error("an address attached twice")
	}
	p1, _ := n.Link(addrA, addrB, emu.Spec{Delay: ms}, emu.Spec{})
	p2, _ := n.Link(addrA2, addrB, emu.Spec{Delay: 3 * ms}, emu.Spec{})
	p3, err := n.Link(addr6A, addr6B, emu.Spec{}, emu.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]netip.Addr{{addrA, addrB}, {addrB, addrA}, {addrA, addr6B}, {addrA, addrA}} {
		if _, err := n.Link(bad[0], bad[1], emu.Spec{}, emu.Spec{}); err == nil {
			t.Errorf("Link(%v, %v) accepted", bad[0], bad[1])
		}
	}
	if _, err := n.Link(addrB2, addrA, emu.Spec{Loss: 2}, emu.Spec{}); err == nil {
		t.Error("invalid spec accepted")
	}
	n.Send(testPacket(addrA2, addrB, 100, 2))
	n.Send(testPacket(addrA, addrB, 100, 1))
	n.Send(testPacket(addr6A, addr6B, 100, 6))
	n.Send(testPacket(addrA, addrB2, 100, 0))  // no path
	n.Send([]byte{0x45, 0, 0})                 // not IP
	n.Send(testPacket(addrB, addrA2, 100, 0))  // path p2 back: to h1
	n.Send(testPacket(addr6B, addr6A, 100, 0)) // nobody has addr6A
	drain(t, n)
	if len(h2.pkts) != 2 || seqOf(h2.pkts[0]) != 1 || seqOf(h2.pkts[1]) != 2 || h2.at[0] != ms || h2.at[1] != 3*ms {
		t.Errorf("h2 got %d packets at %v", len(h2.pkts), h2.at)
	}
	if len(h3.pkts) != 1 || len(h1.pkts) != 1 {
		t.Errorf("h1 %d h3 %d packets", len(h1.pkts), len(h3.pkts))
	}
	st := n.Stats()
	if st.Sent != 7 || st.Delivered != 4 || st.NoRoute != 1 || st.Invalid != 1 || st.NoNode != 1 {
		t.Errorf("stats %+v", st)
	}
	if p1.Stats(AToB).Delivered != 1 || p2.Stats(AToB).Delivered != 1 || p2.Stats(BToA).Delivered != 1 || p3.Stats(BToA).Delivered != 0 {
		t.Error("per-path counters")
	}
	if a, b := p2.Ends(); a != addrA2 || b != addrB {
		t.Error("Ends")
	}
}

// TestShare checks a shared bottleneck: packets between two address pairs
// routed through one path queue behind each other at its rate, take its
// delay, count in its counters and reach their own destination nodes;
// the reverse direction goes through the path's other direction.
func TestShare(t *testing.T) {
	n := New(1)
	a1, a2, b1, b2 := &sink{n: n}, &sink{n: n}, &sink{n: n}, &sink{n: n}
	n.Attach(a1, addrA)
	n.Attach(a2, addrA2)
	n.Attach(b1, addrB)
	n.Attach(b2, addrB2)
	// 8 Mbit/s: 1 ms per 1000-byte packet; room for 4 packets (the one
	// being sent included).
	p, _ := n.Link(addrA, addrB, emu.Spec{Rate: 8e6, Delay: 10 * ms, QueueLimit: 4}, emu.Spec{Delay: 5 * ms})
	if err := n.Share(p, addrA2, addrB2); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]netip.Addr{{addrA, addrB}, {addrB2, addrA2}, {addrA, addrA}, {addrA, addr6B}} {
		if err := n.Share(p, bad[0], bad[1]); err == nil {
			t.Errorf("Share(%v, %v) accepted", bad[0], bad[1])
		}
	}
	if err := n.Share(nil, addrA, addrB2); err == nil {
		t.Error("Share of no path accepted")
	}
	for i := range 3 {
		n.Send(testPacket(addrA, addrB, 1000, uint32(2*i)))
		n.Send(testPacket(addrA2, addrB2, 1000, uint32(2*i+1)))
	}
	n.Send(testPacket(addrB2, addrA2, 100, 9))
	drain(t, n)
	// One queue: it took the first four packets sent, from either pair,
	// and they leave 1 ms apart in the order sent.
	if len(b1.pkts) != 2 || len(b2.pkts) != 2 {
		t.Fatalf("b1 got %d packets, b2 %d: want 2 each of the 4 the shared queue took", len(b1.pkts), len(b2.pkts))
	}
	want := map[uint32]time.Duration{0: 11 * ms, 1: 12 * ms, 2: 13 * ms, 3: 14 * ms}
	for _, s := range []*sink{b1, b2} {
		for i, pkt := range s.pkts {
			if at, ok := want[seqOf(pkt)]; !ok || s.at[i] != at {
				t.Errorf("packet %d arrived at %v", seqOf(pkt), s.at[i])
			}
		}
	}
	if len(a2.pkts) != 1 || a2.at[0] != 5*ms || len(a1.pkts) != 0 {
		t.Errorf("reverse: a1 %d packets, a2 %d at %v", len(a1.pkts), len(a2.pkts), a2.at)
	}
	st := p.Stats(AToB)
	if st.Sent != 6 || st.Delivered != 4 || st.DroppedQueue != 2 || p.Stats(BToA).Delivered != 1 {
		t.Errorf("counters %+v", st)
	}
}

// dropper drops every packet whose seq is odd.
type dropper struct{ seen int }

func (d *dropper) Process(pkt []byte) bool { d.seen++; return seqOf(pkt)%2 == 0 }

func TestMiddleboxesOnPath(t *testing.T) {
	n, p, _, sb := pair(t, 1, addrA, addrB, emu.Spec{}, emu.Spec{})
	d := &dropper{}
	p.AddMiddlebox(AToB, d)
	for i := range 10 {
		n.Send(testPacket(addrA, addrB, 100, uint32(i)))
	}
	n.Send(testPacket(addrB, addrA, 100, 1))
	drain(t, n)
	if len(sb.pkts) != 5 || d.seen != 10 || p.Stats(AToB).DroppedMiddlebox != 5 {
		t.Errorf("%d delivered, middlebox saw %d, stats %+v", len(sb.pkts), d.seen, p.Stats(AToB))
	}
}

// stuckNode always has a timer due and never clears it.
type stuckNode struct{ n *Net }

func (s stuckNode) Deliver([]byte)                      {}
func (s stuckNode) NextDeadline() (time.Duration, bool) { return s.n.Now(), true }
func (s stuckNode) HandleTimers()                       {}

func TestRunErrors(t *testing.T) {
	n, _, _, sb := pair(t, 1, addrA, addrB, emu.Spec{Delay: 10 * ms}, emu.Spec{})
	n.Send(testPacket(addrA, addrB, 100, 1))
	if err := n.Run(func() bool { return false }, 5*ms); !errors.Is(err, ErrTimeLimit) || n.Now() != 5*ms {
		t.Fatalf("Run: %v at %v, want time limit at 5ms", err, n.Now())
	}
	if err := n.Run(func() bool { return len(sb.pkts) == 1 }, time.Second); err != nil || n.Now() != 10*ms {
		t.Fatalf("Run: %v at %v", err, n.Now())
	}
	if err := n.Run(func() bool { return false }, time.Second); !errors.Is(err, ErrIdle) {
		t.Fatalf("Run on an idle net: %v", err)
	}
	if err := n.RunFor(time.Second); err != nil || n.Now() != 1010*ms {
		t.Fatalf("RunFor: %v, now %v", err, n.Now())
	}
	n.Attach(stuckNode{n}, addrB2)
	if err := n.Run(func() bool { return false }, time.Second); !errors.Is(err, ErrStuck) {
		t.Fatalf("Run with a stuck node: %v", err)
	}
}

func TestAtOrder(t *testing.T) {
	n, _, _, sb := pair(t, 1, addrA, addrB, emu.Spec{Delay: 5 * ms}, emu.Spec{})
	var order []string
	n.At(5*ms, func() { order = append(order, "cb5-"+string(rune('0'+len(sb.pkts)))) })
	n.At(2*ms, func() { order = append(order, "cb2") })
	n.At(5*ms, func() { order = append(order, "cb5b") })
	n.Send(testPacket(addrA, addrB, 100, 1)) // arrives at 5 ms, before the callbacks of 5 ms
	drain(t, n)
	if got := len(order); got != 3 || order[0] != "cb2" || order[1] != "cb5-1" || order[2] != "cb5b" {
		t.Errorf("order %v", order)
	}
	// A callback in the past runs now.
	n.At(0, func() { order = append(order, "late") })
	now := n.Now()
	drain(t, n)
	if order[3] != "late" || n.Now() != now {
		t.Error("a past callback did not run at once")
	}
}

func TestSendAllocs(t *testing.T) {
	n, _, _, _ := pair(t, 1, addrA, addrB, emu.Spec{Rate: 1e9, Delay: ms, Jitter: 100 * time.Microsecond, Loss: 0.01}, emu.Spec{})
	null := &nullNode{}
	n.nodes[1].node = null
	pkt := testPacket(addrA, addrB, 1500, 1)
	for range 1000 { // warm the pool and the heap
		n.Send(pkt)
	}
	drain(t, n)
	if a := testing.AllocsPerRun(100, func() {
		for range 100 {
			n.Send(pkt)
		}
		for n.Step() {
		}
	}); a != 0 {
		t.Errorf("%v allocations per 100 packets", a)
	}
	if null.n == 0 {
		t.Fatal("nothing delivered")
	}
}

type nullNode struct{ n int }

func (s *nullNode) Deliver([]byte)                      { s.n++ }
func (s *nullNode) NextDeadline() (time.Duration, bool) { return 0, false }
func (s *nullNode) HandleTimers()                       {}

// BenchmarkPacket measures one packet's trip: Send (copy, route, shaper)
// and its delivery step, on a path with rate, delay, jitter and loss.
func BenchmarkPacket(b *testing.B) {
	n, _, _, _ := pair(b, 1, addrA, addrB, emu.Spec{Rate: 10e9, Delay: ms, Jitter: 100 * time.Microsecond, Loss: 0.001}, emu.Spec{})
	n.nodes[1].node = &nullNode{}
	pkt := testPacket(addrA, addrB, 1500, 1)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	i := 0
	for b.Loop() {
		n.Send(pkt)
		if i++; i%64 == 0 {
			for n.Step() {
			}
		}
	}
}
