package analyze

import (
	"bytes"
	"fmt"
	"time"

	"github.com/mptcp-go/mptcp/option"
)

// Grouping a subflow seen without its handshake, whose DSS options carry
// 32-bit DSNs (RFC 8684 §3.3: "the upper 32 bits are inferred"), with a
// connection none of whose subflows shares an address with it.
//
// With an address in common one mapping whose DSN and DATA_ACK are near
// the connection's is enough (nearest). Without one, 32-bit DSNs near each
// other are no evidence: many connections of a capture may sit within a
// few MiB of each other in a 2^32 space, and a coincidence would merge two
// unrelated connections. Such a subflow is grouped only on this evidence:
//
//  1. Exact continuation: one of its mappings starts exactly where the
//     connection's data of that direction ends: the next byte its stream
//     expects, or the end of the last or of the furthest mapping seen
//     (fits32), with a DATA_ACK that agrees (rule 2). Only then is the
//     subflow held (its payload stashed, nothing delivered) and the
//     connection made a candidate; otherwise it is a connection of its
//     own at once, as before.
//  2. Agreement over agree32Needed mappings in a row (agree32): each new
//     mapping (a DSN beyond the ones counted) has its DSN within
//     dsnWindow32 of the candidate's stream in that direction, and its
//     segment carries a DATA_ACK within dsnWindow32 below the last
//     DATA_ACK the candidate's subflows sent for the other direction and
//     not beyond any data mapped there (nobody acknowledges data never
//     sent). A mapping that disagrees drops the candidate; one that cannot
//     be compared (no DATA_ACK, a direction the candidate has no data in)
//     counts for nothing.
//  3. Complementary data (compare32): the held bytes that the candidate
//     also has (delivered and still in its history, or buffered) are
//     identical (else the candidate is rejected for good), and the
//     candidate is waiting for data (it holds bytes beyond a gap, or its
//     receiver acknowledged beyond what it has) whose first missing byte
//     the held subflow maps. A subflow that only runs ahead of or beside
//     another connection's stream fills no gap of it.
//  4. Uniqueness (unique32): exactly one followed candidate passes 3, and
//     no other connection filed near the held subflow's last mappings
//     passes 3 with an agreeing last mapping, nor is another held one
//     exactly continued by it. Otherwise the evidence is ambiguous and the
//     subflow waits for more mappings.
//
// It is then merged as the address rule merges (absorb: a regrouped event
// and a grouping_unverified finding giving the evidence) and its held
// bytes are placed in the connection's streams. A subflow whose
// candidates all fail, or that reaches the bounds on held data
// (maxPending per direction, the memory cap, heldMapsMax mappings), is
// released: its bytes are delivered as a connection of its own. The state
// is a fixed-size probe per held connection; candidates come from
// index.b32a, whose buckets are bounded (idxBucketMax32a).

const (
	// agree32Needed is how many mappings in a row must agree with a
	// candidate before the held subflow may join it.
	agree32Needed = 4
	// maxCands32 bounds the candidates compared with one held subflow.
	maxCands32 = 4
	// heldMapsMax bounds the mappings recorded in one subflow direction
	// while held: the mapping ring must still have those of every held
	// byte when the bytes are placed.
	heldMapsMax = mapRing - 1
)

// cand32 is a connection a held subflow may belong to.
type cand32 struct {
	c *conn
	// flip: the held connection's directions are c's the other way
	// round.
	flip bool
	// n counts the mappings in a row that agreed.
	n int
}

// probe32 is the state of a held connection (conn.probe).
type probe32 struct {
	cands [maxCands32]cand32
	ncand int
	// hi is the highest 32-bit DSN counted per direction: a mapping
	// at or below it (sent again, or an older one) is not counted again.
	hi    [2]uint32
	hiSet [2]bool
	// best and bestID: the most agreements a candidate reached, and
	// which, for the finding when the subflow is released.
	best, bestID int
	// rejected counts candidates whose copies of the held bytes
	// differed (the last maxCands32 of them are not taken again);
	// ambiguous counts decisions with more than one candidate.
	rejected, ambiguous int
	rejectedC           [maxCands32]*conn
	// last is the last mapping counted per direction, for the check
	// that no other connection fits as well (unique32).
	last    [2]option.DSS
	lastSet [2]bool
	// fin is where a DATA_FIN seen while held is (32 bits), per
	// direction.
	fin    [2]uint32
	finSet [2]bool
}

// verdict is what one mapping says about a candidate.
type verdict int8

const (
	disagree verdict = -1
	unknown  verdict = 0
	agree    verdict = 1
)

// dataLen32 is the number of data bytes a mapping covers (the DATA_FIN
// counted in its length occupies none).
func dataLen32(o *option.DSS) uint64 {
	n := uint64(o.DataLen)
	if o.DataFIN() && n > 0 {
		n--
	}
	return n
}

// agree32 compares mapping o, on the held connection's direction cd
// (own is its stream of the other direction, nil if none), with stream
// ccd of candidate c: rule 2.
func agree32(own *stream, c *conn, ccd int, o *option.DSS) verdict {
	st, rs := &c.st[ccd], &c.st[1-ccd]
	if (!st.originSet && !st.mapRefSet) || !o.HasDataACK() || !rs.ackRefSet {
		return unknown
	}
	if _, ok := st.distance(uint64(uint32(o.DSN)), false); !ok {
		return disagree
	}
	ack, ref := uint32(o.DataACK), uint32(rs.ackRef)
	if int32(ack-ref) < -dsnWindow32 {
		return disagree
	}
	hi := ref
	if rs.mapEndSet && int32(uint32(rs.mapEnd)-hi) > 0 {
		hi = uint32(rs.mapEnd)
	}
	if own != nil && own.mapEndSet && int32(uint32(own.mapEnd)-hi) > 0 {
		hi = uint32(own.mapEnd)
	}
	if int32(ack-hi) > 0 {
		return disagree
	}
	return agree
}

// waiting reports whether stream st lacks its next byte while it has
// evidence that later bytes exist: data buffered beyond a gap, or a
// DATA_ACK beyond what it has.
func (st *stream) waiting() bool {
	return st.originSet && (!st.ooo.empty() || st.ackSeen && int64(st.ack-(st.origin+st.next)) > 0)
}

// fits32 reports whether mapping o exactly continues stream ccd of c:
// rule 1.
func fits32(c *conn, ccd int, o *option.DSS) bool {
	st := &c.st[ccd]
	d := uint32(o.DSN)
	return st.originSet && d == uint32(st.origin+st.next) ||
		st.mapRefSet && d == uint32(st.mapRef) || st.mapEndSet && d == uint32(st.mapEnd)
}

// eligible32 reports whether c may be a candidate for held connection p.
// A candidate that is held itself (the connection's first subflow seen
// may be, while it is compared with others) is compared but cannot be
// decided on until it is released: it has no data of its own to compare.
func eligible32(p, c *conn) bool {
	return c != p && !c.done && len(c.subflows)+len(p.subflows) <= maxSubflows
}

// fitsAny32 reports whether the first mapping o of sf (direction d), a
// subflow seen without its handshake with no connection found by the
// other rules, exactly continues some connection's data: sf is then held.
func (a *Analyzer) fitsAny32(sf *subflow, d int, o *option.DSS) bool {
	if dataLen32(o) == 0 || !o.HasDataACK() {
		return false
	}
	found := false
	a.candidates32a(uint32(o.DSN), func(c *conn, ccd int) {
		if !found && !c.done && len(c.subflows) < maxSubflows &&
			fits32(c, ccd, o) && agree32(nil, c, ccd, o) == agree {
			found = true
		}
	})
	return found
}

// probe32 weighs mapping o of held connection p (subflow sf, direction
// d) for and against its candidates, and merges or releases p when the
// evidence decides.
func (a *Analyzer) probe32(p *conn, sf *subflow, d int, o *option.DSS, ts time.Time) {
	pr := p.probe
	cd := sf.connDir(d)
	if o.DataFIN() && o.Flags&option.DSSDSN8 == 0 {
		// Kept for the connection it may join (a held connection has
		// no origin to place it at).
		pr.fin[cd], pr.finSet[cd] = uint32(o.DSN)+uint32(dataLen32(o)), true
	}
	n := dataLen32(o)
	if n == 0 || o.Flags&option.DSSDSN8 != 0 {
		return
	}
	dsn := uint32(o.DSN)
	if !pr.hiSet[cd] || int32(dsn-pr.hi[cd]) > 0 {
		pr.hi[cd], pr.hiSet[cd] = dsn, true
		own := &p.st[1-cd]
		for i := 0; i < pr.ncand; {
			k := &pr.cands[i]
			if !eligible32(p, k.c) {
				pr.drop(i)
				continue
			}
			ccd := cd
			if k.flip {
				ccd = 1 - cd
			}
			switch agree32(own, k.c, ccd, o) {
			case agree:
				k.n++
				if k.n > pr.best {
					pr.best, pr.bestID = k.n, k.c.id
				}
			case disagree:
				pr.drop(i)
				continue
			}
			i++
		}
		pr.last[cd], pr.lastSet[cd] = *o, true
		a.candidates32a(dsn, func(c *conn, ccd int) {
			flip := ccd != cd
			if pr.ncand == maxCands32 || !eligible32(p, c) || pr.tracks(c, flip) ||
				!fits32(c, ccd, o) || agree32(own, c, ccd, o) != agree {
				return
			}
			pr.cands[pr.ncand] = cand32{c: c, flip: flip, n: 1}
			pr.ncand++
			if pr.best == 0 {
				pr.best, pr.bestID = 1, c.id
			}
		})
		if a.decide32(p, ts) {
			return
		}
	}
	switch {
	case pr.ncand == 0:
		a.release32(p, ts, "no connection's data sequence agrees with its mappings")
	case sf.h[d].heldMaps >= heldMapsMax:
		a.release32(p, ts, fmt.Sprintf("%d mappings held without a decision", heldMapsMax))
	}
}

// tracks reports whether c (with flip) is a candidate, or was rejected.
func (pr *probe32) tracks(c *conn, flip bool) bool {
	for _, k := range pr.cands[:pr.ncand] {
		if k.c == c && k.flip == flip {
			return true
		}
	}
	for _, x := range pr.rejectedC {
		if x == c {
			return true
		}
	}
	return false
}

func (pr *probe32) drop(i int) {
	pr.ncand--
	pr.cands[i] = pr.cands[pr.ncand]
	pr.cands[pr.ncand] = cand32{}
}

// check32 is the outcome of rule 3 for one candidate.
type check32 struct {
	compared, differ uint64
	// gap: the candidate waits for a byte the held subflow maps (at
	// data offset gapOff of its stream gapDir).
	gap            bool
	gapDir         int
	gapOff, agreed uint64
}

// decide32 applies rule 3 to the candidates that agreed often enough and
// merges p into the only one that passes. It reports whether p was merged
// or released.
func (a *Analyzer) decide32(p *conn, ts time.Time) bool {
	pr := p.probe
	var pass cand32
	var ev check32
	npass := 0
	for i := 0; i < pr.ncand; {
		k := pr.cands[i]
		if k.n < agree32Needed || k.c.probe != nil {
			i++
			continue
		}
		r := a.compare32(p, k, false)
		if r.differ > 0 {
			pr.rejectedC[pr.rejected%maxCands32] = k.c
			pr.rejected++
			pr.drop(i)
			continue
		}
		if r.gap {
			pass, ev = k, r
			npass++
		}
		i++
	}
	switch {
	case npass == 1 && a.unique32(p, pass):
		a.merge32(p, pass, ts, fmt.Sprintf(
			"%d mappings in a row agreed with its data sequence and DATA_ACK; it maps data offset %d of the %s stream, which the connection was waiting for; %d held bytes it also had were identical",
			pass.n, ev.gapOff, dirName(ev.gapDir), ev.compared))
		return true
	case npass > 0:
		pr.ambiguous++
	case pr.ncand == 0:
		a.release32(p, ts, "the bytes it holds differ from the connection's copies")
		return true
	}
	return false
}

// unique32 reports whether no connection other than k.c near the held
// connection's last mappings could own it as well: one that passes rule 3
// and agrees with the last mapping (rule 2), or one that is held itself
// and that the last mapping exactly continues (rule 1; it has no data of
// its own to compare yet). Candidates are followed only as long as they
// fit in the probe; this look covers every connection filed near.
func (a *Analyzer) unique32(p *conn, k cand32) bool {
	pr := p.probe
	other, checks := false, 0
	for cd := range pr.last {
		if !pr.lastSet[cd] || other {
			continue
		}
		o := &pr.last[cd]
		own := &p.st[1-cd]
		a.candidates32a(uint32(o.DSN), func(d *conn, dd int) {
			if other || d == p || d == k.c || d.done || agree32(own, d, dd, o) != agree {
				return
			}
			if d.probe != nil {
				other = fits32(d, dd, o)
				return
			}
			r := a.compare32(p, cand32{c: d, flip: dd != cd}, true)
			if r.gap {
				// Comparing the held bytes costs their length: past a
				// few connections that wait for them, give up (as if
				// one more passed).
				checks++
				other = r.differ == 0 || checks > 2*maxCands32
			}
		})
	}
	return !other
}

// compare32 checks rule 3 for held connection p and candidate k. With
// gapFirst, the content is compared only if the gap test passes (what
// unique32 needs, on many connections).
func (a *Analyzer) compare32(p *conn, k cand32, gapFirst bool) check32 {
	var r check32
	c := k.c
	streamOf := func(sf *subflow, d int) *stream {
		ccd := sf.connDir(d)
		if k.flip {
			ccd = 1 - ccd
		}
		return &c.st[ccd]
	}
	for _, sf := range p.subflows {
		for d := range sf.h {
			h, st := &sf.h[d], streamOf(sf, d)
			if r.gap || !st.waiting() {
				continue
			}
			next := st.origin + st.next
			covers := func(m mapping) bool {
				return m.n != infinite && !m.probe && next-st.expand(m.dsn, false) < m.n
			}
			for i := 0; i < h.nmaps && !r.gap; i++ {
				r.gap = covers(h.maps[i])
			}
			if !r.gap && h.lastMapSeen {
				r.gap = covers(h.lastMap)
			}
			if r.gap {
				r.gapDir, r.gapOff = st.dir, st.next
			}
		}
	}
	if gapFirst && !r.gap {
		return r
	}
	for _, sf := range p.subflows {
		for d := range sf.h {
			h, st := &sf.h[d], streamOf(sf, d)
			for _, pg := range h.pending {
				pos, b := pg.pos, pg.data
				for len(b) > 0 {
					m := h.lookup(pos)
					if m == nil {
						// Not mapped (yet): skip to the next mapping.
						nx := uint64(len(b))
						for i := 0; i < h.nmaps; i++ {
							if o := &h.maps[i]; o.ssn > pos && o.ssn-pos < nx {
								nx = o.ssn - pos
							}
						}
						b, pos = b[nx:], pos+nx
						continue
					}
					nb := min(uint64(len(b)), m.ssn+m.n-pos)
					if !m.probe {
						cmp, diff := st.sameData(st.expand(m.dsn, false)+(pos-m.ssn), b[:nb])
						r.compared += cmp
						r.differ += diff
					}
					b, pos = b[nb:], pos+nb
				}
			}
		}
	}
	return r
}

// sameData compares b, the data at DSN dsn, with the copy st has of the
// same bytes (delivered and still in the history, or buffered): how many
// bytes were compared and how many differ.
func (st *stream) sameData(dsn uint64, b []byte) (compared, differ uint64) {
	if !st.originSet {
		return 0, 0
	}
	off := dsn - st.origin
	if int64(off) < 0 {
		skip := uint64(-int64(off))
		if skip >= uint64(len(b)) {
			return 0, 0
		}
		b, off = b[skip:], 0
	}
	if off > st.next+dsnWindow {
		return 0, 0
	}
	cmp := func(x, y []byte) {
		compared += uint64(len(x))
		if bytes.Equal(x, y) {
			return
		}
		for i := range x {
			if x[i] != y[i] {
				differ++
			}
		}
	}
	if off < st.next {
		n := min(uint64(len(b)), st.next-off)
		if l := uint64(len(st.hist)); l > 0 {
			lo := st.histFrom
			if st.next > l && st.next-l > lo {
				lo = st.next - l
			}
			for o := max(off, lo); o < off+n; {
				i := o % l
				k := min(l-i, off+n-o)
				cmp(st.hist[i:i+k], b[o-off:o-off+k])
				o += k
			}
		}
		b, off = b[n:], off+n
	}
	for len(b) > 0 && !st.ooo.empty() {
		g := st.ooo.at(st.ooo.search(off))
		if g == nil || g.off >= off+uint64(len(b)) {
			break
		}
		lo, hi := max(off, g.off), min(off+uint64(len(b)), g.end())
		cmp(g.data[lo-g.off:hi-g.off], b[lo-off:hi-off])
		b, off = b[hi-off:], hi
	}
	return compared, differ
}

// merge32 moves held connection p into candidate k.c: the data sequence
// numbers p recorded as sent (32 bits) are extended near the candidate's,
// then absorb moves the subflows and places their held bytes.
func (a *Analyzer) merge32(p *conn, k cand32, ts time.Time, evidence string) {
	c := k.c
	to := func(i int) *stream {
		if k.flip {
			return &c.st[1-i]
		}
		return &c.st[i]
	}
	for i := range p.st {
		fs, cs := &p.st[i], to(i)
		fs.mapRef, fs.lowMap, fs.ackRef = cs.expand(fs.mapRef, false), cs.expand(fs.lowMap, false), cs.expand(fs.ackRef, false)
		if fs.mapEndSet {
			if e := cs.expand(fs.mapEnd, false); !cs.mapEndSet || int64(e-cs.mapEnd) > 0 {
				cs.mapEnd, cs.mapEndSet = e, true
			}
		}
		if p.probe.finSet[i] {
			cs.setFin(cs.expand(uint64(p.probe.fin[i]), false))
		}
	}
	for _, sf := range p.subflows {
		for d := range sf.h {
			h := &sf.h[d]
			cs := to(sf.connDir(d))
			for i := 0; i < h.nmaps; i++ {
				h.maps[i].dsn = cs.expand(h.maps[i].dsn, false)
			}
			h.lastMap.dsn = cs.expand(h.lastMap.dsn, false)
		}
	}
	a.absorb(c, p, k.flip, ts, evidence)
}

// release32 ends the hold of p: it stays a connection of its own and its
// held bytes are placed in its streams.
func (a *Analyzer) release32(p *conn, ts time.Time, why string) {
	pr := p.probe
	if pr == nil {
		return
	}
	p.probe = nil
	if pr.best > 0 && len(p.subflows) > 0 {
		sf := p.subflows[0]
		a.finding(p, sf, ts, Info, CodeUnverified, fmt.Sprintf(
			"subflow %v -> %v (32-bit DSNs, no address in common) continued connection %d's data sequence (%d mappings agreed) but was not grouped with it: %s",
			sf.client, sf.server, pr.bestID, pr.best, why))
	}
	a.placeHeld(p, p.subflows, ts)
	for i, ok := range pr.finSet {
		if ok && p.st[i].originSet {
			p.st[i].setFin(p.st[i].expand(uint64(pr.fin[i]), false))
		}
	}
}

// placeHeld hands the payload held on subflows subs (now c's, c not
// held) to c's streams: where a direction's position in the subflow
// sequence space is known, at once; otherwise it waits for a mapping as
// any late subflow's does.
func (a *Analyzer) placeHeld(c *conn, subs []*subflow, ts time.Time) {
	for _, sf := range subs {
		for d := range sf.h {
			h := &sf.h[d]
			h.heldMaps = 0
			if len(h.pending) == 0 || c.done {
				continue
			}
			if h.shiftKnown {
				a.replay(c, sf, d)
			} else {
				a.placeWholeMapping(c, sf, d, ts)
			}
		}
	}
}

// hold32 stashes the payload of a held connection's subflow; past the
// bounds the connection is released and the payload analyzed at once.
func (a *Analyzer) hold32(c *conn, sf *subflow, d int, ts time.Time, start, newFrom uint64, b []byte) {
	if a.stash(&sf.h[d], ts, start, newFrom, b) {
		return
	}
	a.release32(c, ts, "its held bytes reached the bound")
	a.payload(c, sf, d, ts, start, newFrom, b)
}

// settle32 decides every held connection at the end of the capture: a
// last look at the candidates, then release.
func (a *Analyzer) settle32(ts time.Time) {
	for _, c := range a.conns.list {
		if c == nil || c.probe == nil {
			continue
		}
		if !a.decide32(c, ts) {
			a.release32(c, ts, "the capture ended before the evidence sufficed")
		}
	}
}
