//go:build linux

package nstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Pair is a client and a server namespace joined by two veth paths:
//
//	client c1 198.18.1.1/24 <-> s1 198.18.1.2/24 server
//	client c2 198.18.2.1/24 <-> s2 198.18.2.2/24 server
//
// and the same in IPv6 from the benchmarking prefix 2001:2::/48 (RFC 5180):
// 2001:2:0:1::1/64 <-> 2001:2:0:1::2/64, 2001:2:0:2::1/64 <-> 2001:2:0:2::2/64,
//
// with kernel MPTCP set up for a second subflow: limits of 2 subflows and
// 2 accepted ADD_ADDRs on both sides, a "subflow" endpoint on the
// client's second address and a "signal" endpoint on the server's.
type Pair struct {
	Client, Server *NS
	// ServerAddr and ServerAddr6 are the addresses the client dials
	// (path 1).
	ServerAddr, ServerAddr6 string
}

// NewPair builds the topology; everything is removed at cleanup.
func NewPair(t testing.TB, tag string) *Pair {
	t.Helper()
	if _, err := os.Stat("/proc/sys/net/mptcp/enabled"); err != nil {
		t.Skipf("the kernel has no MPTCP (CONFIG_MPTCP): %v", err)
	}
	p := &Pair{Client: New(t, tag+"c"), Server: New(t, tag+"s"), ServerAddr: "198.18.1.2", ServerAddr6: "2001:2:0:1::2"}
	Veth(t, p.Client, "c1", "198.18.1.1/24", p.Server, "s1", "198.18.1.2/24")
	Veth(t, p.Client, "c2", "198.18.2.1/24", p.Server, "s2", "198.18.2.2/24")
	for _, a := range []struct {
		ns        *NS
		dev, addr string
	}{
		{p.Client, "c1", "2001:2:0:1::1/64"}, {p.Server, "s1", "2001:2:0:1::2/64"},
		{p.Client, "c2", "2001:2:0:2::1/64"}, {p.Server, "s2", "2001:2:0:2::2/64"},
	} {
		a.ns.Run("ip", "-6", "addr", "add", a.addr, "dev", a.dev, "nodad")
	}
	// Per-path default routes, so a subflow bound to c2 has a route.
	p.Client.Run("ip", "route", "add", "default", "via", "198.18.1.2", "dev", "c1", "metric", "101")
	p.Client.Run("ip", "route", "add", "default", "via", "198.18.2.2", "dev", "c2", "metric", "102")
	p.Client.Run("ip", "-6", "route", "add", "default", "via", "2001:2:0:1::2", "dev", "c1", "metric", "101")
	p.Client.Run("ip", "-6", "route", "add", "default", "via", "2001:2:0:2::2", "dev", "c2", "metric", "102")
	for _, ns := range []*NS{p.Client, p.Server} {
		ns.Run("sysctl", "-q", "-w", "net.mptcp.enabled=1")
		ns.Run("ip", "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2")
	}
	p.Client.Run("ip", "mptcp", "endpoint", "add", "198.18.2.1", "dev", "c2", "subflow")
	p.Server.Run("ip", "mptcp", "endpoint", "add", "198.18.2.2", "dev", "s2", "signal")
	p.Client.Run("ip", "mptcp", "endpoint", "add", "2001:2:0:2::1", "dev", "c2", "subflow")
	p.Server.Run("ip", "mptcp", "endpoint", "add", "2001:2:0:2::2", "dev", "s2", "signal")
	return p
}

// TransferResult says what a Transfer did.
type TransferResult struct {
	MPTCP bool // the client's connection ended up using MPTCP
}

// Transfer opens one connection from the client to the server's IPv4
// address at port (MPTCP or plain TCP), sends n bytes each way at the same
// time, checks them, and closes both ends.
func (p *Pair) Transfer(ctx context.Context, port int, mptcp bool, n int) (TransferResult, error) {
	return p.TransferTo(ctx, p.ServerAddr, port, mptcp, n)
}

// TransferTo is Transfer to the given server address (IPv4 or IPv6).
func (p *Pair) TransferTo(ctx context.Context, host string, port int, mptcp bool, n int) (TransferResult, error) {
	var res TransferResult
	var ln net.Listener
	lc := net.ListenConfig{}
	lc.SetMultipathTCP(mptcp)
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if err := p.Server.Do(func() (err error) {
		ln, err = lc.Listen(ctx, "tcp", addr)
		return err
	}); err != nil {
		return res, err
	}
	defer ln.Close()
	payload := func(seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i%251)
		}
		return b
	}
	up, down := payload(1), payload(7)
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		srvErr <- exchange(c, down, up)
	}()
	var conn net.Conn
	d := net.Dialer{Timeout: 10 * time.Second}
	d.SetMultipathTCP(mptcp)
	if err := p.Client.Do(func() (err error) {
		conn, err = d.DialContext(ctx, "tcp", addr)
		return err
	}); err != nil {
		return res, err
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		res.MPTCP, _ = tc.MultipathTCP()
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	cliErr := exchange(conn, up, down)
	return res, errors.Join(cliErr, <-srvErr)
}

// exchange writes out while reading everything the peer sends, checks it
// equals want, then closes.
func exchange(c net.Conn, out, want []byte) error {
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, werr = c.Write(out); werr == nil {
			werr = c.(interface{ CloseWrite() error }).CloseWrite()
		}
	}()
	got, rerr := io.ReadAll(c)
	wg.Wait()
	if werr != nil || rerr != nil {
		return errors.Join(werr, rerr)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("received %d bytes, want %d (content differs: %v)", len(got), len(want), len(got) == len(want))
	}
	return nil
}
