package mpconn

import (
	"time"

	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/tcp"
)

// sendState is the sending side of the data sequence space (RFC 8684
// §3.3).
type sendState struct {
	una uint64 // oldest DSN not DATA_ACKed
	nxt uint64 // next new DSN to map onto a subflow
	end uint64 // DSN after the last byte written (the DATA_FIN's DSN)
	buf ring   // bytes [una, end)
	// wndEnd is the peer's right edge: DATA_ACK plus the window of the
	// segment that carried it, never moved left (§3.3.4).
	wndEnd uint64

	finQueued bool // CloseWrite: a DATA_FIN follows the data
	finSent   bool
	finAcked  bool

	// reinj lists DSN ranges to send again on other subflows (their
	// subflow failed or went stale), oldest first.
	reinj []reinjRange

	bytesSent, bytesRetrans uint64
	bytesRedundant          uint64 // copies (CopyScheduler)
	bytesOpport             uint64 // opportunistic retransmissions
	penalized               int
	// opportUna: the head-of-line chunk at this DSN was already sent
	// again opportunistically (once per head).
	opportUna uint64
	opportSet bool
	copies    []int

	// fallback: subflow byte fbSSN is DSN fbDSN, and onwards (§3.7).
	fbSet  bool
	fbSSN  uint32
	fbDSN  uint64
	fbFIN  bool // the subflow's FIN was queued as the DATA_FIN
	sched  []SchedInfo
	schedS []*Subflow
}

type reinjRange struct {
	start, end uint64
	origin     int // subflow id the data was on
}

// finSeq is the DATA_FIN's data sequence number.
func (s *sendState) finSeq() uint64 { return s.end }

// write appends p to the send buffer, up to limit bytes outstanding.
func (s *sendState) write(p []byte, limit int) int {
	room := limit - int(s.end-s.una)
	n := min(len(p), room)
	if n <= 0 {
		return 0
	}
	off := int(s.end - s.una)
	s.buf.ensure(off + n)
	s.buf.writeAt(off, p[:n])
	s.buf.n += n
	s.end += uint64(n)
	return n
}

// dataAckIn handles a DATA_ACK and the window of its segment (RFC 8684
// §3.3.2, §3.3.4; Linux's ack_update_msk).
func (c *Conn) dataAckIn(ack uint64, ack64 bool, wnd uint32) {
	if !ack64 {
		ack = expandSeq(c.snd.una, ack)
	}
	limit := c.snd.nxt
	if c.snd.finSent {
		limit = c.snd.end + 1
	}
	if int64(ack-limit) > 0 || int64(ack-c.snd.una) < 0 {
		return // data never sent, or an old ACK
	}
	if e := ack + uint64(wnd); int64(e-c.snd.wndEnd) > 0 {
		c.snd.wndEnd = e
	}
	if ack == c.snd.una {
		return
	}
	c.ackData(ack)
}

// ackData advances SND.UNA at the data level to ack.
func (c *Conn) ackData(ack uint64) {
	data := min(ack, c.snd.end)
	if k := int(data - c.snd.una); k > 0 {
		c.snd.buf.discard(k)
		c.snd.una = data
		if c.snd.buf.n == 0 {
			c.snd.buf.release()
		}
		c.notify |= tcp.NotifyWritable
	}
	if c.snd.finSent && ack == c.snd.end+1 {
		c.snd.finAcked = true
	}
	if int64(c.snd.nxt-c.snd.una) < 0 {
		c.snd.nxt = c.snd.una
	}
	// Reinjection ranges and mappings below SND.UNA are done.
	kept := c.snd.reinj[:0]
	for _, r := range c.snd.reinj {
		if int64(r.end-c.snd.una) <= 0 {
			continue
		}
		if int64(r.start-c.snd.una) < 0 {
			r.start = c.snd.una
		}
		kept = append(kept, r)
	}
	c.snd.reinj = kept
	for _, s := range c.subflows {
		k := 0
		for k < len(s.tx) && int64(s.tx[k].dsn+uint64(s.tx[k].len)-c.snd.una) <= 0 && seqLEQ(s.tx[k].ssn+s.tx[k].len, s.ep.SndUna()) {
			k++
		}
		if k > 0 {
			s.tx = append(s.tx[:0], s.tx[k:]...)
		}
	}
	if c.snd.una != c.lastUna {
		c.rtxAt = 0 // progress restarts the timer
	}
	c.rtxBackoff = 0
	c.lastUna = c.snd.una
	c.armDataRTO()
}

// maxChunk bounds one mapping (the data-level length is 16 bits): large
// mappings let segments of the same mapping carry identical options,
// which the link coalesces into TSO super-frames, as Linux's 64 KB skbs
// do.
const maxChunk = 63 << 10

// push maps data onto subflows as the scheduler picks them (Linux's
// __mptcp_push_pending): reinjections first, then new data within the
// peer's window, then the copies a redundant scheduler asks for.
func (c *Conn) push() {
	// A redundant scheduler's subflows first catch up with what the
	// others carried, then take new data, then copy that.
	c.pushCopies()
	c.pushNew()
	c.pushCopies()
}

func (c *Conn) pushNew() {
	for guard := 0; guard < 256; guard++ {
		var start, end uint64
		origin := -1
		if len(c.snd.reinj) > 0 {
			r := c.snd.reinj[0]
			start, end, origin = r.start, r.end, r.origin
		} else {
			start = c.snd.nxt
			end = min(c.snd.end, c.sendLimit())
			if int64(end-start) <= 0 {
				if int64(c.snd.end-start) > 0 {
					c.opportunistic() // window-limited
				}
				return
			}
		}
		if end-start > maxChunk {
			end = start + maxChunk
		}
		s, room := c.pick(origin)
		if s == nil {
			return
		}
		if _, ok := c.sched.(CopyScheduler); ok && origin < 0 {
			// Older data the subflow has not carried goes first, so that
			// what it carries stays contiguous.
			if room -= c.catchUp(s, room); room <= 0 {
				continue
			}
		}
		n := min(int(end-start), room)
		w := c.mapOnto(s, start, n, origin >= 0)
		if w == 0 {
			return
		}
		if origin >= 0 {
			c.snd.reinj[0].start += uint64(w)
			if c.snd.reinj[0].start >= c.snd.reinj[0].end {
				c.snd.reinj = c.snd.reinj[1:]
			}
			c.snd.bytesRetrans += uint64(w)
			c.mib.MPTCPRetrans.Add(1)
		} else {
			c.snd.nxt += uint64(w)
			s.cpNxt, s.cpSet = start+uint64(w), true
		}
	}
}

// sendLimit is the data sequence number new data may reach: the right
// edge of the peer's window, less a reserve while more than one subflow
// may carry data. Data that arrives beyond a hole waits in the peer's
// out-of-order queue, and Linux (6.18) moves nothing more from its
// subflows into the MPTCP socket once that socket's memory is over its
// receive buffer, not even the segment that fills the hole: a window
// filled to its last byte with out-of-order data (whose memory the
// window's scaling ratio may underestimate by a few hundred bytes)
// wedges the connection for good, its DATA_ACK stuck at the hole while
// every subflow acknowledges. The reserve, two segments and 1/64 of the
// window, keeps that queue below the buffer; one subflow delivers in
// order and needs none.
func (c *Conn) sendLimit() uint64 {
	edge := c.snd.wndEnd
	if c.usableCount() < 2 {
		return edge
	}
	wnd := int64(edge - c.snd.una)
	if wnd <= 0 {
		return edge
	}
	mss := 0
	for _, s := range c.subflows {
		if s.usable() {
			mss = max(mss, s.ep.MSS())
		}
	}
	reserve := int64(2*mss) + wnd/64
	if wnd <= reserve {
		// A window this small: the segment at its left edge only.
		return c.snd.una + uint64(min(wnd, int64(mss)))
	}
	return edge - uint64(reserve)
}

// pushCopies lets a CopyScheduler's subflows catch up: each sends the
// data not yet DATA_ACKed that it has not carried, as its room allows
// (the redundant scheduler of the out-of-tree Linux MPTCP, where every
// subflow walks the connection's send queue on its own).
func (c *Conn) pushCopies() {
	cs, ok := c.sched.(CopyScheduler)
	if !ok || c.snd.una == c.snd.nxt {
		return
	}
	c.schedInfos(-1)
	c.snd.copies = cs.Copies(c.snd.copies[:0], c.snd.sched)
	for _, j := range c.snd.copies {
		if j >= 0 && j < len(c.snd.schedS) {
			c.catchUp(c.snd.schedS[j], c.snd.sched[j].Room)
		}
	}
}

// catchUp sends on s copies of the data below SND.NXT (and not DATA_ACKed)
// that s has not carried, within room and what s can send now (copies
// queued behind unsent data would arrive late and hold up later ones).
// It returns how much it sent.
func (c *Conn) catchUp(s *Subflow, room int) int {
	room = min(room, s.ep.SendRoom())
	sent := 0
	for room > 0 {
		from := s.cpNxt
		if !s.cpSet || int64(from-c.snd.una) < 0 {
			from = c.snd.una
		}
		if int64(c.snd.nxt-from) <= 0 {
			break
		}
		w := c.mapOnto(s, from, min(int(c.snd.nxt-from), room, maxChunk), true)
		if w == 0 {
			break
		}
		s.cpNxt, s.cpSet = from+uint64(w), true
		room -= w
		sent += w
		c.snd.bytesRedundant += uint64(w)
	}
	return sent
}

// opportunistic sends the chunk that holds up the peer's receive window
// again on a faster subflow and penalises the subflow it waits on
// (Opportunist). Called when new data is limited by the peer's window.
func (c *Conn) opportunistic() {
	if o, ok := c.sched.(Opportunist); !ok || !o.Opportunistic() || len(c.snd.reinj) > 0 {
		return
	}
	una := c.snd.una
	if una == c.snd.nxt || c.snd.opportSet && c.snd.opportUna == una {
		return
	}
	// The subflow holding DSN una, not yet acknowledged there.
	var holder *Subflow
	var hm txMap
	for _, s := range c.subflows {
		for _, m := range s.tx {
			if m.dsn <= una && una < m.dsn+uint64(m.len) {
				if seqLT(m.ssn+uint32(una-m.dsn), s.ep.SndUna()) {
					return // it arrived; the DATA_ACK is on its way
				}
				holder, hm = s, m
			}
		}
	}
	if holder == nil || !holder.usable() {
		return // a stale or closed subflow's data is reinjected anyway
	}
	s, room := c.pick(holder.id)
	if s == nil || s == holder || room <= 0 {
		return
	}
	var hs, ss SchedInfo
	for i, x := range c.snd.schedS {
		switch x {
		case holder:
			hs = c.snd.sched[i]
		case s:
			ss = c.snd.sched[i]
		}
	}
	if hs.ID == ss.ID || ss.DeliveryEstimate() >= hs.DeliveryEstimate() {
		return // no faster way to get it there
	}
	end := min(hm.dsn+uint64(hm.len), una+maxChunk, c.snd.nxt)
	w := c.mapOnto(s, una, min(int(end-una), room), true)
	if w == 0 {
		return
	}
	c.snd.opportSet, c.snd.opportUna = true, una
	c.snd.bytesOpport += uint64(w)
	c.snd.bytesRetrans += uint64(w)
	c.mib.MPTCPRetrans.Add(1)
	if c.now-holder.penalizedAt >= max(holder.ep.SRTT(), time.Millisecond) || holder.penalizedAt == 0 {
		holder.penalizedAt = c.now
		holder.ep.Penalize()
		c.snd.penalized++
	}
}

// pick asks the scheduler for a subflow with room and returns it with
// how much it may take.
func (c *Conn) pick(origin int) (*Subflow, int) {
	if c.schedInfos(origin) == 0 {
		return nil, 0
	}
	i := c.sched.Pick(c.snd.sched)
	if i < 0 || i >= len(c.snd.sched) || c.snd.sched[i].Room <= 0 {
		return nil, 0
	}
	return c.snd.schedS[i], c.snd.sched[i].Room
}

// schedInfos describes the usable subflows for the scheduler (in
// c.snd.sched, the subflows in c.snd.schedS) and returns how many.
func (c *Conn) schedInfos(origin int) int {
	c.snd.sched = c.snd.sched[:0]
	c.snd.schedS = c.snd.schedS[:0]
	for _, s := range c.subflows {
		if !s.usable() {
			continue
		}
		// About a window beyond what the congestion window admits now may
		// wait in the subflow, so mappings are large enough to coalesce.
		room := s.ep.SendRoom()
		if room > 0 {
			room = min(room+min(s.ep.Cwnd()/2, maxChunk), s.ep.SendBufferFree())
		}
		c.snd.sched = append(c.snd.sched, SchedInfo{ID: s.id, SRTT: s.ep.SRTT(), Room: room,
			Queued: s.ep.Queued(), Cwnd: s.ep.Cwnd(), Recovering: s.ep.InRecovery(),
			Backup: s.backup || s.peerBackup, Origin: s.id == origin})
		c.snd.schedS = append(c.snd.schedS, s)
	}
	return len(c.snd.sched)
}

// mapOnto writes n bytes from DSN start into subflow s and records the
// mapping (RFC 8684 §3.3.1). It returns how many bytes the subflow took.
func (c *Conn) mapOnto(s *Subflow, start uint64, n int, reinj bool) int {
	off := int(start - c.snd.una)
	if off < 0 || off+n > c.snd.buf.n {
		return 0
	}
	a, b := c.snd.buf.peek(off, n)
	if len(a) > n {
		a = a[:n]
	}
	free := s.ep.SendBufferFree()
	n = min(n, free)
	if n == 0 {
		return 0
	}
	if len(a) > n {
		a, b = a[:n], nil
	} else if len(a)+len(b) > n {
		b = b[:n-len(a)]
	}
	m := txMap{ssn: s.wseq, dsn: start, len: uint32(n), reinj: reinj}
	if c.csum {
		sum := mpcrypto.DSSChecksumStart(m.dsn, m.ssn-s.iss, uint16(m.len))
		sum.Add(a)
		sum.Add(b)
		m.csum = mpcrypto.DSSChecksumFinish(&sum)
	}
	// Record the mapping first: the endpoint sends at once and asks for
	// it (OutgoingOptions, SegmentLimit).
	s.tx = append(s.tx, m)
	w1, _ := s.ep.Write(a)
	w2 := 0
	if w1 == len(a) && len(b) > 0 {
		w2, _ = s.ep.Write(b)
	}
	w := w1 + w2
	if w < n {
		// Cannot happen (we checked the free space); keep the mapping
		// exact anyway.
		s.tx[len(s.tx)-1].len = uint32(w)
		if w == 0 {
			s.tx = s.tx[:len(s.tx)-1]
		}
	}
	s.wseq += uint32(w)
	s.dataSent += uint64(w)
	c.snd.bytesSent += uint64(w)
	c.armDataRTO()
	return w
}

// dataFinProgress sends the DATA_FIN once every byte is mapped (RFC 8684
// §3.3.3) and closes the subflows when both directions are done.
func (c *Conn) dataFinProgress() {
	if c.snd.finQueued && !c.snd.finSent && c.snd.nxt == c.snd.end && len(c.snd.reinj) == 0 {
		c.snd.finSent = true
		c.armDataRTO()
		if s := c.ackSubflow(); s != nil {
			s.ep.SendAck()
		}
	}
	if c.rcv.ackPending {
		if s := c.ackSubflow(); s != nil {
			c.rcv.ackPending = false
			s.ep.SendAck()
		}
	}
	if c.appClosed && c.snd.finAcked && !c.rcv.finRcvd {
		// Our DATA_FIN is acknowledged and nothing more will be read: wait
		// for the peer's DATA_FIN, and close the subflows once it comes
		// (checkDone) or after Config.CloseTimeout (Linux's msk in
		// FIN_WAIT2 and its net.mptcp.close_timeout).
		if c.closeAt == 0 {
			c.closeAt = c.now + c.cfg.CloseTimeout
		} else if c.now >= c.closeAt {
			c.closeSubflows()
			c.setState(StateClosed)
		}
	}
}

// ackSubflow returns a subflow to carry a pure ACK: a usable one with the
// lowest RTT, else any established one.
func (c *Conn) ackSubflow() *Subflow {
	var best *Subflow
	for _, s := range c.subflows {
		st := s.ep.State()
		if st != tcp.StateEstablished && st != tcp.StateCloseWait && st != tcp.StateFinWait1 && st != tcp.StateFinWait2 {
			continue
		}
		if best == nil || s.usable() && !best.usable() || s.usable() == best.usable() && rttLess(s.ep.SRTT(), best.ep.SRTT()) {
			best = s
		}
	}
	return best
}

// armDataRTO arms the connection-level retransmission timer while data or
// the DATA_FIN is not DATA_ACKed (Linux's mptcp_reset_rtx_timer).
func (c *Conn) armDataRTO() {
	if c.snd.una == c.snd.nxt && !(c.snd.finSent && !c.snd.finAcked) {
		c.rtxAt = 0
		return
	}
	if c.rtxAt != 0 {
		return
	}
	c.rtxAt = c.now + c.dataRTO()
}

// dataRTO is the largest RTO of the subflows, doubled per backoff.
func (c *Conn) dataRTO() time.Duration {
	rto := 200 * time.Millisecond
	for _, s := range c.subflows {
		if s.usable() {
			rto = max(rto, s.ep.RTO())
		}
	}
	for i := 0; i < c.rtxBackoff && rto < time.Minute; i++ {
		rto *= 2
	}
	return min(rto, time.Minute)
}

// onDataRTO: nothing was DATA_ACKed for an RTO although subflows carried
// the data. Send the oldest chunk again on another subflow (the receiver
// may have dropped it at the data level), and the DATA_FIN.
func (c *Conn) onDataRTO() {
	if c.state != StateEstablished || c.fallback {
		return
	}
	c.rtxBackoff++
	if c.snd.una != c.snd.nxt && c.snd.una == c.lastUna && len(c.snd.reinj) == 0 && c.usableCount() > 1 {
		origin := -1
		for _, s := range c.subflows {
			for _, m := range s.tx {
				if m.dsn <= c.snd.una && c.snd.una < m.dsn+uint64(m.len) {
					origin = s.id
				}
			}
		}
		c.snd.reinj = append(c.snd.reinj, reinjRange{start: c.snd.una, end: min(c.snd.nxt, c.snd.una+maxChunk), origin: origin})
	}
	if c.snd.finSent && !c.snd.finAcked {
		if s := c.ackSubflow(); s != nil {
			s.ep.SendAck()
		}
	}
	c.lastUna = c.snd.una
	c.rtxAt = 0
	c.armDataRTO()
}

func (c *Conn) usableCount() int {
	n := 0
	for _, s := range c.subflows {
		if s.usable() {
			n++
		}
	}
	return n
}

// reinjectFrom queues the data mapped onto s and not DATA_ACKed for the
// other subflows (Linux's __mptcp_retrans after a subflow closes or goes
// stale).
func (c *Conn) reinjectFrom(s *Subflow) {
	una := s.ep.SndUna()
	for _, m := range s.tx {
		if s.ep.State() != tcp.StateClosed && seqLEQ(m.ssn+m.len, una) {
			// The peer's TCP has these bytes: they wait at its data
			// level for earlier ones, and the DATA_ACK will cover them
			// (should the peer drop them anyway, the connection-level
			// retransmission timer sends them again).
			continue
		}
		start, end := m.dsn, m.dsn+uint64(m.len)
		if int64(end-c.snd.una) <= 0 {
			continue
		}
		if int64(start-c.snd.una) < 0 {
			start = c.snd.una
		}
		c.addReinject(start, end, s.id)
	}
}

// addReinject adds [start, end) to the reinjection queue, kept sorted and
// without overlaps.
func (c *Conn) addReinject(start, end uint64, origin int) {
	r := c.snd.reinj
	for _, x := range r {
		if start >= x.start && end <= x.end {
			return
		}
	}
	i := len(r)
	for i > 0 && r[i-1].start > start {
		i--
	}
	r = append(r, reinjRange{})
	copy(r[i+1:], r[i:])
	r[i] = reinjRange{start: start, end: end, origin: origin}
	// Merge overlaps.
	out := r[:1]
	for _, x := range r[1:] {
		last := &out[len(out)-1]
		if x.start <= last.end {
			last.end = max(last.end, x.end)
			continue
		}
		out = append(out, x)
	}
	c.snd.reinj = out
}

// subflowStale: s keeps timing out; its data goes to the others.
func (c *Conn) subflowStale(s *Subflow) {
	if c.usableCount() > 0 {
		c.reinjectFrom(s)
	}
}

// refreshSubflows notices subflows whose data is acknowledged again
// (a stale path that recovered) and sends what they owe: the fourth ACK
// of a join, pending signals.
func (c *Conn) refreshSubflows() {
	for _, s := range c.subflows {
		if una := s.ep.SndUna(); una != s.lastUna {
			s.lastUna = una
			s.rtos = 0
			s.progressAt = c.now
			if s.stale {
				s.stale = false
				c.cfg.Logger.Debug("mptcp subflow recovered", "subflow", s.id)
			}
		}
		if s.ep.SndNxt() == s.ep.SndUna() {
			s.progressAt = c.now // nothing outstanding: nothing to wait for
		}
		c.checkStall(s)
		if (s.ackNow || s.prioPending && s.fully) && s.ep.State() == tcp.StateEstablished {
			// The fourth ACK of a join, an MP_FAIL, or an MP_PRIO that
			// waited for the join to complete.
			s.ackNow = false
			s.ep.SendAck()
		}
		if !c.fallback && s.ep.State() == tcp.StateCloseWait && (c.snd.finSent || c.usableCount() > 1) {
			// The peer closed this subflow (its path went away, or the
			// connection is done): close our side too; its data is
			// reinjected once it is gone. The last subflow waits for our
			// DATA_FIN, which its FIN then carries.
			s.ep.Close()
		}
	}
	for _, s := range c.pendingResets {
		if s.ep.State() != tcp.StateClosed {
			s.ep.Abort()
		}
	}
	c.pendingResets = c.pendingResets[:0]
}

// stallAt returns when s counts as stale if none of its outstanding
// data is acknowledged before: an RTT and four RTT variations (at least
// minStallTimeout) after its oldest outstanding segment was sent, the
// RTO's deadline without its 200 ms floor. Linux waits for two RTOs
// (stale_loss_cnt), hundreds of milliseconds at least; a path that
// answers nothing well past its RTT is gone for practical purposes, and
// its data is better sent again on another path at once. A subflow that
// was wrongly deemed stale is used again at its next acknowledgment.
// With at most one segment outstanding the peer may be delaying its ACK
// (up to 200 ms in Linux): that is waited for.
func (s *Subflow) stallDeadline() time.Duration {
	sent, ok := s.ep.OldestSentAt()
	if !ok {
		return 0
	}
	srtt, rttvar := s.ep.SRTT(), s.ep.RTTVar()
	if srtt == 0 {
		return sent + s.ep.RTO()
	}
	t := srtt + max(4*rttvar, minStallTimeout)
	if out := int(s.ep.SndNxt() - s.ep.SndUna()); out <= s.ep.MSS() {
		t += 200 * time.Millisecond
	}
	return sent + t
}

// minStallTimeout is the least margin past the RTT before a subflow is
// deemed stale.
const minStallTimeout = 40 * time.Millisecond

// stallTimerSlack is how late a stall timer may fire and still count as
// on time; stallRecheck is when a verdict that could not be given is
// looked at again.
const (
	stallTimerSlack = 4 * time.Millisecond
	stallRecheck    = 4 * time.Millisecond
)

// checkStall marks s stale when its outstanding data is overdue
// (stallDeadline) while another subflow could carry it.
func (c *Conn) checkStall(s *Subflow) {
	s.stallAt = 0
	if s.stale || c.fallback || !s.usable() || s.ep.SndNxt() == s.ep.SndUna() || c.usableCount() < 2 {
		return
	}
	at := s.stallDeadline()
	if at == 0 {
		return
	}
	if c.now < at {
		s.stallAt = at
		return
	}
	// Silence means something only if we were listening. A timer that
	// fires late says this process did not run for a while (a loaded
	// machine): the ACKs that would have cleared the subflow may be
	// waiting unread in the interface's queue. So the verdict is given
	// only by a timer that fires on time; otherwise look again shortly,
	// after the readers had a chance to deliver what came in.
	target := at
	if s.stallCheck > at {
		target = s.stallCheck
	}
	if !c.inTimers || c.now-target > stallTimerSlack {
		s.stallCheck = c.now + stallRecheck
		s.stallAt = s.stallCheck
		return
	}
	s.stallCheck = 0
	s.stale = true
	c.mib.SubflowStale.Add(1)
	c.cfg.Logger.Debug("mptcp subflow stalled", "subflow", s.id, "since", c.now-s.progressAt)
	c.subflowStale(s)
}
