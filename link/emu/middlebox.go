package emu

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/mptcp-go/mptcp/header"
)

// Middleboxes: the on-path devices that RFC 8684 §3.7 (fallback) and §3.3.1
// (DSS checksum) exist for. A firewall or normaliser that does not know
// option 30 removes it; a NAT's application-level gateway rewrites payload
// bytes and fixes the TCP checksum so that TCP still accepts the segment.
// Real devices keep the segment's size (they overwrite options with NOPs,
// not shorten the header), and so do these: the shaper's decision about a
// packet never depends on what a middlebox did to it.
//
// The functions work on IP packets (IPv4 or IPv6, extension headers
// walked) and Ethernet frames (VLAN tags walked), in place, and adjust the
// TCP checksum incrementally (RFC 1624), so they are correct for a first
// fragment too and cost no more than the bytes they change. They assume the
// checksum is complete, as on the lab's emulated paths where checksum
// offload is off.

// StripSet selects the TCP segments whose MPTCP options a middlebox
// removes. The zero value strips nothing.
type StripSet uint8

// Segment classes of a StripSet.
const (
	// StripSYN: SYNs without ACK (MP_CAPABLE and MP_JOIN requests).
	StripSYN StripSet = 1 << iota
	// StripSYNACK: SYN/ACKs (the server's MP_CAPABLE, MP_JOIN replies).
	StripSYNACK
	// StripACK: segments without SYN and without payload (the third ACK's
	// MP_CAPABLE, pure ACKs with DATA_ACK, FIN and RST).
	StripACK
	// StripData: segments without SYN that carry payload: data after the
	// handshake, with its DSS mappings.
	StripData
	// StripAll: every segment.
	StripAll = StripSYN | StripSYNACK | StripACK | StripData
)

var stripNames = [...]struct {
	s    StripSet
	name string
}{{StripSYN, "syn"}, {StripSYNACK, "synack"}, {StripACK, "ack"}, {StripData, "data"}}

// String returns the text form ParseStripSet reads: "all", or class names
// joined by "+" ("syn+synack"); "" for the empty set.
func (s StripSet) String() string {
	if s&StripAll == StripAll {
		return "all"
	}
	var b []string
	for _, n := range stripNames {
		if s&n.s != 0 {
			b = append(b, n.name)
		}
	}
	return strings.Join(b, "+")
}

// ParseStripSet reads "syn", "synack", "ack", "data", "all" or several
// joined by "+" (e.g. "synack+data"). "" and "none" are the empty set.
func ParseStripSet(text string) (StripSet, error) {
	var s StripSet
	if text == "" || text == "none" {
		return 0, nil
	}
	for part := range strings.SplitSeq(text, "+") {
		found := part == "all"
		if found {
			s |= StripAll
		}
		for _, n := range stripNames {
			if part == n.name {
				s |= n.s
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("strip %q: want syn, synack, ack, data or all (joined by +): %w", text, ErrInvalidSpec)
		}
	}
	return s, nil
}

// MarshalText writes the String form (JSON and the lab's state files).
func (s StripSet) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the ParseStripSet form.
func (s *StripSet) UnmarshalText(b []byte) error {
	v, err := ParseStripSet(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Matches reports whether a segment with these flags and payload length
// belongs to one of the set's classes.
func (s StripSet) Matches(flags header.TCPFlags, payload int) bool {
	var c StripSet
	switch {
	case flags&header.TCPFlagSYN != 0 && flags&header.TCPFlagACK != 0:
		c = StripSYNACK
	case flags&header.TCPFlagSYN != 0:
		c = StripSYN
	case payload > 0:
		c = StripData
	default:
		c = StripACK
	}
	return s&c != 0
}

// IPTCP returns the TCP segment of an IPv4 or IPv6 packet (IPv6 extension
// headers walked), bounded by the IP length (link padding excluded), with
// its source and destination addresses. ok is false for anything else: not
// TCP, a malformed header, or a fragment other than the first (which has
// no TCP header). It never panics and never allocates.
func IPTCP(pkt []byte) (seg header.TCP, src, dst netip.Addr, ok bool) {
	if len(pkt) == 0 {
		return nil, src, dst, false
	}
	switch pkt[0] >> 4 {
	case header.IPv4Version:
		ip := header.IPv4(pkt)
		if !ip.Valid() || ip.Protocol() != header.ProtocolTCP || ip.FragmentOffset() != 0 {
			return nil, src, dst, false
		}
		seg = header.TCP(ip.Payload())
		src, dst = ip.SrcAddr(), ip.DstAddr()
	case header.IPv6Version:
		ip := header.IPv6(pkt)
		proto, off, err := ip.UpperLayer()
		if err != nil || proto != header.ProtocolTCP {
			return nil, src, dst, false
		}
		seg = header.TCP(pkt[off : header.IPv6HeaderLen+ip.PayloadLength()])
		src, dst = ip.SrcAddr(), ip.DstAddr()
	default:
		return nil, src, dst, false
	}
	if !seg.Valid() {
		return nil, src, dst, false
	}
	return seg, src, dst, true
}

// FrameIP returns the IP packet of an Ethernet frame (VLAN tags walked),
// or nil if the frame carries no IPv4 or IPv6.
func FrameIP(frame []byte) []byte {
	et, off, ok := header.Ethernet(frame).Network()
	if !ok || et != header.EtherTypeIPv4 && et != header.EtherTypeIPv6 {
		return nil
	}
	return frame[off:]
}

// StripMPTCPOptions overwrites every MPTCP option (kind 30) of seg with
// NOPs, keeping the header's length, and adjusts the TCP checksum. It
// returns how many options it removed. A malformed option list is walked
// up to the first bad length, as a receiver would.
func StripMPTCPOptions(seg header.TCP) int {
	opts := seg.Options()
	if len(opts) == 0 {
		return 0
	}
	// The options start at an even offset of the segment (20) and are a
	// whole number of 16-bit words, so the checksum's change is the change
	// of their one's-complement sum.
	before := header.Checksum(opts, 0)
	n := 0
	it := header.NewTCPOptionIterator(opts)
	for it.Next() {
		if it.Kind() == header.TCPOptMPTCP {
			raw := it.Raw()
			for i := range raw {
				raw[i] = header.TCPOptNOP
			}
			n++
		}
	}
	if n > 0 {
		seg.SetChecksum(checksumAdjust(seg.Checksum(), before, header.Checksum(opts, 0)))
	}
	return n
}

// XORPayloadByte changes the payload byte at index i of seg (XOR with
// mask) and adjusts the TCP checksum so the segment stays valid. It reports
// false, changing nothing, when i is outside the payload or mask is 0.
func XORPayloadByte(seg header.TCP, i int, mask byte) bool {
	p := seg.Payload()
	if i < 0 || i >= len(p) || mask == 0 {
		return false
	}
	// The checksum word holding the byte starts at an even offset of the
	// segment; the payload starts at an even offset (data offset is a
	// multiple of 4), so index parity decides.
	w := p[i&^1 : min(i&^1+2, len(p))]
	before := header.Checksum(w, 0)
	p[i] ^= mask
	seg.SetChecksum(checksumAdjust(seg.Checksum(), before, header.Checksum(w, 0)))
	return true
}

// checksumAdjust returns a stored checksum updated for covered bytes whose
// one's-complement sum went from old to new (RFC 1624 eqn. 3:
// HC' = ~(~HC + ~m + m')).
func checksumAdjust(xsum, old, new uint16) uint16 {
	return ^header.ChecksumCombine(header.ChecksumCombine(^xsum, ^old), new)
}

// MiddleboxStats are a middlebox's counters.
type MiddleboxStats struct {
	// Stripped counts segments whose MPTCP options were overwritten;
	// StrippedOptions the options themselves.
	Stripped        uint64 `json:"stripped,omitempty"`
	StrippedOptions uint64 `json:"stripped_options,omitempty"`
	// Rewritten counts payload bytes changed (one per connection).
	Rewritten uint64 `json:"rewritten,omitempty"`
}

// maxMiddleboxFlows bounds the connections a rewriting middlebox tracks;
// the oldest is forgotten first.
const maxMiddleboxFlows = 4096

// RewriteMask is what the rewriting middlebox XORs into the byte it
// changes: every bit flips, so the byte always differs.
const RewriteMask = 0xff

type flowKey struct{ src, dst netip.AddrPort }

type flowState struct {
	isn  uint32
	done bool
}

// Middlebox applies one direction's Spec.Strip and Spec.Rewrite to the
// packets of that direction, in place. It is not safe for concurrent use
// by several goroutines, except Stats.
type Middlebox struct {
	strip   StripSet
	rewrite uint64

	flows map[flowKey]flowState
	ring  []flowKey // insertion order, for eviction
	head  int

	stripped, strippedOpts, rewritten atomic.Uint64
}

// NewMiddlebox returns the middlebox of spec, or nil when spec asks for
// none (the forwarder's fast path stays a nil check).
func NewMiddlebox(spec Spec) *Middlebox {
	if spec.Strip == 0 && spec.Rewrite == 0 {
		return nil
	}
	m := &Middlebox{strip: spec.Strip, rewrite: spec.Rewrite}
	if m.rewrite > 0 {
		m.flows = make(map[flowKey]flowState)
	}
	return m
}

// Stats returns the counters; safe to call while another goroutine
// processes packets.
func (m *Middlebox) Stats() MiddleboxStats {
	if m == nil {
		return MiddleboxStats{}
	}
	return MiddleboxStats{Stripped: m.stripped.Load(), StrippedOptions: m.strippedOpts.Load(),
		Rewritten: m.rewritten.Load()}
}

// ProcessFrame is Process for an Ethernet frame. Frames that carry no IP
// pass untouched.
func (m *Middlebox) ProcessFrame(frame []byte) bool {
	if ip := FrameIP(frame); ip != nil {
		return m.Process(ip)
	}
	return true
}

// Process rewrites one IP packet in place as the spec says and reports
// whether to forward it (always true: these middleboxes modify, never
// drop). Packets that are not TCP pass untouched.
//
// Rewrite: a connection is learnt from its SYN (or SYN/ACK) in this
// direction; the Rewrite-th byte of its stream (counted from 1 after the
// ISN) is changed the first time a segment carrying it passes, and never
// again, so a retransmission of that byte passes intact. Connections that
// began before the middlebox saw them are left alone.
func (m *Middlebox) Process(pkt []byte) bool {
	seg, src, dst, ok := IPTCP(pkt)
	if !ok {
		return true
	}
	flags := seg.Flags()
	if m.strip != 0 && m.strip.Matches(flags, len(seg.Payload())) {
		if n := StripMPTCPOptions(seg); n > 0 {
			m.stripped.Add(1)
			m.strippedOpts.Add(uint64(n))
		}
	}
	if m.rewrite > 0 {
		m.rewriteSegment(seg, src, dst, flags)
	}
	return true
}

func (m *Middlebox) rewriteSegment(seg header.TCP, src, dst netip.Addr, flags header.TCPFlags) {
	k := flowKey{netip.AddrPortFrom(src, seg.SrcPort()), netip.AddrPortFrom(dst, seg.DstPort())}
	if flags&header.TCPFlagSYN != 0 {
		if st, ok := m.flows[k]; ok && st.isn == seg.Seq() {
			return // a retransmitted SYN
		}
		m.learn(k, seg.Seq())
		return
	}
	st, ok := m.flows[k]
	if !ok || st.done {
		return
	}
	n := len(seg.Payload())
	if n == 0 {
		return
	}
	// The target's sequence number: ISN + Rewrite (the SYN takes ISN).
	target := st.isn + uint32(m.rewrite)
	if off := target - seg.Seq(); off < uint32(n) && XORPayloadByte(seg, int(off), RewriteMask) {
		st.done = true
		m.flows[k] = st
		m.rewritten.Add(1)
	}
}

// learn records a new connection, forgetting the oldest beyond the cap.
func (m *Middlebox) learn(k flowKey, isn uint32) {
	if _, ok := m.flows[k]; !ok {
		if len(m.ring) < maxMiddleboxFlows {
			m.ring = append(m.ring, k)
		} else {
			delete(m.flows, m.ring[m.head])
			m.ring[m.head] = k
			m.head = (m.head + 1) % len(m.ring)
		}
	}
	m.flows[k] = flowState{isn: isn}
}
