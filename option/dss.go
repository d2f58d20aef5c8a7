package option

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// DSS flag bits (RFC 8684 §3.3, Figure 9), the low five bits of byte 3.
const (
	// DSSDataACK ("A"): a Data ACK is present.
	DSSDataACK uint8 = 0x01
	// DSSDataACK8 ("a"): the Data ACK is 8 octets (else 4).
	DSSDataACK8 uint8 = 0x02
	// DSSMapping ("M"): DSN, subflow sequence number, data-level length
	// (and the checksum, if negotiated) are present.
	DSSMapping uint8 = 0x04
	// DSSDSN8 ("m"): the DSN is 8 octets (else 4).
	DSSDSN8 uint8 = 0x08
	// DSSDataFIN ("F"): the mapping covers a DATA_FIN.
	DSSDataFIN uint8 = 0x10

	dssFlagMask = 0x1f
	dssRsvMask  = 0x0fe0 // reserved bits of bytes 2-3
)

// DSS is the Data Sequence Signal option (RFC 8684 §3.3). Flags selects the
// fields present; the rest are zero after parsing and ignored by Append:
//
//	DataACK              if Flags&DSSDataACK, 8 bytes if DSSDataACK8 else 4
//	DSN                  if Flags&DSSMapping, 8 bytes if DSSDSN8 else 4
//	SubflowSeq, DataLen  if Flags&DSSMapping
//	Checksum             if HasChecksum (requires DSSMapping; the length
//	                     of the option tells whether it is there)
//
// A 4-byte Data ACK or DSN is held in the low 32 bits; Append writes only
// those. DataLen 0 with a mapping is the infinite mapping of §3.3.1.
type DSS struct {
	Flags       uint8
	DataACK     uint64
	DSN         uint64
	SubflowSeq  uint32
	DataLen     uint16
	HasChecksum bool
	Checksum    uint16
	// Reserved holds the reserved bits of bytes 2-3 in place (mask 0x0fe0),
	// zero when well formed. Flag bits are never stored here.
	Reserved uint16
}

// HasDataACK reports whether the A flag is set.
func (d *DSS) HasDataACK() bool { return d.Flags&DSSDataACK != 0 }

// HasMapping reports whether the M flag is set.
func (d *DSS) HasMapping() bool { return d.Flags&DSSMapping != 0 }

// DataFIN reports whether the F flag is set.
func (d *DSS) DataFIN() bool { return d.Flags&DSSDataFIN != 0 }

// baseLen is the length the flags imply, without the checksum.
func dssBaseLen(flags uint8) int {
	n := 4
	if flags&DSSDataACK != 0 {
		n += 4 + 4*int(flags&DSSDataACK8>>1)
	}
	if flags&DSSMapping != 0 {
		n += 4 + 4*int(flags&DSSDSN8>>3) + 6
	}
	return n
}

// ParseDSS decodes a DSS option starting at its kind byte: the fast path
// for the stack and the analyzer, with the zero Parser's rules (reserved
// bits tolerated).
//
// ParseDSS is small enough to be inlined, so the option is decoded straight
// into the caller's variable instead of being copied out of a result.
func ParseDSS(b []byte) (d DSS, err error) {
	err = d.parseFast(b)
	return d, err
}

// parseFast is ParseDSS into *d.
func (d *DSS) parseFast(b []byte) error {
	if len(b) < 3 || b[0] != Kind || b[2]>>4 != uint8(SubtypeDSS) || int(b[1]) > len(b) || b[1] > MaxLen {
		*d = DSS{}
		return parseDSSFrameErr(b)
	}
	return d.decode(b[:b[1]], false)
}

// parseDSSFrameErr explains why b is not a well-framed DSS option.
func parseDSSFrameErr(b []byte) error {
	fb, err := frame(b)
	if err != nil {
		return err
	}
	return fmt.Errorf("parse DSS: subtype is %v: %w", Subtype(fb[2]>>4), ErrInvalid)
}

func (d *DSS) decode(b []byte, strict bool) error {
	*d = DSS{}
	n := len(b)
	if n < 4 {
		return lenErr(SubtypeDSS, n, "at least 4")
	}
	flags := b[3] & dssFlagMask
	base := dssBaseLen(flags)
	switch {
	case n == base:
	case n == base+2 && flags&DSSMapping != 0:
		d.HasChecksum = true
	default:
		if flags&DSSMapping != 0 {
			return fmt.Errorf("parse DSS: length %d does not match flags 0x%02x (want %d, or %d with checksum): %w", n, flags, base, base+2, ErrLength)
		}
		return fmt.Errorf("parse DSS: length %d does not match flags 0x%02x (want %d): %w", n, flags, base, ErrLength)
	}
	d.Flags = flags
	d.Reserved = (uint16(b[2])<<8 | uint16(b[3])) & dssRsvMask
	if strict && d.Reserved != 0 {
		return reservedErr(SubtypeDSS, d.Reserved)
	}
	off := 4
	if flags&DSSDataACK != 0 {
		d.DataACK, off = dssUint(b, off, flags&DSSDataACK8 != 0)
	}
	if flags&DSSMapping != 0 {
		d.DSN, off = dssUint(b, off, flags&DSSDSN8 != 0)
		d.SubflowSeq = binary.BigEndian.Uint32(b[off:])
		d.DataLen = binary.BigEndian.Uint16(b[off+4:])
		if d.HasChecksum {
			d.Checksum = binary.BigEndian.Uint16(b[off+6:])
		}
	}
	return nil
}

// dssUint reads the Data ACK or DSN at off: 8 bytes if wide (the "a" or
// "m" flag), else 4. It returns the value and the offset after it.
func dssUint(b []byte, off int, wide bool) (uint64, int) {
	if wide {
		return binary.BigEndian.Uint64(b[off:]), off + 8
	}
	return uint64(binary.BigEndian.Uint32(b[off:])), off + 4
}

// appendDSSUint appends a Data ACK or DSN as dssUint reads it (the low 32
// bits if not wide).
func appendDSSUint(b []byte, v uint64, wide bool) []byte {
	if wide {
		return binary.BigEndian.AppendUint64(b, v)
	}
	return binary.BigEndian.AppendUint32(b, uint32(v))
}

// Len returns the encoded length.
func (d *DSS) Len() int {
	n := dssBaseLen(d.Flags & dssFlagMask)
	if d.HasChecksum && d.Flags&DSSMapping != 0 {
		n += 2
	}
	return n
}

// Append appends the option to b. It fails only if HasChecksum is set
// without a mapping or Flags has bits above DSSDataFIN.
func (d *DSS) Append(b []byte) ([]byte, error) {
	if d.Flags&^dssFlagMask != 0 {
		return b, fmt.Errorf("append DSS: flags 0x%02x beyond 0x1f: %w", d.Flags, ErrInvalid)
	}
	if d.HasChecksum && d.Flags&DSSMapping == 0 {
		return b, fmt.Errorf("append DSS: checksum without mapping: %w", ErrInvalid)
	}
	rsv := d.Reserved & dssRsvMask
	b = header(b, d.Len(), SubtypeDSS, uint8(rsv>>8))
	b = append(b, uint8(rsv)|d.Flags)
	if d.Flags&DSSDataACK != 0 {
		b = appendDSSUint(b, d.DataACK, d.Flags&DSSDataACK8 != 0)
	}
	if d.Flags&DSSMapping != 0 {
		b = appendDSSUint(b, d.DSN, d.Flags&DSSDSN8 != 0)
		b = binary.BigEndian.AppendUint32(b, d.SubflowSeq)
		b = binary.BigEndian.AppendUint16(b, d.DataLen)
		if d.HasChecksum {
			b = binary.BigEndian.AppendUint16(b, d.Checksum)
		}
	}
	return b, nil
}

// String returns a one-line summary.
func (d DSS) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "DSS flags=0x%02x", d.Flags)
	if d.HasDataACK() {
		fmt.Fprintf(&s, " ack=%d", d.DataACK)
		if d.Flags&DSSDataACK8 == 0 {
			s.WriteString("/32")
		}
	}
	if d.HasMapping() {
		fmt.Fprintf(&s, " dsn=%d", d.DSN)
		if d.Flags&DSSDSN8 == 0 {
			s.WriteString("/32")
		}
		fmt.Fprintf(&s, " ssn=%d len=%d", d.SubflowSeq, d.DataLen)
		if d.HasChecksum {
			fmt.Fprintf(&s, " csum=0x%04x", d.Checksum)
		}
	}
	if d.DataFIN() {
		s.WriteString(" DATA_FIN")
	}
	return s.String()
}
