package tcp

import (
	"math"
	"time"
)

// BBR version 1 congestion control (draft-cardwell-iccrg-bbr-congestion-control-00,
// as Linux's net/ipv4/tcp_bbr.c implements it). BBR models the path with
// two estimates: the bottleneck bandwidth BtlBw, the windowed maximum of
// the delivery rate samples over ten round trips (§4.1.1), and the
// round-trip propagation time RTprop, the minimum RTT over ten seconds
// (§4.1.2). It paces at a gain times BtlBw and caps the data in flight at
// a gain times the bandwidth-delay product. Random loss does not shrink
// the window: only the model does.
//
// Not implemented: the long-term bandwidth sampling that detects token
// bucket policers (tcp_bbr.c's lt_bw) and the idle-restart refinements
// other than skipping ProbeRTT on the first ACK after an idle restart.

// BBR modes (draft §4.3).
type BBRMode uint8

const (
	BBRStartup  BBRMode = iota // exponential search for BtlBw (§4.3.2)
	BBRDrain                   // drain the queue Startup built (§4.3.3)
	BBRProbeBW                 // cruise at BtlBw, probing with a gain cycle (§4.3.4)
	BBRProbeRTT                // shrink the window to measure RTprop (§4.3.5)
)

func (m BBRMode) String() string {
	switch m {
	case BBRStartup:
		return "startup"
	case BBRDrain:
		return "drain"
	case BBRProbeBW:
		return "probe_bw"
	case BBRProbeRTT:
		return "probe_rtt"
	}
	return "unknown"
}

// BBR parameters (draft §4.2 and tcp_bbr.c).
const (
	bbrHighGain        = 2.885 // 2/ln(2): doubles the sending rate each round in Startup (§4.3.2.1)
	bbrDrainGain       = 1 / bbrHighGain
	bbrProbeBWCwndGain = 2.0
	bbrCycleLen        = 8
	bbrBwRounds        = bbrCycleLen + 2  // BtlBw filter window, round trips (§4.1.1.1)
	bbrMinRTTWindow    = 10 * time.Second // RTprop filter window (§4.1.2.1)
	bbrProbeRTTTime    = 200 * time.Millisecond
	bbrFullBwThresh    = 1.25 // growth that counts as "still growing" (§4.3.2.2)
	bbrFullBwCount     = 3    // rounds without it that end Startup
	bbrMinCwndSegs     = 4    // §4.2.3.1 (and the ProbeRTT window)
	bbrPacingMargin    = 0.99 // pace 1% below the estimate, as tcp_bbr.c does
	bbrExtraAckedRTTs  = 5    // window of the ACK aggregation filter, round trips
	bbrExtraAckedMax   = 100 * time.Millisecond
	bbrInitCwndSegs    = 10
)

// bbrPacingGains is the ProbeBW gain cycle (§4.3.4.3).
var bbrPacingGains = [bbrCycleLen]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

// maxFilter is Kathleen Nichols' windowed running maximum (Linux's
// lib/minmax.c): the best, second and third best samples of the window
// with their times, so that expiry needs no history.
type maxFilter struct {
	s [3]struct {
		t int64
		v float64
	}
}

func (m *maxFilter) get() float64 { return m.s[0].v }

func (m *maxFilter) reset(t int64, v float64) {
	for i := range m.s {
		m.s[i].t, m.s[i].v = t, v
	}
}

// update adds sample v at time t (a round count) to a window of win.
func (m *maxFilter) update(win, t int64, v float64) float64 {
	if v >= m.s[0].v || t-m.s[2].t > win {
		m.reset(t, v)
		return v
	}
	if v >= m.s[1].v {
		m.s[1].t, m.s[1].v = t, v
		m.s[2] = m.s[1]
	} else if v >= m.s[2].v {
		m.s[2].t, m.s[2].v = t, v
	}
	dt := t - m.s[0].t
	switch {
	case dt > win:
		// The best expired: promote the others and take the new sample
		// as third (twice if the second expired too).
		m.s[0], m.s[1] = m.s[1], m.s[2]
		m.s[2].t, m.s[2].v = t, v
		if t-m.s[0].t > win {
			m.s[0], m.s[1] = m.s[1], m.s[2]
		}
	case m.s[1].t == m.s[0].t && dt > win/4:
		// A quarter of the window passed with no second best: take one.
		m.s[1].t, m.s[1].v = t, v
		m.s[2] = m.s[1]
	case m.s[2].t == m.s[1].t && dt > win/2:
		m.s[2].t, m.s[2].v = t, v
	}
	return m.s[0].v
}

// BBR is BBR version 1 congestion control. It implements RateBasedCC.
type BBR struct {
	init     bool
	mode     BBRMode
	btlBw    maxFilter     // bytes/s, over round counts
	minRTT   time.Duration // RTprop estimate; 0 until the first sample
	minStamp time.Duration // when minRTT was last set (or confirmed)

	roundCount     int64 // round trips so far (§4.1.1.3)
	nextRTTDeliver int64 // C.delivered that ends the current round
	roundStart     bool

	pacingGain, cwndGain float64
	pacingRate           float64 // bytes/s, 0 before the first estimate
	hasSeenRTT           bool

	fullBw        float64 // Startup's plateau detection (§4.3.2.2)
	fullBwCount   int
	fullBwReached bool

	cycleIdx   int
	cycleStamp time.Duration

	probeRTTDone      time.Duration // 0 until the window reached the ProbeRTT floor
	probeRTTRoundDone bool

	priorCwnd          int // cwnd before recovery or ProbeRTT, restored after (§4.2.3.4)
	prevRecovery       uint8
	packetConservation bool

	// ACK aggregation (tcp_bbr.c's extra_acked): data ACKed beyond what
	// BtlBw explains, added to the window so that bursty ACKs do not stall
	// the sender.
	ackEpochStamp   time.Duration
	ackEpochAcked   int
	extraAcked      [2]int
	extraAckedIdx   int
	extraAckedRound int

	rnd uint64 // xorshift state for the random ProbeBW start phase
}

// Recovery states as BBR sees them (Linux's TCP_CA_Open, Recovery, Loss).
const (
	bbrOpen uint8 = iota
	bbrRecovery
	bbrLoss
)

// BBRInfo is a snapshot of BBR's model, in Info.
type BBRInfo struct {
	Mode       BBRMode
	BtlBw      float64       // bottleneck bandwidth estimate, bytes/s
	MinRTT     time.Duration // RTprop estimate
	PacingGain float64
	CwndGain   float64
	Rounds     int64 // round trips counted
}

// Name implements CongestionControl.
func (b *BBR) Name() string { return "bbr" }

// Info returns BBR's model.
func (b *BBR) Info() BBRInfo {
	return BBRInfo{Mode: b.mode, BtlBw: b.btlBw.get(), MinRTT: b.minRTT, PacingGain: b.pacingGain,
		CwndGain: b.cwndGain, Rounds: b.roundCount}
}

// PacingRate implements RateBasedCC.
func (b *BBR) PacingRate() float64 { return b.pacingRate }

// OnAck implements CongestionControl; BBR's window follows OnRateSample.
func (b *BBR) OnAck(*CCState, int, time.Duration, time.Duration) {}

// OnCongestion implements CongestionControl: BBR keeps its window (the
// loss-based reduction is replaced by packet conservation in the first
// round of recovery) and only remembers it for the end of recovery
// (tcp_bbr.c's bbr_ssthresh).
func (b *BBR) OnCongestion(s *CCState, _ int, _ time.Duration) {
	b.saveCwnd(s)
}

// OnRTO implements CongestionControl: like a loss episode, with the round
// treated as over and Startup's plateau detection restarted (tcp_bbr.c's
// bbr_set_state for TCP_CA_Loss); the window restarts at one segment and
// grows with the ACKs.
func (b *BBR) OnRTO(s *CCState, _ int, _ time.Duration) {
	b.saveCwnd(s)
	b.prevRecovery = bbrLoss
	b.fullBw = 0
	b.roundStart = true
	s.Cwnd = s.MSS
}

// saveCwnd remembers the last window not reduced by recovery or ProbeRTT.
func (b *BBR) saveCwnd(s *CCState) {
	if b.prevRecovery == bbrOpen && b.mode != BBRProbeRTT {
		b.priorCwnd = s.Cwnd
	} else {
		b.priorCwnd = max(b.priorCwnd, s.Cwnd)
	}
}

func (b *BBR) start(s *CCState, rs *RateSample) {
	b.init = true
	b.nextRTTDeliver = rs.TotalDelivered
	b.minRTT = rs.MinRTT
	b.minStamp = rs.Now
	b.rnd = uint64(rs.Now) | 1
	b.ackEpochStamp = rs.Now
	b.enterStartup()
	b.initPacingRate(s, rs)
}

func (b *BBR) enterStartup() {
	b.mode = BBRStartup
	b.pacingGain, b.cwndGain = bbrHighGain, bbrHighGain
}

// initPacingRate paces the initial window over the first RTT at the
// Startup gain (§4.2.1 BBRInitPacingRate).
func (b *BBR) initPacingRate(s *CCState, rs *RateSample) {
	rtt := time.Millisecond
	if rs.SRTT > 0 {
		rtt = rs.SRTT
		b.hasSeenRTT = true
	}
	b.pacingRate = bbrHighGain * bbrPacingMargin * float64(s.Cwnd) / rtt.Seconds()
}

// OnRateSample implements RateBasedCC: BBR's per-ACK update (§4.2,
// tcp_bbr.c's bbr_main).
func (b *BBR) OnRateSample(s *CCState, rs *RateSample) {
	if !b.init {
		b.start(s, rs)
	}
	b.updateBw(rs)
	b.updateAckAggregation(s, rs)
	b.updateCyclePhase(s, rs)
	b.checkFullBwReached(rs)
	b.checkDrain(s, rs)
	b.updateMinRTT(s, rs)
	b.updateGains()
	b.setPacingRate(s, rs, b.pacingGain)
	b.setCwnd(s, rs)
}

// updateBw counts round trips and feeds the BtlBw filter (§4.1.1).
func (b *BBR) updateBw(rs *RateSample) {
	b.roundStart = false
	if rs.Delivered < 0 || rs.Interval <= 0 {
		return
	}
	if rs.PriorDelivered >= b.nextRTTDeliver {
		b.nextRTTDeliver = rs.TotalDelivered
		b.roundCount++
		b.roundStart = true
		b.packetConservation = false
	}
	bw := float64(rs.Delivered) / rs.Interval.Seconds()
	// App-limited samples only count when they raise the estimate
	// (§4.1.1.2): they cannot show the path is slower than it is.
	if !rs.IsAppLimited || bw >= b.btlBw.get() {
		b.btlBw.update(bbrBwRounds, b.roundCount, bw)
	}
}

// updateAckAggregation estimates how much more than BtlBw·time the ACKs
// delivered in the current epoch (tcp_bbr.c's bbr_update_ack_aggregation).
func (b *BBR) updateAckAggregation(s *CCState, rs *RateSample) {
	if rs.AckedSacked <= 0 || rs.Delivered < 0 || rs.Interval <= 0 {
		return
	}
	if b.roundStart {
		b.extraAckedRound++
		if b.extraAckedRound >= bbrExtraAckedRTTs {
			b.extraAckedRound = 0
			b.extraAckedIdx ^= 1
			b.extraAcked[b.extraAckedIdx] = 0
		}
	}
	expected := int(b.btlBw.get() * (rs.DeliveredTime - b.ackEpochStamp).Seconds())
	if b.ackEpochAcked <= expected {
		// The ACKs fell behind the model: start a new epoch.
		b.ackEpochAcked = 0
		b.ackEpochStamp = rs.DeliveredTime
		expected = 0
	}
	b.ackEpochAcked += rs.AckedSacked
	extra := min(b.ackEpochAcked-expected, s.Cwnd)
	if extra > b.extraAcked[b.extraAckedIdx] {
		b.extraAcked[b.extraAckedIdx] = extra
	}
}

// ackAggregationCwnd is the window allowance for ACK aggregation.
func (b *BBR) ackAggregationCwnd() int {
	if !b.fullBwReached {
		return 0
	}
	limit := int(b.btlBw.get() * bbrExtraAckedMax.Seconds())
	return min(max(b.extraAcked[0], b.extraAcked[1]), limit)
}

// updateCyclePhase advances the ProbeBW gain cycle (§4.3.4.4).
func (b *BBR) updateCyclePhase(s *CCState, rs *RateSample) {
	if b.mode != BBRProbeBW {
		return
	}
	fullLength := rs.DeliveredTime-b.cycleStamp > b.minRTT
	gain := bbrPacingGains[b.cycleIdx]
	next := fullLength
	switch {
	case gain > 1:
		// Probe until the extra data is in flight (or a loss says the
		// pipe is full).
		next = fullLength && (rs.Lost > 0 || rs.PriorInflight >= b.inflight(s, b.btlBw.get(), gain))
	case gain < 1:
		// Drain until the queue is gone, at most one RTprop.
		next = fullLength || rs.PriorInflight <= b.inflight(s, b.btlBw.get(), 1)
	}
	if next {
		b.cycleIdx = (b.cycleIdx + 1) % bbrCycleLen
		b.cycleStamp = rs.DeliveredTime
	}
}

// checkFullBwReached ends Startup when BtlBw grew less than 25% in three
// rounds (§4.3.2.2).
func (b *BBR) checkFullBwReached(rs *RateSample) {
	if b.fullBwReached || !b.roundStart || rs.IsAppLimited {
		return
	}
	bw := b.btlBw.get()
	if bw >= b.fullBw*bbrFullBwThresh {
		b.fullBw = bw
		b.fullBwCount = 0
		return
	}
	b.fullBwCount++
	b.fullBwReached = b.fullBwCount >= bbrFullBwCount
}

// checkDrain moves Startup to Drain, and Drain to ProbeBW once the data
// in flight fell to one BDP (§4.3.3).
func (b *BBR) checkDrain(s *CCState, rs *RateSample) {
	if b.mode == BBRStartup && b.fullBwReached {
		b.mode = BBRDrain
		s.Ssthresh = b.inflight(s, b.btlBw.get(), 1)
	}
	if b.mode == BBRDrain && rs.Inflight <= b.inflight(s, b.btlBw.get(), 1) {
		b.enterProbeBW(rs)
	}
}

// enterProbeBW starts the gain cycle at a random phase other than the
// draining one (§4.3.4.5).
func (b *BBR) enterProbeBW(rs *RateSample) {
	b.mode = BBRProbeBW
	b.rnd ^= b.rnd << 13
	b.rnd ^= b.rnd >> 7
	b.rnd ^= b.rnd << 17
	// tcp_bbr.c: start at CYCLE_LEN-1-rand(7), then advance: phases 2..7 or 0.
	b.cycleIdx = (bbrCycleLen - 1 - int(b.rnd%(bbrCycleLen-1)) + 1) % bbrCycleLen
	b.cycleStamp = rs.DeliveredTime
}

// updateMinRTT keeps RTprop and runs ProbeRTT (§4.1.2, §4.3.5).
func (b *BBR) updateMinRTT(s *CCState, rs *RateSample) {
	expired := rs.Now-b.minStamp > bbrMinRTTWindow
	// A sample equal to the estimate confirms it (as tcp_bbr.c does): a
	// path whose RTT never rises needs no ProbeRTT.
	if rs.RTT >= 0 && (b.minRTT == 0 || rs.RTT <= b.minRTT || expired) {
		b.minRTT = max(rs.RTT, time.Microsecond)
		b.minStamp = rs.Now
	}
	// After an idle period RTprop has often expired, but the first ACK's
	// sample has just refreshed it: no ProbeRTT (tcp_bbr.c skips it on
	// idle_restart), which would hold the new transfer to four segments
	// for 200 ms and a round trip.
	if expired && !rs.IdleRestart && b.mode != BBRProbeRTT {
		b.mode = BBRProbeRTT
		b.saveCwnd(s)
		b.probeRTTDone = 0
	}
	if b.mode == BBRProbeRTT {
		// Keep the low-window samples out of the BtlBw filter.
		rs.SetAppLimited = true
		if b.probeRTTDone == 0 && rs.Inflight <= bbrMinCwndSegs*s.MSS {
			b.probeRTTDone = rs.Now + bbrProbeRTTTime
			b.probeRTTRoundDone = false
			b.nextRTTDeliver = rs.TotalDelivered
		} else if b.probeRTTDone != 0 {
			if b.roundStart {
				b.probeRTTRoundDone = true
			}
			if b.probeRTTRoundDone && rs.Now > b.probeRTTDone {
				// Done: RTprop is fresh; restore the window and resume.
				b.minStamp = rs.Now
				s.Cwnd = max(s.Cwnd, b.priorCwnd)
				if b.fullBwReached {
					b.enterProbeBW(rs)
				} else {
					b.enterStartup()
				}
			}
		}
	}
}

// updateGains sets the gains of the mode (§4.3).
func (b *BBR) updateGains() {
	switch b.mode {
	case BBRStartup:
		b.pacingGain, b.cwndGain = bbrHighGain, bbrHighGain
	case BBRDrain:
		b.pacingGain, b.cwndGain = bbrDrainGain, bbrHighGain
	case BBRProbeBW:
		b.pacingGain, b.cwndGain = bbrPacingGains[b.cycleIdx], bbrProbeBWCwndGain
	case BBRProbeRTT:
		b.pacingGain, b.cwndGain = 1, 1
	}
}

// setPacingRate paces at gain·BtlBw (§4.2.1); before Startup ends the
// rate only rises, so an early low sample cannot slow the search.
func (b *BBR) setPacingRate(s *CCState, rs *RateSample, gain float64) {
	if !b.hasSeenRTT && rs.SRTT > 0 {
		b.initPacingRate(s, rs)
	}
	rate := b.btlBw.get() * gain * bbrPacingMargin
	if rate > 0 && (b.fullBwReached || rate > b.pacingRate) {
		b.pacingRate = rate
	}
}

// bdp is gain·BtlBw·RTprop in bytes; the initial window before any RTT
// sample (§4.2.3.2).
func (b *BBR) bdp(s *CCState, bw, gain float64) int {
	if b.minRTT == 0 {
		return bbrInitCwndSegs * s.MSS
	}
	return int(math.Ceil(bw * b.minRTT.Seconds() * gain))
}

// tsoSegs is the number of segments Linux would send per paced GSO
// packet (tcp_bbr.c's bbr_tso_segs_goal: ~1 ms of data, at most 64 KB),
// for the quantization budget.
func (b *BBR) tsoSegs(s *CCState) int {
	n := min(int(b.pacingRate/1000), 64<<10) / s.MSS
	return min(max(n, 2), 127)
}

// quantizationBudget adds room for the quanta in flight at the sender,
// the receiver's delayed ACKs and, in the probing phase, the probe
// itself (§4.2.3.2, tcp_bbr.c's bbr_quantization_budget).
func (b *BBR) quantizationBudget(s *CCState, cwnd int) int {
	cwnd += 3 * b.tsoSegs(s) * s.MSS
	if b.mode == BBRProbeBW && b.cycleIdx == 0 {
		cwnd += 2 * s.MSS
	}
	return cwnd
}

// inflight is the data in flight that gain·BDP calls for.
func (b *BBR) inflight(s *CCState, bw, gain float64) int {
	return b.quantizationBudget(s, b.bdp(s, bw, gain))
}

// setCwnd sets the window (§4.2.3): packet conservation in the first
// round of recovery, the saved window restored after it, otherwise
// growth by the data delivered toward cwnd_gain·BDP.
func (b *BBR) setCwnd(s *CCState, rs *RateSample) {
	cwnd := s.Cwnd
	acked := rs.AckedSacked
	if acked > 0 {
		if c, done := b.recoverOrRestore(s, rs, acked); done {
			cwnd = c
		} else {
			cwnd = c
			target := b.bdp(s, b.btlBw.get(), b.cwndGain) + b.ackAggregationCwnd()
			target = b.quantizationBudget(s, target)
			if b.fullBwReached {
				cwnd = min(cwnd+acked, target)
			} else if cwnd < target || rs.TotalDelivered < int64(bbrInitCwndSegs*s.MSS) {
				cwnd += acked
			}
			cwnd = max(cwnd, bbrMinCwndSegs*s.MSS)
		}
	}
	if b.mode == BBRProbeRTT {
		cwnd = min(cwnd, bbrMinCwndSegs*s.MSS)
	}
	s.Cwnd = max(cwnd, s.MSS)
}

// recoverOrRestore applies the recovery rules (§4.2.3.4, tcp_bbr.c's
// bbr_set_cwnd_to_recover_or_restore): lost data leaves the window, the
// first round of recovery sends one segment per segment delivered, and
// the window from before recovery returns when it ends. It reports true
// when packet conservation decides the window.
func (b *BBR) recoverOrRestore(s *CCState, rs *RateSample, acked int) (int, bool) {
	state := bbrOpen
	if rs.InLoss {
		state = bbrLoss
	} else if rs.InRecovery {
		state = bbrRecovery
	}
	cwnd := s.Cwnd
	if rs.Lost > 0 {
		cwnd = max(cwnd-rs.Lost, s.MSS)
	}
	if state == bbrRecovery && b.prevRecovery != bbrRecovery {
		// Entering recovery: conservation for one round, which starts now.
		b.packetConservation = true
		b.nextRTTDeliver = rs.TotalDelivered
		cwnd = rs.Inflight + acked
	} else if b.prevRecovery >= bbrRecovery && state < bbrRecovery {
		cwnd = max(cwnd, b.priorCwnd)
		b.packetConservation = false
	}
	b.prevRecovery = state
	if b.packetConservation {
		return max(cwnd, rs.Inflight+acked), true
	}
	return cwnd, false
}
