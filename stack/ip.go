package stack

import (
	"net/netip"

	"github.com/mptcp-go/mptcp/header"
)

// ipInput handles an IPv4 or IPv6 packet received on n. With csumOK the
// TCP checksum is not verified (see link.ChecksumValid).
func (s *Stack) ipInput(n *nic, b []byte, csumOK bool) {
	s.stats.IPInReceives.Add(1)
	if len(b) == 0 {
		return
	}
	switch b[0] >> 4 {
	case 4:
		ip := header.IPv4(b)
		if !ip.Valid() || !ip.ValidChecksum() {
			s.stats.IPInHdrErrors.Add(1)
			return
		}
		dst := ip.DstAddr()
		if !n.hasAddr(dst) {
			s.stats.IPInAddrErrors.Add(1)
			return
		}
		if ip.IsFragment() {
			s.ipv4Fragment(n, ip)
			return
		}
		s.ipv4Deliver(n, ip, csumOK)
	case 6:
		ip := header.IPv6(b)
		proto, off, err := ip.UpperLayerOrFragment()
		if err != nil {
			s.stats.IPInHdrErrors.Add(1)
			return
		}
		dst := ip.DstAddr()
		if !n.hasAddr(dst) {
			// NDP solicitations go to solicited-node multicast groups.
			if !(dst.IsMulticast() && proto == header.ProtocolICMPv6) {
				s.stats.IPInAddrErrors.Add(1)
				return
			}
		}
		if proto == header.IPv6Fragment {
			s.ipv6Fragment(n, b, off)
			return
		}
		s.ipv6Deliver(n, b, proto, off, csumOK)
	default:
		s.stats.IPInHdrErrors.Add(1)
	}
}

// ipv4Deliver hands a whole IPv4 datagram for us to its protocol.
func (s *Stack) ipv4Deliver(n *nic, ip header.IPv4, csumOK bool) {
	s.stats.IPInDelivers.Add(1)
	switch ip.Protocol() {
	case header.ProtocolTCP:
		s.tcpInput(n, ip.SrcAddr(), ip.DstAddr(), ip.Payload(), ip.TOS(), csumOK)
	case header.ProtocolICMPv4:
		s.icmpv4Input(n, ip)
	}
}

// ipv6Deliver hands a whole IPv6 packet whose upper-layer header proto is
// at offset off to its protocol.
func (s *Stack) ipv6Deliver(n *nic, b []byte, proto uint8, off int, csumOK bool) {
	ip := header.IPv6(b)
	end := header.IPv6HeaderLen + ip.PayloadLength()
	s.stats.IPInDelivers.Add(1)
	switch proto {
	case header.ProtocolTCP:
		s.tcpInput(n, ip.SrcAddr(), ip.DstAddr(), b[off:end], ip.TrafficClass(), csumOK)
	case header.ProtocolICMPv6:
		s.icmpv6Input(n, ip.SrcAddr(), ip.DstAddr(), ip.HopLimit(), header.ICMPv6(b[off:end]))
	}
}

// icmpv4Input answers echo requests and passes errors about our TCP
// segments to their connections (RFC 1122 §3.2.2, §4.2.3.9; RFC 1191).
func (s *Stack) icmpv4Input(n *nic, ip header.IPv4) {
	m := header.ICMPv4(ip.Payload())
	if !m.Valid() || !m.ValidChecksum() {
		return
	}
	s.stats.ICMPInMsgs.Add(1)
	switch m.Type() {
	case header.ICMPv4Echo:
		reply := make([]byte, len(m))
		copy(reply, m)
		header.ICMPv4(reply).Encode(header.ICMPv4EchoReply, 0, uint32(m.Ident())<<16|uint32(m.Sequence()))
		header.ICMPv4(reply).SetChecksum()
		s.stats.ICMPOutMsgs.Add(1)
		s.sendIP(n, ip.DstAddr(), ip.SrcAddr(), header.ProtocolICMPv4, reply)
	case header.ICMPv4DstUnreachable:
		inner := header.IPv4(m.Payload())
		if len(inner) < header.IPv4MinHeaderLen || inner[0]>>4 != 4 || inner.Protocol() != header.ProtocolTCP {
			return
		}
		hl := inner.HeaderLength()
		if len(inner) < hl+8 {
			return
		}
		th := header.TCP(inner[hl:])
		k := connKey{netip.AddrPortFrom(inner.SrcAddr(), th.SrcPort()), netip.AddrPortFrom(inner.DstAddr(), th.DstPort())}
		if m.Code() == header.ICMPv4FragNeeded {
			s.icmpToConn(k, int(m.MTU()), false)
		} else {
			hard := m.Code() == header.ICMPv4ProtoUnreach || m.Code() == header.ICMPv4PortUnreachable
			s.icmpToConn(k, 0, hard)
		}
	}
}

func (s *Stack) icmpv6Input(n *nic, src, dst netip.Addr, hopLimit uint8, m header.ICMPv6) {
	if !m.Valid() {
		return
	}
	switch m.Type() {
	case header.ICMPv6NeighborSolicit, header.ICMPv6NeighborAdvert:
		if n.eth {
			n.ndpInput(src, dst, hopLimit, m)
		}
		return
	}
	if !m.ValidChecksum(src, dst) {
		return
	}
	s.stats.ICMPInMsgs.Add(1)
	switch m.Type() {
	case header.ICMPv6EchoRequest:
		if dst.IsMulticast() {
			return
		}
		reply := make([]byte, len(m))
		copy(reply, m)
		reply[0], reply[1] = header.ICMPv6EchoReply, 0
		header.ICMPv6(reply).SetChecksum(dst, src)
		s.stats.ICMPOutMsgs.Add(1)
		s.sendIP(n, dst, src, header.ProtocolICMPv6, reply)
	case header.ICMPv6PacketTooBig, header.ICMPv6DstUnreachable:
		inner := header.IPv6(m.Payload())
		if len(inner) < header.IPv6HeaderLen+8 || inner[6] != header.ProtocolTCP {
			return
		}
		th := header.TCP(inner[header.IPv6HeaderLen:])
		k := connKey{netip.AddrPortFrom(inner.SrcAddr(), th.SrcPort()), netip.AddrPortFrom(inner.DstAddr(), th.DstPort())}
		if m.Type() == header.ICMPv6PacketTooBig {
			s.icmpToConn(k, int(min(m.MTU(), 65535)), false)
		} else {
			s.icmpToConn(k, 0, m.Code() == header.ICMPv6PortUnreachable)
		}
	}
}

func (s *Stack) icmpToConn(k connKey, mtu int, hard bool) {
	s.mu.RLock()
	f := s.flows[k]
	s.mu.RUnlock()
	if f == nil {
		return
	}
	o := f.owner
	o.Lock()
	if f.ep != nil && !f.removed {
		if mtu > 0 {
			f.ep.SetMTU(mtu)
		} else {
			f.ep.HandleICMPUnreachable(hard)
		}
	}
	o.Unlock()
}

// sendIP sends a control packet (ICMP, RST) from src to dst. One larger
// than the interface's MTU (an echo reply to a large echo request) is
// fragmented.
func (s *Stack) sendIP(n *nic, src, dst netip.Addr, proto uint8, payload []byte) {
	nn, nh, _, err := s.route(src, dst)
	if err != nil {
		return
	}
	if n == nil {
		n = nn
	}
	lh := n.linkHeaderLen()
	ihl := header.IPv4MinHeaderLen
	if dst.Is6() {
		ihl = header.IPv6HeaderLen
	}
	pkt := make([]byte, lh+ihl+len(payload))
	s.encodeIP(pkt[lh:], src, dst, proto, len(payload), 0)
	copy(pkt[lh+ihl:], payload)
	if proto == header.ProtocolTCP {
		setTCPChecksum(pkt[lh:], src, dst, ihl)
	}
	s.stats.IPOutRequests.Add(1)
	if ihl+len(payload) > n.mtu {
		s.fragmentOut(n, nh, pkt, lh)
		return
	}
	n.output(nh, pkt)
}

// encodeIP writes an IPv4 or IPv6 header for an upper-layer payload of
// plen bytes into b.
func (s *Stack) encodeIP(b []byte, src, dst netip.Addr, proto uint8, plen int, tos uint8) {
	if dst.Is4() {
		ip := header.IPv4(b)
		ip.Encode(&header.IPv4Fields{TOS: tos, TotalLength: uint16(header.IPv4MinHeaderLen + plen),
			ID: uint16(s.ipID.Add(1)), Flags: header.IPv4FlagDF, TTL: 64, Protocol: proto, Src: src, Dst: dst})
		ip.SetChecksum()
		return
	}
	header.IPv6(b).Encode(&header.IPv6Fields{TrafficClass: tos, PayloadLength: uint16(plen), NextHeader: proto,
		HopLimit: 64, Src: src, Dst: dst})
}

// setTCPChecksum computes the TCP checksum of the IP packet ip whose
// header is ihl bytes long.
func setTCPChecksum(ip []byte, src, dst netip.Addr, ihl int) {
	seg := header.TCP(ip[ihl:])
	seg.SetChecksum(0)
	ps := header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint32(len(seg)))
	seg.SetChecksum(seg.CalculateChecksum(ps))
}

// output sends an IP packet that has lh bytes of room before it for the
// link header (pkt starts with that room) to next hop nh.
func (n *nic) output(nh netip.Addr, pkt []byte) {
	if !n.eth {
		n.write([][]byte{pkt})
		return
	}
	mac, ok := n.resolve(nh, pkt[header.EthernetHeaderLen:])
	if !ok {
		return
	}
	et := header.EtherTypeIPv4
	if nh.Is6() {
		et = header.EtherTypeIPv6
	}
	header.Ethernet(pkt).Encode(mac, n.cfg.MAC, et)
	n.write([][]byte{pkt})
}
