package header

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// TCP header constants (RFC 9293 §3.1).
const (
	TCPMinHeaderLen = 20
	TCPMaxHeaderLen = 60
	// TCPMaxOptionsLen is the option space of a TCP header: 40 bytes.
	TCPMaxOptionsLen = TCPMaxHeaderLen - TCPMinHeaderLen
)

// TCPFlags is the flags byte of a TCP header.
type TCPFlags uint8

// TCP flag bits (RFC 9293 §3.1; ECE and CWR from RFC 3168 §6.1).
const (
	TCPFlagFIN TCPFlags = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
)

// Has reports whether every bit of m is set in f.
func (f TCPFlags) Has(m TCPFlags) bool { return f&m == m }

// String lists the set flags, e.g. "SYN|ACK".
func (f TCPFlags) String() string {
	names := [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}
	var sb strings.Builder
	for i, n := range names {
		if f&(1<<i) != 0 {
			if sb.Len() > 0 {
				sb.WriteByte('|')
			}
			sb.WriteString(n)
		}
	}
	if sb.Len() == 0 {
		return "none"
	}
	return sb.String()
}

// TCP option kinds (IANA registry; RFC 9293 §3.2, RFC 7323, RFC 2018, RFC 8684).
const (
	TCPOptEOL           uint8 = 0
	TCPOptNOP           uint8 = 1
	TCPOptMSS           uint8 = 2
	TCPOptWindowScale   uint8 = 3
	TCPOptSACKPermitted uint8 = 4
	TCPOptSACK          uint8 = 5
	TCPOptTimestamps    uint8 = 8
	TCPOptMPTCP         uint8 = 30
	TCPOptFastOpen      uint8 = 34 // RFC 7413 §4.1.1
)

// Option lengths, kind and length bytes included.
const (
	TCPOptMSSLen           = 4
	TCPOptWindowScaleLen   = 3
	TCPOptSACKPermittedLen = 2
	TCPOptTimestampsLen    = 10
	// TCPFastOpenCookieMin and TCPFastOpenCookieMax bound a Fast Open
	// cookie (RFC 7413 §4.1.1: 4 to 16 bytes; an option of length 2
	// requests one).
	TCPFastOpenCookieMin = 4
	TCPFastOpenCookieMax = 16
	// TCPMaxWindowScale is the largest shift RFC 7323 §2.3 allows.
	TCPMaxWindowScale = 14
)

// TCP is a view of a TCP segment: header, options and payload.
type TCP []byte

// Valid reports whether b holds a whole TCP header: at least 20 bytes and a
// data offset of at least five words that lies within b.
func (b TCP) Valid() bool {
	if len(b) < TCPMinHeaderLen {
		return false
	}
	off := int(b[12]>>4) * 4
	return off >= TCPMinHeaderLen && off <= len(b)
}

// SrcPort returns the source port.
func (b TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DstPort returns the destination port.
func (b TCP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Seq returns the sequence number.
func (b TCP) Seq() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// Ack returns the acknowledgment number.
func (b TCP) Ack() uint32 { return binary.BigEndian.Uint32(b[8:12]) }

// DataOffset returns the header length in bytes, options included.
func (b TCP) DataOffset() int { return int(b[12]>>4) * 4 }

// Flags returns the flags byte (the NS/AE bit of byte 12 is not included).
func (b TCP) Flags() TCPFlags { return TCPFlags(b[13]) }

// Window returns the raw (unscaled) window field.
func (b TCP) Window() uint16 { return binary.BigEndian.Uint16(b[14:16]) }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[16:18]) }

// Urgent returns the urgent pointer.
func (b TCP) Urgent() uint16 { return binary.BigEndian.Uint16(b[18:20]) }

// Options returns the option bytes between the fixed header and the data
// offset, or nil. Safe on any input.
func (b TCP) Options() []byte {
	if !b.Valid() {
		return nil
	}
	return b[TCPMinHeaderLen:b.DataOffset()]
}

// Payload returns the bytes after the header, or nil. Safe on any input.
func (b TCP) Payload() []byte {
	if !b.Valid() {
		return nil
	}
	return b[b.DataOffset():]
}

// SetSeq stores the sequence number.
func (b TCP) SetSeq(v uint32) { binary.BigEndian.PutUint32(b[4:8], v) }

// SetAck stores the acknowledgment number.
func (b TCP) SetAck(v uint32) { binary.BigEndian.PutUint32(b[8:12], v) }

// SetFlags stores the flags byte.
func (b TCP) SetFlags(f TCPFlags) { b[13] = uint8(f) }

// SetWindow stores the window field.
func (b TCP) SetWindow(w uint16) { binary.BigEndian.PutUint16(b[14:16], w) }

// SetChecksum stores the checksum field.
func (b TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[16:18], c) }

// SetSrcPort stores the source port.
func (b TCP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(b[0:2], p) }

// SetDstPort stores the destination port.
func (b TCP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(b[2:4], p) }

// TCPFields are the fixed header fields Encode writes.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	DataOffset       int // header length in bytes, options included; multiple of 4
	Flags            TCPFlags
	Window           uint16
	Urgent           uint16
}

// Encode writes the fixed 20-byte header with a zero checksum. Options, if
// any, go in b[20:DataOffset] and are written by the caller.
func (b TCP) Encode(f *TCPFields) {
	binary.BigEndian.PutUint16(b[0:2], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], f.DstPort)
	binary.BigEndian.PutUint32(b[4:8], f.Seq)
	binary.BigEndian.PutUint32(b[8:12], f.Ack)
	b[12] = uint8(f.DataOffset/4) << 4
	b[13] = uint8(f.Flags)
	binary.BigEndian.PutUint16(b[14:16], f.Window)
	b[16], b[17] = 0, 0
	binary.BigEndian.PutUint16(b[18:20], f.Urgent)
}

// CalculateChecksum returns the TCP checksum of b (header, options and
// payload, with the checksum field as it is) given the pseudo-header sum.
// Store it with SetChecksum after zeroing the field; a received segment is
// intact when CalculateChecksum returns 0 (the sum over everything is 0xffff).
func (b TCP) CalculateChecksum(pseudo uint16) uint16 {
	return ^Checksum(b, pseudo)
}

// ErrBadOption is wrapped by the errors of the TCP option iterator.
var ErrBadOption = errors.New("header: malformed TCP option")

// TCPOptionIterator walks TCP options without allocating:
//
//	it := header.NewTCPOptionIterator(tcp.Options())
//	for it.Next() {
//		switch it.Kind() { ... it.Data() ... }
//	}
//	if err := it.Err(); err != nil { ... }
//
// NOP is skipped; EOL ends the walk. A length byte below 2 or running past
// the buffer ends the walk with an error wrapping ErrBadOption.
type TCPOptionIterator struct {
	b    []byte
	off  int
	kind uint8
	data []byte
	err  error
}

// NewTCPOptionIterator returns an iterator over opts.
func NewTCPOptionIterator(opts []byte) TCPOptionIterator {
	return TCPOptionIterator{b: opts}
}

// Next advances to the next option and reports whether there is one.
func (it *TCPOptionIterator) Next() bool {
	for it.err == nil && it.off < len(it.b) {
		k := it.b[it.off]
		switch k {
		case TCPOptEOL:
			it.off = len(it.b)
			return false
		case TCPOptNOP:
			it.off++
			continue
		}
		if it.off+1 >= len(it.b) {
			it.err = &OptionError{Kind: k, Offset: it.off, Length: -1}
			return false
		}
		l := int(it.b[it.off+1])
		if l < 2 || it.off+l > len(it.b) {
			it.err = &OptionError{Kind: k, Offset: it.off, Length: l, Left: len(it.b) - it.off}
			return false
		}
		it.kind = k
		it.data = it.b[it.off+2 : it.off+l]
		it.off += l
		return true
	}
	return false
}

// OptionError is the error of a malformed option: kind at offset, with
// Length -1 when the length byte is missing, else a length below 2 or
// running past the Left bytes that remain. It wraps ErrBadOption.
type OptionError struct {
	Kind         uint8
	Offset       int
	Length, Left int
}

func (e *OptionError) Error() string {
	if e.Length < 0 {
		return fmt.Sprintf("option kind %d at %d without length: %v", e.Kind, e.Offset, ErrBadOption)
	}
	return fmt.Sprintf("option kind %d at %d: length %d: %v", e.Kind, e.Offset, e.Length, ErrBadOption)
}

// Unwrap returns ErrBadOption.
func (e *OptionError) Unwrap() error { return ErrBadOption }

// Kind returns the kind of the current option.
func (it *TCPOptionIterator) Kind() uint8 { return it.kind }

// Offset returns the offset in the options just past the current option.
func (it *TCPOptionIterator) Offset() int { return it.off }

// Data returns the current option's bytes after kind and length.
func (it *TCPOptionIterator) Data() []byte { return it.data }

// Raw returns the current option's bytes including kind and length.
func (it *TCPOptionIterator) Raw() []byte { return it.b[it.off-len(it.data)-2 : it.off] }

// Err returns the error that ended the walk, if any.
func (it *TCPOptionIterator) Err() error { return it.err }

// SACKBlock is one SACK block (RFC 2018 §3): the left edge is the first
// sequence number of the block, the right edge the one after its last.
type SACKBlock struct {
	Start, End uint32
}

// MaxSACKBlocks is the most SACK blocks that fit in the option space (4
// without timestamps, 3 with).
const MaxSACKBlocks = 4

// TCPOptions is the decoded form of the options the TCP engine acts on.
// Options it does not know (MPTCP among them) are left to the caller, who
// can walk them with TCPOptionIterator.
type TCPOptions struct {
	MSS           uint16 // 0 if absent
	WindowScale   int8   // -1 if absent
	SACKPermitted bool
	HasTimestamps bool
	TSVal, TSEcr  uint32
	NumSACK       int
	SACK          [MaxSACKBlocks]SACKBlock
	HasMPTCP      bool // an MPTCP option (kind 30) is present
	// FastOpen is set when a Fast Open option (RFC 7413 §4.1.1) is
	// present: a cookie request if FastOpenCookieLen is 0, else the
	// cookie in FastOpenCookie[:FastOpenCookieLen].
	FastOpen          bool
	FastOpenCookieLen uint8
	FastOpenCookie    [TCPFastOpenCookieMax]byte
}

// ParseTCPOptions decodes opts into o without allocating. Malformed
// options of a known kind (a wrong length) are ignored, as RFC 9293
// §3.2 asks of a robust receiver; a malformed length byte ends parsing
// with an error wrapping ErrBadOption, and the options decoded before it
// are kept.
func ParseTCPOptions(opts []byte, o *TCPOptions) error {
	*o = TCPOptions{WindowScale: -1}
	it := NewTCPOptionIterator(opts)
	for it.Next() {
		d := it.Data()
		switch it.Kind() {
		case TCPOptMSS:
			if len(d) == 2 {
				o.MSS = binary.BigEndian.Uint16(d)
			}
		case TCPOptWindowScale:
			if len(d) == 1 {
				ws := d[0]
				// RFC 7323 §2.3: a shift above 14 is treated as 14.
				if ws > TCPMaxWindowScale {
					ws = TCPMaxWindowScale
				}
				o.WindowScale = int8(ws)
			}
		case TCPOptSACKPermitted:
			if len(d) == 0 {
				o.SACKPermitted = true
			}
		case TCPOptTimestamps:
			if len(d) == 8 {
				o.HasTimestamps = true
				o.TSVal = binary.BigEndian.Uint32(d[0:4])
				o.TSEcr = binary.BigEndian.Uint32(d[4:8])
			}
		case TCPOptSACK:
			if len(d)%8 == 0 {
				for i := 0; i+8 <= len(d) && o.NumSACK < MaxSACKBlocks; i += 8 {
					o.SACK[o.NumSACK] = SACKBlock{
						Start: binary.BigEndian.Uint32(d[i : i+4]),
						End:   binary.BigEndian.Uint32(d[i+4 : i+8]),
					}
					o.NumSACK++
				}
			}
		case TCPOptMPTCP:
			o.HasMPTCP = true
		case TCPOptFastOpen:
			if len(d) == 0 || len(d) >= TCPFastOpenCookieMin && len(d) <= TCPFastOpenCookieMax {
				o.FastOpen = true
				o.FastOpenCookieLen = uint8(copy(o.FastOpenCookie[:], d))
			}
		}
	}
	return it.Err()
}

// AppendFastOpen appends a Fast Open option carrying cookie (empty: a
// cookie request), RFC 7413 §4.1.1.
func AppendFastOpen(b, cookie []byte) []byte {
	b = append(b, TCPOptFastOpen, byte(2+len(cookie)))
	return append(b, cookie...)
}

// AppendMSS appends an MSS option (RFC 9293 §3.7.1).
func AppendMSS(b []byte, mss uint16) []byte {
	return append(b, TCPOptMSS, TCPOptMSSLen, byte(mss>>8), byte(mss))
}

// AppendWindowScale appends a window scale option (RFC 7323 §2.2).
func AppendWindowScale(b []byte, shift uint8) []byte {
	return append(b, TCPOptWindowScale, TCPOptWindowScaleLen, shift)
}

// AppendSACKPermitted appends a SACK-permitted option (RFC 2018 §2).
func AppendSACKPermitted(b []byte) []byte {
	return append(b, TCPOptSACKPermitted, TCPOptSACKPermittedLen)
}

// AppendTimestamps appends a timestamps option (RFC 7323 §3.2).
func AppendTimestamps(b []byte, tsVal, tsEcr uint32) []byte {
	b = append(b, TCPOptTimestamps, TCPOptTimestampsLen)
	b = binary.BigEndian.AppendUint32(b, tsVal)
	return binary.BigEndian.AppendUint32(b, tsEcr)
}

// AppendSACK appends a SACK option with the given blocks (RFC 2018 §3). At
// most four blocks fit; extra blocks are not written.
func AppendSACK(b []byte, blocks []SACKBlock) []byte {
	if len(blocks) > MaxSACKBlocks {
		blocks = blocks[:MaxSACKBlocks]
	}
	if len(blocks) == 0 {
		return b
	}
	b = append(b, TCPOptSACK, byte(2+8*len(blocks)))
	for _, s := range blocks {
		b = binary.BigEndian.AppendUint32(b, s.Start)
		b = binary.BigEndian.AppendUint32(b, s.End)
	}
	return b
}

// AppendNOP appends n NOP options.
func AppendNOP(b []byte, n int) []byte {
	for range n {
		b = append(b, TCPOptNOP)
	}
	return b
}

// PadOptions appends NOPs to opts until its length is a multiple of four,
// as the data offset counts 32-bit words.
func PadOptions(opts []byte) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, TCPOptNOP)
	}
	return opts
}
