package conformance

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/stack"
)

// mptcpLayer is what the MPTCP rows need from our MPTCP layer on the DUT's
// stack: MPTCP listeners and connections. The DUT adapter may also
// implement PathManager (Setup.Endpoints withdrawn or marked backup at run
// time).
type mptcpLayer interface {
	Listen(ctx context.Context, laddr netip.AddrPort, o SockOpts) (Listener, error)
	Dial(ctx context.Context, raddr netip.AddrPort, o SockOpts) (Conn, error)
}

// oursMPTCP returns our MPTCP layer (package mptcp's Host) on st,
// configured as the kernel DUT is for the run: Setup's checksums, limits,
// endpoints and ADD_ADDR timeout map to the host's Config, with Linux's
// defaults where Setup says nothing (no ADD_ADDR accepted, two extra
// subflows, no address announced or joined from without an endpoint).
func oursMPTCP(st *stack.Stack, cfg DUTConfig) mptcpLayer {
	mc := mptcp.Config{Checksum: cfg.Setup.MPTCPChecksum, MaxSubflows: 3, MaxAddAddr: -1,
		Announce: []netip.Addr{}, JoinFrom: []netip.Addr{}}
	if l := cfg.Setup.Limits; l != nil {
		mc.MaxSubflows = l.Subflows + 1
		mc.MaxAddAddr = l.AddAddrAccepted
		if l.AddAddrAccepted == 0 {
			mc.MaxAddAddr = -1
		}
	}
	for _, e := range cfg.Setup.Endpoints {
		if e.Addr < 0 || e.Addr >= len(cfg.Topology.DUT) {
			continue
		}
		a := cfg.Topology.DUT[e.Addr]
		if e.ID != 0 {
			if mc.AddrIDs == nil {
				mc.AddrIDs = make(map[netip.Addr]uint8)
			}
			mc.AddrIDs[a] = e.ID
		}
		if e.Signal {
			mc.Announce = append(mc.Announce, a)
		}
		if e.Subflow {
			mc.JoinFrom = append(mc.JoinFrom, a)
		}
		if e.Backup {
			mc.Backup = append(mc.Backup, a)
		}
	}
	if cfg.Setup.AddAddrTimeout > 0 {
		mc.AddAddrTimeout = time.Duration(cfg.Setup.AddAddrTimeout) * time.Second
	}
	if cfg.Setup.RcvBuf > 0 {
		mc.ReceiveBuffer = cfg.Setup.RcvBuf
	}
	// The kernel's sysctls that have an equivalent here.
	for _, kv := range cfg.Setup.KernelSysctls {
		name, val, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(val)
		if err != nil {
			continue
		}
		switch name {
		case "net.mptcp.close_timeout":
			mc.CloseTimeout = time.Duration(n) * time.Second
		case "net.mptcp.add_addr_timeout":
			mc.AddAddrTimeout = time.Duration(n) * time.Second
		case "net.mptcp.checksum_enabled":
			mc.Checksum = n != 0
		}
	}
	h, err := mptcp.NewHost(st, mc)
	if err != nil {
		return nil
	}
	return &hostLayer{h: h, topo: cfg.Topology}
}

// hostLayer adapts a Host to the DUT: listeners, connections and the
// path-manager controls (applied to every connection made so far).
type hostLayer struct {
	h    *mptcp.Host
	topo Topology

	mu    sync.Mutex
	conns []*mptcp.Conn
}

func (l *hostLayer) add(c *mptcp.Conn) {
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
}

func (l *hostLayer) each(fn func(c *mptcp.Conn)) {
	l.mu.Lock()
	cs := append([]*mptcp.Conn(nil), l.conns...)
	l.mu.Unlock()
	for _, c := range cs {
		fn(c)
	}
}

func (l *hostLayer) Listen(_ context.Context, laddr netip.AddrPort, o SockOpts) (Listener, error) {
	ln, err := l.h.ListenWith(laddr, mptcp.ListenOptions{FastOpen: o.FastOpen > 0})
	if err != nil {
		return nil, err
	}
	return &mpListener{ln: ln, l: l}, nil
}

func (l *hostLayer) Dial(ctx context.Context, raddr netip.AddrPort, o SockOpts) (Conn, error) {
	c, err := l.h.DialWith(ctx, raddr, mptcp.DialOptions{TOS: uint8(o.TOS)})
	if err != nil {
		return nil, err
	}
	l.add(c)
	return mpConn{c}, nil
}

// RemoveEndpoint implements PathManager: REMOVE_ADDR for the address and
// its subflows closed, on every connection.
func (l *hostLayer) RemoveEndpoint(_ context.Context, addr int) error {
	if addr < 0 || addr >= len(l.topo.DUT) {
		return fmt.Errorf("ours: no DUT address %d", addr)
	}
	a := l.topo.DUT[addr]
	l.each(func(c *mptcp.Conn) { c.RemoveAddr(a) })
	return nil
}

// SetBackup implements PathManager: MP_PRIO on the subflows from the
// address.
func (l *hostLayer) SetBackup(_ context.Context, addr int, backup bool) error {
	if addr < 0 || addr >= len(l.topo.DUT) {
		return fmt.Errorf("ours: no DUT address %d", addr)
	}
	a := l.topo.DUT[addr]
	l.each(func(c *mptcp.Conn) { c.SetBackup(a, backup) })
	return nil
}

type mpConn struct{ *mptcp.Conn }

func (c mpConn) Abort() error { c.Conn.Abort(); return nil }

// ReadZero implements ZeroReader: our connection's Read with an empty
// buffer (stack.Stream's, which answers it without taking data from the
// engine, as read(2) of zero bytes does).
func (c mpConn) ReadZero() (int, error) { return c.Conn.Read(nil) }

type mpListener struct {
	ln *mptcp.Listener
	l  *hostLayer
}

func (m *mpListener) Addr() netip.AddrPort { return m.ln.AddrPort() }
func (m *mpListener) Close() error         { return m.ln.Close() }

func (m *mpListener) Accept(ctx context.Context) (Conn, error) {
	type res struct {
		c   *mptcp.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := m.ln.AcceptMPTCP()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		m.l.add(r.c)
		return mpConn{r.c}, nil
	case <-ctx.Done():
		// The listener's Close (at the run's end) ends the goroutine.
		return nil, ctx.Err()
	}
}
