// Package live captures packets from network interfaces through an
// AF_PACKET socket with a TPACKET_V3 memory-mapped receive ring
// (Documentation/networking/packet_mmap.rst in the Linux tree): the kernel
// fills blocks of packets, and Next hands them out one at a time without
// copying or a system call per packet. A classic BPF filter (for example
// the MPTCP filter of package filter) is attached with SO_ATTACH_FILTER
// before the socket is bound, so no unfiltered packet is ever queued.
//
// A Handle implements capture.Source.
//
// Limits: the kernel strips VLAN tags it offloads (TP_STATUS_VLAN_VALID)
// and Next does not put them back, so both the filter and the caller see
// untagged frames; packets longer than a ring block are truncated by the
// kernel (CaptureLength < Length).
package live

import (
	"errors"
	"github.com/mptcp-go/mptcp/capture/filter"
	"time"

	"golang.org/x/net/bpf"
)

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("live: capture closed")

// Config says what to capture and how.
type Config struct {
	// Interface is the interface name; "" captures on all interfaces.
	Interface string
	// Cooked delivers packets from the network header on (link type
	// LinkTypeRaw, socket type SOCK_DGRAM) instead of with their
	// link-layer header. It is forced for all interfaces and for
	// interfaces whose link layer is not Ethernet-like.
	Cooked bool
	// Filter is a classic BPF program for the chosen link type (see
	// Handle.LinkType); nil keeps everything. It must be written for the
	// link type the handle will have: Ethernet unless Cooked.
	Filter []bpf.RawInstruction
	// MPTCPFilter attaches filter.Assemble for the handle's link type,
	// (MPTCP segments plus SYN/FIN/RST). It overrides Filter.
	MPTCPFilter bool
	// Expression, if set, keeps only TCP segments it matches (with
	// MPTCPFilter: those both keep; filter.AssembleExpr). It overrides
	// Filter.
	Expression *filter.Expr
	// SnapLen caps the bytes kept per packet (default 262144).
	SnapLen int
	// BlockSize and Blocks size the ring (defaults 1 MiB and 8). A block
	// must hold the largest packet (GSO/GRO super-segments reach 64 KiB).
	BlockSize int
	Blocks    int
	// BlockTimeout is how long the kernel waits before handing over a
	// block that is not full (default 20 ms): the latency bound.
	BlockTimeout time.Duration
}

// Stats are the kernel's counters for the socket (PACKET_STATISTICS),
// accumulated since Open.
type Stats struct {
	// Packets counts packets that passed the filter, including those
	// dropped because the ring was full (Drops).
	Packets uint64
	Drops   uint64
	// FreezeQueue counts times the ring froze (TPACKET_V3 only).
	FreezeQueue uint64
}
