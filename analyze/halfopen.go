package analyze

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/mptcp-go/mptcp/option"
)

// A connection attempt is a SYN with MPTCP options (MP_CAPABLE, RFC 8684
// §3.1, or MP_JOIN, §3.2) on a 4-tuple nothing answered yet. Attempts are
// kept in a bounded table, about 200 bytes each, not as subflows and
// connections (some 3 KB): a flood of SYNs from made-up sources, a scan or
// joins to guessed tokens cost a fixed amount of memory. An attempt
// becomes a subflow when anything comes back on its 4-tuple (its SYNs are
// then analyzed as if they had just arrived); attempts never answered,
// refused with a RST, or evicted (the oldest first, when the table is full
// or after halfOpenIdle) are counted with the orphans, by kind and source,
// and summarised in one finding per kind.

// DefaultMaxHalfOpen is the default of Config.MaxHalfOpen.
const DefaultMaxHalfOpen = 1 << 16

// halfOpenIdle is how long (capture time) an attempt waits for an answer
// after its last SYN before it is given up: longer than the SYN
// retransmission backoff of common stacks (Linux: 1, 2, 4 ... 64 s).
const halfOpenIdle = 2 * time.Minute

// OrphanSYNRefused is the orphan kind of connection attempts (a SYN with
// MP_CAPABLE or MP_JOIN) answered with a RST.
const OrphanSYNRefused = "syn_refused"

// halfOpen is one connection attempt.
type halfOpen struct {
	key flowKey
	// fromA: the SYN's source is key.a.
	fromA       bool
	seq         uint32
	syns        uint32
	first, last time.Time
	kind        string // orphan kind if it is never answered
	token       uint32 // MP_JOIN's token
	join        bool
	dead        bool
	// connID and sfID are the IDs the connection (0: none, or a join to
	// a connection the capture has) and the subflow get if the attempt
	// is answered, given when the SYN came so that the per-packet view
	// shows them from the first packet on.
	connID, sfID int
	// syn is the first SYN's options; later a retransmitted SYN whose
	// options differ (another key: RFC 6824 §3.1).
	syn   synSnap
	later *synSnap
}

// synSnap is what a SYN carried that its analysis needs.
type synSnap struct {
	ts  time.Time
	win uint16
	n   uint8
	b   [40]byte
}

func (h *halfOpen) src() netip.AddrPort {
	if h.fromA {
		return h.key.a
	}
	return h.key.b
}

func (h *halfOpen) dst() netip.AddrPort {
	if h.fromA {
		return h.key.b
	}
	return h.key.a
}

// halfOpenTable holds the attempts: a map by 4-tuple and a queue in the
// order they were made, for eviction.
type halfOpenTable struct {
	m     map[flowKey]*halfOpen
	queue []*halfOpen
	head  int
	// idQ are the attempts that hold a connection ID, in ID order (dead
	// ones skipped from idHead).
	idQ    []*halfOpen
	idHead int
	// evicted counts attempts given up because the table was full, by
	// kind.
	evicted map[string]uint64
}

// isAttempt reports whether s opens a connection attempt: a SYN without
// ACK, RST, FIN or payload, carrying MPTCP options.
func isAttempt(s *segment) bool {
	return s.flags&(flagSYN|flagACK|flagRST|flagFIN) == flagSYN && len(s.payload) == 0 && (s.nopts > 0 || s.badOpt != nil)
}

// attempt records SYN s (isAttempt) on 4-tuple k, where no subflow is,
// and returns its attempt.
func (a *Analyzer) attempt(k flowKey, s *segment) *halfOpen {
	t := &a.half
	if h := t.m[k]; h != nil {
		if h.src() == s.src && h.seq == s.seq {
			// A retransmission (RFC 9293 §3.8.1).
			h.syns++
			h.last = s.ts
			if h.later == nil && !h.syn.same(s) || h.later != nil && !h.later.same(s) {
				h.later = &synSnap{}
				h.later.set(s)
			}
			return h
		}
		// Another ISN on the 4-tuple: a new attempt; the old one was not
		// answered.
		a.giveUp(h, "")
	}
	if t.m == nil {
		t.m = make(map[flowKey]*halfOpen)
	}
	h := &halfOpen{key: k, fromA: s.src == k.a, seq: s.seq, syns: 1, first: s.ts, last: s.ts}
	h.syn.set(s)
	h.kind, _ = orphanKindOf(s.ov[:s.nopts], s.badOpt != nil)
	for i := range s.nopts {
		switch o := &s.ov[i]; o.Subtype {
		case option.SubtypeMPCapable:
			h.kind = OrphanSYN
		case option.SubtypeMPJoin:
			if o.MPJoin.Stage == option.JoinSYN {
				h.kind, h.join, h.token = OrphanJoinSYN, true, o.MPJoin.Token
			}
		}
		if h.kind == OrphanSYN || h.join {
			break
		}
	}
	a.nextSF++
	h.sfID = a.nextSF
	if h.kind == OrphanSYN || h.join && a.tokens[h.token] == nil {
		a.nextConn++
		h.connID = a.nextConn
		t.idQ = append(t.idQ, h)
	}
	t.m[k] = h
	t.queue = append(t.queue, h)
	a.expireAttempts(s.ts)
	return h
}

func (sn *synSnap) set(s *segment) {
	sn.ts, sn.win, sn.n = s.ts, s.win, uint8(copy(sn.b[:], s.opts))
}

func (sn *synSnap) same(s *segment) bool {
	return string(sn.b[:sn.n]) == string(s.opts)
}

// expireAttempts gives up the oldest attempts while the table holds more
// than its bound or the oldest waited longer than halfOpenIdle.
func (a *Analyzer) expireAttempts(now time.Time) {
	t := &a.half
	defer a.minAttemptID() // drops the attempts given up from idQ
	for t.head < len(t.queue) {
		h := t.queue[t.head]
		switch {
		case h.dead:
		case len(t.m) > a.cfg.MaxHalfOpen:
			if t.evicted == nil {
				t.evicted = make(map[string]uint64)
			}
			t.evicted[h.kind]++
			a.giveUp(h, "")
		case now.Sub(h.last) > halfOpenIdle:
			a.giveUp(h, "")
		default:
			return
		}
		t.queue[t.head] = nil
		t.head++
		if t.head > 1024 && t.head > len(t.queue)/2 {
			n := copy(t.queue, t.queue[t.head:])
			clear(t.queue[n:])
			t.queue, t.head = t.queue[:n], 0
		}
	}
}

// giveUp counts attempt h as an orphan (of its kind, or kind when given)
// and removes it.
func (a *Analyzer) giveUp(h *halfOpen, kind string) {
	if h.dead {
		return
	}
	h.dead = true
	delete(a.half.m, h.key)
	if kind == "" {
		kind = h.kind
		if c := a.tokens[h.token]; h.join && c != nil && !c.done {
			// A join to a connection the capture has, never answered:
			// that connection's own (one finding there, not a subflow
			// each).
			c.joinsUnanswered += uint64(h.syns)
			c.joinAttempts++
			if c.joinAttempts == 1 {
				c.joinExample = h.src().String() + " -> " + h.dst().String()
			}
			return
		}
	}
	a.orphans.add(kind, "", h.src(), h.dst(), uint64(h.syns), 1, h.first, h.last)
}

// answered turns attempt h into a subflow now that a segment came back on
// its 4-tuple: its SYNs are analyzed first, as they were captured (without
// the per-packet hook: it saw them when they came).
func (a *Analyzer) answered(h *halfOpen) *subflow {
	h.dead = true
	delete(a.half.m, h.key)
	var sf *subflow
	for _, sn := range [2]*synSnap{&h.syn, h.later} {
		if sn == nil {
			continue
		}
		r := &a.rseg
		*r = segment{ts: sn.ts, src: h.src(), dst: h.dst(), seq: h.seq, flags: flagSYN, win: sn.win,
			opts: sn.b[:sn.n], ov: &a.ropts}
		a.parseOptions(r)
		if sf == nil {
			sf = a.newSubflow(h.key, r, h.sfID)
		}
		a.replaying, a.presetConn = true, h.connID
		a.onSubflow(sf, r)
		a.replaying, a.presetConn = false, 0
	}
	sf.h[0].pkts = uint64(h.syns)
	sf.first, sf.last = h.first, h.last
	return sf
}

// refusedBy reports whether segment s refuses attempt h: a RST from its
// destination that acknowledges the SYN (RFC 9293 §3.10.7.3: in SYN-SENT a
// RST is acceptable only if it acknowledges the SYN).
func (h *halfOpen) refusedBy(s *segment) bool {
	return s.flags&(flagRST|flagACK) == flagRST|flagACK && s.src == h.dst() && s.ack == h.seq+1
}

// giveUpAll ends every attempt still waiting (end of the capture).
func (a *Analyzer) giveUpAll() {
	t := &a.half
	for _, h := range t.queue[t.head:] {
		if h != nil {
			a.giveUp(h, "")
		}
	}
	t.queue, t.head = nil, 0
	t.idQ, t.idHead = nil, 0
}

// attemptFindings summarises connection attempts that never became
// connections: one finding per kind, with counts and the top sources.
func (a *Analyzer) attemptFindings(orphans []Orphan) []Finding {
	var out []Finding
	for i := range orphans {
		o := &orphans[i]
		var f Finding
		switch o.Kind {
		case OrphanSYN:
			f = Finding{Severity: Info, Code: CodeSYNUnanswered, Message: fmt.Sprintf(
				"%d connection attempts (SYN with MP_CAPABLE, %d segments) were never answered", o.Subflows, o.Segments)}
		case OrphanJoinSYN:
			f = Finding{Severity: Warning, Code: CodeJoinNoConn, Message: fmt.Sprintf(
				"%d MP_JOIN SYNs (%d attempts) to tokens of no connection in the capture were never answered (RFC 8684 §3.2: a receiver resets a join to an unknown token; many are a scan or token guessing)", o.Segments, o.Subflows)}
		case OrphanSYNRefused:
			f = Finding{Severity: Info, Code: CodeSYNRefused, Message: fmt.Sprintf(
				"%d connection attempts with MPTCP options were refused with a RST", o.Subflows)}
		default:
			continue
		}
		f.Time = o.First
		f.Message += sourcesText(o)
		if n := a.half.evicted[o.Kind]; n > 0 {
			if f.Severity == Info {
				f.Severity = Warning
			}
			f.Message += fmt.Sprintf("; %d were given up before the end of the capture to hold at most %d attempts at once (a flood)", n, a.cfg.MaxHalfOpen)
		}
		out = append(out, f)
	}
	for _, o := range a.rejectedMore.result() {
		out = append(out, Finding{Time: o.First, Severity: Error, Code: CodeJoinHMAC, Message: fmt.Sprintf(
			"%d more joins whose HMAC does not verify (%d segments) are not listed with the rejected subflows (at most %d are)%s",
			o.Subflows, o.Segments, maxRejectedListed, sourcesText(&o))})
	}
	if a.badTS > 0 {
		out = append(out, Finding{Time: a.res.First, Severity: Warning, Code: CodeTimestamp, Message: fmt.Sprintf(
			"%d packets (the first is packet %d) have timestamps outside the years 1 to 9999 (a corrupt record or interface timestamp resolution/offset): each was analyzed at the time of the packet before it",
			a.badTS, a.badTSFirst)})
	}
	if a.connsEvicted > 0 {
		out = append(out, Finding{Time: a.res.Last, Severity: Warning, Code: CodeTableFull, Message: fmt.Sprintf(
			"%d connections were given up before their end to hold at most %d open at once (each says so)", a.connsEvicted, a.cfg.MaxConnections)})
	}
	if a.looseEvicted > 0 {
		out = append(out, Finding{Time: a.res.Last, Severity: Warning, Code: CodeTableFull, Message: fmt.Sprintf(
			"%d subflows with MPTCP options but no connection were given up to hold at most %d at once; their segments are counted with the orphans", a.looseEvicted, a.cfg.MaxHalfOpen)})
	}
	return out
}

// sourcesText lists an orphan group's top sources: "; from 198.18.0.1 (12),
// ... and 40 segments from others".
func sourcesText(o *Orphan) string {
	if len(o.Sources) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("; from ")
	for i, s := range o.Sources {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%v (%d)", s.Addr, s.Segments)
	}
	if o.OtherSources > 0 {
		fmt.Fprintf(&b, " and %d segments from other sources", o.OtherSources)
	}
	return b.String()
}

// attemptPacketInfo reports a segment of connection attempt h (not a
// subflow yet) to the per-packet hook, with the IDs it will have.
func (a *Analyzer) attemptPacketInfo(h *halfOpen, s *segment) {
	if a.cfg.OnPacket == nil {
		return
	}
	pi := &a.pi
	*pi = PacketInfo{Index: a.res.Packets, Time: s.ts, Src: s.src, Dst: s.dst, Flags: s.flags,
		Seq: s.seq - h.seq, Len: len(s.payload), Options: s.opts, Window: s.win, Source: a.pktSource,
		Conn: h.connID, Subflow: h.sfID}
	if c := a.tokens[h.token]; h.join && h.connID == 0 && c != nil {
		pi.Conn = c.id
	}
	if s.src != h.src() {
		pi.Dir = 1
		if s.flags&flagACK != 0 {
			pi.Ack = s.ack - h.seq
		}
	}
	a.cfg.OnPacket(pi)
}

// minAttemptID returns the lowest connection ID an attempt still waiting
// holds (0: none).
func (a *Analyzer) minAttemptID() int {
	t := &a.half
	for t.idHead < len(t.idQ) {
		if h := t.idQ[t.idHead]; !h.dead {
			return h.connID
		}
		t.idQ[t.idHead] = nil
		t.idHead++
		if t.idHead > 1024 && t.idHead > len(t.idQ)/2 {
			n := copy(t.idQ, t.idQ[t.idHead:])
			clear(t.idQ[n:])
			t.idQ, t.idHead = t.idQ[:n], 0
		}
	}
	t.idQ, t.idHead = t.idQ[:0], 0
	return 0
}
