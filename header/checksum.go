package header

import (
	"encoding/binary"
	"net/netip"
)

// Checksum returns the 16-bit one's complement sum (RFC 1071) of b added to
// initial, folded but not complemented. The checksum field of a header is
// the complement of the sum over the covered bytes with the field zeroed:
// ^Checksum(b, pseudo). A received packet is intact when the sum over the
// covered bytes, checksum field included, is 0xffff.
//
// An odd-length b is padded with a zero byte, as RFC 1071 §1 prescribes; to
// sum a packet in pieces, give every piece but the last an even length.
func Checksum(b []byte, initial uint16) uint16 {
	var sum uint64 = uint64(initial)
	// Sum 32-bit big-endian words into a 64-bit accumulator; with fewer
	// than 2^32 words it cannot overflow, and the final fold is exact
	// because one's complement addition is associative and commutative.
	for len(b) >= 32 {
		sum += uint64(binary.BigEndian.Uint32(b[0:4]))
		sum += uint64(binary.BigEndian.Uint32(b[4:8]))
		sum += uint64(binary.BigEndian.Uint32(b[8:12]))
		sum += uint64(binary.BigEndian.Uint32(b[12:16]))
		sum += uint64(binary.BigEndian.Uint32(b[16:20]))
		sum += uint64(binary.BigEndian.Uint32(b[20:24]))
		sum += uint64(binary.BigEndian.Uint32(b[24:28]))
		sum += uint64(binary.BigEndian.Uint32(b[28:32]))
		b = b[32:]
	}
	for len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = (sum & 0xffff) + (sum >> 16)
	}
	return uint16(sum)
}

// ChecksumCombine adds two one's complement sums.
func ChecksumCombine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// PseudoHeaderChecksum returns the one's complement sum of the pseudo-header
// that TCP, UDP and ICMPv6 checksums cover: RFC 9293 §3.1 (IPv4: source,
// destination, zero, protocol, TCP length) and RFC 8200 §8.1 (IPv6: source,
// destination, upper-layer length, zeros, next header). length is the
// upper-layer header plus payload. src and dst must be of the same family;
// an IPv4-mapped IPv6 address is treated as IPv4.
func PseudoHeaderChecksum(protocol uint8, src, dst netip.Addr, length uint32) uint16 {
	var sum uint16
	if src.Is4() || src.Is4In6() {
		s, d := src.As4(), dst.As4()
		sum = Checksum(s[:], 0)
		sum = Checksum(d[:], sum)
		sum = ChecksumCombine(sum, uint16(protocol))
		sum = ChecksumCombine(sum, uint16(length))
		return sum
	}
	s, d := src.As16(), dst.As16()
	sum = Checksum(s[:], 0)
	sum = Checksum(d[:], sum)
	sum = ChecksumCombine(sum, uint16(length>>16))
	sum = ChecksumCombine(sum, uint16(length))
	sum = ChecksumCombine(sum, uint16(protocol))
	return sum
}

// ChecksumUpdate16 adjusts a header checksum (the complemented value as
// stored in the packet) for a 16-bit field that changed from old to new,
// per RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
func ChecksumUpdate16(xsum, old, new uint16) uint16 {
	return ^ChecksumCombine(ChecksumCombine(^xsum, ^old), new)
}
