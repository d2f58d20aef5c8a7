package conformance

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/stack"
)

// Ours is the factory of our userspace stack's DUT: a stack.Stack with its
// default options whose only interface is one end of an in-memory link; the
// testbench holds the other end. No privileges are needed.
var Ours = DUTFactory{Name: "ours", New: newOurs}

type oursDUT struct {
	st *stack.Stack
	tb *link.Pipe
	mp mptcpLayer // package mptcp's Host (dut_ours_mptcp.go)
}

func newOurs(_ context.Context, cfg DUTConfig) (DUT, error) {
	a, b := link.NewPipe(link.PipeOptions{MTU: 1500, Type: link.TypeIP})
	var opts stack.Options
	if cfg.Setup.RcvBuf > 0 {
		opts.TCP.ReceiveBufferSize = cfg.Setup.RcvBuf
		opts.TCP.ReceiveBufferMax = cfg.Setup.RcvBuf
	}
	st := stack.New(opts)
	var addrs []netip.Prefix
	for _, ad := range cfg.Topology.DUT {
		addrs = append(addrs, netip.PrefixFrom(ad, cfg.Topology.Prefix))
	}
	if err := st.AddInterface(a, stack.InterfaceConfig{Name: "dut0", Addrs: addrs}); err != nil {
		st.Close()
		b.Close()
		return nil, fmt.Errorf("ours: %w", err)
	}
	return &oursDUT{st: st, tb: b, mp: oursMPTCP(st, cfg)}, nil
}

func (d *oursDUT) Name() string        { return "ours" }
func (d *oursDUT) InProcess() bool     { return true }
func (d *oursDUT) Link() link.Endpoint { return d.tb }

func (d *oursDUT) Close() error {
	err := d.st.Close()
	d.tb.Close()
	return err
}

// apply checks per-socket options. MPTCP sockets need the MPTCP layer
// (dut_ours_mptcp.go).
func (d *oursDUT) apply(o SockOpts) error {
	if o.MPTCP && d.mp == nil {
		return fmt.Errorf("ours: MPTCP socket (package mptcp not landed): %w", ErrNotSupported)
	}
	if o.TTL != 0 || (o.FastOpen != 0 || o.TOS != 0) && !o.MPTCP {
		return fmt.Errorf("ours: TTL, or Fast Open or TOS on a TCP socket: %w", ErrNotSupported)
	}
	return nil
}

func (d *oursDUT) Listen(ctx context.Context, laddr netip.AddrPort, o SockOpts) (Listener, error) {
	if err := d.apply(o); err != nil {
		return nil, err
	}
	if o.MPTCP {
		return d.mp.Listen(ctx, laddr, o)
	}
	l, err := d.st.ListenTCP(laddr)
	if err != nil {
		return nil, err
	}
	return oursListener{l}, nil
}

func (d *oursDUT) Dial(ctx context.Context, raddr netip.AddrPort, o SockOpts) (Conn, error) {
	if err := d.apply(o); err != nil {
		return nil, err
	}
	if o.MPTCP {
		return d.mp.Dial(ctx, raddr, o)
	}
	c, err := d.st.DialTCP(ctx, netip.AddrPort{}, raddr)
	if err != nil {
		return nil, err
	}
	return oursConn{c}, nil
}

type oursConn struct{ *stack.Conn }

func (c oursConn) Abort() error { c.Conn.Abort(); return nil }

type oursListener struct{ l *stack.Listener }

func (l oursListener) Addr() netip.AddrPort { return l.l.AddrPort() }
func (l oursListener) Close() error         { return l.l.Close() }

func (l oursListener) Accept(ctx context.Context) (Conn, error) {
	type res struct {
		c   *stack.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.l.AcceptTCP()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		return oursConn{r.c}, nil
	case <-ctx.Done():
		// The listener's Close (at the run's end) ends the goroutine.
		return nil, ctx.Err()
	}
}

// RemoveEndpoint and SetBackup implement PathManager through the MPTCP
// layer, when it offers one.
func (d *oursDUT) RemoveEndpoint(ctx context.Context, addr int) error {
	if pm, ok := d.mp.(PathManager); ok {
		return pm.RemoveEndpoint(ctx, addr)
	}
	return fmt.Errorf("ours: path-manager control: %w", ErrNotSupported)
}

func (d *oursDUT) SetBackup(ctx context.Context, addr int, backup bool) error {
	if pm, ok := d.mp.(PathManager); ok {
		return pm.SetBackup(ctx, addr, backup)
	}
	return fmt.Errorf("ours: path-manager control: %w", ErrNotSupported)
}
