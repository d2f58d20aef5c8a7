//go:build linux

package mptcp_test

import (
	"context"
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/mpconn"
)

// dialKernelServer connects our client to a kernel MPTCP server on the
// lab's first server address; both ends close when the test ends.
func dialKernelServer(ctx context.Context, t *testing.T, k *kernelLab) (*mptcp.Conn, net.Conn) {
	t.Helper()
	ln := k.kernelListen(t)
	acc := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); acc <- c }()
	c, err := k.h.Dial(ctx, netip.AddrPortFrom(k.l.ServerAddr(1), 5201))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	srv := <-acc
	if srv == nil {
		t.Fatal("no connection accepted")
	}
	t.Cleanup(func() { srv.Close() })
	return c, srv
}

// sendToKernel writes data on c and checks that the kernel's side (srv)
// reads exactly that, without closing either.
func sendToKernel(t *testing.T, c *mptcp.Conn, srv net.Conn, data []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		errc <- err
	}()
	got := make([]byte, len(data))
	srv.SetReadDeadline(time.Now().Add(2 * time.Minute))
	if _, err := io.ReadFull(srv, got); err != nil {
		t.Fatalf("kernel read: %v\n%s", err, summary(c.Info()))
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatal("the kernel received different bytes")
	}
}

// TestKernelModes: our client in each path-management mode and with each
// scheduler, to the kernel's MPTCP server over wifi (40 Mbit/s, 10 ms)
// and cellular (20 Mbit/s, 30 ms); where the data went is read from the
// per-subflow counters (Info), what arrived is checked by SHA-256. With
// the redundant scheduler in a bulk transfer, cellular (half wifi's
// rate) copies what wifi has not yet had acknowledged: about 1 MiB of 8.
func TestKernelModes(t *testing.T) {
	sched := func(name string) func() mpconn.Scheduler {
		f, err := mpconn.SchedulerByName(name)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		name     string
		cfg      mptcp.Config
		announce bool
		check    func(t *testing.T, in mpconn.ConnInfo, wifi, cell uint64)
	}{
		{name: "default-minrtt", check: func(t *testing.T, in mpconn.ConnInfo, wifi, cell uint64) {
			if cell < (wifi+cell)/10 || wifi < (wifi+cell)/3 {
				t.Errorf("minrtt: wifi %d cellular %d: not aggregating", wifi, cell)
			}
		}},
		{name: "roundrobin", cfg: mptcp.Config{NewScheduler: sched("roundrobin")}, check: func(t *testing.T, in mpconn.ConnInfo, wifi, cell uint64) {
			if cell < (wifi+cell)/10 || wifi < (wifi+cell)/10 {
				t.Errorf("roundrobin: wifi %d cellular %d", wifi, cell)
			}
		}},
		{name: "redundant", cfg: mptcp.Config{NewScheduler: sched("redundant")}, check: func(t *testing.T, in mpconn.ConnInfo, wifi, cell uint64) {
			if in.BytesRedundant < 512<<10 || cell < 512<<10 {
				t.Errorf("redundant: %d bytes copied, cellular %d", in.BytesRedundant, cell)
			}
		}},
		{name: "interactive", cfg: mptcp.Config{Mode: mpconn.ModeInteractive}, check: func(t *testing.T, in mpconn.ConnInfo, wifi, cell uint64) {
			if wifi < (wifi+cell)*7/10 {
				t.Errorf("interactive: wifi %d cellular %d: the low-latency path should carry most", wifi, cell)
			}
		}},
		{name: "fullmesh-announce", cfg: mptcp.Config{Mode: mpconn.ModeFullmesh}, announce: true, check: func(t *testing.T, in mpconn.ConnInfo, wifi, cell uint64) {
			if n := len(in.Subflows); n != 4 {
				t.Errorf("fullmesh with two addresses each side: %d subflows, want 4", n)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKernelLab(t, lab.Config{Paths: twoEmulatedPaths(), Announce: tc.announce}, lab.Client, tc.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, srv := dialKernelServer(ctx, t, k)
			want := 2
			if tc.announce {
				want = 4
			}
			if _, err := k.l.WaitCounter(ctx, lab.Server, "MPTcpExtMPJoinAckRx", uint64(want-1)); err != nil {
				t.Fatalf("joins: %v\n%s", err, summary(c.Info()))
			}
			sendToKernel(t, c, srv, randomBytes(8<<20, 41))
			in := c.Info()
			var wifi, cell uint64
			for _, sf := range in.Subflows {
				if sf.Local.Addr() == k.l.ClientAddr(1) {
					wifi += sf.DataSent
				} else {
					cell += sf.DataSent
				}
			}
			t.Logf("%s: wifi %d cellular %d redundant %d\n%s", tc.name, wifi, cell, in.BytesRedundant, summary(in))
			tc.check(t, in, wifi, cell)
		})
	}
}

// TestKernelHandover: handover mode to the kernel's MPTCP server. The
// join is a backup (the kernel counts MPJoinSynBackupRx) and carries
// nothing while wifi works; wifi goes down and cellular carries the
// rest; wifi comes back and the data returns to it.
func TestKernelHandover(t *testing.T) {
	k := newKernelLab(t, lab.Config{Paths: twoEmulatedPaths()}, lab.Client, mptcp.Config{Mode: mpconn.ModeHandover})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, srv := dialKernelServer(ctx, t, k)
	if _, err := k.l.WaitCounter(ctx, lab.Server, "MPTcpExtMPJoinSynBackupRx", 1); err != nil {
		t.Fatalf("no backup join: %v", err)
	}
	if _, err := k.l.WaitCounter(ctx, lab.Server, "MPTcpExtMPJoinAckRx", 1); err != nil {
		t.Fatalf("join not completed: %v", err)
	}
	perPath := func() (wifi, cell uint64) {
		for _, sf := range c.Info().Subflows {
			if sf.Local.Addr() == k.l.ClientAddr(1) {
				wifi += sf.DataSent
			} else {
				cell += sf.DataSent
			}
		}
		return
	}
	sendToKernel(t, c, srv, randomBytes(4<<20, 42))
	if _, cell := perPath(); cell != 0 {
		t.Fatalf("the backup carried %d bytes while wifi worked", cell)
	}
	if err := k.l.SetPathDown(1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sendToKernel(t, c, srv, randomBytes(4<<20, 43))
	outage := time.Since(start)
	wifi1, cell1 := perPath()
	if cell1 < 1<<20 {
		t.Fatalf("cellular carried %d bytes with wifi down\n%s", cell1, summary(c.Info()))
	}
	if err := k.l.SetPathUp(1); err != nil {
		t.Fatal(err)
	}
	// Wifi is used again once its next retransmission is acknowledged.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		back := false
		for _, sf := range c.Info().Subflows {
			if sf.Local.Addr() == k.l.ClientAddr(1) && !sf.Stale && sf.TCP.State.String() == "ESTABLISHED" {
				back = true
			}
		}
		if back {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	sendToKernel(t, c, srv, randomBytes(4<<20, 44))
	wifi2, cell2 := perPath()
	t.Logf("outage transfer %v; after wifi's return wifi +%d cellular +%d\n%s", outage.Round(time.Millisecond), wifi2-wifi1, cell2-cell1, summary(c.Info()))
	if wifi2-wifi1 < 3<<20 {
		t.Fatalf("after wifi came back it carried %d of 4 MiB (cellular %d)", wifi2-wifi1, cell2-cell1)
	}
}

// TestKernelAddrDownUp: the client's cellular interface loses its
// address and gets it back (Host.AddrDown, AddrUp: what `mptcp nc` calls
// when it sees the link go down and up). The kernel's server sees the
// REMOVE_ADDR and the subflow closed, then a new join; the data goes on
// intact throughout and cellular carries some again at the end.
func TestKernelAddrDownUp(t *testing.T) {
	k := newKernelLab(t, lab.Config{Paths: twoEmulatedPaths()}, lab.Client, mptcp.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, srv := dialKernelServer(ctx, t, k)
	if _, err := k.l.WaitCounter(ctx, lab.Server, "MPTcpExtMPJoinAckRx", 1); err != nil {
		t.Fatalf("join: %v", err)
	}
	cellSent := func() (b uint64, open int) {
		for _, sf := range c.Info().Subflows {
			if sf.Local.Addr() == k.l.ClientAddr(2) {
				b += sf.DataSent
				if sf.TCP.State.String() != "CLOSED" {
					open++
				}
			}
		}
		return
	}
	sendToKernel(t, c, srv, randomBytes(2<<20, 51))
	k.h.AddrDown(k.l.ClientAddr(2))
	if _, err := k.l.WaitCounter(ctx, lab.Server, "MPTcpExtRmAddr", 1); err != nil {
		t.Fatalf("the kernel saw no REMOVE_ADDR: %v\n%s\nkernel: %v\nours: %v", err, summary(c.Info()),
			pick(counters(t, k.l, lab.Server), "Rm"), nonzero(k.h.MIB().Counters()))
	}
	sendToKernel(t, c, srv, randomBytes(2<<20, 52))
	before, open := cellSent()
	if open != 0 {
		t.Fatalf("%d subflows from cellular still open after AddrDown\n%s", open, summary(c.Info()))
	}
	k.h.AddrUp(k.l.ClientAddr(2))
	if _, err := k.l.WaitCounter(ctx, lab.Server, "MPTcpExtMPJoinAckRx", 2); err != nil {
		t.Fatalf("no new join after AddrUp: %v\n%s", err, summary(c.Info()))
	}
	sendToKernel(t, c, srv, randomBytes(8<<20, 53))
	after, _ := cellSent()
	t.Logf("cellular carried %d bytes after its return\n%s", after-before, summary(c.Info()))
	if after == before {
		t.Fatal("cellular carried nothing after its return")
	}
}
