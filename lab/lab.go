package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/link/emu"
)

// Lab is a running topology. Its methods are safe for concurrent use.
type Lab struct {
	st       State
	stateDir string
	log      *slog.Logger

	// fwd[i] is path i+1's in-process emulator (nil for a bridge, a
	// detached emulator or a lab opened with Open).
	fwd []*emu.Forwarder

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Middle names the middle namespace of path i (1-based) where a Side is
// expected (Do, Command, Capture, Namespace).
func Middle(path int) Side { return Side("p" + strconv.Itoa(path)) }

func nsNames(name string, paths int) (cli, srv string, mid []string) {
	for i := 1; i <= paths; i++ {
		mid = append(mid, name+"-p"+strconv.Itoa(i))
	}
	return name + "-cli", name + "-srv", mid
}

// Up builds the lab cfg describes and returns it running. It first removes
// whatever an earlier lab of the same name left (a crashed run), and labs
// whose owning process has died. On failure it removes what it made.
// The caller must Close the lab.
func Up(ctx context.Context, cfg Config) (*Lab, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if err := checkTools(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("lab", cfg.Name)
	reapOrphans(ctx, cfg.StateDir, log)
	if err := Down(ctx, cfg.StateDir, cfg.Name); err != nil {
		return nil, fmt.Errorf("lab %s: remove leftovers: %w", cfg.Name, err)
	}
	cli, srv, mids := nsNames(cfg.Name, len(cfg.Paths))
	l := &Lab{
		stateDir: cfg.StateDir, log: log,
		fwd:  make([]*emu.Forwarder, len(cfg.Paths)),
		stop: make(chan struct{}),
		st: State{
			Name: cfg.Name, Created: time.Now().UTC(), ClientNS: cli, ServerNS: srv,
			ClientMode: cfg.ClientMode, ServerMode: cfg.ServerMode, Seed: cfg.Seed, Offload: cfg.Offload,
		},
	}
	if cfg.EmulatorCommand == nil {
		l.st.OwnerPID = os.Getpid()
	}
	for i, p := range cfg.Paths {
		mode := "bridge"
		if p.Emulated() {
			mode = "emulator"
		}
		l.st.Paths = append(l.st.Paths, PathState{
			Index: i + 1, Name: p.Name, Namespace: mids[i],
			ClientIface: p.Name, ServerIface: p.Name,
			ClientAddr: ClientAddrOf(i + 1), ServerAddr: ServerAddrOf(i + 1), Prefix: 24,
			Middle: mode, Up: p.Up, Down: p.Down,
		})
		if cfg.IPv6 {
			ps := &l.st.Paths[i]
			ps.ClientAddr6, ps.ServerAddr6 = ClientAddr6Of(i+1), ServerAddr6Of(i+1)
		}
	}
	// Record first, so that a crash from here on leaves a trace Down uses.
	if err := l.st.save(l.stateDir); err != nil {
		return nil, err
	}
	if err := l.build(ctx, cfg); err != nil {
		cerr := l.Close()
		return nil, errors.Join(fmt.Errorf("lab %s: %w", cfg.Name, err), cerr)
	}
	log.Info("lab up", "paths", len(cfg.Paths))
	return l, nil
}

func checkTools() error {
	for _, t := range []string{"ip", "sysctl"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("lab: %s not found: %w", t, err)
		}
	}
	return nil
}

// reapOrphans removes labs whose owner process is gone.
func reapOrphans(ctx context.Context, stateDir string, log *slog.Logger) {
	names, _ := List(stateDir)
	for _, n := range names {
		st, err := LoadState(stateDir, n)
		if err != nil || st.OwnerPID == 0 || pidAlive(st.OwnerPID) {
			continue
		}
		log.Info("removing orphaned lab", "orphan", n, "owner", st.OwnerPID)
		if err := Down(ctx, stateDir, n); err != nil {
			log.Warn("remove orphaned lab", "orphan", n, "err", err)
		}
	}
}

func (l *Lab) build(ctx context.Context, cfg Config) error {
	all := []string{l.st.ClientNS, l.st.ServerNS}
	for _, p := range l.st.Paths {
		all = append(all, p.Namespace)
	}
	for _, ns := range all {
		if _, err := run(ctx, "ip", "netns", "add", ns); err != nil {
			return err
		}
		// IPv6 off before any interface exists: no router solicitations,
		// DAD or MLD noise in captures. rp_filter off: with several paths
		// a packet may arrive on another interface than its source's route.
		if err := sysctls(ctx, ns, "net.ipv6.conf.all.disable_ipv6=1",
			"net.ipv6.conf.default.disable_ipv6=1", "net.ipv4.conf.all.rp_filter=0",
			"net.ipv4.conf.default.rp_filter=0"); err != nil {
			return err
		}
	}
	for _, ns := range []string{l.st.ClientNS, l.st.ServerNS} {
		if err := sysctls(ctx, ns, "net.mptcp.enabled=1"); err != nil {
			return fmt.Errorf("enable MPTCP (kernel without MPTCP?): %w", err)
		}
		if cc := cfg.CongestionControl; cc != "" {
			if err := sysctls(ctx, ns, "net.ipv4.tcp_congestion_control="+cc); err != nil {
				return fmt.Errorf("kernel congestion control %q (see net.ipv4.tcp_available_congestion_control): %w", cc, err)
			}
		}
		if cfg.IPv6 {
			// IPv6 on, but quiet: no DAD delay, no router solicitations.
			if err := sysctls(ctx, ns, "net.ipv6.conf.all.disable_ipv6=0",
				"net.ipv6.conf.default.disable_ipv6=0", "net.ipv6.conf.default.accept_dad=0",
				"net.ipv6.conf.default.router_solicitations=0", "net.ipv6.conf.default.accept_ra=0"); err != nil {
				return err
			}
		}
	}
	var root []string
	for _, p := range l.st.Paths {
		root = append(root,
			fmt.Sprintf("link add name %s netns %s type veth peer name cli netns %s", p.ClientIface, l.st.ClientNS, p.Namespace),
			fmt.Sprintf("link add name %s netns %s type veth peer name srv netns %s", p.ServerIface, l.st.ServerNS, p.Namespace))
	}
	if err := ipBatch(ctx, "", root); err != nil {
		return err
	}
	if _, err := exec.LookPath("ethtool"); err != nil && (!cfg.Offload || l.anyEmulated()) {
		return fmt.Errorf("ethtool not found (needed to turn off offloads): %w", err)
	}
	for _, p := range l.st.Paths {
		if cfg.Offload && p.Middle == "bridge" {
			continue
		}
		for _, x := range [][2]string{{l.st.ClientNS, p.ClientIface}, {l.st.ServerNS, p.ServerIface},
			{p.Namespace, "cli"}, {p.Namespace, "srv"}} {
			if err := noOffload(ctx, x[0], x[1]); err != nil {
				return err
			}
		}
	}
	// Middle namespaces.
	for _, p := range l.st.Paths {
		cmds := []string{"link set dev lo up", "link set dev cli up", "link set dev srv up"}
		if p.Middle == "bridge" {
			cmds = append(cmds,
				"link add br0 type bridge stp_state 0 forward_delay 0",
				"link set dev cli master br0", "link set dev srv master br0", "link set dev br0 up")
		}
		if err := ipBatch(ctx, p.Namespace, cmds); err != nil {
			return err
		}
	}
	if err := l.setupSide(ctx, Client, false); err != nil {
		return err
	}
	if err := l.setupSide(ctx, Server, cfg.Announce); err != nil {
		return err
	}
	for i, p := range l.st.Paths {
		if p.Middle != "emulator" {
			continue
		}
		seed := cfg.Seed + 2*uint64(i)
		var err error
		if cfg.EmulatorCommand != nil {
			err = l.spawnEmulator(ctx, cfg.EmulatorCommand, i)
		} else {
			l.fwd[i], err = l.startEmulator(p, seed)
		}
		if err != nil {
			return fmt.Errorf("path %s: start emulator: %w", p.Name, err)
		}
	}
	if err := l.st.save(l.stateDir); err != nil {
		return err
	}
	if l.st.OwnerPID != 0 && l.anyEmulated() {
		l.wg.Add(1)
		go l.statsWriter()
	}
	return nil
}

func (l *Lab) anyEmulated() bool {
	for _, p := range l.st.Paths {
		if p.Middle == "emulator" {
			return true
		}
	}
	return false
}

// noOffload turns off segmentation and receive offloads and transmit
// checksum offload, so frames on the wire are MTU-sized and complete
// (the emulator forwards frames through AF_PACKET, which would otherwise
// carry partial checksums).
func noOffload(ctx context.Context, ns, dev string) error {
	_, err := run(ctx, "ip", "netns", "exec", ns, "ethtool", "-K", dev,
		"tx", "off", "tso", "off", "gso", "off", "gro", "off")
	return err
}

// setupSide configures the client or server namespace; announce adds the
// server's "signal" endpoints.
func (l *Lab) setupSide(ctx context.Context, side Side, announce bool) error {
	ns, mode := l.st.ClientNS, l.st.ClientMode
	if side == Server {
		ns, mode = l.st.ServerNS, l.st.ServerMode
	}
	cmds := []string{"link set dev lo up"}
	var cmds6 []string // IPv6 rules and routes, run with "ip -6"
	for _, p := range l.st.Paths {
		dev := p.ClientIface
		addrs := []netip.Prefix{netip.PrefixFrom(p.ClientAddr, p.Prefix)}
		if p.ClientAddr6.IsValid() {
			addrs = append(addrs, netip.PrefixFrom(p.ClientAddr6, 64))
		}
		if side == Server {
			dev = p.ServerIface
			addrs = []netip.Prefix{netip.PrefixFrom(p.ServerAddr, p.Prefix)}
			if p.ServerAddr6.IsValid() {
				addrs = append(addrs, netip.PrefixFrom(p.ServerAddr6, 64))
			}
		}
		cmds = append(cmds, "link set dev "+dev+" up")
		if mode != Kernel {
			continue
		}
		for _, a := range addrs {
			addr := a.Addr()
			nodad, def, via, routing := "", "default", "", &cmds
			if addr.Is6() {
				// IPv6 neighbour discovery only answers for addresses of
				// the receiving interface, so other destinations go
				// through the server's address on this path as gateway
				// (ARP answers for any local address; IPv4 needs none).
				nodad, via, routing = " nodad", " via "+p.ServerAddr6.String(), &cmds6
			}
			cmds = append(cmds, fmt.Sprintf("addr add %s dev %s%s", a, dev, nodad))
			if side == Server {
				// The server answers through the interface of the client
				// address it talks to (main table, connected routes): a
				// subflow socket the client bound to its path-2 device
				// only accepts segments arriving on that device.
				continue
			}
			table := strconv.Itoa(100 + p.Index)
			*routing = append(*routing,
				// Per-source policy routing: a subflow bound to this
				// path's address leaves through this path's interface,
				// whatever the destination.
				fmt.Sprintf("rule add from %s table %s pref %s", addr, table, table),
				fmt.Sprintf("route add %s dev %s src %s table %s", a.Masked(), dev, addr, table),
				fmt.Sprintf("route add %s%s dev %s src %s table %s", def, via, dev, addr, table))
		}
	}
	if mode == Kernel {
		cmds = append(cmds, "mptcp limits set subflows 8 add_addr_accepted 8")
		if side == Client {
			// One extra subflow per additional path, from that path's
			// address (the "subflow" endpoint flag).
			for _, p := range l.st.Paths[1:] {
				cmds = append(cmds, fmt.Sprintf("mptcp endpoint add %s dev %s id %d subflow",
					p.ClientAddr, p.ClientIface, p.Index))
				if p.ClientAddr6.IsValid() {
					cmds = append(cmds, fmt.Sprintf("mptcp endpoint add %s dev %s id %d subflow",
						p.ClientAddr6, p.ClientIface, 100+p.Index))
				}
			}
		}
		if side == Server && announce {
			// ADD_ADDR of every additional path's address.
			for _, p := range l.st.Paths[1:] {
				cmds = append(cmds, fmt.Sprintf("mptcp endpoint add %s dev %s id %d signal",
					p.ServerAddr, p.ServerIface, p.Index))
				if p.ServerAddr6.IsValid() {
					cmds = append(cmds, fmt.Sprintf("mptcp endpoint add %s dev %s id %d signal",
						p.ServerAddr6, p.ServerIface, 100+p.Index))
				}
			}
		}
	}
	if err := ipBatch(ctx, ns, cmds); err != nil {
		return err
	}
	return ipBatchOpts(ctx, ns, []string{"-6"}, cmds6)
}

// openPair opens the AF_PACKET endpoints of a middle namespace.
func openPair(ns string) (a, b *link.AFPacket, err error) {
	err = DoNS(ns, func() error {
		var err error
		if a, err = link.OpenAFPacket("cli", link.AFPacketOptions{Promisc: true}); err != nil {
			return err
		}
		if b, err = link.OpenAFPacket("srv", link.AFPacketOptions{Promisc: true}); err != nil {
			a.Close()
			return err
		}
		return nil
	})
	return a, b, err
}

func (l *Lab) startEmulator(p PathState, seed uint64) (*emu.Forwarder, error) {
	a, b, err := openPair(p.Namespace)
	if err != nil {
		return nil, err
	}
	f, err := emu.New(a, b, p.Up, p.Down, emu.Options{Seed: seed, Logger: l.log.With("path", p.Name)})
	if err != nil {
		a.Close()
		b.Close()
		return nil, err
	}
	f.Start()
	return f, nil
}

func (l *Lab) spawnEmulator(ctx context.Context, argv []string, i int) error {
	p := &l.st.Paths[i]
	logf, err := os.OpenFile(labDir(l.stateDir, l.st.Name)+"/path"+strconv.Itoa(p.Index)+".log",
		os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := append([]string{"netns", "exec", p.Namespace}, argv...)
	args = append(args, "--state-dir", l.stateDir, l.st.Name, strconv.Itoa(p.Index))
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.EmulatorPID = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := l.st.save(l.stateDir); err != nil {
		return err
	}
	// Ready when it has written its first counters.
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(statsPath(l.stateDir, l.st.Name, p.Index)); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("emulator exited: %v: %s", err, strings.TrimSpace(string(b)))
		case <-deadline.C:
			return errors.New("emulator not ready after 10s")
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// statsWriter saves the in-process emulators' counters for "mptcp lab
// status" every half second.
func (l *Lab) statsWriter() {
	defer l.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		for i, f := range l.fwd {
			if f != nil {
				writeStats(l.stateDir, l.st.Name, i+1, f.Stats())
			}
		}
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
	}
}

func writeStats(stateDir, name string, path int, s emu.Stats) {
	b, err := json.Marshal(s)
	if err == nil {
		_ = writeFileAtomic(statsPath(stateDir, name, path), b)
	}
}

// Open attaches to a lab another process made (for exec, status, down).
// Closing it removes the lab.
func Open(stateDir, name string) (*Lab, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	st, err := LoadState(stateDir, name)
	if err != nil {
		return nil, err
	}
	return &Lab{st: *st, stateDir: stateDir, log: slog.New(slog.DiscardHandler),
		fwd: make([]*emu.Forwarder, len(st.Paths)), stop: make(chan struct{})}, nil
}

// Close removes everything Up made: emulators, namespaces (with their
// veths), the state directory. It is idempotent.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		l.wg.Wait()
		var errs []error
		for i, f := range l.fwd {
			if f != nil {
				if err := f.Close(); err != nil {
					errs = append(errs, err)
				}
				l.fwd[i] = nil
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := Down(ctx, l.stateDir, l.st.Name); err != nil {
			errs = append(errs, err)
		}
		l.closeErr = errors.Join(errs...)
		l.log.Info("lab down")
	})
	return l.closeErr
}

// Down removes lab name, recorded or not: it stops its emulator processes,
// deletes its namespaces ("<name>-cli", "<name>-srv", "<name>-p<i>") and
// its state directory. Removing a lab that does not exist is not an error.
func Down(ctx context.Context, stateDir, name string) error {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	if !validName(name, 40, true) {
		return fmt.Errorf("%w: name %q", ErrBadConfig, name)
	}
	var errs []error
	if st, err := LoadState(stateDir, name); err == nil {
		for _, p := range st.Paths {
			if p.EmulatorPID > 0 && isEmulatorOf(p.EmulatorPID, name) {
				killWait(p.EmulatorPID)
			}
		}
	}
	for _, ns := range listNamespaces() {
		if !ownedBy(ns, name) {
			continue
		}
		if _, err := run(ctx, "ip", "netns", "del", ns); err != nil && nsExists(ns) {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(labDir(stateDir, name)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ownedBy reports whether namespace ns is one of lab name's.
func ownedBy(ns, name string) bool {
	rest, ok := strings.CutPrefix(ns, name+"-")
	if !ok {
		return false
	}
	if rest == "cli" || rest == "srv" {
		return true
	}
	num, ok := strings.CutPrefix(rest, "p")
	if !ok || num == "" {
		return false
	}
	_, err := strconv.ParseUint(num, 10, 8)
	return err == nil
}

// killWait sends SIGTERM, then SIGKILL if the process lingers.
func killWait(pid int) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for range 100 {
		if !pidAlive(pid) || isZombie(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z'
	}
	return false
}

// Name is the lab's name.
func (l *Lab) Name() string { return l.st.Name }

// State returns the lab's record.
func (l *Lab) State() State {
	s := l.st
	s.Paths = append([]PathState(nil), l.st.Paths...)
	return s
}

// NumPaths is the number of paths.
func (l *Lab) NumPaths() int { return len(l.st.Paths) }

// Namespace returns the network namespace of a side: Client, Server or
// Middle(i). It returns "" for an unknown side.
func (l *Lab) Namespace(side Side) string {
	switch side {
	case Client:
		return l.st.ClientNS
	case Server:
		return l.st.ServerNS
	}
	if n, ok := strings.CutPrefix(string(side), "p"); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 1 && i <= len(l.st.Paths) {
			return l.st.Paths[i-1].Namespace
		}
	}
	return ""
}

func (l *Lab) path(i int) PathState {
	if i < 1 || i > len(l.st.Paths) {
		return PathState{}
	}
	return l.st.Paths[i-1]
}

// ClientAddr is the client's address on path i (1-based). In User mode it
// is the address the userspace stack should use.
func (l *Lab) ClientAddr(path int) netip.Addr { return l.path(path).ClientAddr }

// ClientAddr6 is the client's IPv6 address on path i when Config.IPv6 is
// set (fd00:198:18:i::1), else the zero Addr.
func (l *Lab) ClientAddr6(path int) netip.Addr { return l.path(path).ClientAddr6 }

// ServerAddr6 is the server's IPv6 address on path i when Config.IPv6 is
// set (fd00:198:18:i::2), else the zero Addr.
func (l *Lab) ServerAddr6(path int) netip.Addr { return l.path(path).ServerAddr6 }

// ServerAddr is the server's address on path i (1-based).
func (l *Lab) ServerAddr(path int) netip.Addr { return l.path(path).ServerAddr }

// Iface is the name of path i's interface on a side (Client or Server);
// in a Middle namespace the interfaces are "cli" and "srv".
func (l *Lab) Iface(side Side, path int) string {
	p := l.path(path)
	if side == Server {
		return p.ServerIface
	}
	return p.ClientIface
}

// Do runs fn on an OS thread inside a side's namespace (see DoNS).
func (l *Lab) Do(side Side, fn func() error) error {
	ns := l.Namespace(side)
	if ns == "" {
		return fmt.Errorf("lab %s: unknown side %q", l.st.Name, side)
	}
	return DoNS(ns, fn)
}

// Command returns a command that runs name inside a side's namespace
// (through "ip netns exec", which also gives it that namespace's /sys).
func (l *Lab) Command(ctx context.Context, side Side, name string, args ...string) *exec.Cmd {
	ns := l.Namespace(side)
	if ns == "" {
		ns = "unknown-side-" + string(side) // fails at Run with a clear message
	}
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// ErrCaptureDropped is returned by a capture's stop function when the
// kernel dropped packets: the file is then incomplete.
var ErrCaptureDropped = errors.New("capture: kernel dropped packets")

// CaptureStats are the counters tcpdump prints when it exits.
type CaptureStats struct {
	// Captured is how many packets tcpdump wrote to the file.
	Captured int
	// Received is how many packets passed the filter in the kernel
	// ("received by filter"), Dropped how many of them the kernel dropped
	// because tcpdump's buffer was full ("dropped by kernel").
	Received, Dropped int
}

// captureBufferKiB is tcpdump's kernel buffer (-B): 64 MiB holds a few
// seconds of a lab's traffic while tcpdump is descheduled.
const captureBufferKiB = 65536

// Capture's snapshot lengths. Immediate mode uses a ring of fixed-size
// slots as large as the snapshot length, except that on an Ethernet
// interface without offloads libpcap shrinks them to the MTU: tcpdump's
// default (262144) would leave the 64 MiB buffer 256 slots on "any".
// captureSnapLen keeps whole 64 KiB TSO/GRO super-frames with their link
// header; captureSnapLenNoOffload keeps whole wire-sized frames (MTU 1500
// plus a cooked header), for "any" when no lab interface has offloads on.
const (
	captureSnapLen          = 65600
	captureSnapLenNoOffload = 1600
)

// Capture starts tcpdump writing iface's packets to file (pcap) inside a
// side's namespace and returns once tcpdump listens. extraArgs come after
// the lab's own options (a filter expression, "-s 128"...).
//
// tcpdump runs in immediate mode (every packet is handed over as it
// arrives, not in blocks libpcap retires at most once a second) with a
// 64 MiB buffer, and writes the file packet by packet (-U). Packets are
// kept whole: up to 64 KiB, or on "any" in a lab without Config.Offload
// up to 1600 bytes (its paths carry wire-sized frames; only traffic over
// the namespace's loopback could be longer, and would be truncated).
//
// stop waits until the file has not grown for 100 ms (tcpdump has read
// everything queued; at most 5 s under continuous traffic), interrupts
// tcpdump, waits for it to exit and returns the counters it printed; the
// error wraps ErrCaptureDropped when the kernel dropped packets, so a
// caller that needs a complete file can check it.
func (l *Lab) Capture(ctx context.Context, side Side, iface, file string, extraArgs ...string) (stop func() (CaptureStats, error), err error) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		return nil, fmt.Errorf("capture: tcpdump: %w", err)
	}
	snap := captureSnapLen
	if iface == "any" && !l.st.Offload {
		snap = captureSnapLenNoOffload
	}
	args := append([]string{"-i", iface, "-n", "-U", "--immediate-mode",
		"-B", strconv.Itoa(captureBufferKiB), "-s", strconv.Itoa(snap), "-w", file}, extraArgs...)
	cmd := l.Command(ctx, side, "tcpdump", args...)
	pr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	ready := make(chan bool, 1)
	var lines []string // tcpdump's stderr, complete once done is closed
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if !sent && strings.Contains(sc.Text(), "listening on") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	var once sync.Once
	var st CaptureStats
	var werr error
	stop = func() (CaptureStats, error) {
		once.Do(func() {
			waitQuiet(file, 100*time.Millisecond, 5*time.Second)
			_ = cmd.Process.Signal(syscall.SIGINT)
			<-done // stderr read to the end before Wait closes the pipe
			werr = cmd.Wait()
			var ok bool
			st, ok = parseCaptureStats(lines)
			switch {
			case werr != nil:
				werr = fmt.Errorf("capture %s: tcpdump: %w: %s", iface, werr, strings.Join(lines, "; "))
			case !ok:
				werr = fmt.Errorf("capture %s: no counters from tcpdump: %s", iface, strings.Join(lines, "; "))
			case st.Dropped > 0:
				werr = fmt.Errorf("capture %s: %d of %d packets: %w", iface, st.Dropped, st.Received, ErrCaptureDropped)
			}
		})
		return st, werr
	}
	select {
	case ok := <-ready:
		if !ok {
			stop()
			<-done
			return nil, fmt.Errorf("capture: tcpdump failed: %s", strings.Join(lines, "\n"))
		}
	case <-time.After(10 * time.Second):
		stop()
		return nil, errors.New("capture: tcpdump not listening after 10s")
	}
	return stop, nil
}

// waitQuiet waits until file's size has not changed for quiet (tcpdump
// has written what it had queued), at most limit.
func waitQuiet(file string, quiet, limit time.Duration) {
	const tick = 20 * time.Millisecond
	last, stable := int64(-1), time.Duration(0)
	for end := time.Now().Add(limit); time.Now().Before(end) && stable < quiet; {
		time.Sleep(tick)
		var size int64
		if fi, err := os.Stat(file); err == nil {
			size = fi.Size()
		}
		if size == last {
			stable += tick
		} else {
			last, stable = size, 0
		}
	}
}

// parseCaptureStats reads the counters tcpdump prints on exit:
//
//	12 packets captured
//	12 packets received by filter
//	0 packets dropped by kernel
func parseCaptureStats(lines []string) (CaptureStats, bool) {
	var st CaptureStats
	found := 0
	for _, line := range lines {
		num, rest, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		switch rest {
		case "packet captured", "packets captured":
			st.Captured = n
		case "packet received by filter", "packets received by filter":
			st.Received = n
		case "packet dropped by kernel", "packets dropped by kernel":
			st.Dropped = n
		default:
			continue
		}
		found++
	}
	return st, found == 3
}

// SetPathDown makes path i (1-based) drop every packet both ways, as an
// outage: the interfaces stay up, packets vanish.
func (l *Lab) SetPathDown(path int) error { return l.setDown(path, true) }

// SetPathUp ends an outage of path i.
func (l *Lab) SetPathUp(path int) error { return l.setDown(path, false) }

func (l *Lab) setDown(path int, down bool) error {
	if path < 1 || path > len(l.st.Paths) {
		return fmt.Errorf("lab %s: no path %d", l.st.Name, path)
	}
	p := l.st.Paths[path-1]
	if f := l.fwd[path-1]; f != nil {
		f.SetDown(down)
		return nil
	}
	switch {
	case p.Middle == "bridge":
		// Bridge port state 0 (disabled) drops frames silently; 3 forwards.
		state := "3"
		if down {
			state = "0"
		}
		for _, dev := range []string{"cli", "srv"} {
			if _, err := run(context.Background(), "bridge", "-n", p.Namespace, "link", "set", "dev", dev, "state", state); err != nil {
				return err
			}
		}
		return nil
	case p.EmulatorPID > 0 && isEmulatorOf(p.EmulatorPID, l.st.Name):
		sig := syscall.SIGUSR2
		if down {
			sig = syscall.SIGUSR1
		}
		return syscall.Kill(p.EmulatorPID, sig)
	}
	return fmt.Errorf("lab %s: path %d: emulator runs in process %d, not reachable", l.st.Name, path, l.st.OwnerPID)
}

// EmulatorStart is when path i's in-process emulator started: its
// scheduled events are offsets from it. Zero if the path has none.
func (l *Lab) EmulatorStart(path int) time.Time {
	if path < 1 || path > len(l.fwd) || l.fwd[path-1] == nil {
		return time.Time{}
	}
	return l.fwd[path-1].StartTime()
}

// EmulatorStats returns path i's emulator counters: live for an in-process
// emulator, else the last ones it saved (at most about a second old).
func (l *Lab) EmulatorStats(path int) (emu.Stats, bool) {
	if path < 1 || path > len(l.fwd) {
		return emu.Stats{}, false
	}
	if f := l.fwd[path-1]; f != nil {
		return f.Stats(), true
	}
	b, err := os.ReadFile(statsPath(l.stateDir, l.st.Name, path))
	if err != nil {
		return emu.Stats{}, false
	}
	var s emu.Stats
	if json.Unmarshal(b, &s) != nil {
		return emu.Stats{}, false
	}
	return s, true
}
