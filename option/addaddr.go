package option

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

const (
	addAddrEcho   = 0x01   // E, v1
	addAddrRsvV1  = 0x0e00 // reserved bits of bytes 2-3, v1
	addAddrIPVer4 = 4      // IPVer nibble, v0
	addAddrIPVer6 = 6
)

// AddAddr is the ADD_ADDR option: RFC 8684 §3.4.1 (v1) or RFC 6824 §3.4.1
// (v0). Version selects the layout:
//
//	v1: subtype | rsv(3) | E, address id, address, [port], [truncated HMAC]
//	v0: subtype | IPVer(4), address id, address, [port]
//
// The address family and the presence of port and HMAC follow from the
// length (v1 IPv4: 8, 10, 16, 18; IPv6: 20, 22, 28, 30; v0 without the
// HMAC sizes). A v1 ADD_ADDR carries the HMAC unless it is an echo (E=1).
type AddAddr struct {
	Version Version
	// Echo is the E flag (v1): this option acknowledges a received ADD_ADDR.
	Echo   bool
	AddrID uint8
	// Addr is the advertised IPv4 or IPv6 address (no zone).
	Addr    netip.Addr
	HasPort bool
	Port    uint16
	// HasHMAC and HMAC: the rightmost 64 bits of the ADD_ADDR HMAC (v1).
	HasHMAC bool
	HMAC    uint64
	// Reserved holds the reserved bits of bytes 2-3 in place (v1: mask
	// 0x0e00), zero when well formed.
	Reserved uint16
}

func (a *AddAddr) decode(b []byte, p Parser) error {
	*a = AddAddr{}
	n := len(b)
	nib := b[2] & 0x0f
	v0 := p.Version == AssumeV0 || (p.Version == AutoVersion && v0Layout(nib, n))
	if v0 {
		a.Version = V0
		var alen int
		switch nib {
		case addAddrIPVer4:
			alen = 4
		case addAddrIPVer6:
			alen = 16
		default:
			return fmt.Errorf("parse ADD_ADDR v0: IPVer %d, want 4 or 6: %w", nib, ErrInvalid)
		}
		switch n {
		case 4 + alen:
		case 4 + alen + 2:
			a.HasPort = true
		default:
			return fmt.Errorf("parse ADD_ADDR v0: length %d for IPVer %d, want %d or %d (with port): %w", n, nib, 4+alen, 6+alen, ErrLength)
		}
		a.AddrID = b[3]
		a.Addr = addrFrom(b[4 : 4+alen])
		if a.HasPort {
			a.Port = binary.BigEndian.Uint16(b[4+alen:])
		}
		return nil
	}
	a.Version = V1
	a.Echo = nib&addAddrEcho != 0
	a.Reserved = uint16(nib&0x0e) << 8
	var alen int
	switch n {
	case 8, 10, 16, 18:
		alen = 4
	case 20, 22, 28, 30:
		alen = 16
	default:
		return lenErr(SubtypeAddAddr, n, "8, 10, 16 or 18 (IPv4) or 20, 22, 28 or 30 (IPv6) for v1")
	}
	rest := n - 4 - alen // 0, 2, 8 or 10
	a.HasPort = rest == 2 || rest == 10
	a.HasHMAC = rest >= 8
	if p.Strict {
		if a.Reserved != 0 {
			return reservedErr(SubtypeAddAddr, a.Reserved)
		}
		if a.Echo == a.HasHMAC {
			return fmt.Errorf("parse ADD_ADDR v1: E=%v with HMAC present=%v (length %d); an HMAC is sent exactly when E=0: %w",
				a.Echo, a.HasHMAC, n, ErrLength)
		}
	}
	a.AddrID = b[3]
	a.Addr = addrFrom(b[4 : 4+alen])
	off := 4 + alen
	if a.HasPort {
		a.Port = binary.BigEndian.Uint16(b[off:])
		off += 2
	}
	if a.HasHMAC {
		a.HMAC = binary.BigEndian.Uint64(b[off:])
	}
	return nil
}

// v0Layout reports whether an ADD_ADDR with low nibble nib and length n
// fits the v0 layout (RFC 6824 §3.4.1): IPVer 4 with length 8 or 10, or
// IPVer 6 with length 20 or 22. Any other option is read as v1, where that
// nibble is three reserved bits and E (RFC 8684 §3.4.1): a v1 sender that
// sets reserved bits, which a receiver must ignore, is not mistaken for a
// malformed v0 one. (A v1 option of length 8 or 10 with nibble 4, or 20 or
// 22 with nibble 6, would lack the HMAC that E=0 requires, so v0 is the
// only well-formed reading of those.)
func v0Layout(nib uint8, n int) bool {
	switch nib {
	case addAddrIPVer4:
		return n == 8 || n == 10
	case addAddrIPVer6:
		return n == 20 || n == 22
	}
	return false
}

// addrFrom converts 4 or 16 bytes to an address without allocating.
func addrFrom(b []byte) netip.Addr {
	if len(b) == 4 {
		return netip.AddrFrom4([4]byte(b))
	}
	return netip.AddrFrom16([16]byte(b))
}

// appendAddr appends the 4 or 16 bytes of addr.
func appendAddr(b []byte, addr netip.Addr) []byte {
	if addr.Is4() {
		a4 := addr.As4()
		return append(b, a4[:]...)
	}
	a16 := addr.As16()
	return append(b, a16[:]...)
}

func (a *AddAddr) addrLen() int {
	switch {
	case !a.Addr.IsValid() || a.Addr.Zone() != "":
		return 0
	case a.Addr.Is4():
		return 4
	}
	return 16
}

// Len returns the encoded length, or 0 if the value cannot be encoded (no
// address, a zone, a v0 option with an HMAC or echo flag, a version other
// than 0 or 1).
func (a *AddAddr) Len() int {
	alen := a.addrLen()
	if alen == 0 || a.Version > V1 || (a.Version == V0 && (a.HasHMAC || a.Echo)) {
		return 0
	}
	n := 4 + alen
	if a.HasPort {
		n += 2
	}
	if a.HasHMAC {
		n += 8
	}
	return n
}

// Append appends the option to b.
func (a *AddAddr) Append(b []byte) ([]byte, error) {
	n := a.Len()
	if n == 0 {
		return b, fmt.Errorf("append ADD_ADDR %v: unencodable (addr %v, hmac %v, echo %v): %w", a.Version, a.Addr, a.HasHMAC, a.Echo, ErrInvalid)
	}
	var low uint8
	if a.Version == V0 {
		low = addAddrIPVer4
		if !a.Addr.Is4() {
			low = addAddrIPVer6
		}
	} else {
		low = uint8(a.Reserved>>8) & 0x0e
		if a.Echo {
			low |= addAddrEcho
		}
	}
	b = header(b, n, SubtypeAddAddr, low)
	b = append(b, a.AddrID)
	b = appendAddr(b, a.Addr)
	if a.HasPort {
		b = binary.BigEndian.AppendUint16(b, a.Port)
	}
	if a.HasHMAC {
		b = binary.BigEndian.AppendUint64(b, a.HMAC)
	}
	return b, nil
}

// String returns a one-line summary.
func (a AddAddr) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "ADD_ADDR %v", a.Version)
	if a.Echo {
		s.WriteString(" echo")
	}
	fmt.Fprintf(&s, " id=%d addr=%v", a.AddrID, a.Addr)
	if a.HasPort {
		fmt.Fprintf(&s, " port=%d", a.Port)
	}
	if a.HasHMAC {
		fmt.Fprintf(&s, " hmac=0x%016x", a.HMAC)
	}
	return s.String()
}
