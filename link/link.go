// Package link moves packets between our stack (or our link emulator) and a
// network device: an AF_PACKET socket on an interface the stack owns, a TUN
// device, or an in-memory pipe for tests. Everything that carries packets
// implements Endpoint, so the emulator can wrap any of them.
package link

import "errors"

// Type says what a packet on an Endpoint starts with.
type Type uint8

const (
	// TypeIP packets are bare IPv4 or IPv6 packets (TUN, in-memory pipes).
	TypeIP Type = iota + 1
	// TypeEthernet packets are Ethernet II frames (AF_PACKET on veth).
	TypeEthernet
)

func (t Type) String() string {
	switch t {
	case TypeIP:
		return "ip"
	case TypeEthernet:
		return "ethernet"
	}
	return "unknown"
}

// ErrClosed is returned by ReadPackets and WritePackets after Close.
var ErrClosed = errors.New("link: endpoint closed")

// Endpoint is a packet device with batched I/O, in the style of
// wireguard-go's tun.Device. Implementations are safe for one reader and
// one writer running concurrently; Close unblocks a pending ReadPackets.
type Endpoint interface {
	// ReadPackets blocks until at least one packet is available, then copies
	// up to len(bufs) packets into bufs, storing each length in sizes, and
	// returns how many it stored. A packet longer than its buffer is
	// truncated to the buffer and counted as read.
	ReadPackets(bufs [][]byte, sizes []int) (n int, err error)
	// WritePackets sends pkts in order and returns how many were sent. The
	// caller may reuse pkts' memory as soon as it returns.
	WritePackets(pkts [][]byte) (n int, err error)
	// MTU is the largest packet (without link header) the device carries.
	MTU() int
	// LinkType says whether packets are Ethernet frames or bare IP.
	LinkType() Type
	// Close releases the device and unblocks readers.
	Close() error
}
