package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 constants (RFC 791).
const (
	IPv4MinHeaderLen = 20
	IPv4MaxHeaderLen = 60
	IPv4Version      = 4
	// IPv4FlagDF is the Don't Fragment bit in the flags/fragment-offset word.
	IPv4FlagDF = 0x4000
	// IPv4FlagMF is the More Fragments bit.
	IPv4FlagMF = 0x2000
)

// IP protocol numbers.
const (
	ProtocolICMPv4 uint8 = 1
	ProtocolTCP    uint8 = 6
	ProtocolUDP    uint8 = 17
	ProtocolICMPv6 uint8 = 58
)

// IPv4 is a view of an IPv4 packet.
type IPv4 []byte

// Valid reports whether b holds a well-formed IPv4 header: version 4, IHL of
// at least five words, header within the buffer, and a total length that
// covers the header and fits the buffer (a link layer may pad the frame, so
// the buffer may be longer than the total length). It does not check the
// header checksum; see ValidChecksum.
func (b IPv4) Valid() bool {
	if len(b) < IPv4MinHeaderLen || b[0]>>4 != IPv4Version {
		return false
	}
	hl := int(b[0]&0xf) * 4
	tl := int(binary.BigEndian.Uint16(b[2:4]))
	return hl >= IPv4MinHeaderLen && hl <= tl && tl <= len(b)
}

// ValidChecksum reports whether the header checksum is correct. Call Valid first.
func (b IPv4) ValidChecksum() bool { return Checksum(b[:b.HeaderLength()], 0) == 0xffff }

// HeaderLength returns the header length in bytes (IHL × 4).
func (b IPv4) HeaderLength() int { return int(b[0]&0xf) * 4 }

// PayloadOffset is HeaderLength: where the upper-layer header starts.
func (b IPv4) PayloadOffset() int { return b.HeaderLength() }

// TOS returns the type-of-service byte (DSCP and ECN, RFC 3168 §5).
func (b IPv4) TOS() uint8 { return b[1] }

// TotalLength returns the total length field.
func (b IPv4) TotalLength() int { return int(binary.BigEndian.Uint16(b[2:4])) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// FlagsFragment returns the raw 16-bit flags and fragment offset word.
func (b IPv4) FlagsFragment() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// DF reports whether the Don't Fragment bit is set.
func (b IPv4) DF() bool { return b.FlagsFragment()&IPv4FlagDF != 0 }

// MoreFragments reports whether the MF bit is set.
func (b IPv4) MoreFragments() bool { return b.FlagsFragment()&IPv4FlagMF != 0 }

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() int { return int(b.FlagsFragment()&0x1fff) * 8 }

// IsFragment reports whether the packet is a fragment (MF set or non-zero offset).
func (b IPv4) IsFragment() bool { return b.FlagsFragment()&(IPv4FlagMF|0x1fff) != 0 }

// TTL returns the time-to-live.
func (b IPv4) TTL() uint8 { return b[8] }

// Protocol returns the upper-layer protocol number.
func (b IPv4) Protocol() uint8 { return b[9] }

// Checksum returns the header checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[10:12]) }

// SrcAddr returns the source address.
func (b IPv4) SrcAddr() netip.Addr { return netip.AddrFrom4([4]byte(b[12:16])) }

// DstAddr returns the destination address.
func (b IPv4) DstAddr() netip.Addr { return netip.AddrFrom4([4]byte(b[16:20])) }

// Options returns the IPv4 options, or nil. Safe on any input.
func (b IPv4) Options() []byte {
	if len(b) < IPv4MinHeaderLen {
		return nil
	}
	hl := int(b[0]&0xf) * 4
	if hl <= IPv4MinHeaderLen || hl > len(b) {
		return nil
	}
	return b[IPv4MinHeaderLen:hl]
}

// Payload returns the upper-layer bytes, bounded by the total length (link
// padding excluded). Safe on any input: it returns nil if b is not Valid.
func (b IPv4) Payload() []byte {
	if !b.Valid() {
		return nil
	}
	return b[b.HeaderLength():b.TotalLength()]
}

// PayloadCaptured returns the upper-layer bytes as a capture holds them:
// up to the total length, or to the end of b when the total length is 0
// (a GRO/TSO super-packet beyond 64 KiB: BIG TCP) or more than was
// captured (the snap length cut the packet). ok is false when the header
// is not whole or contradicts itself (IHL below five words, a total length
// shorter than the header). Safe on any input.
func (b IPv4) PayloadCaptured() (payload []byte, ok bool) {
	if len(b) < IPv4MinHeaderLen || b[0]>>4 != IPv4Version {
		return nil, false
	}
	hl := int(b[0]&0xf) * 4
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return nil, false
	}
	end := len(b)
	if tl := int(binary.BigEndian.Uint16(b[2:4])); tl != 0 {
		if tl < hl {
			return nil, false
		}
		end = min(end, tl) // link-layer padding
	}
	return b[hl:end], true
}

// IPv4Fields are the header fields Encode writes.
type IPv4Fields struct {
	TOS         uint8
	TotalLength uint16
	ID          uint16
	Flags       uint16 // IPv4FlagDF and/or IPv4FlagMF
	FragOffset  uint16 // in bytes, multiple of 8
	TTL         uint8
	Protocol    uint8
	Src, Dst    netip.Addr
}

// Encode writes a 20-byte header without options and with a zero checksum;
// call SetChecksum after. b must be at least IPv4MinHeaderLen long.
func (b IPv4) Encode(f *IPv4Fields) {
	b[0] = IPv4Version<<4 | 5
	b[1] = f.TOS
	binary.BigEndian.PutUint16(b[2:4], f.TotalLength)
	binary.BigEndian.PutUint16(b[4:6], f.ID)
	binary.BigEndian.PutUint16(b[6:8], f.Flags&0xe000|(f.FragOffset/8)&0x1fff)
	b[8] = f.TTL
	b[9] = f.Protocol
	b[10], b[11] = 0, 0
	s, d := f.Src.As4(), f.Dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
}

// SetChecksum computes and stores the header checksum.
func (b IPv4) SetChecksum() {
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:12], ^Checksum(b[:b.HeaderLength()], 0))
}

// SetTotalLength stores the total length field (the checksum is not updated).
func (b IPv4) SetTotalLength(n uint16) { binary.BigEndian.PutUint16(b[2:4], n) }

// SetTOS stores the TOS byte (the checksum is not updated).
func (b IPv4) SetTOS(tos uint8) { b[1] = tos }
