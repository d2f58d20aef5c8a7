package option

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// MP_CAPABLE flag bits (RFC 8684 §3.1, RFC 6824 §3.1), the "A" to "H" bits
// of the option's fourth byte.
const (
	// CapChecksum ("A"): the sender requires DSS checksums.
	CapChecksum uint8 = 0x80
	// CapExtensibility ("B"): reserved for an extension; must be 0.
	CapExtensibility uint8 = 0x40
	// CapNoMoreSubflows ("C", v1 only): do not open subflows to the
	// sender's source address and port.
	CapNoMoreSubflows uint8 = 0x20
	// CapHMACSHA256 ("H", v1): HMAC-SHA256 for keys and MP_JOIN.
	CapHMACSHA256 uint8 = 0x01
	// CapHMACSHA1 ("H", v0): HMAC-SHA1 for keys and MP_JOIN.
	CapHMACSHA1 uint8 = 0x01
)

// MP_CAPABLE lengths by handshake step (RFC 8684 §3.1, Figure 4).
const (
	capLenSYN       = 4  // v1 SYN: no key
	capLenKey       = 12 // v1 SYN/ACK; v0 SYN and SYN/ACK: sender key
	capLenACK       = 20 // third ACK: both keys
	capLenACKData   = 22 // v1 first data: both keys, data-level length
	capLenACKDataCk = 24 // ... and DSS checksum
)

// MPCapable is the MP_CAPABLE option (RFC 8684 §3.1; RFC 6824 §3.1 for
// v0). Which fields are present follows the handshake step, and the length
// alone tells them apart (4, 12, 20, 22 or 24 bytes; v0 only 12 or 20):
//
//	v1 SYN                  no key                           4
//	v1 SYN/ACK, v0 SYN(ACK) SenderKey                        12
//	third ACK               SenderKey, ReceiverKey           20
//	v1 ACK with data        ... DataLen                      22
//	v1 ACK with data, csum  ... DataLen, Checksum            24
//
// Each Has* flag implies the previous ones.
type MPCapable struct {
	Version Version
	// Flags holds the A-H bits (CapChecksum, ...). Bits without a meaning
	// in Version are kept as received.
	Flags          uint8
	HasSenderKey   bool
	SenderKey      uint64
	HasReceiverKey bool
	ReceiverKey    uint64
	HasDataLen     bool
	DataLen        uint16
	HasChecksum    bool
	Checksum       uint16
}

func (c *MPCapable) decode(b []byte) error {
	n := len(b)
	*c = MPCapable{Version: Version(b[2] & 0x0f)}
	if c.Version == V0 {
		if n != capLenKey && n != capLenACK {
			return lenErr(SubtypeMPCapable, n, "12 (SYN, SYN/ACK) or 20 (ACK) for v0")
		}
	} else if n != capLenSYN && n != capLenKey && n != capLenACK && n != capLenACKData && n != capLenACKDataCk {
		return lenErr(SubtypeMPCapable, n, "4 (SYN), 12 (SYN/ACK), 20 (ACK), 22 or 24 (ACK with data)")
	}
	c.Flags = b[3]
	if n >= capLenKey {
		c.HasSenderKey = true
		c.SenderKey = binary.BigEndian.Uint64(b[4:])
	}
	if n >= capLenACK {
		c.HasReceiverKey = true
		c.ReceiverKey = binary.BigEndian.Uint64(b[12:])
	}
	if n >= capLenACKData {
		c.HasDataLen = true
		c.DataLen = binary.BigEndian.Uint16(b[20:])
	}
	if n == capLenACKDataCk {
		c.HasChecksum = true
		c.Checksum = binary.BigEndian.Uint16(b[22:])
	}
	return nil
}

// Len returns the encoded length, or 0 if the Has* flags are inconsistent.
func (c *MPCapable) Len() int {
	switch {
	case c.Version > 0x0f:
		return 0
	case c.HasChecksum && !c.HasDataLen, c.HasDataLen && !c.HasReceiverKey, c.HasReceiverKey && !c.HasSenderKey:
		return 0
	case c.Version == V0 && (c.HasDataLen || !c.HasSenderKey):
		return 0
	case c.HasChecksum:
		return capLenACKDataCk
	case c.HasDataLen:
		return capLenACKData
	case c.HasReceiverKey:
		return capLenACK
	case c.HasSenderKey:
		return capLenKey
	}
	return capLenSYN
}

// Append appends the option to b. It fails if the Has* flags skip a step
// or the layout does not exist in c.Version.
func (c *MPCapable) Append(b []byte) ([]byte, error) {
	n := c.Len()
	if n == 0 {
		return b, fmt.Errorf("append MP_CAPABLE %v: inconsistent fields (key %v, receiver key %v, data len %v, checksum %v): %w",
			c.Version, c.HasSenderKey, c.HasReceiverKey, c.HasDataLen, c.HasChecksum, ErrInvalid)
	}
	b = header(b, n, SubtypeMPCapable, uint8(c.Version))
	b = append(b, c.Flags)
	if c.HasSenderKey {
		b = binary.BigEndian.AppendUint64(b, c.SenderKey)
	}
	if c.HasReceiverKey {
		b = binary.BigEndian.AppendUint64(b, c.ReceiverKey)
	}
	if c.HasDataLen {
		b = binary.BigEndian.AppendUint16(b, c.DataLen)
	}
	if c.HasChecksum {
		b = binary.BigEndian.AppendUint16(b, c.Checksum)
	}
	return b, nil
}

// Step names the handshake step the layout belongs to.
func (c *MPCapable) Step() string {
	switch {
	case c.HasDataLen:
		return "ACK with data"
	case c.HasReceiverKey:
		return "ACK"
	case c.HasSenderKey && c.Version == V0:
		return "SYN or SYN/ACK"
	case c.HasSenderKey:
		return "SYN/ACK"
	}
	return "SYN"
}

// FlagNames describes the set flags, e.g. "HMAC-SHA256, checksum".
func (c *MPCapable) FlagNames() string {
	var parts []string
	if c.Flags&0x01 != 0 {
		if c.Version == V0 {
			parts = append(parts, "HMAC-SHA1")
		} else {
			parts = append(parts, "HMAC-SHA256")
		}
	} else {
		parts = append(parts, "no HMAC algorithm")
	}
	if c.Flags&CapChecksum != 0 {
		parts = append(parts, "checksum required")
	} else {
		parts = append(parts, "no checksum")
	}
	if c.Flags&CapExtensibility != 0 {
		parts = append(parts, "extensibility")
	}
	if c.Version != V0 && c.Flags&CapNoMoreSubflows != 0 {
		parts = append(parts, "no more subflows")
	}
	var other uint8
	if c.Version == V0 {
		other = c.Flags & 0x3e
	} else {
		other = c.Flags & 0x1e
	}
	if other != 0 {
		parts = append(parts, fmt.Sprintf("unassigned 0x%02x", other))
	}
	return strings.Join(parts, ", ")
}

// String returns a one-line summary.
func (c MPCapable) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "MP_CAPABLE %v %s flags=0x%02x", c.Version, c.Step(), c.Flags)
	if c.HasSenderKey {
		fmt.Fprintf(&s, " key=0x%016x", c.SenderKey)
	}
	if c.HasReceiverKey {
		fmt.Fprintf(&s, " rkey=0x%016x", c.ReceiverKey)
	}
	if c.HasDataLen {
		fmt.Fprintf(&s, " len=%d", c.DataLen)
	}
	if c.HasChecksum {
		fmt.Fprintf(&s, " csum=0x%04x", c.Checksum)
	}
	return s.String()
}
