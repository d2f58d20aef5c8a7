package header

import (
	"encoding/binary"
	"net/netip"
)

// AppendTCPIP appends to b an IPv4 packet (or IPv6, by the addresses)
// carrying one TCP segment from src to dst, with the options (a multiple
// of 4 bytes, see PadOptions) and payload, and correct IP and TCP
// checksums: what a test, a synthetic capture or a rewritten conversation
// puts on the wire. The IPv4 header has DF set, TTL 64, ID 0; the IPv6
// one hop limit 64.
func AppendTCPIP(b []byte, src, dst netip.AddrPort, seq, ack uint32, flags TCPFlags, window uint16, opts, payload []byte) []byte {
	tcpLen := TCPMinHeaderLen + len(opts) + len(payload)
	start := len(b)
	if src.Addr().Is4() {
		b = append(b, make([]byte, IPv4MinHeaderLen)...)
		ip := IPv4(b[start:])
		ip.Encode(&IPv4Fields{TotalLength: uint16(IPv4MinHeaderLen + tcpLen), Flags: IPv4FlagDF, TTL: 64,
			Protocol: ProtocolTCP, Src: src.Addr(), Dst: dst.Addr()})
		ip.SetChecksum()
	} else {
		b = append(b, make([]byte, IPv6HeaderLen)...)
		IPv6(b[start:]).Encode(&IPv6Fields{PayloadLength: uint16(tcpLen), NextHeader: ProtocolTCP, HopLimit: 64,
			Src: src.Addr(), Dst: dst.Addr()})
	}
	t := len(b)
	b = append(b, make([]byte, TCPMinHeaderLen)...)
	TCP(b[t:]).Encode(&TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Ack: ack,
		DataOffset: TCPMinHeaderLen + len(opts), Flags: flags, Window: window})
	b = append(b, opts...)
	b = append(b, payload...)
	sum := PseudoHeaderChecksum(ProtocolTCP, src.Addr(), dst.Addr(), uint32(tcpLen))
	binary.BigEndian.PutUint16(b[t+16:], ^Checksum(b[t:], sum))
	return b
}
