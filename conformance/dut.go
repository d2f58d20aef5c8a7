package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mptcp-go/mptcp/link"
)

// Family is the IP version of a run.
type Family uint8

// The families every scenario runs in.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// Topology is the address plan of a run: the DUT's addresses and the
// testbench's, all on one link. Index 0 is the primary address; the others
// serve MPTCP scenarios (ADD_ADDR, MP_JOIN from or to a second address).
// Addresses come from the benchmarking ranges (RFC 2544's 198.18.0.0/15,
// RFC 5180's 2001:2::/48), which never collide with real networks.
type Topology struct {
	Family Family
	DUT    []netip.Addr
	TB     []netip.Addr
	Prefix int // on-link prefix length of every address
}

// NewTopology returns the address plan for family f: DUT .1 and .11, the
// testbench .2 and .12 (IPv4 198.18.0.0/24, IPv6 2001:2::/64).
func NewTopology(f Family) Topology {
	if f == IPv6 {
		return Topology{Family: f, Prefix: 64,
			DUT: []netip.Addr{netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2::11")},
			TB:  []netip.Addr{netip.MustParseAddr("2001:2::2"), netip.MustParseAddr("2001:2::12")}}
	}
	return Topology{Family: f, Prefix: 24,
		DUT: []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.11")},
		TB:  []netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.12")}}
}

// Setup is what a scenario needs from the DUT beyond its defaults. Each run
// gets a fresh DUT (for the kernel, a fresh network namespace), so nothing
// carries over from one scenario to the next: no TIME-WAIT, no cached
// route metrics, no path-manager state.
type Setup struct {
	// MPTCPChecksum makes the DUT require DSS checksums (RFC 8684 §3.3.1):
	// the kernel's net.mptcp.checksum_enabled.
	MPTCPChecksum bool
	// Limits, if set, are the MPTCP path manager's limits: the most extra
	// subflows per connection and the most ADD_ADDRs accepted (the kernel's
	// "ip mptcp limits set subflows N add_addr_accepted M"). The kernel's
	// default accepts no ADD_ADDR.
	Limits *Limits
	// Endpoints are the DUT's MPTCP path-manager endpoints ("ip mptcp
	// endpoint add ADDR FLAGS"): its extra addresses (Topology.DUT[i],
	// i >= 1) to announce or to open subflows from.
	Endpoints []Endpoint
	// AddAddrTimeout is the ADD_ADDR retransmission timeout in seconds (the
	// kernel's net.mptcp.add_addr_timeout, 120 s by default); zero keeps
	// the default.
	AddAddrTimeout int
	// RcvBuf sets every socket's receive buffer in bytes (SO_RCVBUF, which
	// also stops the kernel's auto-tuning; for our stack the engine's
	// receive buffer, initial and maximum); zero keeps the default.
	RcvBuf int
	// KernelSysctls are "name=value" settings for the kernel DUT's
	// namespace that put a Linux default aside for the RFC's rule (each
	// scenario's Note says why); a name this kernel does not have is
	// skipped, as such a kernel follows the RFC anyway.
	KernelSysctls []string
}

// Limits are the MPTCP path manager's limits.
type Limits struct {
	Subflows, AddAddrAccepted int
}

// Endpoint is an MPTCP path-manager endpoint of the DUT.
type Endpoint struct {
	// Addr is the index of the address in Topology.DUT.
	Addr int
	// ID is the address id (0: the DUT picks one).
	ID uint8
	// Signal announces the address with ADD_ADDR; Subflow opens subflows
	// from it; Backup marks those subflows as backup.
	Signal, Subflow, Backup bool
}

// SockOpts are the socket options of a listener or connection.
type SockOpts struct {
	// MPTCP asks for a Multipath TCP socket (IPPROTO_MPTCP); otherwise the
	// socket is plain TCP (which for the kernel also means MPTCP is turned
	// off on it, as Go 1.24+ turns it on for listeners by default).
	MPTCP bool
	// TTL, if non-zero, is the IPv4 TTL or IPv6 hop limit of the socket's
	// packets (IP_TTL, IPV6_UNICAST_HOPS).
	TTL int
	// TOS, if non-zero, is the IPv4 TOS or IPv6 traffic class byte
	// (IP_TOS, IPV6_TCLASS).
	TOS int
	// FastOpen, on a listener, accepts TCP Fast Open (RFC 7413) with a
	// queue of that many pending connections (TCP_FASTOPEN).
	FastOpen int
}

// ZeroReader is implemented by connections that can make a zero-length
// read reach the stack (Go's net package answers one itself, without a
// system call).
type ZeroReader interface {
	// ReadZero performs a read with a zero-length buffer and returns its
	// result.
	ReadZero() (int, error)
}

// DUT is a device under test: a TCP/MPTCP implementation whose
// application side the scenario drives and whose link the testbench holds.
type DUT interface {
	// Name is "kernel" or "ours".
	Name() string
	// Link is the testbench's end of the DUT's link: bare IP packets.
	Link() link.Endpoint
	// Listen opens a listener on laddr (port 0: the DUT picks one).
	Listen(ctx context.Context, laddr netip.AddrPort, o SockOpts) (Listener, error)
	// Dial connects to raddr and returns when the handshake is complete
	// or failed.
	Dial(ctx context.Context, raddr netip.AddrPort, o SockOpts) (Conn, error)
	// Close tears the DUT down (namespace, stack, link).
	Close() error
}

// Conn is a connection of the DUT: a net.Conn with a half close and an
// abortive close.
type Conn interface {
	net.Conn
	// CloseWrite shuts the sending side down (shutdown(SHUT_WR)).
	CloseWrite() error
	// Abort closes with RST (SO_LINGER with a zero timeout).
	Abort() error
}

// Listener is a listening socket of the DUT.
type Listener interface {
	// Accept waits for the next established connection or ctx's end.
	Accept(ctx context.Context) (Conn, error)
	// Addr is the listening address, with its port.
	Addr() netip.AddrPort
	Close() error
}

// PathManager is implemented by MPTCP DUTs whose path manager the
// scenario can drive while connections are up (the kernel's "ip mptcp
// endpoint"); addr is an index in Topology.DUT of an address given an
// endpoint in Setup.Endpoints.
type PathManager interface {
	// RemoveEndpoint withdraws the endpoint: the DUT announces the
	// address's removal (REMOVE_ADDR) and closes its subflows.
	RemoveEndpoint(ctx context.Context, addr int) error
	// SetBackup changes the endpoint's backup flag: the DUT sends MP_PRIO
	// on the subflows using the address.
	SetBackup(ctx context.Context, addr int, backup bool) error
}

// SocketAPI is implemented by DUTs with a BSD socket interface (the
// kernel): a socket can be used before it is connected, which the
// socket-call scenarios need. A Go connection API (ours) has no such
// state: Dial returns connected connections only.
type SocketAPI interface {
	// Socket returns a new, unconnected, non-blocking stream socket.
	Socket(o SockOpts) (Socket, error)
}

// Socket is a raw socket of a SocketAPI DUT. Errors are syscall.Errno
// values (wrapped), so scenarios compare them with errors.Is.
type Socket interface {
	// Connect starts a non-blocking connect (EINPROGRESS is not an error).
	Connect(raddr netip.AddrPort) error
	// Read reads up to n bytes without blocking (n may be 0).
	Read(n int) ([]byte, error)
	// Write writes without blocking.
	Write(b []byte) (int, error)
	// Shutdown is shutdown(2) with SHUT_RD, SHUT_WR or SHUT_RDWR.
	Shutdown(how int) error
	// Err returns and clears the pending socket error (SO_ERROR).
	Err() error
	Close() error
}

// ErrNotSupported is returned (wrapped) by a DUT for what it cannot do yet:
// the scenario's outcome is then "not yet" rather than a failure. Our stack
// returns it for MPTCP sockets until the MPTCP layer lands.
var ErrNotSupported = errors.New("conformance: not supported by this DUT yet")

// DUTConfig is what a DUT factory gets for one run.
type DUTConfig struct {
	Topology Topology
	Setup    Setup
}

// DUTFactory makes a fresh DUT for one run.
type DUTFactory struct {
	// Name is the DUT's name ("kernel", "ours").
	Name string
	// New makes a DUT, or returns an error wrapping ErrSkip when this
	// machine cannot run it (not root, no TUN device).
	New func(ctx context.Context, cfg DUTConfig) (DUT, error)
}

// ErrSkip is wrapped by a DUT factory's error when the DUT cannot run on
// this machine.
var ErrSkip = errors.New("conformance: DUT unavailable")

func skipf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSkip}, args...)...)
}
