package analyze

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/mptcp-go/mptcp/option"
)

// Orphan kinds: what a group of segments that belong to no connection
// carried (Orphan.Kind).
const (
	OrphanSYN         = "syn_unanswered"      // SYN with MP_CAPABLE, never answered
	OrphanJoinSYN     = "join_syn_unanswered" // MP_JOIN SYN to a token never seen, never answered
	OrphanMPCapable   = "mp_capable"          // MP_CAPABLE after the handshake, without one
	OrphanMPJoin      = "mp_join"             // MP_JOIN SYN/ACK or third ACK without the SYN
	OrphanDSS         = "dss"                 // DATA_ACK or DATA_FIN without data of a connection
	OrphanAddAddr     = "add_addr"
	OrphanAddAddrEcho = "add_addr_echo"
	OrphanRemoveAddr  = "remove_addr"
	OrphanMPPrio      = "mp_prio"
	OrphanMPFail      = "mp_fail"
	OrphanFastclose   = "mp_fastclose"
	OrphanTCPRst      = "mp_tcprst" // Detail is the reason (RFC 8684 §3.6)
	OrphanMalformed   = "malformed_option"
)

// Orphan is a group of segments that carry MPTCP options but belong to no
// connection the capture shows: an MP_TCPRST or an ADD_ADDR echo of a
// connection whose handshake was not captured, a SYN with MP_CAPABLE that
// was never answered (a scan, a flood, a blocked path). Segments are
// grouped by kind (and, for MP_TCPRST, reason) and counted by source
// address, so a flood is a few lines, not one per segment.
type Orphan struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail,omitempty"`
	// Segments is the number of segments; Subflows the number of
	// distinct 4-tuples they came on.
	Segments uint64    `json:"segments"`
	Subflows uint64    `json:"subflows"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	// Sources are the senders with the most segments (at most
	// maxOrphanSources listed), most first; OtherSources counts the
	// segments of the senders not listed.
	Sources      []OrphanSource `json:"sources"`
	OtherSources uint64         `json:"other_sources_segments"`
	// Example is one 4-tuple of the group, "src -> dst".
	Example string `json:"example"`
}

// OrphanSource is one sender of orphan segments.
type OrphanSource struct {
	Addr     netip.Addr `json:"addr"`
	Segments uint64     `json:"segments"`
}

// Bounds of the orphan table: a flood of made-up sources or reasons costs
// a fixed amount of memory.
const (
	maxOrphanGroups    = 64
	maxOrphanSources   = 8
	maxOrphanTracked   = 1024 // sources counted per group (Space-Saving past that)
	orphanKindsPerFlow = 3
)

// orphanCount is what one subflow without a connection carried of one
// kind.
type orphanCount struct {
	kind, detail string
	src          netip.AddrPort
	dst          netip.AddrPort
	n            uint64
	first, last  time.Time
}

// orphanCounts are a subflow's orphan segments by kind (the first few
// kinds; later kinds count with the last).
type orphanCounts struct {
	c [orphanKindsPerFlow]orphanCount
	n int
}

// orphanGroup is one Orphan being built.
type orphanGroup struct {
	o       Orphan
	sources topK
}

// orphanTable holds the groups.
type orphanTable struct {
	groups map[[2]string]*orphanGroup
	order  [][2]string
}

// noteOrphan records a segment with MPTCP options on a subflow that has
// no connection (yet): it is reported as an orphan if the subflow never
// joins one (flushOrphan).
func (a *Analyzer) noteOrphan(sf *subflow, s *segment) {
	kind, detail := orphanKindOf(s.ov[:s.nopts], s.badOpt != nil)
	if kind == OrphanMalformed {
		// The parse error says what was wrong (its forms are few: the
		// groups stay bounded, and maxOrphanGroups bounds them anyway).
		detail = s.badOpt.Error()
		if len(detail) > 100 {
			detail = detail[:100]
		}
	}
	if sf.orphanSegs == nil {
		sf.orphanSegs = &orphanCounts{}
	}
	oc := sf.orphanSegs
	var c *orphanCount
	for i := 0; i < oc.n; i++ {
		if oc.c[i].kind == kind && oc.c[i].detail == detail {
			c = &oc.c[i]
			break
		}
	}
	if c == nil {
		if oc.n < len(oc.c) {
			c = &oc.c[oc.n]
			oc.n++
			*c = orphanCount{kind: kind, detail: detail, src: s.src, dst: s.dst, first: s.ts}
		} else {
			c = &oc.c[oc.n-1]
		}
	}
	c.n++
	c.last = s.ts
}

// orphanKindOf names what a segment's MPTCP options are: the first
// signalling option, else DSS.
func orphanKindOf(opts []option.Option, bad bool) (kind, detail string) {
	kind = ""
	for i := range opts {
		o := &opts[i]
		switch o.Subtype {
		case option.SubtypeDSS:
			if kind == "" {
				kind = OrphanDSS
			}
			continue
		case option.SubtypeMPCapable:
			return OrphanMPCapable, ""
		case option.SubtypeMPJoin:
			return OrphanMPJoin, ""
		case option.SubtypeAddAddr:
			if o.AddAddr.Echo {
				return OrphanAddAddrEcho, ""
			}
			return OrphanAddAddr, ""
		case option.SubtypeRemoveAddr:
			return OrphanRemoveAddr, ""
		case option.SubtypeMPPrio:
			return OrphanMPPrio, ""
		case option.SubtypeMPFail:
			return OrphanMPFail, ""
		case option.SubtypeMPFastclose:
			return OrphanFastclose, ""
		case option.SubtypeMPTCPRst:
			return OrphanTCPRst, o.MPTCPRst.Reason.String()
		}
	}
	if kind == "" {
		if bad {
			return OrphanMalformed, ""
		}
		kind = OrphanDSS
	}
	return kind, ""
}

// flushOrphan reports the orphan segments of a subflow that is leaving
// the flow table without having joined a connection.
func (a *Analyzer) flushOrphan(sf *subflow) {
	oc := sf.orphanSegs
	if oc == nil {
		return
	}
	sf.orphanSegs = nil
	if sf.conn != nil || sf.rejected {
		return
	}
	for i := 0; i < oc.n; i++ {
		c := &oc.c[i]
		a.orphans.add(c.kind, c.detail, c.src, c.dst, c.n, 1, c.first, c.last)
	}
}

// add counts n segments (on subflows 4-tuples) of a kind from src.
func (t *orphanTable) add(kind, detail string, src, dst netip.AddrPort, n, subflows uint64, first, last time.Time) {
	if t.groups == nil {
		t.groups = make(map[[2]string]*orphanGroup)
	}
	k := [2]string{kind, detail}
	g := t.groups[k]
	if g == nil {
		if len(t.groups) >= maxOrphanGroups {
			k = [2]string{kind, "(other details)"}
			if g = t.groups[k]; g == nil && len(t.groups) >= maxOrphanGroups+8 {
				k = [2]string{"other", ""}
				g = t.groups[k]
			}
		}
		if g == nil {
			g = &orphanGroup{o: Orphan{Kind: k[0], Detail: k[1], First: first, Last: last,
				Example: src.String() + " -> " + dst.String()}}
			t.groups[k] = g
			t.order = append(t.order, k)
		}
	}
	g.o.Segments += n
	g.o.Subflows += subflows
	if !first.After(g.o.First) {
		if ex := src.String() + " -> " + dst.String(); first.Before(g.o.First) || ex < g.o.Example {
			g.o.First, g.o.Example = first, ex
		}
	}
	if last.After(g.o.Last) {
		g.o.Last = last
	}
	g.sources.add(src.Addr(), n)
}

// result returns the groups, the most segments first.
func (t *orphanTable) result() []Orphan {
	if len(t.order) == 0 {
		return nil
	}
	out := make([]Orphan, 0, len(t.order))
	for _, k := range t.order {
		g := t.groups[k]
		o := g.o
		srcs := g.sources.top(maxOrphanSources)
		var listed uint64
		for _, x := range srcs {
			listed += x.Segments
		}
		o.OtherSources = o.Segments - min(o.Segments, listed)
		o.Sources = srcs
		out = append(out, o)
	}
	slices.SortStableFunc(out, func(x, y Orphan) int {
		if c := cmp.Compare(y.Segments, x.Segments); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Kind, y.Kind); c != 0 {
			return c
		}
		return cmp.Compare(x.Detail, y.Detail)
	})
	return out
}

// unansweredKind returns the orphan kind of a connection that is only an
// unanswered SYN (with MP_CAPABLE, or MP_JOIN to a token never seen), or
// "" for a real connection.
func unansweredKind(c *conn) string {
	if len(c.subflows) != 1 || c.st[0].delivered+c.st[1].delivered > 0 {
		return ""
	}
	sf := c.subflows[0]
	h := &sf.h[0]
	if !sf.synSeen || sf.h[1].pkts > 0 || h.bytes > 0 || h.fin || h.rst {
		return ""
	}
	switch sf.role {
	case roleInitial:
		return OrphanSYN
	case roleJoin:
		return OrphanJoinSYN
	}
	return ""
}

// orphanConn reports connection c, only an unanswered SYN, as an orphan
// and forgets it.
func (a *Analyzer) orphanConn(c *conn, kind string) {
	sf := c.subflows[0]
	a.orphans.add(kind, "", sf.client, sf.server, sf.h[0].pkts, 1, sf.first, sf.last)
	c.orphaned = true
	a.forgetConn(c)
}

// forgetConn removes c from the analyzer's tables.
func (a *Analyzer) forgetConn(c *conn) {
	for side := range c.tokens {
		if c.haveToken[side] && a.tokens[c.tokens[side]] == c {
			delete(a.tokens, c.tokens[side])
		}
	}
	a.removeConn(c)
}

// topK counts segments by source address in bounded memory: exactly for
// the first maxOrphanTracked sources, then by the Space-Saving algorithm
// (Metwally et al., 2005): a new source takes the place of the one
// counted least and starts from its count. Any source with more than
// 1/maxOrphanTracked of the segments is kept, so the heaviest senders of a
// flood are found even behind thousands of made-up ones (counts may then
// be over by at most the count they replaced).
type topK struct {
	idx  map[netip.Addr]*topEntry
	heap []*topEntry // min-heap by count
}

type topEntry struct {
	addr  netip.Addr
	count uint64
	i     int
}

func (t *topK) add(a netip.Addr, n uint64) {
	if t.idx == nil {
		t.idx = make(map[netip.Addr]*topEntry)
	}
	if e := t.idx[a]; e != nil {
		e.count += n
		t.down(e.i)
		return
	}
	if len(t.heap) < maxOrphanTracked {
		e := &topEntry{addr: a, count: n, i: len(t.heap)}
		t.heap = append(t.heap, e)
		t.idx[a] = e
		t.up(e.i)
		return
	}
	e := t.heap[0]
	delete(t.idx, e.addr)
	e.addr, e.count = a, e.count+n
	t.idx[a] = e
	t.down(0)
}

func (t *topK) swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.heap[i].i, t.heap[j].i = i, j
}

func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if t.heap[p].count <= t.heap[i].count {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *topK) down(i int) {
	for {
		l, m := 2*i+1, i
		if l < len(t.heap) && t.heap[l].count < t.heap[m].count {
			m = l
		}
		if r := l + 1; r < len(t.heap) && t.heap[r].count < t.heap[m].count {
			m = r
		}
		if m == i {
			return
		}
		t.swap(i, m)
		i = m
	}
}

// top returns the k sources counted most, most first (by address on ties).
func (t *topK) top(k int) []OrphanSource {
	out := make([]OrphanSource, 0, len(t.heap))
	for _, e := range t.heap {
		out = append(out, OrphanSource{Addr: e.addr, Segments: e.count})
	}
	slices.SortFunc(out, func(x, y OrphanSource) int {
		if c := cmp.Compare(y.Segments, x.Segments); c != 0 {
			return c
		}
		return x.Addr.Compare(y.Addr)
	})
	return out[:min(k, len(out))]
}
