package probe

import (
	"net/netip"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
)

// Segment is one TCP segment of the probed connection as it was on the
// wire: what our stack wrote (Out) or what the device delivered.
type Segment struct {
	At       time.Duration // since the tap was made
	Out      bool          // sent by us
	Src, Dst netip.AddrPort
	Flags    header.TCPFlags
	Seq, Ack uint32
	Len      int    // payload bytes
	Options  []byte // the TCP options block (a copy)
}

// MaxSegments bounds what a Tap keeps: the handshake and the first
// exchanges are what the probe judges.
const MaxSegments = 512

// Tap records the TCP segments to and from one remote address and port
// on the endpoints it wraps, before our stack sees them and after it
// wrote them: the probe compares what was sent with what came back. It
// is safe for the concurrent reader and writer of each endpoint.
type Tap struct {
	start time.Time

	mu     sync.Mutex
	remote netip.AddrPort
	segs   []Segment
}

// NewTap returns a tap for segments to and from remote.
func NewTap(remote netip.AddrPort) *Tap {
	return &Tap{start: time.Now(), remote: remote}
}

// Segments returns a copy of what was recorded so far.
func (t *Tap) Segments() []Segment {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Segment(nil), t.segs...)
}

// Wrap returns ep with every packet in and out seen by the tap. (An
// endpoint's offloads are not passed through: the stack reads
// wire-sized packets from the wrapper.)
func (t *Tap) Wrap(ep link.Endpoint) link.Endpoint { return &tapEndpoint{Endpoint: ep, t: t} }

type tapEndpoint struct {
	link.Endpoint
	t *Tap
}

func (e *tapEndpoint) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	n, err := e.Endpoint.ReadPackets(bufs, sizes)
	for i := 0; i < n; i++ {
		e.t.record(bufs[i][:min(sizes[i], len(bufs[i]))], e.LinkType(), false)
	}
	return n, err
}

func (e *tapEndpoint) WritePackets(pkts [][]byte) (int, error) {
	for _, p := range pkts {
		e.t.record(p, e.LinkType(), true)
	}
	return e.Endpoint.WritePackets(pkts)
}

func (t *Tap) record(pkt []byte, lt link.Type, out bool) {
	seg, ok := ParseSegment(pkt, lt)
	if !ok {
		return
	}
	if out && seg.Dst != t.remote || !out && seg.Src != t.remote {
		return
	}
	seg.Out = out
	seg.Options = append([]byte(nil), seg.Options...)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.segs) < MaxSegments {
		seg.At = time.Since(t.start)
		t.segs = append(t.segs, seg)
	}
}

// ParseSegment reads the TCP segment in an Ethernet frame (lt
// link.TypeEthernet) or IP packet (link.TypeIP). Options aliases pkt.
// It reports false for anything else, or anything malformed or cut short.
func ParseSegment(pkt []byte, lt link.Type) (Segment, bool) {
	var s Segment
	if lt == link.TypeEthernet {
		e := header.Ethernet(pkt)
		if !e.Valid() {
			return s, false
		}
		_, off, ok := e.Network()
		if !ok {
			return s, false
		}
		pkt = pkt[off:]
	}
	if len(pkt) < 1 {
		return s, false
	}
	var src, dst netip.Addr
	var tcpb []byte
	switch pkt[0] >> 4 {
	case 4:
		ip := header.IPv4(pkt)
		if !ip.Valid() || ip.Protocol() != 6 || ip.IsFragment() {
			return s, false
		}
		p, ok := ip.PayloadCaptured()
		if !ok {
			return s, false
		}
		src, dst, tcpb = ip.SrcAddr(), ip.DstAddr(), p
	case 6:
		ip := header.IPv6(pkt)
		if !ip.Valid() {
			return s, false
		}
		proto, off, end, err := ip.UpperLayerCaptured()
		if err != nil || proto != 6 || off > end || end > len(pkt) {
			return s, false
		}
		src, dst, tcpb = ip.SrcAddr(), ip.DstAddr(), pkt[off:end]
	default:
		return s, false
	}
	tc := header.TCP(tcpb)
	if !tc.Valid() {
		return s, false
	}
	s.Src, s.Dst = netip.AddrPortFrom(src, tc.SrcPort()), netip.AddrPortFrom(dst, tc.DstPort())
	s.Flags, s.Seq, s.Ack = tc.Flags(), tc.Seq(), tc.Ack()
	s.Options = tc.Options()
	s.Len = len(tcpb) - tc.DataOffset()
	return s, true
}
