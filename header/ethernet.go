package header

import (
	"encoding/binary"
	"fmt"
)

// EthernetHeaderLen is the length of an Ethernet II header without VLAN tags.
const EthernetHeaderLen = 14

// EtherType values used by the stack.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeIPv6 uint16 = 0x86dd
	EtherTypeVLAN uint16 = 0x8100 // IEEE 802.1Q customer tag
	// EtherTypeQinQ is the IEEE 802.1ad service tag; EtherTypeQinQ2 the
	// pre-standard double tag still seen on the wire.
	EtherTypeQinQ  uint16 = 0x88a8
	EtherTypeQinQ2 uint16 = 0x9100
)

// MaxVLANTags is how many stacked VLAN tags Ethernet.Network walks.
const MaxVLANTags = 8

// MAC is a 48-bit Ethernet address, comparable and allocation-free.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// String formats m as six colon-separated hex bytes.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// IsMulticast reports whether the group bit of m is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// Ethernet is a view of an Ethernet II frame.
type Ethernet []byte

// Valid reports whether the frame holds a whole Ethernet header.
func (e Ethernet) Valid() bool { return len(e) >= EthernetHeaderLen }

// Dst returns the destination address.
func (e Ethernet) Dst() MAC { return MAC(e[0:6]) }

// Src returns the source address.
func (e Ethernet) Src() MAC { return MAC(e[6:12]) }

// Type returns the EtherType.
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[12:14]) }

// Payload returns the bytes after the header, or nil if the frame is short.
func (e Ethernet) Payload() []byte {
	if len(e) < EthernetHeaderLen {
		return nil
	}
	return e[EthernetHeaderLen:]
}

// Network finds the network-layer packet of the frame behind up to
// MaxVLANTags stacked 802.1Q/802.1ad tags (IEEE 802.1Q §9.6: two bytes of
// TCI, then the next EtherType). It returns the payload's EtherType and the
// offset of the payload in e; ok is false when the frame ends inside a
// header or holds more tags than that. It never panics and never allocates.
func (e Ethernet) Network() (etherType uint16, offset int, ok bool) {
	if len(e) < EthernetHeaderLen {
		return 0, 0, false
	}
	etherType, offset = e.Type(), EthernetHeaderLen
	for range MaxVLANTags + 1 {
		if etherType != EtherTypeVLAN && etherType != EtherTypeQinQ && etherType != EtherTypeQinQ2 {
			return etherType, offset, true
		}
		if len(e) < offset+4 {
			return 0, 0, false
		}
		etherType = binary.BigEndian.Uint16(e[offset+2:])
		offset += 4
	}
	return 0, 0, false
}

// Encode writes the header fields.
func (e Ethernet) Encode(dst, src MAC, etherType uint16) {
	copy(e[0:6], dst[:])
	copy(e[6:12], src[:])
	binary.BigEndian.PutUint16(e[12:14], etherType)
}

// IPv4MulticastMAC returns the Ethernet address an IPv4 multicast group maps
// to (RFC 1112 §6.4).
func IPv4MulticastMAC(group [4]byte) MAC {
	return MAC{0x01, 0x00, 0x5e, group[1] & 0x7f, group[2], group[3]}
}

// IPv6MulticastMAC returns the Ethernet address an IPv6 multicast group maps
// to (RFC 2464 §7): 33:33 followed by the last four bytes of the group.
func IPv6MulticastMAC(group [16]byte) MAC {
	return MAC{0x33, 0x33, group[12], group[13], group[14], group[15]}
}
