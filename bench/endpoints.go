// Package bench runs the MPTCP benchmarks of `mptcp bench` on lab
// topologies: each scenario for our userspace stack against the kernel's
// MPTCP, the kernel against itself, and single-path kernel TCP as the
// baseline, in the same run, with repetitions, medians and spreads.
//
// Everything runs in this process: the kernel's sockets are opened on
// threads inside the lab's namespaces (lab.Do), our stack owns its
// side's interfaces through AF_PACKET (as `mptcp nc` does), and every
// transfer is timed and checked (SHA-256) at the receiver.
package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/stack"
	"github.com/mptcp-go/mptcp/tcp"
)

// ours is our stack owning one side of a lab.
type ours struct {
	st *stack.Stack
	h  *mptcp.Host
}

// newOurs gives our stack the interfaces of side (a User side of l), with
// the other side's address on each path as gateway, and congestion
// control cc on every flow (a coupled controller in cfg stays).
func newOurs(l *lab.Lab, side lab.Side, cfg mptcp.Config, cc string) (*ours, error) {
	if cfg.TCP.CongestionControl == "" {
		cfg.TCP.CongestionControl = cc
	}
	o := &ours{st: stack.New(stack.Options{TCP: tcp.Config{CongestionControl: cc}})}
	for i := 1; i <= l.NumPaths(); i++ {
		iface := l.Iface(side, i)
		addr, gw := l.ClientAddr(i), l.ServerAddr(i)
		if side == lab.Server {
			addr, gw = gw, addr
		}
		var ep *link.AFPacket
		var mac header.MAC
		if err := l.Do(side, func() error {
			ifc, err := net.InterfaceByName(iface)
			if err != nil {
				return err
			}
			copy(mac[:], ifc.HardwareAddr)
			ep, err = link.OpenAFPacket(iface, link.AFPacketOptions{})
			return err
		}); err != nil {
			o.st.Close()
			return nil, fmt.Errorf("our stack on %s: %w", iface, err)
		}
		ic := stack.InterfaceConfig{Name: iface, MAC: mac, Addrs: []netip.Prefix{netip.PrefixFrom(addr, 24)}}
		if side == lab.Client {
			ic.Gateway4 = gw
		}
		if err := o.st.AddInterface(ep, ic); err != nil {
			o.st.Close()
			return nil, err
		}
	}
	h, err := mptcp.NewHost(o.st, cfg)
	if err != nil {
		o.st.Close()
		return nil, err
	}
	o.h = h
	return o, nil
}

func (o *ours) Close() { o.st.Close() }

// setCongestion returns a socket Control that sets the socket's TCP
// congestion control (TCP_CONGESTION; on an MPTCP socket Linux applies it
// to every subflow, and the accepted sockets inherit the listener's). Per
// socket, because a namespace's default may only be an algorithm of
// net.ipv4.tcp_allowed_congestion_control, which root may bypass here.
func setCongestion(cc string) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("TCP_CONGESTION %s: %w", cc, serr)
		}
		return nil
	}
}

// kernelListen listens on side's namespace, MPTCP or plain TCP, with
// congestion control cc.
func kernelListen(l *lab.Lab, side lab.Side, mp bool, cc string) (net.Listener, error) {
	var ln net.Listener
	err := l.Do(side, func() error {
		lc := net.ListenConfig{Control: setCongestion(cc)}
		lc.SetMultipathTCP(mp)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", "0.0.0.0:0")
		return err
	})
	return ln, err
}

// kernelDial connects from side's namespace, MPTCP or plain TCP, from the
// address the routes pick, with congestion control cc.
func kernelDial(ctx context.Context, l *lab.Lab, side lab.Side, mp bool, raddr netip.AddrPort, cc string) (net.Conn, error) {
	var c net.Conn
	err := l.Do(side, func() error {
		d := net.Dialer{Control: setCongestion(cc)}
		d.SetMultipathTCP(mp)
		var err error
		c, err = d.DialContext(ctx, "tcp", raddr.String())
		return err
	})
	return c, err
}

// acceptOne accepts one connection, or fails when ctx ends.
func acceptOne(ctx context.Context, ln net.Listener) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		ln.Close()
		return nil, ctx.Err()
	}
}

// waitSubflows waits until an MPTCP connection of ours has n established
// subflows carrying data (or ctx ends).
func waitSubflows(ctx context.Context, c *mptcp.Conn, n int) error {
	for {
		k := 0
		for _, sf := range c.Info().Subflows {
			if sf.Fully {
				k++
			}
		}
		if k >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d subflows established: %w", k, n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitKernelJoins waits until the kernel on side counted n more joins than
// before (MPJoinAckRx on a server, MPJoinSynAckRx on a client).
func waitKernelJoins(ctx context.Context, l *lab.Lab, side lab.Side, before uint64, n int) error {
	name := "MPTcpExtMPJoinAckRx"
	if side == lab.Client {
		name = "MPTcpExtMPJoinSynAckRx"
	}
	_, err := l.WaitCounter(ctx, side, name, before+uint64(n))
	return err
}

func kernelJoins(l *lab.Lab, side lab.Side) uint64 {
	m, err := l.MPTCPCounters(side)
	if err != nil {
		return 0
	}
	if side == lab.Client {
		return m["MPTcpExtMPJoinSynAckRx"]
	}
	return m["MPTcpExtMPJoinAckRx"]
}

var errShort = errors.New("bench: receiver got a different byte count or SHA-256 than was sent")
