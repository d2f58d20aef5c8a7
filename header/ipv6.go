package header

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// IPv6 constants (RFC 8200).
const (
	IPv6HeaderLen = 40
	IPv6Version   = 6
	// IPv6MinMTU is the minimum link MTU every IPv6 link supports (RFC 8200 §5).
	IPv6MinMTU = 1280
)

// IPv6 extension header numbers (RFC 8200 §4) and the no-next-header value.
const (
	IPv6HopByHop     uint8 = 0
	IPv6Routing      uint8 = 43
	IPv6Fragment     uint8 = 44
	IPv6ESP          uint8 = 50
	IPv6AH           uint8 = 51
	IPv6NoNextHeader uint8 = 59
	IPv6DestOptions  uint8 = 60
	IPv6Mobility     uint8 = 135
)

// Errors of IPv6.UpperLayer.
var (
	// ErrTruncated means a header runs past the end of the buffer.
	ErrTruncated = errors.New("header: truncated")
	// ErrNoUpperLayer means the chain ends in No Next Header or ESP.
	ErrNoUpperLayer = errors.New("header: no upper-layer header")
	// ErrFragment means the packet is a non-first fragment, so its
	// upper-layer header is not in this packet.
	ErrFragment = errors.New("header: non-first fragment")
)

// IPv6 is a view of an IPv6 packet.
type IPv6 []byte

// Valid reports whether b holds a whole IPv6 header with version 6 and a
// payload length that fits the buffer (link padding allowed). Jumbograms
// (payload length 0 with a hop-by-hop jumbo option) are not supported.
func (b IPv6) Valid() bool {
	if len(b) < IPv6HeaderLen || b[0]>>4 != IPv6Version {
		return false
	}
	return IPv6HeaderLen+int(binary.BigEndian.Uint16(b[4:6])) <= len(b)
}

// TrafficClass returns the traffic class (DSCP and ECN).
func (b IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(b[0:2]) >> 4) }

// FlowLabel returns the 20-bit flow label.
func (b IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(b[0:4]) & 0xfffff }

// PayloadLength returns the payload length field.
func (b IPv6) PayloadLength() int { return int(binary.BigEndian.Uint16(b[4:6])) }

// NextHeader returns the next header field of the fixed header.
func (b IPv6) NextHeader() uint8 { return b[6] }

// HopLimit returns the hop limit.
func (b IPv6) HopLimit() uint8 { return b[7] }

// SrcAddr returns the source address.
func (b IPv6) SrcAddr() netip.Addr { return netip.AddrFrom16([16]byte(b[8:24])) }

// DstAddr returns the destination address.
func (b IPv6) DstAddr() netip.Addr { return netip.AddrFrom16([16]byte(b[24:40])) }

// Payload returns the bytes after the fixed header, bounded by the payload
// length. Safe on any input: nil if b is not Valid.
func (b IPv6) Payload() []byte {
	if !b.Valid() {
		return nil
	}
	return b[IPv6HeaderLen : IPv6HeaderLen+b.PayloadLength()]
}

// UpperLayer walks the extension-header chain (RFC 8200 §4) and returns the
// upper-layer protocol and the offset of its header from the start of b. It
// skips hop-by-hop, routing, destination options, fragment (first fragment
// only), AH (RFC 4302 §2.2, length in 4-byte words) and mobility headers.
// It never panics; errors wrap ErrTruncated, ErrNoUpperLayer or ErrFragment.
func (b IPv6) UpperLayer() (proto uint8, offset int, err error) {
	return b.walk(false)
}

// UpperLayerOrFragment is UpperLayer, except that it stops at a Fragment
// header (first fragment or not) and returns IPv6Fragment and the offset of
// that header: the headers before it are the packet's unfragmentable part
// (RFC 8200 §4.5), the rest is the fragment's data. A receiver that
// reassembles takes this path, so an unfragmented packet costs one walk.
// It never panics; errors wrap ErrTruncated or ErrNoUpperLayer.
func (b IPv6) UpperLayerOrFragment() (proto uint8, offset int, err error) {
	return b.walk(true)
}

// UpperLayerCaptured is UpperLayer for a packet as a capture holds it: the
// payload ends at the payload length, or at the end of b when the length
// is 0 (a jumbogram, a GRO super-packet) or more than was captured; and
// any fragment other than an atomic one (offset 0, M clear) ends the walk
// with ErrFragment, first fragments too: a fragment is never a whole
// upper-layer packet. The upper-layer header's offset may lie past end
// (the capture cut it off); the caller checks. Safe on any input.
func (b IPv6) UpperLayerCaptured() (proto uint8, offset, end int, err error) {
	if len(b) < IPv6HeaderLen || b[0]>>4 != IPv6Version {
		return 0, 0, 0, fmt.Errorf("ipv6 header: %w", ErrTruncated)
	}
	end = IPv6HeaderLen + b.PayloadLength()
	if end == IPv6HeaderLen || end > len(b) {
		end = len(b)
	}
	proto, offset, err = b.walkTo(end, false, true)
	return proto, offset, end, err
}

func (b IPv6) walk(stopAtFragment bool) (proto uint8, offset int, err error) {
	if !b.Valid() {
		return 0, 0, fmt.Errorf("ipv6 header: %w", ErrTruncated)
	}
	return b.walkTo(IPv6HeaderLen+b.PayloadLength(), stopAtFragment, false)
}

// walkTo walks the extension headers within b[:end]. wholeOnly rejects
// first fragments as well as later ones, and leaves the check that the
// upper-layer header lies within end to the caller.
func (b IPv6) walkTo(end int, stopAtFragment, wholeOnly bool) (proto uint8, offset int, err error) {
	fragMask := uint16(0xfff8)
	if wholeOnly {
		fragMask = 0xfff9
	}
	next := b[6]
	off := IPv6HeaderLen
	// Bound the walk: every extension header is at least 8 bytes, so a
	// chain cannot be longer than the payload allows; the explicit cap
	// guards against logic slips.
	for i := 0; i < 64; i++ {
		switch next {
		case IPv6HopByHop, IPv6Routing, IPv6DestOptions, IPv6Mobility:
			if off+8 > end {
				return 0, 0, fmt.Errorf("ipv6 extension header %d at %d: %w", next, off, ErrTruncated)
			}
			n := (int(b[off+1]) + 1) * 8
			next = b[off]
			off += n
		case IPv6AH:
			if off+8 > end {
				return 0, 0, fmt.Errorf("ipv6 AH at %d: %w", off, ErrTruncated)
			}
			n := (int(b[off+1]) + 2) * 4
			next = b[off]
			off += n
		case IPv6Fragment:
			if off+IPv6FragmentHeaderLen > end {
				return 0, 0, fmt.Errorf("ipv6 fragment header at %d: %w", off, ErrTruncated)
			}
			if stopAtFragment {
				return IPv6Fragment, off, nil
			}
			if binary.BigEndian.Uint16(b[off+2:off+4])&fragMask != 0 {
				return 0, 0, ErrFragment
			}
			next = b[off]
			off += IPv6FragmentHeaderLen
		case IPv6NoNextHeader, IPv6ESP:
			return next, off, ErrNoUpperLayer
		default:
			if off > end && !wholeOnly {
				return 0, 0, fmt.Errorf("ipv6 upper layer %d at %d: %w", next, off, ErrTruncated)
			}
			return next, off, nil
		}
	}
	return 0, 0, fmt.Errorf("ipv6 extension chain too long: %w", ErrTruncated)
}

// IPv6FragmentHeaderLen is the length of the Fragment header (RFC 8200 §4.5).
const IPv6FragmentHeaderLen = 8

// IPv6FragmentHeader is a view of an IPv6 Fragment extension header
// (RFC 8200 §4.5): next header, reserved, 13-bit offset in 8-byte units,
// two reserved bits, the M (more fragments) flag, 32-bit identification.
type IPv6FragmentHeader []byte

// Valid reports whether b holds the 8-byte header.
func (b IPv6FragmentHeader) Valid() bool { return len(b) >= IPv6FragmentHeaderLen }

// NextHeader returns the type of the first header of the fragmentable part.
func (b IPv6FragmentHeader) NextHeader() uint8 { return b[0] }

// FragmentOffset returns the offset of the fragment's data in bytes.
func (b IPv6FragmentHeader) FragmentOffset() int {
	return int(binary.BigEndian.Uint16(b[2:4]) &^ 7)
}

// More reports whether the M flag (more fragments) is set.
func (b IPv6FragmentHeader) More() bool { return b[3]&1 != 0 }

// ID returns the identification.
func (b IPv6FragmentHeader) ID() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// Encode writes the header; offset is in bytes and must be a multiple of
// 8 below 65536 (the low three bits are dropped).
func (b IPv6FragmentHeader) Encode(next uint8, offset int, more bool, id uint32) {
	b[0], b[1] = next, 0
	w := uint16(offset) &^ 7
	if more {
		w |= 1
	}
	binary.BigEndian.PutUint16(b[2:4], w)
	binary.BigEndian.PutUint32(b[4:8], id)
}

// IPv6Fields are the header fields Encode writes.
type IPv6Fields struct {
	TrafficClass  uint8
	FlowLabel     uint32
	PayloadLength uint16
	NextHeader    uint8
	HopLimit      uint8
	Src, Dst      netip.Addr
}

// Encode writes the 40-byte fixed header. b must be at least IPv6HeaderLen long.
func (b IPv6) Encode(f *IPv6Fields) {
	binary.BigEndian.PutUint32(b[0:4], IPv6Version<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:6], f.PayloadLength)
	b[6] = f.NextHeader
	b[7] = f.HopLimit
	s, d := f.Src.As16(), f.Dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
}

// SetPayloadLength stores the payload length field.
func (b IPv6) SetPayloadLength(n uint16) { binary.BigEndian.PutUint16(b[4:6], n) }

// SolicitedNodeMulticast returns the solicited-node multicast address of a
// (RFC 4291 §2.7.1): ff02::1:ffXX:XXXX with the low 24 bits of a.
func SolicitedNodeMulticast(a netip.Addr) netip.Addr {
	s := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: s[13], 14: s[14], 15: s[15]})
}
