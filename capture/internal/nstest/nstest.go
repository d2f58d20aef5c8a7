//go:build linux

// Package nstest creates throw-away network namespaces for the capture
// tests: unique names, deleted (with their veths) on every exit path, and
// leftovers of crashed runs removed.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// If switching back fails the thread stays locked and dies with
		// the goroutine, so no other goroutine runs in the namespace.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/var/run/netns", n.Name))
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Veth creates a veth pair with one end (nameA, address addrA as CIDR) in
// a and the other (nameB, addrB) in b, both up, with offloads off so
// captures show wire-sized segments. Names must be at most 15 bytes.
func Veth(t testing.TB, a *NS, nameA, addrA string, b *NS, nameB, addrB string) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "add", nameA, "netns", a.Name, "type", "veth", "peer", "name", nameB, "netns", b.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip link add %s/%s: %v: %s", nameA, nameB, err, out)
	}
	for _, side := range []struct {
		ns         *NS
		name, addr string
	}{{a, nameA, addrA}, {b, nameB, addrB}} {
		side.ns.Run("ip", "addr", "add", side.addr, "dev", side.name)
		side.ns.Run("ip", "link", "set", side.name, "up")
		if _, err := exec.LookPath("ethtool"); err == nil {
			_ = side.ns.Command("ethtool", "-K", side.name, "tso", "off", "gso", "off", "gro", "off").Run()
		}
	}
}
