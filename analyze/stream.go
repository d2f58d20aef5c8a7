package analyze

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"time"
)

func newHash() hash.Hash { return sha256.New() }

// stream is one direction of a connection's data, rebuilt across subflows.
type stream struct {
	dir       int
	idsn      uint64
	idsnSet   bool
	origin    uint64
	originSet bool
	// next is the offset (from origin) of the first byte not yet
	// delivered; delivered counts bytes delivered (holes excluded).
	next, delivered uint64
	// ooo holds out-of-order data; buffered is the memory it costs
	// (buffers and segments, see oooSegCost), counted against
	// Config.MaxBuffer.
	ooo       oooList
	buffered  int64
	hist      []byte
	histFrom  uint64 // history is valid from this offset
	hash      hash.Hash
	holes     []Hole
	conflicts []Hole
	// mapRef is the end of the last DSS mapping seen for this stream
	// (absolute DSN): where its data goes on, known before any of it can
	// be delivered (grouping of late captures).
	mapRef    uint64
	mapRefSet bool
	// lowMap is the lowest DSN a mapping for this stream started at
	// before the origin was known. provisional: the origin was set there,
	// below the first byte delivered, because another subflow's bytes
	// were still waiting to be placed and may come first (see settle).
	lowMap      uint64
	lowMapSet   bool
	provisional bool
	// mapEnd is the end (absolute DSN) of the furthest mapping seen for
	// this stream: bytes up to there were sent, captured or not.
	mapEnd    uint64
	mapEndSet bool
	// afterFin counts bytes mapped after the DATA_FIN (not delivered).
	afterFin uint64
	// ackRef is the last DATA_ACK seen for this stream (absolute, or 32
	// bits as sent before the origin is known), for grouping.
	ackRef    uint64
	ackRefSet bool
	// indexed: the stream is filed in Analyzer.index under these keys.
	indexed        bool
	idx64          uint64
	idx32          [2]key32
	idxA           bool // also filed in index.b32a (under idx32[0].b)
	finSeen        bool
	finOff         uint64
	ackSeen        bool
	ack            uint64 // absolute DSN
	dup, reinj     uint64
	beforeOrigin   uint64
	outOfWindow    uint64
	unchecked      uint64
	conflictBytes  uint64
	holeBytes      uint64
	droppedBytes   uint64 // holes given up for the memory cap
	ackedHoleBytes uint64 // holes the peer acknowledged
	holeCount      uint64
	done           bool
	sum            string
	lastTS         time.Time
}

// maxRanges bounds the holes and conflicts kept per stream.
const maxRanges = 1024

// setIDSN fixes the stream's origin at IDSN+1 (RFC 8684 §3.1: the first
// data byte has DSN IDSN+1), unless data already fixed it.
func (st *stream) setIDSN(idsn uint64) {
	st.idsn, st.idsnSet = idsn, true
	st.provisional = false // data already fixed the origin
	if !st.originSet {
		st.origin, st.originSet = idsn+1, true
	}
}

// setFin records the DSN of the DATA_FIN (RFC 8684 §3.3.3).
func (st *stream) setFin(dsn uint64) {
	if !st.originSet {
		return
	}
	off := dsn - st.origin
	if off > st.next+dsnWindow {
		return
	}
	st.finSeen, st.finOff = true, off
}

// noteAck records a DATA_ACK for this stream (sent by its receiver).
func (st *stream) noteAck(ack uint64) {
	if !st.originSet {
		return
	}
	off := ack - st.origin
	if off > st.next+dsnWindow {
		return
	}
	if !st.ackSeen || int64(ack-st.ack) > 0 {
		st.ack, st.ackSeen = ack, true
	}
}

// addRange appends [off, off+n) to rs, merging with the last range. It
// reports whether the range is a new one (listed or, past maxRanges, only
// counted).
func addRange(rs []Hole, off, n uint64, reason string) ([]Hole, bool) {
	if l := len(rs); l > 0 && rs[l-1].Offset+rs[l-1].Size == off && rs[l-1].Reason == reason {
		rs[l-1].Size += n
		return rs, false
	}
	if len(rs) >= maxRanges {
		return rs, true
	}
	return append(rs, Hole{Offset: off, Size: n, Reason: reason}), true
}

// deliver takes data at DSN dsn from subflow sf (direction half h): new
// data is emitted or buffered, old data compared with what was delivered.
func (a *Analyzer) deliver(c *conn, st *stream, sf *subflow, h *half, ts time.Time, dsn uint64, b []byte, subNew bool) {
	if st.done {
		return
	}
	if !st.originSet {
		st.origin, st.originSet = dsn, true
		if st.lowMapSet && st.lowMap != dsn && dsn-st.lowMap < dsnWindow && a.pendingIn(c, st.dir) {
			// Without the keys the stream starts at its lowest byte
			// captured. Bytes of another subflow, mapped lower, still wait
			// for their place: start at the lowest mapping for now.
			st.origin, st.provisional = st.lowMap, true
		}
	}
	off := dsn - st.origin
	if int64(off) < 0 {
		st.beforeOrigin += uint64(len(b))
		return
	}
	if off > st.next+dsnWindow {
		st.outOfWindow += uint64(len(b))
		return
	}
	if st.finSeen && off+uint64(len(b)) > st.finOff {
		// RFC 8684 §3.3.3: the DATA_FIN ends the stream; bytes mapped
		// after it contradict it. Once the receiver acknowledged the
		// DATA_FIN it takes nothing after it: they are not delivered.
		// Before that the DATA_FIN itself may be the lie (forged to cut
		// the stream short for the capture point): delivered, reported.
		past := min(uint64(len(b)), off+uint64(len(b))-st.finOff)
		acked := st.ackSeen && int64(st.ack-(st.origin+st.finOff+1)) >= 0
		if st.afterFin == 0 {
			what, sev := "delivered (the DATA_FIN is not acknowledged: it may be the forgery)", Warning
			if acked {
				what, sev = "not delivered (the receiver acknowledged the DATA_FIN)", Error
			}
			a.finding(c, sf, ts, sev, CodeAfterDataFIN, fmt.Sprintf(
				"%s: %d bytes mapped at data offset %d, after the DATA_FIN at %d: %s",
				dirName(st.dir), past, max(off, st.finOff), st.finOff, what))
		}
		st.afterFin += past
		if acked {
			b = b[:uint64(len(b))-past]
			if len(b) == 0 {
				return
			}
		}
	}
	if off < st.next {
		n := min(uint64(len(b)), st.next-off)
		a.compareOld(c, st, sf, ts, off, b[:n])
		st.dup += n
		if subNew {
			st.reinj += n
			h.reinj += n
			a.pflags |= PacketReinjection
		}
		b, off = b[n:], off+n
		if len(b) == 0 {
			return
		}
	}
	if off == st.next && st.ooo.empty() {
		a.emit(c, st, h, ts, b)
		return
	}
	if off > st.next {
		a.pflags |= PacketDataOutOfOrder
	}
	a.buffer(c, st, sf, h, ts, off, b, subNew)
	a.drain(c, st)
	if st.provisional && (!a.pendingIn(c, st.dir) || st.buffered > maxProvisional) {
		a.settle(c, st)
	}
	for a.buffered > a.cfg.MaxBuffer {
		a.shed(c, st, ts)
	}
}

// maxProvisional bounds the data a stream with a provisional origin holds
// while waiting for another subflow's bytes to be placed: past it, the
// origin is settled at the lowest byte held.
const maxProvisional = 1 << 20

// pendingIn reports whether a subflow of c holds bytes of direction cd not
// yet placed in the data sequence.
func (a *Analyzer) pendingIn(c *conn, cd int) bool {
	for _, sf := range c.subflows {
		if len(sf.h[sf.connDirInv(cd)].pending) > 0 {
			return true
		}
	}
	return false
}

// settle ends a provisional origin: the stream starts at its lowest byte
// held (offsets and the DATA_FIN's move with it), which is delivered.
func (a *Analyzer) settle(c *conn, st *stream) {
	if !st.provisional {
		return
	}
	st.provisional = false
	if st.next != 0 || st.delivered != 0 || st.ooo.empty() {
		return
	}
	delta := st.ooo.first().off
	st.origin += delta
	st.ooo.each(func(g *oooSeg) bool {
		g.off -= delta
		return true
	})
	if st.finSeen {
		st.finOff -= min(st.finOff, delta)
	}
	a.drain(c, st)
}

// emit hands contiguous data at st.next to the sink, hash and history.
func (a *Analyzer) emit(c *conn, st *stream, h *half, ts time.Time, b []byte) {
	off := st.next
	st.provisional = false
	if a.cfg.Sink != nil {
		a.cfg.Sink.Data(&c.info, st.dir, ts, off, b)
	}
	if st.hash != nil {
		st.hash.Write(b)
	}
	a.remember(st, off, b)
	st.next += uint64(len(b))
	st.delivered += uint64(len(b))
	st.lastTS = ts
	if h != nil {
		h.data += uint64(len(b))
		if h.firstNew.IsZero() {
			h.firstNew = ts
		}
		h.lastNew = ts
		h.connBytesAtLastNew = st.delivered
	}
}

// remember keeps the last bytes delivered to compare later copies with.
func (a *Analyzer) remember(st *stream, off uint64, b []byte) {
	max := a.cfg.History
	if len(st.hist) < max && uint64(len(st.hist)) < off+uint64(len(b)) {
		n := 256
		for n < max && uint64(n) < off+uint64(len(b)) {
			n *= 2
		}
		n = min(n, max)
		var nh []byte
		if n == max && len(a.histFree) > 0 {
			// A full-size ring given back by a finished stream.
			nh = a.histFree[len(a.histFree)-1]
			a.histFree = a.histFree[:len(a.histFree)-1]
		} else {
			nh = make([]byte, n)
		}
		// Copy what is still valid from the old ring; bytes older than
		// that are not in the new one either.
		ol := uint64(len(st.hist))
		from := max64(st.histFrom, off-min(off, ol))
		if ol > 0 {
			for o := from; o < off; {
				i, j := o%ol, o%uint64(n)
				m := min(ol-i, off-o, uint64(n)-j)
				copy(nh[j:j+m], st.hist[i:i+m])
				o += m
			}
		}
		st.histFrom = from
		st.hist = nh
	}
	l := uint64(len(st.hist))
	if l == 0 {
		return
	}
	if skip := uint64(len(b)); skip > l {
		b = b[skip-l:]
		off += skip - l
	}
	for len(b) > 0 {
		i := off % l
		n := copy(st.hist[i:], b)
		b, off = b[n:], off+uint64(n)
	}
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// compareOld compares a copy of already-delivered data with the history.
func (a *Analyzer) compareOld(c *conn, st *stream, sf *subflow, ts time.Time, off uint64, b []byte) {
	l := uint64(len(st.hist))
	if l == 0 {
		st.unchecked += uint64(len(b))
		return
	}
	lo := st.histFrom
	if st.next > l && st.next-l > lo {
		lo = st.next - l
	}
	if off < lo {
		skip := min(lo-off, uint64(len(b)))
		st.unchecked += skip
		b, off = b[skip:], off+skip
	}
	for len(b) > 0 {
		i := off % l
		n := min(uint64(len(b)), l-i)
		if !bytes.Equal(st.hist[i:i+n], b[:n]) {
			a.conflict(c, st, sf, ts, off, st.hist[i:i+n], b[:n])
		}
		b, off = b[n:], off+n
	}
}

// conflict records the differing bytes of two copies of the same data.
func (a *Analyzer) conflict(c *conn, st *stream, sf *subflow, ts time.Time, off uint64, old, nw []byte) {
	// One finding per conflicting copy that does not continue the
	// previous conflict (two separate conflicts are two findings).
	newRun, n, first := false, 0, uint64(0)
	for i := 0; i < len(old); {
		if old[i] == nw[i] {
			i++
			continue
		}
		j := i
		for j < len(old) && old[j] != nw[j] {
			j++
		}
		var added bool
		before := st.conflictBytes
		st.conflicts, added = addRange(st.conflicts, off+uint64(i), uint64(j-i), "")
		if n == 0 {
			newRun, first = added || before == 0, off+uint64(i)
		}
		st.conflictBytes += uint64(j - i)
		n += j - i
		i = j
	}
	if newRun {
		a.finding(c, sf, ts, Error, CodeDataConflict, fmt.Sprintf(
			"%s: %d bytes from data offset %d differ from an earlier copy of the same data", dirName(st.dir), n, first))
	}
}

// buffer stores out-of-order data, comparing any part already buffered.
// Data that continues the segment before it from the same subflow is
// appended to that segment's buffer when it has room (a run of small
// segments after a hole costs one buffer, not one each).
func (a *Analyzer) buffer(c *conn, st *stream, sf *subflow, h *half, ts time.Time, off uint64, b []byte, subNew bool) {
	for len(b) > 0 {
		p := st.ooo.search(off)
		if g := st.ooo.at(p); g != nil && g.off <= off {
			n := min(g.end()-off, uint64(len(b)))
			old := g.data[off-g.off : off-g.off+n]
			if !bytes.Equal(old, b[:n]) {
				a.conflict(c, st, sf, ts, off, old, b[:n])
			}
			st.dup += n
			if subNew {
				st.reinj += n
				h.reinj += n
				a.pflags |= PacketReinjection
			}
			b, off = b[n:], off+n
			continue
		}
		n := uint64(len(b))
		if g := st.ooo.at(p); g != nil && g.off < off+n {
			n = g.off - off
		}
		if g := st.ooo.prev(p); g != nil && g.end() == off && g.h == h && len(g.data)+int(n) <= cap(g.data) {
			g.data = append(g.data, b[:n]...)
			g.ts = ts
		} else {
			buf := a.pool.get(int(n))
			copy(buf, b[:n])
			st.ooo.insert(p, oooSeg{off: off, data: buf, h: h, ts: ts})
			cost := int64(cap(buf) + oooSegCost)
			st.buffered += cost
			a.buffered += cost
			if a.buffered > a.res.PeakBuffered {
				a.res.PeakBuffered = a.buffered
			}
		}
		b, off = b[n:], off+n
	}
}

// drain emits buffered segments that have become contiguous.
func (a *Analyzer) drain(c *conn, st *stream) {
	for !st.ooo.empty() {
		g := st.ooo.first()
		if g.off > st.next {
			break
		}
		if g.end() > st.next {
			a.emit(c, st, g.h, g.ts, g.data[st.next-g.off:])
		}
		a.release(st, g)
		st.ooo.popFirst()
	}
}

func (a *Analyzer) release(st *stream, g *oooSeg) {
	cost := int64(cap(g.data) + oooSegCost)
	st.buffered -= cost
	a.buffered -= cost
	a.pool.put(g.data)
	*g = oooSeg{}
}

// skipTo gives up on the bytes before the first buffered segment: they
// are a hole.
func (a *Analyzer) skipTo(c *conn, st *stream, ts time.Time, reason string) bool {
	if st.ooo.empty() {
		return false
	}
	if st.provisional {
		// The bytes before the lowest held are not missing: they were
		// never known to exist.
		a.settle(c, st)
		return true
	}
	g := st.ooo.first()
	a.hole(c, st, ts, g.off-st.next, reason)
	a.drain(c, st)
	return true
}

// hole records that [next, next+n) will never be delivered and moves on.
func (a *Analyzer) hole(c *conn, st *stream, ts time.Time, n uint64, reason string) {
	if n == 0 {
		return
	}
	if a.cfg.Sink != nil {
		a.cfg.Sink.Hole(&c.info, st.dir, ts, st.next, n)
	}
	var added bool
	st.holes, added = addRange(st.holes, st.next, n, reason)
	if added {
		st.holeCount++
	}
	st.holeBytes += n
	switch reason {
	case HoleMemory:
		st.droppedBytes += n
	case HoleAcked:
		st.ackedHoleBytes += n
	}
	st.next += n
	st.histFrom = st.next
}

// shed frees buffered data when the memory cap is exceeded: the stream
// holding the most gives up on its first gap (whichever stream went over
// the cap: one whose segment was merely reordered must not lose it to
// another's loss).
func (a *Analyzer) shed(c *conn, st *stream, ts time.Time) {
	bc, bs := c, st
	for _, o := range a.conns.list {
		if o == nil {
			continue
		}
		for i := range o.st {
			if o.st[i].buffered > bs.buffered {
				bc, bs = o, &o.st[i]
			}
		}
	}
	if bs.buffered == 0 {
		a.buffered = 0 // accounting slip; nothing is held
		return
	}
	if bs.holeBytes == 0 || len(bs.holes) == 0 || bs.holes[len(bs.holes)-1].Reason != HoleMemory {
		a.finding(bc, nil, ts, Warning, CodeMemoryCap, fmt.Sprintf(
			"%s: out-of-order data exceeds the %d-byte buffer cap; the missing bytes before it are reported as a hole",
			dirName(bs.dir), a.cfg.MaxBuffer))
	}
	a.skipTo(bc, bs, ts, HoleMemory)
}

// finish flushes a stream at the end: buffered data after gaps, then the
// tail up to the DATA_FIN or the highest DATA_ACK, are holes.
func (a *Analyzer) finishStream(c *conn, st *stream, ts time.Time) {
	if st.done {
		return
	}
	for a.skipTo(c, st, ts, HoleMissing) {
	}
	if st.originSet {
		if st.finSeen && st.finOff > st.next {
			a.hole(c, st, ts, st.finOff-st.next, HoleMissing)
		}
		if st.ackSeen {
			ackOff := st.ack - st.origin
			end := ackOff
			if st.finSeen && ackOff > st.finOff {
				end = st.finOff // the ack covers the DATA_FIN itself
			}
			if end > st.next && end-st.next < dsnWindow {
				a.hole(c, st, ts, end-st.next, HoleAcked)
			}
		}
		if st.mapEndSet {
			// The capture ends inside a mapping (or lost its last
			// segments): the mapping says these bytes were sent.
			end := st.mapEnd - st.origin
			if st.finSeen && end > st.finOff {
				end = st.finOff
			}
			if end > st.next && end-st.next < dsnWindow {
				a.finding(c, nil, ts, Warning, CodeMappingCut, fmt.Sprintf(
					"%s: a DSS mapping announces %d bytes up to data offset %d that the capture does not have (it ends inside the mapping, or lost them): a hole",
					dirName(st.dir), end-st.next, end))
				a.hole(c, st, ts, end-st.next, HoleMissing)
			}
		}
	}
	if a.cfg.Sink != nil {
		a.cfg.Sink.End(&c.info, st.dir, ts)
	}
	if st.hash != nil {
		st.sum = hex.EncodeToString(st.hash.Sum(nil))
		st.hash = nil
	}
	a.freeHist(st)
	st.ooo.reset()
	st.done = true
}

// closeConn finishes both streams of c and releases its buffers.
func (a *Analyzer) closeConn(c *conn, ts time.Time) {
	if c.done {
		return
	}
	if c.probe != nil {
		// Held (late32.go): what it holds is its own.
		a.release32(c, ts, "the connection ended before the evidence sufficed")
	}
	for _, sf := range c.subflows {
		for d := range sf.h {
			if h := &sf.h[d]; len(h.pending) > 0 {
				a.dropPending(h)
			}
		}
	}
	for i := range c.st {
		a.finishStream(c, &c.st[i], ts)
	}
	c.done = true
	a.finished(c)
	if k := unansweredKind(c); k != "" {
		a.orphanConn(c, k)
		return
	}
	if a.cfg.OnConnection == nil {
		return
	}
	// Hand the finished connection over and forget it: with the hook,
	// memory does not grow with the number of connections in a capture.
	a.cfg.OnConnection(a.connResult(c, true))
	a.forgetConn(c)
}

// flowIdle is how long (capture time) a subflow entry outlives its
// connection, or its last packet when it has none, before it is dropped
// from the flow table: late ACKs and retransmitted FINs still find it.
const flowIdle = 2 * time.Minute

// sweep drops idle flow-table entries of finished connections and of
// subflows that never joined one.
func (a *Analyzer) sweep() {
	for k, sf := range a.flows {
		if (sf.conn == nil || sf.conn.done) && a.res.Last.Sub(sf.last) > flowIdle {
			delete(a.flows, k)
			a.flushOrphan(sf)
		}
	}
}

// bufPool recycles out-of-order buffers by power-of-two size class (from
// 64 bytes), so the steady state allocates nothing.
type bufPool struct {
	free [20][][]byte
}

func sizeClass(n int) int {
	c := 0
	for s := 64; s < n; s *= 2 {
		c++
	}
	return c
}

// classCap is the capacity of the buffer bufPool.get(n) returns.
func classCap(n int) int {
	if c := sizeClass(n); c < len(bufPool{}.free) {
		return 64 << c
	}
	return n
}

func (p *bufPool) get(n int) []byte {
	c := sizeClass(n)
	if c < len(p.free) {
		if l := len(p.free[c]); l > 0 {
			b := p.free[c][l-1]
			p.free[c] = p.free[c][:l-1]
			return b[:n]
		}
		return make([]byte, n, 64<<c)
	}
	return make([]byte, n)
}

func (p *bufPool) put(b []byte) {
	c := sizeClass(cap(b))
	if c < len(p.free) && cap(b) == 64<<c && len(p.free[c]) < 1024 {
		p.free[c] = append(p.free[c], b[:0])
	}
}

// freeHist releases a stream's history, keeping full-size rings for reuse
// (a capture of many connections would otherwise churn through them).
func (a *Analyzer) freeHist(st *stream) {
	if len(st.hist) == a.cfg.History && len(a.histFree) < 16 {
		a.histFree = append(a.histFree, st.hist)
	}
	st.hist = nil
}
