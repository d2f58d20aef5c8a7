package tcp

import (
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// currentRTO is the RTO with exponential backoff (RFC 6298 §5.5).
func (e *Endpoint) currentRTO() time.Duration {
	r := e.rto
	for i := 0; i < e.backoff && r < e.cfg.MaxRTO; i++ {
		r *= 2
	}
	return min(r, e.cfg.MaxRTO)
}

func (e *Endpoint) armRTO() {
	e.rtxKind = rtxRTO
	e.rtxAt = e.now + e.currentRTO()
}

// armTimerAfterSend arms the retransmission timer if it is not running:
// a tail loss probe (RFC 8985 §7.2) when the connection is open and has an
// RTT sample, the RTO otherwise.
func (e *Endpoint) armTimerAfterSend() {
	if e.rtxAt != 0 {
		return
	}
	if e.recovery == recoveryOpen && e.hasRTT && !e.tlpOut && e.sackOK {
		pto := 2 * e.srtt
		if e.inflight() <= e.ccs.MSS {
			pto += 200 * time.Millisecond // RFC 8985 §7.2: WCDelAckT
		}
		pto = min(max(pto, 10*time.Millisecond), e.currentRTO())
		e.rtxKind = rtxPTO
		e.rtxAt = e.now + pto
		return
	}
	e.armRTO()
}

func (e *Endpoint) armPersist() {
	d := e.rto
	for i := 0; i < e.persistBackoff && d < e.cfg.MaxRTO; i++ {
		d *= 2
	}
	e.persistAt = e.now + min(d, e.cfg.MaxRTO)
}

// NextDeadline returns the earliest armed timer, or false if none is.
func (e *Endpoint) NextDeadline() (time.Duration, bool) {
	var d time.Duration
	for _, t := range [...]time.Duration{e.rtxAt, e.delackAt, e.persistAt, e.keepaliveAt, e.closeAt, e.pace.at} {
		if t != 0 && (d == 0 || t < d) {
			d = t
		}
	}
	return d, d != 0
}

// HandleTimers runs every timer that has expired by the clock's now.
func (e *Endpoint) HandleTimers() {
	e.enter()
	defer e.leave()
	now := e.now
	if e.closeAt != 0 && now >= e.closeAt {
		e.closeAt = 0
		switch e.state {
		case StateTimeWait:
			e.setState(StateClosed)
			return
		case StateFinWait2:
			e.setState(StateClosed) // the peer never sent its FIN
			return
		}
	}
	if e.delackAt != 0 && now >= e.delackAt {
		e.delackAt = 0
		if e.state.synchronized() {
			e.sendAck()
		}
	}
	if e.rtxAt != 0 && now >= e.rtxAt {
		e.rtxAt = 0
		switch e.rtxKind {
		case rtxRTO:
			e.onRTO()
		case rtxPTO:
			e.onPTO()
		case rtxReorder:
			e.rackDetectLoss()
			if e.lostB > 0 && e.recovery == recoveryOpen {
				e.enterRecovery()
				if e.rcc == nil {
					e.prr(0)
				}
			}
			e.trySend()
			if e.rtxAt == 0 && e.sndNxt != e.sndUna {
				e.armRTO()
			}
		}
	}
	if e.pace.at != 0 && now >= e.pace.at {
		// The pacing timer: the next burst may go.
		e.pace.at = 0
		e.trySend()
	}
	if e.persistAt != 0 && now >= e.persistAt {
		e.persistAt = 0
		if e.state.synchronized() && e.sndWnd == 0 && e.sndBuf.n > int(e.sndNxt-e.sndUna) {
			// Zero-window probe (RFC 9293 §3.8.6.1): a segment below
			// SND.UNA elicits an ACK with the current window, as Linux's
			// tcp_xmit_probe_skb does.
			e.stats.ZeroWindowProbes++
			e.emit(e.sndUna-1, header.TCPFlagACK, 0, false)
			e.persistBackoff++
			e.armPersist()
		}
	}
	if e.keepaliveAt != 0 && now >= e.keepaliveAt {
		e.keepaliveAt = 0
		if e.cfg.Keepalive && e.state.synchronized() && e.state != StateTimeWait {
			if e.kaProbes >= e.cfg.KeepaliveCount {
				e.sendRST(e.sndNxt, 0, false)
				e.fail(ErrTimeout)
				return
			}
			// RFC 9293 §3.8.4: a keepalive is SEG.SEQ = SND.NXT-1 with no data.
			e.kaProbes++
			e.emit(e.sndNxt-1, header.TCPFlagACK, 0, false)
			e.keepaliveAt = now + e.cfg.KeepaliveInterval
		}
	}
}

// onRTO handles the retransmission timer's expiry (RFC 6298 §5.4-5.7).
func (e *Endpoint) onRTO() {
	e.stats.Timeouts++
	e.retries++
	switch e.state {
	case StateSynSent, StateSynReceived:
		if e.retries > e.cfg.SynRetries {
			if e.state == StateSynReceived {
				e.sendRST(e.sndNxt, 0, false)
			}
			e.fail(ErrTimeout)
			return
		}
		e.backoff++
		e.synRetrans = true
		e.stats.RetransSegs++
		e.armRTO()
		e.sendSYN()
		return
	}
	if e.sndUna == e.sndNxt {
		return
	}
	if e.retries > e.cfg.DataRetries {
		e.sendRST(e.sndNxt, 0, false)
		e.fail(ErrTimeout)
		return
	}
	if e.hooks != nil {
		e.hooks.Event(EventRTO)
	}
	inflight := e.inflight()
	e.undoValid = false // no undo across a timeout
	// Everything outstanding and not SACKed is deemed lost.
	for i := 0; i < e.recs.len(); i++ {
		e.markLost(e.recs.at(i))
	}
	if e.recovery != recoveryRTO || e.backoff == 0 {
		e.cc.OnRTO(&e.ccs, inflight, e.now)
	} else {
		e.ccs.Cwnd = e.ccs.MSS
	}
	e.recovery = recoveryRTO
	e.recoveryPoint = e.sndNxt
	e.backoff++
	e.armRTO()
	e.trySend()
}

// onPTO sends a tail loss probe (RFC 8985 §7.3): new data if the window
// allows, else the last segment again.
func (e *Endpoint) onPTO() {
	e.stats.TLPProbes++
	e.tlpOut = true
	off := int(e.sndNxt - e.sndUna)
	avail := e.sndBuf.n - off
	wnd := int(int32(e.sndUna + e.sndWnd - e.sndNxt))
	if avail > 0 && wnd > 0 && !e.finSent {
		n := e.segLimit(e.sndNxt, min(avail, e.segDataMax(), wnd))
		e.sendData(n, e.shutWr && n == avail)
	} else if r := e.recs.last(); r != nil && r.flags&recSacked == 0 {
		e.tlpHighSeq = e.sndNxt
		e.tlpRetrans = true
		flags := header.TCPFlagACK
		dataLen := r.len()
		if r.flags&recFIN != 0 {
			flags |= header.TCPFlagFIN
			dataLen--
		}
		if lim := e.segLimit(r.start, min(dataLen, e.segDataMax())); dataLen > lim {
			dataLen = lim
			flags &^= header.TCPFlagFIN // probe only the head of an oversized record
		}
		e.emit(r.start, flags, dataLen, true)
		r.flags |= recEverRetrans
		e.stats.RetransSegs++
	}
	e.rtxAt = 0
	e.armRTO()
}
