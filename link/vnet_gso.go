package link

import (
	"bytes"
	"encoding/binary"

	"github.com/mptcp-go/mptcp/header"
)

// maxGSOLen bounds a coalesced super-packet (IP total length is 16 bits).
const maxGSOLen = 65535

// coalesceTCP finds how many packets from the start of pkts form one TCP
// run that the kernel can segment again (GSO): same IP header fields
// except length/ID/checksum, same TCP header except sequence number,
// PSH and checksum, contiguous sequence numbers, equal payload sizes but
// for a shorter last one, no SYN/FIN/RST/URG. It returns the run length
// (1 if pkts[0] cannot be coalesced) and the IP and TCP header lengths.
func coalesceTCP(pkts [][]byte) (n, iphl, hl int) {
	return coalesceFrames(pkts, 0)
}

// coalesceFrames is coalesceTCP for packets that start with an l2-byte
// link header (Ethernet through AF_PACKET), which must be equal in the
// whole run. The header lengths it returns do not count the link header.
func coalesceFrames(pkts [][]byte, l2 int) (n, iphl, hl int) {
	if len(pkts[0]) <= l2 {
		return 1, 0, 0
	}
	lh, p := pkts[0][:l2], pkts[0][l2:]
	switch p[0] >> 4 {
	case 4:
		ip := header.IPv4(p)
		if !ip.Valid() || ip.Protocol() != header.ProtocolTCP || ip.HeaderLength() != header.IPv4MinHeaderLen || ip.IsFragment() || len(p) != ip.TotalLength() {
			return 1, 0, 0
		}
		iphl = header.IPv4MinHeaderLen
	case 6:
		ip := header.IPv6(p)
		if !ip.Valid() || ip.NextHeader() != header.ProtocolTCP || len(p) != header.IPv6HeaderLen+ip.PayloadLength() {
			return 1, 0, 0
		}
		iphl = header.IPv6HeaderLen
	default:
		return 1, 0, 0
	}
	th := header.TCP(p[iphl:])
	if !th.Valid() || th.Flags()&(header.TCPFlagSYN|header.TCPFlagFIN|header.TCPFlagRST|header.TCPFlagURG|header.TCPFlagPSH) != 0 {
		return 1, 0, 0
	}
	hl = iphl + th.DataOffset()
	mss := len(p) - hl
	if mss == 0 {
		return 1, 0, 0
	}
	total := len(p)
	next := th.Seq() + uint32(mss)
	n = 1
	for ; n < len(pkts); n++ {
		q := pkts[n]
		if len(q) <= l2 || !bytes.Equal(q[:l2], lh) {
			break
		}
		q = q[l2:]
		if len(q) <= hl || len(q)-hl > mss || total+len(q)-hl > maxGSOLen {
			break
		}
		qt := header.TCP(q[iphl:])
		if !qt.Valid() || qt.DataOffset() != th.DataOffset() || qt.Seq() != next {
			break
		}
		// IP: same addresses, TOS/TTL/flags (v4) or class/flow/hop (v6).
		if iphl == header.IPv4MinHeaderLen {
			if q[0] != p[0] || q[1] != p[1] || !bytes.Equal(q[6:10], p[6:10]) || !bytes.Equal(q[12:20], p[12:20]) ||
				int(binary.BigEndian.Uint16(q[2:4])) != len(q) {
				break
			}
		} else if !bytes.Equal(q[0:4], p[0:4]) || !bytes.Equal(q[6:40], p[6:40]) ||
			header.IPv6HeaderLen+int(binary.BigEndian.Uint16(q[4:6])) != len(q) {
			break
		}
		// TCP: ports, ACK, data offset, window, urgent and options equal;
		// flags equal but PSH, which only the last may carry.
		if !bytes.Equal(q[iphl:iphl+4], p[iphl:iphl+4]) || !bytes.Equal(q[iphl+8:iphl+13], p[iphl+8:iphl+13]) ||
			qt.Flags()&^header.TCPFlagPSH != th.Flags() || !bytes.Equal(q[iphl+14:iphl+16], p[iphl+14:iphl+16]) ||
			!bytes.Equal(q[iphl+18:hl], p[iphl+18:hl]) {
			break
		}
		total += len(q) - hl
		next += uint32(len(q) - hl)
		if len(q)-hl < mss || qt.Flags()&header.TCPFlagPSH != 0 {
			n++ // a short or PSH segment ends the run
			break
		}
	}
	return n, iphl, hl
}

// buildGSO writes into out a virtio-net header and one super-packet that
// carries the TCP payloads of run (as coalesceTCP found it), for the
// kernel to segment again. It returns the bytes written.
func buildGSO(out []byte, run [][]byte, iphl, hl int) int {
	return buildGSOFrame(out, run, 0, iphl, hl)
}

// buildGSOFrame is buildGSO for packets with an l2-byte link header (as
// coalesceFrames found the run): the super-packet keeps the first
// packet's link header, and hdr_len and csum_start count it, as
// AF_PACKET's PACKET_VNET_HDR wants.
func buildGSOFrame(out []byte, run [][]byte, l2, iphl, hl int) int {
	first, last := run[0][l2:], run[len(run)-1][l2:]
	mss := len(first) - hl
	plen := 0
	for _, q := range run {
		plen += len(q) - l2 - hl
	}
	v := out[:vnetHdrLen]
	clear(v)
	v[0] = vnetFlagNeedsCsum
	if iphl == header.IPv4MinHeaderLen {
		v[1] = vnetGSOTCPv4
	} else {
		v[1] = vnetGSOTCPv6
	}
	binary.LittleEndian.PutUint16(v[2:], uint16(l2+hl))
	binary.LittleEndian.PutUint16(v[4:], uint16(mss))
	binary.LittleEndian.PutUint16(v[6:], uint16(l2+iphl))
	binary.LittleEndian.PutUint16(v[8:], 16) // TCP checksum offset
	copy(out[vnetHdrLen:], run[0][:l2])
	pkt := out[vnetHdrLen+l2 : vnetHdrLen+l2+hl+plen]
	copy(pkt, first[:hl])
	o := hl
	for _, q := range run {
		o += copy(pkt[o:], q[l2+hl:])
	}
	th := header.TCP(pkt[iphl:])
	th.SetFlags(th.Flags() | header.TCP(last[iphl:]).Flags()&header.TCPFlagPSH)
	if iphl == header.IPv4MinHeaderLen {
		ip := header.IPv4(pkt)
		ip.SetTotalLength(uint16(len(pkt)))
		ip.SetChecksum()
		// CHECKSUM_PARTIAL: the field holds the pseudo-header sum.
		th.SetChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, ip.SrcAddr(), ip.DstAddr(), uint32(len(th))))
	} else {
		ip := header.IPv6(pkt)
		ip.SetPayloadLength(uint16(len(pkt) - header.IPv6HeaderLen))
		th.SetChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, ip.SrcAddr(), ip.DstAddr(), uint32(len(th))))
	}
	return vnetHdrLen + l2 + len(pkt)
}
