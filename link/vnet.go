package link

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mptcp-go/mptcp/header"
)

// vnetHdrLen is the size of struct virtio_net_hdr, which precedes every
// packet on a TUN opened with IFF_VNET_HDR (little-endian fields on the
// little-endian machines we run on).
const vnetHdrLen = 10

// virtio-net header values (include/uapi/linux/virtio_net.h).
const (
	vnetFlagNeedsCsum = 1
	vnetGSONone       = 0
	vnetGSOTCPv4      = 1
	vnetGSOTCPv6      = 4
	vnetGSOECN        = 0x80
)

var errVnet = errors.New("link: malformed virtio-net packet")

// splitVnet turns b (a virtio-net header and a packet) into ordinary
// packets in bufs: it completes a partial checksum (NEEDS_CSUM) and splits
// a TCP GSO packet into segments of gso_size bytes, each with its own IP
// length, IPv4 ID, TCP sequence number, flags and checksums, as the
// kernel's software GSO would (net/ipv4/tcp_offload.c).
func splitVnet(b []byte, bufs [][]byte, sizes []int) (int, error) {
	return splitVnetFrame(b, 0, bufs, sizes)
}

// splitVnetFrame is splitVnet for packets that start with an l2-byte link
// header (14 for Ethernet through AF_PACKET with PACKET_VNET_HDR, 0 for
// TUN), which every segment gets a copy of. csum_start and hdr_len count
// from the start of the link header, as the kernel writes them.
func splitVnetFrame(b []byte, l2 int, bufs [][]byte, sizes []int) (int, error) {
	if len(b) < vnetHdrLen+l2 || len(bufs) == 0 {
		return 0, errVnet
	}
	flags, gsoType := b[0], b[1]&^vnetGSOECN
	gsoSize := int(binary.LittleEndian.Uint16(b[4:6]))
	csumStart := int(binary.LittleEndian.Uint16(b[6:8]))
	csumOff := int(binary.LittleEndian.Uint16(b[8:10]))
	pkt := b[vnetHdrLen:]
	if gsoType == vnetGSONone {
		if l2 >= 2 && flags&vnetFlagNeedsCsum != 0 {
			// Drop Ethernet padding: the checksum covers the IP packet.
			if et := binary.BigEndian.Uint16(pkt[l2-2 : l2]); et == 0x0800 || et == 0x86dd {
				pkt = pkt[:l2+ipLen(pkt[l2:])]
			}
		}
		if len(bufs[0]) < len(pkt) {
			return 0, fmt.Errorf("packet of %d bytes for a %d-byte buffer: %w", len(pkt), len(bufs[0]), errVnet)
		}
		if flags&vnetFlagNeedsCsum != 0 {
			if csumStart+csumOff+2 > len(pkt) {
				return 0, errVnet
			}
			// CHECKSUM_PARTIAL: the field holds the pseudo-header sum, so
			// the sum from csum_start, field included, is the whole sum.
			binary.BigEndian.PutUint16(pkt[csumStart+csumOff:], ^header.Checksum(pkt[csumStart:], 0))
		}
		sizes[0] = copy(bufs[0], pkt)
		return 1, nil
	}
	if gsoType != vnetGSOTCPv4 && gsoType != vnetGSOTCPv6 || gsoSize == 0 {
		return 0, fmt.Errorf("gso type %d: %w", gsoType, errVnet)
	}
	var iphl int
	lh := pkt[:l2]
	pkt = pkt[l2:]
	var src, dst = header.IPv4(pkt), header.IPv6(pkt)
	v4 := gsoType == vnetGSOTCPv4
	if v4 {
		if !src.Valid() || src.Protocol() != header.ProtocolTCP {
			return 0, errVnet
		}
		iphl = src.HeaderLength()
	} else {
		if !dst.Valid() || dst.NextHeader() != header.ProtocolTCP {
			return 0, errVnet
		}
		iphl = header.IPv6HeaderLen
	}
	tcp := header.TCP(pkt[iphl:])
	if !tcp.Valid() {
		return 0, errVnet
	}
	hl := iphl + tcp.DataOffset()
	payload := pkt[hl:]
	seq := tcp.Seq()
	lastFlags := tcp.Flags()
	var id uint16
	var sa, da = src.SrcAddr, src.DstAddr
	if v4 {
		id = src.ID()
	} else {
		sa, da = dst.SrcAddr, dst.DstAddr
	}
	saddr, daddr := sa(), da()
	if len(payload) == 0 {
		return 0, errVnet
	}
	n := 0
	for off := 0; off < len(payload); n++ {
		if n == len(bufs) {
			return n, fmt.Errorf("super-packet needs more than %d buffers: %w", len(bufs), errVnet)
		}
		seg := min(gsoSize, len(payload)-off)
		if len(bufs[n]) < l2+hl+seg {
			return n, errVnet
		}
		copy(bufs[n], lh)
		out := bufs[n][l2:]
		copy(out, pkt[:hl])
		copy(out[hl:], payload[off:off+seg])
		out = out[:hl+seg]
		if v4 {
			ip := header.IPv4(out)
			ip.SetTotalLength(uint16(hl + seg))
			binary.BigEndian.PutUint16(out[4:6], id+uint16(n))
			ip.SetChecksum()
		} else {
			header.IPv6(out).SetPayloadLength(uint16(hl - header.IPv6HeaderLen + seg))
		}
		th := header.TCP(out[iphl:])
		th.SetSeq(seq + uint32(off))
		f := lastFlags
		if off+seg < len(payload) {
			f &^= header.TCPFlagFIN | header.TCPFlagPSH
		}
		if n > 0 {
			f &^= header.TCPFlagCWR
		}
		th.SetFlags(f)
		th.SetChecksum(0)
		ps := header.PseudoHeaderChecksum(header.ProtocolTCP, saddr, daddr, uint32(len(th)))
		th.SetChecksum(th.CalculateChecksum(ps))
		sizes[n] = l2 + len(out)
		off += seg
	}
	return n, nil
}

// ipLen is the length of the IPv4 or IPv6 packet at the start of b
// according to its header, or len(b) if b is not a valid one.
func ipLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	switch b[0] >> 4 {
	case 4:
		if ip := header.IPv4(b); ip.Valid() && ip.TotalLength() <= len(b) {
			return ip.TotalLength()
		}
	case 6:
		if ip := header.IPv6(b); ip.Valid() && header.IPv6HeaderLen+ip.PayloadLength() <= len(b) {
			return header.IPv6HeaderLen + ip.PayloadLength()
		}
	}
	return len(b)
}

// vnetSegments returns how many packets splitVnetFrame makes of b (a
// virtio-net header, an l2-byte link header and an IP packet): 1 unless b
// is a TCP GSO packet, then its payload in gso_size pieces. It is an
// upper bound used to keep a super-packet whole across reads.
func vnetSegments(b []byte, l2 int) int {
	if len(b) < vnetHdrLen || b[1]&^vnetGSOECN == vnetGSONone {
		return 1
	}
	gsoSize := int(binary.LittleEndian.Uint16(b[4:6]))
	// The smallest IP and TCP headers: hdr_len is only a hint.
	payload := len(b) - vnetHdrLen - l2 - header.IPv4MinHeaderLen - header.TCPMinHeaderLen
	if gsoSize == 0 || payload <= 0 {
		return 1
	}
	return (payload + gsoSize - 1) / gsoSize
}

// vnetFlagDataValid is VIRTIO_NET_HDR_F_DATA_VALID: the kernel checked the
// checksum (it sets it for packet sockets on CHECKSUM_UNNECESSARY).
const vnetFlagDataValid = 2

// acceptVnet prepares pkt (an l2-byte link header, then an IP packet),
// received with virtio-net header h, to be used whole: it returns the
// packet's flags, and for a TCP GSO super-packet sets the IP length
// fields for the whole packet (and the IPv4 header checksum), as the
// kernel's GRO does. The TCP checksum is left as it is: ChecksumValid says
// it must not be checked.
func acceptVnet(h, pkt []byte, l2 int) (PacketFlags, error) {
	if len(h) < vnetHdrLen || len(pkt) < l2 {
		return 0, errVnet
	}
	var f PacketFlags
	if h[0]&(vnetFlagNeedsCsum|vnetFlagDataValid) != 0 {
		f = ChecksumValid
	}
	gsoType := h[1] &^ vnetGSOECN
	if gsoType == vnetGSONone {
		return f, nil
	}
	ip := pkt[l2:]
	switch gsoType {
	case vnetGSOTCPv4:
		if len(ip) < header.IPv4MinHeaderLen || ip[0]>>4 != 4 || len(ip) > MaxOffloadPacket {
			return 0, errVnet
		}
		v4 := header.IPv4(ip)
		v4.SetTotalLength(uint16(len(ip)))
		if !v4.Valid() || v4.Protocol() != header.ProtocolTCP {
			return 0, errVnet
		}
		v4.SetChecksum()
	case vnetGSOTCPv6:
		if len(ip) < header.IPv6HeaderLen || ip[0]>>4 != 6 || len(ip)-header.IPv6HeaderLen > MaxOffloadPacket ||
			header.IPv6(ip).NextHeader() != header.ProtocolTCP {
			return 0, errVnet
		}
		header.IPv6(ip).SetPayloadLength(uint16(len(ip) - header.IPv6HeaderLen))
	default:
		return 0, fmt.Errorf("gso type %d: %w", gsoType, errVnet)
	}
	// Whatever the header says, the merged segments' checksum field is
	// not a checksum of this packet.
	return ChecksumValid, nil
}
