package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/link/emu"
)

// runCLI runs the CLI in-process and returns exit code, stdout, stderr.
func runLabCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	code := run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestLabHelp(t *testing.T) {
	code, out, errOut := runLabCLI(t, "lab", "--help")
	if code != exitOK || strings.Count(out, "Usage: mptcp lab") != 1 || errOut != "" {
		t.Errorf("lab --help: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Every subcommand: usage once on stdout, nothing on stderr, exit 0,
	// whether --help comes first or after other arguments.
	for _, sub := range []string{"up", "down", "exec", "status", "list", "link", "emulate"} {
		for _, args := range [][]string{{"lab", sub, "--help"}, {"lab", sub, "x", "-h"}} {
			code, out, errOut := runLabCLI(t, args...)
			if n := strings.Count(out, "Usage: mptcp lab "+sub+" "); code != exitOK || n != 1 || errOut != "" {
				t.Errorf("%v: exit %d, usage %d times on stdout, stderr %q", args, code, n, errOut)
			}
		}
	}
	_, out, _ = runLabCLI(t, "lab", "up", "--help")
	for _, want := range []string{"198.18.I.1/24", "-path", "-rate", "-client", "down@2s", "-announce", "ADD_ADDR"} {
		if !strings.Contains(out, want) {
			t.Errorf("lab up --help lacks %q", want)
		}
	}
}

func TestLabUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"lab"},
		{"lab", "bogus"},
		{"lab", "up"},
		{"lab", "up", "a", "b"},
		{"lab", "up", "x", "--loss", "300%"},
		{"lab", "up", "x", "--rate", "fast"},
		{"lab", "up", "x", "--path", "wifi:speed=1"},
		{"lab", "up", "x", "--client", "magic"},
		{"lab", "up", "x", "--announce", "--server", "user"},
		{"lab", "up", "x", "--announce=maybe"},
		{"lab", "up", "x", "--paths", "1", "--path", "a:", "--path", "b:"},
		{"lab", "up", "bad name!"},
		{"lab", "up", "x", "--nope"},
		{"lab", "exec", "x"},
		{"lab", "status"},
		{"lab", "down"},
		{"lab", "down", "bad/name"},
		{"lab", "list", "extra"},
		{"lab", "link", "x", "1", "sideways"},
		{"lab", "emulate", "x"},
	} {
		code, _, errOut := runLabCLI(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, errOut)
		}
	}
}

func TestLabUpFlagsConfig(t *testing.T) {
	tests := []struct {
		name  string
		flags labUpFlags
		check func(lab.Config) error
	}{
		{"defaults", labUpFlags{client: "kernel", server: "kernel"}, func(c lab.Config) error {
			if len(c.Paths) != 2 || c.Paths[0].Name != "wifi" || c.Paths[1].Name != "cellular" || c.Paths[0].Emulated() {
				return fmt.Errorf("paths %+v", c.Paths)
			}
			return nil
		}},
		{"global", labUpFlags{paths: 3, rate: "50mbit", delay: "20ms", loss: "1%", client: "user", server: "kernel"},
			func(c lab.Config) error {
				want := emu.Spec{Rate: 50e6, Delay: 20 * time.Millisecond, Loss: 0.01}
				if len(c.Paths) != 3 || c.Paths[2].Name != "path3" || c.Paths[2].Up.String() != want.String() ||
					c.Paths[2].Down.String() != want.String() || c.ClientMode != lab.User {
					return fmt.Errorf("config %+v", c)
				}
				return nil
			}},
		{"per-path", labUpFlags{client: "kernel", server: "kernel", delay: "5ms",
			path: multiFlag{"cellular:rate=10mbit,delay=40ms,loss=1%", "wifi:rate=50mbit,dl.down@2s"}},
			func(c lab.Config) error {
				if got := c.Paths[1].Up.String(); got != "rate=10mbit,delay=40ms,loss=1%" {
					return fmt.Errorf("cellular up %q", got)
				}
				if c.Paths[0].Up.String() != "rate=50mbit,delay=5ms" || c.Paths[0].Down.String() != "rate=50mbit,delay=5ms,down@2s" {
					return fmt.Errorf("wifi %q / %q", c.Paths[0].Up.String(), c.Paths[0].Down.String())
				}
				return nil
			}},
		{"renamed", labUpFlags{client: "kernel", server: "kernel", path: multiFlag{"lte:rate=5mbit", "wlan:"}},
			func(c lab.Config) error {
				if c.Paths[0].Name != "lte" || c.Paths[1].Name != "wlan" || c.Paths[0].Up.Rate != 5e6 {
					return fmt.Errorf("paths %+v", c.Paths)
				}
				return nil
			}},
		{"spec", labUpFlags{client: "kernel", server: "kernel", spec: "jitter=2ms,burst=1%/30%"},
			func(c lab.Config) error {
				if c.Paths[1].Down.Jitter != 2*time.Millisecond || !c.Paths[1].Down.Burst.Enabled() {
					return fmt.Errorf("paths %+v", c.Paths)
				}
				return nil
			}},
	}
	for _, tc := range tests {
		cfg, err := tc.flags.config("demo")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if err := tc.check(cfg); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestLabArityErrors checks the message of each lab subcommand given the
// wrong number of arguments (or a bad flag): one line on stderr naming the
// subcommand (the flag package's message and the usage for a bad flag),
// nothing on stdout, exit 2.
func TestLabArityErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lab", "up"}, "mptcp lab up: want exactly one NAME\n"},
		{[]string{"lab", "up", "a", "b"}, "mptcp lab up: want exactly one NAME\n"},
		{[]string{"lab", "down"}, "mptcp lab down: want exactly one NAME\n"},
		{[]string{"lab", "down", "a", "b"}, "mptcp lab down: want exactly one NAME\n"},
		{[]string{"lab", "status", "--json"}, "mptcp lab status: want exactly one NAME\n"},
		{[]string{"lab", "exec", "x", "client"}, "mptcp lab exec: want NAME SIDE -- CMD...\n"},
		{[]string{"lab", "exec", "x", "client", "--"}, "mptcp lab exec: want NAME SIDE -- CMD...\n"},
		{[]string{"lab", "list", "extra"}, "mptcp lab list: takes no arguments\n"},
		{[]string{"lab", "link", "x", "1"}, "mptcp lab link: want NAME PATH down|up\n"},
		{[]string{"lab", "link", "x", "1", "down", "now"}, "mptcp lab link: want NAME PATH down|up\n"},
		{[]string{"lab", "link", "x", "1", "sideways"}, "mptcp lab link: want NAME PATH down|up\n"},
		{[]string{"lab", "emulate", "x"}, "mptcp lab emulate: want NAME PATH\n"},
		{[]string{"lab", "emulate", "x", "1", "2"}, "mptcp lab emulate: want NAME PATH\n"},
	} {
		code, out, errOut := runLabCLI(t, tc.args...)
		if code != exitUsage || out != "" || errOut != tc.want {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, stderr %q", tc.args, code, out, errOut, exitUsage, tc.want)
		}
	}
	for _, sub := range []string{"up", "down", "exec", "status", "list", "link", "emulate"} {
		code, out, errOut := runLabCLI(t, "lab", sub, "--no-such-flag")
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, "flag provided but not defined: -no-such-flag\n") ||
			strings.Count(errOut, "Usage: mptcp lab "+sub+" ") != 1 {
			t.Errorf("lab %s --no-such-flag: exit %d, stdout %q, stderr %q", sub, code, out, errOut)
		}
	}
}

// TestLabUpAnnounceFlag checks that --announce, wherever it appears on the
// command line, reaches lab.Config.Announce, and is off by default.
func TestLabUpAnnounceFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"demo"}, false},
		{[]string{"demo", "--announce"}, true},
		{[]string{"--announce", "demo", "--paths", "3"}, true},
		{[]string{"-announce=true", "demo"}, true},
		{[]string{"demo", "--announce=false"}, false},
	} {
		var out, errb bytes.Buffer
		env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
		fs := newFlagSet(env, "lab up", "NAME [flags]", "")
		var f labUpFlags
		f.register(fs)
		pos, code, done := parseFlagsN(fs, env, tc.args, 1, 1, "want exactly one NAME")
		if done {
			t.Fatalf("%q: parse ended the command (exit %d): %s", tc.args, code, errb.String())
		}
		cfg, err := f.config(pos[0])
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if cfg.Announce != tc.want || cfg.Name != "demo" || cfg.ServerMode != lab.Kernel {
			t.Errorf("%q: Announce %v, name %q, server %q; want Announce %v", tc.args, cfg.Announce, cfg.Name, cfg.ServerMode, tc.want)
		}
	}
	// Announcing is the kernel server's business: a user server has no
	// endpoints to announce, so the combination is a usage error.
	_, err := (&labUpFlags{client: "kernel", server: "user", announce: true}).config("demo")
	if err == nil || !strings.Contains(err.Error(), "--announce") {
		t.Errorf("--announce --server user: err %v, want an error naming --announce", err)
	}
}

// FuzzLabUpPathFlag feeds --path values through the flag-to-config path:
// never a panic, and whatever is accepted is a valid config.
func FuzzLabUpPathFlag(f *testing.F) {
	for _, s := range []string{"wifi:rate=50mbit,delay=10ms", "cellular:rate=10mbit,delay=40ms,loss=1%",
		"lte:ul.rate=5mbit,dl.down@2s", "x:", "wifi:burst=1%/25%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl := labUpFlags{client: "kernel", server: "kernel", path: multiFlag{s}}
		cfg, err := fl.config("fz")
		if err != nil {
			return
		}
		for _, p := range cfg.Paths {
			if p.Up.Validate() != nil || p.Down.Validate() != nil {
				t.Fatalf("%q gave invalid path %+v", s, p)
			}
		}
	})
}

const emulateHelperEnv = "MPTCP_LAB_TEST_EMULATE_HELPER"

// TestLabEmulateHelper is not a test: "lab up" in TestLabCLIEndToEnd
// starts this test binary as its detached emulator, and this function
// then runs the CLI with the arguments after "--".
func TestLabEmulateHelper(t *testing.T) {
	if os.Getenv(emulateHelperEnv) != "1" {
		t.Skip("helper process for TestLabCLIEndToEnd")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, &cmdEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, args)
	stop()
	os.Exit(code)
}

func TestLabCLIEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "ethtool", "sysctl", "ss", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	t.Setenv(emulateHelperEnv, "1")
	dir := filepath.Join(t.TempDir(), "state")
	name := fmt.Sprintf("clit%d", os.Getpid()%100000)
	sd := "--state-dir=" + dir
	t.Cleanup(func() { lab.Down(context.Background(), dir, name) })
	code, out, errOut := runLabCLI(t, "lab", "up", name, sd, "--announce", "--path", "wifi:delay=5ms,loss=0%",
		"--emulator-argv", os.Args[0]+" -test.run=^TestLabEmulateHelper$ --")
	if code != exitOK {
		t.Fatalf("up: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"198.18.1.1/24", "198.18.2.2/24", "emulator wifi (running", name + "-p2"} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
	st, err := lab.LoadState(dir, name)
	if err != nil || st.Paths[0].EmulatorPID == 0 {
		t.Fatalf("state %+v, %v", st, err)
	}
	pid := st.Paths[0].EmulatorPID

	// exec returns the command's exit code and runs inside the namespace.
	if code, _, _ := runLabCLI(t, "lab", "exec", sd, name, "client", "--", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exec exit code %d, want 3", code)
	}
	code, out, _ = runLabCLI(t, "lab", "exec", sd, name, "server", "--", "ip", "-4", "-o", "addr")
	if code != exitOK || !strings.Contains(out, "198.18.1.2/24") {
		t.Errorf("exec ip addr: %d %q", code, out)
	}
	// --announce: the server has a "signal" endpoint for path 2's address.
	code, out, _ = runLabCLI(t, "lab", "exec", sd, name, "server", "--", "ip", "mptcp", "endpoint", "show")
	if code != exitOK || !strings.Contains(out, "198.18.2.2 id 2 signal") {
		t.Errorf("server endpoints with --announce: %d %q", code, out)
	}
	// Traffic through the emulated path, counted in status.
	code, out, _ = runLabCLI(t, "lab", "exec", sd, name, "client", "--", "bash", "-c",
		"echo hi > /dev/udp/198.18.1.2/9; echo hi > /dev/udp/198.18.1.2/9; sleep 0.7")
	if code != exitOK {
		t.Errorf("exec udp: %d %s", code, out)
	}
	code, out, _ = runLabCLI(t, "lab", "status", sd, "--json", name)
	var s lab.Status
	if code != exitOK || json.Unmarshal([]byte(out), &s) != nil {
		t.Fatalf("status --json: %d %q", code, out)
	}
	if len(s.Paths) != 2 || s.Paths[0].Stats == nil || !s.Paths[0].EmulatorAlive || s.Paths[0].Stats.AtoB.Received == 0 {
		t.Errorf("status: %+v", s.Paths)
	}
	if code, _, errOut := runLabCLI(t, "lab", "link", sd, name, "wifi", "down"); code != exitOK {
		t.Errorf("link down: %d %s", code, errOut)
	}
	if code, _, errOut := runLabCLI(t, "lab", "link", sd, name, "2", "down"); code != exitOK {
		t.Errorf("link down bridged path: %d %s", code, errOut)
	}
	code, out, _ = runLabCLI(t, "lab", "list", sd)
	if code != exitOK || strings.TrimSpace(out) != name {
		t.Errorf("list: %d %q", code, out)
	}
	if code, _, errOut := runLabCLI(t, "lab", "down", sd, name); code != exitOK {
		t.Fatalf("down: %d %s", code, errOut)
	}
	if _, err := os.Stat("/run/netns/" + name + "-cli"); err == nil {
		t.Error("client namespace left after down")
	}
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(pid, 0); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(b), ") Z") {
			t.Errorf("emulator %d still running after down", pid)
		}
	}
	if code, _, _ := runLabCLI(t, "lab", "status", sd, name); code != exitFailure {
		t.Errorf("status of a removed lab: exit %d, want 1", code)
	}
	if code, _, _ := runLabCLI(t, "lab", "down", sd, name); code != exitOK {
		t.Errorf("second down: exit %d", code)
	}
}

func TestWriteStatus(t *testing.T) {
	st := &lab.Status{
		Name: "demo", ClientNS: "demo-cli", ServerNS: "demo-srv", ClientMode: lab.Kernel, ServerMode: lab.User,
		Paths: []lab.PathStatus{
			{PathState: lab.PathState{Index: 1, Name: "wifi", Namespace: "demo-p1", ClientIface: "wifi", ServerIface: "wifi",
				ClientAddr: lab.ClientAddrOf(1), ServerAddr: lab.ServerAddrOf(1), Prefix: 24, Middle: "emulator",
				Up: emu.Spec{Rate: 50e6, Delay: 10 * time.Millisecond}, Down: emu.Spec{Delay: 10 * time.Millisecond, Strip: emu.StripSYNACK}},
				EmulatorAlive: true,
				Stats: &emu.Stats{Uptime: 2500 * time.Millisecond,
					AtoB: emu.DirStats{Forwarded: 10, ForwardedBytes: 15000, DroppedLoss: 2, QueueHigh: 3},
					BtoA: emu.DirStats{Forwarded: 5, ForwardedBytes: 300, Down: true, DroppedDown: 1,
						MiddleboxStats: emu.MiddleboxStats{Stripped: 1, StrippedOptions: 1}, Spec: emu.Spec{Strip: emu.StripSYNACK}}}},
			{PathState: lab.PathState{Index: 2, Name: "cellular", Namespace: "demo-p2", ClientIface: "cellular", ServerIface: "cellular",
				ClientAddr: lab.ClientAddrOf(2), ServerAddr: lab.ServerAddrOf(2), Prefix: 24, Middle: "bridge"}},
		},
		ClientMPTCP: &lab.MPTCPState{
			Sockets: []lab.MPTCPSocket{{State: "ESTAB", Local: netip.MustParseAddrPort("198.18.1.1:40000"),
				Remote: netip.MustParseAddrPort("198.18.1.2:5201"), Token: "0a0b0c0d", Subflows: 1, BytesSent: 100, BytesReceived: 20}},
			Endpoints: []lab.MPTCPEndpoint{{ID: 2, Addr: lab.ClientAddrOf(2), Interface: "cellular", Flags: []string{"subflow"}}},
			Limits:    lab.MPTCPLimits{Subflows: 8, AddAddrAccepted: 8}},
		ServerMPTCPError: "sock_diag: no such file",
		Missing:          []string{"demo-p2"},
	}
	var b bytes.Buffer
	writeStatus(&b, st)
	want := `lab demo: client demo-cli (kernel), server demo-srv (user)
PATH  IFACE     CLIENT         SERVER         NAMESPACE  MIDDLE    SETTINGS
1     wifi      198.18.1.1/24  198.18.1.2/24  demo-p1    emulator  ul: rate=50mbit,delay=10ms; dl: delay=10ms,strip=synack
2     cellular  198.18.2.1/24  198.18.2.2/24  demo-p2    bridge    -
emulator wifi (running, up 2.5s):
  ul: fwd 10 pkts 15000 bytes; drop down 0 queue 0 loss 2 burst 0 txerr 0 rx 0 oversize 0; queue high 3
  dl DOWN: fwd 5 pkts 300 bytes; drop down 1 queue 0 loss 0 burst 0 txerr 0 rx 0 oversize 0; queue high 0; middlebox stripped 1 segments (1 options), rewrote 0 bytes
client MPTCP: 1 connections, 0 listening; limits subflows 8, add_addr_accepted 8
  endpoint 2 198.18.2.1 dev cellular subflow
  ESTAB 198.18.1.1:40000 -> 198.18.1.2:5201 token 0a0b0c0d, 1 subflows (+ the initial one), sent 100 B, received 20 B, retransmitted 0 B
server MPTCP: cannot read the kernel's state: sock_diag: no such file
MISSING namespace demo-p2
`
	if b.String() != want {
		t.Errorf("status output:\n%s\nwant:\n%s", b.String(), want)
	}
}
