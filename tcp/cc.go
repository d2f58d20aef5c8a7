package tcp

import (
	"fmt"
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

// CCReleaser is an optional interface of a CongestionControl whose state is
// shared with other connections' controllers, as the coupled controllers
// of an MPTCP connection's subflows are (RFC 6356 §3: the window increase
// of one subflow depends on every subflow's window and RTT). The engine
// calls Release once, when the connection enters CLOSED or TIME-WAIT and
// will send no more data, so the others stop counting it. The *CCState the
// engine passes to a controller is the same for the connection's life; a
// coupled controller may read it from another subflow's callback when
// every subflow runs under one lock (package mpconn's driver).
type CCReleaser interface {
	CongestionControl
	Release()
}

// RateSample is one delivery rate sample
// (draft-cheng-iccrg-delivery-rate-estimation §3.3), produced by the
// engine for each ACK that delivered data or revealed a loss, together
// with the connection state a rate-based controller needs. Amounts are in
// bytes.
type RateSample struct {
	// Delivered is the data delivered over Interval (C.delivered minus
	// P.delivered of the most recently sent packet this ACK delivered);
	// -1 when the ACK gives no valid sample.
	Delivered int64
	// Interval is max(send elapsed, ACK elapsed) (§3.3, "interval"); 0
	// when the sample is invalid (no packet with rate state delivered, or
	// an interval below the minimum RTT, which only ACK compression can
	// produce).
	Interval time.Duration
	// PriorDelivered is P.delivered: the connection's delivered count
	// when that packet was sent. A round trip ends when it reaches the
	// count of the round's start.
	PriorDelivered int64
	// RTT is the round-trip time of the most recently sent data this ACK
	// delivered that was never retransmitted; -1 if none.
	RTT time.Duration
	// IsAppLimited is P.is_app_limited: the sample may understate the
	// path's bandwidth because the sender ran out of data.
	IsAppLimited bool
	// AckedSacked is the data newly delivered by this ACK (cumulatively
	// or selectively acknowledged); Lost is the data newly marked lost.
	AckedSacked, Lost int
	// PriorInflight and Inflight are the RFC 6675 pipe before and after
	// the ACK.
	PriorInflight, Inflight int
	// TotalDelivered is C.delivered after the ACK; DeliveredTime is
	// C.delivered_time (the time of the last ACK that delivered data).
	TotalDelivered int64
	DeliveredTime  time.Duration
	// SRTT is the smoothed RTT (0 before the first sample); MinRTT the
	// connection's minimum RTT (0 if none).
	SRTT, MinRTT time.Duration
	// InRecovery is set during fast recovery, InLoss after a
	// retransmission timeout until its data is repaired (Linux's
	// TCP_CA_Recovery and TCP_CA_Loss).
	InRecovery, InLoss bool
	// IdleRestart is set while the sender restarted from idle (nothing
	// in flight, application-limited) and no ACK since delivered data;
	// BBR then lets the ACK's RTT sample refresh an expired RTprop
	// instead of entering ProbeRTT (tcp_bbr.c's idle_restart).
	IdleRestart bool
	// Now is the time of the ACK.
	Now time.Duration
	// SetAppLimited is an output: the controller sets it to have the
	// engine mark the connection application-limited (BBR does in
	// ProbeRTT, so its low-window samples do not lower the bandwidth
	// estimate).
	SetAppLimited bool
}

// RateBasedCC is an optional interface of a CongestionControl that sets
// the congestion window and a pacing rate from delivery rate samples
// (BBR). The engine checks for it once, at creation. For such a
// controller the engine does not call OnAck and does not apply PRR or the
// window reductions that end recovery, a tail loss probe's repair, an
// ECN echo or an undo: the window is the controller's alone (as Linux
// leaves it to a cong_control module). OnCongestion and OnRTO are still
// called when recovery or a timeout starts.
type RateBasedCC interface {
	CongestionControl
	// OnRateSample is called after the engine processed an ACK that
	// delivered data or marked data lost, with the ACK's rate sample.
	OnRateSample(s *CCState, rs *RateSample)
	// PacingRate is the rate the sender must not exceed, in bytes per
	// second; 0 turns pacing off.
	PacingRate() float64
}

// ValidCongestionControl reports an error for a name NewCongestionControl
// does not know ("" is the default, CUBIC).
func ValidCongestionControl(name string) error {
	switch name {
	case "", "cubic", "reno", "newreno", "bbr":
		return nil
	}
	return fmt.Errorf("tcp: unknown congestion control %q (want cubic, reno or bbr)", name)
}

// NewCongestionControl returns the named algorithm: "reno" (NewReno),
// "bbr" (BBR version 1) or "cubic" (the default for any other name).
func NewCongestionControl(name string) CongestionControl {
	switch name {
	case "reno", "newreno":
		return &Reno{}
	case "bbr":
		return &BBR{}
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
