package tcp

import "time"

// Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation)
// and pacing. Every transmission stamps its record with the connection's
// delivery state (§3.2); every ACK that delivers records picks the most
// recently sent of them and turns its stamp into a rate sample (§3.3),
// handed to a rate-based controller (RateBasedCC). The stamps cost a few
// stores per segment; samples are only built for a rate-based controller.

// rateState is the connection's delivery state (the draft's C.*) and the
// rate sample being assembled for the ACK in progress.
type rateState struct {
	delivered     int64         // C.delivered: bytes delivered so far
	deliveredTime time.Duration // C.delivered_time: when C.delivered last grew
	firstTxTime   time.Duration // C.first_sent_time: send time of the packet that started the current sample's send phase
	appLimited    int64         // C.app_limited: C.delivered value that ends the app-limited phase; 0 when not app-limited
	rwndGrown     int64         // C.delivered when the peer's window last exceeded its largest value
	idleRestart   bool          // sending restarted from idle while app-limited; no data delivered since

	// The ACK in progress (reset by rateStartAck).
	newly          int  // bytes newly delivered
	lost           int  // bytes newly marked lost
	have           bool // a record with rate state was delivered
	priorDelivered int64
	priorTime      time.Duration
	sendInterval   time.Duration
	appLimitedPkt  bool
	newestXmit     time.Duration
	newestEnd      uint32
	rtt            time.Duration // -1 if none
	priorInflight  int

	sample RateSample
}

// rateOnSend stamps record r, about to be (re)transmitted, with the
// delivery state (draft §3.2 "Transmitting a data packet").
func (e *Endpoint) rateOnSend(r *txRec) {
	if e.recs.len() == 0 {
		// Nothing in flight: a new send phase starts now, and an
		// interval must not stretch over the idle time.
		e.rate.firstTxTime = e.now
		e.rate.deliveredTime = e.now
		if e.rate.appLimited != 0 {
			e.rate.idleRestart = true // tcp_bbr.c's CA_EVENT_TX_START
		}
	}
	r.delivered = e.rate.delivered
	r.deliveredTime = e.rate.deliveredTime
	r.firstTx = e.rate.firstTxTime
	if e.rate.appLimited != 0 {
		r.flags |= recAppLimited
	} else {
		r.flags &^= recAppLimited
	}
}

// rateStartAck resets the per-ACK sample state.
func (e *Endpoint) rateStartAck() {
	rs := &e.rate
	rs.newly, rs.lost, rs.have, rs.rtt = 0, 0, false, -1
	rs.priorInflight = e.inflight()
}

// rateOnDelivered accounts n bytes of record r delivered by the ACK in
// progress (cumulatively or by SACK, each byte once) and keeps the rate
// state of the most recently sent record delivered (draft §3.3 "Upon
// receiving ACK", UpdateRateSample). With rtt, a record never
// retransmitted gives the sample's RTT (the cumulative ACK decides that
// itself, ackRecords).
func (e *Endpoint) rateOnDelivered(r *txRec, n int, rtt bool) {
	rs := &e.rate
	rs.delivered += int64(n)
	rs.newly += n
	if rtt && r.flags&recEverRetrans == 0 {
		if d := e.now - r.xmit; rs.rtt < 0 || d < rs.rtt {
			rs.rtt = d
		}
	}
	if rs.have && (r.xmit < rs.newestXmit || (r.xmit == rs.newestXmit && seqLEQ(r.end, rs.newestEnd))) {
		return
	}
	rs.have = true
	rs.newestXmit, rs.newestEnd = r.xmit, r.end
	rs.priorDelivered = r.delivered
	rs.priorTime = r.deliveredTime
	rs.appLimitedPkt = r.flags&recAppLimited != 0
	rs.sendInterval = r.xmit - r.firstTx
	// The next sample's send phase starts with this packet's transmission.
	rs.firstTxTime = r.xmit
}

// rateEndAck completes the ACK's rate sample (draft §3.3,
// GenerateRateSample) and hands it to a rate-based controller.
func (e *Endpoint) rateEndAck() {
	rs := &e.rate
	if rs.appLimited != 0 && rs.delivered > rs.appLimited {
		rs.appLimited = 0 // the app-limited bubble is ACKed
	}
	if rs.newly > 0 {
		rs.deliveredTime = e.now
	}
	if e.rcc == nil || (rs.newly == 0 && rs.lost == 0) {
		return
	}
	s := &rs.sample
	*s = RateSample{
		Delivered: -1, RTT: rs.rtt, AckedSacked: rs.newly, Lost: rs.lost,
		PriorInflight: rs.priorInflight, Inflight: e.inflight(),
		TotalDelivered: rs.delivered, DeliveredTime: rs.deliveredTime,
		SRTT: e.srtt, MinRTT: e.minRTT, IdleRestart: rs.idleRestart,
		InRecovery: e.recovery == recoveryFast, InLoss: e.recovery == recoveryRTO,
		Now: e.now,
	}
	if rs.have {
		s.Delivered = rs.delivered - rs.priorDelivered
		s.PriorDelivered = rs.priorDelivered
		s.IsAppLimited = rs.appLimitedPkt
		// §3.3: the interval is the longer of the send and ACK phases, so
		// neither ACK compression nor a send burst inflates the rate.
		s.Interval = max(rs.sendInterval, e.now-rs.priorTime)
		if s.Interval < e.minRTT || s.Interval <= 0 {
			s.Interval = 0 // only ACK compression shrinks it below the RTT
		}
	}
	e.rcc.OnRateSample(&e.ccs, s)
	if s.Delivered > 0 {
		rs.idleRestart = false
	}
	if s.SetAppLimited {
		rs.appLimited = max(rs.delivered+int64(e.inflight()), 1)
	}
}

// rateCheckAppLimited marks the connection application-limited when the
// sender ran out of data while the window had room and no loss waits for
// repair (draft §3.4, CheckIfApplicationLimited): samples from this
// point until the data then in flight is delivered underestimate the path.
// The engine also calls it (rateCheckRwndLimited) when the peer's receive
// window stops the sender below cwnd (the draft and Linux do not).
func (e *Endpoint) rateCheckAppLimited() {
	if e.inflight() < e.ccs.Cwnd && e.lostB <= e.retransB {
		e.rate.appLimited = max(e.rate.delivered+int64(e.inflight()), 1)
	}
}

// rateCheckRwndLimited is called when the peer's receive window stops the
// sender below cwnd. While the window still grows (the receiver
// auto-tunes its buffer), such samples measure the auto-tuning, not the
// path, and would end BBR's Startup early: they count as app-limited.
// Once the window has not grown for two windows of data delivered, it is
// as much a limit as the path (no window scaling, or the receiver's
// largest buffer): samples are valid, as in Linux. Were they all
// app-limited, Startup would never end and BBR would keep the whole
// window in flight at a 2.89 pacing gain, overflowing a short queue each
// round.
func (e *Endpoint) rateCheckRwndLimited() {
	if e.rate.delivered-e.rate.rwndGrown <= 2*int64(e.maxSndWnd) {
		e.rateCheckAppLimited()
	}
}

// pacing is the sender's pacing state: transmissions are released in
// bursts of one quantum, and the next burst waits until the previous
// bursts' bytes would have left at the pacing rate (Linux's
// tcp_wstamp_ns model, with the quantum of tcp_tso_autosize: the owner's
// timers fire about a millisecond late, so smaller steps cannot be kept).
type pacing struct {
	next  time.Duration // earliest start of the next burst
	at    time.Duration // pacing timer; 0 when off
	burst int           // bytes left in the burst in progress (within one trySend)
	rate  float64       // bytes/s for the trySend in progress; 0 = no pacing
}

// pacingQuantum is the burst size at rate (bytes/s): the whole segments
// of about 1 ms of data, at least two (Linux's tcp_tso_autosize with
// sk_pacing_shift 10). Unlike Linux it is not capped at one 64 KB GSO
// packet: Linux paces each of those with a high-resolution timer, while
// our owner's timers fire about a millisecond late, so at multi-gigabit
// rates a 64 KB step would cap the rate well below the pacing rate.
func pacingQuantum(rate float64, seg int) int {
	n := int(rate/1000) / seg
	return max(n, 2) * seg
}

// paceBlocked reports whether pacing holds the next transmission back; if
// it does, it arms the pacing timer. Otherwise it may start a burst.
func (e *Endpoint) paceBlocked(seg int) bool {
	p := &e.pace
	if p.rate <= 0 || p.burst > 0 {
		return false
	}
	if e.now < p.next {
		p.at = p.next
		return true
	}
	q := pacingQuantum(p.rate, seg)
	p.burst = q
	p.at = 0
	// A late start (timer slack, or a sender idle or limited by the
	// window) earns at most half a quantum of credit, so lateness does
	// not cost rate and idleness does not buy a double burst.
	credit := time.Duration(float64(q) / p.rate / 2 * float64(time.Second))
	p.next = max(p.next, e.now-credit)
	return false
}

// paceSent advances the pacing schedule by n transmitted bytes.
func (e *Endpoint) paceSent(n int) {
	rate := e.pacingRate()
	if rate <= 0 {
		return
	}
	p := &e.pace
	p.next = max(p.next, e.now-time.Second) + time.Duration(float64(n)/rate*float64(time.Second))
	p.burst -= n
}

// pacingRate is the controller's pacing rate in bytes/s, 0 for none.
func (e *Endpoint) pacingRate() float64 {
	if e.rcc == nil {
		return 0
	}
	return e.rcc.PacingRate()
}
