package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/link/emu"
)

const labUsage = `Usage: mptcp lab SUBCOMMAND [flags] [args]

Network-namespace labs: a client and a server namespace joined by N paths,
each through a middle namespace that bridges it or runs the link emulator.

Subcommands:
  up NAME       create a lab (removes leftovers of an earlier one of that name)
  down NAME     remove everything "up" made
  exec NAME SIDE -- CMD...
                run CMD in the client, server or pI (middle of path I)
                namespace; exits with CMD's exit code
  status NAME   namespaces, addresses, link settings, emulator counters, the kernel's MPTCP
                connections, endpoints and limits (through netlink)
  list          the labs that exist
  link NAME PATH down|up
                start or end an outage of a path (by name or number)

Run 'mptcp lab SUBCOMMAND --help' for its flags. Needs root.
`

// runLab dispatches "mptcp lab SUBCOMMAND".
func runLab(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, labUsage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.stdout, labUsage)
		return exitOK
	case "up":
		return labUp(ctx, env, args[1:])
	case "down":
		return labDown(ctx, env, args[1:])
	case "exec":
		return labExec(ctx, env, args[1:])
	case "status":
		return labStatus(ctx, env, args[1:])
	case "list":
		return labList(env, args[1:])
	case "link":
		return labLink(env, args[1:])
	case "emulate":
		return labEmulate(ctx, env, args[1:])
	}
	fmt.Fprintf(env.stderr, "mptcp lab: unknown subcommand %q\n\n%s", args[0], labUsage)
	return exitUsage
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// labUpFlags are "lab up"'s flags, parsed into a lab.Config by config.
type labUpFlags struct {
	paths          int
	rate           string
	delay, jitter  string
	loss           string
	spec           string
	path           multiFlag
	client, server string
	offload        bool
	ipv6           bool
	announce       bool
	seed           uint64
	stateDir       string
	emulatorArgv   string
}

func (f *labUpFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.paths, "paths", 0, "number of paths (default 2, or the number of --path flags)")
	fs.StringVar(&f.rate, "rate", "", "rate of every path, each direction (e.g. 50mbit)")
	fs.StringVar(&f.delay, "delay", "", "one-way delay of every path (e.g. 20ms)")
	fs.StringVar(&f.jitter, "jitter", "", "delay jitter of every path (e.g. 2ms)")
	fs.StringVar(&f.loss, "loss", "", "random loss of every path, each direction (e.g. 1%)")
	fs.StringVar(&f.spec, "spec", "", "more settings for every path: KEY=VALUE,... (see below)")
	fs.Var(&f.path, "path", "per-path settings NAME:KEY=VALUE,... (repeatable; a new NAME renames the next default path)")
	fs.StringVar(&f.client, "client", "kernel", "client side: kernel (addresses, kernel MPTCP) or user (no addresses, for the userspace stack)")
	fs.StringVar(&f.server, "server", "kernel", "server side: kernel or user")
	fs.BoolVar(&f.offload, "offload", false, "keep TSO/GSO/GRO on bridged paths' interfaces")
	fs.BoolVar(&f.ipv6, "ipv6", false, "also give each path IPv6 addresses fd00:198:18:I::1 and ::2 (/64)")
	fs.BoolVar(&f.announce, "announce", false, "kernel server announces its addresses on paths 2..N with ADD_ADDR (to see ADD_ADDR on the wire; the kernel client joins every path anyway)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the emulators' random loss, jitter and reordering")
	fs.StringVar(&f.stateDir, "state-dir", lab.DefaultStateDir, "where labs are recorded")
	fs.StringVar(&f.emulatorArgv, "emulator-argv", "", "command that runs 'lab emulate' (default: this executable); space-separated")
}

// config turns the flags and the lab name into a lab.Config.
func (f *labUpFlags) config(name string) (lab.Config, error) {
	var base emu.Spec
	add := func(key, val string) error {
		if val == "" {
			return nil
		}
		return base.ApplyOption(key + "=" + val)
	}
	for _, kv := range [][2]string{{"rate", f.rate}, {"delay", f.delay}, {"jitter", f.jitter}, {"loss", f.loss}} {
		if err := add(kv[0], kv[1]); err != nil {
			return lab.Config{}, fmt.Errorf("--%s: %w", kv[0], err)
		}
	}
	if f.spec != "" {
		s, err := lab.ParsePathSpec("x:"+f.spec, lab.Symmetric("x", base))
		if err != nil {
			return lab.Config{}, fmt.Errorf("--spec: %w", err)
		}
		base = s.Up
		if err := base.Validate(); err != nil {
			return lab.Config{}, err
		}
		if s.Up.String() != s.Down.String() {
			return lab.Config{}, errors.New("--spec: ul./dl. prefixes only in --path")
		}
	}
	n := f.paths
	if n == 0 {
		n = max(2, len(f.path))
	}
	if n < 1 || n > lab.MaxPaths {
		return lab.Config{}, fmt.Errorf("--paths %d: want 1..%d", n, lab.MaxPaths)
	}
	if len(f.path) > n {
		return lab.Config{}, fmt.Errorf("%d --path flags for %d paths", len(f.path), n)
	}
	paths := make([]lab.PathSpec, n)
	assigned := make([]bool, n)
	for i := range paths {
		paths[i] = lab.Symmetric(lab.DefaultPathName(i+1), base)
	}
	for _, text := range f.path {
		name, _, _ := strings.Cut(text, ":")
		idx := -1
		for i, p := range paths {
			if p.Name == name && !assigned[i] {
				idx = i
				break
			}
		}
		if idx < 0 {
			for i := range paths {
				if !assigned[i] {
					idx = i
					break
				}
			}
		}
		p, err := lab.ParsePathSpec(text, lab.Symmetric(name, base))
		if err != nil {
			return lab.Config{}, fmt.Errorf("--path: %w", err)
		}
		paths[idx], assigned[idx] = p, true
	}
	cfg := lab.Config{Name: name, Paths: paths, ClientMode: lab.Mode(f.client), ServerMode: lab.Mode(f.server),
		Offload: f.offload, IPv6: f.ipv6, Announce: f.announce, Seed: f.seed, StateDir: f.stateDir}
	for _, m := range []lab.Mode{cfg.ClientMode, cfg.ServerMode} {
		if m != lab.Kernel && m != lab.User {
			return lab.Config{}, fmt.Errorf("mode %q: want kernel or user", m)
		}
	}
	if cfg.Announce && cfg.ServerMode != lab.Kernel {
		return lab.Config{}, errors.New("--announce needs --server kernel (a user server has no kernel MPTCP endpoints)")
	}
	return cfg, nil
}

func labUp(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "lab up", "NAME [flags]", `
Create lab NAME: namespaces NAME-cli and NAME-srv joined by N paths, path I
through namespace NAME-pI. Addresses: client 198.18.I.1/24, server
198.18.I.2/24 on the interface named after the path (wifi, cellular, path3...).
Kernel sides get per-source routing and MPTCP endpoints so that
kernel-to-kernel MPTCP uses every path. Paths with settings run the link
emulator (a detached 'mptcp lab emulate' process); others are bridges.

Settings (--spec, --path): rate=50mbit delay=20ms jitter=2ms loss=1%
reorder=1% reorder-delay=2ms queue=256 burst=P/R[/LOSSBAD[/LOSSGOOD]]
(Gilbert-Elliott); events: down@2s up@5s rate=5mbit@3s delay=80ms@3s
loss=5%@3s. Middleboxes: strip=synack (also syn, ack, data, all, joined
by +) overwrites MPTCP options with NOPs in those segments; rewrite=N
changes the Nth payload byte of each connection once. Both fix the TCP
checksum. In --path, prefix a key with ul. (client to server) or dl.
(server to client) for one direction.

Example:
  mptcp lab up demo --path wifi:rate=50mbit,delay=10ms,down@10s,up@20s \
                    --path cellular:rate=10mbit,delay=40ms,loss=1%`)
	var f labUpFlags
	f.register(fs)
	jsonOut := fs.Bool("json", false, "print the lab's status as JSON")
	pos, code, done := parseFlagsN(fs, env, args, 1, 1, "want exactly one NAME")
	if done {
		return code
	}
	cfg, err := f.config(pos[0])
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp lab up: %v\n", err)
		return exitUsage
	}
	if f.emulatorArgv != "" {
		cfg.EmulatorCommand = strings.Fields(f.emulatorArgv)
	} else {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(env.stderr, "mptcp lab up: %v\n", err)
			return exitFailure
		}
		cfg.EmulatorCommand = []string{exe}
	}
	cfg.EmulatorCommand = append(cfg.EmulatorCommand, "lab", "emulate")
	cfg.Logger = slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := lab.Up(ctx, cfg)
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp lab up: %v\n", err)
		if errors.Is(err, lab.ErrBadConfig) {
			return exitUsage
		}
		return exitFailure
	}
	return printStatus(ctx, env, l, *jsonOut)
}

func nameFlags(env *cmdEnv, sub, usageLine, desc string) (*flag.FlagSet, *string) {
	fs := newFlagSet(env, "lab "+sub, usageLine, desc)
	dir := fs.String("state-dir", lab.DefaultStateDir, "where labs are recorded")
	return fs, dir
}

func labDown(ctx context.Context, env *cmdEnv, args []string) int {
	fs, dir := nameFlags(env, "down", "NAME", "Remove lab NAME: its emulators, namespaces, veths and record. Removing a lab that does not exist succeeds.")
	pos, code, done := parseFlagsN(fs, env, args, 1, 1, "want exactly one NAME")
	if done {
		return code
	}
	if err := lab.Down(ctx, *dir, pos[0]); err != nil {
		fmt.Fprintf(env.stderr, "mptcp lab down: %v\n", err)
		if errors.Is(err, lab.ErrBadConfig) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

func openLab(env *cmdEnv, sub, dir, name string) (*lab.Lab, int) {
	l, err := lab.Open(dir, name)
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp lab %s: %v\n", sub, err)
		return nil, exitFailure
	}
	return l, exitOK
}

func labExec(ctx context.Context, env *cmdEnv, args []string) int {
	fs, dir := nameFlags(env, "exec", "NAME client|server|pI -- CMD [ARGS...]",
		"Run CMD inside a namespace of lab NAME and exit with its exit code.")
	pos, code, done := parseFlagsN(fs, env, args, 3, -1, "want NAME SIDE -- CMD...")
	if done {
		return code
	}
	l, code := openLab(env, "exec", *dir, pos[0])
	if l == nil {
		return code
	}
	side := lab.Side(pos[1])
	if l.Namespace(side) == "" {
		fmt.Fprintf(env.stderr, "mptcp lab exec: side %q: want client, server or p1..p%d\n", side, l.NumPaths())
		return exitUsage
	}
	cmd := l.Command(ctx, side, pos[2], pos[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.stdin, env.stdout, env.stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if c := ee.ExitCode(); c >= 0 {
			return c
		}
		return exitFailure
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp lab exec: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func labStatus(ctx context.Context, env *cmdEnv, args []string) int {
	fs, dir := nameFlags(env, "status", "NAME [--json]",
		"Show lab NAME: namespaces, addresses, link settings, emulator counters, and each kernel side's MPTCP\nconnections (one per connection, with its subflows), path manager endpoints and limits, read from\nthe kernel through netlink (sock_diag with mptcp_diag, the mptcp_pm generic netlink family).")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, done := parseFlagsN(fs, env, args, 1, 1, "want exactly one NAME")
	if done {
		return code
	}
	l, code := openLab(env, "status", *dir, pos[0])
	if l == nil {
		return code
	}
	return printStatus(ctx, env, l, *jsonOut)
}

func printStatus(ctx context.Context, env *cmdEnv, l *lab.Lab, jsonOut bool) int {
	st, err := l.Status(ctx)
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp lab status: %v\n", err)
		return exitFailure
	}
	if jsonOut {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return exitFailure
		}
	} else {
		writeStatus(env.stdout, st)
	}
	if len(st.Missing) > 0 {
		return exitFailure
	}
	return exitOK
}

// writeStatus prints a Status for people.
func writeStatus(w io.Writer, st *lab.Status) {
	fmt.Fprintf(w, "lab %s: client %s (%s), server %s (%s)\n", st.Name, st.ClientNS, st.ClientMode,
		st.ServerNS, st.ServerMode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tIFACE\tCLIENT\tSERVER\tNAMESPACE\tMIDDLE\tSETTINGS")
	for _, p := range st.Paths {
		settings := "-"
		if p.Middle == "emulator" {
			settings = "ul: " + orDash(p.Up.String()) + "; dl: " + orDash(p.Down.String())
		}
		fmt.Fprintf(tw, "%d\t%s\t%s/%d\t%s/%d\t%s\t%s\t%s\n", p.Index, p.ClientIface, p.ClientAddr, p.Prefix,
			p.ServerAddr, p.Prefix, p.Namespace, p.Middle, settings)
	}
	tw.Flush()
	for _, p := range st.Paths {
		if p.ClientAddr6.IsValid() {
			fmt.Fprintf(w, "path %d IPv6: client %s/64, server %s/64\n", p.Index, p.ClientAddr6, p.ServerAddr6)
		}
	}
	for _, p := range st.Paths {
		if p.Stats == nil {
			continue
		}
		state := "running"
		if !p.EmulatorAlive {
			state = "NOT RUNNING"
		}
		fmt.Fprintf(w, "emulator %s (%s, up %s):\n", p.Name, state, p.Stats.Uptime.Round(1e6))
		for _, d := range []struct {
			dir string
			s   emu.DirStats
		}{{"ul", p.Stats.AtoB}, {"dl", p.Stats.BtoA}} {
			down := ""
			if d.s.Down {
				down = " DOWN"
			}
			mb := ""
			if d.s.Spec.Strip != 0 || d.s.Spec.Rewrite != 0 {
				mb = fmt.Sprintf("; middlebox stripped %d segments (%d options), rewrote %d bytes",
					d.s.Stripped, d.s.StrippedOptions, d.s.Rewritten)
			}
			fmt.Fprintf(w, "  %s%s: fwd %d pkts %d bytes; drop down %d queue %d loss %d burst %d txerr %d rx %d oversize %d; queue high %d%s\n",
				d.dir, down, d.s.Forwarded, d.s.ForwardedBytes, d.s.DroppedDown, d.s.DroppedQueue,
				d.s.DroppedLoss, d.s.DroppedBurst, d.s.DroppedTxError, d.s.DroppedRx, d.s.DroppedOversize, d.s.QueueHigh, mb)
		}
	}
	for _, side := range []struct {
		name string
		st   *lab.MPTCPState
		err  string
	}{{"client", st.ClientMPTCP, st.ClientMPTCPError}, {"server", st.ServerMPTCP, st.ServerMPTCPError}} {
		if side.err != "" {
			fmt.Fprintf(w, "%s MPTCP: cannot read the kernel's state: %s\n", side.name, side.err)
		}
		if side.st == nil {
			continue
		}
		m := side.st
		fmt.Fprintf(w, "%s MPTCP: %d connections, %d listening; limits subflows %d, add_addr_accepted %d\n", side.name,
			m.Connections(), len(m.Sockets)-m.Connections(), m.Limits.Subflows, m.Limits.AddAddrAccepted)
		for _, ep := range m.Endpoints {
			dev := ""
			if ep.Interface != "" {
				dev = " dev " + ep.Interface
			}
			fmt.Fprintf(w, "  endpoint %d %s%s %s\n", ep.ID, ep.Addr, dev, strings.Join(ep.Flags, ","))
		}
		for _, x := range m.Sockets {
			if x.State == "LISTEN" {
				fmt.Fprintf(w, "  listen %v\n", x.Local)
				continue
			}
			fmt.Fprintf(w, "  %s %v -> %v token %s, %d subflows (+ the initial one), sent %d B, received %d B, retransmitted %d B\n",
				x.State, x.Local, x.Remote, x.Token, x.Subflows, x.BytesSent, x.BytesReceived, x.BytesRetrans)
		}
	}
	for _, ns := range st.Missing {
		fmt.Fprintf(w, "MISSING namespace %s\n", ns)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func labList(env *cmdEnv, args []string) int {
	fs, dir := nameFlags(env, "list", "", "List the labs that exist.")
	_, code, done := parseFlagsN(fs, env, args, 0, 0, "takes no arguments")
	if done {
		return code
	}
	names, err := lab.List(*dir)
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp lab list: %v\n", err)
		return exitFailure
	}
	for _, n := range names {
		fmt.Fprintln(env.stdout, n)
	}
	return exitOK
}

func labLink(env *cmdEnv, args []string) int {
	fs, dir := nameFlags(env, "link", "NAME PATH down|up",
		"Start (down) or end (up) an outage of a path, given by name or number: packets vanish, interfaces stay up.")
	const want = "want NAME PATH down|up"
	pos, code, done := parseFlagsN(fs, env, args, 3, 3, want)
	if done {
		return code
	}
	if pos[2] != "down" && pos[2] != "up" {
		return usageError(fs, env, want)
	}
	l, code := openLab(env, "link", *dir, pos[0])
	if l == nil {
		return code
	}
	idx, err := strconv.Atoi(pos[1])
	if err != nil {
		for _, p := range l.State().Paths {
			if p.Name == pos[1] {
				idx = p.Index
			}
		}
	}
	if idx < 1 || idx > l.NumPaths() {
		fmt.Fprintf(env.stderr, "mptcp lab link: no path %q\n", pos[1])
		return exitUsage
	}
	if pos[2] == "down" {
		err = l.SetPathDown(idx)
	} else {
		err = l.SetPathUp(idx)
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp lab link: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// labEmulate is the detached emulator process "lab up" starts inside a
// path's middle namespace; it runs until SIGTERM.
func labEmulate(ctx context.Context, env *cmdEnv, args []string) int {
	fs, dir := nameFlags(env, "emulate", "NAME PATH",
		"Run path PATH's link emulator of lab NAME (started by 'lab up' inside the path's namespace).")
	pos, code, done := parseFlagsN(fs, env, args, 2, 2, "want NAME PATH")
	if done {
		return code
	}
	path, err := strconv.Atoi(pos[1])
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp lab emulate: path %q: %v\n", pos[1], err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(env.stderr, nil))
	if err := lab.RunEmulator(ctx, *dir, pos[0], path, log); err != nil {
		fmt.Fprintf(env.stderr, "mptcp lab emulate: %v\n", err)
		return exitFailure
	}
	return exitOK
}
