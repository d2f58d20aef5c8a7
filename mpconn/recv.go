package mpconn

import (
	"github.com/mptcp-go/mptcp/option"
	"github.com/mptcp-go/mptcp/tcp"
)

// recvState is the receiving side of the data sequence space: data from
// every subflow put back in DSN order (RFC 8684 §3.3; Linux's
// mptcp_data_queue_ofo), the connection-level window, the DATA_FIN.
type recvState struct {
	nxt uint64 // next DSN expected (the DATA_ACK we send)
	buf ring   // unread in-order bytes, then out-of-order data at its offset
	ooo []dsnRange
	// wndEdge is the right edge of the window announced, never moved
	// left (§3.3.4: the window is relative to the DATA_ACK; Linux's
	// rcv_wnd_sent).
	wndEdge uint64

	finRcvd    bool
	finSeq     uint64
	eof        bool // DATA_FIN consumed: reads return EOF after the data
	ackPending bool // a DATA_ACK must go out although no subflow ACKs data
	bytes      uint64
}

type dsnRange struct{ start, end uint64 }

// maxOOO bounds the out-of-order ranges; data that would need more is
// dropped (it is not DATA_ACKed, so the sender sends it again).
const maxOOO = 512

// ackSeq is the DATA_ACK: every byte (and the DATA_FIN) below it is in.
func (r *recvState) ackSeq() uint64 { return r.nxt }

// window returns the window to announce, moving the right edge only
// forward: up to size bytes not yet read.
func (r *recvState) window(size int) int {
	r.raiseEdge(max(size-r.buf.n, 0))
	return int(r.wndEdge - r.nxt)
}

// raiseEdge moves the window's right edge to w bytes past RCV.NXT if that
// is further (never left).
func (r *recvState) raiseEdge(w int) {
	if e := r.nxt + uint64(w); int64(e-r.wndEdge) > 0 {
		r.wndEdge = e
	}
}

// insert places data received for DSN dsn. Data below RCV.NXT is a
// duplicate (a reinjection that lost the race); data beyond the window is
// dropped (RFC 8684 §3.3.5).
func (r *recvState) insert(c *Conn, dsn uint64, p []byte) {
	if len(p) == 0 {
		return
	}
	end := dsn + uint64(len(p))
	if int64(end-r.nxt) <= 0 {
		c.mib.DuplicateData.Add(1)
		return
	}
	if d := int64(r.nxt - dsn); d > 0 {
		c.mib.DuplicateData.Add(1)
		p = p[d:]
		dsn = r.nxt
	}
	if c.appClosed {
		// New data after Close: nobody will read it. Reset, as TCP does
		// (RFC 9293 §3.10.7.4, RFC 2525 §2.17), with MP_FASTCLOSE.
		c.abortLater = ErrAborted
		return
	}
	limit := r.nxt + uint64(max(c.cfg.ReceiveBuffer-r.buf.n, 0))
	if int64(limit-r.wndEdge) < 0 {
		limit = r.wndEdge
	}
	if int64(dsn-limit) >= 0 {
		c.mib.NoDSSInWindow.Add(1)
		return
	}
	if int64(end-limit) > 0 {
		p = p[:limit-dsn]
		end = limit
	}
	off := r.buf.n + int(dsn-r.nxt)
	r.buf.ensure(off + len(p))
	r.buf.writeAt(off, p)
	if dsn == r.nxt {
		r.advance(c, end)
	} else if !r.addOOO(dsn, end) {
		c.mib.RcvPruned.Add(1)
		return
	} else {
		c.mib.OFOQueue.Add(1)
	}
	r.checkFin(c)
}

// advance moves RCV.NXT to end and over the out-of-order data it reaches.
func (r *recvState) advance(c *Conn, end uint64) {
	for {
		k := int(end - r.nxt)
		r.buf.n += k
		r.bytes += uint64(k)
		r.nxt = end
		if len(r.ooo) == 0 || int64(r.ooo[0].start-r.nxt) > 0 {
			break
		}
		if int64(r.ooo[0].end-r.nxt) > 0 {
			end = r.ooo[0].end
		}
		r.ooo = r.ooo[1:]
	}
	c.notify |= tcp.NotifyReadable
}

// addOOO records [start, end) as received out of order, merging ranges.
func (r *recvState) addOOO(start, end uint64) bool {
	i := 0
	for i < len(r.ooo) && int64(r.ooo[i].end-start) < 0 {
		i++
	}
	// r.ooo[i:] end at or after start: merge those that overlap or touch.
	j := i
	for j < len(r.ooo) && int64(r.ooo[j].start-end) <= 0 {
		if int64(r.ooo[j].start-start) < 0 {
			start = r.ooo[j].start
		}
		if int64(r.ooo[j].end-end) > 0 {
			end = r.ooo[j].end
		}
		j++
	}
	if i == j && len(r.ooo) >= maxOOO {
		return false
	}
	nr := dsnRange{start, end}
	if i == j {
		r.ooo = append(r.ooo, dsnRange{})
		copy(r.ooo[i+1:], r.ooo[i:])
		r.ooo[i] = nr
		return true
	}
	r.ooo[i] = nr
	r.ooo = append(r.ooo[:i+1], r.ooo[j:]...)
	return true
}

// dataFinIn records the peer's DATA_FIN at DSN seq (RFC 8684 §3.3.3).
func (r *recvState) dataFinIn(seq uint64) {
	if r.finRcvd {
		return
	}
	r.finRcvd, r.finSeq = true, seq
}

// checkFin consumes the DATA_FIN once every byte before it is in.
func (r *recvState) checkFin(c *Conn) {
	if r.finRcvd && !r.eof && r.nxt == r.finSeq {
		r.nxt++
		r.eof = true
		r.ackPending = true
		c.notify |= tcp.NotifyReadable
	}
}

// afterRead: the application freed buffer space; tell the peer if the
// window it knows is much smaller than the one we can offer now.
func (c *Conn) afterRead() {
	if c.rcv.buf.n == 0 && len(c.rcv.ooo) == 0 {
		c.rcv.buf.release()
	}
	for _, s := range c.subflows {
		if s.ep.State() == tcp.StateEstablished || s.ep.State() == tcp.StateFinWait1 || s.ep.State() == tcp.StateFinWait2 {
			s.ep.WindowUpdate()
		}
	}
}

// --- fallback and MP_FAIL (RFC 8684 §3.7)

// canFallback reports whether data without a mapping on s can make the
// connection fall back to TCP: only while it never had another subflow.
func (c *Conn) canFallback(s *Subflow) bool {
	return s.initial && !c.joinedEver && len(c.subflows) == 1
}

// enterFallback makes the connection plain TCP on subflow s: received
// subflow byte rcvSSN is DSN rcvDSN, and the stream goes on from there;
// sent data continues after what is already on the subflow.
func (c *Conn) enterFallback(s *Subflow, rcvSSN uint32, rcvDSN uint64) {
	c.fallback = true
	s.fbSet, s.fbSSN, s.fbDSN = true, rcvSSN, rcvDSN
	if !c.snd.fbSet {
		// The subflow's stream is the data stream from its first
		// unacknowledged byte on (one subflow, mappings in order).
		ssn := s.ep.SndUna()
		dsn := c.snd.nxt
		if m := s.txAt(ssn); m != nil {
			dsn = m.dsn + uint64(ssn-m.ssn)
		} else if ssn != s.wseq {
			ssn = s.wseq
		}
		c.snd.fbSet, c.snd.fbSSN, c.snd.fbDSN = true, ssn, dsn
	}
	c.snd.reinj = nil
	s.fully = true
}

// fallbackIO moves data between the connection and its one subflow as a
// plain TCP stream.
func (c *Conn) fallbackIO() {
	s := c.subflows[0]
	if !s.fbSet {
		if !s.haveIRS {
			return // decided before the SYN/ACK (our SYN went out without MP_CAPABLE)
		}
		// Fallback decided at the handshake: the stream starts with the
		// first byte after the SYN, both ways.
		s.fbSet, s.fbSSN, s.fbDSN = true, s.irs+1, c.rcv.nxt
		c.snd.fbSet, c.snd.fbSSN, c.snd.fbDSN = true, s.wseq, c.snd.nxt
	}
	st := s.ep.State()
	// Acknowledged data leaves the buffer.
	if c.snd.fbSet {
		una := s.ep.SndUna()
		if seqGT(una, c.snd.fbSSN) {
			acked := c.snd.fbDSN + uint64(una-c.snd.fbSSN)
			if int64(acked-c.snd.una) > 0 && int64(acked-c.snd.end) <= 0 {
				c.ackData(acked)
			} else if int64(acked-c.snd.end) > 0 && c.snd.una != c.snd.end {
				c.ackData(c.snd.end)
			}
		}
	}
	// New data goes straight onto the subflow.
	for c.snd.nxt != c.snd.end && (st == tcp.StateEstablished || st == tcp.StateCloseWait) {
		off := int(c.snd.nxt - c.snd.una)
		n := int(c.snd.end - c.snd.nxt)
		a, b := c.snd.buf.peek(off, n)
		w, _ := s.ep.Write(a)
		if w == len(a) && len(b) > 0 {
			w2, _ := s.ep.Write(b)
			w += w2
		}
		if w == 0 {
			break
		}
		s.wseq += uint32(w)
		c.snd.nxt += uint64(w)
		c.snd.bytesSent += uint64(w)
	}
	if c.snd.finQueued && !c.snd.fbFIN && c.snd.nxt == c.snd.end {
		c.snd.fbFIN = true
		s.ep.CloseWrite() // the TCP FIN is the DATA_FIN
		if c.appClosed {
			s.ep.Close()
		}
	}
	// The peer's FIN is the end of the stream.
	switch st {
	case tcp.StateCloseWait, tcp.StateLastAck, tcp.StateClosing, tcp.StateTimeWait:
		if !c.rcv.eof {
			c.rcv.eof = true
			c.notify |= tcp.NotifyReadable
		}
	case tcp.StateClosed:
		if !c.rcv.eof && s.ep.Err() == nil {
			c.rcv.eof = true
		}
		c.notify |= tcp.NotifyReadable
	}
}

// checksumFailed: a mapping from s failed its checksum (RFC 8684 §3.7).
// With other subflows the subflow is reset (MP_FAIL and MP_TCPRST
// "middlebox interference") and the peer reinjects the data elsewhere;
// on the only subflow we send MP_FAIL and discard what follows until the
// peer's infinite mapping starts the plain stream. No byte of the mapping
// is delivered either way.
func (c *Conn) checksumFailed(s *Subflow, dsn uint64) {
	s.failPending, s.failDSN = true, dsn
	if !c.canFallback(s) {
		s.rstReason, s.rstSet = option.RstMiddleboxInterfered, true
		c.pendingResets = append(c.pendingResets, s)
		return
	}
	s.awaitInf = true
	s.awaitSince = c.now
	s.ackNow = true
}

// infiniteMapIn: the peer's infinite mapping says subflow byte ssn is DSN
// dsn and the rest is plain TCP.
func (c *Conn) infiniteMapIn(s *Subflow, ssn uint32, dsn uint64) {
	if !c.canFallback(s) {
		s.protocolError()
		return
	}
	if int64(dsn-c.rcv.nxt) > 0 {
		// Data between RCV.NXT and dsn would be missing for good.
		c.abortLater = ErrGap
		return
	}
	s.awaitInf = false
	s.rx = nil
	c.enterFallback(s, ssn, dsn)
}

// mpFailIn: the peer found a checksum failure in our data from dsn. On
// the only subflow we answer with MP_FAIL and an infinite mapping, and
// send the data from dsn again as a plain stream (RFC 8684 §3.7); with
// other subflows the peer resets this one and we reinject.
func (c *Conn) mpFailIn(s *Subflow, dsn uint64) {
	if s.awaitInf || c.fallback {
		return // the answer to our own MP_FAIL
	}
	if !c.canFallback(s) {
		return
	}
	if int64(dsn-c.snd.una) < 0 || int64(dsn-c.snd.nxt) > 0 {
		dsn = c.snd.una
	}
	s.failPending, s.failDSN = true, dsn
	s.infSet, s.infSSN, s.infDSN = true, s.wseq, dsn
	c.fallback = true
	c.snd.fbSet, c.snd.fbSSN, c.snd.fbDSN = true, s.wseq, dsn
	c.snd.nxt = dsn
	c.snd.reinj = nil
	s.fbSet, s.fbSSN, s.fbDSN = true, s.ep.Info().RcvNxt, c.rcv.nxt
	s.ackNow = true
}

// fastCloseReceived: MP_FASTCLOSE with our key (RFC 8684 §3.5): every
// subflow is reset and the connection ends.
func (c *Conn) fastCloseReceived() {
	c.fastCloseRcvd = true
}

// fastOpenData takes the data of the initial subflow's Fast Open SYN (RFC
// 7413 §4.2; RFC 8684 Appendix B): it comes before the data sequence space,
// which the MP_CAPABLE exchange has not set up yet, so it is queued for the
// application ahead of it, and the subflow's relative sequence numbers
// start after it (as Linux's mptcp_fastopen_subflow_synack_set_params
// does).
func (c *Conn) fastOpenData(s *Subflow, p1, p2 []byte) {
	r := &c.rcv
	for _, p := range [][]byte{p1, p2} {
		r.buf.ensure(r.buf.n + len(p))
		r.buf.writeAt(r.buf.n, p)
		r.buf.n += len(p)
		r.bytes += uint64(len(p))
		s.irs += uint32(len(p))
		s.dataRecv += uint64(len(p))
	}
	c.notify |= tcp.NotifyReadable
}
