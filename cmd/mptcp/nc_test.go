package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
)

func TestNCHelp(t *testing.T) {
	for _, args := range [][]string{{"nc", "--help"}, {"nc", "-l", "5001", "-h"}, {"help", "nc"}} {
		code, out, errOut := runCLI(args...)
		if n := strings.Count(out, "Usage: mptcp nc "); code != exitOK || n != 1 || errOut != "" {
			t.Errorf("%q: exit %d, usage %d times on stdout, stderr %q", args, code, n, errOut)
		}
	}
	_, out, _ := runCLI("nc", "--help")
	for _, want := range []string{"-l [flags] [ADDR:]PORT", "--client user", "mptcp lab exec x client -- mptcp nc",
		"RSTs", "-iface", "-tun", "ip tuntap add", "-addr CIDR", "-gw", "-offload", "-cc", "-w SECS", "-q SECS",
		"-json", "bytes_sent", "goodput_mbit_s", "Exit codes", "SIGINT"} {
		if !strings.Contains(out, want) {
			t.Errorf("nc --help lacks %q", want)
		}
	}
}

func TestNCUsageErrors(t *testing.T) {
	ifc := []string{"--iface", "eth9", "--addr", "10.0.0.1/24"}
	with := func(extra ...string) []string { return append(append([]string{"nc"}, ifc...), extra...) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nc"}, "want HOST PORT"},
		{with("10.0.0.2"), "want HOST PORT"},
		{with("a", "b", "c"), "want HOST PORT"},
		{[]string{"nc", "--addr", "10.0.0.1/24", "10.0.0.2", "1"}, "--iface NAME or --tun NAME is required"},
		{[]string{"nc", "--iface", "eth9", "10.0.0.2", "1"}, "--addr CIDR is required"},
		{with("--tun", "tun9", "10.0.0.2", "1"), "exclude each other"},
		{[]string{"nc", "--iface", "eth9", "--addr", "10.0.0.1", "10.0.0.2", "1"}, "lacks a prefix length"},
		{with("--addr", "10.0.0.3/24", "10.0.0.2", "1"), "at most one IPv4"},
		{with("--cc", "vegas", "10.0.0.2", "1"), `--cc "vegas"`},
		{with("--tcp", "--cc", "lia", "10.0.0.2", "1"), "--cc lia couples the subflows of an MPTCP connection (not with --tcp)"},
		{with("10.0.0.2", "0"), "port \"0\""},
		{with("10.0.0.2", "70000"), "port \"70000\""},
		{with("10.0.0.2", "http"), "port \"http\""},
		{with("-l", "10.0.0.9:5001"), "not one of --addr"},
		{with("-l", "nowhere", "5001"), "not an IP address"},
		{with("-l", "10.0.0.1:99999"), "port"},
		{[]string{"nc", "--tun", "t0", "--mac", "02:00:00:00:00:01", "--addr", "10.0.0.1/24", "10.0.0.2", "1"}, "--mac only applies to --iface"},
		{with("--mac", "zz", "10.0.0.2", "1"), "--mac"},
		{with("--gw", "fe80::1", "10.0.0.2", "1"), "no IPv6 --addr"},
		{with("--gw", "10.0.0.254", "--gw", "10.0.0.253", "10.0.0.2", "1"), "one gateway per address family"},
		{with("-w", "-1", "10.0.0.2", "1"), "must not be negative"},
		{with("-w", "soon", "10.0.0.2", "1"), "invalid value"},
		{with("--mtu", "100", "10.0.0.2", "1"), "--mtu"},
		{with("--bogus", "10.0.0.2", "1"), "flag provided but not defined"},
		{with("--max-subflows", "-1", "10.0.0.2", "1"), "must not be negative"},
		{with("--max-add-addr", "-2", "10.0.0.2", "1"), "not below -1"},
		{with("--tcp", "--max-subflows", "2", "10.0.0.2", "1"), "MPTCP's (not with --tcp)"},
		{with("--rcvbuf", "4k", "10.0.0.2", "1"), "between 16k and 1g"},
		{with("--sndbuf", "2g", "10.0.0.2", "1"), "between 16k and 1g"},
		{with("--rcvbuf", "-1", "10.0.0.2", "1"), "is not a size"},
		{with("--sndbuf", "lots", "10.0.0.2", "1"), "is not a size"},
	} {
		code, out, errOut := runCLI(tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q on stderr only", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestNCArgForms checks the accepted forms of the listen address, of -w and
// -q, and the gateway and congestion control mapping.
func TestNCArgForms(t *testing.T) {
	base := ncFlags{iface: "eth9", cc: "cubic", addrs: prefixList{netip.MustParsePrefix("198.18.1.1/24"), netip.MustParsePrefix("fd00::1/64")}}
	for _, tc := range []struct {
		pos  []string
		want string
	}{
		{[]string{"5001"}, "invalid AddrPort:5001"},
		{[]string{":5001"}, "invalid AddrPort:5001"},
		{[]string{"198.18.1.1:5001"}, "198.18.1.1:5001"},
		{[]string{"[fd00::1]:5001"}, "[fd00::1]:5001"},
		{[]string{"198.18.1.1", "5001"}, "198.18.1.1:5001"},
		{[]string{"0.0.0.0", "0"}, "0.0.0.0:0"},
	} {
		f := base
		f.listen = true
		cfg, err := f.validate(tc.pos)
		got := ""
		if err == nil {
			got = cfg.laddr.String()
			if !cfg.laddr.Addr().IsValid() {
				got = fmt.Sprintf("invalid AddrPort:%d", cfg.laddr.Port())
			}
		}
		if err != nil || got != tc.want {
			t.Errorf("-l %q: %q, %v; want %q", tc.pos, got, err, tc.want)
		}
	}
	var w, q secondsFlag
	for in, want := range map[string]time.Duration{"5": 5 * time.Second, "1.5": 1500 * time.Millisecond, "250ms": 250 * time.Millisecond, "-1": -time.Second} {
		if err := w.Set(in); err != nil || w.d != want {
			t.Errorf("secondsFlag %q = %v, %v; want %v", in, w.d, err, want)
		}
	}
	if q.Set("0") != nil || q.d != 0 {
		t.Errorf("-q 0: %v", q.d)
	}
	f := base
	f.cc = "newreno"
	f.gws = addrList{netip.MustParseAddr("198.18.1.254"), netip.MustParseAddr("fd00::fe")}
	cfg, err := f.validate([]string{"198.18.1.2", "80"})
	if err != nil || cfg.cc != "reno" || cfg.paths[0].dev.Gateway4.String() != "198.18.1.254" || cfg.paths[0].dev.Gateway6.String() != "fd00::fe" || cfg.port != 80 || cfg.host != "198.18.1.2" {
		t.Errorf("connect config %+v, %v", cfg, err)
	}
	if !ccValid("cubic") || !ccValid("reno") || !ccValid("lia") || !ccValid("olia") || ccValid("") || ccValid("vegas") {
		t.Error("ccValid")
	}
	// A coupled controller is MPTCP's factory, not a TCP name.
	for _, name := range []string{"lia", "olia"} {
		f := base
		f.cc = name
		cfg, err := f.validate([]string{"198.18.1.2", "80"})
		if err != nil || cfg.coupled == nil || cfg.coupled.NewConn()().Name() != name || cfg.cc != "" {
			t.Errorf("--cc %s: coupled %v, cc %q, %v", name, cfg.coupled, cfg.cc, err)
		}
	}
}

// TestNCMissingInterface is a runtime failure (exit 1), not a usage error.
func TestNCMissingInterface(t *testing.T) {
	code, out, errOut := runCLI("nc", "--json", "--iface", "nosuchif9", "--addr", "10.0.0.1/24", "10.0.0.2", "1")
	if code != exitFailure || out != "" || !strings.Contains(errOut, "interface nosuchif9") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	s := lastJSON(t, errOut)
	if s.ExitCode != exitFailure || !strings.Contains(s.Error, "nosuchif9") || s.TCP != nil {
		t.Errorf("summary %+v", s)
	}
}

// lastJSON parses the --json summary: the last line of stderr that is a
// JSON object.
func lastJSON(t *testing.T, stderr string) ncSummary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "{") {
			var s ncSummary
			if err := json.Unmarshal([]byte(lines[i]), &s); err != nil {
				t.Fatalf("summary %q: %v", lines[i], err)
			}
			return s
		}
	}
	t.Fatalf("no JSON summary in stderr:\n%s", stderr)
	return ncSummary{}
}

// --- end to end (root) ---

var ncLabSeq atomic.Uint32

// buildNC builds the command into dir; the end-to-end tests run it in
// the lab's namespaces.
func buildNC(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "mptcp")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// ncLab is a one-path lab: the client side is ours (no kernel addresses),
// the server side is the kernel's.
func ncLab(t *testing.T, offload, ipv6 bool) *lab.Lab {
	t.Helper()
	cfg := lab.Config{
		Name:       fmt.Sprintf("nc%d-%d", os.Getpid()%100000, ncLabSeq.Add(1)),
		Paths:      []lab.PathSpec{{Name: "p1"}},
		ClientMode: lab.User, ServerMode: lab.Kernel,
		Offload:  offload,
		IPv6:     ipv6,
		StateDir: filepath.Join(t.TempDir(), "state"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, cfg)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// ncArgs are the interface flags for the lab's client side.
func ncArgs(l *lab.Lab, extra ...string) []string {
	return append([]string{"nc", "--json", "--iface", l.Iface(lab.Client, 1),
		"--addr", netip.PrefixFrom(l.ClientAddr(1), 24).String()}, extra...)
}

// kernelSink listens in the server namespace (plain TCP) and returns the
// address and a channel with the SHA-256 and length of what one
// connection sent; if reply is set, it is sent back first.
func kernelSink(t *testing.T, l *lab.Lab, side lab.Side, addr netip.Addr) (netip.AddrPort, <-chan sinkResult) {
	t.Helper()
	var ln net.Listener
	if err := l.Do(side, func() error {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(false)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan sinkResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- sinkResult{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		h := sha256.New()
		n, err := io.Copy(h, c)
		ch <- sinkResult{sum: h.Sum(nil), n: n, err: err}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), ch
}

type sinkResult struct {
	sum []byte
	n   int64
	err error
}

func randBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// runNCBin runs the built binary in the lab's client namespace.
func runNCBin(t *testing.T, bin string, l *lab.Lab, stdin io.Reader, args ...string) (code int, stdout []byte, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := l.Command(ctx, lab.Client, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err := cmd.Run()
	code = 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return code, out.Bytes(), errb.String()
}

// ncSend sends data with the binary to a kernel listener and checks the
// kernel received exactly that, and the --json counters.
func ncSend(t *testing.T, bin string, l *lab.Lab, data []byte, extra ...string) ncSummary {
	t.Helper()
	ap, sink := kernelSink(t, l, lab.Server, l.ServerAddr(1))
	args := ncArgs(l, append(extra, ap.Addr().String(), fmt.Sprint(ap.Port()))...)
	code, out, errOut := runNCBin(t, bin, l, bytes.NewReader(data), args...)
	if code != exitOK {
		t.Fatalf("nc %v: exit %d\n%s", args, code, errOut)
	}
	res := <-sink
	want := sha256.Sum256(data)
	if res.err != nil || res.n != int64(len(data)) || !bytes.Equal(res.sum, want[:]) {
		t.Fatalf("kernel received %d bytes (sha256 %x, %v), want %d (%x)", res.n, res.sum, res.err, len(data), want)
	}
	if len(out) != 0 {
		t.Errorf("stdout %d bytes, want none", len(out))
	}
	s := lastJSON(t, errOut)
	if s.Mode != "connect" || s.BytesSent != int64(len(data)) || s.BytesReceived != 0 || s.ExitCode != 0 || s.Error != "" ||
		s.Remote != ap.String() || s.DurationS <= 0 || s.GoodputMbitS <= 0 || s.TCP == nil ||
		s.TCP.BytesAcked < uint64(len(data)) || s.TCP.SRTTms <= 0 || s.TCP.MSS == 0 || s.TCP.Cwnd == 0 {
		t.Errorf("summary %+v, tcp %+v", s, s.TCP)
	}
	t.Logf("sent %d bytes: %.3f s, %.0f Mbit/s, cwnd %d, srtt %.3f ms, %d retransmitted segments",
		s.BytesSent, s.DurationS, s.GoodputMbitS, s.TCP.Cwnd, s.TCP.SRTTms, s.TCP.RetransSegs)
	return s
}

// ncReceive runs "nc -l" in the client namespace with down on its stdin;
// a kernel client in the server namespace sends up and reads down. Both
// directions must arrive byte-exact.
func ncReceive(t *testing.T, bin string, l *lab.Lab, up, down []byte, extra ...string) ncSummary {
	t.Helper()
	const port = 5001
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := ncArgs(l, append(append([]string{"-l", "-v"}, extra...), fmt.Sprint(port))...)
	cmd := l.Command(ctx, lab.Client, bin, args...)
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout = bytes.NewReader(down), &out
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	listening := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(errPipe)
		sc.Buffer(nil, 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			errb.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "msg=listening") {
				once.Do(func() { close(listening) })
			}
		}
	}()
	select {
	case <-listening:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-copied
		cmd.Wait()
		t.Fatalf("nc -l did not listen:\n%s", errb.String())
	}
	// The kernel client: send up, half-close, read down to EOF.
	type clientResult struct {
		got []byte
		err error
	}
	kc := make(chan clientResult, 1)
	if err := l.Do(lab.Server, func() error {
		d := net.Dialer{Timeout: 10 * time.Second}
		d.SetMultipathTCP(false)
		c, err := d.Dial("tcp", netip.AddrPortFrom(l.ClientAddr(1), port).String())
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(up)
				if err == nil {
					err = c.(*net.TCPConn).CloseWrite()
				}
				werr <- err
			}()
			got, err := io.ReadAll(c)
			if err2 := <-werr; err == nil {
				err = err2
			}
			kc <- clientResult{got, err}
		}()
		return nil
	}); err != nil {
		cmd.Process.Kill()
		<-copied
		cmd.Wait()
		t.Fatalf("kernel dial: %v", err)
	}
	<-copied
	if err := cmd.Wait(); err != nil {
		t.Fatalf("nc -l: %v\n%s", err, errb.String())
	}
	if h, w := sha256.Sum256(out.Bytes()), sha256.Sum256(up); out.Len() != len(up) || h != w {
		t.Errorf("nc -l wrote %d bytes to stdout (sha256 %x), want %d (%x)", out.Len(), h, len(up), w)
	}
	var res clientResult
	select {
	case res = <-kc:
	case <-time.After(30 * time.Second):
		t.Fatal("kernel client did not finish")
	}
	if res.err != nil || !bytes.Equal(res.got, down) {
		t.Errorf("kernel client got %d bytes (%v), want %d", len(res.got), res.err, len(down))
	}
	stderr := errb.String()
	s := lastJSON(t, stderr)
	if s.Mode != "listen" || s.BytesReceived != int64(len(up)) || s.BytesSent != int64(len(down)) || s.ExitCode != 0 ||
		s.TCP == nil || s.TCP.WireBytesRecv < uint64(len(up)) {
		t.Errorf("summary %+v, tcp %+v", s, s.TCP)
	}
	for _, want := range []string{"msg=connected", "msg=\"peer closed its side\"", "msg=done"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-v output lacks %s:\n%s", want, stderr)
		}
	}
	t.Logf("received %d, sent %d bytes: %.3f s, %.0f Mbit/s received", s.BytesReceived, s.BytesSent, s.DurationS, s.RecvMbitS)
	return s
}

// TestNCEndToEnd builds the command and runs it in labs whose client side
// belongs to the userspace stack, against the kernel's TCP on the server
// side, and over a TUN device.
func TestNCEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, AF_PACKET)")
	}
	for _, tool := range []string{"ip", "ethtool", "sysctl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	bin := buildNC(t, t.TempDir())
	t.Run("lab", func(t *testing.T) { testNCLab(t, bin) })
	t.Run("offload", func(t *testing.T) { testNCOffload(t, bin) })
	t.Run("tun", func(t *testing.T) { testNCTUN(t, bin) })
}

func testNCLab(t *testing.T, bin string) {
	l := ncLab(t, false, true)
	data := randBytes(t, 4<<20)

	t.Run("send", func(t *testing.T) {
		ncSend(t, bin, l, data)
	})
	t.Run("send-reno-q0", func(t *testing.T) {
		// -q 0 quits once the data is acknowledged (the kernel sink
		// closes too, so either way the transfer is complete).
		s := ncSend(t, bin, l, data[:1<<20], "--cc", "reno", "-q", "0")
		if s.TCP.CC != "reno" {
			t.Errorf("cc %q, want reno", s.TCP.CC)
		}
	})
	t.Run("send-bbr", func(t *testing.T) {
		if !ccValid("bbr") {
			t.Skip("tcp has no BBR")
		}
		if s := ncSend(t, bin, l, data, "--cc", "bbr"); s.TCP.CC != "bbr" || s.TCP.BBR == nil || s.TCP.BBR.BtlBw <= 0 {
			t.Errorf("tcp %+v", s.TCP)
		}
	})
	t.Run("send-ipv6", func(t *testing.T) {
		// Dual-stack --addr; the destination picks the family.
		ap, sink := kernelSink(t, l, lab.Server, l.ServerAddr6(1))
		args := ncArgs(l, "--addr", netip.PrefixFrom(l.ClientAddr6(1), 64).String(), ap.Addr().String(), fmt.Sprint(ap.Port()))
		code, _, errOut := runNCBin(t, bin, l, bytes.NewReader(data), args...)
		res := <-sink
		want := sha256.Sum256(data)
		if code != exitOK || res.n != int64(len(data)) || !bytes.Equal(res.sum, want[:]) {
			t.Fatalf("exit %d, kernel received %d bytes (%v)\n%s", code, res.n, res.err, errOut)
		}
		if s := lastJSON(t, errOut); s.BytesSent != int64(len(data)) || !strings.HasPrefix(s.Local, "[fd00:198:18:1::1]:") || s.TCP.MSS != 1440 {
			t.Errorf("summary %+v", s)
		}
	})
	t.Run("listen", func(t *testing.T) {
		// 4 MiB from the kernel to stdout, and 1 MiB from stdin back.
		ncReceive(t, bin, l, data, data[:1<<20])
	})
	t.Run("refused", func(t *testing.T) {
		args := ncArgs(l, "-w", "10", l.ServerAddr(1).String(), "9")
		code, out, errOut := runNCBin(t, bin, l, strings.NewReader("x"), args...)
		if code != exitFailure || len(out) != 0 || !strings.Contains(errOut, "connect to 198.18.1.2:9: connection refused") {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and connection refused", code, out, errOut)
		}
		if s := lastJSON(t, errOut); s.ExitCode != exitFailure || !strings.Contains(s.Error, "refused") {
			t.Errorf("summary %+v", s)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		// Nobody has 198.18.1.77: ARP goes unanswered.
		start := time.Now()
		code, _, errOut := runNCBin(t, bin, l, nil, ncArgs(l, "-w", "0.5", "198.18.1.77", "80")...)
		if code != exitFailure || !strings.Contains(errOut, "timed out after 500ms") || time.Since(start) > 10*time.Second {
			t.Errorf("exit %d after %v, stderr %q", code, time.Since(start), errOut)
		}
	})
	t.Run("no-route", func(t *testing.T) {
		code, _, errOut := runNCBin(t, bin, l, nil, ncArgs(l, "192.0.2.1", "80")...)
		if code != exitFailure || !strings.Contains(errOut, "no route to host") || !strings.Contains(errOut, "--gw") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("kernel-owns-addr", func(t *testing.T) {
		// In the server namespace the kernel has 198.18.1.2: refuse.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := l.Command(ctx, lab.Server, bin, "nc", "--iface", l.Iface(lab.Server, 1), "--addr", "198.18.1.2/24", "198.18.1.1", "80")
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != exitFailure || !strings.Contains(string(out), "198.18.1.2 is the kernel's address on "+l.Iface(lab.Server, 1)) ||
			!strings.Contains(string(out), "RST") {
			t.Errorf("%v: %s", err, out)
		}
	})
	t.Run("interrupt", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := l.Command(ctx, lab.Client, bin, ncArgs(l, "-l", "-v", "5002")...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // "ip netns exec" execs nc: the pid is nc's
		start := time.Now()
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != exitFailure || !strings.Contains(errb.String(), "mptcp nc: interrupted") || time.Since(start) > 5*time.Second {
			t.Errorf("after SIGINT: %v after %v, stderr %q", err, time.Since(start), errb.String())
		}
	})
}

// testNCOffload runs transfers with --offload on a lab whose veths keep
// TSO/GSO on: our super-frames go out whole, the kernel's come in whole.
func testNCOffload(t *testing.T, bin string) {
	l := ncLab(t, true, false)
	data := randBytes(t, 16<<20)
	s := ncSend(t, bin, l, data, "--offload")
	if s.Link == nil || s.Link.SuperOut == 0 {
		t.Errorf("no super-frames written with --offload: %+v", s.Link)
	}
	r := ncReceive(t, bin, l, data, nil, "--offload")
	t.Logf("receive: %d super-frames split", r.Link.SuperIn)

	// Without --offload the kernel's SYN-ACK has a partial checksum
	// (veth transmit offload): the stack drops it, the handshake never
	// completes, and nc says why.
	ap, _ := kernelSink(t, l, lab.Server, l.ServerAddr(1))
	code, _, errOut := runNCBin(t, bin, l, nil, ncArgs(l, "-w", "1.5", ap.Addr().String(), fmt.Sprint(ap.Port()))...)
	if code != exitFailure || !strings.Contains(errOut, "bad checksums") || !strings.Contains(errOut, "use --offload") {
		t.Errorf("without --offload on an offloading veth: exit %d, stderr %q", code, errOut)
	}
}

// testNCTUN runs nc over a TUN device whose other side is the kernel, in a
// namespace of its own.
func testNCTUN(t *testing.T, bin string) {
	ns := fmt.Sprintf("nctun%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	// A persistent device with the kernel's address; nc brings it up.
	for _, c := range [][]string{{"link", "set", "lo", "up"}, {"tuntap", "add", "dev", "nct0", "mode", "tun"},
		{"addr", "add", "10.9.0.1/24", "dev", "nct0"}} {
		if out, err := exec.Command("ip", append([]string{"-n", ns}, c...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", c, err, out)
		}
	}
	var ln net.Listener
	if err := lab.DoNS(ns, func() error {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(false)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", "10.9.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := randBytes(t, 4<<20)
	for _, offload := range []bool{false, true} {
		sink := make(chan sinkResult, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				sink <- sinkResult{err: err}
				return
			}
			defer c.Close()
			h := sha256.New()
			n, err := io.Copy(h, c)
			sink <- sinkResult{sum: h.Sum(nil), n: n, err: err}
		}()
		args := []string{"netns", "exec", ns, bin, "nc", "--json", "--tun", "nct0", "--addr", "10.9.0.2/24"}
		if offload {
			args = append(args, "--offload")
		}
		port := ln.Addr().(*net.TCPAddr).Port
		cmd := exec.Command("ip", append(args, "10.9.0.1", fmt.Sprint(port))...)
		var errb bytes.Buffer
		cmd.Stdin, cmd.Stderr = bytes.NewReader(data), &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("offload=%v: %v\n%s", offload, err, errb.String())
		}
		res := <-sink
		want := sha256.Sum256(data)
		if res.err != nil || res.n != int64(len(data)) || !bytes.Equal(res.sum, want[:]) {
			t.Fatalf("offload=%v: kernel received %d bytes (%v), want %d", offload, res.n, res.err, len(data))
		}
		s := lastJSON(t, errb.String())
		if s.BytesSent != int64(len(data)) || s.Link == nil || s.Link.Name != "nct0" || offload && s.Link.SuperOut == 0 {
			t.Errorf("offload=%v: summary %+v link %+v", offload, s, s.Link)
		}
		t.Logf("TUN offload=%v: %.0f Mbit/s", offload, s.GoodputMbitS)
	}
}

// TestNCBufferFlags: --sndbuf and --rcvbuf reach the connection's limits:
// MPTCP's connection-level buffers (each subflow's out-of-order data is
// bounded by the connection's window), or plain TCP's buffers with their
// autotuning capped.
func TestNCBufferFlags(t *testing.T) {
	base := ncFlags{iface: "eth9", cc: "cubic", mode: "default", addrs: prefixList{netip.MustParsePrefix("198.18.1.1/24")}}
	f := base
	f.sndbuf.n, f.rcvbuf.n = 256<<10, 64<<10
	cfg, err := f.validate([]string{"198.18.1.2", "80"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.sndbuf != 256<<10 || cfg.rcvbuf != 64<<10 {
		t.Fatalf("sndbuf %d rcvbuf %d", cfg.sndbuf, cfg.rcvbuf)
	}
	if tc := cfg.tcpConfig(); tc.ReceiveBufferMax != 0 || tc.SendBufferMax != 0 {
		t.Fatalf("MPTCP subflows' TCP buffers set directly: %+v", tc)
	}
	f.plainTCP = true
	cfg, err = f.validate([]string{"198.18.1.2", "80"})
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.tcpConfig()
	if tc.ReceiveBufferMax != 64<<10 || tc.ReceiveBufferSize != 64<<10 || tc.SendBufferMax != 256<<10 || tc.SendBufferSize != 256<<10 {
		t.Fatalf("--tcp buffers: receive %d/%d send %d/%d", tc.ReceiveBufferSize, tc.ReceiveBufferMax, tc.SendBufferSize, tc.SendBufferMax)
	}
	cfg, err = base.validate([]string{"198.18.1.2", "80"})
	if err != nil {
		t.Fatal(err)
	}
	if tc := cfg.tcpConfig(); cfg.sndbuf != 0 || cfg.rcvbuf != 0 || tc.ReceiveBufferMax != 0 {
		t.Fatalf("defaults changed: %+v %+v", cfg, tc)
	}
}
