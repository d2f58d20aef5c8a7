package tcp

import (
	"github.com/mptcp-go/mptcp/header"
)

// rcvWindow is the receive window we can offer: free buffer space, or
// the layer's window if it takes the data (DataReceiver).
// rcvSpace is the most the receive buffer may hold: its size, or, with a
// DataReceiver, ReceiveBufferMax: the buffer then holds out-of-order
// data only and grows when that needs room, while the window announced is
// the layer's (MPTCP's connection-level window, RFC 8684 §3.3.4), not
// bounded by what one subflow happened to need so far.
func (e *Endpoint) rcvSpace() int {
	if e.sink != nil {
		return max(e.cfg.ReceiveBufferMax, e.rcvBuf.cap())
	}
	return e.rcvBuf.cap()
}

func (e *Endpoint) rcvWindow() int {
	w := e.rcvSpace() - e.rcvBuf.n
	if e.sink != nil {
		lw, _ := e.sink.ReceiveWindow()
		w = min(w, max(lw, 0))
	}
	if !e.wsOK {
		w = min(w, 65535)
	}
	return w
}

// windowField computes the window field for an outgoing segment and
// records the right edge it announces. RFC 9293 §3.8.6.2.2: the receiver
// avoids silly window syndrome by not opening the window in small steps,
// and never moves the right edge left (§3.8.6: shrinking is discouraged).
func (e *Endpoint) windowField(syn bool) uint16 {
	w := e.rcvWindow()
	if syn {
		return uint16(min(w, 65535))
	}
	mss := e.advMSS()
	prev := 0
	if seqGT(e.rcvAdvEdge, e.rcvNxt) {
		prev = int(e.rcvAdvEdge - e.rcvNxt)
	}
	if w < prev {
		w = prev // never shrink
	} else if space := e.rcvSpace(); w-prev < min(space/4, mss) && w < space/2 && prev > 0 {
		w = prev // SWS avoidance: do not announce a tiny opening
	}
	f := w >> e.rcvWS
	if f > 65535 {
		f = 65535
	}
	edge := e.rcvNxt + uint32(f<<e.rcvWS)
	if seqGT(edge, e.rcvAdvEdge) {
		e.rcvAdvEdge = edge
	}
	if a, ok := e.sink.(WindowAnnouncer); ok {
		a.AnnouncedWindow(f << e.rcvWS)
	}
	return uint16(f)
}

// tsVal is the timestamp clock: milliseconds plus a per-connection offset
// (RFC 7323 §5.4).
func (e *Endpoint) tsVal() uint32 { return uint32(e.now.Milliseconds()) + e.tsOffset }

// emit builds and outputs one segment. dataLen bytes of payload start at
// sequence seq (they come from the send buffer).
func (e *Endpoint) emit(seq uint32, flags header.TCPFlags, dataLen int, retrans bool) {
	opts := e.optBuf[:0]
	syn := flags&header.TCPFlagSYN != 0
	if syn {
		opts = header.AppendMSS(opts, uint16(e.advMSS()))
		offerSACK := !e.cfg.DisableSACK && (!e.passive || e.sackOK)
		offerTS := !e.cfg.DisableTimestamps && (!e.passive || e.tsOK)
		offerWS := !e.cfg.DisableWindowScale && (!e.passive || e.wsOK)
		if offerSACK && offerTS {
			opts = header.AppendSACKPermitted(opts)
			opts = header.AppendTimestamps(opts, e.tsVal(), e.tsEchoFor(flags))
		} else if offerTS {
			opts = header.AppendNOP(opts, 2)
			opts = header.AppendTimestamps(opts, e.tsVal(), e.tsEchoFor(flags))
		} else if offerSACK {
			opts = header.AppendNOP(opts, 2)
			opts = header.AppendSACKPermitted(opts)
		}
		if offerWS {
			opts = header.AppendNOP(opts, 1)
			opts = header.AppendWindowScale(opts, e.rcvWS)
		}
	} else if e.tsOK {
		opts = header.AppendNOP(opts, 2)
		opts = header.AppendTimestamps(opts, e.tsVal(), e.tsRecent)
	}
	// PMTU safety: header and payload must fit the path MTU.
	space := min(header.TCPMaxOptionsLen, e.mtu-e.cfg.IPHeaderLen-header.TCPMinHeaderLen-dataLen)
	if e.hooks != nil {
		e.segInfo = SegmentInfo{Seq: seq, Ack: e.rcvNxt, Flags: flags, Len: dataLen,
			Retransmit: retrans, Budget: max(space-len(opts), 0), State: e.state}
		base := len(opts)
		out := e.hooks.OutgoingOptions(&e.segInfo, opts[base:base:header.TCPMaxOptionsLen])
		if len(out) > e.segInfo.Budget {
			e.stats.OptionOverflows++
		} else if len(out) > 0 {
			opts = opts[:base+len(out)]
			// out may alias optBuf (the normal case); copy handles both.
			copy(opts[base:], out)
		}
	}
	if syn && e.fastOpenReply && flags&header.TCPFlagACK != 0 {
		// The cookie goes where it fits after the hooks' options (MPTCP's
		// MP_CAPABLE first: RFC 7413 §4.2.2 lets the server leave it out).
		if c := e.cfg.FastOpenCookie; len(opts)+2+len(c) <= space {
			opts = header.AppendFastOpen(opts, c)
		}
	}
	if flags&header.TCPFlagACK != 0 && e.sackOK && (e.nooo > 0 || e.dsackPending) && !syn {
		opts = e.appendSACKBlocks(opts, space)
	}
	for len(opts)%4 != 0 {
		opts = append(opts, header.TCPOptNOP)
	}
	if syn && e.cfg.ECN {
		if flags&header.TCPFlagACK == 0 {
			flags |= header.TCPFlagECE | header.TCPFlagCWR // ECN-setup SYN
		} else if e.ecnOK {
			flags |= header.TCPFlagECE // ECN-setup SYN-ACK
		}
	} else if e.ecnOK && !syn && flags&header.TCPFlagRST == 0 {
		if e.ecnEcho && flags&header.TCPFlagACK != 0 {
			flags |= header.TCPFlagECE
		}
		if e.ecnCWRPending && dataLen > 0 && !retrans {
			flags |= header.TCPFlagCWR
			e.ecnCWRPending = false
		}
	}
	hl := header.TCPMinHeaderLen + len(opts)
	h := header.TCP(e.hdr[:hl])
	var ack uint32
	if flags&header.TCPFlagACK != 0 {
		ack = e.rcvNxt
	}
	h.Encode(&header.TCPFields{SrcPort: e.cfg.LocalPort, DstPort: e.cfg.RemotePort, Seq: seq, Ack: ack,
		DataOffset: hl, Flags: flags, Window: e.windowField(syn)})
	copy(h[header.TCPMinHeaderLen:], opts)
	var p1, p2 []byte
	if dataLen > 0 {
		off := int(seq - e.sndUna)
		if e.state == StateSynSent || e.state == StateSynReceived {
			off = 0
		}
		p1, p2 = e.sndBuf.peek(off, dataLen)
	}
	e.stats.SegsOut++
	e.stats.BytesSent += uint64(dataLen)
	if flags&header.TCPFlagACK != 0 {
		e.delackAt = 0
		e.unackedSegs = 0
		e.unackedBytes = 0
		e.ackNow = false
		e.ackDeferred = false
	}
	e.outECT = e.ecnOK && dataLen > 0 && !retrans && !syn
	e.out.OutputSegment(h, p1, p2)
	e.outECT = false
}

// tsEchoFor returns TSecr for a SYN or SYN-ACK: zero on a SYN (RFC 7323 §3.2).
func (e *Endpoint) tsEchoFor(flags header.TCPFlags) uint32 {
	if flags&header.TCPFlagACK == 0 {
		return 0
	}
	return e.tsRecent
}

// appendSACKBlocks adds SACK blocks for the out-of-order ranges, most
// recent first (RFC 2018 §4), as many as fit in space.
func (e *Endpoint) appendSACKBlocks(opts []byte, space int) []byte {
	room := space - len(opts) - 4 // two NOPs, kind and length
	d := 0
	if e.dsackPending {
		d = 1
	}
	nb := min(room/8, e.nooo+d, header.MaxSACKBlocks)
	if nb <= 0 {
		return opts
	}
	opts = header.AppendNOP(opts, 2)
	opts = append(opts, header.TCPOptSACK, byte(2+8*nb))
	if d == 1 {
		opts = appendBlock(opts, e.dsackStart, e.dsackEnd)
		e.dsackPending = false
		nb--
	}
	var used uint32 // bit set of ranges already written
	for k := 0; k < nb; k++ {
		best := -1
		for i := 0; i < e.nooo; i++ {
			if used&(1<<i) == 0 && (best < 0 || e.ooo[i].stamp > e.ooo[best].stamp) {
				best = i
			}
		}
		used |= 1 << best
		r := e.ooo[best]
		opts = appendBlock(opts, r.start, r.end)
	}
	return opts
}

func appendBlock(b []byte, start, end uint32) []byte {
	return append(b, byte(start>>24), byte(start>>16), byte(start>>8), byte(start),
		byte(end>>24), byte(end>>16), byte(end>>8), byte(end))
}

// sendSYN sends (or resends) our SYN or SYN-ACK and arms the timer.
func (e *Endpoint) sendSYN() {
	flags := header.TCPFlagSYN
	if e.state == StateSynReceived {
		flags |= header.TCPFlagACK
	}
	if e.sndNxt == e.iss {
		e.synXmit = e.now
	} else {
		e.synRetrans = true
	}
	e.emit(e.iss, flags, 0, e.sndNxt != e.iss)
	e.sndNxt = e.iss + 1
	if e.rtxAt == 0 {
		e.armRTO()
	}
}

func (e *Endpoint) sendAck() {
	e.emit(e.sndNxt, header.TCPFlagACK, 0, false)
}

// sendRST sends a reset. With ack set it acknowledges ackNum (RFC 9293
// §3.10.7.1: the reply to a segment without ACK). The hooks may add
// options (MPTCP's MP_TCPRST and MP_FASTCLOSE, RFC 8684 §3.5, §3.6).
func (e *Endpoint) sendRST(seq, ackNum uint32, ack bool) {
	flags := header.TCPFlagRST
	if ack {
		flags |= header.TCPFlagACK
	}
	opts := e.optBuf[:0]
	if e.hooks != nil {
		e.segInfo = SegmentInfo{Seq: seq, Ack: ackNum, Flags: flags, Budget: header.TCPMaxOptionsLen, State: e.state}
		out := e.hooks.OutgoingOptions(&e.segInfo, opts[:0:header.TCPMaxOptionsLen])
		if len(out) > header.TCPMaxOptionsLen {
			e.stats.OptionOverflows++
		} else {
			opts = opts[:len(out)]
			copy(opts, out)
		}
		for len(opts)%4 != 0 {
			opts = append(opts, header.TCPOptNOP)
		}
	}
	hl := header.TCPMinHeaderLen + len(opts)
	h := header.TCP(e.hdr[:hl])
	h.Encode(&header.TCPFields{SrcPort: e.cfg.LocalPort, DstPort: e.cfg.RemotePort, Seq: seq, Ack: ackNum,
		DataOffset: hl, Flags: flags})
	copy(h[header.TCPMinHeaderLen:], opts)
	e.stats.SegsOut++
	e.out.OutputSegment(h, nil, nil)
}

// segLimit bounds a segment of n bytes starting at seq by the hooks'
// SegmentLimiter, if any (at least one byte).
func (e *Endpoint) segLimit(seq uint32, n int) int {
	if e.limit == nil || n <= 1 {
		return n
	}
	return min(max(e.limit.SegmentLimit(seq, n), 1), n)
}

// inflight is the RFC 6675 "pipe": bytes sent and not yet acknowledged,
// SACKed or deemed lost, plus retransmissions in flight.
func (e *Endpoint) inflight() int {
	return int(e.sndNxt-e.sndUna) - e.sackedB - e.lostB + e.retransB
}

// trySend sends what the windows allow: retransmissions of lost segments
// first, then new data, then a FIN.
func (e *Endpoint) trySend() {
	switch e.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
	default:
		return
	}
	segMax := e.segDataMax()
	sent := false
	e.pace.rate = e.pacingRate()
	for {
		inflight := e.inflight()
		if e.lostB > 0 {
			if r, i := e.nextLost(); r != nil {
				if inflight >= e.ccs.Cwnd {
					e.cwndLimited = true
					break
				}
				if e.paceBlocked(segMax) {
					break
				}
				e.retransmit(r, i, segMax)
				sent = true
				continue
			}
		}
		off := int(e.sndNxt - e.sndUna)
		if e.finSent {
			break
		}
		avail := e.sndBuf.n - off
		if avail <= 0 {
			if e.shutWr && !e.finSent {
				e.sendData(0, true)
				sent = true
			} else {
				e.rateCheckAppLimited()
			}
			break
		}
		want := e.segLimit(e.sndNxt, min(avail, segMax))
		wnd := int(int32(e.sndUna + e.sndWnd - e.sndNxt))
		if wnd <= 0 {
			// Zero window (RFC 9293 §3.8.6.1): probe when nothing is in flight.
			if e.sndNxt == e.sndUna && e.persistAt == 0 {
				e.armPersist()
			}
			e.rateCheckRwndLimited()
			break
		}
		if wnd < want {
			// Sender SWS avoidance (RFC 9293 §3.8.6.2.1): send a partial
			// segment only if it is at least half the largest window seen.
			if wnd < int(e.maxSndWnd/2) && e.sndNxt != e.sndUna {
				e.rateCheckRwndLimited()
				break
			}
			want = wnd
		}
		cwndRoom := e.ccs.Cwnd - inflight
		if cwndRoom < want {
			// Whole segments only: PRR's allowance accumulates over ACKs
			// (RFC 6937 §3), so waiting for a full segment loses nothing.
			e.cwndLimited = true
			break
		}
		if e.cfg.Nagle && want < segMax && e.sndNxt != e.sndUna && (e.limit == nil || want == avail) {
			break // Nagle (RFC 9293 §3.7.4): one small segment in flight at a time
		}
		if e.paceBlocked(segMax) {
			break
		}
		fin := e.shutWr && want == avail
		e.sendData(want, fin)
		sent = true
	}
	e.pace.burst = 0 // a burst ends with the call
	if sent {
		e.persistAt = 0
		e.persistBackoff = 0
	}
}

// sendData sends n new bytes at SND.NXT (and a FIN if fin).
func (e *Endpoint) sendData(n int, fin bool) {
	flags := header.TCPFlagACK
	if n > 0 && (fin || int(e.sndNxt-e.sndUna)+n == e.sndBuf.n) {
		flags |= header.TCPFlagPSH
	}
	r := txRec{start: e.sndNxt, end: e.sndNxt + uint32(n), xmit: e.now}
	if fin {
		flags |= header.TCPFlagFIN
		r.end++
		r.flags |= recFIN
		e.finSent = true
	}
	e.rateOnSend(&r)
	e.emit(e.sndNxt, flags, n, false)
	e.paceSent(n)
	e.recs.push(r)
	e.sndNxt = r.end
	if e.recovery == recoveryFast {
		e.prrOut += r.len()
	}
	e.armTimerAfterSend()
}

// nextLost returns the first record marked lost and not yet retransmitted.
func (e *Endpoint) nextLost() (*txRec, int) {
	for i := e.lostHint; i < e.recs.len(); i++ {
		r := e.recs.at(i)
		if r.flags&(recLost|recRetrans|recSacked) == recLost {
			e.lostHint = i
			return r, i
		}
	}
	e.lostHint = e.recs.len()
	return nil, 0
}

// retransmit resends record r (index i), splitting it if it exceeds the
// current segment size.
func (e *Endpoint) retransmit(r *txRec, i int, segMax int) {
	dataLen := r.len()
	if r.flags&recFIN != 0 {
		dataLen--
	}
	if lim := e.segLimit(r.start, min(dataLen, segMax)); dataLen > lim {
		// Split: the tail becomes its own record, still lost.
		segMax = lim
		tail := *r
		tail.start = r.start + uint32(segMax)
		tail.flags &^= recRetrans
		r.end = tail.start
		r.flags &^= recFIN
		e.recs.insertAfter(i, tail)
		r = e.recs.at(i)
		dataLen = segMax
	}
	flags := header.TCPFlagACK
	if r.flags&recFIN != 0 {
		flags |= header.TCPFlagFIN
	}
	e.rateOnSend(r)
	e.emit(r.start, flags, dataLen, true)
	e.paceSent(dataLen)
	r.flags |= recRetrans | recEverRetrans
	r.xmit = e.now
	e.retransB += r.len()
	e.stats.RetransSegs++
	e.undoRetrans++
	if e.recovery == recoveryFast {
		e.stats.FastRetrans++
		e.prrOut += r.len()
	}
	if e.rtxAt == 0 || e.rtxKind != rtxRTO {
		e.armRTO()
	}
}
