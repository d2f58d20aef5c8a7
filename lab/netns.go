package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// netnsDir is where "ip netns" keeps the bind mounts that name namespaces.
const netnsDir = "/run/netns"

// ErrNoNamespace is returned when a lab's namespace does not exist.
var ErrNoNamespace = errors.New("network namespace does not exist")

// DoNS runs fn on an OS thread switched into the named network namespace
// and switches it back afterwards. Sockets fn creates stay in that
// namespace when fn returns; goroutines fn starts run in the caller's
// namespace. If the thread cannot be switched back it is discarded
// rather than reused.
func DoNS(ns string, fn func() error) error {
	target, err := unix.Open(filepath.Join(netnsDir, ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("netns %s: %w", ns, ErrNoNamespace)
		}
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	defer unix.Close(target)
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: open own namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %s: setns: %w", ns, err)
	}
	ferr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it exits with this goroutine.
		return errors.Join(ferr, fmt.Errorf("netns: restore: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// nsExists reports whether the named namespace exists.
func nsExists(ns string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, ns))
	return err == nil
}

// listNamespaces returns the names of all named network namespaces.
func listNamespaces() []string {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// run runs a command and returns its output, with stderr in the error.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// ipBatch runs iproute2 commands (one per line, without the leading "ip")
// in namespace ns ("" for the current one), stopping at the first failure.
func ipBatch(ctx context.Context, ns string, lines []string) error {
	return ipBatchOpts(ctx, ns, nil, lines)
}

// ipBatchOpts is ipBatch with global options (such as "-6": in batch
// mode a line cannot choose its address family).
func ipBatchOpts(ctx context.Context, ns string, opts, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	args := append(append([]string(nil), opts...), "-batch", "-")
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s -batch: %w: %s\ncommands:\n%s", ns, err,
			strings.TrimSpace(string(out)), strings.Join(lines, "\n"))
	}
	return nil
}

// sysctls sets sysctls inside namespace ns.
func sysctls(ctx context.Context, ns string, kv ...string) error {
	args := append([]string{"netns", "exec", ns, "sysctl", "-q", "-w"}, kv...)
	_, err := run(ctx, "ip", args...)
	return err
}
