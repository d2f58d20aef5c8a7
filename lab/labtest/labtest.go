// Package labtest starts labs from tests of other packages: it skips the
// test when the machine cannot run one (not root, a tool missing), gives
// the lab a unique name and removes it when the test ends, on every exit
// path.
//
//	func TestInterop(t *testing.T) {
//		l := labtest.New(t, lab.Config{Paths: []lab.PathSpec{
//			lab.Symmetric("wifi", lab.LinkSpec{Rate: 50e6, Delay: 10 * time.Millisecond}),
//			lab.Symmetric("cellular", lab.LinkSpec{Rate: 10e6, Delay: 40 * time.Millisecond}),
//		}})
//		l.Do(lab.Server, func() error { ... listen on l.ServerAddr(1) ... })
//	}
package labtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
)

var seq atomic.Uint32 // unique names within one test binary

// Requirements skips t unless it runs as root with ip, sysctl, ethtool
// and the extra tools named.
func Requirements(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	for _, tool := range append([]string{"ip", "sysctl", "ethtool"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	if _, err := os.Stat("/proc/sys/net/mptcp/enabled"); err != nil {
		t.Skip("kernel without MPTCP")
	}
}

// New brings up the lab cfg describes and closes it in t.Cleanup. An empty
// cfg.Name gets a unique one ("t<pid>-<n>"); an empty StateDir keeps test
// labs apart from the CLI's ("<tmp>/mptcp-lab-test"). It fails the test if
// the lab cannot be built.
func New(t testing.TB, cfg lab.Config) *lab.Lab {
	t.Helper()
	Requirements(t)
	if cfg.Name == "" {
		cfg.Name = fmt.Sprintf("t%d-%d", os.Getpid()%1000000, seq.Add(1))
	}
	if cfg.StateDir == "" {
		cfg.StateDir = os.TempDir() + "/mptcp-lab-test"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, cfg)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}
