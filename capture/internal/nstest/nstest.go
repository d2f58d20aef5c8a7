//go:build linux

// Package nstest gives the capture tests network namespaces: lone
// throw-away ones (New: unique names, deleted on every exit path,
// leftovers of crashed runs removed) and a client and a server joined by
// two paths (NewPair, a lab from package lab/labtest).
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mptcp-go/mptcp/lab"
)

// prefix starts every namespace name this package creates.
const prefix = "capt-"

// NS is a network namespace created for one test.
type NS struct {
	Name string
	t    testing.TB
}

// Require skips the test unless it runs as root with the named binaries
// (and ip) on PATH.
func Require(t testing.TB, bins ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	for _, b := range append([]string{"ip"}, bins...) {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("needs %s on PATH: %v", b, err)
		}
	}
}

// New creates a namespace named capt-<tag>-<pid>-<random> with loopback up
// and registers its deletion with t.Cleanup.
func New(t testing.TB, tag string) *NS {
	t.Helper()
	cleanLeftovers()
	var r [3]byte
	_, _ = rand.Read(r[:])
	name := fmt.Sprintf("%s%s-%d-%s", prefix, tag, os.Getpid(), hex.EncodeToString(r[:]))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &NS{Name: name, t: t}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	n.Run("ip", "link", "set", "lo", "up")
	return n
}

// cleanLeftovers deletes namespaces of earlier test processes that no
// longer run.
func cleanLeftovers() {
	entries, _ := os.ReadDir("/var/run/netns")
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		parts := strings.Split(name, "-")
		if len(parts) < 4 {
			continue
		}
		pid, err := strconv.Atoi(parts[len(parts)-2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); os.IsNotExist(err) {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// Command returns a command that runs inside the namespace.
func (n *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs a command in the namespace and fails the test if it fails.
func (n *NS) Run(name string, args ...string) string {
	n.t.Helper()
	out, err := n.Command(name, args...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("in %s: %s %s: %v: %s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Do runs fn on an OS thread switched into the namespace. Sockets fn
// creates stay in the namespace after Do returns and may be used from any
// goroutine.
func (n *NS) Do(fn func() error) error { return lab.DoNS(n.Name, fn) }
