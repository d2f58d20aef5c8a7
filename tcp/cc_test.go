package tcp

import (
	"math"
	"testing"
	"time"
)

const mss = 1000

// ackWindow feeds one window's worth of ACKs (one per MSS) at time now.
func ackWindow(cc CongestionControl, s *CCState, rtt, now time.Duration) {
	n := s.Cwnd / mss
	for i := 0; i < n; i++ {
		cc.OnAck(s, mss, rtt, now)
	}
}

func TestRenoAIMD(t *testing.T) {
	r := &Reno{}
	s := CCState{Cwnd: 10 * mss, Ssthresh: 1 << 30, MSS: mss}
	ackWindow(r, &s, 0, 0)
	if s.Cwnd != 20*mss {
		t.Fatalf("slow start: one window of ACKs took cwnd to %d, want %d", s.Cwnd, 20*mss)
	}
	r.OnCongestion(&s, s.Cwnd, 0)
	if s.Ssthresh != 10*mss {
		t.Fatalf("ssthresh %d, want half of 20 MSS", s.Ssthresh)
	}
	s.Cwnd = s.Ssthresh
	for rtt := 1; rtt <= 5; rtt++ {
		ackWindow(r, &s, 0, 0)
		if s.Cwnd != (10+rtt)*mss {
			t.Fatalf("congestion avoidance round %d: cwnd %d, want %d", rtt, s.Cwnd, (10+rtt)*mss)
		}
	}
	r.OnRTO(&s, s.Cwnd, 0)
	if s.Cwnd != mss || s.Ssthresh != 15*mss/2 {
		t.Fatalf("after RTO cwnd %d ssthresh %d", s.Cwnd, s.Ssthresh)
	}
}

// TestCubicWindowCurve checks RFC 9438 §4: after a reduction from W_max
// the window is cut to β·W_max and climbs back to W_max about K seconds
// later, K = cbrt(W_max(1-β)/C), flat near the plateau and convex past it.
func TestCubicWindowCurve(t *testing.T) {
	c := &Cubic{}
	const wmax = 1000 // segments
	s := CCState{Cwnd: wmax * mss, Ssthresh: 1 << 30, MSS: mss}
	c.OnCongestion(&s, s.Cwnd, 0)
	if s.Ssthresh != int(0.7*wmax)*mss {
		t.Fatalf("ssthresh %d, want 0.7 W_max", s.Ssthresh)
	}
	s.Cwnd = s.Ssthresh
	k := math.Cbrt(wmax * (1 - cubicBeta) / cubicC) // seconds
	rtt := 100 * time.Millisecond
	var atK, at2K int
	for now := time.Duration(0); now <= time.Duration(2*k*float64(time.Second)); now += rtt {
		ackWindow(c, &s, rtt, now)
		if atK == 0 && now >= time.Duration(k*float64(time.Second)) {
			atK = s.Cwnd / mss
		}
		at2K = s.Cwnd / mss
	}
	if atK < wmax*97/100 || atK > wmax*105/100 {
		t.Fatalf("cwnd at K=%.2fs is %d segments, want about W_max=%d", k, atK, wmax)
	}
	if at2K <= wmax*11/10 {
		t.Fatalf("cwnd at 2K is %d segments: no convex growth past W_max", at2K)
	}
}

// TestCubicRenoFriendly checks RFC 9438 §4.3: on a short-RTT path with a
// small window, CUBIC grows at least as fast as Reno would.
func TestCubicRenoFriendly(t *testing.T) {
	c, r := &Cubic{}, &Reno{}
	sc := CCState{Cwnd: 20 * mss, Ssthresh: 20 * mss, MSS: mss}
	sr := sc
	rtt := time.Millisecond
	for i := 0; i < 100; i++ {
		now := time.Duration(i) * rtt
		ackWindow(c, &sc, rtt, now)
		ackWindow(r, &sr, rtt, now)
	}
	// Reno adds one segment per RTT: 120; CUBIC's estimate adds
	// 3(1-β)/(1+β) ≈ 0.53 per RTT but never less than its cubic curve.
	if sc.Cwnd < 20*mss+50*mss {
		t.Fatalf("cubic %d segments after 100 short RTTs (reno %d)", sc.Cwnd/mss, sr.Cwnd/mss)
	}
}
