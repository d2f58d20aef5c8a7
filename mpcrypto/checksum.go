package mpcrypto

import (
	"encoding/binary"

	"github.com/mptcp-go/mptcp/header"
)

// Sum accumulates an Internet checksum (RFC 1071 ones' complement sum)
// over any number of byte slices, as if they were one contiguous buffer.
// The zero value is an empty sum.
type Sum struct {
	acc uint64
	odd bool // an odd number of bytes has been added so far
}

// Add adds b to the sum.
func (s *Sum) Add(b []byte) {
	if len(b) == 0 {
		return
	}
	// A slice that starts at an odd offset contributes its bytes swapped
	// (RFC 1071 §2(B), byte order independence): sum it as if even-aligned,
	// fold, then swap the two bytes.
	part := sum16(b)
	if s.odd {
		part = part>>8 | part<<8&0xff00
	}
	s.acc += uint64(part)
	if len(b)%2 == 1 {
		s.odd = !s.odd
	}
}

// Fold returns the 16-bit ones' complement sum (not yet complemented).
func (s *Sum) Fold() uint16 { return fold(s.acc) }

func fold(acc uint64) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}

// sum16 returns the folded ones' complement sum of b, read as big-endian
// 16-bit words with a zero byte padding an odd length: the project's one
// Internet checksum, header.Checksum.
func sum16(b []byte) uint64 { return uint64(header.Checksum(b, 0)) }

// dssPseudoHeader sums the DSS checksum pseudo-header (RFC 8684 §3.3.1):
// 64-bit DSN, 32-bit subflow sequence number, 16-bit data-level length and
// the 16-bit checksum field. The DSN is always the full 64 bits, even when
// the option carries 4 bytes; the subflow sequence number is relative to
// the subflow's initial sequence number, as in the option.
func dssPseudoHeader(dsn uint64, ssn uint32, dataLen, csum uint16) Sum {
	var h [16]byte
	binary.BigEndian.PutUint64(h[0:], dsn)
	binary.BigEndian.PutUint32(h[8:], ssn)
	binary.BigEndian.PutUint16(h[12:], dataLen)
	binary.BigEndian.PutUint16(h[14:], csum)
	var s Sum
	s.Add(h[:])
	return s
}

// DSSChecksum returns the DSS checksum of a mapping (RFC 8684 §3.3.1): the
// ones' complement of the ones' complement sum of the pseudo-header (with
// a zero checksum field) and the mapped payload. For payload spread over
// several buffers use DSSChecksumStart, Sum.Add and DSSChecksumFinish.
func DSSChecksum(dsn uint64, ssn uint32, dataLen uint16, payload []byte) uint16 {
	s := DSSChecksumStart(dsn, ssn, dataLen)
	s.Add(payload)
	return DSSChecksumFinish(&s)
}

// DSSChecksumStart returns a Sum primed with the pseudo-header; Add the
// payload to it and call DSSChecksumFinish.
func DSSChecksumStart(dsn uint64, ssn uint32, dataLen uint16) Sum {
	return dssPseudoHeader(dsn, ssn, dataLen, 0)
}

// DSSChecksumFinish returns the checksum to put in the DSS option.
func DSSChecksumFinish(s *Sum) uint16 { return ^s.Fold() }

// VerifyDSSChecksum reports whether csum, as received in a DSS option, is
// correct for the mapping and its payload: the sum over pseudo-header
// (including csum) and payload must be all ones.
func VerifyDSSChecksum(dsn uint64, ssn uint32, dataLen, csum uint16, payload []byte) bool {
	s := dssPseudoHeader(dsn, ssn, dataLen, csum)
	s.Add(payload)
	return s.Fold() == 0xffff
}
