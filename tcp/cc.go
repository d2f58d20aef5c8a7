package tcp

import (
	"math"
	"time"
)

// CCState is the congestion state a CongestionControl manages, in bytes.
type CCState struct {
	Cwnd     int // congestion window
	Ssthresh int // slow-start threshold
	MSS      int // sender maximum segment size
}

// CongestionControl is a sender's congestion controller. The engine calls
// it; it only changes the CCState it is given. Loss detection, recovery
// and PRR are the engine's; the controller decides window growth and the
// multiplicative decrease.
type CongestionControl interface {
	// Name identifies the algorithm ("reno", "cubic").
	Name() string
	// OnAck is called for an ACK that advanced SND.UNA by acked bytes
	// outside loss recovery, while the sender was limited by cwnd. rtt is
	// the latest RTT sample (0 if none).
	OnAck(s *CCState, acked int, rtt time.Duration, now time.Duration)
	// OnCongestion is called once when fast recovery starts (a loss was
	// detected by SACK/RACK or duplicate ACKs); it sets Ssthresh. The
	// engine then lowers Cwnd toward Ssthresh with PRR.
	OnCongestion(s *CCState, inflight int, now time.Duration)
	// OnRTO is called when the retransmission timer expires (RFC 5681
	// §3.1 eqn. 4 and the loss window of one segment).
	OnRTO(s *CCState, inflight int, now time.Duration)
}

// NewCongestionControl returns the named algorithm: "reno" (NewReno) or
// "cubic" (the default for any other name).
func NewCongestionControl(name string) CongestionControl {
	if name == "reno" || name == "newreno" {
		return &Reno{}
	}
	return &Cubic{}
}

// Reno is NewReno congestion control (RFC 5681 §3.1, RFC 6582): slow start
// below Ssthresh, then one MSS per window of ACKed data; halve on loss.
type Reno struct {
	acc int // bytes ACKed toward the next additive increase
}

// Name implements CongestionControl.
func (r *Reno) Name() string { return "reno" }

// OnAck implements CongestionControl.
func (r *Reno) OnAck(s *CCState, acked int, _ time.Duration, _ time.Duration) {
	if s.Cwnd < s.Ssthresh {
		// RFC 5681 §3.1 with RFC 3465 ABC (L=2): grow by the bytes ACKed,
		// at most 2*SMSS per ACK.
		s.Cwnd += min(acked, 2*s.MSS)
		return
	}
	// Congestion avoidance: cwnd += SMSS*SMSS/cwnd per ACK, done exactly
	// by counting ACKed bytes against one window (RFC 5681 eqn. 3 note).
	r.acc += acked
	if r.acc >= s.Cwnd {
		r.acc -= s.Cwnd
		s.Cwnd += s.MSS
	}
}

// OnCongestion implements CongestionControl: ssthresh = max(FlightSize/2, 2*SMSS).
func (r *Reno) OnCongestion(s *CCState, inflight int, _ time.Duration) {
	s.Ssthresh = max(inflight/2, 2*s.MSS)
	r.acc = 0
}

// OnRTO implements CongestionControl.
func (r *Reno) OnRTO(s *CCState, inflight int, _ time.Duration) {
	s.Ssthresh = max(inflight/2, 2*s.MSS)
	s.Cwnd = s.MSS
	r.acc = 0
}

// CUBIC constants (RFC 9438 §4.1-4.6).
const (
	cubicC    = 0.4
	cubicBeta = 0.7
)

// Cubic is CUBIC congestion control (RFC 9438), with the Reno-friendly
// region (§4.3) and fast convergence (§4.7). Windows are computed in
// segments, as the RFC does, and stored in bytes.
type Cubic struct {
	wMax       float64       // window before the last reduction, segments
	wLastMax   float64       // for fast convergence
	k          float64       // seconds to reach wMax
	epoch      time.Duration // start of the congestion-avoidance epoch; -1 if unset
	epochSet   bool
	cwndEpoch  float64 // cwnd at the start of the epoch, segments
	wEst       float64 // Reno-friendly estimate, segments
	ackedAccum int
}

// Name implements CongestionControl.
func (c *Cubic) Name() string { return "cubic" }

// OnAck implements CongestionControl.
func (c *Cubic) OnAck(s *CCState, acked int, rtt time.Duration, now time.Duration) {
	if s.Cwnd < s.Ssthresh {
		// Slow start (RFC 9438 §4.10 defers to RFC 5681).
		s.Cwnd += min(acked, 2*s.MSS)
		return
	}
	mss := float64(s.MSS)
	cwnd := float64(s.Cwnd) / mss
	if !c.epochSet {
		c.epochSet = true
		c.epoch = now
		c.cwndEpoch = cwnd
		c.wEst = cwnd
		if c.wMax < cwnd {
			// No reduction yet (or the window grew past wMax): start at
			// the plateau, as if wMax were the current window.
			c.wMax = cwnd
			c.k = 0
		} else {
			c.k = math.Cbrt((c.wMax - cwnd) / cubicC)
		}
	}
	// RFC 9438 §4.2: target = W_cubic(t + RTT).
	t := (now - c.epoch + rtt).Seconds()
	d := t - c.k
	target := cubicC*d*d*d + c.wMax
	if target < cwnd {
		target = cwnd
	} else if target > 1.5*cwnd {
		target = 1.5 * cwnd
	}
	// RFC 9438 §4.3: Reno-friendly estimate with alpha = 3(1-β)/(1+β).
	alpha := 3 * (1 - cubicBeta) / (1 + cubicBeta)
	if c.wEst >= c.wMax {
		alpha = 1
	}
	c.wEst += alpha * float64(acked) / mss / cwnd
	if c.wEst > target {
		target = c.wEst
	}
	// Increase cwnd by (target - cwnd)/cwnd per ACKed segment.
	inc := (target - cwnd) / cwnd * float64(acked) / mss
	c.ackedAccum += int(inc * mss)
	if c.ackedAccum > 0 {
		s.Cwnd += c.ackedAccum
		c.ackedAccum = 0
	}
}

// OnCongestion implements CongestionControl (RFC 9438 §4.6, §4.7).
func (c *Cubic) OnCongestion(s *CCState, inflight int, _ time.Duration) {
	cwnd := float64(s.Cwnd) / float64(s.MSS)
	// Fast convergence: release bandwidth when the plateau shrinks.
	if cwnd < c.wLastMax {
		c.wLastMax = cwnd
		c.wMax = cwnd * (1 + cubicBeta) / 2
	} else {
		c.wLastMax = cwnd
		c.wMax = cwnd
	}
	s.Ssthresh = max(int(float64(s.Cwnd)*cubicBeta), 2*s.MSS)
	c.epochSet = false
}

// OnRTO implements CongestionControl.
func (c *Cubic) OnRTO(s *CCState, inflight int, now time.Duration) {
	c.OnCongestion(s, inflight, now)
	s.Cwnd = s.MSS
}
