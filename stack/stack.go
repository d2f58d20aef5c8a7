// Package stack is a userspace TCP/IP stack: a Stack value owns network
// interfaces (any link.Endpoint: AF_PACKET, TUN, an in-memory pipe) and
// their addresses, answers ARP and IPv6 neighbour discovery for them,
// handles IPv4, IPv6 and ICMP, demultiplexes TCP segments to connections
// run by package tcp, and offers the standard net.Conn and net.Listener
// API (DialTCP, ListenTCP). It is plain TCP, useful on its own like
// gVisor's netstack, and the base the MPTCP layer builds on.
//
// There is no global state: every table, timer and counter belongs to a
// Stack.
package stack

import (
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/tcp"
)

// Errors callers act on.
var (
	ErrNoRoute      = errors.New("stack: no route to host")
	ErrAddrInUse    = errors.New("stack: address already in use")
	ErrNoPorts      = errors.New("stack: no free ephemeral port")
	ErrStackClosed  = errors.New("stack: closed")
	ErrBadInterface = errors.New("stack: bad interface config")
)

// DefaultMaxHalfOpen is Options.MaxHalfOpen's default.
const DefaultMaxHalfOpen = 1024

// Options configure a Stack.
type Options struct {
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// TCP is the template for every connection's engine configuration
	// (buffer sizes, congestion control, timers). Ports, ISS, MTU, hooks
	// and notifications are filled in per connection.
	TCP tcp.Config
	// Backlog is the accept queue length of listeners (128 if zero):
	// established connections waiting for Accept. A SYN that finds it
	// full is dropped (the peer retries).
	Backlog int
	// MaxHalfOpen bounds each listener's connections in their handshake
	// (SYN-RECEIVED; 1024 if zero). A SYN that finds the table full
	// recycles the oldest (RFC 4987 §3.4), so a SYN flood costs bounded
	// memory and real clients still connect (see SYNQueue).
	MaxHalfOpen int
	// EphemeralPorts is the range local ports are picked from
	// ([32768, 60999] if zero, Linux's default).
	EphemeralMin, EphemeralMax uint16
	// NeighborReachable is how long a neighbour's link address (learned
	// by ARP or NDP) is used without being confirmed again: RFC 4861's
	// REACHABLE_TIME, 30 s if zero. After it the entry is stale: still
	// used, while requests re-resolve it; an entry that no request
	// resolves is dropped, so a peer that changed its MAC is followed
	// and one that left does not hold queued packets forever.
	NeighborReachable time.Duration
	// ReassemblyTimeout is how long the fragments of an IPv4 datagram
	// wait for the rest (RFC 791 §3.2; Linux's ipfrag_time): 30 s if
	// zero. ReassemblyTimeout6 is the same for IPv6 (RFC 8200 §4.5):
	// 60 s if zero. A datagram that times out is dropped and, if its
	// first fragment had arrived, answered with an ICMP Time Exceeded
	// (code 1, fragment reassembly time exceeded).
	ReassemblyTimeout, ReassemblyTimeout6 time.Duration
	// ReassemblyMemory caps the bytes held in incomplete datagrams
	// (fragment data plus a fixed charge per fragment): 4 MiB if zero,
	// Linux's ipfrag_high_thresh. Beyond it the oldest datagrams are
	// dropped.
	ReassemblyMemory int
}

// InterfaceConfig describes an interface given to AddInterface.
type InterfaceConfig struct {
	// Name identifies the interface in logs and errors.
	Name string
	// MAC is the interface's Ethernet address (required on Ethernet links).
	MAC header.MAC
	// Addrs are the interface's addresses with their on-link prefixes.
	Addrs []netip.Prefix
	// Gateway4 and Gateway6, if valid, are the default routers reached
	// through this interface.
	Gateway4, Gateway6 netip.Addr
	// MTU overrides the endpoint's MTU if non-zero (it can only be lower).
	MTU int
}

// Stack is a userspace TCP/IP stack. Its methods are safe for concurrent use.
type Stack struct {
	opts   Options
	log    *slog.Logger
	start  time.Time
	secret [32]byte // RFC 6528 ISN key

	mu        sync.RWMutex
	nics      []*nic
	flows     map[connKey]*Flow
	listeners map[netip.AddrPort]*listenEntry
	synTap    SYNHandler
	closed    bool

	ipID  atomic.Uint32
	stats Stats
	reasm reassembler
	wg    sync.WaitGroup
}

// Stats are stack-wide counters (Linux's IP and TCP MIB names).
type Stats struct {
	IPInReceives, IPInHdrErrors, IPInAddrErrors, IPInDelivers atomic.Uint64
	IPOutRequests                                             atomic.Uint64
	TCPInSegs, TCPOutSegs, TCPInErrs, TCPOutRsts              atomic.Uint64
	TCPActiveOpens, TCPPassiveOpens, TCPAttemptFails          atomic.Uint64
	ICMPInMsgs, ICMPOutMsgs                                   atomic.Uint64
	ARPIn, ARPOut, NDPIn, NDPOut                              atomic.Uint64
	LinkDrops                                                 atomic.Uint64
	// LinkReadErrors counts failed reads from a device (ENETDOWN while
	// its link is down); the stack keeps reading.
	LinkReadErrors atomic.Uint64
	// ListenOverflows counts SYNs and handshakes dropped because a
	// listener's accept queue was full (Linux's TcpExt name);
	// HalfOpenEvicted the half-open connections given up for a newer SYN
	// when a listener's half-open table was full (SYN floods).
	ListenOverflows, HalfOpenEvicted atomic.Uint64
	// Fragment reassembly and fragmentation, as in Linux's /proc/net/snmp:
	// fragments received that needed reassembly, datagrams reassembled
	// (an IPv6 atomic fragment counts as one), datagrams given up (timed
	// out, overlapping or oversized fragments, evicted at the memory
	// cap), of them timed out; datagrams we fragmented and the fragments
	// made.
	IPReasmReqds, IPReasmOKs, IPReasmFails, IPReasmTimeout atomic.Uint64
	IPFragOKs, IPFragCreates                               atomic.Uint64
}

// connKey identifies a connection by its 4-tuple (local first).
type connKey struct {
	local, remote netip.AddrPort
}

// New returns a Stack with no interfaces.
func New(opts Options) *Stack {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Backlog <= 0 {
		opts.Backlog = 128
	}
	if opts.MaxHalfOpen <= 0 {
		opts.MaxHalfOpen = DefaultMaxHalfOpen
	}
	if opts.NeighborReachable <= 0 {
		opts.NeighborReachable = 30 * time.Second
	}
	if opts.ReassemblyTimeout <= 0 {
		opts.ReassemblyTimeout = 30 * time.Second
	}
	if opts.ReassemblyTimeout6 <= 0 {
		opts.ReassemblyTimeout6 = 60 * time.Second
	}
	if opts.ReassemblyMemory <= 0 {
		opts.ReassemblyMemory = 4 << 20
	}
	if opts.EphemeralMin == 0 {
		opts.EphemeralMin, opts.EphemeralMax = 32768, 60999
	}
	s := &Stack{opts: opts, log: opts.Logger, start: time.Now(),
		flows: make(map[connKey]*Flow), listeners: make(map[netip.AddrPort]*listenEntry)}
	s.reasm.init(s)
	_, _ = crand.Read(s.secret[:])
	return s
}

// Now implements tcp.Clock: monotonic time since the stack started.
func (s *Stack) Now() time.Duration { return time.Since(s.start) }

// Stats returns the stack's counters.
func (s *Stack) Stats() *Stats { return &s.stats }

// AddInterface gives the stack a link endpoint and its addresses, and
// starts reading packets from it. The stack owns ep from now on and closes
// it in Close.
func (s *Stack) AddInterface(ep link.Endpoint, cfg InterfaceConfig) error {
	if ep.LinkType() == link.TypeEthernet && cfg.MAC == (header.MAC{}) {
		return fmt.Errorf("interface %s: Ethernet link without MAC: %w", cfg.Name, ErrBadInterface)
	}
	for _, p := range cfg.Addrs {
		if !p.IsValid() {
			return fmt.Errorf("interface %s: invalid prefix: %w", cfg.Name, ErrBadInterface)
		}
	}
	n := newNIC(s, ep, cfg)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrStackClosed
	}
	s.nics = append(s.nics, n)
	s.mu.Unlock()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		n.readLoop()
	}()
	go func() {
		defer s.wg.Done()
		n.txq.run()
	}()
	if ep.LinkType() == link.TypeEthernet {
		n.announce()
	}
	return nil
}

// Close aborts every connection, closes listeners and interfaces, and
// waits for the stack's goroutines.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	owners := make(map[*Owner]struct{}, len(s.flows))
	for _, f := range s.flows {
		owners[f.owner] = struct{}{}
	}
	s.listeners = make(map[netip.AddrPort]*listenEntry)
	s.synTap = nil
	nics := s.nics
	s.mu.Unlock()
	for o := range owners {
		o.abort()
	}
	s.reasm.close()
	for _, n := range nics {
		n.txq.close()
		n.ep.Close()
	}
	s.wg.Wait()
	return nil
}

// isn computes an initial sequence number per RFC 6528 §3: a 4 µs clock
// plus a keyed hash of the connection's 4-tuple, so ISNs of different
// connections are unpredictable and those of one 4-tuple keep increasing.
func (s *Stack) isn(k connKey) uint32 {
	var b [32 + 16 + 2 + 16 + 2]byte
	copy(b[:32], s.secret[:])
	la, ra := k.local.Addr().As16(), k.remote.Addr().As16()
	copy(b[32:48], la[:])
	binary.BigEndian.PutUint16(b[48:50], k.local.Port())
	copy(b[50:66], ra[:])
	binary.BigEndian.PutUint16(b[66:68], k.remote.Port())
	h := sha256.Sum256(b[:])
	return binary.BigEndian.Uint32(h[:4]) + uint32(s.Now()/(4*time.Microsecond))
}

// route picks the interface, next hop and source address for dst.
// A valid src restricts the choice to the interface owning it.
func (s *Stack) route(src, dst netip.Addr) (*nic, netip.Addr, netip.Addr, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var gw *nic
	var gwAddr netip.Addr
	for _, n := range s.nics {
		if src.IsValid() && !n.hasAddr(src) {
			continue
		}
		for _, p := range n.cfg.Addrs {
			if p.Contains(dst) {
				if !src.IsValid() {
					src = p.Addr()
				}
				return n, dst, src, nil
			}
		}
		if gw == nil {
			if dst.Is4() && n.cfg.Gateway4.IsValid() {
				gw, gwAddr = n, n.cfg.Gateway4
			} else if dst.Is6() && n.cfg.Gateway6.IsValid() {
				gw, gwAddr = n, n.cfg.Gateway6
			}
		}
	}
	if gw == nil {
		// A point-to-point link (TUN) with a single interface: send there.
		if len(s.nics) == 1 && s.nics[0].ep.LinkType() == link.TypeIP {
			gw, gwAddr = s.nics[0], dst
		} else {
			return nil, netip.Addr{}, netip.Addr{}, fmt.Errorf("%v: %w", dst, ErrNoRoute)
		}
	}
	if !src.IsValid() {
		for _, p := range gw.cfg.Addrs {
			if p.Addr().Is4() == dst.Is4() {
				src = p.Addr()
				break
			}
		}
		if !src.IsValid() {
			return nil, netip.Addr{}, netip.Addr{}, fmt.Errorf("no %v source address: %w", dst, ErrNoRoute)
		}
	}
	return gw, gwAddr, src, nil
}

// nicFor returns the interface owning local address a.
func (s *Stack) nicFor(a netip.Addr) *nic {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, n := range s.nics {
		if n.hasAddr(a) {
			return n
		}
	}
	return nil
}

// hasLocalAddr reports whether a belongs to any interface.
func (s *Stack) hasLocalAddr(a netip.Addr) bool { return s.nicFor(a) != nil }

// pickPort returns a free ephemeral port for local address addr toward
// remote. Caller holds s.mu.
func (s *Stack) pickPort(local netip.Addr, remote netip.AddrPort) (uint16, error) {
	lo, hi := int(s.opts.EphemeralMin), int(s.opts.EphemeralMax)
	span := hi - lo + 1
	start := rand.IntN(span)
	for i := 0; i < span; i++ {
		p := uint16(lo + (start+i)%span)
		lp := netip.AddrPortFrom(local, p)
		if _, used := s.flows[connKey{lp, remote}]; used {
			continue
		}
		if _, used := s.listeners[lp]; used {
			continue
		}
		return p, nil
	}
	return 0, ErrNoPorts
}

// Addrs returns the addresses of every interface, in the order the
// interfaces and their addresses were given.
func (s *Stack) Addrs() []netip.Addr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []netip.Addr
	for _, n := range s.nics {
		for _, p := range n.cfg.Addrs {
			out = append(out, p.Addr())
		}
	}
	return out
}

// SourceAddr returns the source address the stack uses toward dst (the
// first on-link interface, else the first with a gateway of dst's
// family).
func (s *Stack) SourceAddr(dst netip.Addr) (netip.Addr, error) {
	_, _, src, err := s.route(netip.Addr{}, dst.Unmap())
	return src, err
}
