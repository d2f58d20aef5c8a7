// Package simnet is a simulated IP network of several paths on a manual
// clock, for deterministic tests of multipath behaviour (scheduling,
// reinjection, path failure, middleboxes) before the kernel is involved.
//
// A Net carries IP packets between Nodes. Each Path joins two addresses and
// shapes each direction with link/emu's Shaper (rate, delay, jitter, loss,
// bursts, reordering, queue limit, scheduled events such as down@2s) and
// its middleboxes (emu.Spec.Strip, Rewrite, and any added Middlebox).
// Packets are routed by their (source, destination) addresses to the path
// that links them; Share routes more address pairs through one path, so
// that flows from different addresses meet in one queue (a shared
// bottleneck). Nodes have timers; the Net's clock jumps from event to
// event (the next packet delivery, node timer or scheduled callback), so a
// minute of traffic runs in milliseconds and the same seed gives the same
// run, packet for packet.
//
//	n := simnet.New(1)
//	cli, srv := n.NewHost(c1, c2), n.NewHost(s1)
//	n.Link(c1, s1, wifi, wifi)           // emu.Spec each way
//	n.Link(c2, s1, cell, cell)
//	a := cli.Endpoint(ap(c1, 1000), ap(s1, 80), tcp.Config{})
//	...
//	err := n.Run(func() bool { return done }, time.Minute)
//
// Times are durations since the Net was made (Now starts at 0); scheduled
// events of a Spec are at those times. A Net is not safe for concurrent
// use: one goroutine drives it, and Nodes run inside its calls.
package simnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link/emu"
)

// Node is anything with addresses on the net: a host with tcp.Endpoints, an
// MPTCP stack with its subflows, a scripted peer.
type Node interface {
	// Deliver hands the node an IP packet for one of its addresses. The
	// memory is the Net's and valid only during the call. The node may
	// Send from inside.
	Deliver(pkt []byte)
	// NextDeadline is when the node's next timer is due, on the Net's
	// clock; false if none.
	NextDeadline() (time.Duration, bool)
	// HandleTimers runs the timers due by Now.
	HandleTimers()
}

// Middlebox sees the packets of one path direction that the shaper let
// through, in place: it may rewrite bytes (not the length) and returns
// false to drop the packet. *emu.Middlebox is one.
type Middlebox interface {
	Process(pkt []byte) bool
}

// Dir names a direction of a Path.
type Dir uint8

// Directions of a path made by Link(a, b, ...).
const (
	AToB Dir = iota // from a to b
	BToA            // from b to a
)

func (d Dir) String() string {
	if d == AToB {
		return "a->b"
	}
	return "b->a"
}

// Errors of Run.
var (
	// ErrIdle: no packet in flight, no timer, nothing scheduled, and the
	// condition does not hold.
	ErrIdle = errors.New("simnet: no event left")
	// ErrTimeLimit: the simulated time limit passed first.
	ErrTimeLimit = errors.New("simnet: time limit")
	// ErrStuck: over a million events at one instant, as when a node
	// keeps reporting a due timer without clearing it. (Paths without
	// delay or rate let traffic run without time passing; give real
	// paths a delay.)
	ErrStuck = errors.New("simnet: stuck at one instant")
)

// maxStepsPerInstant bounds the events at one simulated instant before Run
// reports ErrStuck.
const maxStepsPerInstant = 1 << 20

// Stats are the Net's own counters.
type Stats struct {
	Sent      uint64 // packets handed to Send (or a TCPOutput)
	Delivered uint64 // packets handed to a node
	Invalid   uint64 // not an IPv4 or IPv6 packet
	NoRoute   uint64 // no path for the (source, destination) pair
	NoNode    uint64 // delivered to an address no node has
	Events    uint64 // steps taken
}

// DirStats are one path direction's counters.
type DirStats struct {
	Sent             uint64 // packets that entered the direction
	Delivered        uint64
	DeliveredBytes   uint64
	DroppedDown      uint64
	DroppedQueue     uint64
	DroppedLoss      uint64
	DroppedBurst     uint64
	DroppedMiddlebox uint64 // dropped by an added Middlebox
	// MiddleboxStats count what the Spec's middlebox (Strip, Rewrite) did.
	emu.MiddleboxStats
	QueueHigh int
	Down      bool
}

// Dropped is the total of the drop counters.
func (s DirStats) Dropped() uint64 {
	return s.DroppedDown + s.DroppedQueue + s.DroppedLoss + s.DroppedBurst + s.DroppedMiddlebox
}

type nodeEntry struct {
	node  Node
	addrs []netip.Addr
}

type routeKey struct{ src, dst netip.Addr }

// Net is a simulated network. See the package documentation.
type Net struct {
	now   time.Duration
	seed  uint64
	nodes []nodeEntry
	owner map[netip.Addr]int
	route map[routeKey]*route
	paths []*Path

	q    pktHeap
	cbs  cbHeap
	seq  uint64
	free [][]byte
	taps []func(time.Duration, []byte)

	// instant counts events at the current instant (ErrStuck).
	instant    int
	instantAt  time.Duration
	ipID       uint16
	stats      Stats
	dueScratch []int
}

// New returns an empty Net whose random choices (loss, jitter,
// reordering of each path direction) derive from seed.
func New(seed uint64) *Net {
	return &Net{seed: seed, owner: map[netip.Addr]int{}, route: map[routeKey]*route{}}
}

// Now is the simulated time since the Net was made. It makes the Net a
// tcp.Clock.
func (n *Net) Now() time.Duration { return n.now }

// Stats returns the Net's counters.
func (n *Net) Stats() Stats { return n.stats }

// Attach gives node the addresses: packets for them are delivered to it.
// An address belongs to one node.
func (n *Net) Attach(node Node, addrs ...netip.Addr) error {
	for _, a := range addrs {
		if _, ok := n.owner[a]; ok || !a.IsValid() {
			return fmt.Errorf("simnet: attach %v: address taken or invalid", a)
		}
	}
	n.nodes = append(n.nodes, nodeEntry{node: node, addrs: addrs})
	for _, a := range addrs {
		n.owner[a] = len(n.nodes) - 1
	}
	return nil
}

// Path is a link between two addresses, shaped each way.
type Path struct {
	n    *Net
	a, b netip.Addr
	dir  [2]direction
}

type direction struct {
	path *Path
	d    Dir
	sh   *emu.Shaper
	spec *emu.Middlebox // the Spec's middlebox, nil if none
	mbs  []Middlebox    // added ones
	st   DirStats
}

// route is where the packets from one address to another go: a path
// direction, and the node of the destination address.
type route struct {
	d    *direction
	dst  netip.Addr
	node int // index in n.nodes, -1 until resolved
}

// Link makes a path between addresses a and b: packets from a to b are
// shaped by aToB, packets from b to a by bToA. Each direction has its own
// seeded random source. A pair of addresses has at most one path.
func (n *Net) Link(a, b netip.Addr, aToB, bToA emu.Spec) (*Path, error) {
	if !a.IsValid() || !b.IsValid() || a == b || a.Is4() != b.Is4() {
		return nil, fmt.Errorf("simnet: link %v-%v: want two different addresses of one family", a, b)
	}
	if n.route[routeKey{a, b}] != nil || n.route[routeKey{b, a}] != nil {
		return nil, fmt.Errorf("simnet: link %v-%v: already linked", a, b)
	}
	for i, s := range []emu.Spec{aToB, bToA} {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("simnet: link %v-%v %v: %w", a, b, Dir(i), err)
		}
	}
	p := &Path{n: n, a: a, b: b}
	k := uint64(len(n.paths))
	for i, s := range []emu.Spec{aToB, bToA} {
		p.dir[i] = direction{path: p, d: Dir(i), sh: emu.NewShaper(s, mix(n.seed, 2*k+uint64(i))),
			spec: emu.NewMiddlebox(s)}
	}
	n.paths = append(n.paths, p)
	n.route[routeKey{a, b}] = &route{d: &p.dir[AToB], dst: b, node: -1}
	n.route[routeKey{b, a}] = &route{d: &p.dir[BToA], dst: a, node: -1}
	return p, nil
}

// Share routes the packets between two more addresses through p: from a
// to b through p's direction AToB, from b to a through BToA. Flows between
// several address pairs then meet in one queue and share its rate: a
// shared bottleneck (say two MPTCP subflows from different addresses and
// a TCP flow, all through one router's uplink). The pair must not be
// linked yet.
func (n *Net) Share(p *Path, a, b netip.Addr) error {
	if !a.IsValid() || !b.IsValid() || a == b || a.Is4() != b.Is4() {
		return fmt.Errorf("simnet: share %v-%v: want two different addresses of one family", a, b)
	}
	if p == nil || p.n != n {
		return fmt.Errorf("simnet: share %v-%v: not a path of this net", a, b)
	}
	if n.route[routeKey{a, b}] != nil || n.route[routeKey{b, a}] != nil {
		return fmt.Errorf("simnet: share %v-%v: already linked", a, b)
	}
	n.route[routeKey{a, b}] = &route{d: &p.dir[AToB], dst: b, node: -1}
	n.route[routeKey{b, a}] = &route{d: &p.dir[BToA], dst: a, node: -1}
	return nil
}

// mix derives independent seeds from one (SplitMix64's finalizer).
func mix(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Ends returns the path's addresses a and b.
func (p *Path) Ends() (a, b netip.Addr) { return p.a, p.b }

// SetDown takes both directions down (true) or up, now, besides the
// Spec's scheduled events. Packets already in flight still arrive.
func (p *Path) SetDown(down bool) {
	p.dir[AToB].sh.SetDown(down)
	p.dir[BToA].sh.SetDown(down)
}

// SetDirDown takes one direction down or up.
func (p *Path) SetDirDown(d Dir, down bool) { p.dir[d&1].sh.SetDown(down) }

// AddMiddlebox adds mb to direction d; middleboxes run in the order added,
// after the shaper and the Spec's own middlebox.
func (p *Path) AddMiddlebox(d Dir, mb Middlebox) {
	p.dir[d&1].mbs = append(p.dir[d&1].mbs, mb)
}

// Stats returns direction d's counters.
func (p *Path) Stats(d Dir) DirStats {
	dir := &p.dir[d&1]
	dir.sh.Advance(p.n.now)
	s := dir.st
	s.MiddleboxStats = dir.spec.Stats()
	s.QueueHigh = dir.sh.QueueHigh()
	s.Down = dir.sh.Down()
	return s
}

// Tap calls fn with every packet as it leaves a path (after its
// middleboxes), at its delivery time, before the node sees it. The memory
// is valid only during the call.
func (n *Net) Tap(fn func(at time.Duration, pkt []byte)) { n.taps = append(n.taps, fn) }

// At runs fn at time t (at once on the next step if t is past), ordered
// after packets due at the same instant. fn may use the Net (Send, SetDown,
// At) but not Run or Step.
func (n *Net) At(t time.Duration, fn func()) {
	n.seq++
	n.cbs.push(callback{at: max(t, n.now), seq: n.seq, fn: fn})
}

// Send routes an IP packet from a node. It is copied; the caller keeps
// pkt. Packets that are not IP, or whose addresses no path links, are
// counted and dropped.
func (n *Net) Send(pkt []byte) {
	buf := n.alloc(len(pkt))
	copy(buf, pkt)
	n.sendOwned(buf)
}

// alloc returns a buffer of length size from the pool.
func (n *Net) alloc(size int) []byte {
	if k := len(n.free); k > 0 && cap(n.free[k-1]) >= size {
		b := n.free[k-1]
		n.free = n.free[:k-1]
		return b[:size]
	}
	return make([]byte, size, max(size, 2048))
}

func (n *Net) release(b []byte) { n.free = append(n.free, b) }

// sendOwned admits a packet in a pool buffer.
func (n *Net) sendOwned(buf []byte) {
	n.stats.Sent++
	var src, dst netip.Addr
	switch {
	case len(buf) > 0 && buf[0]>>4 == header.IPv4Version && header.IPv4(buf).Valid():
		src, dst = header.IPv4(buf).SrcAddr(), header.IPv4(buf).DstAddr()
	case len(buf) > 0 && buf[0]>>4 == header.IPv6Version && header.IPv6(buf).Valid():
		src, dst = header.IPv6(buf).SrcAddr(), header.IPv6(buf).DstAddr()
	default:
		n.stats.Invalid++
		n.release(buf)
		return
	}
	rt := n.route[routeKey{src, dst}]
	if rt == nil {
		n.stats.NoRoute++
		n.release(buf)
		return
	}
	d := rt.d
	d.st.Sent++
	at, v := d.sh.Admit(n.now, len(buf))
	switch v {
	case emu.Pass:
	case emu.DropDown:
		d.st.DroppedDown++
	case emu.DropQueue:
		d.st.DroppedQueue++
	case emu.DropLoss:
		d.st.DroppedLoss++
	default:
		d.st.DroppedBurst++
	}
	if v != emu.Pass {
		n.release(buf)
		return
	}
	if d.spec != nil {
		d.spec.Process(buf)
	}
	for _, mb := range d.mbs {
		if !mb.Process(buf) {
			d.st.DroppedMiddlebox++
			n.release(buf)
			return
		}
	}
	n.seq++
	n.q.push(pending{at: at, seq: n.seq, rt: rt, buf: buf})
}

// nextEvent returns the time of the next event, if any.
func (n *Net) nextEvent() (time.Duration, bool) {
	var t time.Duration
	ok := false
	if len(n.q) > 0 {
		t, ok = n.q[0].at, true
	}
	if len(n.cbs) > 0 && (!ok || n.cbs[0].at < t) {
		t, ok = n.cbs[0].at, true
	}
	for _, e := range n.nodes {
		if d, due := e.node.NextDeadline(); due && (!ok || d < t) {
			t, ok = d, true
		}
	}
	return max(t, n.now), ok
}

// Step performs the next event: deliver the next packet, run the next
// scheduled callback, or fire the nodes' due timers, moving the clock to
// its time. It reports false when there is none.
func (n *Net) Step() bool {
	ok, _ := n.step(-1)
	return ok
}

// step is Step not beyond deadline (none if negative).
func (n *Net) step(deadline time.Duration) (bool, error) {
	t, ok := n.nextEvent()
	if !ok || deadline >= 0 && t > deadline {
		return false, nil
	}
	if t != n.instantAt {
		n.instantAt, n.instant = t, 0
	}
	n.instant++
	if n.instant > maxStepsPerInstant {
		return false, fmt.Errorf("%w: %v", ErrStuck, t)
	}
	n.now = t
	n.stats.Events++
	switch {
	case len(n.q) > 0 && n.q[0].at <= t:
		n.deliver(n.q.pop())
	case len(n.cbs) > 0 && n.cbs[0].at <= t:
		n.cbs.pop().fn()
	default:
		// Collect first: a node's timers may change another's deadline.
		due := n.dueScratch[:0]
		for i, e := range n.nodes {
			if d, ok := e.node.NextDeadline(); ok && d <= t {
				due = append(due, i)
			}
		}
		n.dueScratch = due
		for _, i := range due {
			n.nodes[i].node.HandleTimers()
		}
	}
	return true, nil
}

func (n *Net) deliver(p pending) {
	rt := p.rt
	d := rt.d
	if rt.node < 0 {
		i, ok := n.owner[rt.dst]
		if !ok {
			n.stats.NoNode++
			n.release(p.buf)
			return
		}
		rt.node = i
	}
	d.st.Delivered++
	d.st.DeliveredBytes += uint64(len(p.buf))
	n.stats.Delivered++
	for _, tap := range n.taps {
		tap(n.now, p.buf)
	}
	n.nodes[rt.node].node.Deliver(p.buf)
	n.release(p.buf)
}

// Run steps until until() holds and returns nil, or returns an error
// wrapping ErrIdle when nothing is left to happen, ErrTimeLimit when limit
// (simulated time from now) passes first, or ErrStuck. until is checked
// before every step.
func (n *Net) Run(until func() bool, limit time.Duration) error {
	deadline := n.now + limit
	for !until() {
		ok, err := n.step(deadline)
		if err != nil {
			return err
		}
		if !ok {
			if _, more := n.nextEvent(); more {
				n.now = deadline
				return fmt.Errorf("%w: %v passed", ErrTimeLimit, limit)
			}
			return fmt.Errorf("%w at %v", ErrIdle, n.now)
		}
	}
	return nil
}

// RunFor runs every event of the next d of simulated time and leaves the
// clock at now+d. Its error is ErrStuck's.
func (n *Net) RunFor(d time.Duration) error {
	deadline := n.now + d
	for {
		ok, err := n.step(deadline)
		if err != nil {
			return err
		}
		if !ok {
			n.now = deadline
			return nil
		}
	}
}

// Rand returns a random source derived from the Net's seed and i, for
// tests that want their own reproducible choices.
func (n *Net) Rand(i uint64) *rand.Rand {
	s := mix(n.seed, 1<<40+i)
	return rand.New(rand.NewPCG(s, s^0x6a09e667f3bcc909))
}

// pending is a packet in flight.
type pending struct {
	at  time.Duration
	seq uint64
	rt  *route
	buf []byte
}

func (a pending) less(b pending) bool { return a.at < b.at || a.at == b.at && a.seq < b.seq }

// pktHeap is a binary min-heap on (at, seq): no interface boxing, so no
// allocation per packet.
type pktHeap []pending

func (h *pktHeap) push(x pending) {
	*h = append(*h, x)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q[i].less(q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *pktHeap) pop() pending {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = pending{}
	q = q[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		m := l
		if r := l + 1; r < len(q) && q[r].less(q[l]) {
			m = r
		}
		if !q[m].less(q[i]) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

type callback struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type cbHeap []callback

func (h *cbHeap) push(x callback) {
	*h = append(*h, x)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if q[p].at < q[i].at || q[p].at == q[i].at && q[p].seq < q[i].seq {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *cbHeap) pop() callback {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = callback{}
	q = q[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		m := l
		if r := l + 1; r < len(q) && (q[r].at < q[l].at || q[r].at == q[l].at && q[r].seq < q[l].seq) {
			m = r
		}
		if q[i].at < q[m].at || q[i].at == q[m].at && q[i].seq < q[m].seq {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}
