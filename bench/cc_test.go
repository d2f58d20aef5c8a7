//go:build linux

package bench

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/lab/labtest"
)

// TestKernelSocketsCongestion: the kernel's sockets in a run use the
// run's congestion control, every MPTCP subflow included (the listener's
// and the dialer's TCP_CONGESTION), whatever the namespaces' default is
// (here BBR, set as their default: the host's may differ).
func TestKernelSocketsCongestion(t *testing.T) {
	l := labtest.New(t, lab.Config{CongestionControl: "bbr"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := kernelListen(l, lab.Server, true, "reno")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port())
	acc := make(chan error, 1)
	go func() {
		c, err := acceptOne(ctx, ln)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			_, err = c.Read(make([]byte, 1))
		}
		acc <- err
	}()
	c, err := kernelDial(ctx, l, lab.Client, true, netip.AddrPortFrom(l.ServerAddr(1), port), "reno")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-acc; err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitCounter(ctx, lab.Server, "MPTcpExtMPJoinAckRx", 1); err != nil {
		t.Fatalf("no join: %v", err)
	}
	for _, side := range []lab.Side{lab.Client, lab.Server} {
		out, err := l.Command(ctx, side, "ss", "-tin", "state", "established").CombinedOutput()
		if err != nil {
			t.Fatalf("ss: %v %s", err, out)
		}
		reno, other := 0, 0
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || !strings.Contains(line, "rto:") {
				continue
			}
			if f[0] == "reno" {
				reno++
			} else {
				other++
			}
		}
		if reno < 2 || other != 0 {
			t.Errorf("%v: %d subflows on reno, %d on another: want both subflows on reno\n%s", side, reno, other, out)
		}
	}
}
