// Package mpconn is the Multipath TCP connection engine (RFC 8684) without
// I/O: the data sequence space shared by the subflows (DSS mappings,
// DATA_ACK, DATA_FIN, connection-level window and reassembly,
// reinjection), the MP_CAPABLE and MP_JOIN handshakes, address
// advertisement (ADD_ADDR, REMOVE_ADDR), MP_PRIO, MP_FASTCLOSE,
// MP_TCPRST, MP_FAIL and fallback to TCP (§3.7).
//
// Each subflow is a tcp.Endpoint whose hooks (tcp.SegmentHooks with
// tcp.DataReceiver and tcp.SegmentLimiter) are the subflow's side of this
// package; the engine decides what each subflow sends and places what it
// receives. Like tcp, it does no I/O and reads time from an injected
// clock: its driver (package stack through the root package, or a
// simulated network in tests) serialises every call, delivers segments
// to the subflows, fires timers and carries output through the Env.
//
// The layout follows Linux's net/mptcp: subflow.go (handshakes, options
// in and out: options.c, subflow.c), send.go and recv.go (protocol.c),
// pm.go (the path manager), sched.go (the scheduler).
package mpconn

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mptcp-go/mptcp/tcp"
)

// Errors the engine reports; those with a POSIX counterpart match it with
// errors.Is, as for package tcp.
var (
	// ErrFastClose: the peer closed the connection with MP_FASTCLOSE
	// (RFC 8684 §3.5).
	ErrFastClose error = &tcpError{"connection reset by peer (MP_FASTCLOSE)", syscall.ECONNRESET}
	// ErrNoSubflow: every subflow failed and none can be opened.
	ErrNoSubflow error = &tcpError{"all subflows failed", syscall.ECONNRESET}
	// ErrAborted: the local side aborted the connection.
	ErrAborted error = &tcpError{"connection aborted", syscall.ECONNABORTED}
	// ErrChecksum: data failed its DSS checksum on the only subflow and
	// the peer did not restart the stream with an infinite mapping (RFC
	// 8684 §3.7): the connection is reset rather than deliver data that
	// cannot be vouched for.
	ErrChecksum error = &tcpError{"DSS checksum failed and the peer did not fall back", syscall.EBADMSG}
	// ErrGap: the peer's infinite mapping skips data never received.
	ErrGap error = &tcpError{"fallback would skip data never received", syscall.EBADMSG}
	// ErrClosed: writing after CloseWrite or Close.
	ErrClosed error = &tcpError{"connection closed", syscall.EPIPE}
	// ErrTooManySubflows: the connection has Config.MaxSubflows subflows.
	ErrTooManySubflows = errors.New("mptcp: subflow limit reached")
)

type tcpError struct {
	msg   string
	errno syscall.Errno
}

func (e *tcpError) Error() string        { return "mptcp: " + e.msg }
func (e *tcpError) Is(target error) bool { return target == e.errno }

// DefaultMaxConnections is Config.MaxConnections' default.
const DefaultMaxConnections = 65536

// Config configures a connection.
type Config struct {
	// Checksum asks for DSS checksums (RFC 8684 §3.3.1, the MP_CAPABLE
	// "A" flag). They are used when either side asks.
	Checksum bool
	// MaxSubflows bounds the subflows of one connection, the initial one
	// included (8 if zero, Linux's largest subflows limit). Joins over
	// the limit are refused with MP_TCPRST "lack of resources".
	MaxSubflows int
	// MaxAddAddr bounds the addresses the peer may advertise (8 if zero,
	// none if negative: they are echoed and not used, as Linux's default
	// add_addr_accepted 0;
	// Linux's add_addr_accepted limit).
	MaxAddAddr int
	// MaxConnections bounds the connections of a host (package mptcp's
	// Host), handshakes included (DefaultMaxConnections if zero): a SYN
	// beyond it is dropped and a Dial fails. The half-open ones are
	// bounded per listener too (stack.Options.MaxHalfOpen).
	MaxConnections int
	// AddAddrTimeout is how long an ADD_ADDR waits for its echo before it
	// is sent again (Linux's add_addr_timeout); AddAddrRetries how often
	// (2 s and 3 if zero).
	AddAddrTimeout time.Duration
	AddAddrRetries int
	// RemoveAddrRepeats is how often a REMOVE_ADDR is sent again, a
	// retransmission timeout apart, while its address stays down (2 if
	// zero, never if negative). Nothing acknowledges a REMOVE_ADDR
	// (RFC 8684 §3.4.2) and Linux sends it once: a lost pure ACK would
	// leave the peer with an address that is gone.
	RemoveAddrRepeats int
	// CloseTimeout bounds two waits (Linux's net.mptcp.close_timeout, 60
	// s if zero): for the peer's DATA_FIN after Close, and for a new
	// subflow once every subflow of an established connection is gone.
	CloseTimeout time.Duration
	// SendBuffer bounds the data written and not yet DATA_ACKed (4 MiB if
	// zero). ReceiveBuffer is the connection-level receive window offered
	// on every subflow (RFC 8684 §3.3.4), allocated as data arrives (8 MiB
	// if zero).
	SendBuffer, ReceiveBuffer int
	// TCP is the template of every subflow's engine configuration
	// (congestion control, timers, buffers); ports, ISS, MTU and the hooks
	// are filled in per subflow.
	TCP tcp.Config
	// Mode is the path management policy: which subflows are opened and
	// which are backups (ModeDefault if zero).
	Mode Mode
	// NewScheduler makes the scheduler of each connection, which picks
	// the subflow for each chunk of data (nil: the mode's default,
	// MinRTT, or Interactive for ModeInteractive). A function so that
	// each connection gets its own, with its own state.
	NewScheduler func() Scheduler
	// Congestion, if set, makes the subflows' congestion control (a
	// coupled controller such as RFC 6356's LIA); otherwise each subflow
	// runs TCP's own (TCP.CongestionControl, CUBIC by default).
	Congestion CongestionFactory
	// DisableJoins keeps the connection to its initial subflow: no joins
	// are opened and the peer's are refused (for tests and for paths
	// the user pins).
	DisableJoins bool
	// Backup marks addresses whose subflows are backups (MP_JOIN "B"
	// flag, MP_PRIO): used only when no other subflow can send.
	Backup []netip.Addr
	// AddrIDs fixes the address ids of local addresses (as Linux's
	// endpoint ids); the others get the lowest unused ids from 1. The
	// initial subflow's address is id 0.
	AddrIDs map[netip.Addr]uint8
	// JoinFrom lists the local addresses a client opens subflows from
	// besides the initial subflow's (nil: every local address; empty: none,
	// as Linux without "subflow" endpoints). Subflows to the addresses the
	// peer announces are opened from the address the routes pick.
	JoinFrom []netip.Addr
	// UseAnnounced, if set, limits the addresses a client joins among
	// those the peer announces (ADD_ADDR) to these prefixes; the others
	// are echoed as RFC 8684 §3.4.1 asks and left unused (a phone told to
	// keep off a server's other networks). Nil: every announced address.
	UseAnnounced []netip.Prefix
	// Announce lists the local addresses a passive connection advertises
	// with ADD_ADDR (nil: every local address of the initial subflow's
	// family other than its own).
	Announce []netip.Addr
	// OnEvent, if set, is told of path and connection events (joins,
	// subflows closing, ADD_ADDR and REMOVE_ADDR, MP_PRIO, fallback), as
	// Linux's MPTCP netlink events tell a userspace path manager. It is
	// called with the driver's lock held, from inside engine calls: it
	// must return quickly and must not call back into the connection.
	OnEvent func(Event)
	// MIB receives the counters; a private one is used if nil.
	MIB *MIB
	// Logger receives debug logs of protocol events; nil discards them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxSubflows <= 0 {
		c.MaxSubflows = 8
	}
	if c.MaxAddAddr == 0 {
		c.MaxAddAddr = 8
	}
	if c.AddAddrTimeout <= 0 {
		c.AddAddrTimeout = 2 * time.Second
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 60 * time.Second
	}
	if c.AddAddrRetries <= 0 {
		c.AddAddrRetries = 3
	}
	if c.RemoveAddrRepeats == 0 {
		c.RemoveAddrRepeats = 2
	}
	if c.SendBuffer <= 0 {
		c.SendBuffer = 4 << 20
	}
	if c.ReceiveBuffer <= 0 {
		c.ReceiveBuffer = 8 << 20
	}
	if c.NewScheduler == nil {
		if c.Mode == ModeInteractive {
			c.NewScheduler = func() Scheduler { return Interactive{} }
		} else {
			c.NewScheduler = func() Scheduler { return MinRTT{} }
		}
	}
	if c.MIB == nil {
		c.MIB = new(MIB)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Mode is a path management policy, chosen per connection (Apple's
// MPTCP modes; Linux's in-kernel path manager is ModeFullmesh).
type Mode int

const (
	// ModeDefault is Linux's in-kernel path manager with a "subflow"
	// endpoint on every local address: a subflow from each additional
	// local address to the peer's first address, and one to each address
	// the peer announces (from the address the routes pick), all
	// carrying data.
	ModeDefault Mode = iota
	// ModeFullmesh ("aggregate"): a subflow from each local address to
	// each known peer address (Linux's "fullmesh" endpoint flag), all
	// carrying data.
	ModeFullmesh
	// ModeHandover: the initial subflow carries the data; the client's
	// other subflows are joined as backups (MP_JOIN "B" flag) and used
	// only when the active ones fail or stall, and the data returns when
	// a regular path works again.
	ModeHandover
	// ModeInteractive: subflows as in ModeDefault; the lowest-latency
	// one carries the data, another only while it is recovering from a
	// loss or stalled (the Interactive scheduler, unless NewScheduler
	// says otherwise).
	ModeInteractive
)

// String returns the mode's name as ParseMode takes it.
func (m Mode) String() string {
	switch m {
	case ModeDefault:
		return "default"
	case ModeFullmesh:
		return "fullmesh"
	case ModeHandover:
		return "handover"
	case ModeInteractive:
		return "interactive"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses a mode name: default, fullmesh (or aggregate),
// handover, interactive.
func ParseMode(name string) (Mode, error) {
	switch strings.ToLower(name) {
	case "", "default":
		return ModeDefault, nil
	case "fullmesh", "aggregate":
		return ModeFullmesh, nil
	case "handover":
		return ModeHandover, nil
	case "interactive":
		return ModeInteractive, nil
	}
	return 0, fmt.Errorf("unknown mode %q (known: default, fullmesh, aggregate, handover, interactive)", name)
}

// CongestionFactory makes the congestion control of a connection's
// subflows. NewConn is called once per connection and the function it
// returns once per subflow, so the controllers of one connection can share
// state (coupled control: RFC 6356 LIA, OLIA) while connections stay
// independent.
type CongestionFactory interface {
	NewConn() func() tcp.CongestionControl
}

// MIB holds the protocol counters, named after the Linux MPTcpExt MIB
// entries with the same meaning (nstat -az 'MPTcpExt*'), so a user can
// compare the two side by side. One MIB is shared by every connection of
// a host; it is safe for concurrent use.
type MIB struct {
	MPCapableSYNTX          atomic.Uint64 // MP_CAPABLE SYNs sent
	MPCapableSYNTXDrop      atomic.Uint64 // SYN retransmissions sent without MP_CAPABLE
	MPCapableSYNRX          atomic.Uint64 // MP_CAPABLE SYNs received
	MPCapableSYNACKRX       atomic.Uint64 // MP_CAPABLE SYN/ACKs received
	MPCapableACKRX          atomic.Uint64 // third ACKs with MP_CAPABLE received
	MPCapableFallbackACK    atomic.Uint64 // server: the third ACK had no MP_CAPABLE
	MPCapableFallbackSYNACK atomic.Uint64 // client: the SYN/ACK had no MP_CAPABLE
	MPCapableDataFallback   atomic.Uint64 // fallback on data without a mapping
	MPFallbackTokenInit     atomic.Uint64 // no unique token could be drawn
	MPTCPRetrans            atomic.Uint64 // data-level retransmissions (reinjections)
	SubflowStale            atomic.Uint64 // subflows deemed stale (no ACK for a stall timeout)
	MPJoinNoTokenFound      atomic.Uint64 // MP_JOIN SYNs for no known token
	MPJoinSynRx             atomic.Uint64
	MPJoinSynBackupRx       atomic.Uint64
	MPJoinSynAckRx          atomic.Uint64
	MPJoinSynAckBackupRx    atomic.Uint64
	MPJoinSynAckHMacFailure atomic.Uint64
	MPJoinAckRx             atomic.Uint64
	MPJoinAckHMacFailure    atomic.Uint64
	MPJoinRejected          atomic.Uint64 // joins refused (limits, joins disabled)
	MPJoinSynTx             atomic.Uint64
	MPJoinReplayed          atomic.Uint64 // MP_JOIN SYNs reusing a nonce of the connection
	DSSNotMatching          atomic.Uint64 // a mapping contradicting an earlier one
	DSSNoMatchTCP           atomic.Uint64 // data no mapping covers
	InfiniteMapTx           atomic.Uint64
	InfiniteMapRx           atomic.Uint64
	DataCsumErr             atomic.Uint64
	OFOQueue                atomic.Uint64 // data queued out of order at the data level
	DuplicateData           atomic.Uint64 // data received twice (reinjections)
	NoDSSInWindow           atomic.Uint64 // data outside the connection's window
	RcvPruned               atomic.Uint64 // data in the window dropped: no room to track it out of order
	AddAddr                 atomic.Uint64 // ADD_ADDRs received (HMAC valid)
	AddAddrTx               atomic.Uint64
	AddAddrDrop             atomic.Uint64 // ADD_ADDRs ignored (bad HMAC, over the limit)
	EchoAdd                 atomic.Uint64 // ADD_ADDR echoes received
	EchoAddTx               atomic.Uint64
	RmAddr                  atomic.Uint64
	RmAddrTx                atomic.Uint64
	RmSubflow               atomic.Uint64 // subflows closed by a REMOVE_ADDR
	MPPrioTx                atomic.Uint64
	MPPrioRx                atomic.Uint64
	MPFailTx                atomic.Uint64
	MPFailRx                atomic.Uint64
	MPFastcloseTx           atomic.Uint64
	MPFastcloseRx           atomic.Uint64
	MPRstTx                 atomic.Uint64
	MPRstRx                 atomic.Uint64
	MPCurrEstab             atomic.Int64 // connections established now
}

// Counters returns every counter of the MIB by its field name (for JSON
// and nstat-like output); a counter added to the struct shows up here by
// itself.
func (m *MIB) Counters() map[string]int64 {
	out := make(map[string]int64, 48)
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i).Addr().Interface().(type) {
		case *atomic.Uint64:
			out[v.Type().Field(i).Name] = int64(f.Load())
		case *atomic.Int64:
			out[v.Type().Field(i).Name] = f.Load()
		}
	}
	return out
}

// SubflowIO is the driver's side of one subflow: the flow (4-tuple) its
// endpoint sends on and receives from. package stack's Flow implements
// it.
type SubflowIO interface {
	tcp.Output
	// TCPConfig completes an engine configuration for this flow: ports,
	// initial sequence number, MTU, IP header length.
	TCPConfig(tmpl tcp.Config) tcp.Config
	// Attach makes ep the flow's endpoint; input (if not nil) receives the
	// flow's segments instead of ep.HandleSegment.
	Attach(ep *tcp.Endpoint, input func(*tcp.Segment))
	Local() netip.AddrPort
	Remote() netip.AddrPort
	// Close releases the flow (its endpoint is done).
	Close()
}

// Env is what the engine needs from its driver. Its methods are called
// with the driver's lock held, from inside engine calls.
type Env interface {
	tcp.Clock
	// NewKey returns a fresh key (never zero) whose token no other
	// connection of the host uses, and reserves that token for this
	// connection (RFC 8684 §3.1).
	NewKey() (uint64, error)
	// Nonce returns a random 32-bit number (MP_JOIN nonces).
	Nonce() uint32
	// OpenSubflow opens a flow from local (a zero port picks one) to
	// remote for a subflow the path manager starts.
	OpenSubflow(local, remote netip.AddrPort) (SubflowIO, error)
	// LocalAddrs lists the host's addresses the path manager may use.
	LocalAddrs() []netip.Addr
	// SourceAddr returns the local address the host's routes pick
	// toward remote (invalid if none).
	SourceAddr(remote netip.Addr) netip.Addr
	// Notify reports readiness changes to the application side.
	Notify(n tcp.Notify)
}
