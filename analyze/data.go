package analyze

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
)

// dsnWindow bounds how far from a stream's current position a data
// sequence number may be and still be taken as part of that stream: a
// mapping further away is garbage or another connection's.
const dsnWindow = 1 << 30

// dsnWindow32 is the narrower window for grouping by 32-bit DSNs, which
// collide far more easily.
const dsnWindow32 = 1 << 22

// expand extends a 32-bit DSN or DATA_ACK to 64 bits near the stream's
// current position (RFC 8684 §3.3: "the upper 32 bits ... are inferred").
func (st *stream) expand(v uint64, is64 bool) uint64 {
	if is64 {
		return v
	}
	var ref uint64
	switch {
	case st.originSet:
		ref = st.origin + st.next
	case st.idsnSet:
		ref = st.idsn + 1
	default:
		return v
	}
	return uint64(int64(ref) + int64(int32(uint32(v)-uint32(ref))))
}

// dss handles a DSS option (RFC 8684 §3.3): the mapping, DATA_ACK and
// DATA_FIN.
func (a *Analyzer) dss(sf *subflow, d int, s *segment, o *option.DSS) {
	c := sf.conn
	created := false
	if c == nil && !sf.rejected && !sf.orphan && o.HasMapping() && o.DataLen > 0 {
		c, created = a.attachOrphan(sf, d, s, o), true
	}
	if c == nil {
		return
	}
	cd := sf.connDir(d)
	h := &sf.h[d]
	if o.HasMapping() {
		is64 := o.Flags&option.DSSDSN8 != 0
		if !is64 && !c.dsn32 {
			c.dsn32 = true
		}
		st := &c.st[cd]
		first := !st.mapRefSet
		dsn := st.expand(o.DSN, is64)
		st.mapRef, st.mapRefSet = dsn+uint64(o.DataLen), true
		if !st.originSet && (!st.lowMapSet || int64(dsn-st.lowMap) < 0) {
			st.lowMap, st.lowMapSet = dsn, true
		}
		if first && !created && !sf.rejected && (c.groupedBy == "alone" || c.groupedBy == "dsn") {
			// The first mapping of this direction on a connection known
			// only from its data: it may show that c and another
			// connection are one (late capture, each seen first in a
			// different direction, or before either had delivered).
			if a.regroup(c, cd, o, s.ts) {
				c, cd = sf.conn, sf.connDir(d)
			}
		}
		a.reindex(c, cd)
	}
	if o.HasMapping() && c.csum && !o.HasChecksum && !h.csumMissingReported {
		// RFC 8684 §3.3.1: once checksums are negotiated every mapping
		// carries one; the receiver must treat one without as invalid.
		h.csumMissingReported = true
		a.finding(c, sf, s.ts, Warning, CodeChecksumMissing, fmt.Sprintf(
			"%s: DSS mapping without a checksum although checksums were negotiated", dirName(cd)))
	}
	if o.HasMapping() {
		st := &c.st[cd]
		dsn := st.expand(o.DSN, o.Flags&option.DSSDSN8 != 0)
		fin := o.DataFIN()
		switch {
		case o.DataLen == 0:
			// RFC 8684 §3.3.1: the infinite mapping, after fallback.
			if !h.shiftKnown {
				h.shift, h.shiftKnown = o.SubflowSeq-uint32(unwrap(s.seq-h.isn, h.maxEnd)), true
			}
			ssn := unwrap(o.SubflowSeq-h.shift, h.maxEnd)
			a.addMapping(c, sf, d, s, mapping{ssn: ssn, n: infinite, dsn: dsn})
			h.sawMapping = true
			a.fallback(c, sf, s.ts, "infinite mapping (data-level length 0)")
		case fin && o.DataLen == 1 && o.SubflowSeq == 0:
			// A DATA_FIN alone occupies no subflow byte.
			st.setFin(dsn)
		default:
			n := uint64(o.DataLen)
			if fin {
				n-- // the DATA_FIN is counted in the data-level length
				st.setFin(dsn + n)
			}
			if !h.shiftKnown {
				// Without the SYN, learn the shift from a mapping that
				// starts at this segment: one that covers exactly its
				// payload, or the first of a new mapping.
				if len(s.payload) == 0 || (uint64(len(s.payload)) != n && (!h.lastMapSeen || h.lastMap == (mapping{ssn: uint64(o.SubflowSeq), n: n, dsn: dsn}))) {
					h.lastMap, h.lastMapSeen = mapping{ssn: uint64(o.SubflowSeq), n: n, dsn: dsn}, true
					break
				}
				start := uint32(unwrap(s.seq-h.isn, h.maxEnd))
				if s.flags&flagSYN != 0 {
					start++
				}
				h.shift, h.shiftKnown = o.SubflowSeq-start, true
				if h.lastMapSeen && h.lastMap.n > 0 {
					// The mapping seen before this one covers the bytes
					// just before it.
					lm := h.lastMap
					a.addMapping(c, sf, d, s, mapping{ssn: unwrap(uint32(lm.ssn)-h.shift, h.maxEnd), n: lm.n, dsn: lm.dsn})
				}
			}
			m := mapping{ssn: unwrap(o.SubflowSeq-h.shift, h.maxEnd), n: n, dsn: dsn}
			// A one-byte mapping below what the peer already acknowledged
			// is Linux's zero-window probe, not data.
			m.probe = n == 1 && !fin && st.ackSeen && int64(st.ack-dsn) > 0
			if n > 0 {
				a.addMapping(c, sf, d, s, m)
				h.sawMapping = true
			}
			if len(h.pending) > 0 && c.probe == nil {
				a.replay(c, sf, d)
			}
			if o.HasChecksum && c.csum {
				h.startChecksum(m, o.SubflowSeq, o.DataLen, o.Checksum)
			}
		}
		if fin {
			c.event(Event{Time: s.ts, Type: "data_fin", Subflow: sf.id, Detail: dirName(cd)})
		}
	}
	if o.HasDataACK() {
		st := &c.st[1-cd]
		ack := st.expand(o.DataACK, o.Flags&option.DSSDataACK8 != 0)
		st.ackRef, st.ackRefSet = ack, true
		st.noteAck(ack)
		a.pack, a.packSet = ack, true
	}
	if p := sf.conn; p != nil && p.probe != nil && o.HasMapping() {
		// The subflow is held (late32.go): this mapping is evidence for
		// or against the connections it may belong to.
		a.probe32(p, sf, d, o, s.ts)
	}
}

func dirName(d int) string {
	if d == 0 {
		return "client->server"
	}
	return "server->client"
}

// addMapping records a mapping and reports a disagreement with an earlier
// one for the same subflow bytes.
func (a *Analyzer) addMapping(c *conn, sf *subflow, d int, s *segment, m mapping) {
	a.addMappingAt(c, sf, d, s.ts, m)
}

// A mapping that puts subflow bytes an earlier mapping placed elsewhere is
// reported and ignored: the earlier one stands (RFC 8684 §3.3.1: a mapping
// cannot be changed once sent; a receiver resets a subflow whose mappings
// disagree, Linux's MPTCP_MIB_DSSNOMATCH). Taking the later one put
// retransmitted bytes at another data offset, after the DATA_FIN even.
// The infinite mapping (fallback) is exempt: it maps whatever comes next.
func (a *Analyzer) addMappingAt(c *conn, sf *subflow, d int, ts time.Time, m mapping) {
	h := &sf.h[d]
	conflict, same := h.conflicts(m)
	if conflict && m.n != infinite {
		h.mapConflicts++
		if !h.mapConflictReported {
			h.mapConflictReported = true
			st := &c.st[sf.connDir(d)]
			a.finding(c, sf, ts, Error, CodeMappingConflict, fmt.Sprintf(
				"DSS mapping of subflow bytes %d-%d to data offset %d disagrees with an earlier mapping of the same bytes: ignored (the earlier one stands)",
				m.ssn-h.base, m.ssn-h.base+min(m.n, 1<<32), m.dsn-st.origin))
		}
		return
	}
	if same {
		return
	}
	h.insertMapping(m)
	if c.probe != nil && h.heldMaps < 255 {
		h.heldMaps++
	}
	if m.n != infinite && !m.probe {
		if st := &c.st[sf.connDir(d)]; !st.mapEndSet || int64(m.dsn+m.n-st.mapEnd) > 0 {
			st.mapEnd, st.mapEndSet = m.dsn+m.n, true
		}
	}
}

// payload maps a segment's payload to the data sequence space and hands it
// to the stream. newFrom is the subflow position from which bytes are new
// on this subflow (below it they are retransmissions).
func (a *Analyzer) payload(c *conn, sf *subflow, d int, ts time.Time, start, newFrom uint64, b []byte) {
	h := &sf.h[d]
	cd := sf.connDir(d)
	st := &c.st[cd]
	pos := start
	for len(b) > 0 {
		m := h.lookup(pos)
		if m == nil && !h.sawMapping && c.fallback == "" && sf.role == roleInitial && h.shiftKnown {
			// RFC 8684 §3.7: data without a mapping on the first subflow
			// before any mapping means the peer fell back.
			a.fallback(c, sf, ts, "data without a DSS mapping")
		}
		if m == nil && c.fallback != "" && (len(c.subflows) == 1 || sf.role == roleInitial) {
			// After fallback the subflow's bytes are the data stream
			// (RFC 8684 §3.7): they continue the data sequence where this
			// subflow direction's last mapping ended (Linux maps them at
			// the next expected DSN), or, if it never had one, subflow
			// byte 1 is data byte 1 (DSN IDSN+1). Other subflows may have
			// carried data before, so subflow and data offsets differ.
			origin := uint64(1)
			if st.idsnSet {
				origin = st.idsn + 1
			}
			if !h.shiftKnown {
				h.shift, h.shiftKnown = 0, true
			}
			fm, last := mapping{ssn: h.base + uint64(1-h.shift), n: infinite, dsn: origin}, false
			for i := 0; i < h.nmaps; i++ {
				if o := &h.maps[i]; o.n != infinite && o.ssn+o.n <= pos && (!last || o.ssn+o.n > fm.ssn) {
					fm, last = mapping{ssn: o.ssn + o.n, n: infinite, dsn: o.dsn + o.n}, true
				}
			}
			h.addMapping(fm)
			h.sawMapping = true
			m = h.lookup(pos)
		}
		if m == nil && !h.shiftKnown && !c.done && a.stash(h, ts, pos, newFrom, b) {
			// Held until a mapping tells where this subflow's bytes go.
			a.placeWholeMapping(c, sf, d, ts)
			return
		}
		if m == nil {
			// Bytes up to the next mapping that starts later are unmapped.
			n := uint64(len(b))
			for i := 0; i < h.nmaps; i++ {
				if o := &h.maps[i]; o.ssn > pos && o.ssn-pos < n {
					n = o.ssn - pos
				}
			}
			h.unmapped += n
			if !h.unmappedReported && h.shiftKnown {
				h.unmappedReported = true
				a.finding(c, sf, ts, Warning, CodeUnmapped, fmt.Sprintf(
					"%d payload bytes at subflow offset %d (%s) are outside any DSS mapping", n, pos-h.base, dirName(cd)))
			}
			pos += n
			b = b[n:]
			continue
		}
		n := min(uint64(len(b)), m.ssn+m.n-pos)
		subNew := pos >= newFrom
		if !subNew && pos+n > newFrom {
			n = newFrom - pos
		}
		piece := b[:n]
		if h.ck.active {
			a.checksumPiece(c, sf, h, ts, pos, piece)
		}
		if m.probe {
			pos += n
			b = b[n:]
			continue
		}
		a.deliver(c, st, sf, h, ts, m.dsn+(pos-m.ssn), piece, subNew)
		pos += n
		b = b[n:]
	}
}

// startChecksum begins verifying the DSS checksum of mapping m (RFC 8684
// §3.3.1); the data is added as it arrives, over as many segments as the
// mapping spans.
func (h *half) startChecksum(m mapping, ssn32 uint32, dataLen, csum uint16) {
	if h.ck.active && h.ck.next > m.ssn && h.ck.end == m.ssn+m.n {
		return // the same mapping again, already being summed
	}
	h.ck = csumAcc{active: true, next: m.ssn, end: m.ssn + m.n, dsn: m.dsn,
		ssn32: ssn32, dataLen: dataLen, csum: csum,
		sum: mpcrypto.DSSChecksumStart(m.dsn, ssn32, dataLen)}
	if m.n == 0 {
		h.finishChecksum()
	}
}

// finishChecksum compares the accumulated checksum with the option's.
func (h *half) finishChecksum() bool {
	h.ck.active = false
	if mpcrypto.DSSChecksumFinish(&h.ck.sum) == h.ck.csum {
		h.csumOK++
		return true
	}
	h.csumFailures++
	return false
}

// checksumPiece adds subflow bytes at pos to the running DSS checksum and
// verifies it when the mapping is complete.
func (a *Analyzer) checksumPiece(c *conn, sf *subflow, h *half, ts time.Time, pos uint64, b []byte) {
	ck := &h.ck
	if pos+uint64(len(b)) <= ck.next || pos >= ck.end {
		return
	}
	if pos > ck.next {
		ck.active = false // a gap: this mapping cannot be verified
		return
	}
	b = b[ck.next-pos:]
	if uint64(len(b)) > ck.end-ck.next {
		b = b[:ck.end-ck.next]
	}
	ck.sum.Add(b)
	ck.next += uint64(len(b))
	if ck.next < ck.end || h.finishChecksum() || h.csumFailures > 1 {
		return
	}
	a.finding(c, sf, ts, Error, CodeChecksum, fmt.Sprintf(
		"DSS checksum of the mapping at DSN %d (subflow seq %d, %d bytes) does not verify", ck.dsn, ck.ssn32, ck.dataLen))
}

// attachOrphan groups a subflow whose handshake was not captured: with a
// connection whose stream continues at this DSN, or alone.
func (a *Analyzer) attachOrphan(sf *subflow, d int, s *segment, o *option.DSS) *conn {
	sf.orphan = true
	is64 := o.Flags&option.DSSDSN8 != 0
	if c, cd := a.nearest([]*subflow{sf}, o.DSN, is64, o, nil); c != nil {
		sf.viaDSN = true
		a.attach(c, sf, cd == d)
		if c.groupedBy != "keys" {
			c.groupedBy = "dsn"
		}
		a.finding(c, sf, s.ts, Info, CodeUnverified, fmt.Sprintf(
			"subflow %v -> %v (handshake not captured) grouped by data sequence continuity; unverified", sf.client, sf.server))
		return c
	}
	// A connection known only from joins to a token, with no data yet,
	// that shares an address with this subflow: if there is exactly one,
	// this subflow is most likely another of its subflows. (Only such a
	// connection: one known from its data alone is grouped by that data,
	// never by an address, which many connections share.)
	var cand *conn
	n := 0
	for _, ad := range [2]netip.Addr{sf.client.Addr(), sf.server.Addr()} {
		for _, c := range a.index.token[ad] {
			if c == cand || c.done || c.groupedBy != "token" || c.verified() || c.st[0].originSet || c.st[1].originSet ||
				len(c.subflows) >= maxSubflows {
				continue
			}
			cand = c
			n++
		}
	}
	if n == 1 {
		a.attach(cand, sf, sharesSide(cand, sf))
		a.finding(cand, sf, s.ts, Info, CodeUnverified, fmt.Sprintf(
			"subflow %v -> %v (handshake not captured) grouped with the joins to token %08x by address; unverified",
			sf.client, sf.server, cand.tokens[1]))
		return cand
	}
	// 32-bit DSNs with no address in common: held while its mappings
	// are compared with the connection whose data it exactly continues
	// (late32.go).
	held := !is64 && a.fitsAny32(sf, d, o)
	c := a.newConn(sf, s.ts, "alone")
	if held {
		c.probe = &probe32{}
	}
	a.finding(c, sf, s.ts, Info, CodeUnverified, fmt.Sprintf(
		"subflow %v -> %v: handshake not captured; the connection's keys and other subflows are unknown", sf.client, sf.server))
	return c
}

// nearest finds the live connection (other than skip) with a stream whose
// data sequence continues near dsn, and that stream's direction. A stream's
// position is where its delivered data ends or, before anything was
// delivered, where the last mapping seen for it ends (a late capture holds
// a subflow's bytes until a mapping boundary tells where they go; the DSN
// is known before that). The closest position wins; one on a connection
// sharing an address with one of subs wins over any other. 64-bit DSNs
// start at random points of a 2^64 space, so nearness within dsnWindow is
// strong evidence; 32-bit ones are compared within a narrower window and
// only with connections that share an address.
func (a *Analyzer) nearest(subs []*subflow, dsn uint64, is64 bool, o *option.DSS, skip *conn) (*conn, int) {
	var best *conn
	bestDir, bestDist, bestShares := 0, uint64(0), false
	a.candidates(dsn, is64, subs, func(c *conn, cd int) {
		if c.done || c == skip || len(c.subflows) >= maxSubflows {
			return
		}
		shares := false
	share:
		for _, x := range c.subflows {
			for _, y := range subs {
				if sharesHost(x, y) {
					shares = true
					break share
				}
			}
		}
		if !is64 && !shares {
			return
		}
		dist, ok := c.st[cd].distance(dsn, is64)
		if !ok {
			return
		}
		if rs := &c.st[1-cd]; o != nil && o.HasDataACK() && rs.ackRefSet {
			// The segment's DATA_ACK acknowledges the other direction:
			// it must be near what the connection's other subflows
			// acknowledge there (two coincidences for a stranger, where
			// 32-bit DSNs alone collide easily between many connections).
			if _, near := rs.ackDistance(o.DataACK, o.Flags&option.DSSDataACK8 != 0); !near {
				return
			}
		}
		if best == nil || (shares && !bestShares) || (shares == bestShares && dist < bestDist) {
			best, bestDir, bestDist, bestShares = c, cd, dist, shares
		}
	})
	return best, bestDir
}

// distance is how far dsn is from the stream's position (see nearest);
// ok is false when the stream has no position yet or dsn is outside the
// window.
func (st *stream) distance(dsn uint64, is64 bool) (dist uint64, ok bool) {
	measure := func(ref uint64) (uint64, bool) {
		if is64 {
			d := dsn - ref
			if d > 1<<63 {
				d = -d
			}
			return d, d < dsnWindow
		}
		d := uint64(uint32(dsn) - uint32(ref))
		if d > 1<<31 {
			d = 1<<32 - d
		}
		return d, d < dsnWindow32
	}
	if st.originSet {
		dist, ok = measure(st.origin + st.next)
	}
	if st.mapRefSet {
		if d, in := measure(st.mapRef); in && (!ok || d < dist) {
			dist, ok = d, true
		}
	}
	return dist, ok
}

// ackDistance is how far a DATA_ACK is from the last one seen for this
// stream (see distance).
func (st *stream) ackDistance(ack uint64, is64 bool) (uint64, bool) {
	if is64 {
		d := ack - st.ackRef
		if d > 1<<63 {
			d = -d
		}
		return d, d < dsnWindow
	}
	d := uint64(uint32(ack) - uint32(st.ackRef))
	if d > 1<<31 {
		d = 1<<32 - d
	}
	return d, d < dsnWindow32
}

// regroup is called when c, a connection known only from its data, sees
// its first mapping in direction cd (o). If another connection's
// stream continues there, the two are one connection seen from different
// subflows: the one that has delivered nothing yet joins the other (a
// stream never changes connection once a sink has seen its data). It
// reports whether c's subflows moved.
func (a *Analyzer) regroup(c *conn, cd int, o *option.DSS, ts time.Time) bool {
	x, xd := a.nearest(c.subflows, o.DSN, o.Flags&option.DSSDSN8 != 0, o, c)
	switch {
	case x == nil:
		return false
	case regroupable(c):
		a.absorb(x, c, xd != cd, ts, "")
		return true
	case regroupable(x):
		a.absorb(c, x, xd != cd, ts, "")
	}
	return false
}

// regroupable reports whether c may still be folded into another
// connection: it is known only from its data (no key, no join token) and
// has delivered and buffered nothing.
func regroupable(c *conn) bool {
	if c.done || c.haveKey[0] || c.haveKey[1] || (c.groupedBy != "alone" && c.groupedBy != "dsn") {
		return false
	}
	for i := range c.st {
		if st := &c.st[i]; st.next > 0 || st.delivered > 0 || st.buffered > 0 || !st.ooo.empty() {
			return false
		}
	}
	return true
}

// absorb moves the subflows of from, a connection known only from its data
// that delivered nothing, into c; flip says that from's directions are c's
// the other way round. evidence, if not empty, says what showed it (the
// rule for 32-bit DSNs without an address in common, late32.go). The
// payload held while from was held is then placed in c.
func (a *Analyzer) absorb(c, from *conn, flip bool, ts time.Time, evidence string) {
	held := from.probe != nil
	from.probe = nil
	n0 := len(c.subflows)
	for _, sf := range from.subflows {
		sf.conn, sf.viaDSN = c, true
		if flip {
			sf.same = !sf.same
		}
		c.subflows = append(c.subflows, sf)
		detail := fmt.Sprintf("subflow %d, connection %d until its data showed it belongs here (connection %d is not listed)", sf.id, from.id, from.id)
		msg := fmt.Sprintf("subflow %v -> %v (handshake not captured) grouped by data sequence continuity; unverified", sf.client, sf.server)
		if evidence != "" {
			detail += ": " + evidence
			msg = fmt.Sprintf("subflow %v -> %v (handshake not captured, no address in common, 32-bit DSNs) grouped by data sequence agreement: %s; unverified",
				sf.client, sf.server, evidence)
		}
		c.event(Event{Time: ts, Type: "regrouped", Subflow: sf.id, Detail: detail})
		a.finding(c, sf, ts, Info, CodeUnverified, msg)
	}
	for _, e := range from.events {
		c.event(e)
	}
	for _, f := range from.findings {
		if f.Code != CodeUnverified {
			a.addFinding(c, f)
		}
	}
	for i := range from.st {
		j := i
		if flip {
			j = 1 - i
		}
		fs, cs := &from.st[i], &c.st[j]
		if fs.mapRefSet && !cs.mapRefSet {
			cs.mapRef, cs.mapRefSet = fs.mapRef, true
		}
		if fs.lowMapSet && !cs.originSet && (!cs.lowMapSet || int64(fs.lowMap-cs.lowMap) < 0) {
			cs.lowMap, cs.lowMapSet = fs.lowMap, true
		}
	}
	if c.groupedBy != "keys" {
		c.groupedBy = "dsn"
	}
	c.first, c.last = minTime(c.first, from.first), maxTime(c.last, from.last)
	from.subflows, from.done = nil, true
	a.removeConn(from)
	a.reindex(c, 0)
	a.reindex(c, 1)
	if held && c.probe == nil {
		a.placeHeld(c, c.subflows[n0:], ts)
	}
}

func minTime(x, y time.Time) time.Time {
	if y.Before(x) {
		return y
	}
	return x
}

func maxTime(x, y time.Time) time.Time {
	if y.After(x) {
		return y
	}
	return x
}

// sharesHost reports whether two subflows have an IP address in common.
func sharesHost(x, y *subflow) bool {
	for _, p := range [2]netip.AddrPort{x.client, x.server} {
		for _, q := range [2]netip.AddrPort{y.client, y.server} {
			if p.Addr() == q.Addr() {
				return true
			}
		}
	}
	return false
}

// sharesSide guesses whether sf's client is c's client: its client or
// server address appears on that side of one of c's subflows.
func sharesSide(c *conn, sf *subflow) bool {
	for _, o := range c.subflows {
		oc, os := o.client, o.server
		if !o.same {
			oc, os = os, oc
		}
		if sf.client.Addr() == oc.Addr() || sf.server.Addr() == os.Addr() {
			return true
		}
		if sf.client.Addr() == os.Addr() || sf.server.Addr() == oc.Addr() {
			return false
		}
	}
	return true
}

// pendingSeg is payload of a subflow seen before its position in the DSS
// subflow sequence space was known (capture started mid-connection).
type pendingSeg struct {
	pos, newFrom uint64
	data         []byte
	ts           time.Time
}

// maxPending bounds the payload held per subflow direction while waiting
// for a mapping that tells where it goes.
const maxPending = 256 << 10

// stash holds b (at subflow position pos) until the subflow's sequence
// shift is known. It reports false when the bound or the memory cap does
// not allow it.
func (a *Analyzer) stash(h *half, ts time.Time, pos, newFrom uint64, b []byte) bool {
	n := len(b)
	if h.pendingBytes+n > maxPending || a.buffered+int64(classCap(n)+oooSegCost) > a.cfg.MaxBuffer {
		return false
	}
	buf := a.pool.get(n)
	copy(buf, b)
	h.pending = append(h.pending, pendingSeg{pos: pos, newFrom: newFrom, data: buf, ts: ts})
	h.pendingBytes += n
	a.buffered += int64(cap(buf) + oooSegCost)
	if a.buffered > a.res.PeakBuffered {
		a.res.PeakBuffered = a.buffered
	}
	return true
}

// placeWholeMapping learns where a subflow direction's held bytes go when
// they are exactly the mapping seen on them: contiguous, as many as it
// covers. They are then its whole extent, so the first of them is the
// mapping's first byte. (Otherwise the capture may have started inside the
// mapping, and the next mapping's first segment tells.)
func (a *Analyzer) placeWholeMapping(c *conn, sf *subflow, d int, ts time.Time) {
	h := &sf.h[d]
	lm := h.lastMap
	if !h.lastMapSeen || lm.n == 0 || uint64(h.pendingBytes) != lm.n {
		return
	}
	pos := h.pending[0].pos
	for _, p := range h.pending {
		if p.pos != pos {
			return // a gap or a copy: not provably the whole mapping
		}
		pos += uint64(len(p.data))
	}
	h.shift, h.shiftKnown = uint32(lm.ssn)-uint32(h.pending[0].pos), true
	h.lastMapSeen = false
	a.addMappingAt(c, sf, d, ts, mapping{ssn: h.pending[0].pos, n: lm.n, dsn: lm.dsn})
	h.sawMapping = true
	a.replay(c, sf, d)
}

// replay maps the held payload of a subflow direction now that its
// mappings can be placed.
func (a *Analyzer) replay(c *conn, sf *subflow, d int) {
	h := &sf.h[d]
	p := h.pending
	h.pending = nil
	for i := range p {
		a.buffered -= int64(cap(p[i].data) + oooSegCost)
		h.pendingBytes -= len(p[i].data)
		a.payload(c, sf, d, p[i].ts, p[i].pos, p[i].newFrom, p[i].data)
		a.pool.put(p[i].data)
	}
	if st := &c.st[sf.connDir(d)]; st.provisional && !a.pendingIn(c, st.dir) {
		a.settle(c, st)
	}
}

// dropPending gives up on held payload: it stays unmapped.
func (a *Analyzer) dropPending(h *half) {
	for i := range h.pending {
		h.unmapped += uint64(len(h.pending[i].data))
		a.buffered -= int64(cap(h.pending[i].data) + oooSegCost)
		a.pool.put(h.pending[i].data)
	}
	h.pending, h.pendingBytes = nil, 0
}
