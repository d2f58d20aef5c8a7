package option

import (
	"encoding/binary"
	"fmt"
)

// JoinStage is the handshake step of an MP_JOIN, which fixes its layout.
type JoinStage uint8

// MP_JOIN stages (RFC 8684 §3.2, Figures 5-7) and their lengths.
const (
	JoinSYN    JoinStage = iota // 12 bytes: B, address id, token, nonce
	JoinSYNACK                  // 16 bytes: B, address id, truncated HMAC, nonce
	JoinACK                     // 24 bytes: 160-bit HMAC
)

func (s JoinStage) String() string {
	switch s {
	case JoinSYN:
		return "SYN"
	case JoinSYNACK:
		return "SYN/ACK"
	case JoinACK:
		return "ACK"
	}
	return fmt.Sprintf("JoinStage(%d)", uint8(s))
}

// MP_JOIN lengths.
const (
	joinLenSYN    = 12
	joinLenSYNACK = 16
	joinLenACK    = 24
)

// Reserved-bit masks over bytes 2-3 (subtype nibble excluded).
const (
	joinRsvSYN = 0x0e00 // three bits between subtype and B
	joinRsvACK = 0x0fff // twelve bits after the subtype
	joinBackup = 0x01   // B, in byte 2
)

// MPJoin is the MP_JOIN option (RFC 8684 §3.2). Stage selects the layout;
// fields of other stages are zero.
type MPJoin struct {
	Stage JoinStage
	// Backup is the B flag (SYN, SYN/ACK).
	Backup bool
	// AddrID is the sender's address id (SYN, SYN/ACK).
	AddrID uint8
	// Token is the receiver's token (SYN).
	Token uint32
	// Nonce is the sender's random number (SYN, SYN/ACK).
	Nonce uint32
	// TruncHMAC is the leftmost 64 bits of the sender's HMAC (SYN/ACK).
	TruncHMAC uint64
	// HMAC is the sender's 160-bit HMAC (ACK).
	HMAC [20]byte
	// Reserved holds the reserved bits of bytes 2-3 in place (masks
	// 0x0e00 for SYN and SYN/ACK, 0x0fff for ACK), zero when well formed.
	Reserved uint16
}

func (j *MPJoin) decode(b []byte, strict bool) error {
	*j = MPJoin{}
	if len(b) != joinLenSYN && len(b) != joinLenSYNACK && len(b) != joinLenACK {
		return lenErr(SubtypeMPJoin, len(b), "12 (SYN), 16 (SYN/ACK) or 24 (ACK)")
	}
	b23 := uint16(b[2])<<8 | uint16(b[3])
	switch len(b) {
	case joinLenSYN:
		j.Stage = JoinSYN
		j.Token = binary.BigEndian.Uint32(b[4:])
		j.Nonce = binary.BigEndian.Uint32(b[8:])
	case joinLenSYNACK:
		j.Stage = JoinSYNACK
		j.TruncHMAC = binary.BigEndian.Uint64(b[4:])
		j.Nonce = binary.BigEndian.Uint32(b[12:])
	case joinLenACK:
		j.Stage = JoinACK
		copy(j.HMAC[:], b[4:24])
		j.Reserved = b23 & joinRsvACK
	}
	if j.Stage != JoinACK {
		j.Backup = b[2]&joinBackup != 0
		j.AddrID = b[3]
		j.Reserved = b23 & joinRsvSYN
	}
	if strict && j.Reserved != 0 {
		return reservedErr(SubtypeMPJoin, j.Reserved)
	}
	return nil
}

// Len returns the encoded length, or 0 for an unknown Stage.
func (j *MPJoin) Len() int {
	switch j.Stage {
	case JoinSYN:
		return joinLenSYN
	case JoinSYNACK:
		return joinLenSYNACK
	case JoinACK:
		return joinLenACK
	}
	return 0
}

// Append appends the option to b.
func (j *MPJoin) Append(b []byte) ([]byte, error) {
	n := j.Len()
	if n == 0 {
		return b, fmt.Errorf("append MP_JOIN: unknown stage %d: %w", j.Stage, ErrInvalid)
	}
	if j.Stage == JoinACK {
		b = header(b, n, SubtypeMPJoin, uint8(j.Reserved>>8))
		b = append(b, uint8(j.Reserved))
		return append(b, j.HMAC[:]...), nil
	}
	low := uint8(j.Reserved>>8) & 0x0e
	if j.Backup {
		low |= joinBackup
	}
	b = header(b, n, SubtypeMPJoin, low)
	b = append(b, j.AddrID)
	if j.Stage == JoinSYN {
		b = binary.BigEndian.AppendUint32(b, j.Token)
	} else {
		b = binary.BigEndian.AppendUint64(b, j.TruncHMAC)
	}
	return binary.BigEndian.AppendUint32(b, j.Nonce), nil
}

// String returns a one-line summary.
func (j MPJoin) String() string {
	switch j.Stage {
	case JoinSYN:
		return fmt.Sprintf("MP_JOIN SYN backup=%v id=%d token=0x%08x nonce=0x%08x", j.Backup, j.AddrID, j.Token, j.Nonce)
	case JoinSYNACK:
		return fmt.Sprintf("MP_JOIN SYN/ACK backup=%v id=%d hmac=0x%016x nonce=0x%08x", j.Backup, j.AddrID, j.TruncHMAC, j.Nonce)
	}
	return fmt.Sprintf("MP_JOIN %v hmac=%x", j.Stage, j.HMAC[:])
}
