package header

import (
	"encoding/binary"
	"net/netip"
)

// ARPLen is the length of an ARP packet for Ethernet and IPv4 (RFC 826).
const ARPLen = 28

// ARP operation codes (RFC 826).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ARP is a view of an ARP packet for IPv4 over Ethernet.
type ARP []byte

// Valid reports whether a is an Ethernet/IPv4 ARP packet: hardware type 1,
// protocol type 0x0800, address lengths 6 and 4.
func (a ARP) Valid() bool {
	return len(a) >= ARPLen &&
		binary.BigEndian.Uint16(a[0:2]) == 1 &&
		binary.BigEndian.Uint16(a[2:4]) == EtherTypeIPv4 &&
		a[4] == 6 && a[5] == 4
}

// Op returns the operation code.
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[6:8]) }

// SenderHW returns the sender hardware address.
func (a ARP) SenderHW() MAC { return MAC(a[8:14]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(a[14:18])) }

// TargetHW returns the target hardware address.
func (a ARP) TargetHW() MAC { return MAC(a[18:24]) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(a[24:28])) }

// Encode writes a whole Ethernet/IPv4 ARP packet into a, which must be at
// least ARPLen bytes long.
func (a ARP) Encode(op uint16, senderHW MAC, senderIP netip.Addr, targetHW MAC, targetIP netip.Addr) {
	binary.BigEndian.PutUint16(a[0:2], 1)
	binary.BigEndian.PutUint16(a[2:4], EtherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	copy(a[8:14], senderHW[:])
	s := senderIP.As4()
	copy(a[14:18], s[:])
	copy(a[18:24], targetHW[:])
	t := targetIP.As4()
	copy(a[24:28], t[:])
}
