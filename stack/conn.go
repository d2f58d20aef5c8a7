package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
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

// Conn is a TCP connection of a Stack. It implements net.Conn.
type Conn struct {
	s   *Stack
	key connKey
	n   *nic
	nh  netip.Addr // next hop
	v6  bool

	mu      sync.Mutex // guards ep and everything below
	ep      *tcp.Endpoint
	txPkts  [][]byte
	inBatch bool
	timer   *time.Timer
	timerAt time.Duration
	removed bool
	ln      *Listener // the listener of a passive conn not yet accepted

	rdCh, wrCh chan struct{}
	estCh      chan struct{} // closed when established
	estOnce    sync.Once
	doneCh     chan struct{} // closed when the engine reached CLOSED
	doneOnce   sync.Once
	closing    chan struct{} // closed by Close
	closeOnce  sync.Once
	rdDL, wrDL deadline
}

var _ net.Conn = (*Conn)(nil)

func (s *Stack) newConn(n *nic, nh netip.Addr, k connKey, hooks tcp.SegmentHooks) *Conn {
	c := &Conn{s: s, key: k, n: n, nh: nh, v6: k.remote.Addr().Is6(),
		rdCh: make(chan struct{}, 1), wrCh: make(chan struct{}, 1), estCh: make(chan struct{}),
		doneCh: make(chan struct{}), closing: make(chan struct{}), rdDL: newDeadline(), wrDL: newDeadline()}
	cfg := s.opts.TCP
	cfg.LocalPort, cfg.RemotePort = k.local.Port(), k.remote.Port()
	cfg.ISS = s.isn(k)
	cfg.MTU = n.mtu
	cfg.IPHeaderLen = header.IPv4MinHeaderLen
	if c.v6 {
		cfg.IPHeaderLen = header.IPv6HeaderLen
	}
	cfg.Hooks = hooks
	cfg.Notify = c.notify
	c.ep = tcp.New(cfg, s, c)
	c.ep.DeferAcks(true) // the reader flushes ACKs once per batch
	c.txPkts = make([][]byte, 0, batch)
	c.timer = time.AfterFunc(time.Hour, c.onTimer)
	c.timer.Stop()
	return c
}

// OutputSegment implements tcp.Output: it builds the IP packet in the
// connection's transmit batch. Called with c.mu held.
func (c *Conn) OutputSegment(hdr, p1, p2 []byte) {
	if len(c.txPkts) == cap(c.txPkts) {
		c.flush()
	}
	lh := c.n.linkHeaderLen()
	ihl := header.IPv4MinHeaderLen
	if c.v6 {
		ihl = header.IPv6HeaderLen
	}
	tl := len(hdr) + len(p1) + len(p2)
	b := c.n.txq.get(lh + ihl + tl)
	src, dst := c.key.local.Addr(), c.key.remote.Addr()
	var tos uint8
	if c.ep.SegmentECT() {
		tos = ecnECT0
	}
	c.s.encodeIP(b[lh:], src, dst, header.ProtocolTCP, tl, tos)
	o := lh + ihl
	o += copy(b[o:], hdr)
	o += copy(b[o:], p1)
	copy(b[o:], p2)
	setTCPChecksum(b[lh:], src, dst, ihl)
	c.txPkts = append(c.txPkts, b)
	c.s.stats.TCPOutSegs.Add(1)
}

// flush sends the queued packets. Called with c.mu held.
func (c *Conn) flush() {
	if len(c.txPkts) == 0 {
		return
	}
	if c.n.eth {
		mac, ok := c.n.resolve(c.nh, c.txPkts[0][header.EthernetHeaderLen:])
		if !ok {
			for _, p := range c.txPkts[1:] {
				c.n.resolve(c.nh, p[header.EthernetHeaderLen:])
			}
			c.n.txq.put(c.txPkts)
			c.txPkts = c.txPkts[:0]
			return
		}
		et := header.EtherTypeIPv4
		if c.v6 {
			et = header.EtherTypeIPv6
		}
		for _, p := range c.txPkts {
			header.Ethernet(p).Encode(mac, c.n.cfg.MAC, et)
		}
	}
	c.n.txq.enqueue(c.txPkts)
	for i := range c.txPkts {
		c.txPkts[i] = nil
	}
	c.txPkts = c.txPkts[:0]
}

// notify is the engine's readiness callback (under c.mu).
func (c *Conn) notify(n tcp.Notify) {
	if n&tcp.NotifyReadable != 0 {
		signal(c.rdCh)
	}
	if n&tcp.NotifyWritable != 0 {
		signal(c.wrCh)
	}
	if n&tcp.NotifyEstablished != 0 {
		c.estOnce.Do(func() { close(c.estCh) })
		if c.ln != nil {
			c.ln.enqueue(c)
		}
	}
	if n&tcp.NotifyClosed != 0 {
		signal(c.rdCh)
		signal(c.wrCh)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// afterCall flushes output, re-arms the timer and retires a closed
// connection. Called with c.mu held after every engine call.
func (c *Conn) afterCall() {
	if !c.inBatch {
		c.flush()
	}
	if c.ep.State() == tcp.StateClosed {
		c.retire()
		return
	}
	d, ok := c.ep.NextDeadline()
	if !ok {
		if c.timerAt != 0 {
			c.timer.Stop()
			c.timerAt = 0
		}
		return
	}
	if c.timerAt == 0 || d < c.timerAt {
		c.timerAt = d
		c.timer.Reset(max(d-c.s.Now(), 0))
	}
}

func (c *Conn) retire() {
	if c.removed {
		return
	}
	c.removed = true
	c.timer.Stop()
	c.timerAt = 0
	c.s.mu.Lock()
	if c.s.conns[c.key] == c {
		delete(c.s.conns, c.key)
	}
	c.s.mu.Unlock()
	if c.ln != nil {
		c.ln.unreserve()
		c.ln = nil
	}
	c.doneOnce.Do(func() { close(c.doneCh) })
	signal(c.rdCh)
	signal(c.wrCh)
}

func (c *Conn) onTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timerAt = 0
	if c.removed {
		return
	}
	c.ep.HandleTimers()
	c.afterCall()
}

func (c *Conn) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read implements net.Conn.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		select {
		case <-c.closing:
			return 0, c.opErr("read", net.ErrClosed)
		case <-c.rdDL.wait():
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		default:
		}
		c.mu.Lock()
		n, err := c.ep.Read(b)
		c.afterCall()
		c.mu.Unlock()
		if n > 0 || err != nil {
			return n, c.opErr("read", err)
		}
		select {
		case <-c.rdCh:
		case <-c.rdDL.wait():
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		case <-c.closing:
			return 0, c.opErr("read", net.ErrClosed)
		}
	}
}

// Write implements net.Conn. It returns once all of b is queued in the
// send buffer (or on error/deadline, with the count queued).
func (c *Conn) Write(b []byte) (int, error) {
	off := 0
	for {
		select {
		case <-c.closing:
			return off, c.opErr("write", net.ErrClosed)
		case <-c.wrDL.wait():
			return off, c.opErr("write", os.ErrDeadlineExceeded)
		default:
		}
		c.mu.Lock()
		n, err := c.ep.Write(b[off:])
		c.afterCall()
		c.mu.Unlock()
		off += n
		if err != nil {
			return off, c.opErr("write", err)
		}
		if off == len(b) {
			return off, nil
		}
		if n > 0 {
			continue
		}
		select {
		case <-c.wrCh:
		case <-c.wrDL.wait():
			return off, c.opErr("write", os.ErrDeadlineExceeded)
		case <-c.closing:
			return off, c.opErr("write", net.ErrClosed)
		}
	}
}

// Close implements net.Conn: a full close (FIN after the queued data, or
// RST if received data is unread), without waiting. The connection lingers
// in the stack until the close handshake and TIME-WAIT finish.
func (c *Conn) Close() error {
	first := false
	c.closeOnce.Do(func() { close(c.closing); first = true })
	if !first {
		return c.opErr("close", net.ErrClosed)
	}
	c.mu.Lock()
	err := c.ep.Close()
	c.afterCall()
	c.mu.Unlock()
	return err
}

// CloseWrite shuts down the sending side: a FIN follows the queued data.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	err := c.ep.CloseWrite()
	c.afterCall()
	c.mu.Unlock()
	return c.opErr("close", err)
}

// Abort resets the connection (RST) at once.
func (c *Conn) Abort() {
	c.closeOnce.Do(func() { close(c.closing) })
	c.abort()
}

func (c *Conn) abort() {
	c.mu.Lock()
	c.ep.Abort()
	c.afterCall()
	c.mu.Unlock()
}

// Info returns the engine's view of the connection (RTT, windows, counters).
func (c *Conn) Info() tcp.Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ep.Info()
}

// Done is closed when the connection has fully closed (after TIME-WAIT,
// or at once on reset).
func (c *Conn) Done() <-chan struct{} { return c.doneCh }

// SendAck sends a pure ACK now (with the hooks' options).
func (c *Conn) SendAck() {
	c.mu.Lock()
	c.ep.SendAck()
	c.afterCall()
	c.mu.Unlock()
}

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.key.local) }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.key.remote) }

// LocalAddrPort and RemoteAddrPort return the 4-tuple.
func (c *Conn) LocalAddrPort() netip.AddrPort  { return c.key.local }
func (c *Conn) RemoteAddrPort() netip.AddrPort { return c.key.remote }

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdDL.set(t)
	c.wrDL.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rdDL.set(t); return nil }

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wrDL.set(t); return nil }

// DialOptions tune DialTCPOptions.
type DialOptions struct {
	// Hooks, if set, ride on the connection's segments (MPTCP).
	Hooks tcp.SegmentHooks
}

// DialTCP opens a connection from laddr (its address and port may be
// zero: the stack picks them) to raddr. It returns when the handshake
// completes, fails, or ctx ends (the attempt is then aborted).
func (s *Stack) DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (*Conn, error) {
	return s.DialTCPOptions(ctx, laddr, raddr, DialOptions{})
}

// DialTCPOptions is DialTCP with options.
func (s *Stack) DialTCPOptions(ctx context.Context, laddr, raddr netip.AddrPort, o DialOptions) (*Conn, error) {
	raddr = netip.AddrPortFrom(raddr.Addr().Unmap(), raddr.Port())
	var src netip.Addr
	if laddr.Addr().IsValid() && !laddr.Addr().IsUnspecified() {
		src = laddr.Addr().Unmap()
	}
	n, nh, src, err := s.route(src, raddr.Addr())
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(raddr), Err: err}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrStackClosed
	}
	port := laddr.Port()
	if port == 0 {
		if port, err = s.pickPort(src, raddr); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	k := connKey{netip.AddrPortFrom(src, port), raddr}
	if _, used := s.conns[k]; used {
		s.mu.Unlock()
		return nil, fmt.Errorf("dial %v: %w", k.local, ErrAddrInUse)
	}
	c := s.newConn(n, nh, k, o.Hooks)
	s.conns[k] = c
	s.mu.Unlock()
	s.stats.TCPActiveOpens.Add(1)

	c.mu.Lock()
	_ = c.ep.Connect()
	c.afterCall()
	c.mu.Unlock()
	select {
	case <-c.estCh:
		return c, nil
	case <-c.doneCh:
		s.stats.TCPAttemptFails.Add(1)
		c.mu.Lock()
		err := c.ep.Err()
		c.mu.Unlock()
		if err == nil {
			err = tcp.ErrConnectionRefused
		}
		return nil, c.opErr("dial", err)
	case <-ctx.Done():
		s.stats.TCPAttemptFails.Add(1)
		c.abort()
		return nil, c.opErr("dial", ctx.Err())
	}
}

// tcpInput demultiplexes a TCP segment (RFC 9293 §3.10.7).
func (s *Stack) tcpInput(n *nic, src, dst netip.Addr, b []byte, tos uint8, csumOK bool) {
	s.stats.TCPInSegs.Add(1)
	th := header.TCP(b)
	if !th.Valid() {
		s.stats.TCPInErrs.Add(1)
		return
	}
	if !csumOK {
		ps := header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint32(len(b)))
		if th.CalculateChecksum(ps) != 0 {
			s.stats.TCPInErrs.Add(1)
			return
		}
	}
	seg, _ := tcp.ParseSegment(th)
	seg.CE = tos&ecnMask == ecnCE
	k := connKey{netip.AddrPortFrom(dst, th.DstPort()), netip.AddrPortFrom(src, th.SrcPort())}
	s.mu.RLock()
	c := s.conns[k]
	var l *Listener
	if c == nil {
		l = s.listeners[k.local]
		if l == nil {
			unspec := netip.IPv4Unspecified()
			if dst.Is6() {
				unspec = netip.IPv6Unspecified()
			}
			l = s.listeners[netip.AddrPortFrom(unspec, k.local.Port())]
		}
	}
	s.mu.RUnlock()
	if c != nil {
		c.mu.Lock()
		c.ep.HandleSegment(&seg)
		if !c.inBatch {
			c.inBatch = true
			n.dirty = append(n.dirty, c)
		}
		c.afterCall()
		c.mu.Unlock()
		return
	}
	if l != nil && seg.Flags&(header.TCPFlagSYN|header.TCPFlagACK|header.TCPFlagRST) == header.TCPFlagSYN {
		if s.passiveOpen(n, l, k, &seg) {
			return
		}
	}
	s.replyRST(n, src, dst, th, &seg)
}

// passiveOpen makes a connection for a SYN to a listener. It reports false
// if the SYN is refused (the caller answers with RST).
func (s *Stack) passiveOpen(n *nic, l *Listener, k connKey, seg *tcp.Segment) bool {
	var hooks tcp.SegmentHooks
	if l.opts.Hooks != nil {
		h, err := l.opts.Hooks(k.local, k.remote, seg.Options)
		if err != nil {
			return false
		}
		hooks = h
	}
	if !l.reserve() {
		return true // backlog full: drop silently, the peer retries (like Linux)
	}
	_, nh, _, err := s.route(k.local.Addr(), k.remote.Addr())
	if err != nil {
		nh = k.remote.Addr()
	}
	s.mu.Lock()
	if _, dup := s.conns[k]; dup || s.closed {
		s.mu.Unlock()
		l.unreserve()
		return true
	}
	c := s.newConn(n, nh, k, hooks)
	c.ln = l
	s.conns[k] = c
	s.mu.Unlock()
	s.stats.TCPPassiveOpens.Add(1)
	c.mu.Lock()
	_ = c.ep.Listen()
	c.ep.HandleSegment(seg)
	if !c.inBatch {
		c.inBatch = true
		n.dirty = append(n.dirty, c)
	}
	c.afterCall()
	c.mu.Unlock()
	return true
}

// ListenOptions tune ListenTCPOptions.
type ListenOptions struct {
	// Hooks, if set, is called for each SYN with its raw options; it
	// returns the hooks for the new connection, or an error to refuse it
	// with RST (the MPTCP layer rejecting an MP_JOIN, say).
	Hooks func(local, remote netip.AddrPort, synOptions []byte) (tcp.SegmentHooks, error)
}

// Listener is a TCP listener of a Stack. It implements net.Listener.
type Listener struct {
	s       *Stack
	addr    netip.AddrPort
	opts    ListenOptions
	acceptQ chan *Conn
	closed  chan struct{}
	once    sync.Once

	mu      sync.Mutex
	pending int // connections in SYN-RECEIVED or queued
}

var _ net.Listener = (*Listener)(nil)

// ListenTCP listens on addr. An unspecified address listens on every
// address of that family; port 0 picks an ephemeral port.
func (s *Stack) ListenTCP(addr netip.AddrPort) (*Listener, error) {
	return s.ListenTCPOptions(addr, ListenOptions{})
}

// ListenTCPOptions is ListenTCP with options.
func (s *Stack) ListenTCPOptions(addr netip.AddrPort, o ListenOptions) (*Listener, error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if !addr.Addr().IsUnspecified() && !s.hasLocalAddr(addr.Addr()) {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(addr), Err: errors.New("address not on any interface")}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrStackClosed
	}
	if addr.Port() == 0 {
		p, err := s.pickPort(addr.Addr(), netip.AddrPort{})
		if err != nil {
			return nil, err
		}
		addr = netip.AddrPortFrom(addr.Addr(), p)
	}
	if _, used := s.listeners[addr]; used {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(addr), Err: ErrAddrInUse}
	}
	l := &Listener{s: s, addr: addr, opts: o, acceptQ: make(chan *Conn, s.opts.Backlog), closed: make(chan struct{})}
	s.listeners[addr] = l
	return l, nil
}

func (l *Listener) reserve() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.closed:
		return false
	default:
	}
	if l.pending >= cap(l.acceptQ) {
		return false
	}
	l.pending++
	return true
}

func (l *Listener) unreserve() {
	l.mu.Lock()
	l.pending--
	l.mu.Unlock()
}

// enqueue hands an established connection to Accept (under c.mu).
func (l *Listener) enqueue(c *Conn) {
	select {
	case l.acceptQ <- c:
	default:
		// Cannot happen: pending bounds the queue. Be safe anyway.
		c.ln = nil
		c.ep.Abort()
	}
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) { return l.AcceptTCP() }

// AcceptTCP waits for the next established connection.
func (l *Listener) AcceptTCP() (*Conn, error) {
	for {
		select {
		case c := <-l.acceptQ:
			c.mu.Lock()
			mine := c.ln == l
			c.ln = nil
			c.mu.Unlock()
			if mine {
				l.unreserve()
			}
			return c, nil
		case <-l.closed:
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
		}
	}
}

// Close implements net.Listener: it stops listening and resets the
// connections not yet accepted.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.s.mu.Lock()
		if l.s.listeners[l.addr] == l {
			delete(l.s.listeners, l.addr)
		}
		var orphans []*Conn
		for _, c := range l.s.conns {
			orphans = append(orphans, c)
		}
		l.s.mu.Unlock()
		for _, c := range orphans {
			c.mu.Lock()
			mine := c.ln == l
			c.mu.Unlock()
			if mine {
				c.abort()
			}
		}
		for {
			select {
			case c := <-l.acceptQ:
				c.abort()
			default:
				return
			}
		}
	})
	return nil
}

// Addr implements net.Listener.
func (l *Listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }

// AddrPort returns the listening address.
func (l *Listener) AddrPort() netip.AddrPort { return l.addr }
