package stack

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// IP fragment reassembly: RFC 791 §3.2 / RFC 815 for IPv4, RFC 8200 §4.5
// for IPv6, with RFC 5722's rule on overlaps.
//
// Every fragment of a datagram in progress is kept, copied, in a list
// sorted by offset that never holds two overlapping fragments; the
// datagram is complete when the last fragment (M=0) has fixed its length
// and the bytes received add up to it. Then one buffer is built from the
// first fragment's header (IPv4: its header and options; IPv6: its
// unfragmentable part, with the Fragment header removed) and the data,
// and it takes the path of an unfragmented packet (TCP with its checksum
// verified over the whole datagram, ICMP).
//
// Policy, the same for both families, as Linux since 4.19
// (inet_frag_queue_insert):
//   - a fragment that lies wholly inside one already received and carries
//     the same bytes is a duplicate and ignored (RFC 5722 errata 3089);
//   - any other overlap, including a duplicate range with different
//     bytes, drops the whole datagram (RFC 5722 §4). Its key is forgotten,
//     so fragments of it still in flight start a new datagram that cannot
//     complete (what preceded is gone) and times out;
//   - a fragment that would make the datagram longer than 65535 bytes
//     (IPv4 total length; IPv6 payload length, no jumbograms), a second
//     last fragment with another length, data beyond the last fragment's
//     end, or more than maxReasmFrags fragments drop the datagram;
//   - a fragment other than the last whose data is empty or not a
//     multiple of 8 bytes is dropped alone (counted in IPInHdrErrors;
//     RFC 8200's Parameter Problem is not sent), as is an IPv6 first
//     fragment that does not hold the whole header chain (RFC 7112);
//   - an IPv6 atomic fragment (offset 0, M=0) is processed on its own,
//     without reassembly state (RFC 8200 §4.5, RFC 6946);
//   - NDP messages that arrive fragmented (atomic or not) are ignored
//     (RFC 6980);
//   - ECN (RFC 3168 §5.3): if any fragment was CE and the first is ECT,
//     the datagram is CE; other combinations take the first fragment's.
//
// Limits: Options.ReassemblyTimeout (IPv4, 30 s) / ReassemblyTimeout6
// (IPv6, 60 s) from a datagram's first arriving fragment, on the
// reassembler's clock; Options.ReassemblyMemory (4 MiB) of fragment
// data plus fragOverhead per fragment, and maxReasmDatagrams in progress:
// past either the oldest datagram is dropped. A datagram that times out
// with its first fragment is answered with ICMP Time Exceeded, code 1
// (RFC 792, RFC 4443 §3.3), quoting that fragment, unless it was itself an
// ICMP error or came from a multicast or unspecified source. These
// messages are not rate-limited (at most maxReasmDatagrams per timeout).

const (
	// maxReasmDatagrams bounds the datagrams in progress per stack.
	maxReasmDatagrams = 1024
	// maxReasmFrags bounds one datagram's fragments: 64 KiB over a
	// 296-byte MTU. More drop the datagram (FreeBSD allows 16).
	maxReasmFrags = 256
	// fragOverhead is what each fragment is charged for besides its data.
	fragOverhead = 64
	// maxReasmLen is the largest reassembled IPv4 total length or IPv6
	// payload length.
	maxReasmLen = 65535
)

// reasmKey identifies a datagram: (src, dst, protocol, ID) for IPv4 (RFC
// 791), (src, dst, ID) for IPv6 (RFC 8200; proto is 0).
type reasmKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
}

// frag is a received fragment's data at [off, end) of the datagram.
type frag struct {
	off, end int
	data     []byte
}

// reasmDatagram is a datagram in progress.
type reasmDatagram struct {
	key      reasmKey
	v6       bool
	n        *nic // where the first fragment arrived (Time Exceeded goes out there)
	created  time.Time
	deadline time.Time
	frags    []frag // sorted by off, never overlapping
	charged  int    // bytes counted against the memory cap
	got      int    // data bytes received
	total    int    // datagram data length once the last fragment came, else -1
	// first is a copy of the fragment at offset 0 (IPv4 packet, IPv6
	// packet up to its end), hdrLen its header (IPv4 header, IPv6
	// unfragmentable part up to the Fragment header).
	first   []byte
	hdrLen  int
	nextHdr uint8 // IPv6: the first fragment's Fragment header's Next Header
	ce      bool  // a fragment was marked CE

	prev, next *reasmDatagram // in its family's list, oldest first
}

// reasmList holds one family's datagrams in arrival order, which is
// deadline order (one timeout per family).
type reasmList struct{ head, tail *reasmDatagram }

// reassembler is a Stack's reassembly state; everything is under mu.
type reassembler struct {
	s       *Stack
	mu      sync.Mutex
	now     func() time.Time // the clock (tests replace it), used under mu
	m       map[reasmKey]*reasmDatagram
	lists   [2]reasmList // IPv4, IPv6
	charged int
	timer   *time.Timer
	timerAt time.Time // when timer fires; zero if stopped
	closed  bool
}

func (r *reassembler) init(s *Stack) {
	r.s = s
	r.now = time.Now
	r.m = make(map[reasmKey]*reasmDatagram)
}

// close drops everything and stops the timer.
func (r *reassembler) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
	}
	for _, d := range r.m {
		r.remove(d)
	}
}

// held returns the datagrams in progress and the bytes charged.
func (r *reassembler) held() (datagrams, charged int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m), r.charged
}

func family(v6 bool) int {
	if v6 {
		return 1
	}
	return 0
}

func (r *reassembler) remove(d *reasmDatagram) {
	l := &r.lists[family(d.v6)]
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		l.head = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	} else {
		l.tail = d.prev
	}
	d.prev, d.next = nil, nil
	delete(r.m, d.key)
	r.charged -= d.charged
}

// drop gives d up (counted in IPReasmFails).
func (r *reassembler) drop(d *reasmDatagram) {
	r.remove(d)
	r.s.stats.IPReasmFails.Add(1)
}

// oldest returns the datagram that arrived first, skipping skip.
func (r *reassembler) oldest(skip *reasmDatagram) *reasmDatagram {
	var best *reasmDatagram
	for i := range r.lists {
		d := r.lists[i].head
		if d != nil && d == skip {
			d = d.next
		}
		if d != nil && (best == nil || d.created.Before(best.created)) {
			best = d
		}
	}
	return best
}

func (r *reassembler) timeout(v6 bool) time.Duration {
	if v6 {
		return r.s.opts.ReassemblyTimeout6
	}
	return r.s.opts.ReassemblyTimeout
}

// expireLocked drops the datagrams whose time is up and returns those
// that get a Time Exceeded.
func (r *reassembler) expireLocked(now time.Time) (notify []*reasmDatagram) {
	for i := range r.lists {
		for d := r.lists[i].head; d != nil && !d.deadline.After(now); d = r.lists[i].head {
			r.drop(d)
			r.s.stats.IPReasmTimeout.Add(1)
			if d.first != nil {
				notify = append(notify, d)
			}
		}
	}
	return notify
}

// armLocked makes the timer fire at the earliest deadline.
func (r *reassembler) armLocked(now time.Time) {
	if r.closed {
		return
	}
	var at time.Time
	for i := range r.lists {
		if d := r.lists[i].head; d != nil && (at.IsZero() || d.deadline.Before(at)) {
			at = d.deadline
		}
	}
	if at.IsZero() || at.Equal(r.timerAt) {
		return
	}
	if !r.timerAt.IsZero() && r.timerAt.Before(at) {
		return // fires earlier and re-arms then
	}
	r.timerAt = at
	if r.timer == nil {
		r.timer = time.AfterFunc(at.Sub(now), r.onTimer)
	} else {
		r.timer.Reset(at.Sub(now))
	}
}

func (r *reassembler) onTimer() {
	r.mu.Lock()
	r.timerAt = time.Time{}
	now := r.now()
	notify := r.expireLocked(now)
	r.armLocked(now)
	r.mu.Unlock()
	r.s.timeExceeded(notify)
}

// expire drops the datagrams whose time is up by the reassembler's clock
// and sends their Time Exceeded messages (the timer calls it; tests too).
func (r *reassembler) expire() {
	r.mu.Lock()
	now := r.now()
	notify := r.expireLocked(now)
	r.armLocked(now)
	r.mu.Unlock()
	r.s.timeExceeded(notify)
}

// fragIn describes one received fragment.
type fragIn struct {
	key     reasmKey
	v6      bool
	pkt     []byte // the fragment's IP packet (without link padding)
	hdrLen  int    // IPv4 header length / offset of the IPv6 Fragment header
	off     int    // fragment offset in bytes
	data    []byte // the fragment's data, within pkt
	more    bool
	nextHdr uint8 // IPv6 Fragment header's Next Header
	ce      bool
}

// add takes a fragment and returns the reassembled datagram (IPv4 packet,
// or IPv6 packet without the Fragment header) if it completes one.
func (r *reassembler) add(n *nic, f *fragIn) []byte {
	notify, whole := r.insert(n, f)
	r.s.timeExceeded(notify)
	return whole
}

func (r *reassembler) insert(n *nic, f *fragIn) (notify []*reasmDatagram, whole []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	notify = r.expireLocked(now)
	whole = r.addLocked(n, f, now)
	r.armLocked(now)
	return notify, whole
}

func (r *reassembler) addLocked(n *nic, f *fragIn, now time.Time) []byte {
	end := f.off + len(f.data)
	d := r.m[f.key]
	if d == nil {
		if r.closed {
			return nil
		}
		for len(r.m) >= maxReasmDatagrams {
			r.drop(r.oldest(nil))
		}
		d = &reasmDatagram{key: f.key, v6: f.v6, n: n, created: now, deadline: now.Add(r.timeout(f.v6)), total: -1}
		r.m[f.key] = d
		l := &r.lists[family(f.v6)]
		if l.tail == nil {
			l.head, l.tail = d, d
		} else {
			d.prev, l.tail.next, l.tail = l.tail, d, d
		}
	}
	limit := f.hdrLen + end // IPv4 total length
	if f.v6 {
		limit = f.hdrLen - header.IPv6HeaderLen + end // IPv6 payload length
	}
	last := 0
	if k := len(d.frags); k > 0 {
		last = d.frags[k-1].end
	}
	switch {
	case limit > maxReasmLen,
		!f.more && (d.total >= 0 && d.total != end || last > end),
		f.more && d.total >= 0 && end > d.total,
		len(d.frags) >= maxReasmFrags:
		r.drop(d)
		return nil
	}
	i, _ := slices.BinarySearchFunc(d.frags, f.off+1, func(x frag, off int) int { return x.off - off }) // first with x.off > f.off
	if i > 0 {
		p := d.frags[i-1]
		if p.end > f.off {
			if end <= p.end && bytes.Equal(p.data[f.off-p.off:end-p.off], f.data) {
				return nil // duplicate
			}
			r.drop(d)
			return nil
		}
	}
	if i < len(d.frags) && d.frags[i].off < end {
		r.drop(d)
		return nil
	}
	var data []byte
	charge := fragOverhead
	if f.off == 0 {
		d.first = append([]byte(nil), f.pkt...)
		d.hdrLen, d.nextHdr = f.hdrLen, f.nextHdr
		data = d.first[len(f.pkt)-len(f.data):]
		charge += len(d.first)
	} else {
		data = append([]byte(nil), f.data...)
		charge += len(data)
	}
	d.frags = slices.Insert(d.frags, i, frag{f.off, end, data})
	d.got += len(data)
	d.charged += charge
	r.charged += charge
	d.ce = d.ce || f.ce
	if !f.more {
		d.total = end
	}
	if d.total >= 0 && d.got == d.total && d.first != nil {
		size := d.hdrLen + d.total // with the first fragment's header, which may be longer than others'
		if d.v6 {
			size -= header.IPv6HeaderLen
		}
		if size > maxReasmLen {
			r.drop(d)
			return nil
		}
		r.remove(d)
		r.s.stats.IPReasmOKs.Add(1)
		return d.build()
	}
	for r.charged > r.s.opts.ReassemblyMemory {
		o := r.oldest(d)
		if o == nil {
			o = d
		}
		r.drop(o)
		if o == d {
			break
		}
	}
	return nil
}

// build joins a complete datagram's fragments behind its first
// fragment's header.
func (d *reasmDatagram) build() []byte {
	hl := d.hdrLen
	b := make([]byte, hl+d.total)
	copy(b, d.first[:hl])
	for _, f := range d.frags {
		copy(b[hl+f.off:], f.data)
	}
	if !d.v6 {
		ip := header.IPv4(b)
		ip.SetTotalLength(uint16(len(b)))
		binary.BigEndian.PutUint16(b[6:8], ip.FlagsFragment()&^(header.IPv4FlagMF|0x1fff))
		if d.ce && ip.TOS()&ecnMask != 0 {
			ip.SetTOS(ip.TOS() | ecnCE)
		}
		ip.SetChecksum()
		return b
	}
	// Point the header before the Fragment header at what it carried.
	b[ipv6NextHeaderField(b, hl)] = d.nextHdr
	header.IPv6(b).SetPayloadLength(uint16(len(b) - header.IPv6HeaderLen))
	if d.ce && header.IPv6(b).TrafficClass()&ecnMask != 0 {
		b[1] |= ecnCE << 4
	}
	return b
}

// ipv6NextHeaderField returns the offset of the Next Header field that
// names the header at offset at (the fixed header's or an extension
// header's). The chain up to at was walked by UpperLayerOrFragment.
func ipv6NextHeaderField(b []byte, at int) int {
	field, next, off := 6, b[6], header.IPv6HeaderLen
	for off < at {
		field = off
		n := (int(b[off+1]) + 1) * 8
		if next == header.IPv6AH {
			n = (int(b[off+1]) + 2) * 4
		}
		next = b[off]
		off += n
	}
	return field
}

// ipv4Fragment handles an IPv4 fragment addressed to us.
func (s *Stack) ipv4Fragment(n *nic, ip header.IPv4) {
	s.stats.IPReasmReqds.Add(1)
	data := ip.Payload()
	more := ip.MoreFragments()
	if more && (len(data) == 0 || len(data)%8 != 0) {
		s.stats.IPInHdrErrors.Add(1)
		return
	}
	b := ip[:ip.TotalLength()]
	whole := s.reasm.add(n, &fragIn{
		key: reasmKey{src: ip.SrcAddr(), dst: ip.DstAddr(), id: uint32(ip.ID()), proto: ip.Protocol()},
		pkt: b, hdrLen: ip.HeaderLength(), off: ip.FragmentOffset(), data: data, more: more,
		ce: ip.TOS()&ecnMask == ecnCE,
	})
	if whole != nil {
		s.ipv4Deliver(n, header.IPv4(whole), false)
	}
}

// ipv6Fragment handles an IPv6 packet addressed to us whose Fragment
// header is at offset fo.
func (s *Stack) ipv6Fragment(n *nic, b []byte, fo int) {
	s.stats.IPReasmReqds.Add(1)
	ip := header.IPv6(b)
	end := header.IPv6HeaderLen + ip.PayloadLength()
	fh := header.IPv6FragmentHeader(b[fo:])
	off, more := fh.FragmentOffset(), fh.More()
	data := b[fo+header.IPv6FragmentHeaderLen : end]
	if off == 0 {
		// RFC 7112: the first fragment holds the whole header chain.
		// UpperLayer skips a Fragment header at offset 0.
		proto, uoff, err := ip.UpperLayer()
		if err != nil {
			s.stats.IPInHdrErrors.Add(1)
			return
		}
		if !more {
			// Atomic fragment: a whole packet (RFC 8200 §4.5, RFC 6946).
			s.stats.IPReasmOKs.Add(1)
			s.ipv6DeliverReassembled(n, b[:end], proto, uoff)
			return
		}
	}
	if more && (len(data) == 0 || len(data)%8 != 0) {
		s.stats.IPInHdrErrors.Add(1)
		return
	}
	whole := s.reasm.add(n, &fragIn{
		key: reasmKey{src: ip.SrcAddr(), dst: ip.DstAddr(), id: fh.ID()}, v6: true,
		pkt: b[:end], hdrLen: fo, off: off, data: data, more: more, nextHdr: fh.NextHeader(),
		ce: ip.TrafficClass()&ecnMask == ecnCE,
	})
	if whole == nil {
		return
	}
	proto, uoff, err := header.IPv6(whole).UpperLayer()
	if err != nil {
		s.stats.IPInHdrErrors.Add(1)
		return
	}
	s.ipv6DeliverReassembled(n, whole, proto, uoff)
}

// ipv6DeliverReassembled delivers a reassembled IPv6 packet, except NDP
// messages, which must not come fragmented (RFC 6980 §5).
func (s *Stack) ipv6DeliverReassembled(n *nic, b []byte, proto uint8, off int) {
	if proto == header.ProtocolICMPv6 && off < len(b) {
		switch b[off] {
		case header.ICMPv6RouterSolicit, header.ICMPv6RouterAdvert, header.ICMPv6NeighborSolicit,
			header.ICMPv6NeighborAdvert, 137: // redirect
			return
		}
	}
	s.ipv6Deliver(n, b, proto, off, false)
}

// timeExceeded sends ICMP Time Exceeded, code 1 (fragment reassembly
// time exceeded), for datagrams that timed out with their first fragment
// (RFC 792; RFC 4443 §3.3).
func (s *Stack) timeExceeded(ds []*reasmDatagram) {
	for _, d := range ds {
		src, dst := d.key.src, d.key.dst
		if src.IsUnspecified() || src.IsMulticast() || src == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			continue
		}
		if !d.v6 {
			ip := header.IPv4(d.first)
			if ip.Protocol() == header.ProtocolICMPv4 && len(ip) > d.hdrLen && isICMPv4Error(ip[d.hdrLen]) {
				continue // no error about an error (RFC 1122 §3.2.2)
			}
			// RFC 792: the header and the first 64 bits of the data.
			q := d.first[:min(len(d.first), d.hdrLen+8)]
			m := make([]byte, header.ICMPHeaderLen+len(q))
			header.ICMPv4(m).Encode(header.ICMPv4TimeExceeded, 1, 0)
			copy(m[header.ICMPHeaderLen:], q)
			header.ICMPv4(m).SetChecksum()
			s.stats.ICMPOutMsgs.Add(1)
			s.sendIP(d.n, dst, src, header.ProtocolICMPv4, m)
			continue
		}
		if proto, off, err := header.IPv6(d.first).UpperLayer(); err == nil && proto == header.ProtocolICMPv6 &&
			off < len(d.first) && d.first[off] < 128 {
			continue // no error about an error (RFC 4443 §2.4)
		}
		// RFC 4443 §3.3: as much of the packet as fits the minimum MTU.
		q := d.first[:min(len(d.first), header.IPv6MinMTU-header.IPv6HeaderLen-header.ICMPHeaderLen)]
		m := make([]byte, header.ICMPHeaderLen+len(q))
		header.ICMPv6(m).Encode(header.ICMPv6TimeExceeded, 1, 0)
		copy(m[header.ICMPHeaderLen:], q)
		header.ICMPv6(m).SetChecksum(dst, src)
		s.stats.ICMPOutMsgs.Add(1)
		s.sendIP(d.n, dst, src, header.ProtocolICMPv6, m)
	}
}

// isICMPv4Error reports whether an ICMPv4 type is an error message.
func isICMPv4Error(typ uint8) bool {
	switch typ {
	case header.ICMPv4DstUnreachable, 4 /* source quench */, 5 /* redirect */, header.ICMPv4TimeExceeded, header.ICMPv4ParamProblem:
		return true
	}
	return false
}

// fragmentOut sends the IP packet pkt (lh bytes of link-header room
// first) that exceeds n's MTU as fragments: IPv4 without DF (RFC 791
// §3.2), IPv6 with a Fragment header (RFC 8200 §4.5). Only sendIP's
// control packets come here (an echo reply to a large echo request);
// TCP segments always fit the path MTU.
func (s *Stack) fragmentOut(n *nic, nh netip.Addr, pkt []byte, lh int) {
	ip := pkt[lh:]
	v6 := ip[0]>>4 == 6
	hl := header.IPv4MinHeaderLen
	per := (n.mtu - hl) &^ 7
	if v6 {
		hl = header.IPv6HeaderLen
		per = (n.mtu - hl - header.IPv6FragmentHeaderLen) &^ 7
	}
	data := ip[hl:]
	if per <= 0 || (!v6 && len(data) > maxReasmLen-hl) {
		s.stats.LinkDrops.Add(1)
		return
	}
	id := s.ipID.Add(1)
	// Counted before sending, so whoever sees a fragment sees the counts.
	s.stats.IPFragOKs.Add(1)
	s.stats.IPFragCreates.Add(uint64((len(data) + per - 1) / per))
	for off := 0; off < len(data); off += per {
		chunk := data[off:min(off+per, len(data))]
		more := off+len(chunk) < len(data)
		var f []byte
		if !v6 {
			f = make([]byte, lh+hl+len(chunk))
			copy(f[lh:], ip[:hl])
			h := header.IPv4(f[lh:])
			h.SetTotalLength(uint16(hl + len(chunk)))
			w := uint16(off / 8)
			if more {
				w |= header.IPv4FlagMF
			}
			binary.BigEndian.PutUint16(h[4:6], uint16(id))
			binary.BigEndian.PutUint16(h[6:8], w)
			h.SetChecksum()
			copy(f[lh+hl:], chunk)
		} else {
			fl := hl + header.IPv6FragmentHeaderLen
			f = make([]byte, lh+fl+len(chunk))
			copy(f[lh:], ip[:hl])
			h := header.IPv6(f[lh:])
			h.SetPayloadLength(uint16(header.IPv6FragmentHeaderLen + len(chunk)))
			h[6] = header.IPv6Fragment
			header.IPv6FragmentHeader(h[hl:]).Encode(ip[6], off, more, id)
			copy(f[lh+fl:], chunk)
		}
		n.output(nh, f)
	}
}
