package cc

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/tcp"
)

const mss = 1000

// sub is one simulated subflow: its controller and the state the engine
// would keep.
type sub struct {
	cc tcp.CongestionControl
	s  tcp.CCState
}

func newSubs(f Factory, n int, cwnd int) []*sub {
	mk := f.NewConn()
	subs := make([]*sub, n)
	for i := range subs {
		subs[i] = &sub{cc: mk(), s: tcp.CCState{Cwnd: cwnd, Ssthresh: 1 << 30, MSS: mss}}
	}
	return subs
}

// ackWindow feeds one window of ACKs (one per MSS) to sub.
func (x *sub) ackWindow(rtt time.Duration) {
	for n := x.s.Cwnd / mss; n > 0; n-- {
		x.cc.OnAck(&x.s, mss, rtt, 0)
	}
}

// TestSingleSubflowIsReno checks RFC 6356 §3's requirement that a
// connection with one subflow behaves as TCP: LIA's and OLIA's windows
// follow NewReno's ACK for ACK through slow start, losses, congestion
// avoidance and a timeout.
func TestSingleSubflowIsReno(t *testing.T) {
	for _, f := range []Factory{LIA{}, OLIA{}} {
		x := newSubs(f, 1, 10*mss)[0]
		var reno tcp.Reno
		rs := x.s
		rtt := 30 * time.Millisecond
		step := func(what string, fn func(cc tcp.CongestionControl, s *tcp.CCState)) {
			t.Helper()
			fn(x.cc, &x.s)
			fn(&reno, &rs)
			if x.s != rs {
				t.Fatalf("%s after %s: %+v, NewReno %+v", x.cc.Name(), what, x.s, rs)
			}
		}
		for round := 0; round < 40; round++ {
			switch round {
			case 4, 20:
				step("a loss", func(cc tcp.CongestionControl, s *tcp.CCState) {
					cc.OnCongestion(s, s.Cwnd, 0)
					s.Cwnd = s.Ssthresh // the engine's PRR ends there
				})
			case 30:
				step("a timeout", func(cc tcp.CongestionControl, s *tcp.CCState) { cc.OnRTO(s, s.Cwnd, 0) })
			}
			n := x.s.Cwnd / mss
			for i := 0; i < n; i++ {
				step("an ACK", func(cc tcp.CongestionControl, s *tcp.CCState) { cc.OnAck(s, mss, rtt, 0) })
			}
		}
		if x.s.Cwnd <= x.s.Ssthresh {
			t.Fatalf("%s: never left slow start: %+v", x.cc.Name(), x.s)
		}
	}
}

// TestLIAAlpha checks alpha and the increase against RFC 6356 §3 worked
// by hand for two subflows: 10 segments at 10 ms and 20 at 40 ms.
//
//	cwnd/rtt:   1e6 and 5e5 B/s, sum 1.5e6
//	cwnd/rtt^2: 1e8 and 1.25e7, max 1e8
//	alpha = 30000 * 1e8 / (1.5e6)^2 = 4/3; cwnd_total/alpha = 22500 bytes
//
// Each subflow gains one MSS per max(22500, cwnd_i) bytes ACKed: the
// short path (cwnd 10000) is held at 44% of TCP's increase, the long
// one at 89%.
func TestLIAAlpha(t *testing.T) {
	subs := newSubs(LIA{}, 2, 0)
	subs[0].s.Cwnd, subs[0].s.Ssthresh = 10*mss, 5*mss
	subs[1].s.Cwnd, subs[1].s.Ssthresh = 20*mss, 5*mss
	// A first ACK on each tells the group their RTTs; then restore the
	// windows it grew.
	subs[0].cc.OnAck(&subs[0].s, 0, 10*time.Millisecond, 0)
	subs[1].cc.OnAck(&subs[1].s, 0, 40*time.Millisecond, 0)
	g := subs[0].cc.(*lia).m.g
	if a := g.alpha(); math.Abs(a-4.0/3) > 1e-9 {
		t.Fatalf("alpha %v, want 4/3", a)
	}
	if got := g.liaPerMSS(); got != 22500 {
		t.Fatalf("cwnd_total/alpha %d, want 22500", got)
	}
	// Subflow 0 gains its MSS at the 23rd kB ACKed; then its window is 11
	// segments: (1.1e6+5e5)^2 / 1.1e8 = 23272 bytes for subflow 1.
	for i, per := range []int{22500, 23272} {
		x := subs[i]
		rtt := time.Duration(10+30*i) * time.Millisecond
		before := x.s.Cwnd
		acked := 0
		for ; x.s.Cwnd == before && acked < 100*mss; acked += mss {
			x.cc.OnAck(&x.s, mss, rtt, 0)
		}
		if want := (per + mss - 1) / mss * mss; acked != want || x.s.Cwnd != before+mss {
			t.Fatalf("subflow %d: grew to %d after %d bytes ACKed, want +1 MSS after %d", i, x.s.Cwnd, acked, want)
		}
		if got := x.cc.(*lia).acc; got != acked-per {
			t.Fatalf("subflow %d: %d bytes carried over, want %d", i, got, acked-per)
		}
	}
}

// TestLIASharedPathIsOneTCP checks RFC 6356's first goal in its simplest
// case: n subflows with equal RTTs and windows (one bottleneck) have
// alpha = 1/n, so each grows by MSS/n^2 per round and the aggregate by
// MSS/n, where one TCP flow holding the total window would grow by one
// MSS. A loss halves one subflow, 1/(2n) of the aggregate; for that AIMD
// the mean window is sqrt(a(2-b)/(2b) / p) = sqrt((2-1/(2n))/p), against
// TCP's sqrt(1.5/p): 8% above one TCP flow for two subflows, 12% for four.
func TestLIASharedPathIsOneTCP(t *testing.T) {
	for _, n := range []int{2, 4} {
		subs := newSubs(LIA{}, n, 40*mss)
		for _, x := range subs {
			x.s.Ssthresh = x.s.Cwnd
			x.cc.OnAck(&x.s, 0, 20*time.Millisecond, 0)
		}
		g := subs[0].cc.(*lia).m.g
		if a := g.alpha(); math.Abs(a-1/float64(n)) > 1e-9 {
			t.Fatalf("%d subflows: alpha %v, want 1/%d", n, a, n)
		}
		rounds := 4 * n * n
		start := 0
		for _, x := range subs {
			start += x.s.Cwnd
		}
		for r := 0; r < rounds; r++ {
			for _, x := range subs {
				x.ackWindow(20 * time.Millisecond)
			}
		}
		total := 0
		for _, x := range subs {
			total += x.s.Cwnd
		}
		// MSS/n per round for the aggregate; the windows grow meanwhile,
		// which slows the increase slightly.
		want := rounds * mss / n
		if got := total - start; got > want || got < want*3/4 {
			t.Fatalf("%d subflows: aggregate grew %d bytes in %d rounds, want about %d (one TCP: %d)", n, got, rounds, want, rounds*mss)
		}
	}
}

// TestOLIAAlpha checks OLIA's sets: a path with the largest window but
// frequent losses (in M) gives window to a lossless path with a smaller
// one (B\M): alpha = -1/(|R||M|) and 1/(|R||B\M|).
func TestOLIAAlpha(t *testing.T) {
	subs := newSubs(OLIA{}, 3, 0)
	rtt := 20 * time.Millisecond
	set := func(x *sub, cwnd int, delivered, at1, at2 int64) {
		x.s.Cwnd, x.s.Ssthresh = cwnd, 2*mss
		x.cc.OnAck(&x.s, 0, rtt, 0)
		o := x.cc.(*olia)
		o.delivered, o.at1, o.at2 = delivered, at1, at2
	}
	set(subs[0], 40*mss, 100e3, 0, 90e3)      // ℓ = 90 kB, largest window
	set(subs[1], 20*mss, 1000e3, 0, 0)        // ℓ = 1 MB, the best path
	set(subs[2], 10*mss, 300e3, 100e3, 200e3) // ℓ = 100 kB
	g := subs[0].cc.(*olia).m.g
	want := []float64{-1.0 / 3, 1.0 / 3, 0}
	for i, x := range subs {
		sum, alpha := g.oliaTerms(&x.cc.(*olia).m)
		if alpha != want[i] {
			t.Errorf("path %d: alpha %v, want %v", i, alpha, want[i])
		}
		if wantSum := float64(70*mss) / float64(rtt); math.Abs(sum-wantSum) > 1e-12 {
			t.Errorf("path %d: sum %v, want %v", i, sum, wantSum)
		}
	}
	// When the best path also has the largest window, nothing moves.
	subs[0].cc.(*olia).at2 = 0
	subs[0].cc.(*olia).delivered = 5000e3
	for i, x := range subs {
		if _, alpha := g.oliaTerms(&x.cc.(*olia).m); alpha != 0 {
			t.Errorf("best path in M: path %d alpha %v, want 0", i, alpha)
		}
	}
	// Equal windows (in whole segments) are all in M.
	subs[0].cc.(*olia).at2 = 90e3
	subs[0].cc.(*olia).delivered = 100e3
	subs[1].s.Cwnd = 40*mss + mss/2
	subs[2].s.Cwnd = 40 * mss
	for i, x := range subs {
		if _, alpha := g.oliaTerms(&x.cc.(*olia).m); alpha != 0 {
			t.Errorf("all in M: path %d alpha %v, want 0", i, alpha)
		}
	}
}

// TestOLIAMovesWindow checks the effect of alpha over time: with equal
// RTTs and the same ACK clock, the lossy path with the largest window
// grows slower than the lossless one, whose share rises.
func TestOLIAMovesWindow(t *testing.T) {
	subs := newSubs(OLIA{}, 2, 20*mss)
	rtt := 20 * time.Millisecond
	for _, x := range subs {
		x.s.Ssthresh = x.s.Cwnd
		x.cc.OnAck(&x.s, 0, rtt, 0)
	}
	// Path 0 loses a packet every 200 ACKed; path 1 never. Path 0 starts
	// with the larger window.
	subs[0].s.Cwnd = 30 * mss
	acks := 0
	for r := 0; r < 300; r++ {
		for n := subs[0].s.Cwnd / mss; n > 0; n-- {
			subs[0].cc.OnAck(&subs[0].s, mss, rtt, 0)
			if acks++; acks%200 == 0 {
				subs[0].cc.OnCongestion(&subs[0].s, subs[0].s.Cwnd, 0)
				subs[0].s.Cwnd = subs[0].s.Ssthresh
			}
		}
		subs[1].ackWindow(rtt)
	}
	if subs[1].s.Cwnd <= 2*subs[0].s.Cwnd {
		t.Fatalf("lossless path %d bytes, lossy %d: OLIA did not move window", subs[1].s.Cwnd, subs[0].s.Cwnd)
	}
}

// TestRelease checks that a released subflow no longer counts: the one
// left is NewReno again.
func TestRelease(t *testing.T) {
	for _, f := range []Factory{LIA{}, OLIA{}} {
		subs := newSubs(f, 2, 20*mss)
		for _, x := range subs {
			x.s.Ssthresh = x.s.Cwnd
			x.cc.OnAck(&x.s, 0, 20*time.Millisecond, 0)
		}
		before := subs[0].s.Cwnd
		subs[0].ackWindow(20 * time.Millisecond)
		if subs[0].s.Cwnd != before {
			t.Fatalf("%s: coupled subflow grew a whole MSS in one round", subs[0].cc.Name())
		}
		subs[1].cc.(tcp.CCReleaser).Release()
		subs[0].ackWindow(20 * time.Millisecond)
		subs[0].ackWindow(20 * time.Millisecond)
		if subs[0].s.Cwnd < before+mss {
			t.Fatalf("%s: the subflow left alone did not grow as NewReno (%d -> %d)", subs[0].cc.Name(), before, subs[0].s.Cwnd)
		}
	}
}

// TestNew checks the names.
func TestNew(t *testing.T) {
	for _, name := range Names() {
		f, err := New(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.NewConn()().Name(); got != name {
			t.Fatalf("New(%q) makes %q", name, got)
		}
	}
	if _, err := New("cubic"); err == nil {
		t.Fatal(`New("cubic") accepted`)
	}
}

// TestOnAckAllocs checks that the per-ACK path allocates nothing.
func TestOnAckAllocs(t *testing.T) {
	for _, f := range []Factory{LIA{}, OLIA{}} {
		subs := newSubs(f, 8, 50*mss)
		for i, x := range subs {
			x.s.Ssthresh = x.s.Cwnd
			x.cc.OnAck(&x.s, 0, time.Duration(10+i)*time.Millisecond, 0)
		}
		i := 0
		if n := testing.AllocsPerRun(1000, func() {
			x := subs[i%len(subs)]
			x.cc.OnAck(&x.s, mss, 15*time.Millisecond, 0)
			i++
		}); n != 0 {
			t.Fatalf("%s: %v allocations per ACK", subs[0].cc.Name(), n)
		}
	}
}

func benchmarkOnAck(b *testing.B, f Factory, n int) {
	subs := newSubs(f, n, 50*mss)
	for i, x := range subs {
		x.s.Ssthresh = x.s.Cwnd
		x.cc.OnAck(&x.s, 0, time.Duration(10+i)*time.Millisecond, 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x := subs[i%n]
		x.cc.OnAck(&x.s, mss, time.Duration(10+i%n)*time.Millisecond, 0)
		if x.s.Cwnd > 500*mss {
			x.s.Cwnd = 50 * mss
		}
	}
}

// BenchmarkOnAck measures the per-ACK cost of congestion avoidance with 1,
// 2 and 8 subflows (tcp.Reno and CUBIC for comparison).
func BenchmarkOnAck(b *testing.B) {
	for _, n := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("lia/subflows=%d", n), func(b *testing.B) { benchmarkOnAck(b, LIA{}, n) })
		b.Run(fmt.Sprintf("olia/subflows=%d", n), func(b *testing.B) { benchmarkOnAck(b, OLIA{}, n) })
	}
	b.Run("reno", func(b *testing.B) { benchmarkOnAck(b, single(func() tcp.CongestionControl { return &tcp.Reno{} }), 1) })
	b.Run("cubic", func(b *testing.B) { benchmarkOnAck(b, single(func() tcp.CongestionControl { return &tcp.Cubic{} }), 1) })
}

// single is a Factory of uncoupled controllers.
type single func() tcp.CongestionControl

func (f single) NewConn() func() tcp.CongestionControl { return f }
