package tcp

import (
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// processAck handles the ACK field of an acceptable segment (RFC 9293
// §3.10.7.4 fifth step) with SACK (RFC 6675), RACK (RFC 8985), PRR
// (RFC 6937) and the FIN-related state changes. It reports false if the
// segment must be dropped.
func (e *Endpoint) processAck(seg *Segment) bool {
	ack := seg.Ack
	if seqGT(ack, e.sndNxt) {
		// Acknowledges something not yet sent: ACK and drop.
		e.sendAck()
		return false
	}
	// RFC 5961 §5.2: an ACK far below SND.UNA is unacceptable.
	if seqLT(ack, e.sndUna-e.maxSndWnd) && e.maxSndWnd > 0 {
		e.stats.ChallengeACKs++
		e.sendAck()
		return false
	}
	// Receiver-side RTT from the timestamp echo (for auto-tuning).
	if e.tsOK && e.opts.HasTimestamps && e.opts.TSEcr != 0 && len(seg.Payload) > 0 {
		if d := int32(e.tsVal() - e.opts.TSEcr); d >= 0 && d < 60000 {
			s := max(time.Duration(d)*time.Millisecond, time.Millisecond)
			if e.rcvRTT == 0 || s < e.rcvRTT {
				e.rcvRTT = s
			} else {
				e.rcvRTT = (7*e.rcvRTT + s) / 8
			}
		}
	}
	// Window update (RFC 9293 §3.10.7.4: SND.WL1/WL2 guard old segments).
	oldWnd := e.sndWnd
	if seqLT(e.sndWl1, seg.Seq) || (e.sndWl1 == seg.Seq && seqLEQ(e.sndWl2, ack)) {
		e.sndWnd = uint32(seg.Window) << e.sndWS
		e.sndWl1, e.sndWl2 = seg.Seq, ack
		if e.sndWnd > e.maxSndWnd {
			e.rate.rwndGrown = e.rate.delivered // see rateCheckRwndLimited
		}
		e.maxSndWnd = max(e.maxSndWnd, e.sndWnd)
		if e.sndWnd > 0 {
			e.persistAt = 0
			e.persistBackoff = 0
		}
	}
	acked := int(ack - e.sndUna)
	if seqLT(ack, e.sndUna) {
		acked = 0
	}
	e.rateStartAck()
	sacked := 0
	dsack := false
	if e.sackOK && e.opts.NumSACK > 0 {
		dsack = e.checkDSACK(ack)
		sacked = e.processSACK(ack)
	}
	if e.tlpRetrans && seqGEQ(ack, e.tlpHighSeq) {
		// RFC 8985 §7.4: the probe episode ends. Without a D-SACK the
		// retransmitted probe repaired a real loss: respond as to a loss.
		e.tlpRetrans = false
		if !dsack && e.recovery == recoveryOpen {
			e.stats.TLPRecoveries++
			if e.rcc == nil {
				e.cc.OnCongestion(&e.ccs, e.inflight(), e.now)
				e.ccs.Cwnd = max(e.ccs.Ssthresh, e.ccs.MSS)
			}
		}
	}
	if acked == 0 {
		// Duplicate ACK accounting for peers without SACK (RFC 5681 §3.2, RFC 6582).
		if !e.sackOK && len(seg.Payload) == 0 && e.sndNxt != e.sndUna && e.sndWnd == oldWnd &&
			seg.Flags&(header.TCPFlagSYN|header.TCPFlagFIN) == 0 {
			e.dupAcks++
			if e.dupAcks == 3 && e.recovery == recoveryOpen && e.recs.len() > 0 {
				e.markLost(e.recs.at(0))
			}
		}
	} else {
		e.dupAcks = 0
		e.ackRecords(ack)
	}
	if acked > 0 || sacked > 0 {
		e.rackDetectLoss()
	}
	e.updateRecovery(acked, sacked)
	e.rateEndAck()
	if acked > 0 {
		e.stats.BytesAcked += uint64(acked)
		e.retries = 0
		e.backoff = 0
		e.tlpOut = false
		if e.sndUna == e.sndNxt {
			e.rtxAt = 0
		} else if e.rtxKind != rtxReorder || e.rtxAt == 0 {
			// RFC 6298 §5.3: restart the timer on new data ACKed.
			e.rtxAt = 0
			e.armTimerAfterSend()
		}
		if e.rcc != nil {
			// A rate-based controller may grow its window even in
			// recovery, when SACKed data also occupies the buffer: three
			// windows, as Linux provisions for BBR (bbr_sndbuf_expand).
			e.growSendBuffer(3 * e.ccs.Cwnd)
		} else {
			e.growSendBuffer(2 * e.ccs.Cwnd)
		}
		// Wake a blocked writer only once a quarter of the buffer is free
		// (like Linux's sk_stream_write_space): fewer, larger writes.
		if e.sndBuf.free() >= e.sndBuf.cap()/4 {
			e.notify |= NotifyWritable
		}
		// FIN acknowledged? (RFC 9293 §3.10.7.4, the states' ACK rules.)
		if e.finSent && e.sndUna == e.sndNxt {
			switch e.state {
			case StateFinWait1:
				e.setState(StateFinWait2)
				if e.appClosed {
					e.closeAt = e.now + e.cfg.FinWait2Timeout
				}
			case StateClosing:
				e.setState(StateTimeWait)
			case StateLastAck:
				e.setState(StateClosed)
				return false
			}
		}
	}
	if e.state == StateTimeWait && seg.Flags&header.TCPFlagFIN != 0 {
		e.closeAt = e.now + e.cfg.TimeWait
		e.sendAck()
		return false
	}
	return true
}

// ackRecords removes the records the cumulative ACK covers, takes an RTT
// sample and advances SND.UNA.
func (e *Endpoint) ackRecords(ack uint32) {
	var sample time.Duration = -1
	rateRTT := time.Duration(-1)
	// retrans: the ACK covers retransmitted data it delivers. It was most
	// likely sent when the retransmission filled a hole, so data above the
	// hole, received long before, gives no RTT sample either (Linux's
	// FLAG_RETRANS_DATA_ACKED): after an RTO its age includes the timeout,
	// and SRTT, RTTVAR and so the next RTO would grow with each timeout.
	retrans := false
	for e.recs.len() > 0 {
		r := e.recs.at(0)
		if seqLEQ(r.end, ack) {
			if r.flags&recSacked == 0 {
				// Only newly delivered data updates RACK (RFC 8985 §6.2
				// step 2; Linux's tcp_clean_rtx_queue): a record SACKed
				// earlier, now cumulatively ACKed, would set RACK.rtt to
				// the time since its old transmission.
				e.rackUpdate(r)
			}
			// RTT sample from data delivered by this ACK for the first time
			// and never retransmitted (Karn); SACKed records were sampled
			// when SACKed.
			if r.flags&(recEverRetrans|recSacked) == 0 {
				sample = e.now - r.xmit
				rateRTT = sample
			}
			if r.flags&(recEverRetrans|recSacked) == recEverRetrans {
				retrans = true
			}
			if r.flags&recSacked == 0 {
				e.rateOnDelivered(r, r.len(), false)
			}
			e.unaccount(r, r.len())
			e.recs.popFront()
			if e.lostHint > 0 {
				e.lostHint--
			}
			continue
		}
		if seqLT(r.start, ack) {
			// Partial ACK of a record: trim it.
			d := int(ack - r.start)
			if r.flags&recSacked == 0 {
				e.rateOnDelivered(r, d, false)
				if r.flags&recEverRetrans != 0 {
					retrans = true
				} else {
					rateRTT = e.now - r.xmit
				}
			}
			e.unaccount(r, d)
			r.start = ack
		}
		break
	}
	dataAcked := int(ack - e.sndUna)
	if e.finSent && ack == e.sndNxt {
		dataAcked-- // the FIN's sequence number is not in the buffer
	}
	if e.sndUna == e.iss {
		dataAcked-- // nor is the SYN's (only before establishment)
	}
	if dataAcked > 0 {
		e.sndBuf.discard(min(dataAcked, e.sndBuf.n))
	}
	e.sndUna = ack
	if seqLT(e.highSacked, ack) {
		e.highSacked = ack
	}
	if retrans {
		return
	}
	if rateRTT >= 0 && (e.rate.rtt < 0 || rateRTT < e.rate.rtt) {
		e.rate.rtt = rateRTT
	}
	if sample >= 0 {
		e.rttSample(sample)
	}
}

// unaccount removes n bytes of record r from the scoreboard counters.
func (e *Endpoint) unaccount(r *txRec, n int) {
	if r.flags&recSacked != 0 {
		e.sackedB -= n
		return
	}
	if r.flags&recLost != 0 {
		e.lostB -= n
	}
	if r.flags&recRetrans != 0 {
		e.retransB -= n
	}
}

// processSACK marks records covered by the segment's SACK blocks (RFC 2018
// §4, RFC 6675 §4) and returns the bytes newly SACKed. Blocks below the
// cumulative ACK (D-SACK, RFC 2883) and beyond SND.NXT are ignored.
func (e *Endpoint) processSACK(ack uint32) int {
	newly := 0
	priorHigh := e.highSacked
	var sample time.Duration = -1
	defer func() {
		if sample >= 0 {
			e.rttSample(sample)
		}
	}()
	for b := 0; b < e.opts.NumSACK; b++ {
		blk := e.opts.SACK[b]
		if seqLEQ(blk.End, ack) || seqGT(blk.End, e.sndNxt) || seqGEQ(blk.Start, blk.End) {
			continue
		}
		// Records are in sequence order; find the first one ending after
		// the block's start by binary search.
		lo, hi := 0, e.recs.len()
		for lo < hi {
			m := (lo + hi) / 2
			if seqLEQ(e.recs.at(m).end, blk.Start) {
				lo = m + 1
			} else {
				hi = m
			}
		}
		for i := lo; i < e.recs.len(); i++ {
			r := e.recs.at(i)
			if seqGT(r.end, blk.End) {
				break
			}
			if seqLT(r.start, blk.Start) || r.flags&recSacked != 0 {
				continue
			}
			// RFC 8985 §6.2: a never-retransmitted segment SACKed below the
			// highest sequence SACKed before this ACK reveals reordering.
			// (Not below one SACKed by a higher block of the same ACK: the
			// most recent block comes first, and a segment sent and
			// received before it, whose own ACK was delayed or lost, would
			// look reordered; Linux sorts the blocks for the same reason.)
			if seqLT(r.end, priorHigh) && r.flags&recEverRetrans == 0 {
				e.rack.reordSeen = true
			}
			e.rackUpdate(r)
			if r.flags&recEverRetrans == 0 && (sample < 0 || e.now-r.xmit < sample) {
				sample = e.now - r.xmit
			}
			n := r.len()
			e.rateOnDelivered(r, n, true)
			e.unaccount(r, n)
			r.flags |= recSacked
			r.flags &^= recLost | recRetrans
			e.sackedB += n
			newly += n
		}
		if seqGT(blk.End, e.highSacked) {
			e.highSacked = blk.End
		}
	}
	return newly
}

// checkDSACK recognises a D-SACK (RFC 2883 §4: a first block below the
// cumulative ACK, or inside the second block). Each one shows a
// retransmission was spurious: RACK widens its reordering window (RFC 8985
// §6.2 step 4) and, when every retransmission of a recovery episode proved
// spurious, the window reduction is undone (RFC 3708 §3, RFC 4015 §3).
func (e *Endpoint) checkDSACK(ack uint32) bool {
	b0 := e.opts.SACK[0]
	dsack := seqLEQ(b0.End, ack)
	if !dsack && e.opts.NumSACK > 1 {
		b1 := e.opts.SACK[1]
		dsack = seqGEQ(b0.Start, b1.Start) && seqLEQ(b0.End, b1.End)
	}
	if !dsack {
		return false
	}
	e.stats.DSACKs++
	if !e.rack.dsackRoundSet || seqGEQ(e.sndUna, e.rack.dsackRoundEnd) {
		// At most one increase per round trip.
		e.rack.reoMult++
		e.rack.dsackRoundEnd = e.sndNxt
		e.rack.dsackRoundSet = true
		e.rack.reoResetLeft = 16
	}
	e.rack.reordSeen = true
	if e.undoValid && e.undoRetrans > 0 {
		e.undoRetrans--
		if e.undoRetrans == 0 {
			e.stats.SpuriousUndos++
			if e.rcc == nil {
				e.ccs.Cwnd = max(e.ccs.Cwnd, e.undoCwnd)
				e.ccs.Ssthresh = max(e.ccs.Ssthresh, e.undoSsthresh)
			}
			e.undoValid = false
			if e.recovery == recoveryFast {
				e.recovery = recoveryOpen
			}
			// The "losses" were reordering: forget the marks (Linux's
			// tcp_undo_cwnd_reduction with unmark_loss).
			for i := 0; i < e.recs.len(); i++ {
				r := e.recs.at(i)
				if r.flags&recLost != 0 {
					r.flags &^= recLost
					e.lostB -= r.len()
				}
			}
		}
	}
	return true
}

// rackUpdate records the most recently sent delivered segment (RFC 8985 §6.2 step 2).
func (e *Endpoint) rackUpdate(r *txRec) {
	rtt := e.now - r.xmit
	if r.flags&recEverRetrans != 0 && rtt < e.minRTT {
		// The ACK may be for the original transmission: ambiguous, skip.
		return
	}
	if !e.rack.valid || r.xmit > e.rack.xmit || (r.xmit == e.rack.xmit && seqGT(r.end, e.rack.endSeq)) {
		e.rack.xmit = r.xmit
		e.rack.endSeq = r.end
		e.rack.valid = true
	}
	e.rack.rtt = rtt
}

// reoWnd is RACK's reordering window (RFC 8985 §6.2 step 4).
func (e *Endpoint) reoWnd() time.Duration {
	if !e.rack.reordSeen {
		if e.recovery != recoveryOpen {
			return 0
		}
		// DupThresh rule: three segments' worth SACKed means loss.
		if e.sackedB >= 3*e.ccs.MSS {
			return 0
		}
	}
	w := time.Duration(max(e.rack.reoMult, 1)) * e.minRTT / 4
	if e.hasRTT && w > e.srtt {
		w = e.srtt
	}
	return max(w, time.Millisecond)
}

// rackDetectLoss marks lost every segment sent sufficiently before the
// most recently delivered one (RFC 8985 §6.2 step 5) and arms the reorder
// timer for those not yet old enough.
func (e *Endpoint) rackDetectLoss() {
	if !e.rack.valid {
		return
	}
	reo := e.reoWnd()
	var wait time.Duration
	for i := 0; i < e.recs.len(); i++ {
		r := e.recs.at(i)
		if r.flags&recEverRetrans == 0 && (r.xmit > e.rack.xmit || (r.xmit == e.rack.xmit && seqGEQ(r.start, e.rack.endSeq))) {
			// Original transmissions go out in sequence order, so those
			// from here on were all sent after the RACK segment (and so
			// were retransmissions of later data). The test is on send
			// times, not sequence numbers: when the RACK segment is a
			// retransmission, original data above it (even above
			// SND.UNA, once it is ACKed) may have been sent earlier.
			break
		}
		if r.flags&recSacked != 0 || (r.flags&recLost != 0 && r.flags&recRetrans == 0) {
			continue
		}
		if !(r.xmit < e.rack.xmit || (r.xmit == e.rack.xmit && seqLT(r.end, e.rack.endSeq))) {
			continue
		}
		left := r.xmit + e.rack.rtt + reo - e.now
		if left <= 0 {
			e.markLost(r)
			if i < e.lostHint {
				e.lostHint = i
			}
		} else if left > wait {
			wait = left
		}
	}
	// The reorder timer takes the place of a later RTO (as Linux's
	// ICSK_TIME_REO_TIMEOUT does; its expiry re-arms the RTO): otherwise
	// a lost retransmission in recovery waits for the RTO although RACK
	// knows when to declare it lost.
	if wait > 0 && (e.rtxAt == 0 || e.rtxKind != rtxRTO || e.now+wait < e.rtxAt) {
		e.rtxKind = rtxReorder
		e.rtxAt = e.now + wait
	}
}

// markLost flags record r lost; a lost retransmission no longer counts as
// in flight.
func (e *Endpoint) markLost(r *txRec) {
	if r.flags&recSacked != 0 {
		return
	}
	if r.flags&recRetrans != 0 {
		e.retransB -= r.len()
		r.flags &^= recRetrans
	}
	if r.flags&recLost == 0 {
		r.flags |= recLost
		e.lostB += r.len()
		e.rate.lost += r.len()
	}
	e.lostHint = 0
}

// updateRecovery runs the recovery state machine for one ACK.
func (e *Endpoint) updateRecovery(acked, sacked int) {
	switch e.recovery {
	case recoveryFast:
		if seqGEQ(e.sndUna, e.recoveryPoint) {
			// RFC 6937: at the end of recovery cwnd = ssthresh (a
			// rate-based controller restores its own window).
			if e.rcc == nil {
				e.ccs.Cwnd = max(e.ccs.Ssthresh, e.ccs.MSS)
			}
			e.recovery = recoveryOpen
			break
		}
		if !e.sackOK && acked > 0 && e.recs.len() > 0 {
			// RFC 6582 §3.2 step 5: a partial ACK means the next segment
			// is lost too.
			e.markLost(e.recs.at(0))
		}
		if e.rcc == nil {
			e.prr(acked + sacked)
		}
		return
	case recoveryRTO:
		if seqGEQ(e.sndUna, e.recoveryPoint) {
			e.recovery = recoveryOpen
		}
	}
	if e.recovery == recoveryOpen && e.lostB > 0 {
		e.enterRecovery()
		if e.rcc == nil {
			e.prr(acked + sacked)
		}
		return
	}
	if e.rcc != nil {
		return // the window is set from the rate sample (rateEndAck)
	}
	if acked > 0 && e.cwndLimited {
		var rtt time.Duration
		if e.hasRTT {
			rtt = e.srtt
		}
		e.cc.OnAck(&e.ccs, acked, rtt, e.now)
		e.cwndLimited = false
	}
}

// enterRecovery starts fast recovery (RFC 6675 §5, RFC 6937 §3).
func (e *Endpoint) enterRecovery() {
	e.stats.Recoveries++
	if e.rack.reoResetLeft > 0 {
		// RFC 8985 §6.2: the window widening lapses after 16 recoveries.
		e.rack.reoResetLeft--
		if e.rack.reoResetLeft == 0 {
			e.rack.reoMult = 1
		}
	}
	e.undoCwnd, e.undoSsthresh, e.undoRetrans, e.undoValid = e.ccs.Cwnd, e.ccs.Ssthresh, 0, true
	e.recovery = recoveryFast
	e.recoveryPoint = e.sndNxt
	e.recoverFS = max(e.inflight()+e.lostB-e.retransB, e.ccs.MSS)
	e.cc.OnCongestion(&e.ccs, e.recoverFS, e.now)
	e.prrDelivered, e.prrOut = 0, 0
}

// prr sets cwnd so that the send loop transmits what Proportional Rate
// Reduction allows for this ACK (RFC 6937 §3.1, with SSRB).
func (e *Endpoint) prr(delivered int) {
	e.prrDelivered += delivered
	pipe := e.inflight()
	var sndcnt int
	if pipe > e.ccs.Ssthresh {
		sndcnt = (e.prrDelivered*e.ccs.Ssthresh+e.recoverFS-1)/e.recoverFS - e.prrOut
	} else {
		limit := max(e.prrDelivered-e.prrOut, delivered) + e.ccs.MSS
		sndcnt = min(e.ccs.Ssthresh-pipe, limit)
	}
	sndcnt = max(sndcnt, 0)
	if sndcnt == 0 && e.prrOut == 0 && e.lostB > e.retransB {
		sndcnt = e.ccs.MSS // send the first retransmission at once
	}
	e.ccs.Cwnd = pipe + sndcnt
}

// rttSample updates SRTT, RTTVAR and RTO (RFC 6298 §2).
func (e *Endpoint) rttSample(r time.Duration) {
	r = max(r, time.Microsecond)
	if e.minRTT == 0 || r < e.minRTT {
		e.minRTT = r
	}
	if !e.hasRTT {
		e.srtt = r
		e.rttvar = r / 2
		e.hasRTT = true
	} else {
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	// RFC 6298 §2.3 with the variance term floored at MinRTO, as Linux
	// does (tcp_set_rto): a bare lower bound on the RTO would let it fall
	// to the RTT itself on long paths and fire spuriously.
	e.rto = e.srtt + max(4*e.rttvar, e.cfg.MinRTO)
	e.rto = min(e.rto, e.cfg.MaxRTO)
}
