package cc_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/internal/simnet"
	"github.com/mptcp-go/mptcp/mpconn"
	"github.com/mptcp-go/mptcp/mpconn/cc"
	"github.com/mptcp-go/mptcp/option"
	"github.com/mptcp-go/mptcp/tcp"
)

// The controllers are mpconn's congestion factories.
var _ = []mpconn.CongestionFactory{cc.LIA{}, cc.OLIA{}}

// mpHost is an MPTCP host on a simnet.Net: a simnet.Node that drives
// mpconn connections (the root package's Host does the same over package
// stack), routes segments to subflows by 4-tuple, MP_JOIN SYNs to their
// connection by token, and SYNs for its listening port to a new passive
// connection.
type mpHost struct {
	t      testing.TB
	n      *simnet.Net
	routes map[[2]netip.Addr]bool // pairs the test linked, for SourceAddr
	addrs  []netip.Addr
	cfg    mpconn.Config
	mib    mpconn.MIB
	rng    *rand.Rand
	flows  map[[2]netip.AddrPort]*mpFlow // (local, remote)
	tokens map[uint32]*mpconn.Conn
	conns  []*mpconn.Conn
	listen uint16
	port   uint16
	// accepted receives each connection accepted on the listening port.
	accepted []*mpconn.Conn
	// wake, if set, is set when a connection reports a readiness change
	// (the applications then have something to do).
	wake *bool
}

func newMPHost(t testing.TB, n *simnet.Net, routes map[[2]netip.Addr]bool, seed uint64, cfg mpconn.Config, addrs ...netip.Addr) *mpHost {
	h := &mpHost{t: t, n: n, routes: routes, addrs: addrs, cfg: cfg, rng: n.Rand(seed),
		flows: map[[2]netip.AddrPort]*mpFlow{}, tokens: map[uint32]*mpconn.Conn{}, port: 40000}
	h.cfg.MIB = &h.mib
	if err := n.Attach(h, addrs...); err != nil {
		t.Fatal(err)
	}
	return h
}

// mpFlow is one subflow's 4-tuple: mpconn.SubflowIO over the Net.
type mpFlow struct {
	h             *mpHost
	local, remote netip.AddrPort
	out           *simnet.TCPOut
	ep            *tcp.Endpoint
	input         func(*tcp.Segment)
}

func (f *mpFlow) OutputSegment(hdr, p1, p2 []byte) { f.out.OutputSegment(hdr, p1, p2) }
func (f *mpFlow) TCPConfig(tmpl tcp.Config) tcp.Config {
	cfg := tmpl
	cfg.LocalPort, cfg.RemotePort = f.local.Port(), f.remote.Port()
	cfg.ISS = f.h.rng.Uint32()
	cfg.IPHeaderLen = header.IPv4MinHeaderLen
	return cfg
}
func (f *mpFlow) Attach(ep *tcp.Endpoint, input func(*tcp.Segment)) {
	f.ep, f.input = ep, input
	if input == nil {
		f.input = ep.HandleSegment
	}
}
func (f *mpFlow) Local() netip.AddrPort  { return f.local }
func (f *mpFlow) Remote() netip.AddrPort { return f.remote }
func (f *mpFlow) Close()                 { delete(f.h.flows, [2]netip.AddrPort{f.local, f.remote}) }

func (h *mpHost) openFlow(local, remote netip.AddrPort) (*mpFlow, error) {
	if !h.routes[[2]netip.Addr{local.Addr(), remote.Addr()}] {
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
	f := &mpFlow{h: h, local: local, remote: remote, out: h.n.TCPOutput(local, remote)}
	h.flows[k] = f
	return f, nil
}

// mpEnv is mpconn.Env for one connection of an mpHost.
type mpEnv struct{ h *mpHost }

func (e mpEnv) Now() time.Duration { return e.h.n.Now() }
func (e mpEnv) NewKey() (uint64, error) {
	for {
		if k := e.h.rng.Uint64(); k != 0 {
			return k, nil
		}
	}
}
func (e mpEnv) Nonce() uint32 { return e.h.rng.Uint32() }
func (e mpEnv) OpenSubflow(local, remote netip.AddrPort) (mpconn.SubflowIO, error) {
	return e.h.openFlow(local, remote)
}
func (e mpEnv) LocalAddrs() []netip.Addr { return e.h.addrs }
func (e mpEnv) SourceAddr(remote netip.Addr) netip.Addr {
	for _, a := range e.h.addrs {
		if e.h.routes[[2]netip.Addr{a, remote}] {
			return a
		}
	}
	return netip.Addr{}
}
func (e mpEnv) Notify(tcp.Notify) {
	if e.h.wake != nil {
		*e.h.wake = true
	}
}

// dial opens a connection from the host's first address to remote.
func (h *mpHost) dial(remote netip.AddrPort) *mpconn.Conn {
	h.t.Helper()
	f, err := h.openFlow(netip.AddrPortFrom(h.addrs[0], 0), remote)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := mpconn.NewActive(mpEnv{h}, h.cfg, f)
	if err != nil {
		h.t.Fatal(err)
	}
	h.add(c)
	if err := c.Connect(); err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *mpHost) add(c *mpconn.Conn) {
	h.conns = append(h.conns, c)
	h.register()
}

// register indexes the connections' tokens once their keys are known.
func (h *mpHost) register() {
	for _, c := range h.conns {
		if tok := c.LocalToken(); tok != 0 && h.tokens[tok] == nil {
			h.tokens[tok] = c
		}
	}
}

// Deliver implements simnet.Node.
func (h *mpHost) Deliver(pkt []byte) {
	src, dst, seg, ok := simnet.ParseTCP(pkt)
	if !ok {
		h.t.Fatalf("bad packet %x", pkt)
	}
	defer h.register()
	if f := h.flows[[2]netip.AddrPort{dst, src}]; f != nil {
		f.deliver(&seg)
		return
	}
	if seg.Flags&(header.TCPFlagSYN|header.TCPFlagACK|header.TCPFlagRST) != header.TCPFlagSYN {
		return // no RST: nothing here needs one
	}
	for it := header.NewTCPOptionIterator(seg.Options); it.Next(); {
		if it.Kind() != header.TCPOptMPTCP {
			continue
		}
		if o, err := option.Parse(it.Raw()); err == nil && o.Subtype == option.SubtypeMPJoin {
			c := h.tokens[o.MPJoin.Token]
			if c == nil {
				return
			}
			f, err := h.openFlow(dst, src)
			if err != nil {
				return
			}
			if ok, _ := c.AcceptJoin(f, &o.MPJoin); !ok {
				f.Close()
				return
			}
			f.deliver(&seg)
			return
		}
	}
	if dst.Port() != h.listen {
		return
	}
	f, err := h.openFlow(dst, src)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := mpconn.NewPassive(mpEnv{h}, h.cfg, f)
	if err != nil {
		h.t.Fatal(err)
	}
	h.add(c)
	h.accepted = append(h.accepted, c)
	f.deliver(&seg)
}

// deliver hands the flow one segment, a batch of one: mpconn's subflows
// defer the ACKs of in-order data to the end of the driver's batch
// (tcp.Endpoint.DeferAcks), as package stack's reader does.
func (f *mpFlow) deliver(seg *tcp.Segment) {
	f.input(seg)
	f.ep.FlushAck()
}

// NextDeadline implements simnet.Node.
func (h *mpHost) NextDeadline() (time.Duration, bool) {
	var t time.Duration
	ok := false
	for _, c := range h.conns {
		if d, due := c.NextDeadline(); due && (!ok || d < t) {
			t, ok = d, true
		}
	}
	return t, ok
}

// HandleTimers implements simnet.Node.
func (h *mpHost) HandleTimers() {
	now := h.n.Now()
	for _, c := range h.conns {
		if d, due := c.NextDeadline(); due && d <= now {
			c.HandleTimers()
		}
	}
	h.register()
}

// stream is an endless application byte stream: byte i of it is
// pattern[i%len(pattern)], so the reader checks every byte it gets.
type stream struct {
	t       testing.TB
	name    string
	w       io.Writer // the sending connection
	r       io.Reader // the receiving one
	sent    int64
	got     int64
	buf     []byte
	pattern []byte
}

func newStream(t testing.TB, name string, w io.Writer, r io.Reader, seed uint64) *stream {
	p := make([]byte, 65521) // prime: writes and reads fall across it
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return &stream{t: t, name: name, w: w, r: r, buf: make([]byte, 64<<10), pattern: p}
}

// pump writes what the sender takes and reads what arrived, checking it.
func (s *stream) pump() {
	for {
		off := int(s.sent % int64(len(s.pattern)))
		n, err := s.w.Write(s.pattern[off:])
		if err != nil {
			s.t.Fatalf("%s: write: %v", s.name, err)
		}
		s.sent += int64(n)
		if n == 0 || n < len(s.pattern)-off {
			break
		}
	}
	for {
		n, err := s.r.Read(s.buf)
		if err != nil {
			s.t.Fatalf("%s: read: %v after %d bytes", s.name, err, s.got)
		}
		if n == 0 {
			return
		}
		for b := s.buf[:n]; len(b) > 0; {
			off := int(s.got % int64(len(s.pattern)))
			k := min(len(b), len(s.pattern)-off)
			if !bytes.Equal(b[:k], s.pattern[off:off+k]) {
				s.t.Fatalf("%s: data differs at byte %d", s.name, s.got)
			}
			b = b[k:]
			s.got += int64(k)
		}
	}
}

// tcpConn adapts a tcp.Endpoint to io.Reader and io.Writer: (0, nil) when
// nothing can be done now.
type tcpConn struct{ ep *tcp.Endpoint }

func (c tcpConn) Write(p []byte) (int, error) { return c.ep.Write(p) }
func (c tcpConn) Read(p []byte) (int, error)  { return c.ep.Read(p) }
