package option

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// MaxRemoveIDs is the most address ids a REMOVE_ADDR can list within the
// TCP option space.
const MaxRemoveIDs = MaxLen - 3

// RemoveAddr is the REMOVE_ADDR option (RFC 8684 §3.4.2): a list of at
// least one address id. The ids live in a fixed array so the value holds
// no pointer; use IDs and SetIDs.
type RemoveAddr struct {
	n   uint8
	ids [MaxRemoveIDs]uint8
	// Reserved holds the reserved bits of bytes 2-3 in place (mask
	// 0x0f00), zero when well formed.
	Reserved uint16
}

// NewRemoveAddr returns a REMOVE_ADDR listing ids.
func NewRemoveAddr(ids ...uint8) (RemoveAddr, error) {
	var r RemoveAddr
	err := r.SetIDs(ids)
	return r, err
}

// IDs returns the listed address ids. The slice aliases r.
func (r *RemoveAddr) IDs() []uint8 { return r.ids[:r.n] }

// SetIDs replaces the listed ids; it fails for more than MaxRemoveIDs.
func (r *RemoveAddr) SetIDs(ids []uint8) error {
	if len(ids) > MaxRemoveIDs {
		return fmt.Errorf("REMOVE_ADDR: %d ids, at most %d fit: %w", len(ids), MaxRemoveIDs, ErrInvalid)
	}
	r.ids = [MaxRemoveIDs]uint8{}
	r.n = uint8(copy(r.ids[:], ids))
	return nil
}

func (r *RemoveAddr) decode(b []byte, strict bool) error {
	*r = RemoveAddr{}
	if len(b) < 4 {
		return lenErr(SubtypeRemoveAddr, len(b), "at least 4 (one address id)")
	}
	r.Reserved = uint16(b[2]&0x0f) << 8
	if strict && r.Reserved != 0 {
		return reservedErr(SubtypeRemoveAddr, r.Reserved)
	}
	r.n = uint8(copy(r.ids[:], b[3:]))
	return nil
}

// Len returns the encoded length, or 0 for an empty list.
func (r *RemoveAddr) Len() int {
	if r.n == 0 {
		return 0
	}
	return 3 + int(r.n)
}

// Append appends the option to b; an empty list cannot be encoded.
func (r *RemoveAddr) Append(b []byte) ([]byte, error) {
	if r.n == 0 {
		return b, fmt.Errorf("append REMOVE_ADDR: no address ids: %w", ErrInvalid)
	}
	b = header(b, r.Len(), SubtypeRemoveAddr, uint8(r.Reserved>>8))
	return append(b, r.IDs()...), nil
}

// String returns a one-line summary.
func (r RemoveAddr) String() string {
	var s strings.Builder
	s.WriteString("REMOVE_ADDR ids=")
	for i, id := range r.IDs() {
		if i > 0 {
			s.WriteByte(',')
		}
		fmt.Fprintf(&s, "%d", id)
	}
	return s.String()
}

// MPPrio is the MP_PRIO option (RFC 8684 §3.3.8): change the backup
// priority of the subflow it is sent on. RFC 6824 also carried an address
// id (length 4); RFC 8684 dropped it (length 3). Both are accepted.
type MPPrio struct {
	Backup    bool
	HasAddrID bool
	AddrID    uint8
	// Reserved holds the reserved bits of bytes 2-3 in place (mask
	// 0x0e00), zero when well formed.
	Reserved uint16
}

func (m *MPPrio) decode(b []byte, strict bool) error {
	*m = MPPrio{}
	switch len(b) {
	case 3:
	case 4:
		m.HasAddrID = true
		m.AddrID = b[3]
	default:
		return lenErr(SubtypeMPPrio, len(b), "3, or 4 with the v0 address id")
	}
	m.Backup = b[2]&0x01 != 0
	m.Reserved = uint16(b[2]&0x0e) << 8
	if strict && m.Reserved != 0 {
		return reservedErr(SubtypeMPPrio, m.Reserved)
	}
	return nil
}

// Len returns the encoded length.
func (m *MPPrio) Len() int {
	if m.HasAddrID {
		return 4
	}
	return 3
}

// Append appends the option to b.
func (m *MPPrio) Append(b []byte) ([]byte, error) {
	low := uint8(m.Reserved>>8) & 0x0e
	if m.Backup {
		low |= 0x01
	}
	b = header(b, m.Len(), SubtypeMPPrio, low)
	if m.HasAddrID {
		b = append(b, m.AddrID)
	}
	return b, nil
}

// String returns a one-line summary.
func (m MPPrio) String() string {
	if m.HasAddrID {
		return fmt.Sprintf("MP_PRIO backup=%v id=%d", m.Backup, m.AddrID)
	}
	return fmt.Sprintf("MP_PRIO backup=%v", m.Backup)
}

// decode12 checks the 12-byte layout shared by MP_FAIL and MP_FASTCLOSE:
// subtype, 12 reserved bits, a 64-bit value.
func decode12(st Subtype, b []byte, strict bool) (rsv uint16, v uint64, err error) {
	if len(b) != 12 {
		return 0, 0, lenErr(st, len(b), "12")
	}
	rsv = (uint16(b[2])<<8 | uint16(b[3])) & 0x0fff
	if strict && rsv != 0 {
		return 0, 0, reservedErr(st, rsv)
	}
	return rsv, binary.BigEndian.Uint64(b[4:]), nil
}

func append12(b []byte, st Subtype, rsv uint16, v uint64) []byte {
	b = header(b, 12, st, uint8(rsv>>8))
	b = append(b, uint8(rsv))
	return binary.BigEndian.AppendUint64(b, v)
}

// MPFail is the MP_FAIL option (RFC 8684 §3.7): fall back from the
// data-level mapping at DSN after a checksum failure.
type MPFail struct {
	DSN uint64
	// Reserved: the 12 reserved bits after the subtype (mask 0x0fff).
	Reserved uint16
}

func (m *MPFail) decode(b []byte, strict bool) (err error) {
	*m = MPFail{}
	m.Reserved, m.DSN, err = decode12(SubtypeMPFail, b, strict)
	return err
}

// Len returns the encoded length (12).
func (m *MPFail) Len() int { return 12 }

// Append appends the option to b.
func (m *MPFail) Append(b []byte) ([]byte, error) {
	return append12(b, SubtypeMPFail, m.Reserved, m.DSN), nil
}

// String returns a one-line summary.
func (m MPFail) String() string { return fmt.Sprintf("MP_FAIL dsn=%d", m.DSN) }

// MPFastclose is the MP_FASTCLOSE option (RFC 8684 §3.5): abrupt close of
// the whole connection, authenticated by the receiver's key.
type MPFastclose struct {
	ReceiverKey uint64
	// Reserved: the 12 reserved bits after the subtype (mask 0x0fff).
	Reserved uint16
}

func (m *MPFastclose) decode(b []byte, strict bool) (err error) {
	*m = MPFastclose{}
	m.Reserved, m.ReceiverKey, err = decode12(SubtypeMPFastclose, b, strict)
	return err
}

// Len returns the encoded length (12).
func (m *MPFastclose) Len() int { return 12 }

// Append appends the option to b.
func (m *MPFastclose) Append(b []byte) ([]byte, error) {
	return append12(b, SubtypeMPFastclose, m.Reserved, m.ReceiverKey), nil
}

// String returns a one-line summary.
func (m MPFastclose) String() string {
	return fmt.Sprintf("MP_FASTCLOSE rkey=0x%016x", m.ReceiverKey)
}

// MP_TCPRST flag bits (RFC 8684 §3.6, Figure 18).
const (
	RstTransient uint8 = 0x01 // T: the error condition is temporary
	RstFlagW     uint8 = 0x02 // W: unassigned
	RstFlagV     uint8 = 0x04 // V: unassigned
	RstFlagU     uint8 = 0x08 // U: unassigned
)

// RstReason is the MP_TCPRST reason code (RFC 8684 §3.6, IANA "MPTCP
// MP_TCPRST Reason Codes").
type RstReason uint8

// MP_TCPRST reason codes.
const (
	RstUnspecified         RstReason = 0x00
	RstMPTCPError          RstReason = 0x01
	RstLackOfResources     RstReason = 0x02
	RstAdminProhibited     RstReason = 0x03
	RstTooMuchOutstanding  RstReason = 0x04
	RstUnacceptablePerf    RstReason = 0x05
	RstMiddleboxInterfered RstReason = 0x06
)

var rstReasonNames = [...]string{
	"unspecified error",
	"MPTCP-specific error",
	"lack of resources",
	"administratively prohibited",
	"too much outstanding data",
	"unacceptable performance",
	"middlebox interference",
}

func (r RstReason) String() string {
	if int(r) < len(rstReasonNames) {
		return rstReasonNames[r]
	}
	return fmt.Sprintf("reason 0x%02x", uint8(r))
}

// MPTCPRst is the MP_TCPRST option (RFC 8684 §3.6), sent with a RST to say
// why a subflow is reset.
type MPTCPRst struct {
	// Flags holds the U, V, W, T bits (RstTransient, ...).
	Flags  uint8
	Reason RstReason
}

func (m *MPTCPRst) decode(b []byte) error {
	*m = MPTCPRst{}
	if len(b) != 4 {
		return lenErr(SubtypeMPTCPRst, len(b), "4")
	}
	m.Flags = b[2] & 0x0f
	m.Reason = RstReason(b[3])
	return nil
}

// Len returns the encoded length (4).
func (m *MPTCPRst) Len() int { return 4 }

// Append appends the option to b.
func (m *MPTCPRst) Append(b []byte) ([]byte, error) {
	if m.Flags > 0x0f {
		return b, fmt.Errorf("append MP_TCPRST: flags 0x%02x beyond 0x0f: %w", m.Flags, ErrInvalid)
	}
	return append(header(b, 4, SubtypeMPTCPRst, m.Flags), uint8(m.Reason)), nil
}

// String returns a one-line summary.
func (m MPTCPRst) String() string {
	return fmt.Sprintf("MP_TCPRST transient=%v flags=0x%x reason=%d (%v)", m.Flags&RstTransient != 0, m.Flags, uint8(m.Reason), m.Reason)
}

// Unknown is an MPTCP option whose subtype this package does not decode
// (including MP_EXPERIMENTAL), kept as raw bytes so it can be re-encoded.
type Unknown struct {
	n    uint8
	data [MaxLen - 2]byte
}

// NewUnknown returns an Unknown whose bytes after kind and length are
// data; data[0] carries the subtype in its high nibble.
func NewUnknown(data []byte) (Unknown, error) {
	var u Unknown
	if len(data) < 1 || len(data) > len(u.data) {
		return u, fmt.Errorf("unknown MPTCP option: %d data bytes, want 1 to %d: %w", len(data), len(u.data), ErrInvalid)
	}
	u.n = uint8(copy(u.data[:], data))
	return u, nil
}

// Subtype returns the subtype from the first data byte.
func (u *Unknown) Subtype() Subtype {
	if u.n == 0 {
		return 0
	}
	return Subtype(u.data[0] >> 4)
}

// Data returns the option's bytes after kind and length, starting with
// the subtype byte. The slice aliases u.
func (u *Unknown) Data() []byte { return u.data[:u.n] }

func (u *Unknown) decode(b []byte) error {
	*u = Unknown{}
	u.n = uint8(copy(u.data[:], b[2:]))
	return nil
}

// Len returns the encoded length, or 0 if empty.
func (u *Unknown) Len() int {
	if u.n == 0 {
		return 0
	}
	return 2 + int(u.n)
}

// Append appends the option to b.
func (u *Unknown) Append(b []byte) ([]byte, error) {
	if u.n == 0 {
		return b, fmt.Errorf("append unknown MPTCP option: no data: %w", ErrInvalid)
	}
	b = append(b, Kind, byte(u.Len()))
	return append(b, u.Data()...), nil
}

// String returns a one-line summary.
func (u Unknown) String() string {
	return fmt.Sprintf("%v len=%d data=%x", u.Subtype(), u.Len(), u.Data())
}
