package header

import (
	"encoding/binary"
	"math/bits"
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
	// Sum 64-bit big-endian words with end-around carry (bits.Add64), then
	// fold to 16 bits: one's complement addition is associative and
	// commutative, so the result equals the RFC 1071 16-bit sum.
	var sum, carry uint64
	for len(b) >= 32 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[0:8]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[8:16]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[16:24]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[24:32]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	sum, carry = bits.Add64(sum, carry, 0)
	sum += carry
	var tail uint64
	if len(b) >= 4 {
		tail += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		tail += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		tail += uint64(b[0]) << 8
	}
	// Fold 64 -> 32 bits, then add the tail and initial, then fold to 16.
	s32 := (sum >> 32) + (sum & 0xffffffff)
	s32 += tail + uint64(initial)
	for s32>>16 != 0 {
		s32 = (s32 & 0xffff) + (s32 >> 16)
	}
	return uint16(s32)
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
