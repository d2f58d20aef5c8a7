//go:build linux

package nstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/lab/labtest"
)

// Pair is a client and a server namespace joined by two bridged paths of a
// lab (package lab, offloads off so captures show wire-sized segments):
//
//	client Iface(1) 198.18.1.1/24, fd00:198:18:1::1/64 <-> server 198.18.1.2/24, fd00:198:18:1::2/64
//	client Iface(2) 198.18.2.1/24, fd00:198:18:2::1/64 <-> server 198.18.2.2/24, fd00:198:18:2::2/64
//
// with kernel MPTCP using both: a "subflow" endpoint on the client's
// second addresses and a "signal" endpoint (ADD_ADDR) on the server's.
type Pair struct {
	Lab            *lab.Lab
	Client, Server *NS
	// ServerAddr and ServerAddr6 are the addresses the client dials
	// (path 1).
	ServerAddr, ServerAddr6 string
}

// NewPair builds the topology; the lab is removed at cleanup.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	l := labtest.New(t, lab.Config{IPv6: true, Announce: true})
	return &Pair{
		Lab:         l,
		Client:      &NS{Name: l.Namespace(lab.Client), t: t},
		Server:      &NS{Name: l.Namespace(lab.Server), t: t},
		ServerAddr:  l.ServerAddr(1).String(),
		ServerAddr6: l.ServerAddr6(1).String(),
	}
}

// Iface is the name of path i's (1-based) interface, the same in the
// client and the server namespace.
func (p *Pair) Iface(path int) string { return p.Lab.Iface(lab.Client, path) }

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
	joined, err := p.joins()
	if err != nil {
		return res, err
	}
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
	if res.MPTCP {
		// The path manager joins the second path shortly after the
		// handshake: wait for it, so that the data is not all sent (on a
		// loaded machine) before a second subflow exists.
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			n, err := p.joins()
			if err != nil {
				return res, err
			}
			if n > joined {
				break
			}
		}
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	cliErr := exchange(conn, up, down)
	return res, errors.Join(cliErr, <-srvErr)
}

// joins is the client's count of completed MP_JOIN handshakes
// (MPTcpExtMPJoinSynAckRx).
func (p *Pair) joins() (uint64, error) {
	c, err := p.Lab.MPTCPCounters(lab.Client)
	return c["MPTcpExtMPJoinSynAckRx"], err
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
