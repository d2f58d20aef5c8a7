package cc

import (
	"time"

	"github.com/mptcp-go/mptcp/tcp"
)

// OLIA is the Opportunistic Linked-Increases Algorithm (Khalili et al.,
// "MPTCP is not Pareto-optimal: performance issues and a possible
// solution"; draft-khalili-mptcp-congestion-control) as an
// mpconn.CongestionFactory. In congestion avoidance an ACK on path r grows
// its window w_r (in segments) by, per segment ACKed,
//
//	(w_r / rtt_r^2) / (sum_p w_p / rtt_p)^2  +  alpha_r / w_r
//
// The first term makes the connection as aggressive as one TCP flow on
// its best path (optimal resource pooling); the second moves window from
// the paths with the largest windows (the set M) to the paths that look
// best but have smaller windows (the set B\M, "collected paths"): with
// ℓ_r the bytes delivered between the last two losses on r, or since the
// last one if more, the best paths maximise ℓ_r / rtt_r^2, and when B\M
// is not empty
//
//	alpha_r = 1 / (|R| |B\M|)   for r in B\M,
//	alpha_r = -1 / (|R| |M|)    for r in M,
//	alpha_r = 0                 otherwise (and for every r if B\M is empty).
//
// Windows are compared in whole segments for M, as Linux's mptcp_olia.c
// does. The loss response (halving), slow start and the timeout are
// NewReno's.
//
// ℓ_r counts the bytes the engine reports in tcp.CongestionControl.OnAck,
// that is ACKed outside recovery while the subflow was limited by its
// window; Linux counts SND.UNA's progress. The difference, the data
// repaired during recovery and what was ACKed while the application had
// nothing to send, is small for a sender that keeps its paths busy, which
// is when the coupling matters.
type OLIA struct{}

// NewConn implements mpconn.CongestionFactory.
func (OLIA) NewConn() func() tcp.CongestionControl {
	g := new(group)
	return func() tcp.CongestionControl {
		o := &olia{}
		o.m.olia = o
		g.join(&o.m)
		return o
	}
}

// oliaSlack is the relative rounding error tolerated when the fractional
// window change reaches one MSS.
const oliaSlack = 1e-9

// olia is one subflow's OLIA controller.
type olia struct {
	m member
	// delivered counts the bytes ACKed (see OLIA); at1 and at2 are its
	// values at the loss before last and at the last loss (Linux's
	// mptcp_loss1, mptcp_loss2; delivered is mptcp_loss3).
	delivered, at1, at2 int64
	// frac is the window change not yet applied, in bytes: a whole MSS
	// is added or taken at a time.
	frac float64
}

// Name implements tcp.CongestionControl.
func (o *olia) Name() string { return "olia" }

// interLoss is ℓ_r: the bytes between the last two losses, or since the
// last one if more.
func (o *olia) interLoss() int64 { return max(o.delivered-o.at2, o.at2-o.at1) }

// OnAck implements tcp.CongestionControl.
func (o *olia) OnAck(s *tcp.CCState, acked int, rtt, _ time.Duration) {
	o.m.ack(s, rtt)
	o.delivered += int64(acked)
	if s.Cwnd < s.Ssthresh {
		slowStart(s, acked)
		return
	}
	mss := float64(s.MSS)
	if !o.m.counted() {
		// No RTT yet: NewReno's increase, MSS*MSS/cwnd per MSS ACKed.
		o.frac += float64(acked) * mss / float64(s.Cwnd)
	} else {
		w := float64(s.Cwnd)
		r := float64(o.m.srtt)
		sum, alpha := o.m.g.oliaTerms(&o.m)
		o.frac += float64(acked) * (mss*w/(r*r*sum*sum) + alpha*mss/w)
	}
	// The slack absorbs the rounding of a sum of float increments (one
	// subflow: cwnd ACKs of MSS*MSS/cwnd each make exactly one MSS, as
	// NewReno's byte count does).
	for o.frac >= mss*(1-oliaSlack) {
		o.frac -= mss
		s.Cwnd += s.MSS
	}
	for o.frac <= -mss*(1-oliaSlack) {
		o.frac += mss
		s.Cwnd = max(s.Cwnd-s.MSS, 2*s.MSS)
	}
}

// loss records a loss event for ℓ_r (Linux's mptcp_olia_set_state).
func (o *olia) loss() {
	if o.delivered != o.at2 {
		o.at1, o.at2 = o.at2, o.delivered
	}
	o.frac = 0
}

// OnCongestion implements tcp.CongestionControl.
func (o *olia) OnCongestion(s *tcp.CCState, inflight int, _ time.Duration) {
	o.m.s = s
	o.loss()
	halve(s, inflight)
	o.m.recovering = true
}

// OnRTO implements tcp.CongestionControl.
func (o *olia) OnRTO(s *tcp.CCState, inflight int, _ time.Duration) {
	o.m.s = s
	o.loss()
	halve(s, inflight)
	s.Cwnd = s.MSS
	o.m.recovering = false
}

// Release implements tcp.CCReleaser.
func (o *olia) Release() { o.m.g.leave(&o.m) }

// oliaTerms returns, for member me, sum_p w_p/rtt_p over the counted
// members (bytes per nanosecond) and alpha_me.
func (g *group) oliaTerms(me *member) (sum, alpha float64) {
	// One pass: the largest window (in segments), the best ℓ/rtt^2 and
	// the sum; a second pass counts M and B\M.
	var maxSeg int
	var best float64
	n := 0
	for _, m := range g.members {
		if !m.counted() {
			continue
		}
		n++
		w, r := m.window(), float64(m.srtt)
		sum += float64(w) / r
		maxSeg = max(maxSeg, w/m.s.MSS)
		best = max(best, float64(m.olia.interLoss())/(r*r))
	}
	var inM, inBM int
	meM, meBM := false, false
	for _, m := range g.members {
		if !m.counted() {
			continue
		}
		r := float64(m.srtt)
		switch {
		case m.window()/m.s.MSS == maxSeg:
			inM++
			meM = meM || m == me
		case float64(m.olia.interLoss())/(r*r) == best:
			inBM++
			meBM = meBM || m == me
		}
	}
	switch {
	case inBM == 0:
	case meBM:
		alpha = 1 / float64(n*inBM)
	case meM:
		alpha = -1 / float64(n*inM)
	}
	return sum, alpha
}
