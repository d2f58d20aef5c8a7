package stack

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/tcp"
)

// ECN codepoints in the low bits of the IPv4 TOS / IPv6 traffic class
// (RFC 3168 §5).
const (
	ecnMask = 0x03
	ecnECT0 = 0x02
	ecnCE   = 0x03
)

// OwnerEngine is the I/O-free state machine an Owner drives: one TCP
// endpoint for a TCP connection, or an MPTCP connection with the
// endpoints of its subflows. Its methods are called with the owner's
// lock held.
type OwnerEngine interface {
	// HandleTimers runs the timers that expired by the stack's clock.
	HandleTimers()
	// NextDeadline returns the earliest armed timer, or false if none is.
	NextDeadline() (time.Duration, bool)
	// Finished reports that the engine is done for good: the owner then
	// stops its timer, releases its flows and calls Retired.
	Finished() bool
	// Retired is called once, when the owner retires.
	Retired()
	// AbortEngine resets everything at once (the stack is closing).
	AbortEngine()
}

// Owner serialises an engine group: one lock and one timer for an engine
// and every flow (4-tuple) it sends and receives on. A TCP connection has
// one flow; an MPTCP connection one per subflow, all under the same lock,
// so the connection-level engine drives its subflows without locking
// them one by one. Every entry into the engine goes through Lock and
// Unlock; Unlock sends what the call queued, re-arms the timer, releases
// flows whose endpoint closed and retires the owner when the engine is
// finished.
type Owner struct {
	s       *Stack
	mu      sync.Mutex
	eng     OwnerEngine
	flows   []*Flow
	timer   *time.Timer
	timerAt time.Duration
	retired bool
}

// NewOwner returns an owner for eng, with no flows.
func (s *Stack) NewOwner(eng OwnerEngine) *Owner {
	o := &Owner{s: s, eng: eng}
	o.timer = time.AfterFunc(time.Hour, o.onTimer)
	o.timer.Stop()
	return o
}

// Lock enters the owner: the engine and its flows may be used.
func (o *Owner) Lock() { o.mu.Lock() }

// Unlock finishes the call (see Owner) and leaves.
func (o *Owner) Unlock() {
	o.afterCall()
	o.mu.Unlock()
}

// Retired reports whether the owner retired (its engine finished). Called
// with the lock held.
func (o *Owner) Retired() bool { return o.retired }

func (o *Owner) abort() {
	o.mu.Lock()
	if !o.retired {
		o.eng.AbortEngine()
	}
	o.afterCall()
	o.mu.Unlock()
}

func (o *Owner) onTimer() {
	o.mu.Lock()
	o.timerAt = 0
	if !o.retired {
		o.eng.HandleTimers()
	}
	o.afterCall()
	o.mu.Unlock()
}

// afterCall flushes output not held for a reader's batch, releases closed
// flows, re-arms the timer and retires a finished engine. Called with
// o.mu held after every engine call.
func (o *Owner) afterCall() {
	if o.retired {
		return
	}
	closed := false
	for _, f := range o.flows {
		if !f.inBatch {
			f.flush()
		}
		if f.ep != nil && f.ep.State() == tcp.StateClosed {
			closed = true
		}
	}
	if closed {
		o.releaseClosed()
	}
	if o.eng.Finished() {
		o.retire()
		return
	}
	d, ok := o.eng.NextDeadline()
	if !ok {
		if o.timerAt != 0 {
			o.timer.Stop()
			o.timerAt = 0
		}
		return
	}
	if o.timerAt == 0 || d < o.timerAt {
		o.timerAt = d
		o.timer.Reset(max(d-o.s.Now(), 0))
	}
}

// releaseClosed unregisters the flows whose endpoint reached CLOSED (what
// they queued was flushed).
func (o *Owner) releaseClosed() {
	kept := o.flows[:0]
	for _, f := range o.flows {
		if f.ep != nil && f.ep.State() == tcp.StateClosed {
			if f.inBatch {
				f.flush()
			}
			f.unregister()
			continue
		}
		kept = append(kept, f)
	}
	for i := len(kept); i < len(o.flows); i++ {
		o.flows[i] = nil
	}
	o.flows = kept
}

func (o *Owner) retire() {
	o.retired = true
	o.timer.Stop()
	o.timerAt = 0
	for _, f := range o.flows {
		f.flush()
		f.unregister()
	}
	o.flows = nil
	o.eng.Retired()
}

// Flow is one TCP 4-tuple of the stack: the demultiplexer hands its
// segments to the endpoint attached to it (under its owner's lock), and
// it carries that endpoint's output (it implements tcp.Output), building
// the IP packets in a batch the owner flushes.
type Flow struct {
	s       *Stack
	owner   *Owner
	key     connKey
	n       *nic
	nh      netip.Addr // next hop
	v6      bool
	ep      *tcp.Endpoint
	input   func(*tcp.Segment)
	txPkts  [][]byte
	inBatch bool // the reader holds its output until the end of its batch
	removed bool
	tos     uint8 // DSCP bits of the IPv4 TOS / IPv6 traffic class (SetTOS)
}

// SetTOS sets the IPv4 TOS or IPv6 traffic class byte of the flow's
// packets from now on (IP_TOS, IPV6_TCLASS); its two ECN bits (RFC 3168
// §5) stay the stack's. Called with the owner's lock held (or before the
// owner is shared).
func (f *Flow) SetTOS(tos uint8) { f.tos = tos &^ ecnMask }

// OpenFlow registers a flow of owner o from local to remote. An invalid
// or unspecified local address picks the source address the route to
// remote has; a zero local port an ephemeral one. Segments for the flow
// are dropped until Attach. Called with o's lock held (or before o is
// shared).
func (s *Stack) OpenFlow(o *Owner, local, remote netip.AddrPort) (*Flow, error) {
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	var src netip.Addr
	if local.Addr().IsValid() && !local.Addr().IsUnspecified() {
		src = local.Addr().Unmap()
	}
	n, nh, src, err := s.route(src, remote.Addr())
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(remote), Err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrStackClosed
	}
	port := local.Port()
	if port == 0 {
		if port, err = s.pickPort(src, remote); err != nil {
			return nil, err
		}
	}
	k := connKey{netip.AddrPortFrom(src, port), remote}
	if _, used := s.flows[k]; used {
		return nil, fmt.Errorf("flow %v -> %v: %w", k.local, k.remote, ErrAddrInUse)
	}
	f := &Flow{s: s, owner: o, key: k, n: n, nh: nh, v6: remote.Addr().Is6(), txPkts: make([][]byte, 0, batch)}
	s.flows[k] = f
	o.flows = append(o.flows, f)
	return f, nil
}

// Attach makes ep the flow's endpoint. input, if not nil, receives the
// flow's segments instead of ep.HandleSegment (a layer that wants to act
// after each segment wraps the call). Called with the owner's lock held.
func (f *Flow) Attach(ep *tcp.Endpoint, input func(*tcp.Segment)) {
	f.ep = ep
	if input == nil {
		input = ep.HandleSegment
	}
	f.input = input
}

// TCPConfig completes the engine configuration template tmpl for this
// flow: ports, the RFC 6528 initial sequence number, MTU and IP header
// length. Hooks and Notify are the caller's.
func (f *Flow) TCPConfig(tmpl tcp.Config) tcp.Config {
	cfg := tmpl
	cfg.LocalPort, cfg.RemotePort = f.key.local.Port(), f.key.remote.Port()
	cfg.ISS = f.s.isn(f.key)
	cfg.MTU = f.n.mtu
	cfg.IPHeaderLen = header.IPv4MinHeaderLen
	if f.v6 {
		cfg.IPHeaderLen = header.IPv6HeaderLen
	}
	return cfg
}

// Local and Remote return the flow's 4-tuple.
func (f *Flow) Local() netip.AddrPort  { return f.key.local }
func (f *Flow) Remote() netip.AddrPort { return f.key.remote }

// Interface returns the name of the interface the flow leaves by.
func (f *Flow) Interface() string { return f.n.cfg.Name }

// Close unregisters the flow (its endpoint's later output is dropped).
// Called with the owner's lock held; flows whose endpoint reached CLOSED
// are released by the owner itself.
func (f *Flow) Close() {
	f.flush()
	f.unregister()
	o := f.owner
	for i, g := range o.flows {
		if g == f {
			o.flows = append(o.flows[:i], o.flows[i+1:]...)
			break
		}
	}
}

func (f *Flow) unregister() {
	if f.removed {
		return
	}
	f.removed = true
	f.s.mu.Lock()
	if f.s.flows[f.key] == f {
		delete(f.s.flows, f.key)
	}
	f.s.mu.Unlock()
}

// OutputSegment implements tcp.Output: it builds the IP packet in the
// flow's transmit batch. Called with the owner's lock held.
func (f *Flow) OutputSegment(hdr, p1, p2 []byte) {
	if f.removed {
		return
	}
	if len(f.txPkts) == cap(f.txPkts) {
		f.flush()
	}
	lh := f.n.linkHeaderLen()
	ihl := header.IPv4MinHeaderLen
	if f.v6 {
		ihl = header.IPv6HeaderLen
	}
	tl := len(hdr) + len(p1) + len(p2)
	b := f.n.txq.get(lh + ihl + tl)
	src, dst := f.key.local.Addr(), f.key.remote.Addr()
	tos := f.tos
	if f.ep != nil && f.ep.SegmentECT() {
		tos |= ecnECT0
	}
	f.s.encodeIP(b[lh:], src, dst, header.ProtocolTCP, tl, tos)
	o := lh + ihl
	o += copy(b[o:], hdr)
	o += copy(b[o:], p1)
	copy(b[o:], p2)
	setTCPChecksum(b[lh:], src, dst, ihl)
	f.txPkts = append(f.txPkts, b)
	f.s.stats.TCPOutSegs.Add(1)
	if hdr[13]&byte(header.TCPFlagRST) != 0 {
		f.s.stats.TCPOutRsts.Add(1)
	}
}

// flush sends the queued packets. Called with the owner's lock held.
func (f *Flow) flush() {
	if len(f.txPkts) == 0 {
		return
	}
	n := f.n
	if n.eth {
		mac, ok := n.resolve(f.nh, f.txPkts[0][header.EthernetHeaderLen:])
		if !ok {
			for _, p := range f.txPkts[1:] {
				n.resolve(f.nh, p[header.EthernetHeaderLen:])
			}
			n.txq.put(f.txPkts)
			f.txPkts = f.txPkts[:0]
			return
		}
		et := header.EtherTypeIPv4
		if f.v6 {
			et = header.EtherTypeIPv6
		}
		for _, p := range f.txPkts {
			header.Ethernet(p).Encode(mac, n.cfg.MAC, et)
		}
	}
	n.txq.enqueue(f.txPkts)
	for i := range f.txPkts {
		f.txPkts[i] = nil
	}
	f.txPkts = f.txPkts[:0]
}

// deliver hands a segment from reader n to the flow's endpoint and, the
// first time in n's batch, puts the flow on n's list to flush at the end
// of the batch.
func (f *Flow) deliver(n *nic, seg *tcp.Segment) {
	o := f.owner
	o.mu.Lock()
	if !f.removed && f.input != nil && !o.retired {
		f.input(seg)
		if !f.inBatch {
			f.inBatch = true
			n.dirty = append(n.dirty, f)
		}
	}
	o.afterCall()
	o.mu.Unlock()
}

// endBatch sends the ACK the endpoint deferred during the reader's batch
// and what the flow queued.
func (f *Flow) endBatch() {
	o := f.owner
	o.mu.Lock()
	f.inBatch = false
	if !f.removed && f.ep != nil {
		f.ep.FlushAck()
	}
	f.flush()
	o.afterCall()
	o.mu.Unlock()
}

// SYNVerdict is a SYNHandler's decision about a SYN.
type SYNVerdict uint8

// SYN verdicts.
const (
	// SYNPass: not this handler's SYN (a SYN tap passes it on to the
	// listeners; for a listener it is refused with RST).
	SYNPass SYNVerdict = iota
	// SYNDeliver: the handler opened a flow for it, with an endpoint in
	// LISTEN: the stack hands the SYN to that flow.
	SYNDeliver
	// SYNDrop: drop it silently (a full backlog: the peer retries), or
	// the handler answered it itself (a reset with options).
	SYNDrop
	// SYNReset: refuse it with a plain RST.
	SYNReset
)

// SYNHandler decides about a SYN that matches no flow. It runs on an
// interface's reader goroutine and must not block. To accept it, it opens
// a flow for the 4-tuple (OpenFlow with local and remote as given),
// attaches an endpoint in LISTEN and returns the flow with SYNDeliver.
type SYNHandler func(local, remote netip.AddrPort, seg *tcp.Segment) (*Flow, SYNVerdict)

// ErrTapInUse: the stack already has a SYN tap.
var ErrTapInUse = errors.New("stack: a SYN tap is already set")

// SetSYNTap installs h, which sees every SYN that matches no flow before
// the listeners do (the MPTCP layer takes MP_JOIN SYNs, addressed to a
// connection's token rather than to a listener, RFC 8684 §3.2). A nil h
// removes the tap.
func (s *Stack) SetSYNTap(h SYNHandler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h != nil && s.synTap != nil {
		return ErrTapInUse
	}
	s.synTap = h
	return nil
}

// ListenSYN listens on addr with h deciding about each SYN (an MPTCP
// listener). An unspecified address listens on every address of its
// family; port 0 picks an ephemeral port. It returns the address
// listened on and a function that stops listening.
func (s *Stack) ListenSYN(addr netip.AddrPort, h SYNHandler) (netip.AddrPort, func(), error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if !addr.Addr().IsUnspecified() && !s.hasLocalAddr(addr.Addr()) {
		return addr, nil, &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(addr), Err: errors.New("address not on any interface")}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return addr, nil, ErrStackClosed
	}
	if addr.Port() == 0 {
		p, err := s.pickPort(addr.Addr(), netip.AddrPort{})
		if err != nil {
			return addr, nil, err
		}
		addr = netip.AddrPortFrom(addr.Addr(), p)
	}
	if _, used := s.listeners[addr]; used {
		return addr, nil, &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(addr), Err: ErrAddrInUse}
	}
	e := &listenEntry{h: h}
	s.listeners[addr] = e
	stop := func() {
		s.mu.Lock()
		if s.listeners[addr] == e {
			delete(s.listeners, addr)
		}
		s.mu.Unlock()
	}
	return addr, stop, nil
}

type listenEntry struct{ h SYNHandler }

// ReplyRST answers segment seg, received from remote for local, with a
// reset (RFC 9293 §3.10.7.1: the sequence number is the segment's ACK, or
// zero with an ACK of everything it occupied) carrying opts (MP_TCPRST
// when MPTCP refuses a join, RFC 8684 §3.6).
func (s *Stack) ReplyRST(local, remote netip.AddrPort, seg *tcp.Segment, opts []byte) {
	if seg.Flags&header.TCPFlagRST != 0 {
		return
	}
	ol := (len(opts) + 3) &^ 3
	b := make([]byte, header.TCPMinHeaderLen+ol)
	f := header.TCPFields{SrcPort: local.Port(), DstPort: remote.Port(), DataOffset: len(b)}
	if seg.Flags&header.TCPFlagACK != 0 {
		f.Seq = seg.Ack
		f.Flags = header.TCPFlagRST
	} else {
		l := uint32(len(seg.Payload))
		if seg.Flags&header.TCPFlagSYN != 0 {
			l++
		}
		if seg.Flags&header.TCPFlagFIN != 0 {
			l++
		}
		f.Ack = seg.Seq + l
		f.Flags = header.TCPFlagRST | header.TCPFlagACK
	}
	header.TCP(b).Encode(&f)
	copy(b[header.TCPMinHeaderLen:], opts)
	for i := header.TCPMinHeaderLen + len(opts); i < len(b); i++ {
		b[i] = header.TCPOptNOP
	}
	s.stats.TCPOutRsts.Add(1)
	s.sendIP(s.nicFor(local.Addr()), local.Addr(), remote.Addr(), header.ProtocolTCP, b)
}
