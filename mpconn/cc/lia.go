package cc

import (
	"time"

	"github.com/mptcp-go/mptcp/tcp"
)

// LIA is the Linked Increases Algorithm of RFC 6356 as an
// mpconn.CongestionFactory. In congestion avoidance an ACK of bytes_acked
// on subflow i grows its window by (§3)
//
//	min(alpha * bytes_acked * MSS_i / cwnd_total, bytes_acked * MSS_i / cwnd_i)
//
//	alpha = cwnd_total * max_k(cwnd_k / rtt_k^2) / (sum_k cwnd_k / rtt_k)^2
//
// over the connection's subflows k, windows in bytes; the second term caps
// each subflow at what one TCP flow on its path would take. The window
// grows by one MSS each time the bytes ACKed reach
// max(cwnd_total/alpha, cwnd_i), alpha recomputed at every ACK from every
// subflow's current window and smoothed RTT (Linux's mptcp_coupled.c
// recomputes at each increment). Slow start, the loss response (halving)
// and the timeout are NewReno's.
type LIA struct{}

// NewConn implements mpconn.CongestionFactory.
func (LIA) NewConn() func() tcp.CongestionControl {
	g := new(group)
	return func() tcp.CongestionControl {
		l := new(lia)
		g.join(&l.m)
		return l
	}
}

// lia is one subflow's LIA controller.
type lia struct {
	m   member
	acc int // bytes ACKed toward the next MSS of increase
}

// Name implements tcp.CongestionControl.
func (l *lia) Name() string { return "lia" }

// OnAck implements tcp.CongestionControl.
func (l *lia) OnAck(s *tcp.CCState, acked int, rtt, _ time.Duration) {
	l.m.ack(s, rtt)
	if s.Cwnd < s.Ssthresh {
		slowStart(s, acked)
		return
	}
	l.acc += acked
	per := s.Cwnd // bytes ACKed per MSS of increase: TCP's at most
	if l.m.counted() {
		per = max(per, l.m.g.liaPerMSS())
	}
	if l.acc >= per {
		n := l.acc / per
		l.acc -= n * per
		s.Cwnd += n * s.MSS
	}
}

// OnCongestion implements tcp.CongestionControl.
func (l *lia) OnCongestion(s *tcp.CCState, inflight int, _ time.Duration) {
	l.m.s = s
	halve(s, inflight)
	l.acc = 0
	l.m.recovering = true
}

// OnRTO implements tcp.CongestionControl.
func (l *lia) OnRTO(s *tcp.CCState, inflight int, _ time.Duration) {
	l.m.s = s
	halve(s, inflight)
	s.Cwnd = s.MSS
	l.acc = 0
	l.m.recovering = false
}

// Release implements tcp.CCReleaser.
func (l *lia) Release() { l.m.g.leave(&l.m) }

// liaPerMSS returns cwnd_total/alpha, the bytes to ACK on a subflow for
// one MSS of increase by the coupled term of RFC 6356 §3:
//
//	cwnd_total/alpha = (sum_k cwnd_k/rtt_k)^2 / max_k(cwnd_k/rtt_k^2)
//
// (cwnd_total cancels out). With one subflow it is that subflow's window:
// LIA is then NewReno. 0 if no subflow counts.
func (g *group) liaPerMSS() int {
	var sum, best float64
	for _, m := range g.members {
		if !m.counted() {
			continue
		}
		w, r := float64(m.window()), float64(m.srtt)
		sum += w / r
		best = max(best, w/r/r)
	}
	if best == 0 {
		return 0
	}
	return int(sum * sum / best)
}

// alpha returns RFC 6356's alpha for the group (for tests and
// diagnostics): cwnd_total * max_k(cwnd_k/rtt_k^2) / (sum_k cwnd_k/rtt_k)^2.
func (g *group) alpha() float64 {
	var total, sum, best float64
	for _, m := range g.members {
		if !m.counted() {
			continue
		}
		w, r := float64(m.window()), float64(m.srtt)
		total += w
		sum += w / r
		best = max(best, w/r/r)
	}
	if sum == 0 {
		return 0
	}
	return total * best / (sum * sum)
}
