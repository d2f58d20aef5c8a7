package tcp

import (
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// receiveData places the segment's payload in the receive buffer, in order
// or out of order, and handles its FIN (RFC 9293 §3.10.7.4, seventh and
// eighth steps). It decides whether to ACK now or delay.
func (e *Endpoint) receiveData(seg *Segment) {
	seq := seg.Seq
	data := seg.Payload
	fin := seg.Flags&header.TCPFlagFIN != 0
	// Trim what we already have.
	if seqLT(seq, e.rcvNxt) {
		d := e.rcvNxt - seq
		if int(d) >= len(data) {
			if fin && int(d) == len(data) {
				data = nil
				seq = e.rcvNxt
			} else {
				e.stats.DupSegs++
				e.ackNow = true // duplicate: ACK at once (RFC 9293 §3.10.7.4)
				if len(data) > 0 {
					// RFC 2883: report the duplicate as the first SACK block.
					e.dsackStart, e.dsackEnd, e.dsackPending = seq, seq+uint32(len(data)), true
				}
				return
			}
		} else {
			data = data[d:]
			seq = e.rcvNxt
		}
	}
	// Trim what does not fit the buffer.
	off := int(seq - e.rcvNxt)
	room := e.rcvSpace() - e.rcvBuf.n - off
	if room < len(data) {
		if room <= 0 {
			e.ackNow = true
			return
		}
		data = data[:room]
		fin = false
	}
	if fin && !e.finRcvd {
		e.finRcvd = true
		e.finRcvSeq = seq + uint32(len(data))
	}
	if len(data) > 0 {
		if off == 0 && e.sink != nil && e.nooo == 0 {
			// In order with nothing queued: straight to the layer.
			e.rcvNxt += uint32(len(data))
			e.stats.BytesReceived += uint64(len(data))
			e.sink.ReceiveData(seq, data, nil)
		} else if off == 0 {
			e.rcvBuf.writeAt(e.rcvBuf.n, data)
			e.rcvBuf.n += len(data)
			e.rcvNxt += uint32(len(data))
			e.stats.BytesReceived += uint64(len(data))
			if e.nooo > 0 {
				e.mergeOOO()
				e.ackNow = true // a hole was (partly) filled: ACK at once (RFC 5681 §4.2)
			}
			if e.sink != nil {
				n := e.rcvBuf.n
				p1, p2 := e.rcvBuf.peek(0, n)
				e.sink.ReceiveData(e.rcvNxt-uint32(n), p1, p2)
				e.rcvBuf.discard(n)
			} else {
				e.notify |= NotifyReadable
			}
		} else {
			if !e.addOOO(seq, seq+uint32(len(data))) {
				e.ackNow = true
				return // too fragmented; the sender will retransmit
			}
			if need := e.rcvBuf.n + off + len(data); need > e.rcvBuf.cap() {
				// Only with a DataReceiver (rcvSpace beyond the size).
				size := max(e.rcvBuf.cap(), 4096)
				for size < need {
					size *= 2
				}
				e.rcvBuf.grow(min(size, e.rcvSpace()))
			}
			e.rcvBuf.writeAt(e.rcvBuf.n+off, data)
			e.stats.OutOfOrderSegs++
			e.ackNow = true // out of order: immediate duplicate ACK with SACK
		}
	}
	if e.finRcvd && e.rcvNxt == e.finRcvSeq && !e.rcvEOF {
		e.rcvNxt++
		e.rcvEOF = true
		e.ackNow = true
		e.notify |= NotifyReadable
		switch e.state {
		case StateSynReceived, StateEstablished:
			e.setState(StateCloseWait)
		case StateFinWait1:
			// Our FIN is not yet ACKed (else we would be in FIN-WAIT-2).
			e.setState(StateClosing)
		case StateFinWait2:
			e.ackNow = false
			e.sendAck()
			e.setState(StateTimeWait)
			return
		}
	}
	e.autotuneReceive()
	if len(data) > 0 && !e.ackNow {
		e.unackedSegs++
		e.unackedBytes += len(data)
		// RFC 5681 §4.2 / RFC 9293 §3.8.6.3: ACK at least every second
		// full-sized segment. Counted in bytes too, as Linux does
		// (__tcp_ack_snd_check: more than one MSS unacknowledged), so one
		// GRO super-segment is ACKed at once. Quick ACKs early on help slow
		// start.
		if e.unackedSegs >= 2 || e.unackedBytes > e.advMSS() || e.quickAcks > 0 || e.cfg.DelayedAckTimeout < 0 {
			if e.quickAcks > 0 {
				e.quickAcks--
			}
			// A deferred ACK waits for the end of the owner's batch, but
			// not for more than an eighth of the buffer: the sender's
			// window must keep moving within a large batch.
			if e.deferAcks && e.unackedBytes < e.rcvBuf.cap()/8 {
				e.ackDeferred = true
				e.delackAt = 0
			} else {
				e.ackNow = true
			}
		} else if e.delackAt == 0 {
			e.delackAt = e.now + e.cfg.DelayedAckTimeout
		}
	}
}

// addOOO records [start, end) as received out of order, merging overlaps.
func (e *Endpoint) addOOO(start, end uint32) bool {
	e.oooStamp++
	for i := 0; i < e.nooo; i++ {
		r := &e.ooo[i]
		if seqLEQ(start, r.end) && seqGEQ(end, r.start) {
			r.start = seqMin(r.start, start)
			r.end = seqMax(r.end, end)
			r.stamp = e.oooStamp
			// The grown range may now touch its neighbours.
			e.coalesceOOO()
			return true
		}
	}
	if e.nooo == maxOOO {
		return false
	}
	// Insert in order.
	i := e.nooo
	for i > 0 && seqGT(e.ooo[i-1].start, start) {
		e.ooo[i] = e.ooo[i-1]
		i--
	}
	e.ooo[i] = oooRange{start: start, end: end, stamp: e.oooStamp}
	e.nooo++
	return true
}

func (e *Endpoint) coalesceOOO() {
	for i := 0; i+1 < e.nooo; {
		a, b := &e.ooo[i], &e.ooo[i+1]
		if seqGEQ(a.end, b.start) {
			a.end = seqMax(a.end, b.end)
			a.stamp = max(a.stamp, b.stamp)
			copy(e.ooo[i+1:e.nooo], e.ooo[i+2:e.nooo])
			e.nooo--
			continue
		}
		i++
	}
}

// mergeOOO advances RCV.NXT over out-of-order ranges it now reaches.
func (e *Endpoint) mergeOOO() {
	for e.nooo > 0 && seqLEQ(e.ooo[0].start, e.rcvNxt) {
		end := e.ooo[0].end
		if seqGT(end, e.rcvNxt) {
			d := int(end - e.rcvNxt)
			e.rcvBuf.n += d
			e.rcvNxt = end
			e.stats.BytesReceived += uint64(d)
		}
		copy(e.ooo[:e.nooo], e.ooo[1:e.nooo])
		e.nooo--
	}
}

// autotuneReceive grows the receive buffer when the sender fills more than
// half of it per round trip, in the spirit of Linux's
// tcp_rcv_space_adjust (dynamic right-sizing): the window must exceed the
// bandwidth-delay product for the sender not to be window-limited.
func (e *Endpoint) autotuneReceive() {
	if e.rcvBuf.cap() >= e.cfg.ReceiveBufferMax || (!e.wsOK && e.rcvBuf.cap() >= 65535) {
		return
	}
	rtt := e.rcvRTT
	if e.hasRTT && (rtt == 0 || e.srtt < rtt) {
		rtt = e.srtt
	}
	if rtt == 0 {
		rtt = 100 * time.Millisecond
	}
	rtt = max(rtt, time.Millisecond)
	if e.now-e.rcvEpoch < rtt {
		return
	}
	got := int(e.rcvNxt - e.rcvEpochSeq)
	e.rcvEpoch, e.rcvEpochSeq = e.now, e.rcvNxt
	if 2*got > e.rcvBuf.cap() {
		size := e.rcvBuf.cap()
		for size < 2*got {
			size *= 2
		}
		e.rcvBuf.grow(min(size*2, e.cfg.ReceiveBufferMax))
	}
}

// maybeWindowUpdate sends a window update after the application read,
// once the window still announced has fallen to half the largest window
// or less and the read at least doubled it (by a segment or more, RFC 9293
// §3.8.6.2.2 SWS avoidance). This is Linux's rule (tcp_cleanup_rbuf): a
// sender stalled on our window resumes, while a reader that keeps up sends
// no update per read, which at high rates would double the ACKs.
func (e *Endpoint) maybeWindowUpdate() {
	if !e.state.synchronized() || e.state == StateTimeWait || e.rcvEOF {
		return
	}
	announced := 0
	if seqGT(e.rcvAdvEdge, e.rcvNxt) {
		announced = int(e.rcvAdvEdge - e.rcvNxt)
	}
	limit := e.rcvSpace()
	if e.sink != nil {
		_, lmax := e.sink.ReceiveWindow()
		limit = min(limit, max(lmax, 1))
	}
	if !e.wsOK {
		limit = min(limit, 65535)
	}
	if 2*announced > limit {
		return
	}
	w := e.rcvWindow()
	if w >= 2*announced && w-announced >= min(e.advMSS(), limit/2) {
		e.sendAck()
	}
}
