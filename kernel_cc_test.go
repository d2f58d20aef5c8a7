//go:build linux

package mptcp_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/mpconn"
	"github.com/mptcp-go/mptcp/mpconn/cc"
)

// TestKernelCoupledCC sends from our MPTCP client with coupled congestion
// control (LIA, OLIA; uncoupled CUBIC beside them for reference) over two
// emulated paths, "wifi" 40 Mbit/s 10 ms and "cellular" 20 Mbit/s 30 ms,
// to the kernel's MPTCP server: every byte arrives (SHA-256), both paths
// carry data, every subflow runs the coupled controller, and the goodput
// and each path's share are reported (speed is a benchmark's business, not
// this test's: the figures are logged, and printed as GOODPUT lines).
func TestKernelCoupledCC(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    mpconn.CongestionFactory
	}{
		{"cubic", nil},
		{"lia", cc.LIA{}},
		{"olia", cc.OLIA{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKernelLab(t, lab.Config{Paths: twoEmulatedPaths()}, lab.Client, mptcp.Config{Congestion: tc.f})
			ln := k.kernelListen(t)
			acc := make(chan net.Conn, 1)
			go func() { c, _ := ln.Accept(); acc <- c }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := k.h.Dial(ctx, netip.AddrPortFrom(k.l.ServerAddr(1), 5201))
			if err != nil {
				t.Fatal(err)
			}
			srv := <-acc
			if srv == nil {
				t.Fatal("kernel did not accept")
			}
			defer srv.Close()
			defer c.Close()
			waitCtx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, err = k.l.WaitCounter(waitCtx, lab.Server, "MPTcpExtMPJoinAckRx", 1)
			wcancel()
			if err != nil {
				t.Fatalf("no join: %v\n%s", err, summary(c.Info()))
			}
			data := randomBytes(24<<20, 41)
			errc := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := c.Write(data)
				if err == nil {
					err = c.CloseWrite()
				}
				errc <- err
			}()
			srv.SetReadDeadline(time.Now().Add(2 * time.Minute))
			got, _, err := timedReader(srv, nil)
			elapsed := time.Since(start)
			if err != nil {
				m, _ := k.l.MPTCPCounters(lab.Server)
				// The kernel's sockets as it sees them: the MPTCP socket's
				// and each subflow's memory (skmem: r = receive queue,
				// o = out-of-order-ish backlog), windows, and the TCP
				// memory pressure of its namespace.
				sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
				ss, _ := k.l.Command(sctx, lab.Server, "ss", "-Mtmni").CombinedOutput()
				sockstat, _ := k.l.Command(sctx, lab.Server, "cat", "/proc/net/sockstat").CombinedOutput()
				scancel()
				t.Fatalf("kernel read after %d of %d bytes: %v\n%s\nkernel: %v\nss -Mtmni:\n%s\n%s", len(got), len(data), err, summary(c.Info()), nonzeroU(m), ss, sockstat)
			}
			if err := <-errc; err != nil {
				t.Fatalf("write: %v", err)
			}
			if sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatalf("the kernel got %d bytes, SHA-256 differs from the %d sent", len(got), len(data))
			}
			in := c.Info()
			if in.Fallback {
				t.Fatal("fell back to TCP")
			}
			want := "cubic"
			if tc.f != nil {
				want = tc.name
			}
			var total uint64
			subs := append(in.Subflows, in.Closed...)
			for _, sf := range subs {
				total += sf.DataSent
				if sf.TCP.CongestionControl != want {
					t.Errorf("subflow %v runs %q, want %q", sf.Local, sf.TCP.CongestionControl, want)
				}
			}
			share := ""
			for _, sf := range subs {
				if sf.DataSent == 0 {
					t.Errorf("subflow %v carried no data: %s", sf.Local, summary(in))
				}
				share += fmt.Sprintf(" %v %.0f%%", sf.Local.Addr(), 100*float64(sf.DataSent)/float64(total))
			}
			mbps := float64(len(data)) * 8 / elapsed.Seconds() / 1e6
			t.Logf("%s: %d MiB intact in %v, %.1f Mbit/s (paths: 40 + 20 Mbit/s); data by subflow:%s\n%s", tc.name, len(data)>>20, elapsed.Round(time.Millisecond), mbps, share, summary(in))
			fmt.Printf("GOODPUT %s %.1f Mbit/s%s\n", tc.name, mbps, share)
		})
	}
}

func nonzeroU(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
