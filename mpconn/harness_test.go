package mpconn

import (
	"bytes"
	"container/heap"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
	"github.com/mptcp-go/mptcp/tcp"
)

// simNet is a simulated network on a manual clock: hosts with addresses,
// one-way paths between address pairs (delay, loss, down), segments
// routed by 4-tuple to MPTCP connections. Deterministic for a seed.
type simNet struct {
	t     testing.TB
	now   time.Duration
	q     simQueue
	n     int
	rng   *rand.Rand
	hosts map[netip.Addr]*simHost
	paths map[[2]netip.Addr]*simPath
	// mangle, if set, may rewrite or drop (nil) each segment in flight.
	mangle func(src, dst netip.AddrPort, seg []byte) []byte
	trace  []simPkt
	keep   bool
}

type simPath struct {
	delay time.Duration
	loss  float64
	down  bool
	rate  float64 // bytes/s, 0 = unlimited
	busy  time.Duration
	// qlim bounds the queueing delay of a rate-limited path (a drop-tail
	// queue of qlim×rate bytes); 0 means 100 ms.
	qlim time.Duration
}

type simPkt struct {
	at       time.Duration
	seq      int
	src, dst netip.AddrPort
	data     []byte
}

type simQueue []*simPkt

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simPkt)) }
func (q *simQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func newSimNet(t testing.TB, seed uint64) *simNet {
	return &simNet{t: t, now: time.Second, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)),
		hosts: make(map[netip.Addr]*simHost), paths: make(map[[2]netip.Addr]*simPath)}
}

func (n *simNet) Now() time.Duration { return n.now }

// link adds paths both ways between a and b.
func (n *simNet) link(a, b string, delay time.Duration, loss float64) (*simPath, *simPath) {
	pa, pb := netip.MustParseAddr(a), netip.MustParseAddr(b)
	ab, ba := &simPath{delay: delay, loss: loss}, &simPath{delay: delay, loss: loss}
	n.paths[[2]netip.Addr{pa, pb}] = ab
	n.paths[[2]netip.Addr{pb, pa}] = ba
	return ab, ba
}

func (n *simNet) send(src, dst netip.AddrPort, b []byte) {
	if n.keep {
		n.trace = append(n.trace, simPkt{at: n.now, src: src, dst: dst, data: b})
	}
	p := n.paths[[2]netip.Addr{src.Addr(), dst.Addr()}]
	if p == nil || p.down {
		return
	}
	if p.loss > 0 && n.rng.Float64() < p.loss {
		return
	}
	if n.mangle != nil {
		if b = n.mangle(src, dst, b); b == nil {
			return
		}
	}
	at := n.now
	if p.rate > 0 {
		qlim := p.qlim
		if qlim == 0 {
			qlim = 100 * time.Millisecond
		}
		if p.busy-at > qlim {
			return // the queue is full
		}
		start := max(at, p.busy)
		p.busy = start + time.Duration(float64(len(b)+40)/p.rate*float64(time.Second))
		at = p.busy
	}
	n.n++
	heap.Push(&n.q, &simPkt{at: at + p.delay, seq: n.n, src: src, dst: dst, data: b})
}

// step delivers the next segment or fires the next timers, not beyond
// limit; false when nothing is left to do before it.
func (n *simNet) step(limit time.Duration) bool {
	next := time.Duration(-1)
	if len(n.q) > 0 {
		next = n.q[0].at
	}
	for _, h := range n.hostList() {
		if h.paused {
			continue
		}
		for _, c := range h.conns {
			if d, ok := c.NextDeadline(); ok && (next < 0 || d < next) {
				next = d
			}
		}
	}
	if next < 0 || next > limit {
		return false
	}
	if next > n.now {
		n.now = next
	}
	if len(n.q) > 0 && n.q[0].at <= n.now {
		p := heap.Pop(&n.q).(*simPkt)
		if h := n.hosts[p.dst.Addr()]; h != nil && h.paused {
			h.backlog = append(h.backlog, p)
		} else if h != nil {
			h.deliver(p.src, p.dst, p.data)
		}
		return true
	}
	for _, h := range n.hostList() {
		if h.paused {
			continue
		}
		for _, c := range h.conns {
			if d, ok := c.NextDeadline(); ok && d <= n.now {
				c.HandleTimers()
			}
		}
		h.reap()
	}
	return true
}

// hostList returns the hosts in a fixed order (determinism).
func (n *simNet) hostList() []*simHost {
	var out []*simHost
	seen := map[*simHost]bool{}
	for _, a := range n.sortedAddrs() {
		h := n.hosts[a]
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

func (n *simNet) sortedAddrs() []netip.Addr {
	var as []netip.Addr
	for a := range n.hosts {
		as = append(as, a)
	}
	for i := 1; i < len(as); i++ {
		for j := i; j > 0 && as[j].Less(as[j-1]); j-- {
			as[j], as[j-1] = as[j-1], as[j]
		}
	}
	return as
}

func (n *simNet) runUntil(d time.Duration, cond func() bool) bool {
	limit := n.now + d
	for !cond() {
		if !n.step(limit) {
			return cond()
		}
	}
	return true
}

func (n *simNet) runFor(d time.Duration) {
	limit := n.now + d
	for n.step(limit) {
	}
	n.now = max(n.now, limit)
}

// simHost is one MPTCP host: its addresses, flows, tokens and listener.
type simHost struct {
	net    *simNet
	name   string
	addrs  []netip.Addr
	flows  map[[2]netip.AddrPort]*simFlow
	tokens map[uint32]*Conn
	conns  []*Conn
	cfg    Config
	mib    MIB
	listen uint16 // port accepting MP_CAPABLE (0: none)
	// plainListen makes the listener a plain TCP endpoint (no MPTCP).
	plainListen bool
	plain       []*tcp.Endpoint
	accepted    []*Conn
	port        uint16
	rsts        int // RSTs sent for segments of no flow
	notified    map[*Conn]tcp.Notify
	// deliverHook, if set, takes every segment for the host (a scripted
	// peer).
	deliverHook func(src, dst netip.AddrPort, b []byte)
	// paused: the host's process does not run (pause); what arrives
	// meanwhile waits in backlog, as in its interfaces' queues.
	paused  bool
	backlog []*simPkt
}

// pause stops h's process for d while the network and the other hosts
// go on: segments for h queue up and its timers do not run. Then, as
// when a starved process is scheduled again, its timers run first,
// late, and the queued segments are delivered after them.
func (n *simNet) pause(h *simHost, d time.Duration) {
	h.paused = true
	n.runFor(d)
	h.paused = false
	for _, c := range h.conns {
		if at, ok := c.NextDeadline(); ok && at <= n.now {
			c.HandleTimers()
		}
	}
	for _, p := range h.backlog {
		p.at = n.now
		heap.Push(&n.q, p)
	}
	h.backlog = nil
}

func (n *simNet) addHost(name string, cfg Config, addrs ...string) *simHost {
	h := &simHost{net: n, name: name, flows: make(map[[2]netip.AddrPort]*simFlow),
		tokens: make(map[uint32]*Conn), cfg: cfg, port: 40000, notified: make(map[*Conn]tcp.Notify)}
	h.cfg.MIB = &h.mib
	for _, a := range addrs {
		pa := netip.MustParseAddr(a)
		h.addrs = append(h.addrs, pa)
		n.hosts[pa] = h
	}
	return h
}

// simFlow implements SubflowIO.
type simFlow struct {
	h             *simHost
	local, remote netip.AddrPort
	ep            *tcp.Endpoint
	input         func(*tcp.Segment)
	closed        bool
}

func (f *simFlow) OutputSegment(hdr, p1, p2 []byte) {
	b := make([]byte, 0, len(hdr)+len(p1)+len(p2))
	b = append(append(append(b, hdr...), p1...), p2...)
	f.h.net.send(f.local, f.remote, b)
}

func (f *simFlow) TCPConfig(tmpl tcp.Config) tcp.Config {
	cfg := tmpl
	cfg.LocalPort, cfg.RemotePort = f.local.Port(), f.remote.Port()
	cfg.ISS = f.h.net.rng.Uint32()
	return cfg
}

func (f *simFlow) Attach(ep *tcp.Endpoint, input func(*tcp.Segment)) {
	f.ep, f.input = ep, input
	if input == nil {
		f.input = ep.HandleSegment
	}
}
func (f *simFlow) Local() netip.AddrPort  { return f.local }
func (f *simFlow) Remote() netip.AddrPort { return f.remote }
func (f *simFlow) Close() {
	f.closed = true
	delete(f.h.flows, [2]netip.AddrPort{f.local, f.remote})
}

func (h *simHost) openFlow(local, remote netip.AddrPort) (*simFlow, error) {
	if !local.Addr().IsValid() {
		local = netip.AddrPortFrom(h.addrs[0], 0)
	}
	if h.net.paths[[2]netip.Addr{local.Addr(), remote.Addr()}] == nil {
		return nil, fmt.Errorf("no route from %v to %v", local.Addr(), remote.Addr())
	}
	if local.Port() == 0 {
		h.port++
		local = netip.AddrPortFrom(local.Addr(), h.port)
	}
	k := [2]netip.AddrPort{local, remote}
	if h.flows[k] != nil {
		return nil, fmt.Errorf("flow %v in use", k)
	}
	f := &simFlow{h: h, local: local, remote: remote}
	h.flows[k] = f
	return f, nil
}

// simEnv implements Env for one connection of a host.
type simEnv struct {
	h *simHost
	c *Conn
}

func (e *simEnv) Now() time.Duration { return e.h.net.now }
func (e *simEnv) NewKey() (uint64, error) {
	for {
		k := e.h.net.rng.Uint64()
		if k == 0 {
			continue
		}
		tok := tokenOf(k)
		if e.h.tokens[tok] == nil {
			e.h.tokens[tok] = e.c
			return k, nil
		}
	}
}
func (e *simEnv) Nonce() uint32 { return e.h.net.rng.Uint32() }
func (e *simEnv) OpenSubflow(local, remote netip.AddrPort) (SubflowIO, error) {
	f, err := e.h.openFlow(local, remote)
	if err != nil {
		return nil, err
	}
	return f, nil
}
func (e *simEnv) LocalAddrs() []netip.Addr { return e.h.addrs }
func (e *simEnv) SourceAddr(remote netip.Addr) netip.Addr {
	for _, a := range e.h.addrs {
		if e.h.net.paths[[2]netip.Addr{a, remote}] != nil {
			return a
		}
	}
	return netip.Addr{}
}
func (e *simEnv) Notify(n tcp.Notify) { e.h.notified[e.c] |= n }

func tokenOf(k uint64) uint32 {
	c := &Conn{version: option.V1}
	c.setLocalKey(k)
	return c.localToken
}

// dial starts a connection from h to remote.
func (h *simHost) dial(remote string) *Conn {
	h.net.t.Helper()
	f, err := h.openFlow(netip.AddrPort{}, netip.MustParseAddrPort(remote))
	if err != nil {
		h.net.t.Fatal(err)
	}
	env := &simEnv{h: h}
	c, err := NewActive(env, h.cfg, f)
	if err != nil {
		h.net.t.Fatal(err)
	}
	env.c = c
	h.tokens[c.localToken] = c
	h.conns = append(h.conns, c)
	if err := c.Connect(); err != nil {
		h.net.t.Fatal(err)
	}
	return c
}

// deliver routes a segment to its flow, a join to its connection, a SYN
// to the listener, anything else to RST.
func (h *simHost) deliver(src, dst netip.AddrPort, b []byte) {
	if h.deliverHook != nil {
		h.deliverHook(src, dst, b)
		return
	}
	seg, ok := tcp.ParseSegment(header.TCP(b))
	if !ok {
		h.net.t.Fatalf("invalid segment %x", b)
	}
	if f := h.flows[[2]netip.AddrPort{dst, src}]; f != nil {
		if f.input != nil {
			f.input(&seg)
		}
		// The stack flushes deferred ACKs after each batch it reads;
		// here a batch is one segment.
		if f.ep != nil {
			f.ep.FlushAck()
		}
		h.reap()
		return
	}
	if seg.Flags&(header.TCPFlagSYN|header.TCPFlagACK|header.TCPFlagRST) != header.TCPFlagSYN {
		h.replyRST(dst, src, &seg, nil)
		return
	}
	var join *option.MPJoin
	for it := header.NewTCPOptionIterator(seg.Options); it.Next(); {
		if it.Kind() == header.TCPOptMPTCP {
			if o, err := option.Parse(it.Raw()); err == nil && o.Subtype == option.SubtypeMPJoin {
				join = &o.MPJoin
			}
		}
	}
	if join != nil && !h.plainListen { // a plain TCP server does not read MP_JOIN
		c := h.tokens[join.Token]
		if c == nil {
			h.mib.MPJoinNoTokenFound.Add(1)
			h.replyRST(dst, src, &seg, rstOpt(option.RstMPTCPError))
			return
		}
		f, _ := h.openFlow(dst, src)
		ok, reason := c.AcceptJoin(f, join)
		if !ok {
			f.Close()
			h.replyRST(dst, src, &seg, rstOpt(reason))
			return
		}
		f.input(&seg)
		h.reap()
		return
	}
	if dst.Port() != h.listen || h.listen == 0 {
		h.replyRST(dst, src, &seg, nil)
		return
	}
	f, _ := h.openFlow(dst, src)
	if h.plainListen {
		cfg := f.TCPConfig(tcp.Config{})
		ep := tcp.New(cfg, h.net, f)
		f.Attach(ep, nil)
		_ = ep.Listen()
		h.plain = append(h.plain, ep)
		ep.HandleSegment(&seg)
		return
	}
	env := &simEnv{h: h}
	c, err := NewPassive(env, h.cfg, f)
	if err != nil {
		h.net.t.Fatal(err)
	}
	env.c = c
	h.conns = append(h.conns, c)
	h.accepted = append(h.accepted, c)
	f.input(&seg)
	if c.localKey != 0 {
		h.tokens[c.localToken] = c
	}
	h.reap()
}

func rstOpt(r option.RstReason) []byte {
	o := option.Option{Subtype: option.SubtypeMPTCPRst, MPTCPRst: option.MPTCPRst{Reason: r}}
	b, _ := o.Append(nil)
	return b
}

func (h *simHost) replyRST(local, remote netip.AddrPort, seg *tcp.Segment, opts []byte) {
	if seg.Flags&header.TCPFlagRST != 0 {
		return
	}
	h.rsts++
	ol := (len(opts) + 3) &^ 3
	b := make([]byte, header.TCPMinHeaderLen+ol)
	f := header.TCPFields{SrcPort: local.Port(), DstPort: remote.Port(), DataOffset: len(b)}
	if seg.Flags&header.TCPFlagACK != 0 {
		f.Seq, f.Flags = seg.Ack, header.TCPFlagRST
	} else {
		f.Ack = seg.Seq + uint32(len(seg.Payload)) + 1
		f.Flags = header.TCPFlagRST | header.TCPFlagACK
	}
	header.TCP(b).Encode(&f)
	copy(b[header.TCPMinHeaderLen:], opts)
	for i := header.TCPMinHeaderLen + len(opts); i < len(b); i++ {
		b[i] = header.TCPOptNOP
	}
	h.net.send(local, remote, b)
}

// reap releases the flows of closed endpoints (as the stack's owner does).
func (h *simHost) reap() {
	for k, f := range h.flows {
		if f.ep != nil && f.ep.State() == tcp.StateClosed {
			delete(h.flows, k)
		}
	}
}

// pump writes data on from (closing it for writing at the end if
// closeWrite) and reads on to until all of data arrived (and EOF if
// closeWrite). It returns what to read.
func (n *simNet) pump(from, to *Conn, data []byte, limit time.Duration, closeWrite bool) []byte {
	n.t.Helper()
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	off := 0
	closed := false
	deadline := n.now + limit
	for {
		for off < len(data) {
			w, err := from.Write(data[off:])
			if err != nil {
				n.t.Fatalf("write: %v", err)
			}
			if w == 0 {
				break
			}
			off += w
		}
		if off == len(data) && closeWrite && !closed {
			from.CloseWrite()
			closed = true
		}
		for {
			r, err := to.Read(buf)
			got.Write(buf[:r])
			if err != nil {
				if closeWrite && err.Error() == "EOF" {
					return got.Bytes()
				}
				n.t.Fatalf("read: %v (got %d of %d)", err, got.Len(), len(data))
			}
			if r == 0 {
				break
			}
		}
		if !closeWrite && got.Len() >= len(data) {
			return got.Bytes()
		}
		if !n.step(deadline) {
			n.t.Fatalf("transfer stalled at %v: wrote %d/%d, read %d\nsender %+v\nreceiver %+v", n.now, off, len(data), got.Len(), brief(from), brief(to))
		}
	}
}

func brief(c *Conn) string {
	in := c.Info()
	s := fmt.Sprintf("%s fallback=%v una=%d nxt=%d rcvnxt=%d sent=%d retrans=%d", in.State, in.Fallback, in.SndUna-c.localIDSN, in.SndNxt-c.localIDSN, in.RcvNxt-c.remoteIDSN, in.BytesSent, in.BytesRetrans)
	for _, sf := range in.Subflows {
		s += fmt.Sprintf("\n  #%d %v->%v fully=%v stale=%v %v sent=%d recv=%d inflight=%d cwnd=%d", sf.ID, sf.Local, sf.Remote, sf.Fully, sf.Stale, sf.TCP.State, sf.DataSent, sf.DataRecv, sf.TCP.InFlight, sf.TCP.Cwnd)
	}
	return s
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0xabcdef))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sameSHA(a, b []byte) bool { return sha256.Sum256(a) == sha256.Sum256(b) }

// twoHosts builds the usual test topology: a client with wifi and
// cellular addresses, a server with one address per path.
//
//	client 10.0.1.1 ---- path 1 ---- 10.0.1.2 server
//	client 10.0.2.1 ---- path 2 ---- 10.0.2.2 server
func twoHosts(t testing.TB, seed uint64, ccfg, scfg Config) (*simNet, *simHost, *simHost) {
	n := newSimNet(t, seed)
	cli := n.addHost("client", ccfg, "10.0.1.1", "10.0.2.1")
	srv := n.addHost("server", scfg, "10.0.1.2", "10.0.2.2")
	srv.listen = 80
	n.link("10.0.1.1", "10.0.1.2", 10*time.Millisecond, 0)
	n.link("10.0.2.1", "10.0.2.2", 30*time.Millisecond, 0)
	return n, cli, srv
}

type netipAddr = netip.Addr

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
