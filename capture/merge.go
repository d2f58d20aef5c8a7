package capture

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Merger reads several captures as one, in timestamp order: subflows of
// one MPTCP connection are often captured on different links (a Wi-Fi
// access point and a cellular gateway). Each packet's Source is the index
// of its input.
//
// Input errors do not stop the other inputs: a corrupt record is skipped
// when its reader can resynchronize, a truncated input ends that input
// only. Errors are kept (Errors) rather than returned, so Next returns
// io.EOF only once every input has ended.
//
// With Dedup, a packet that another input already delivered (the same TCP
// segment seen at two capture points: both ends of a path, or two
// interfaces of one host) is dropped, and the time between the two
// sightings is recorded as a one-way delay (OneWayDelays).
type Merger struct {
	names []string
	srcs  []Source
	head  []Packet
	ok    []bool // head holds a packet
	live  []bool // the input has more
	last  []string
	cur   int // input of the packet returned last (to advance), -1 none
	stats []InputStats
	errs  []InputError

	dedup   bool
	window  time.Duration
	seed    maphash.Seed
	seen    map[uint64]sighting
	ring    []uint64
	ringPos int
	owdMu   sync.Mutex // owd is read by DelaysFor while Next runs
	owd     map[[2]netip.AddrPort][]*OneWayDelay
	owdN    int
}

// InputStats counts what one input delivered.
type InputStats struct {
	Name       string
	Packets    uint64 // packets read
	Duplicates uint64 // packets dropped as copies of another input's
}

// InputError is an error of one input, after its first Packets packets.
type InputError struct {
	Input   int
	Name    string
	Packets uint64
	Err     error
}

func (e InputError) Error() string {
	return fmt.Sprintf("%s: after packet %d: %v", e.Name, e.Packets, e.Err)
}

// Unwrap returns the reader's error.
func (e InputError) Unwrap() error { return e.Err }

// OneWayDelay summarizes the delays of one direction of a 4-tuple between
// two capture points: the packets From saw first and To saw later.
type OneWayDelay struct {
	Src, Dst      netip.AddrPort
	From, To      int // inputs
	Count         uint64
	Min, Max, Sum time.Duration
}

type sighting struct {
	src int
	ts  time.Time
}

// Bounds of duplicate detection: fingerprints are kept for DedupWindow of
// capture time and at most dedupEntries of them; one-way delays for at
// most maxOWDKeys 4-tuple directions.
const (
	DedupWindow  = 10 * time.Second
	dedupEntries = 1 << 18
	maxOWDKeys   = 1 << 16
)

// NewMerger returns a Merger over srcs; names name them in errors.
func NewMerger(names []string, srcs []Source, dedup bool) *Merger {
	n := len(srcs)
	m := &Merger{names: names, srcs: srcs, head: make([]Packet, n), ok: make([]bool, n),
		live: make([]bool, n), last: make([]string, n), cur: -1, stats: make([]InputStats, n), dedup: dedup && n > 1}
	for i := range n {
		m.live[i] = true
		m.stats[i].Name = names[i]
	}
	if m.dedup {
		m.window = DedupWindow
		m.seed = maphash.MakeSeed()
		m.seen = make(map[uint64]sighting)
		m.ring = make([]uint64, 0, 1024)
		m.owd = make(map[[2]netip.AddrPort][]*OneWayDelay)
	}
	return m
}

// fill reads the next packet of input i into head[i], recording errors.
func (m *Merger) fill(i int) {
	for m.live[i] && !m.ok[i] {
		p, err := m.srcs[i].Next()
		if err == nil {
			p.Source = i
			m.head[i], m.ok[i] = p, true
			m.last[i] = ""
			m.stats[i].Packets++
			return
		}
		if errors.Is(err, io.EOF) {
			m.live[i] = false
			return
		}
		// The same rules as a single input (analyze.ReadSource): a corrupt
		// record is skipped if the reader resynchronizes; the same error
		// twice, a truncated input or any other error ends the input.
		msg := err.Error()
		if msg != m.last[i] {
			m.errs = append(m.errs, InputError{Input: i, Name: m.names[i], Packets: m.stats[i].Packets, Err: err})
		}
		if msg == m.last[i] || !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrUnknownFormat) {
			m.live[i] = false
			return
		}
		m.last[i] = msg
	}
}

// Next returns the earliest pending packet of all inputs (ties: the
// lower input first). Its Data is valid until the next call.
func (m *Merger) Next() (Packet, error) {
	for {
		if m.cur >= 0 {
			m.ok[m.cur] = false
			m.cur = -1
		}
		best := -1
		for i := range m.srcs {
			m.fill(i)
			if m.ok[i] && (best < 0 || m.head[i].Timestamp.Before(m.head[best].Timestamp)) {
				best = i
			}
		}
		if best < 0 {
			return Packet{}, io.EOF
		}
		m.cur = best
		p := m.head[best]
		if m.dedup && m.duplicate(&p) {
			m.stats[best].Duplicates++
			continue
		}
		return p, nil
	}
}

// duplicate reports whether p is a TCP segment another input already
// delivered within the window, and records the delay.
func (m *Merger) duplicate(p *Packet) bool {
	nw, err := DecodeLink(p.LinkType, p.Data)
	if err != nil {
		return false
	}
	src, dst, key, ok := m.fingerprint(nw)
	if !ok {
		return false
	}
	if s, hit := m.seen[key]; hit && s.src != p.Source && p.Timestamp.Sub(s.ts) <= m.window {
		d := p.Timestamp.Sub(s.ts)
		k := [2]netip.AddrPort{src, dst}
		m.owdMu.Lock()
		defer m.owdMu.Unlock()
		var o *OneWayDelay
		for _, x := range m.owd[k] {
			if x.From == s.src && x.To == p.Source {
				o = x
			}
		}
		if o == nil && m.owdN < maxOWDKeys {
			o = &OneWayDelay{Src: src, Dst: dst, From: s.src, To: p.Source, Min: d, Max: d}
			m.owd[k] = append(m.owd[k], o)
			m.owdN++
		}
		if o != nil {
			o.Count++
			o.Sum += d
			o.Min, o.Max = min(o.Min, d), max(o.Max, d)
		}
		return true
	}
	if _, hit := m.seen[key]; !hit {
		if len(m.ring) < dedupEntries {
			m.ring = append(m.ring, key)
		} else {
			delete(m.seen, m.ring[m.ringPos])
			m.ring[m.ringPos] = key
			m.ringPos = (m.ringPos + 1) % dedupEntries
		}
	}
	m.seen[key] = sighting{p.Source, p.Timestamp}
	return false
}

// fingerprint identifies a TCP segment independently of what routers
// change (TTL, header checksum): addresses, ports, sequence and
// acknowledgment numbers, flags, window, the TCP checksum (which covers
// the payload) and the payload length.
func (m *Merger) fingerprint(nw Network) (src, dst netip.AddrPort, key uint64, ok bool) {
	p := nw.Payload
	var tcp []byte
	var sa, da netip.Addr
	switch nw.Version {
	case 4:
		if len(p) < 20 || p[9] != 6 || binary.BigEndian.Uint16(p[6:8])&0x1fff != 0 {
			return
		}
		hl := int(p[0]&0xf) * 4
		if hl < 20 || hl > len(p) {
			return
		}
		sa, da = netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20]))
		tcp = p[hl:]
	case 6:
		if len(p) < 40 || p[6] != 6 {
			return
		}
		sa, da = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
		tcp = p[40:]
	default:
		return
	}
	if len(tcp) < 20 {
		return
	}
	src = netip.AddrPortFrom(sa, binary.BigEndian.Uint16(tcp[0:2]))
	dst = netip.AddrPortFrom(da, binary.BigEndian.Uint16(tcp[2:4]))
	var h maphash.Hash
	h.SetSeed(m.seed)
	b := sa.As16()
	h.Write(b[:])
	b = da.As16()
	h.Write(b[:])
	h.Write(tcp[:18]) // ports, seq, ack, offset, flags, window, checksum
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(tcp)))
	h.Write(l[:])
	return src, dst, h.Sum64(), true
}

// Errors returns the input errors met so far.
func (m *Merger) Errors() []InputError { return m.errs }

// Stats returns what each input delivered.
func (m *Merger) Stats() []InputStats { return m.stats }

// DelaysFor returns the delays measured so far for segments from src to
// dst, one per pair of inputs. It may be called while another goroutine
// calls Next.
func (m *Merger) DelaysFor(src, dst netip.AddrPort) []OneWayDelay {
	if !m.dedup {
		return nil
	}
	m.owdMu.Lock()
	defer m.owdMu.Unlock()
	var out []OneWayDelay
	for _, o := range m.owd[[2]netip.AddrPort{src, dst}] {
		out = append(out, *o)
	}
	return out
}

// OneWayDelays returns the delays measured between inputs (with Dedup).
func (m *Merger) OneWayDelays() []OneWayDelay {
	m.owdMu.Lock()
	defer m.owdMu.Unlock()
	out := make([]OneWayDelay, 0, m.owdN)
	for _, l := range m.owd {
		for _, o := range l {
			out = append(out, *o)
		}
	}
	slices.SortFunc(out, func(a, b OneWayDelay) int {
		if c := a.Src.Compare(b.Src); c != 0 {
			return c
		}
		if c := a.Dst.Compare(b.Dst); c != 0 {
			return c
		}
		if c := cmp.Compare(a.From, b.From); c != 0 {
			return c
		}
		return cmp.Compare(a.To, b.To)
	})
	return out
}

var _ Source = (*Merger)(nil)
