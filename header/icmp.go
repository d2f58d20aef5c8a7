package header

import (
	"encoding/binary"
	"net/netip"
)

// ICMP header length: type, code, checksum and four bytes of rest-of-header.
const ICMPHeaderLen = 8

// ICMPv4 types and codes (RFC 792, RFC 1191).
const (
	ICMPv4EchoReply       uint8 = 0
	ICMPv4DstUnreachable  uint8 = 3
	ICMPv4Echo            uint8 = 8
	ICMPv4TimeExceeded    uint8 = 11
	ICMPv4ParamProblem    uint8 = 12
	ICMPv4NetUnreachable  uint8 = 0 // code of DstUnreachable
	ICMPv4HostUnreachable uint8 = 1
	ICMPv4ProtoUnreach    uint8 = 2
	ICMPv4PortUnreachable uint8 = 3
	ICMPv4FragNeeded      uint8 = 4 // RFC 1191 §4: next-hop MTU in bytes 6-7
)

// ICMPv6 types (RFC 4443, RFC 4861).
const (
	ICMPv6DstUnreachable  uint8 = 1
	ICMPv6PacketTooBig    uint8 = 2
	ICMPv6TimeExceeded    uint8 = 3
	ICMPv6ParamProblem    uint8 = 4
	ICMPv6EchoRequest     uint8 = 128
	ICMPv6EchoReply       uint8 = 129
	ICMPv6RouterSolicit   uint8 = 133
	ICMPv6RouterAdvert    uint8 = 134
	ICMPv6NeighborSolicit uint8 = 135
	ICMPv6NeighborAdvert  uint8 = 136
	ICMPv6PortUnreachable uint8 = 4 // code of DstUnreachable
)

// ICMPv4 is a view of an ICMPv4 message.
type ICMPv4 []byte

// Valid reports whether b holds the 8-byte ICMP header.
func (b ICMPv4) Valid() bool { return len(b) >= ICMPHeaderLen }

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return b[0] }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return b[1] }

// Checksum returns the checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Ident returns the echo identifier.
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Sequence returns the echo sequence number.
func (b ICMPv4) Sequence() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// MTU returns the next-hop MTU of a fragmentation-needed message (RFC 1191 §4).
func (b ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Payload returns the bytes after the header: for errors, the start of the
// offending datagram. Safe on any input.
func (b ICMPv4) Payload() []byte {
	if len(b) < ICMPHeaderLen {
		return nil
	}
	return b[ICMPHeaderLen:]
}

// Encode writes type, code and rest-of-header with a zero checksum.
func (b ICMPv4) Encode(typ, code uint8, rest uint32) {
	b[0], b[1], b[2], b[3] = typ, code, 0, 0
	binary.BigEndian.PutUint32(b[4:8], rest)
}

// SetChecksum computes the checksum over the whole message (no pseudo-header for ICMPv4).
func (b ICMPv4) SetChecksum() {
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint16(b[2:4], ^Checksum(b, 0))
}

// ValidChecksum reports whether the message checksum is correct.
func (b ICMPv4) ValidChecksum() bool { return Checksum(b, 0) == 0xffff }

// ICMPv6 is a view of an ICMPv6 message.
type ICMPv6 []byte

// Valid reports whether b holds the 8-byte ICMPv6 header.
func (b ICMPv6) Valid() bool { return len(b) >= ICMPHeaderLen }

// Type returns the message type.
func (b ICMPv6) Type() uint8 { return b[0] }

// Code returns the message code.
func (b ICMPv6) Code() uint8 { return b[1] }

// Checksum returns the checksum field.
func (b ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// MTU returns the MTU of a Packet Too Big message (RFC 4443 §3.2).
func (b ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// Ident returns the echo identifier.
func (b ICMPv6) Ident() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Sequence returns the echo sequence number.
func (b ICMPv6) Sequence() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Payload returns the bytes after the 8-byte header. Safe on any input.
func (b ICMPv6) Payload() []byte {
	if len(b) < ICMPHeaderLen {
		return nil
	}
	return b[ICMPHeaderLen:]
}

// Encode writes type, code and rest-of-header with a zero checksum.
func (b ICMPv6) Encode(typ, code uint8, rest uint32) {
	b[0], b[1], b[2], b[3] = typ, code, 0, 0
	binary.BigEndian.PutUint32(b[4:8], rest)
}

// SetChecksum computes the checksum with the IPv6 pseudo-header (RFC 4443 §2.3).
func (b ICMPv6) SetChecksum(src, dst netip.Addr) {
	b[2], b[3] = 0, 0
	ps := PseudoHeaderChecksum(ProtocolICMPv6, src, dst, uint32(len(b)))
	binary.BigEndian.PutUint16(b[2:4], ^Checksum(b, ps))
}

// ValidChecksum reports whether the checksum is correct for src and dst.
func (b ICMPv6) ValidChecksum(src, dst netip.Addr) bool {
	ps := PseudoHeaderChecksum(ProtocolICMPv6, src, dst, uint32(len(b)))
	return Checksum(b, ps) == 0xffff
}

// NDP (RFC 4861 §4.3, §4.4): neighbour solicitation and advertisement share
// a layout: 8-byte ICMPv6 header (NA flags in byte 4), a 16-byte target
// address, then options.
const (
	NDPNSLen = 24
	NDPNALen = 24
	// NDP option types (RFC 4861 §4.6.1).
	NDPOptSourceLinkAddr uint8 = 1
	NDPOptTargetLinkAddr uint8 = 2
	// NA flag bits in byte 4.
	NDPNAFlagRouter    uint8 = 0x80
	NDPNAFlagSolicited uint8 = 0x40
	NDPNAFlagOverride  uint8 = 0x20
)

// NDPNeighbor is a view of a neighbour solicitation or advertisement
// (the ICMPv6 message, header included).
type NDPNeighbor []byte

// Valid reports whether b is long enough for the header and target address.
func (b NDPNeighbor) Valid() bool { return len(b) >= NDPNSLen }

// TargetAddr returns the target address.
func (b NDPNeighbor) TargetAddr() netip.Addr { return netip.AddrFrom16([16]byte(b[8:24])) }

// NAFlags returns the R/S/O flags byte of an advertisement.
func (b NDPNeighbor) NAFlags() uint8 { return b[4] }

// Options returns the NDP options after the target address. Safe on any input.
func (b NDPNeighbor) Options() []byte {
	if len(b) < NDPNSLen {
		return nil
	}
	return b[NDPNSLen:]
}

// LinkAddrOption returns the link-layer address carried in an NDP option
// of type typ (NDPOptSourceLinkAddr or NDPOptTargetLinkAddr), if any. It
// never panics; an option of length zero stops the walk, as RFC 4861
// §4.6 requires the message to be discarded.
func (b NDPNeighbor) LinkAddrOption(typ uint8) (MAC, bool) {
	opts := b.Options()
	for len(opts) >= 2 {
		l := int(opts[1]) * 8
		if l == 0 || l > len(opts) {
			return MAC{}, false
		}
		if opts[0] == typ && l >= 8 {
			return MAC(opts[2:8]), true
		}
		opts = opts[l:]
	}
	return MAC{}, false
}

// EncodeNS writes a neighbour solicitation for target with a source
// link-layer address option; b must be at least NDPNSLen+8 bytes. The
// checksum is left zero; call ICMPv6(b).SetChecksum.
func (b NDPNeighbor) EncodeNS(target netip.Addr, srcMAC MAC) {
	ICMPv6(b).Encode(ICMPv6NeighborSolicit, 0, 0)
	t := target.As16()
	copy(b[8:24], t[:])
	b[24], b[25] = NDPOptSourceLinkAddr, 1
	copy(b[26:32], srcMAC[:])
}

// EncodeNA writes a neighbour advertisement for target with flags and a
// target link-layer address option; b must be at least NDPNALen+8 bytes.
func (b NDPNeighbor) EncodeNA(flags uint8, target netip.Addr, mac MAC) {
	ICMPv6(b).Encode(ICMPv6NeighborAdvert, 0, uint32(flags)<<24)
	t := target.As16()
	copy(b[8:24], t[:])
	b[24], b[25] = NDPOptTargetLinkAddr, 1
	copy(b[26:32], mac[:])
}
