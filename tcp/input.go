package tcp

import (
	"bytes"

	"github.com/mptcp-go/mptcp/header"
)

// HandleSegment processes one incoming segment for this connection
// (RFC 9293 §3.10.7 "SEGMENT ARRIVES"). The segment's memory is only read
// during the call. Segments for no connection are the owner's business
// (it answers them with RST, §3.10.7.1).
func (e *Endpoint) HandleSegment(seg *Segment) {
	e.enter()
	defer e.leave()
	e.stats.SegsIn++
	e.kaProbes = 0
	if e.cfg.Keepalive && e.state.synchronized() {
		e.keepaliveAt = e.now + e.cfg.KeepaliveIdle
	}
	// Malformed options of a known kind are ignored; a broken option
	// list keeps what parsed before the break.
	_ = header.ParseTCPOptions(seg.Options, &e.opts)
	switch e.state {
	case StateClosed:
		return
	case StateListen:
		e.inputListen(seg)
	case StateSynSent:
		e.inputSynSent(seg)
	default:
		e.inputSynchronized(seg)
	}
}

func (e *Endpoint) hookIncoming(seg *Segment) error {
	if e.hooks == nil {
		return nil
	}
	wnd := uint32(seg.Window)
	if seg.Flags&header.TCPFlagSYN == 0 {
		wnd <<= e.sndWS
	}
	e.segInfo = SegmentInfo{Seq: seg.Seq, Ack: seg.Ack, Flags: seg.Flags, Window: seg.Window, Wnd: wnd,
		Len: len(seg.Payload), State: e.state}
	return e.hooks.Incoming(&e.segInfo, seg.Options)
}

// negotiate records the SYN's options (RFC 9293 §3.7.1, RFC 7323 §2-3, RFC 2018 §2).
func (e *Endpoint) negotiate(seg *Segment, o *header.TCPOptions) {
	if o.MSS != 0 {
		e.peerMSS = int(o.MSS)
	}
	// RFC 3168 §6.1.1: a SYN with ECE and CWR asks for ECN; a SYN-ACK
	// with ECE (and not CWR) agrees.
	if e.cfg.ECN {
		if seg.Flags&header.TCPFlagACK == 0 {
			e.ecnOK = seg.Flags&(header.TCPFlagECE|header.TCPFlagCWR) == header.TCPFlagECE|header.TCPFlagCWR
		} else {
			e.ecnOK = seg.Flags&(header.TCPFlagECE|header.TCPFlagCWR) == header.TCPFlagECE
		}
	}
	e.sackOK = o.SACKPermitted && !e.cfg.DisableSACK
	e.tsOK = o.HasTimestamps && !e.cfg.DisableTimestamps
	if e.tsOK {
		e.tsRecent = o.TSVal
	}
	e.wsOK = o.WindowScale >= 0 && !e.cfg.DisableWindowScale
	if e.wsOK {
		e.sndWS = uint8(o.WindowScale)
	} else {
		e.sndWS, e.rcvWS = 0, 0
	}
	e.irs = seg.Seq
	e.rcvNxt = seg.Seq + 1
	// The right edge our SYN or SYN-ACK announces (unscaled, RFC 7323
	// §2.2); later edges are compared with it, so it must not stay zero.
	e.rcvAdvEdge = e.rcvNxt + uint32(min(e.rcvWindow(), 65535))
	if e.wsOK {
		// Our later windows are announced in units of 2^rcvWS (chosen for
		// the largest buffer): a buffer not several units large would
		// round every one down to zero, for good (no data arrives to
		// auto-tune it). Start with at least four units.
		e.rcvBuf.grow(min(4<<e.rcvWS, e.cfg.ReceiveBufferMax))
	}
	e.rcvEpochSeq = e.rcvNxt
	e.rcvEpoch = e.now
	// RFC 7323 §2.2: the window in a SYN is never scaled.
	e.sndWnd = uint32(seg.Window)
	e.maxSndWnd = e.sndWnd
	e.sndWl1 = seg.Seq
	e.ccs.MSS = e.sendMSS()
	// RFC 5681 §3.1 / RFC 6928: initial window of 10 segments.
	e.ccs.Cwnd = 10 * e.segDataMax()
	e.ccs.Ssthresh = 1 << 30
}

// inputListen: RFC 9293 §3.10.7.2.
func (e *Endpoint) inputListen(seg *Segment) {
	if seg.Flags&header.TCPFlagRST != 0 {
		return
	}
	if seg.Flags&header.TCPFlagACK != 0 {
		e.sendRST(seg.Ack, 0, false)
		return
	}
	if seg.Flags&header.TCPFlagSYN == 0 {
		return
	}
	o := e.opts
	e.negotiate(seg, &o)
	e.setState(StateSynReceived)
	if err := e.hookIncoming(seg); err != nil {
		e.sendRST(0, seg.Seq+seg.seqLen(), true)
		e.fail(err)
		return
	}
	if c := e.cfg.FastOpenCookie; c != nil && o.FastOpen {
		// RFC 7413 §4.2.2: with the right cookie the SYN's data is
		// accepted; a request or a wrong cookie gets the right one.
		if bytes.Equal(o.FastOpenCookie[:o.FastOpenCookieLen], c) {
			if len(seg.Payload) > 0 {
				e.stats.FastOpenAccepted++
				e.receiveData(&Segment{Seq: seg.Seq + 1, Payload: seg.Payload})
			}
		} else {
			e.fastOpenReply = true
		}
	}
	// Other data on a SYN is not queued; the peer will resend it.
	e.sendSYN()
}

// inputSynSent: RFC 9293 §3.10.7.3.
func (e *Endpoint) inputSynSent(seg *Segment) {
	f := seg.Flags
	if f&header.TCPFlagACK != 0 {
		if seqLEQ(seg.Ack, e.iss) || seqGT(seg.Ack, e.sndNxt) {
			if f&header.TCPFlagRST == 0 {
				e.sendRST(seg.Ack, 0, false)
			}
			return
		}
	}
	if f&header.TCPFlagRST != 0 {
		if f&header.TCPFlagACK != 0 {
			_ = e.hookIncoming(seg) // the reset's options (MP_TCPRST)
			e.fail(ErrConnectionRefused)
		}
		return
	}
	if f&header.TCPFlagSYN == 0 {
		return
	}
	o := e.opts
	e.negotiate(seg, &o)
	if f&header.TCPFlagACK != 0 {
		if err := e.hookIncoming(seg); err != nil {
			e.sendRST(seg.Ack, 0, false)
			e.fail(err)
			return
		}
		e.sndUna = seg.Ack
		e.rtxAt = 0
		e.retries, e.backoff = 0, 0
		if !e.synRetrans { // Karn: no sample from a retransmitted SYN
			e.rttSample(e.now - e.synXmit)
		}
		e.sndWl2 = seg.Ack
		e.setState(StateEstablished)
		e.sendAck()
		if len(seg.Payload) > 0 || f&header.TCPFlagFIN != 0 {
			e.receiveData(seg)
		}
		e.trySend()
		if e.shutWr {
			e.setState(StateFinWait1)
			e.trySend()
		}
		return
	}
	// Simultaneous open (RFC 9293 §3.10.7.3, figure 8).
	if err := e.hookIncoming(seg); err != nil {
		e.sendRST(0, seg.Seq+1, true)
		e.fail(err)
		return
	}
	e.setState(StateSynReceived)
	e.rtxAt = 0
	e.sendSYN()
}

// ecnInput handles the ECN bits of an acceptable segment (RFC 3168 §6.1.2,
// §6.1.3): a CE mark makes the receiver echo ECE until CWR; ECE makes the
// sender reduce its window once per window of data and send CWR.
func (e *Endpoint) ecnInput(seg *Segment) {
	if seg.CE {
		e.ecnEcho = true
		e.ackNow = true
	}
	if seg.Flags&header.TCPFlagCWR != 0 && !seg.CE {
		e.ecnEcho = false
	}
	if seg.Flags&header.TCPFlagECE != 0 && e.recovery == recoveryOpen &&
		(!e.ecnRecoverSet || seqGEQ(seg.Ack, e.ecnRecoverSeq)) && e.sndNxt != e.sndUna {
		e.stats.ECNReductions++
		if e.rcc == nil {
			// BBR v1 does not respond to ECN (Linux leaves the window
			// to its cong_control).
			e.cc.OnCongestion(&e.ccs, e.inflight(), e.now)
			e.ccs.Cwnd = max(e.ccs.Ssthresh, e.ccs.MSS)
		}
		e.ecnRecoverSeq, e.ecnRecoverSet = e.sndNxt, true
		e.ecnCWRPending = true
	}
}

// acceptable is the RFC 9293 §3.10.7.4 sequence number test.
func (e *Endpoint) acceptable(seg *Segment) bool {
	wnd := uint32(e.rcvBuf.free())
	l := seg.seqLen()
	if l == 0 {
		if wnd == 0 {
			return seg.Seq == e.rcvNxt
		}
		return inWindow(seg.Seq, e.rcvNxt, wnd)
	}
	if wnd == 0 {
		return false
	}
	return inWindow(seg.Seq, e.rcvNxt, wnd) || inWindow(seg.Seq+l-1, e.rcvNxt, wnd)
}

// inputSynchronized handles SYN-RECEIVED and the synchronized states
// (RFC 9293 §3.10.7.4).
func (e *Endpoint) inputSynchronized(seg *Segment) {
	f := seg.Flags
	// Simultaneous open (RFC 9293 §3.5 figure 8, line 6): the peer's
	// SYN-ACK repeats the SYN we have and acknowledges ours; it completes
	// the open. Taken whole it would fail the sequence test as an old
	// duplicate, so its SYN is trimmed and it is processed as the ACK it
	// carries (Linux's tcp_validate_incoming does the same).
	if e.state == StateSynReceived && !e.passive && f&(header.TCPFlagSYN|header.TCPFlagACK|header.TCPFlagRST) ==
		header.TCPFlagSYN|header.TCPFlagACK && seg.Seq == e.irs && seg.Ack == e.sndNxt {
		trimmed := *seg
		trimmed.Seq++
		trimmed.Flags &^= header.TCPFlagSYN
		seg, f = &trimmed, trimmed.Flags
	}
	// A retransmitted SYN in SYN-RECEIVED: resend our SYN-ACK.
	if e.state == StateSynReceived && f&header.TCPFlagSYN != 0 && f&header.TCPFlagACK == 0 && seg.Seq == e.irs {
		e.emit(e.iss, header.TCPFlagSYN|header.TCPFlagACK, 0, true)
		return
	}
	// RFC 7323 §5.3 PAWS: drop a segment whose timestamp is older than
	// TS.Recent (and ACK it), unless it is a RST.
	if e.tsOK && e.opts.HasTimestamps && f&header.TCPFlagRST == 0 && seqLT(e.opts.TSVal, e.tsRecent) {
		e.stats.PAWSDrops++
		e.sendAck()
		return
	}
	// First: sequence number check.
	if !e.acceptable(seg) {
		if f&header.TCPFlagRST == 0 {
			e.stats.DupSegs++
			if l := uint32(len(seg.Payload)); l > 0 && e.sackOK && seqLEQ(seg.Seq+l, e.rcvNxt) {
				// RFC 2883: report the duplicate as the first SACK block.
				e.dsackStart, e.dsackEnd, e.dsackPending = seg.Seq, seg.Seq+l, true
			}
			if e.state == StateTimeWait && f&header.TCPFlagFIN != 0 {
				e.closeAt = e.now + e.cfg.TimeWait
			}
			e.sendAck()
		}
		return
	}
	// Second: RST (RFC 5961 §3.2: exact match resets, otherwise challenge).
	if f&header.TCPFlagRST != 0 {
		if seg.Seq != e.rcvNxt {
			e.stats.ChallengeACKs++
			e.sendAck()
			return
		}
		// The hooks see an accepted reset's options (MP_TCPRST,
		// MP_FASTCLOSE: RFC 8684 §3.5, §3.6) before it takes effect.
		_ = e.hookIncoming(seg)
		switch e.state {
		case StateSynReceived:
			if e.passive {
				e.fail(ErrConnectionReset) // back to LISTEN: the owner drops it
			} else {
				e.fail(ErrConnectionRefused)
			}
		case StateClosing, StateLastAck, StateTimeWait:
			e.setState(StateClosed)
		default:
			e.fail(ErrConnectionReset)
		}
		return
	}
	// Fourth: SYN in a synchronized state: challenge ACK (RFC 5961 §4).
	if f&header.TCPFlagSYN != 0 {
		if e.state == StateSynReceived && e.passive {
			e.fail(ErrConnectionReset)
			return
		}
		e.stats.ChallengeACKs++
		e.sendAck()
		return
	}
	// Fifth: ACK.
	if f&header.TCPFlagACK == 0 {
		return
	}
	// RFC 7323 §4.3: update TS.Recent from a segment covering RCV.NXT.
	if e.tsOK && e.opts.HasTimestamps && seqLEQ(seg.Seq, e.rcvNxt) {
		e.tsRecent = e.opts.TSVal
	}
	if e.state == StateSynReceived {
		if seqLEQ(seg.Ack, e.sndUna) || seqGT(seg.Ack, e.sndNxt) {
			e.sendRST(seg.Ack, 0, false)
			return
		}
		if err := e.hookIncoming(seg); err != nil {
			e.sendRST(seg.Ack, 0, false)
			e.fail(err)
			return
		}
		e.sndUna = seg.Ack
		e.sndWnd = uint32(seg.Window) << e.sndWS
		e.maxSndWnd = max(e.maxSndWnd, e.sndWnd)
		e.sndWl1, e.sndWl2 = seg.Seq, seg.Ack
		e.rtxAt = 0
		if !e.synRetrans {
			e.rttSample(e.now - e.synXmit)
		}
		e.retries, e.backoff = 0, 0
		e.setState(StateEstablished)
		if e.shutWr {
			e.setState(StateFinWait1)
		}
	} else if err := e.hookIncoming(seg); err != nil {
		_ = err // errors on established segments are the hook's business
	}
	if e.ecnOK {
		e.ecnInput(seg)
	}
	if !e.processAck(seg) {
		return
	}
	if e.state == StateClosed {
		return
	}
	// Seventh: segment text; eighth: FIN.
	if len(seg.Payload) > 0 || f&header.TCPFlagFIN != 0 {
		switch e.state {
		case StateEstablished, StateFinWait1, StateFinWait2, StateSynReceived:
			if e.appClosed && len(seg.Payload) > 0 && seqGEQ(seg.Seq+uint32(len(seg.Payload)), e.rcvNxt+1) {
				// Data for a fully closed connection: reset (RFC 9293
				// §3.10.4 allows it; Linux does so).
				e.sendRST(e.sndNxt, 0, false)
				e.fail(ErrConnectionAborted)
				return
			}
			e.receiveData(seg)
		default:
			// CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already
			// sent its FIN; a retransmitted FIN is ACKed.
			if f&header.TCPFlagFIN != 0 {
				if e.state == StateTimeWait {
					e.closeAt = e.now + e.cfg.TimeWait
				}
				e.sendAck()
			}
		}
	}
	e.trySend()
	if e.ackNow {
		e.sendAck()
	}
}
