//go:build linux

package mptcp_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/link/emu"
)

// timedReader reads everything from r, noting the longest time without
// new data (the stall) once data started, and calls at(n) after each read
// with the bytes read so far.
func timedReader(r io.Reader, at func(n int)) ([]byte, time.Duration, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	var last time.Time
	var stall time.Duration
	for {
		k, err := r.Read(buf)
		if k > 0 {
			now := time.Now()
			if !last.IsZero() && now.Sub(last) > stall {
				stall = now.Sub(last)
			}
			last = now
			out = append(out, buf[:k]...)
			if at != nil {
				at(len(out))
			}
		}
		if err == io.EOF {
			return out, stall, nil
		}
		if err != nil {
			return out, stall, err
		}
	}
}

// twoEmulatedPaths: "wifi" 40 Mbit/s 10 ms and "cellular" 20 Mbit/s 30
// ms, both through the emulator (so a path can be taken down).
func twoEmulatedPaths(wifiExtra ...emu.Event) []lab.PathSpec {
	wifi := lab.LinkSpec{Rate: 40e6, Delay: 5 * time.Millisecond, QueueLimit: 200}
	wifiUp := wifi
	wifiUp.Events = wifiExtra
	cell := lab.LinkSpec{Rate: 20e6, Delay: 15 * time.Millisecond, QueueLimit: 200}
	return []lab.PathSpec{
		{Name: "wifi", Up: wifiUp, Down: wifi, Emulate: true},
		{Name: "cellular", Up: cell, Down: cell, Emulate: true},
	}
}

func TestKernelPathFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		ours lab.Side
		loss bool
	}{
		{"ours-sends,wifi-down", lab.Client, false},
		{"kernel-sends,wifi-down", lab.Server, false},
		{"ours-sends,wifi-30%-loss", lab.Client, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var events []emu.Event
			if tc.loss {
				events = []emu.Event{emu.SetLoss(4*time.Second, 0.3)}
			}
			k := newKernelLab(t, lab.Config{Paths: twoEmulatedPaths(events...)}, tc.ours, mptcp.Config{})
			data := randomBytes(24<<20, 31)
			var sender, receiver net.Conn
			if tc.ours == lab.Client {
				ln := k.kernelListen(t)
				acc := make(chan net.Conn, 1)
				go func() { c, _ := ln.Accept(); acc <- c }()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				c, err := k.h.Dial(ctx, netip.AddrPortFrom(k.l.ServerAddr(1), 5201))
				if err != nil {
					t.Fatal(err)
				}
				sender, receiver = c, <-acc
			} else {
				if out, err := k.l.Command(context.Background(), lab.Client, "ip", "mptcp", "endpoint", "flush").CombinedOutput(); err != nil {
					t.Fatalf("endpoint flush: %v: %s", err, out)
				}
				ln, err := k.h.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 5201))
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				acc := make(chan net.Conn, 1)
				go func() { c, _ := ln.Accept(); acc <- c }()
				if err := k.l.Do(lab.Client, func() error {
					d := net.Dialer{Timeout: 30 * time.Second}
					d.SetMultipathTCP(true)
					var err error
					sender, err = d.Dial("tcp", netip.AddrPortFrom(k.l.ServerAddr(1), 5201).String())
					return err
				}); err != nil {
					t.Fatal(err)
				}
				receiver = <-acc
			}
			if receiver == nil {
				t.Fatal("no connection accepted")
			}
			// Both paths in use before the failure.
			waitCtx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
			side := k.kernelSide()
			name := "MPTcpExtMPJoinAckRx"
			if side == lab.Client {
				name = "MPTcpExtMPJoinSynAckRx"
			}
			_, err := k.l.WaitCounter(waitCtx, side, name, 1)
			wcancel()
			if err != nil {
				t.Fatalf("no join: %v", err)
			}
			errc := make(chan error, 1)
			go func() {
				_, err := sender.Write(data)
				if err == nil {
					err = sender.(interface{ CloseWrite() error }).CloseWrite()
				}
				errc <- err
			}()
			receiver.SetReadDeadline(time.Now().Add(3 * time.Minute))
			var downAt time.Time
			got, stall, err := timedReader(receiver, func(n int) {
				if !tc.loss && downAt.IsZero() && n >= len(data)/3 {
					downAt = time.Now()
					if err := k.l.SetPathDown(1); err != nil {
						t.Errorf("path down: %v", err)
					}
				}
			})
			if err != nil {
				t.Fatalf("receiver after %d of %d bytes: %v", len(got), len(data), err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("sender: %v", err)
			}
			if sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatalf("received %d bytes, SHA-256 differs from the %d sent", len(got), len(data))
			}
			sender.Close()
			receiver.Close()
			var in string
			if c, ok := sender.(*mptcp.Conn); ok {
				in = summary(c.Info())
			} else if c, ok := receiver.(*mptcp.Conn); ok {
				in = summary(c.Info())
			}
			t.Logf("%s: %d MiB intact, longest stall %v\n%s", tc.name, len(data)>>20, stall.Round(time.Millisecond), in)
			fmt.Printf("STALL %s %v\n", tc.name, stall.Round(time.Millisecond))
		})
	}
}
