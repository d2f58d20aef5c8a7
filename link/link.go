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

// PacketFlags describe a packet read by OffloadReader.ReadPacketsOffload.
type PacketFlags uint8

const (
	// ChecksumValid says the transport checksum must not be verified: the
	// kernel verified it (virtio-net DATA_VALID), or the packet was made on
	// this host with checksum offload and never crossed a wire (NEEDS_CSUM:
	// its checksum field holds only the pseudo-header sum), or it is a
	// super-packet whose checksum field covers none of the merged segments.
	ChecksumValid PacketFlags = 1 << iota
)

// MaxOffloadPacket is the largest IP packet ReadPacketsOffload hands over:
// a GSO/GRO super-packet, whose IP length field is 16 bits.
const MaxOffloadPacket = 65535

// OffloadReader is implemented by endpoints opened with offloads on
// (AFPacketOptions.Offload, TUNOptions.Offload). ReadPacketsOffload is
// ReadPackets without the splitting: a TCP super-packet (Linux GSO/GRO, up
// to 64 KiB of payload) is read whole into one buffer with its IP length
// fields (and IPv4 header checksum) set for the whole packet, so a stack
// handles one large segment instead of dozens and neither copies nor
// checksums the data again; flags[i] says what the device vouches for.
// Buffers should hold the link header plus MaxOffloadPacket bytes: a
// packet that does not fit is dropped. Dropped (malformed or truncated)
// packets are skipped, which may reorder the slices in bufs.
type OffloadReader interface {
	ReadPacketsOffload(bufs [][]byte, sizes []int, flags []PacketFlags) (int, error)
}
