//go:build linux

package mptcp_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/link/emu"
)

// dialKernel has our client dial the kernel's listener (MPTCP or not) on
// the server's first address and returns both ends.
func (k *kernelLab) dialKernel(t *testing.T, mptcpListener bool) (*mptcp.Conn, net.Conn) {
	t.Helper()
	var ln net.Listener
	if err := k.l.Do(lab.Server, func() error {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(mptcpListener)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", "0.0.0.0:5201")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
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
	return c, srv
}

// TestKernelChecksumOnePath: the kernel sends over one path, a
// middlebox rewrites one byte. We answer with MP_FAIL; Linux answers with
// its own MP_FAIL but sends nothing more (it would deliver the modified
// byte itself, falling back to TCP, as its selftests expect), so our
// receiver resets the connection: what the application read is exactly
// the data before the failed mapping, never the modified byte.
func TestKernelChecksumOnePath(t *testing.T) {
	k := newKernelLab(t, lab.Config{Paths: []lab.PathSpec{{Name: "wifi", Up: lab.LinkSpec{Rewrite: 300000}, Emulate: true}}}, lab.Server, mptcp.Config{Checksum: true})
	sysctl(t, k.l, lab.Client, "net.mptcp.checksum_enabled=1")
	ln, err := k.h.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 5201))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan *mptcp.Conn, 1)
	go func() { c, _ := ln.AcceptMPTCP(); acc <- c }()
	var sender net.Conn
	if err := k.l.Do(lab.Client, func() error {
		d := net.Dialer{Timeout: 30 * time.Second}
		d.SetMultipathTCP(true)
		var err error
		sender, err = d.Dial("tcp", netip.AddrPortFrom(k.l.ServerAddr(1), 5201).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	ours := <-acc
	data := randomBytes(4<<20, 45)
	go func() {
		sender.Write(data)
		sender.(interface{ CloseWrite() error }).CloseWrite()
	}()
	ours.SetReadDeadline(time.Now().Add(time.Minute))
	got, _, err := timedReader(ours, nil)
	if err == nil && !bytes.Equal(got, data) {
		t.Fatalf("clean end with %d bytes that differ from the data", len(got))
	}
	if !bytes.Equal(got, data[:min(len(got), len(data))]) {
		t.Fatalf("read %d bytes that are not a prefix of the data", len(got))
	}
	if len(got) >= 300000 {
		t.Fatalf("read %d bytes: the rewritten byte at 300000 was delivered", len(got))
	}
	m := k.h.MIB()
	if m.DataCsumErr.Load() != 1 || m.MPFailTx.Load() == 0 {
		t.Fatalf("our counters: %v", nonzero(m.Counters()))
	}
	t.Logf("read %d bytes (the prefix before the failed mapping), then: %v; ours %v; kernel %v", len(got), err,
		nonzero(m.Counters()), pick(counters(t, k.l, lab.Client), ""))
}

func sysctl(t *testing.T, l *lab.Lab, side lab.Side, kv string) {
	t.Helper()
	if out, err := l.Command(context.Background(), side, "sysctl", "-qw", kv).CombinedOutput(); err != nil {
		t.Fatalf("sysctl %s: %v: %s", kv, err, out)
	}
}

// TestKernelFallback: transfers complete as TCP when the peer is plain
// TCP, or when a middlebox strips option 30 from the SYN/ACK or from the
// data segments after the handshake (RFC 8684 §3.7).
func TestKernelFallback(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mptcpSrv bool
		path     lab.PathSpec
		counter  string // kernel server counter that shows the fallback
	}{
		{"plain-tcp-server", false, lab.PathSpec{Name: "wifi"}, ""},
		{"strip-synack", true, lab.PathSpec{Name: "wifi", Down: lab.LinkSpec{Strip: emu.StripSYNACK}}, "MPTcpExtMPCapableFallbackACK"},
		{"strip-data-both-ways", true, lab.PathSpec{Name: "wifi", Up: lab.LinkSpec{Strip: emu.StripData}, Down: lab.LinkSpec{Strip: emu.StripData}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKernelLab(t, lab.Config{Paths: []lab.PathSpec{tc.path}}, lab.Client, mptcp.Config{})
			c, srv := k.dialKernel(t, tc.mptcpSrv)
			up, down := randomBytes(4<<20, 41), randomBytes(2<<20, 42)
			exchange(t, c, srv, up, down, func() string { return summary(c.Info()) })
			if !c.Info().Fallback {
				t.Fatalf("not in fallback: %s", summary(c.Info()))
			}
			m := counters(t, k.l, lab.Server)
			if tc.counter != "" && m[tc.counter] == 0 {
				t.Errorf("kernel %s = 0: %v", tc.counter, pick(m, ""))
			}
			t.Logf("%s: fallback; ours %v; kernel %v", tc.name, nonzero(k.h.MIB().Counters()), pick(m, ""))
		})
	}
}

// TestKernelChecksumRewrite: checksums on, a middlebox rewrites one
// payload byte. On one path the receiver answers with MP_FAIL and the
// connection falls back at the failed mapping; with two paths the
// subflow is reset and the other carries on. Never a corrupted byte.
func TestKernelChecksumRewrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ours  lab.Side
		paths []lab.PathSpec
	}{
		// The kernel sends, our stack detects the rewritten byte.
		{"kernel-sends,2-paths", lab.Server, []lab.PathSpec{
			{Name: "wifi", Emulate: true},
			{Name: "cellular", Up: lab.LinkSpec{Rewrite: 300000}, Emulate: true}}},
		// Our stack sends over one path, the kernel detects it.
		{"ours-sends,2-paths", lab.Client, []lab.PathSpec{
			{Name: "wifi", Emulate: true},
			{Name: "cellular", Up: lab.LinkSpec{Rewrite: 300000}, Emulate: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKernelLab(t, lab.Config{Paths: tc.paths}, tc.ours, mptcp.Config{Checksum: true})
			for _, side := range []lab.Side{lab.Client, lab.Server} {
				if side != tc.ours {
					sysctl(t, k.l, side, "net.mptcp.checksum_enabled=1")
				}
			}
			data := randomBytes(16<<20, 43)
			var sender, receiver net.Conn
			var ours *mptcp.Conn
			if tc.ours == lab.Client {
				c, srv := k.dialKernel(t, true)
				sender, receiver, ours = c, srv, c
			} else {
				if out, err := k.l.Command(context.Background(), lab.Client, "ip", "mptcp", "endpoint", "flush").CombinedOutput(); err != nil {
					t.Fatalf("endpoint flush: %v: %s", err, out)
				}
				ln, err := k.h.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 5201))
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				acc := make(chan *mptcp.Conn, 1)
				go func() { c, _ := ln.AcceptMPTCP(); acc <- c }()
				if err := k.l.Do(lab.Client, func() error {
					d := net.Dialer{Timeout: 30 * time.Second}
					d.SetMultipathTCP(true)
					var err error
					sender, err = d.Dial("tcp", netip.AddrPortFrom(k.l.ServerAddr(1), 5201).String())
					return err
				}); err != nil {
					t.Fatal(err)
				}
				ours = <-acc
				receiver = ours
			}
			waitCtx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
			for len(ours.Info().Subflows) < 2 && waitCtx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			wcancel()
			if len(ours.Info().Subflows) < 2 {
				t.Fatalf("no second subflow: %s", summary(ours.Info()))
			}
			if !ours.Info().Checksum {
				t.Fatal("checksums not negotiated")
			}
			exchange(t, sender, receiver, data, randomBytes(1<<20, 44), func() string {
				return summary(ours.Info()) + fmt.Sprintf("\nkernel %v\nours %v", pick(counters(t, k.l, k.kernelSide()), ""), nonzero(k.h.MIB().Counters()))
			})
			in := ours.Info()
			m := counters(t, k.l, k.kernelSide())
			ourMIB := k.h.MIB()
			if tc.ours == lab.Server {
				if ourMIB.DataCsumErr.Load() == 0 || ourMIB.MPFailTx.Load() == 0 {
					t.Errorf("our checksum failure not seen: %v", nonzero(ourMIB.Counters()))
				}
			} else if m["MPTcpExtDataCsumErr"] == 0 {
				t.Errorf("kernel saw no checksum failure: %v", pick(m, ""))
			}
			if in.Fallback || len(in.Closed) == 0 {
				t.Errorf("want the failed subflow closed and MPTCP going on: %s", summary(in))
			}
			t.Logf("%s: intact; ours %v; kernel %v", tc.name, nonzero(ourMIB.Counters()), pick(m, ""))
		})
	}
}
