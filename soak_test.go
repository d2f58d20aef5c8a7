package mptcp_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/link/emu"
	"github.com/mptcp-go/mptcp/stack"
)

// TestStackSoak: the whole stack, goroutines and all, for a bounded time
// (STACK_SOAK_SECONDS, 20 s by default): 8 MPTCP connections over two
// paths through the link emulator (loss, reordering, delay), one path or
// the other going down and up every 0.3-1.5 s (never both), each
// connection echoing random messages that are checked byte for byte.
// At the end every goroutine the run started is gone and the heap is back
// where it was; no panic (the race detector in CI).
func TestStackSoak(t *testing.T) {
	secs := 20
	if v, err := strconv.Atoi(os.Getenv("STACK_SOAK_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	if testing.Short() {
		secs = 5
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()

	rounds, bytesChecked := func() (int, int) {
		cli, srv := stack.New(stack.Options{}), stack.New(stack.Options{})
		defer func() { cli.Close(); srv.Close() }()
		var fwds []*emu.Forwarder
		defer func() {
			for _, f := range fwds {
				f.Close()
			}
		}()
		for i := 0; i < 2; i++ {
			c, x := link.NewPipe(link.PipeOptions{})
			y, s := link.NewPipe(link.PipeOptions{})
			spec := emu.Spec{Rate: 40e6, Delay: time.Duration(5+10*i) * time.Millisecond, Jitter: time.Millisecond,
				Loss: 0.01, Reorder: 0.02, ReorderDelay: 5 * time.Millisecond}
			f, err := emu.New(x, y, spec, spec, emu.Options{Seed: uint64(90 + i)})
			if err != nil {
				t.Fatal(err)
			}
			f.Start()
			fwds = append(fwds, f)
			net := byte(i + 1)
			if err := cli.AddInterface(c, stack.InterfaceConfig{Name: "p" + strconv.Itoa(i), Addrs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, net, 1}), 24)}}); err != nil {
				t.Fatal(err)
			}
			if err := srv.AddInterface(s, stack.InterfaceConfig{Name: "p" + strconv.Itoa(i), Addrs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, net, 2}), 24)}}); err != nil {
				t.Fatal(err)
			}
		}
		cfg := mptcp.Config{}
		cfg.TCP.TimeWait = 200 * time.Millisecond
		hcli, err := mptcp.NewHost(cli, cfg)
		if err != nil {
			t.Fatal(err)
		}
		hsrv, err := mptcp.NewHost(srv, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := hsrv.Listen(netip.MustParseAddrPort("0.0.0.0:7"))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		defer wg.Wait()
		defer ln.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer c.Close()
					io.Copy(c, c)
				}()
			}
		}()

		const conns = 8
		end := time.Now().Add(time.Duration(secs) * time.Second)
		// Path failures: one path at a time goes down for a while.
		stop := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(91, 2))
			for {
				select {
				case <-stop:
					fwds[0].SetDown(false)
					fwds[1].SetDown(false)
					return
				case <-time.After(time.Duration(300+r.IntN(1200)) * time.Millisecond):
				}
				i := r.IntN(2)
				fwds[1-i].SetDown(false)
				fwds[i].SetDown(r.IntN(2) == 0)
			}
		}()
		var mu sync.Mutex
		rounds, checked := 0, 0
		errs := make(chan error, conns)
		var cwg sync.WaitGroup
		for k := 0; k < conns; k++ {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, err := hcli.Dial(ctx, netip.MustParseAddrPort("198.18.1.2:7"))
				cancel()
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				r := rand.New(rand.NewPCG(uint64(100+k), 3))
				for i := 0; time.Now().Before(end); i++ {
					msg := randomBytes(1+r.IntN(256<<10), uint64(k<<20+i))
					go c.Write(msg)
					got := make([]byte, len(msg))
					c.SetReadDeadline(time.Now().Add(60 * time.Second))
					if _, err := io.ReadFull(c, got); err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(got, msg) {
						t.Errorf("connection %d, message %d: other bytes came back", k, i)
						return
					}
					mu.Lock()
					rounds++
					checked += len(msg)
					mu.Unlock()
				}
			}()
		}
		cwg.Wait()
		close(stop)
		close(errs)
		for err := range errs {
			t.Errorf("connection: %v", err)
		}
		return rounds, checked
	}()
	t.Logf("%d messages, %d MiB echoed and checked in %d s", rounds, bytesChecked>>20, secs)
	if rounds < 8 {
		t.Fatalf("only %d messages echoed", rounds)
	}
	// Everything the run started ends: stack readers and writers, timers'
	// goroutines, the emulator's, the connections'.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines at the end, %d at the start:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("heap before %d KiB, after %d KiB; goroutines %d", before.HeapAlloc>>10, after.HeapAlloc>>10, runtime.NumGoroutine())
	if after.HeapAlloc > before.HeapAlloc+16<<20 {
		t.Fatalf("heap grew by %d KiB over the soak", (after.HeapAlloc-before.HeapAlloc)>>10)
	}
}
