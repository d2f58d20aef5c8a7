//go:build linux

package netdev_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/lab/labtest"
	"github.com/mptcp-go/mptcp/netdev"
)

// TestWatchLink takes a lab interface down and up again while WatchLink
// polls it from inside the namespace: it reports down, then up, once each.
func TestWatchLink(t *testing.T) {
	labtest.Requirements(t)
	l := labtest.New(t, lab.Config{Paths: []lab.PathSpec{{Name: "wifi"}}})
	dev := l.Iface(lab.Client, 1)
	var mu sync.Mutex
	var got []bool
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- l.Do(lab.Client, func() error {
			if up, err := netdev.LinkUp(dev); err != nil || !up {
				t.Errorf("LinkUp(%s) at the start: %v, %v", dev, up, err)
			}
			netdev.WatchLink(ctx, dev, 10*time.Millisecond, func(up bool) {
				mu.Lock()
				got = append(got, up)
				n := len(got)
				mu.Unlock()
				if n == 2 {
					cancel()
				}
			})
			return nil
		})
	}()
	wait := func(n int) {
		for ctx.Err() == nil {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	for i, state := range []string{"down", "up"} {
		if out, err := l.Command(ctx, lab.Client, "ip", "link", "set", "dev", dev, state).CombinedOutput(); err != nil {
			t.Fatalf("ip link set %s: %v: %s", state, err, out)
		}
		wait(i + 1)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("WatchLink reported %v, want [false true]", got)
	}
}
