// Package option is the wire codec of Multipath TCP options: TCP option kind
// 30 with the subtypes of RFC 8684 §3 (MPTCP v1) and RFC 6824 §3 (v0).
//
// Every subtype has a typed value (MPCapable, MPJoin, DSS, AddAddr,
// RemoveAddr, MPPrio, MPFail, MPFastclose, MPTCPRst, Unknown) with Append,
// Len, String and Fields. Option is a tagged value holding one of them;
// Parse decodes one option and Iter/ParseAll walk a whole TCP options block.
//
// Parsing is allocation-free for well-formed input: decoded values never
// alias the input and hold no pointers beyond netip.Addr's static zone. A
// malformed option yields an error wrapping one of the sentinel errors
// (ErrNotMPTCP, ErrTruncated, ErrLength, ErrReserved, ErrInvalid); it never
// panics. Building that error allocates, which only happens for bad input.
//
// Version-dependent layouts: MP_CAPABLE carries its own version, and every
// other subtype except ADD_ADDR (and the v0-only address id of MP_PRIO,
// which the length tells apart) has one layout. ADD_ADDR differs between
// v0 (IPVer in the low nibble, no HMAC) and v1 (E flag, truncated HMAC);
// Parser.Version says which to use, and by default (AutoVersion) a low
// nibble of 4 or 6 with a length of the matching v0 layout (8 or 10 for
// IPVer 4, 20 or 22 for IPVer 6) selects v0 and anything else v1 (a v1
// sender zeroes the three reserved bits, so normally only 0 or 1 appears
// there; one that sets them is still read as v1).
package option

import (
	"errors"
	"fmt"

	hdr "github.com/mptcp-go/mptcp/header"
)

// Kind is the TCP option kind of every MPTCP option (RFC 8684 §3, IANA).
const Kind = 30

// MaxLen is the longest option a TCP header can carry: the data offset
// allows at most 40 bytes of options (RFC 9293 §3.1), so a longer MPTCP
// option can only be malformed.
const MaxLen = 40

// TCP option kinds the options-block iterator handles itself.
const (
	kindEOL = 0 // End of Option List (RFC 9293 §3.2)
	kindNOP = 1 // No-Operation (RFC 9293 §3.2)
)

// Sentinel errors wrapped by every parse and append error, so callers can
// count or act on the class of problem with errors.Is.
var (
	// ErrNotMPTCP: the bytes do not start with option kind 30.
	ErrNotMPTCP = errors.New("option: not an MPTCP option")
	// ErrTruncated: fewer bytes than the option's length field announces,
	// or too few to hold a kind, length and subtype.
	ErrTruncated = errors.New("option: truncated")
	// ErrLength: the length field does not fit the subtype and its flags.
	ErrLength = errors.New("option: bad length")
	// ErrReserved: reserved bits are set (only reported by a strict Parser).
	ErrReserved = errors.New("option: reserved bits set")
	// ErrInvalid: a field holds a value the layout does not allow (an
	// ADD_ADDR v0 IP version other than 4 or 6, an unencodable value).
	ErrInvalid = errors.New("option: invalid field")
)

// Subtype is the 4-bit MPTCP option subtype (RFC 8684 §7.2, IANA "MPTCP
// Option Subtypes").
type Subtype uint8

// MPTCP option subtypes.
const (
	SubtypeMPCapable    Subtype = 0x0 // RFC 8684 §3.1
	SubtypeMPJoin       Subtype = 0x1 // RFC 8684 §3.2
	SubtypeDSS          Subtype = 0x2 // RFC 8684 §3.3
	SubtypeAddAddr      Subtype = 0x3 // RFC 8684 §3.4.1
	SubtypeRemoveAddr   Subtype = 0x4 // RFC 8684 §3.4.2
	SubtypeMPPrio       Subtype = 0x5 // RFC 8684 §3.3.8
	SubtypeMPFail       Subtype = 0x6 // RFC 8684 §3.7
	SubtypeMPFastclose  Subtype = 0x7 // RFC 8684 §3.5
	SubtypeMPTCPRst     Subtype = 0x8 // RFC 8684 §3.6
	SubtypeExperimental Subtype = 0xf // RFC 8684 §7.2, private use
)

var subtypeNames = [...]string{
	SubtypeMPCapable:   "MP_CAPABLE",
	SubtypeMPJoin:      "MP_JOIN",
	SubtypeDSS:         "DSS",
	SubtypeAddAddr:     "ADD_ADDR",
	SubtypeRemoveAddr:  "REMOVE_ADDR",
	SubtypeMPPrio:      "MP_PRIO",
	SubtypeMPFail:      "MP_FAIL",
	SubtypeMPFastclose: "MP_FASTCLOSE",
	SubtypeMPTCPRst:    "MP_TCPRST",
}

// String returns the RFC name of the subtype, e.g. "MP_CAPABLE".
func (s Subtype) String() string {
	if int(s) < len(subtypeNames) {
		return subtypeNames[s]
	}
	if s == SubtypeExperimental {
		return "MP_EXPERIMENTAL"
	}
	return fmt.Sprintf("SUBTYPE_%d", uint8(s))
}

// Version is the MPTCP protocol version carried in MP_CAPABLE.
type Version uint8

// MPTCP versions.
const (
	V0 Version = 0 // RFC 6824
	V1 Version = 1 // RFC 8684
)

// String returns "v0", "v1", ...
func (v Version) String() string { return fmt.Sprintf("v%d", uint8(v)) }

// VersionHint tells a Parser which layout to use for the options whose
// layout depends on the connection's version (ADD_ADDR).
type VersionHint uint8

// Version hints.
const (
	// AutoVersion infers the layout from the option bytes (see the package
	// documentation).
	AutoVersion VersionHint = iota
	// AssumeV0 parses with the RFC 6824 layouts.
	AssumeV0
	// AssumeV1 parses with the RFC 8684 layouts.
	AssumeV1
)

// String returns "auto", "v0" or "v1".
func (h VersionHint) String() string {
	switch h {
	case AutoVersion:
		return "auto"
	case AssumeV0:
		return "v0"
	case AssumeV1:
		return "v1"
	}
	return fmt.Sprintf("VersionHint(%d)", uint8(h))
}

// Parser holds what the caller knows about the connection an option comes
// from. The zero value infers versions and tolerates reserved bits, as RFC
// 8684 §3 asks of a receiver ("MUST be ignored"); a checker that wants to
// flag senders that set them uses Strict.
type Parser struct {
	// Version selects version-dependent layouts; AutoVersion by default.
	Version VersionHint
	// Strict rejects options with non-zero reserved bits (ErrReserved) and
	// ADD_ADDR v1 whose HMAC presence contradicts its E flag.
	Strict bool
}

// Option is one decoded MPTCP option: Subtype says which of the typed fields
// holds the value; the others are zero. Unknown subtypes (and
// MP_EXPERIMENTAL) are kept as raw bytes in Unknown. Option is a plain value
// (no interface, no pointers) so parsing it allocates nothing, and it is
// comparable with ==.
type Option struct {
	Subtype     Subtype
	MPCapable   MPCapable
	MPJoin      MPJoin
	DSS         DSS
	AddAddr     AddAddr
	RemoveAddr  RemoveAddr
	MPPrio      MPPrio
	MPFail      MPFail
	MPFastclose MPFastclose
	MPTCPRst    MPTCPRst
	Unknown     Unknown
}

// Known reports whether the option's subtype has a typed decoding (false
// for Unknown, including MP_EXPERIMENTAL).
func (o *Option) Known() bool { return o.Subtype <= SubtypeMPTCPRst }

// Parse decodes one MPTCP option starting at its kind byte with the zero
// Parser. Bytes after the option's length are ignored.
func Parse(b []byte) (Option, error) { return Parser{}.Parse(b) }

// Parse decodes one MPTCP option starting at its kind byte. Bytes after the
// option's length are ignored.
func (p Parser) Parse(b []byte) (Option, error) {
	var o Option
	err := p.ParseInto(&o, b)
	return o, err
}

// ParseInto is Parse writing into *o, for callers that reuse an Option.
// On error *o is left zeroed except for Subtype.
func (p Parser) ParseInto(o *Option, b []byte) error {
	*o = Option{}
	b, err := frame(b)
	if err != nil {
		return err
	}
	o.Subtype = Subtype(b[2] >> 4)
	switch o.Subtype {
	case SubtypeMPCapable:
		err = o.MPCapable.decode(b)
	case SubtypeMPJoin:
		err = o.MPJoin.decode(b, p.Strict)
	case SubtypeDSS:
		err = o.DSS.decode(b, p.Strict)
	case SubtypeAddAddr:
		err = o.AddAddr.decode(b, p)
	case SubtypeRemoveAddr:
		err = o.RemoveAddr.decode(b, p.Strict)
	case SubtypeMPPrio:
		err = o.MPPrio.decode(b, p.Strict)
	case SubtypeMPFail:
		err = o.MPFail.decode(b, p.Strict)
	case SubtypeMPFastclose:
		err = o.MPFastclose.decode(b, p.Strict)
	case SubtypeMPTCPRst:
		err = o.MPTCPRst.decode(b)
	default:
		err = o.Unknown.decode(b)
	}
	if err != nil {
		st := o.Subtype
		*o = Option{Subtype: st}
	}
	return err
}

// frame checks the kind, length and bounds common to every MPTCP option and
// returns b cut to the option's length.
func frame(b []byte) ([]byte, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("parse MPTCP option: %d bytes, need kind and length: %w", len(b), ErrTruncated)
	}
	if b[0] != Kind {
		return nil, fmt.Errorf("parse MPTCP option: kind %d, want %d: %w", b[0], Kind, ErrNotMPTCP)
	}
	n := int(b[1])
	if n < 3 {
		return nil, fmt.Errorf("parse MPTCP option: length %d < 3 leaves no subtype: %w", n, ErrLength)
	}
	if n > MaxLen {
		return nil, fmt.Errorf("parse MPTCP option: length %d exceeds the %d-byte TCP option space: %w", n, MaxLen, ErrLength)
	}
	if len(b) < n {
		if len(b) < 3 {
			return nil, fmt.Errorf("parse MPTCP option: length field says %d bytes, only %d present: %w", n, len(b), ErrTruncated)
		}
		return nil, fmt.Errorf("parse %v: length field says %d bytes, only %d present: %w", Subtype(b[2]>>4), n, len(b), ErrTruncated)
	}
	return b[:n], nil
}

// Append appends the option's wire encoding to b.
func (o *Option) Append(b []byte) ([]byte, error) {
	switch o.Subtype {
	case SubtypeMPCapable:
		return o.MPCapable.Append(b)
	case SubtypeMPJoin:
		return o.MPJoin.Append(b)
	case SubtypeDSS:
		return o.DSS.Append(b)
	case SubtypeAddAddr:
		return o.AddAddr.Append(b)
	case SubtypeRemoveAddr:
		return o.RemoveAddr.Append(b)
	case SubtypeMPPrio:
		return o.MPPrio.Append(b)
	case SubtypeMPFail:
		return o.MPFail.Append(b)
	case SubtypeMPFastclose:
		return o.MPFastclose.Append(b)
	case SubtypeMPTCPRst:
		return o.MPTCPRst.Append(b)
	}
	if o.Unknown.Subtype() != o.Subtype {
		return b, fmt.Errorf("append %v: Unknown holds subtype %v: %w", o.Subtype, o.Unknown.Subtype(), ErrInvalid)
	}
	return o.Unknown.Append(b)
}

// Len returns the encoded length of the option in bytes, or 0 if the value
// cannot be encoded.
func (o *Option) Len() int {
	switch o.Subtype {
	case SubtypeMPCapable:
		return o.MPCapable.Len()
	case SubtypeMPJoin:
		return o.MPJoin.Len()
	case SubtypeDSS:
		return o.DSS.Len()
	case SubtypeAddAddr:
		return o.AddAddr.Len()
	case SubtypeRemoveAddr:
		return o.RemoveAddr.Len()
	case SubtypeMPPrio:
		return o.MPPrio.Len()
	case SubtypeMPFail:
		return o.MPFail.Len()
	case SubtypeMPFastclose:
		return o.MPFastclose.Len()
	case SubtypeMPTCPRst:
		return o.MPTCPRst.Len()
	}
	return o.Unknown.Len()
}

// String returns a one-line summary of the option.
func (o Option) String() string {
	switch o.Subtype {
	case SubtypeMPCapable:
		return o.MPCapable.String()
	case SubtypeMPJoin:
		return o.MPJoin.String()
	case SubtypeDSS:
		return o.DSS.String()
	case SubtypeAddAddr:
		return o.AddAddr.String()
	case SubtypeRemoveAddr:
		return o.RemoveAddr.String()
	case SubtypeMPPrio:
		return o.MPPrio.String()
	case SubtypeMPFail:
		return o.MPFail.String()
	case SubtypeMPFastclose:
		return o.MPFastclose.String()
	case SubtypeMPTCPRst:
		return o.MPTCPRst.String()
	}
	return o.Unknown.String()
}

// Iter walks a TCP options block (the bytes after the fixed 20-byte TCP
// header) and yields each MPTCP option, skipping NOP, other kinds and
// everything after EOL. It allocates nothing unless the block is malformed.
//
//	it := option.NewIter(opts)
//	for it.Next() {
//		o, err := option.Parse(it.Bytes())
//		...
//	}
//	if err := it.Err(); err != nil { ... }
type Iter struct {
	it  hdr.TCPOptionIterator
	cur []byte
	err error
}

// NewIter returns an iterator over the TCP options block opts.
func NewIter(opts []byte) Iter { return Iter{it: hdr.NewTCPOptionIterator(opts)} }

// Next advances to the next MPTCP option and reports whether there is one.
// It returns false at the end of the block, at EOL, or on a malformed
// option (see Err). The walk is header's (the project's one TCP option
// walker); this keeps the MPTCP options and says what was wrong in this
// package's terms.
func (it *Iter) Next() bool {
	it.cur = nil
	for it.it.Next() {
		if it.it.Kind() == Kind {
			it.cur = it.it.Raw()
			return true
		}
	}
	if err := it.it.Err(); err != nil && it.err == nil {
		it.err = IterError(err)
	}
	return false
}

// IterError restates an error of header's TCP option walker (a malformed
// options block) with this package's sentinels, as Iter reports it.
func IterError(err error) error {
	var oe *hdr.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	switch {
	case oe.Length < 0:
		return fmt.Errorf("TCP options: kind %d at offset %d has no length byte: %w", oe.Kind, oe.Offset, ErrTruncated)
	case oe.Length < 2:
		return fmt.Errorf("TCP options: kind %d at offset %d has length %d < 2: %w", oe.Kind, oe.Offset, oe.Length, ErrLength)
	}
	return fmt.Errorf("TCP options: kind %d at offset %d has length %d, only %d bytes left: %w", oe.Kind, oe.Offset, oe.Length, oe.Left, ErrTruncated)
}

// Bytes returns the current MPTCP option, from its kind byte to its end. It
// aliases the options block.
func (it *Iter) Bytes() []byte { return it.cur }

// Offset returns the offset in the options block just past the current
// option.
func (it *Iter) Offset() int { return it.it.Offset() }

// Err returns the error that stopped the iteration, if any.
func (it *Iter) Err() error { return it.err }

// ParseAll parses every MPTCP option in the TCP options block opts with
// the zero Parser, appending them to dst. See Parser.ParseAll.
func ParseAll(opts []byte, dst []Option) ([]Option, error) {
	return Parser{}.ParseAll(opts, dst)
}

// ParseAll parses every MPTCP option in the TCP options block opts,
// appending them to dst (pass dst[:0] of a reused slice to avoid
// allocating). On a malformed block or option it returns the options
// decoded before it and the error.
func (p Parser) ParseAll(opts []byte, dst []Option) ([]Option, error) {
	it := NewIter(opts)
	for it.Next() {
		dst = append(dst, Option{})
		if err := p.ParseInto(&dst[len(dst)-1], it.Bytes()); err != nil {
			return dst[:len(dst)-1], err
		}
	}
	return dst, it.Err()
}

// header appends kind, length and the subtype byte (subtype in the high
// nibble, low nibble as given).
func header(b []byte, n int, st Subtype, low uint8) []byte {
	return append(b, Kind, byte(n), byte(st)<<4|low&0x0f)
}

// lenErr builds the error for an option length the layout does not allow.
func lenErr(st Subtype, n int, want string) error {
	return fmt.Errorf("parse %v: length %d, want %s: %w", st, n, want, ErrLength)
}

// reservedErr builds the error for reserved bits set under a strict Parser.
func reservedErr(st Subtype, bits uint16) error {
	return fmt.Errorf("parse %v: reserved bits 0x%04x set: %w", st, bits, ErrReserved)
}
