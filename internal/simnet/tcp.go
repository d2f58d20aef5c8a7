package simnet

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/tcp"
)

// TTL (IPv4) and hop limit (IPv6) of the packets TCPOutput builds.
const defaultTTL = 64

// ECN codepoints of the IP header's low two TOS / traffic-class bits
// (RFC 3168 §5).
const (
	ecnECT0 = 0b10
	ecnCE   = 0b11
)

// TCPOut is a tcp.Output that wraps each segment in an IPv4 or IPv6 header
// from src to dst, fills in the TCP checksum and Sends the packet.
type TCPOut struct {
	n        *Net
	src, dst netip.AddrPort
	// ECT, if set, is asked for every segment whether to mark it ECN-capable
	// (ECT(0)); pass the endpoint's SegmentECT.
	ECT func() bool
}

// TCPOutput returns the output of a TCP endpoint at src talking to dst.
// Both must be of one family.
func (n *Net) TCPOutput(src, dst netip.AddrPort) *TCPOut {
	return &TCPOut{n: n, src: src, dst: dst}
}

// OutputSegment implements tcp.Output: hdr (options included, zero
// checksum) and the payload p1+p2 become one IP packet.
func (o *TCPOut) OutputSegment(hdr, p1, p2 []byte) {
	tcpLen := len(hdr) + len(p1) + len(p2)
	ipLen := header.IPv4MinHeaderLen
	if !o.src.Addr().Is4() {
		ipLen = header.IPv6HeaderLen
	}
	buf := o.n.alloc(ipLen + tcpLen)
	var ecn uint8
	if o.ECT != nil && o.ECT() {
		ecn = ecnECT0
	}
	if ipLen == header.IPv4MinHeaderLen {
		o.n.ipID++
		ip := header.IPv4(buf)
		ip.Encode(&header.IPv4Fields{TOS: ecn, TotalLength: uint16(ipLen + tcpLen), ID: o.n.ipID,
			Flags: header.IPv4FlagDF, TTL: defaultTTL, Protocol: header.ProtocolTCP,
			Src: o.src.Addr(), Dst: o.dst.Addr()})
		ip.SetChecksum()
	} else {
		header.IPv6(buf).Encode(&header.IPv6Fields{TrafficClass: ecn, PayloadLength: uint16(tcpLen),
			NextHeader: header.ProtocolTCP, HopLimit: defaultTTL, Src: o.src.Addr(), Dst: o.dst.Addr()})
	}
	seg := header.TCP(buf[ipLen:])
	k := copy(seg, hdr)
	k += copy(seg[k:], p1)
	copy(seg[k:], p2)
	seg.SetChecksum(0)
	seg.SetChecksum(seg.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP,
		o.src.Addr(), o.dst.Addr(), uint32(tcpLen))))
	o.n.sendOwned(buf)
}

var _ tcp.Output = (*TCPOut)(nil)

// ParseTCP reads a TCP segment out of an IPv4 or IPv6 packet (extension
// headers walked) whose IP and TCP checksums verify, as a receiver would
// accept it; fragments are refused. seg's slices point into pkt; seg.CE
// is set for a Congestion Experienced mark. It never panics.
func ParseTCP(pkt []byte) (src, dst netip.AddrPort, seg tcp.Segment, ok bool) {
	var t header.TCP
	var sa, da netip.Addr
	var ecn uint8
	switch {
	case len(pkt) == 0:
		return
	case pkt[0]>>4 == header.IPv4Version:
		ip := header.IPv4(pkt)
		if !ip.Valid() || !ip.ValidChecksum() || ip.IsFragment() || ip.Protocol() != header.ProtocolTCP {
			return
		}
		t, sa, da, ecn = header.TCP(ip.Payload()), ip.SrcAddr(), ip.DstAddr(), ip.TOS()&3
	case pkt[0]>>4 == header.IPv6Version:
		ip := header.IPv6(pkt)
		proto, off, err := ip.UpperLayerOrFragment()
		if err != nil || proto != header.ProtocolTCP {
			return
		}
		t = header.TCP(pkt[off : header.IPv6HeaderLen+ip.PayloadLength()])
		sa, da, ecn = ip.SrcAddr(), ip.DstAddr(), ip.TrafficClass()&3
	default:
		return
	}
	if !t.Valid() || t.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, sa, da, uint32(len(t)))) != 0 {
		return
	}
	seg, ok = tcp.ParseSegment(t)
	seg.CE = ecn == ecnCE
	return netip.AddrPortFrom(sa, t.SrcPort()), netip.AddrPortFrom(da, t.DstPort()), seg, ok
}

// fourTuple names a connection from the host's side.
type fourTuple struct{ local, remote netip.AddrPort }

// Host is a Node holding tcp.Endpoints, one per four-tuple: the simplest
// node for tests of the TCP engine on a Net.
type Host struct {
	n     *Net
	idx   uint64 // the host's place among the nodes: its ISS seeds
	eps   map[fourTuple]*tcp.Endpoint
	order []*tcp.Endpoint // creation order: timers fire deterministically
	// Unmatched counts segments for no endpoint; Bad those that do not
	// parse (bad checksum, not TCP).
	Unmatched, Bad uint64
}

// NewHost attaches a Host with the given addresses.
func (n *Net) NewHost(addrs ...netip.Addr) (*Host, error) {
	h := &Host{n: n, idx: uint64(len(n.nodes)), eps: map[fourTuple]*tcp.Endpoint{}}
	if err := n.Attach(h, addrs...); err != nil {
		return nil, err
	}
	return h, nil
}

// Endpoint creates a tcp.Endpoint for the connection local-remote: the
// config's ports, IP header length and ISS (if zero) are filled in, its
// output is the Net's. Call Connect or Listen on it.
func (h *Host) Endpoint(local, remote netip.AddrPort, cfg tcp.Config) (*tcp.Endpoint, error) {
	k := fourTuple{local, remote}
	if _, ok := h.eps[k]; ok {
		return nil, fmt.Errorf("simnet: endpoint %v-%v exists", local, remote)
	}
	cfg.LocalPort, cfg.RemotePort = local.Port(), remote.Port()
	cfg.IPHeaderLen = header.IPv4MinHeaderLen
	if !local.Addr().Is4() {
		cfg.IPHeaderLen = header.IPv6HeaderLen
	}
	if cfg.ISS == 0 {
		cfg.ISS = uint32(mix(h.n.seed, h.idx<<32|uint64(len(h.order))))
	}
	out := h.n.TCPOutput(local, remote)
	ep := tcp.New(cfg, h.n, out)
	out.ECT = ep.SegmentECT
	h.eps[k] = ep
	h.order = append(h.order, ep)
	return ep, nil
}

// Deliver implements Node.
func (h *Host) Deliver(pkt []byte) {
	src, dst, seg, ok := ParseTCP(pkt)
	if !ok {
		h.Bad++
		return
	}
	ep := h.eps[fourTuple{dst, src}]
	if ep == nil {
		h.Unmatched++
		return
	}
	ep.HandleSegment(&seg)
}

// NextDeadline implements Node.
func (h *Host) NextDeadline() (time.Duration, bool) {
	var t time.Duration
	ok := false
	for _, ep := range h.order {
		if d, due := ep.NextDeadline(); due && (!ok || d < t) {
			t, ok = d, true
		}
	}
	return t, ok
}

// HandleTimers implements Node.
func (h *Host) HandleTimers() {
	now := h.n.now
	for _, ep := range h.order {
		if d, due := ep.NextDeadline(); due && d <= now {
			ep.HandleTimers()
		}
	}
}
