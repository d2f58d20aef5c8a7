package analyze

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
)

// role is how a subflow started.
type role uint8

const (
	roleUnknown role = iota // handshake not captured
	roleInitial             // MP_CAPABLE (RFC 8684 §3.1)
	roleJoin                // MP_JOIN (RFC 8684 §3.2)
)

func (r role) String() string {
	switch r {
	case roleInitial:
		return "initial"
	case roleJoin:
		return "join"
	}
	return "unknown"
}

// mapRing is how many recent DSS mappings a subflow direction remembers.
// Mappings are announced ahead of or with their data and a sender rarely
// has more than a few outstanding ones in a retransmission window.
const mapRing = 8

// lateBase is where the relative subflow sequence numbers of a direction
// whose SYN was not captured start (its first byte seen is lateBase+1).
// Sequence numbers are unwrapped near the highest seen, and never below 0:
// this leaves room for the bytes before the first one seen.
const lateBase = 1 << 32

// infinite is the subflow length of an infinite mapping (RFC 8684 §3.3.1,
// data-level length 0): it covers every later byte.
const infinite = ^uint64(0) >> 1

// mapping is one DSS data sequence mapping in a subflow direction: subflow
// bytes [ssn, ssn+n) (relative, 64-bit, in this analyzer's sequence space)
// carry data sequence numbers [dsn, dsn+n).
type mapping struct {
	ssn, n uint64
	dsn    uint64
	// probe marks Linux's MPTCP zero-window probe: one byte mapped at
	// DSN snd_una-1, already acknowledged, whose content is not that
	// byte (net/mptcp/protocol.c, mptcp_sendmsg_frag). It is neither
	// delivered nor compared.
	probe bool
}

// csumAcc accumulates the data of one mapping to verify its DSS checksum
// (RFC 8684 §3.3.1) when the mapping spans several segments.
type csumAcc struct {
	active    bool
	next, end uint64
	dsn       uint64
	ssn32     uint32
	dataLen   uint16
	csum      uint16
	sum       mpcrypto.Sum
}

// half is one direction of a subflow.
type half struct {
	started, isnSet bool
	isn             uint32
	// shift converts this analyzer's relative sequence numbers to the
	// DSS subflow sequence numbers (relative to the real ISN): 0 when the
	// SYN was seen, inferred from a mapping otherwise.
	shift      uint32
	shiftKnown bool
	maxEnd     uint64
	// base is the relative position of the byte before the first one
	// (0, or lateBase without the SYN).
	base uint64

	pkts, bytes, newBytes uint64
	retrans, retransBytes uint64
	reinj, unmapped, data uint64
	fin, rst, sawMapping  bool
	unmappedReported      bool
	heldMaps              uint8 // mappings recorded while held (late32.go)
	maps                  [mapRing]mapping
	nmaps, mapNext        int
	lastMap               mapping
	lastMapSeen           bool
	ck                    csumAcc
	firstNew, lastNew     time.Time
	connBytesAtLastNew    uint64
	// lastAcked is when the other direction's ACK last advanced over
	// this direction's bytes, connBytesAtAcked the connection's bytes
	// then: a subflow whose path died goes on sending, seen from the
	// sender's side, but nothing of it is acknowledged any more.
	lastAcked            time.Time
	connBytesAtAcked     uint64
	ackedSeen            bool
	mapConflictReported  bool
	mapConflicts         uint64
	csumMissingReported  bool
	csumFailures, csumOK uint64
	pending              []pendingSeg
	pendingBytes         int
	// The last acknowledgment and window this direction sent, for the
	// per-packet view's duplicate ACKs (kept only with Config.OnPacket).
	lastAck    uint32
	lastWin    uint16
	lastAckSet bool
	// ackHi is the highest acknowledgment number this direction sent
	// (raw), within what the other one sent: with the other direction's
	// next sequence number it brackets where a RST from there is
	// acceptable (RFC 5961 §3.2).
	ackHi      uint32
	ackHiSet   bool
	rstIgnored uint64
	// rstReported: a finding was made for an ignored RST.
	rstReported bool
}

// subflow is one TCP connection (4-tuple) that is, or may be, part of an
// MPTCP connection.
type subflow struct {
	id             int
	key            flowKey
	client, server netip.AddrPort
	synSeen        bool
	mptcp          bool
	role           role
	conn           *conn
	// same: the subflow's client-to-server direction is the connection's.
	same     bool
	rejected bool
	// unlisted: rejected past maxRejectedListed (counted, not listed).
	unlisted bool
	claimed  *conn
	viaDSN   bool
	orphan   bool

	capSynAck bool

	token      uint32
	nonce      [2]uint32
	haveNonce  [2]bool
	addrID     [2]uint8
	haveAddrID [2]bool
	backup     bool
	truncHMAC  uint64
	haveTrunc  bool
	ackHMAC    [20]byte
	haveAckMAC bool
	hmacOK     int
	hmacFailed bool
	// iniOK and rspOK: the initiator's HMAC (third ACK) and the
	// responder's (SYN/ACK) verified.
	iniOK, rspOK bool
	// unvouched counts payload bytes of a join whose HMAC could have been
	// checked (both keys known) but was not captured: not merged.
	unvouched [2]uint64

	h           [2]half
	first, last time.Time
	end         string
	closed      bool

	// orphan: segments with MPTCP options seen while the subflow belonged
	// to no connection, reported if it never joins one (orphan.go).
	orphanSegs *orphanCounts
}

// canonical orders a 4-tuple so both directions share a key; dir is 0 when
// src is the key's first member.
func canonical(src, dst netip.AddrPort) flowKey {
	if src.Compare(dst) < 0 {
		return flowKey{src, dst}
	}
	return flowKey{dst, src}
}

// unwrap extends a 32-bit relative sequence number to 64 bits, choosing
// the value nearest ref (RFC 9293 sequence arithmetic).
func unwrap(rel uint32, ref uint64) uint64 {
	v := int64(ref) + int64(int32(rel-uint32(ref)))
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// segment runs one TCP segment through the flow table and the MPTCP state.
func (a *Analyzer) segment(s *segment) {
	a.pflags, a.packSet = 0, false
	syn := s.flags&flagSYN != 0
	ack := s.flags&flagACK != 0
	k := canonical(s.src, s.dst)
	sf := a.flows[k]
	var after *conn
	if sf != nil && sf.conn != nil && sf.conn.done && sf.newData(s) {
		// New data on a subflow whose connection ended (FIN, an accepted
		// RST, MP_FASTCLOSE) and was handed over: a receiver that took
		// the end does not take it, one that did not (the end was forged
		// for the capture point, an evasion) does. It is analyzed as a
		// connection of its own, seen without its handshake, and said
		// to follow the one that ended.
		after = sf.conn
		delete(a.flows, k)
		sf = nil
	}
	if sf != nil && syn && !ack && sf.reusedBy(s) {
		// The 4-tuple is reused by a new connection: the old subflow
		// stays with its connection but leaves the flow table, so that a
		// new plain TCP connection's segments are not taken for its. If
		// its end was not captured, it ended now (the sender opened
		// another connection on it): its connection may be over.
		delete(a.flows, k)
		a.flushOrphan(sf)
		if !sf.closed {
			sf.closed = true
			if sf.end == "" {
				sf.end = "reused"
			}
			if c := sf.conn; c != nil && !c.done {
				c.event(Event{Time: s.ts, Type: "subflow_close", Subflow: sf.id, Detail: "reused: a new connection's SYN on the 4-tuple"})
				a.maybeClose(c, s.ts)
			}
		}
		sf = nil
	}
	if sf == nil {
		if h := a.half.m[k]; h != nil {
			switch {
			case isAttempt(s):
				a.attemptPacketInfo(a.attempt(k, s), s)
				return
			case h.refusedBy(s):
				a.giveUp(h, OrphanSYNRefused)
				a.attemptPacketInfo(h, s)
				return
			case s.flags&flagRST != 0:
				// A RST that does not acknowledge the SYN is not
				// acceptable (RFC 9293 §3.10.7.3): the attempt stands.
				a.attemptPacketInfo(h, s)
				return
			}
			sf = a.answered(h)
			a.pflags, a.packSet = 0, false
		} else if isAttempt(s) {
			a.attemptPacketInfo(a.attempt(k, s), s)
			return
		}
	}
	if sf == nil {
		if s.nopts == 0 && s.badOpt == nil {
			// Plain TCP: not entered in the flow table, so that plain
			// traffic (a SYN flood included) costs no memory. Only its
			// connection attempts are counted.
			if syn && !ack {
				a.res.PlainTCPFlows++
			}
			if a.cfg.OnPacket != nil {
				a.plainPacketInfo(s)
			}
			return
		}
		sf = a.newSubflow(k, s, 0)
		a.onSubflow(sf, s)
		if c := sf.conn; after != nil && c != nil {
			a.finding(c, sf, s.ts, Warning, CodeDataAfterEnd, fmt.Sprintf(
				"subflow %v -> %v carried new data after connection %d ended (%s): analyzed here as a connection of its own; "+
					"a receiver that accepted the end did not take it (if the end was forged, this is an evasion)",
				sf.client, sf.server, after.id, endName(after)))
		}
		if sf.conn == nil && !sf.rejected {
			a.loose(sf)
		}
		return
	}
	a.onSubflow(sf, s)
}

// onSubflow runs segment s of subflow sf.
func (a *Analyzer) onSubflow(sf *subflow, s *segment) {
	syn := s.flags&flagSYN != 0
	ack := s.flags&flagACK != 0
	d := 0
	if s.src != sf.client {
		d = 1
	}
	h := &sf.h[d]
	if sf.first.IsZero() {
		sf.first = s.ts
	}
	sf.last = s.ts
	h.pkts++
	if s.flags&flagRST != 0 && !a.replaying && !sf.rstAcceptable(d, s) {
		a.ignoreRST(sf, d, s)
		return
	}
	h.bytes += uint64(len(s.payload))
	if s.flags&flagACK != 0 && sf.noteAckNumber(d, s.ack) {
		if o := &sf.h[1-d]; o.data > 0 && sf.conn != nil {
			o.lastAcked, o.ackedSeen = s.ts, true
			o.connBytesAtAcked = sf.conn.st[sf.connDir(1-d)].delivered
		}
	}

	if syn {
		if d == 0 && !ack {
			sf.synSeen = true
		}
		switch {
		case h.isnSet:
		case h.started && s.seq == h.isn:
			// The SYN captured after the first data: the numbering
			// already starts at its ISN.
			h.isnSet = true
			if !h.shiftKnown {
				h.shift, h.shiftKnown = 0, true
			}
		default:
			h.isnSet, h.started, h.isn = true, true, s.seq
			h.shift, h.shiftKnown = 0, true
			h.maxEnd, h.base = 1, 0
		}
	}
	if !h.started {
		// Without the SYN, number from the first byte seen; the shift to
		// the sender's relative numbers is learnt from a mapping. The
		// numbering starts at lateBase so that a mapping that began
		// before the first byte seen (RFC 8684 §3.3.1: one mapping may
		// span many segments) has a place.
		h.started, h.isn = true, s.seq-1
		h.maxEnd, h.base = lateBase+1, lateBase
	}
	start := unwrap(s.seq-h.isn, h.maxEnd)
	if syn {
		start++
	}
	end := start + uint64(len(s.payload))
	newFrom := h.maxEnd
	if len(s.payload) > 0 {
		if end <= h.maxEnd {
			h.retrans++
			h.retransBytes += uint64(len(s.payload))
			a.pflags |= PacketRetransmission
		} else {
			h.newBytes += end - max(start, h.maxEnd)
			h.maxEnd = end
		}
	}
	if s.flags&flagFIN != 0 {
		h.fin = true
		if end+1 > h.maxEnd {
			h.maxEnd = end + 1
		}
	}
	if s.flags&flagRST != 0 {
		h.rst = true
	}

	if s.nopts > 0 {
		sf.mptcp = true
	}
	if s.badOpt != nil {
		a.finding(sf.conn, sf, s.ts, Warning, CodeMalformedOption, fmt.Sprintf("malformed MPTCP option: %v", s.badOpt))
	}

	a.options(sf, d, s, syn, ack)
	if syn && ack && sf.role == roleInitial && !sf.capSynAck && sf.conn != nil && sf.conn.fallback == "" {
		a.fallback(sf.conn, sf, s.ts, "the SYN/ACK carried no MP_CAPABLE")
	}

	if c := sf.conn; c != nil && len(s.payload) > 0 {
		if sf.role == roleJoin && c.verified() && !(d == 0 && sf.iniOK || d == 1 && sf.rspOK) {
			a.unvouchedData(c, sf, d, s)
		} else if c.probe != nil {
			a.hold32(c, sf, d, s.ts, start, newFrom, s.payload)
		} else {
			a.payload(c, sf, d, s.ts, start, newFrom, s.payload)
		}
	}
	if c := sf.conn; c != nil {
		if c.last.Before(s.ts) {
			c.last = s.ts
		}
		a.touch(c)
		a.subflowState(c, sf, s)
	} else if sf.rejected && sf.claimed != nil {
		a.subflowState(nil, sf, s)
	} else if !sf.rejected && (s.nopts > 0 || s.badOpt != nil) {
		a.noteOrphan(sf, s)
	}
	if a.cfg.OnPacket != nil && !a.replaying {
		a.packetInfo(sf, d, s, start)
	}
}

// loose notes a subflow that has no connection after its first segment
// (options that belong to none: a DATA_ACK or an ADD_ADDR of a connection
// not in the capture). Such subflows are bounded like connection
// attempts: past Config.MaxHalfOpen the oldest still without a connection
// is reported with the orphans and leaves the flow table.
func (a *Analyzer) loose(sf *subflow) {
	a.looseQ = append(a.looseQ, sf)
	for len(a.looseQ)-a.looseHead > a.cfg.MaxHalfOpen {
		o := a.looseQ[a.looseHead]
		a.looseQ[a.looseHead] = nil
		a.looseHead++
		if o.conn == nil && (!o.rejected || o.unlisted) && a.flows[o.key] == o {
			delete(a.flows, o.key)
			a.flushOrphan(o)
			a.looseEvicted++
		}
	}
	if a.looseHead > 1024 && a.looseHead > len(a.looseQ)/2 {
		n := copy(a.looseQ, a.looseQ[a.looseHead:])
		clear(a.looseQ[n:])
		a.looseQ, a.looseHead = a.looseQ[:n], 0
	}
}

// reusedBy reports whether SYN s opens a new connection on sf's 4-tuple
// rather than retransmitting the SYN that opened sf: sf is closed, or s
// carries another initial sequence number than the one its sender started
// with (RFC 9293 §3.4.1; TIME_WAIT reuse, or a close the capture missed).
func (sf *subflow) reusedBy(s *segment) bool {
	if sf.closed {
		return true
	}
	d := 0
	if s.src != sf.client {
		d = 1
	}
	h := &sf.h[d]
	return h.started && s.seq != h.isn
}

// newSubflow enters a 4-tuple in the flow table, as subflow id (0: the
// next one).
func (a *Analyzer) newSubflow(k flowKey, s *segment, id int) *subflow {
	if id == 0 {
		a.nextSF++
		id = a.nextSF
	}
	sf := &subflow{id: id, key: k, client: s.src, server: s.dst}
	switch {
	case s.flags&(flagSYN|flagACK) == flagSYN|flagACK:
		sf.client, sf.server = s.dst, s.src
	case s.flags&flagSYN == 0 && s.src.Port() < s.dst.Port():
		// Without the SYN, take the end with the lower port (the
		// well-known one, usually) as the server.
		sf.client, sf.server = s.dst, s.src
	}
	a.flows[k] = sf
	return sf
}

// subflowState records the end of a subflow and closes the connection when
// it is over.
func (a *Analyzer) subflowState(c *conn, sf *subflow, s *segment) {
	if sf.closed {
		return
	}
	switch {
	case s.flags&flagRST != 0:
		if sf.end == "" {
			sf.end = "rst"
		}
	case sf.h[0].fin && sf.h[1].fin:
		if sf.end == "" {
			sf.end = "fin"
		}
	default:
		return
	}
	sf.closed = true
	if c == nil {
		return
	}
	c.event(Event{Time: s.ts, Type: "subflow_close", Subflow: sf.id, Detail: sf.end})
	a.maybeClose(c, s.ts)
}

// packetInfo fills the per-packet view and calls the hook.
func (a *Analyzer) packetInfo(sf *subflow, d int, s *segment, start uint64) {
	pi := &a.pi
	pi.Index = a.res.Packets
	pi.Time = s.ts
	pi.Src, pi.Dst = s.src, s.dst
	pi.Flags = s.flags
	pi.Seq = s.seq - sf.h[d].isn
	pi.Ack = 0
	if sf.h[1-d].started && s.flags&flagACK != 0 {
		pi.Ack = s.ack - sf.h[1-d].isn
	}
	pi.Len = len(s.payload)
	pi.Subflow = sf.id
	pi.Conn, pi.Dir, pi.HasDSN, pi.DSN = 0, d, false, 0
	pi.Rejected = sf.rejected
	if c := sf.conn; c != nil {
		pi.Conn = c.id
		cd := sf.connDir(d)
		pi.Dir = cd
		if len(s.payload) > 0 {
			if m := sf.h[d].lookup(start); m != nil {
				st := &c.st[cd]
				if st.originSet {
					pi.HasDSN = true
					pi.DSN = m.dsn + (start - m.ssn) - st.origin
				}
			}
		}
	}
	pi.Options = s.opts
	pi.Window = s.win
	pi.Source = a.pktSource
	pi.HasDataACK, pi.DataACK = false, 0
	h := &sf.h[d]
	if n := uint64(len(s.payload)); n > 0 {
		if m := h.lookup(start); m != nil && m.ssn == start {
			a.pflags |= PacketMappingStart
		}
		if m := h.lookup(start + n - 1); m != nil && m.n != infinite && m.ssn+m.n == start+n {
			a.pflags |= PacketMappingEnd
		}
	} else if s.flags&(flagSYN|flagFIN|flagRST) == 0 && s.flags&flagACK != 0 && h.lastAckSet &&
		s.ack == h.lastAck && s.win == h.lastWin && s.win != 0 && start == h.maxEnd {
		a.pflags |= PacketDuplicateACK
	}
	if s.flags&flagACK != 0 {
		h.lastAck, h.lastWin, h.lastAckSet = s.ack, s.win, true
	}
	if c := sf.conn; c != nil && a.packSet {
		if st := &c.st[1-sf.connDir(d)]; st.originSet {
			pi.HasDataACK, pi.DataACK = true, a.pack-st.origin
		}
	}
	pi.Analysis = a.pflags
	a.cfg.OnPacket(pi)
}

// plainPacketInfo reports a segment of a flow that is not MPTCP.
func (a *Analyzer) plainPacketInfo(s *segment) {
	pi := &a.pi
	*pi = PacketInfo{Index: a.res.Packets, Time: s.ts, Src: s.src, Dst: s.dst, Flags: s.flags,
		Seq: s.seq, Ack: s.ack, Len: len(s.payload), Options: s.opts, Window: s.win, Source: a.pktSource}
	a.cfg.OnPacket(pi)
}

// connDir maps a subflow direction to the connection's.
func (sf *subflow) connDir(d int) int {
	if sf.same {
		return d
	}
	return 1 - d
}

// lookup returns the mapping that covers relative subflow position pos.
func (h *half) lookup(pos uint64) *mapping {
	// Most recent first: a retransmitted mapping replaces nothing.
	for i := 0; i < h.nmaps; i++ {
		j := (h.mapNext - 1 - i + 2*mapRing) % mapRing
		m := &h.maps[j]
		if pos >= m.ssn && pos-m.ssn < m.n {
			return m
		}
	}
	return nil
}

// addMapping records a mapping, checking it against the ones that cover
// the same subflow bytes. It reports whether it disagreed with one.
func (h *half) addMapping(m mapping) (conflict bool) {
	conflict, same := h.conflicts(m)
	if !same {
		h.insertMapping(m)
	}
	return conflict
}

// conflicts reports whether m maps subflow bytes that an earlier mapping
// maps elsewhere, and whether m is one seen before.
func (h *half) conflicts(m mapping) (conflict, same bool) {
	for i := 0; i < h.nmaps; i++ {
		o := &h.maps[i]
		if o.ssn == m.ssn && o.n == m.n && o.dsn == m.dsn {
			return false, true // the same mapping again (retransmission)
		}
		if m.ssn < o.ssn+o.n && o.ssn < m.ssn+m.n && o.dsn-o.ssn != m.dsn-m.ssn {
			conflict = true
		}
	}
	return conflict, false
}

// insertMapping records m as the most recent mapping.
func (h *half) insertMapping(m mapping) {
	h.maps[h.mapNext] = m
	h.mapNext = (h.mapNext + 1) % mapRing
	if h.nmaps < mapRing {
		h.nmaps++
	}
}

// options handles the MPTCP options of a segment except the data itself.
func (a *Analyzer) options(sf *subflow, d int, s *segment, syn, ack bool) {
	for i := 0; i < s.nopts; i++ {
		o := &s.ov[i]
		switch o.Subtype {
		case option.SubtypeMPCapable:
			a.mpCapable(sf, d, s, &o.MPCapable, syn, ack)
		case option.SubtypeMPJoin:
			a.mpJoin(sf, d, s, &o.MPJoin, syn, ack)
		}
	}
	for i := 0; i < s.nopts; i++ {
		o := &s.ov[i]
		switch o.Subtype {
		case option.SubtypeMPCapable, option.SubtypeMPJoin:
		case option.SubtypeDSS:
			a.dss(sf, d, s, &o.DSS)
		default:
			a.signal(sf, d, s, o)
		}
	}
}

// newData reports whether s carries payload beyond what its sender sent
// on sf before.
func (sf *subflow) newData(s *segment) bool {
	if len(s.payload) == 0 {
		return false
	}
	d := 0
	if s.src != sf.client {
		d = 1
	}
	h := &sf.h[d]
	if !h.started {
		return true
	}
	start := unwrap(s.seq-h.isn, h.maxEnd)
	return start+uint64(len(s.payload)) > h.maxEnd
}

// noteAckNumber records an acknowledgment number sent by direction d (of
// the other direction's bytes), if it acknowledges no more than was sent.
// It reports whether the acknowledged sequence advanced.
func (sf *subflow) noteAckNumber(d int, ack uint32) bool {
	h, o := &sf.h[d], &sf.h[1-d]
	if !o.started {
		return false
	}
	next := o.isn + uint32(o.maxEnd)
	if int32(next-ack) < 0 || next-ack >= 1<<30 {
		return false // beyond what was sent, or far behind: not a real ACK
	}
	if !h.ackHiSet || int32(ack-h.ackHi) > 0 {
		h.ackHi, h.ackHiSet = ack, true
		return true
	}
	return false
}

// rstAcceptable reports whether a real stack would accept RST s from
// direction d of sf (RFC 5961 §3.2): its sequence number is the next one
// the receiver expects. The capture point sees that number only between
// what the receiver acknowledged and what the sender sent, so the RST is
// taken anywhere in that range (and one before it, which Linux accepts
// after a FIN: tcp_reset_check). A RST answering a SYN must acknowledge
// it (RFC 9293 §3.10.7.3). A RST from a direction nothing else was seen
// from cannot be checked and is not accepted.
func (sf *subflow) rstAcceptable(d int, s *segment) bool {
	h, r := &sf.h[d], &sf.h[1-d]
	if !h.started {
		// Answering a SYN (the receiver sent nothing but its SYN).
		return r.isnSet && r.maxEnd == 1 && s.flags&flagACK != 0 && s.ack == r.isn+1
	}
	hi := h.isn + uint32(h.maxEnd)
	lo := hi
	if r.ackHiSet && int32(hi-r.ackHi) >= 0 {
		lo = r.ackHi
	}
	return int32(s.seq-(lo-1)) >= 0 && int32(hi-s.seq) >= 0
}

// ignoreRST records a RST that a real stack would not accept: a finding
// (the first on the subflow), a count, and nothing else: the subflow and
// its connection go on.
func (a *Analyzer) ignoreRST(sf *subflow, d int, s *segment) {
	h := &sf.h[d]
	h.rstIgnored++
	a.pflags |= PacketRSTIgnored
	if sf.conn == nil && !sf.rejected && (s.nopts > 0 || s.badOpt != nil) {
		a.noteOrphan(sf, s) // an MP_TCPRST of no connection seen
	}
	if !h.rstReported && (sf.conn != nil || sf.claimed != nil) {
		h.rstReported = true
		exp := "nothing seen from that side before"
		if h.started {
			hi := h.isn + uint32(h.maxEnd)
			lo := hi
			if r := &sf.h[1-d]; r.ackHiSet && int32(hi-r.ackHi) >= 0 {
				lo = r.ackHi
			}
			exp = fmt.Sprintf("expected %d", lo)
			if hi != lo {
				exp = fmt.Sprintf("expected %d to %d", lo, hi)
			}
		}
		a.finding(sf.conn, sf, s.ts, Warning, CodeRSTIgnored, fmt.Sprintf(
			"RST %v -> %v at sequence number %d (%s) would not be accepted by the receiver (RFC 5961 §3.2): ignored, the subflow is still analyzed (a forged RST ends an analysis that takes any, an IDS evasion)",
			s.src, s.dst, s.seq, exp))
	}
	if a.cfg.OnPacket != nil {
		start := uint64(0)
		if h.started {
			start = unwrap(s.seq-h.isn, h.maxEnd)
		}
		a.packetInfo(sf, d, s, start)
	}
}

// endName says how connection c ended.
func endName(c *conn) string {
	switch {
	case c.fastclose:
		return "MP_FASTCLOSE"
	case c.st[0].finSeen && c.st[1].finSeen:
		return "DATA_FIN"
	case c.fallback != "":
		return "FIN after fallback"
	}
	return "RST"
}

// unvouchedData counts the payload of a join whose sender never proved it
// holds the connection's keys although they are known (RFC 8684 §3.2: the
// HMAC of its SYN/ACK or third ACK was not captured): a stack accepts no
// data on such a subflow, and a forged join with a guessed or sniffed
// token would otherwise put its bytes in the stream. It is not merged.
func (a *Analyzer) unvouchedData(c *conn, sf *subflow, d int, s *segment) {
	if sf.unvouched[0]+sf.unvouched[1] == 0 {
		what := "third ACK"
		if d == 1 {
			what = "SYN/ACK"
		}
		a.finding(c, sf, s.ts, Warning, CodeJoinUnverified, fmt.Sprintf(
			"MP_JOIN %v -> %v: the HMAC of its %s was not captured, so nothing proves the %s holds the connection's keys: its data is not merged (counted as unmapped)",
			sf.client, sf.server, what, [2]string{"initiator", "responder"}[d]))
	}
	sf.unvouched[d] += uint64(len(s.payload))
	sf.h[d].unmapped += uint64(len(s.payload))
}
