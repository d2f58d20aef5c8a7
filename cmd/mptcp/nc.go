package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/stack"
	"github.com/mptcp-go/mptcp/tcp"
	"golang.org/x/sys/unix"
)

const ncDescription = `
Netcat over the project's userspace TCP/IP stack. The stack owns one
interface with its own addresses and runs the connection in this process;
the kernel's TCP is not involved on this side.

Without -l, nc connects to HOST PORT (HOST is an IP address, or a name the
system resolver knows); with -l it waits for one connection on PORT (on
every --addr, or only on ADDR). Either way it copies stdin to the
connection and the connection to stdout. When stdin ends it sends FIN
(half-close) and keeps reading until the peer closes, then exits 0; -q
bounds that wait, -d does not read stdin at all.

The interface, one of:
  --iface NAME  an Ethernet interface, through AF_PACKET: the stack sends and
                receives whole frames and answers ARP and neighbour discovery
                for --addr itself. The kernel must NOT have --addr (on any
                interface of the namespace): it would answer our peer's
                segments with RSTs. nc refuses to start if it has. A lab made
                with "mptcp lab up NAME --client user" leaves the client's
                interfaces up without addresses for exactly this. Without
                --offload, TSO/GSO/GRO must be off on the interface (the lab
                turns them off unless "lab up --offload"); with --offload the
                stack exchanges virtio-net headers with the kernel and the
                interface may keep them on.
  --tun NAME    a TUN device (created, or an existing persistent one is
                attached): the kernel is the peer on the other side. Give the
                device a kernel address in --addr's prefix (another one than
                --addr) and the route comes with it; nc brings the device up.
                  ip tuntap add dev tun0 mode tun
                  ip addr add 10.9.0.1/24 dev tun0
                  mptcp nc --tun tun0 --addr 10.9.0.2/24 -l 5001 > received
                  (kernel side: nc 10.9.0.2 5001 < file)

Examples, in a lab whose client side is ours (198.18.1.1 on "wifi", the
kernel server at 198.18.1.2):
  mptcp lab up x --client user
  mptcp lab exec x server -- nc -l 5001 > received &
  mptcp lab exec x client -- mptcp nc --iface wifi --addr 198.18.1.1/24 198.18.1.2 5001 < file
  head -c 1G /dev/zero | mptcp lab exec x client -- \
      mptcp nc --json --cc bbr --iface wifi --addr 198.18.1.1/24 198.18.1.2 5001
  mptcp lab exec x client -- mptcp nc -l -v --iface wifi --addr 198.18.1.1/24 5001 > received
  (then: mptcp lab exec x server -- nc -N 198.18.1.1 5001 < file)

--json prints one JSON object on stderr at the end: mode, local and remote
address, bytes_sent and bytes_received (application bytes, all of the sent
ones acknowledged), duration_s (from the handshake to the end),
send_mbit_s, recv_mbit_s and goodput_mbit_s, error and exit_code, and
"tcp", the connection's state from the engine (cwnd, ssthresh, mss, srtt_ms,
min_rtt_ms, rto_ms, retrans_segs, timeouts, recoveries, ... as in tcp.Info).

Ctrl-C (SIGINT) or SIGTERM closes the connection (FIN, or RST if received
data is unread) and exits 1.
Exit codes: 0 the transfer completed, 1 runtime failure (connection refused,
reset or timed out, no route, interface problems, interrupted), 2 usage error.
`

// ncFlags are nc's flag values.
type ncFlags struct {
	listen     bool
	iface, tun string
	addrs      prefixList
	gws        addrList
	mac        string
	mtu        int
	offload    bool
	cc         string
	timeout    secondsFlag
	quit       secondsFlag
	noStdin    bool
	json       bool
	verbose    bool
}

// ncConfig is the validated configuration.
type ncConfig struct {
	listen   bool
	host     string         // connect: HOST as given
	port     uint16         // connect: PORT
	laddr    netip.AddrPort // listen: address (invalid: every --addr) and port
	iface    string
	tun      string
	addrs    []netip.Prefix
	gw4, gw6 netip.Addr
	mac      header.MAC
	hasMAC   bool
	mtu      int
	offload  bool
	cc       string
	timeout  time.Duration // 0: none
	quit     time.Duration // < 0: wait for the peer
	noStdin  bool
	json     bool
}

// prefixList is a repeatable CIDR flag.
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	s := make([]string, len(*p))
	for i, x := range *p {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

func (p *prefixList) Set(v string) error {
	pf, err := netip.ParsePrefix(v)
	if err != nil {
		if _, err2 := netip.ParseAddr(v); err2 == nil {
			return fmt.Errorf("%q lacks a prefix length: give ADDR/LEN, e.g. %s/24", v, v)
		}
		return fmt.Errorf("not an address/prefix: %q", v)
	}
	*p = append(*p, netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()))
	return nil
}

// addrList is a repeatable address flag.
type addrList []netip.Addr

func (a *addrList) String() string {
	s := make([]string, len(*a))
	for i, x := range *a {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

func (a *addrList) Set(v string) error {
	ip, err := netip.ParseAddr(v)
	if err != nil {
		return fmt.Errorf("not an IP address: %q", v)
	}
	*a = append(*a, ip.Unmap())
	return nil
}

// secondsFlag is a duration that also accepts plain (fractional) seconds,
// as nc's -w and -q do: "5", "0.5", "500ms", "2m". Negative values are
// kept (for -q: wait for ever).
type secondsFlag struct{ d time.Duration }

func (s *secondsFlag) String() string {
	if s == nil {
		return ""
	}
	return s.d.String()
}

func (s *secondsFlag) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		s.d = time.Duration(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("want seconds or a duration like 500ms: %q", v)
	}
	s.d = d
	return nil
}

// ccNames lists the congestion controls tcp.NewCongestionControl knows
// (it falls back to CUBIC for unknown names, so ask it by name).
func ccNames() []string {
	var ok []string
	for _, n := range []string{"cubic", "reno", "bbr"} {
		if ccValid(n) {
			ok = append(ok, n)
		}
	}
	return ok
}

func ccValid(name string) bool {
	if name == "newreno" {
		name = "reno"
	}
	return name != "" && tcp.NewCongestionControl(name).Name() == name
}

func runNC(ctx context.Context, env *cmdEnv, args []string) int {
	var f ncFlags
	f.quit.d = -time.Second
	fs := newFlagSet(env, "nc", "[flags] HOST PORT\n       mptcp nc -l [flags] [ADDR:]PORT", ncDescription)
	fs.BoolVar(&f.listen, "l", false, "listen: accept one connection on [ADDR:]PORT (same as --listen)")
	fs.BoolVar(&f.listen, "listen", false, "listen: accept one connection on [ADDR:]PORT")
	fs.StringVar(&f.iface, "iface", "", "Ethernet interface `NAME` the stack owns through AF_PACKET (the kernel must not have --addr)")
	fs.StringVar(&f.tun, "tun", "", "TUN device `NAME` the stack owns instead of --iface (the kernel is the peer on it)")
	fs.Var(&f.addrs, "addr", "the stack's address with its on-link prefix (`CIDR`), e.g. 198.18.1.1/24 (required; repeatable: one IPv4 and one IPv6)")
	fs.Var(&f.gws, "gw", "default gateway `ADDR`, IPv4 or IPv6 (repeatable: one of each); without it only --addr's prefixes are reachable")
	fs.StringVar(&f.mac, "mac", "", "the stack's `MAC` address on --iface (default: the interface's own)")
	fs.IntVar(&f.mtu, "mtu", 0, "`MTU` to use if lower than the interface's (0: the interface's)")
	fs.BoolVar(&f.offload, "offload", false, "virtio-net offloads (PACKET_VNET_HDR, or IFF_VNET_HDR with --tun): the interface may keep TSO/GSO/GRO on")
	fs.StringVar(&f.cc, "cc", "cubic", "congestion control `NAME`: "+strings.Join(ccNames(), ", "))
	fs.Var(&f.timeout, "w", "connect timeout in `SECS` or as a duration (5, 1.5, 500ms); with -l, how long to wait for the connection (same as --timeout; default: none, TCP's SYN retries)")
	fs.Var(&f.timeout, "timeout", "connect timeout in `SECS` (same as -w)")
	fs.Var(&f.quit, "q", "after EOF on stdin, quit after `SECS` even if the peer has not closed (our data is acknowledged first; negative: wait for the peer)")
	fs.BoolVar(&f.noStdin, "d", false, "do not read stdin: send nothing, FIN only once the peer has closed")
	fs.BoolVar(&f.json, "json", false, "print a JSON summary (bytes, duration, goodput, tcp info) on stderr at the end")
	fs.BoolVar(&f.verbose, "v", false, "log progress on stderr (connection, every second's counters, the end)")
	pos, code, done := parseFlagsN(fs, env, args, 1, 2, "want HOST PORT, or -l [ADDR:]PORT")
	if done {
		return code
	}
	cfg, err := f.validate(pos)
	if err != nil {
		return usageError(fs, env, err.Error())
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	r := &ncRun{cfg: cfg, env: env, log: log}
	err = r.run(ctx)
	code = exitOK
	if err != nil {
		code = exitFailure
		fmt.Fprintf(env.stderr, "mptcp nc: %v\n", err)
	}
	if cfg.json {
		r.printSummary(err, code)
	}
	return code
}

// validate checks flags and arguments (usage errors only; the system is
// not looked at).
func (f *ncFlags) validate(pos []string) (*ncConfig, error) {
	cfg := &ncConfig{listen: f.listen, iface: f.iface, tun: f.tun, addrs: f.addrs, mtu: f.mtu,
		offload: f.offload, cc: f.cc, timeout: f.timeout.d, quit: f.quit.d, noStdin: f.noStdin, json: f.json}
	switch {
	case f.iface == "" && f.tun == "":
		return nil, errors.New("--iface NAME or --tun NAME is required")
	case f.iface != "" && f.tun != "":
		return nil, errors.New("--iface and --tun exclude each other")
	case len(f.addrs) == 0:
		return nil, errors.New("--addr CIDR is required (e.g. --addr 198.18.1.1/24)")
	case f.mac != "" && f.tun != "":
		return nil, errors.New("--mac only applies to --iface (a TUN device has no MAC)")
	case f.mtu < 0 || f.mtu > 0 && f.mtu < 576:
		return nil, fmt.Errorf("--mtu %d: want 0 or at least 576", f.mtu)
	case f.timeout.d < 0:
		return nil, errors.New("-w/--timeout must not be negative")
	case !ccValid(f.cc):
		return nil, fmt.Errorf("--cc %q: want one of %s", f.cc, strings.Join(ccNames(), ", "))
	}
	if f.cc == "newreno" {
		cfg.cc = "reno"
	}
	var have4, have6 bool
	for _, p := range f.addrs {
		if p.Addr().Is4() {
			if have4 {
				return nil, errors.New("--addr: at most one IPv4 address")
			}
			have4 = true
		} else {
			if have6 {
				return nil, errors.New("--addr: at most one IPv6 address")
			}
			have6 = true
		}
	}
	for _, g := range f.gws {
		switch {
		case g.Is4() && !have4:
			return nil, fmt.Errorf("--gw %v: no IPv4 --addr", g)
		case g.Is6() && !have6:
			return nil, fmt.Errorf("--gw %v: no IPv6 --addr", g)
		case g.Is4() && cfg.gw4.IsValid(), g.Is6() && cfg.gw6.IsValid():
			return nil, fmt.Errorf("--gw %v: one gateway per address family", g)
		case g.Is4():
			cfg.gw4 = g
		default:
			cfg.gw6 = g
		}
	}
	if f.mac != "" {
		hw, err := net.ParseMAC(f.mac)
		if err != nil || len(hw) != 6 {
			return nil, fmt.Errorf("--mac %q: want an Ethernet address like 02:00:00:00:00:01", f.mac)
		}
		copy(cfg.mac[:], hw)
		cfg.hasMAC = true
	}
	if !f.listen {
		if len(pos) != 2 {
			return nil, errors.New("want HOST PORT (or -l [ADDR:]PORT to listen)")
		}
		cfg.host = pos[0]
		p, err := parsePort(pos[1], false)
		if err != nil {
			return nil, err
		}
		cfg.port = p
		return cfg, nil
	}
	// Listen: "PORT", ":PORT", "ADDR:PORT", "[V6]:PORT" or "ADDR PORT".
	var addrStr, portStr string
	if len(pos) == 2 {
		addrStr, portStr = pos[0], pos[1]
	} else if ap, err := netip.ParseAddrPort(pos[0]); err == nil {
		addrStr, portStr = ap.Addr().String(), strconv.Itoa(int(ap.Port()))
	} else if strings.HasPrefix(pos[0], ":") {
		portStr = pos[0][1:]
	} else {
		portStr = pos[0]
	}
	p, err := parsePort(portStr, true)
	if err != nil {
		return nil, err
	}
	var la netip.Addr
	if addrStr != "" {
		if la, err = netip.ParseAddr(addrStr); err != nil {
			return nil, fmt.Errorf("listen address %q: not an IP address", addrStr)
		}
		la = la.Unmap()
		if !la.IsUnspecified() && !prefixesHave(f.addrs, la) {
			return nil, fmt.Errorf("listen address %v is not one of --addr", la)
		}
	}
	cfg.laddr = netip.AddrPortFrom(la, p)
	return cfg, nil
}

func parsePort(s string, zeroOK bool) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 && !zeroOK {
		return 0, fmt.Errorf("port %q: want a number from 1 to 65535", s)
	}
	return uint16(p), nil
}

func prefixesHave(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// ncRun is one nc invocation.
type ncRun struct {
	cfg *ncConfig
	env *cmdEnv
	log *slog.Logger

	s      *stack.Stack
	ep     link.Endpoint
	conn   *stack.Conn
	start  time.Time // handshake done
	end    time.Time
	waited time.Duration // connect or accept
	sent   atomic.Int64
	recvd  atomic.Int64
	info   *tcp.Info
}

var errInterrupted = errors.New("interrupted")

func (r *ncRun) run(ctx context.Context) error {
	if err := r.openLink(); err != nil {
		return err
	}
	r.s = stack.New(stack.Options{Logger: r.log, TCP: tcp.Config{CongestionControl: r.cfg.cc}})
	defer r.s.Close()
	name := r.cfg.iface + r.cfg.tun
	if err := r.s.AddInterface(r.ep, stack.InterfaceConfig{Name: name, MAC: r.cfg.mac, Addrs: r.cfg.addrs,
		Gateway4: r.cfg.gw4, Gateway6: r.cfg.gw6, MTU: r.cfg.mtu}); err != nil {
		r.ep.Close()
		return err
	}
	stopWatch := r.watchChecksums()
	defer stopWatch()
	t0 := time.Now()
	var err error
	if r.cfg.listen {
		r.conn, err = r.accept(ctx)
	} else {
		r.conn, err = r.dial(ctx)
	}
	r.waited = time.Since(t0)
	if err != nil {
		return err
	}
	r.start = time.Now()
	info := r.conn.Info()
	r.log.Info("connected", "local", r.conn.LocalAddrPort(), "remote", r.conn.RemoteAddrPort(),
		"mss", info.MSS, "cc", info.CongestionControl, "sack", info.SACKOK, "timestamps", info.TSOK,
		"wscale", fmt.Sprintf("%d/%d", info.SndWScale, info.RcvWScale))
	err = r.transfer(ctx)
	r.end = time.Now()
	in := r.conn.Info()
	r.info = &in
	dur := r.end.Sub(r.start)
	r.log.Info("done", "sent", r.sent.Load(), "received", r.recvd.Load(), "duration", dur.Round(time.Millisecond),
		"goodput_mbit_s", fmt.Sprintf("%.1f", mbits(r.sent.Load()+r.recvd.Load(), dur)),
		"retrans_segs", in.Stats.RetransSegs, "state", in.State)
	return err
}

// openLink opens --iface or --tun after checking the kernel does not have
// our addresses.
func (r *ncRun) openLink() error {
	c := r.cfg
	if c.iface != "" {
		ifc, err := net.InterfaceByName(c.iface)
		if err != nil {
			return fmt.Errorf("interface %s: %v (in a lab, run nc inside the namespace: mptcp lab exec LAB client -- mptcp nc ...)", c.iface, err)
		}
		if ifc.Flags&net.FlagUp == 0 {
			return fmt.Errorf("interface %s is down (ip link set %s up)", c.iface, c.iface)
		}
		if err := checkKernelAddrs(c.addrs); err != nil {
			return err
		}
		if !c.hasMAC {
			if len(ifc.HardwareAddr) != 6 {
				return fmt.Errorf("interface %s has no Ethernet address (use --tun for IP devices, or --mac)", c.iface)
			}
			copy(c.mac[:], ifc.HardwareAddr)
		}
		ep, err := link.OpenAFPacket(c.iface, link.AFPacketOptions{Offload: c.offload})
		if err != nil {
			return permHint(err)
		}
		r.ep = ep
		r.log.Info("interface", "afpacket", c.iface, "mac", net.HardwareAddr(c.mac[:]).String(), "mtu", ep.MTU(),
			"offload", c.offload, "addrs", (*prefixList)(&c.addrs).String())
		return nil
	}
	if err := checkKernelAddrs(c.addrs); err != nil {
		return err
	}
	t, err := link.OpenTUN(c.tun, link.TUNOptions{Offload: c.offload})
	if err != nil {
		return permHint(err)
	}
	if err := setLinkUp(c.tun); err != nil {
		t.Close()
		return fmt.Errorf("tun %s: bring up: %w", c.tun, err)
	}
	r.ep = t
	r.log.Info("interface", "tun", c.tun, "mtu", t.MTU(), "offload", c.offload, "addrs", (*prefixList)(&c.addrs).String())
	if !kernelHasPrefixOn(c.tun, c.addrs) {
		r.log.Warn("the kernel has no address in --addr's prefix on the TUN device: it cannot reach us (ip addr add ADDR/LEN dev " + c.tun + ")")
	}
	return nil
}

func permHint(err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (needs root or CAP_NET_RAW/CAP_NET_ADMIN)", err)
	}
	return err
}

// checkKernelAddrs refuses an --addr the kernel has on any interface of
// this namespace: the kernel would take our peer's segments as its own and
// answer them with RSTs (weak host model: any interface counts).
func checkKernelAddrs(addrs []netip.Prefix) error {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil // cannot tell; do not block
	}
	for _, ifc := range ifs {
		as, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range as {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if prefixesHave(addrs, ip) {
				ones, _ := ipn.Mask.Size()
				return fmt.Errorf("%v is the kernel's address on %s: the kernel would answer our peer's segments with RSTs; "+
					"give the stack an address the kernel does not have, or remove it (ip addr del %v/%d dev %s; a lab made with --client user has none)",
					ip, ifc.Name, ip, ones, ifc.Name)
			}
		}
	}
	return nil
}

// kernelHasPrefixOn reports whether the kernel has an address on dev in
// one of the prefixes (the TUN's other end).
func kernelHasPrefixOn(dev string, addrs []netip.Prefix) bool {
	ifc, err := net.InterfaceByName(dev)
	if err != nil {
		return false
	}
	as, _ := ifc.Addrs()
	for _, a := range as {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
				for _, p := range addrs {
					if p.Masked().Contains(ip.Unmap()) {
						return true
					}
				}
			}
		}
	}
	return false
}

// setLinkUp sets IFF_UP on dev (a TUN device is created down).
func setLinkUp(dev string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(dev)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// watchChecksums warns once when TCP segments arrive with bad checksums:
// on a veth whose peer has transmit checksum offload on, the kernel hands
// over partial checksums that only --offload understands, and the
// connection would otherwise hang in silence.
func (r *ncRun) watchChecksums() (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	base := r.s.Stats().TCPInErrs.Load()
	go func() {
		defer close(exited)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if n := r.s.Stats().TCPInErrs.Load() - base; n > 0 {
				hint := "use --offload, or turn checksum offload off on the peer's side (ethtool -K DEV tx off tso off gso off)"
				if r.cfg.offload {
					hint = "corrupted frames, or a peer with checksum offload the link does not complete"
				}
				r.log.Warn("dropping TCP segments with bad checksums", "count", n, "hint", hint)
				return
			}
		}
	}()
	return func() { close(done); <-exited }
}

// dial resolves HOST and connects.
func (r *ncRun) dial(ctx context.Context) (*stack.Conn, error) {
	dst, err := r.resolve(ctx)
	if err != nil {
		return nil, err
	}
	raddr := netip.AddrPortFrom(dst, r.cfg.port)
	dctx := ctx
	if r.cfg.timeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, r.cfg.timeout)
		defer cancel()
	}
	r.log.Info("connecting", "remote", raddr)
	c, err := r.s.DialTCP(dctx, netip.AddrPort{}, raddr)
	if err == nil {
		return c, nil
	}
	switch {
	case ctx.Err() != nil:
		return nil, errInterrupted
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("connect to %v: timed out after %v", raddr, r.cfg.timeout)
	case errors.Is(err, tcp.ErrTimeout):
		return nil, fmt.Errorf("connect to %v: connection timed out (no SYN-ACK after TCP's SYN retries)", raddr)
	case errors.Is(err, stack.ErrNoRoute):
		return nil, fmt.Errorf("connect to %v: no route to host (not in an --addr prefix; add --gw)", raddr)
	}
	return nil, fmt.Errorf("connect to %v: %w", raddr, connErr(err))
}

// innerErr unwraps net.OpError for a short message ("connection refused").
func innerErr(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// resolve turns HOST into an address of a family we have.
func (r *ncRun) resolve(ctx context.Context) (netip.Addr, error) {
	have := func(a netip.Addr) bool {
		for _, p := range r.cfg.addrs {
			if p.Addr().Is4() == a.Is4() {
				return true
			}
		}
		return false
	}
	if a, err := netip.ParseAddr(r.cfg.host); err == nil {
		a = a.Unmap().WithZone("")
		if !have(a) {
			fam := "IPv4"
			if a.Is6() {
				fam = "IPv6"
			}
			return netip.Addr{}, fmt.Errorf("connect to %v: no %s --addr", a, fam)
		}
		return a, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", r.cfg.host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolve %s: %w", r.cfg.host, err)
	}
	for _, a := range ips {
		if a = a.Unmap().WithZone(""); have(a) {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("resolve %s: no address of --addr's family (%v)", r.cfg.host, ips)
}

// accept listens and waits for one connection.
func (r *ncRun) accept(ctx context.Context) (*stack.Conn, error) {
	var want []netip.AddrPort
	if r.cfg.laddr.Addr().IsValid() {
		want = []netip.AddrPort{r.cfg.laddr}
	} else {
		for _, p := range r.cfg.addrs {
			u := netip.IPv4Unspecified()
			if p.Addr().Is6() {
				u = netip.IPv6Unspecified()
			}
			want = append(want, netip.AddrPortFrom(u, r.cfg.laddr.Port()))
		}
	}
	var lns []*stack.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	port := r.cfg.laddr.Port()
	for _, a := range want {
		l, err := r.s.ListenTCP(netip.AddrPortFrom(a.Addr(), port))
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		port = l.AddrPort().Port() // port 0: the same ephemeral port on both
		lns = append(lns, l)
		r.log.Info("listening", "addr", l.AddrPort())
	}
	type result struct {
		c   *stack.Conn
		err error
	}
	ch := make(chan result, len(lns))
	for _, l := range lns {
		go func() {
			c, err := l.AcceptTCP()
			ch <- result{c, err}
		}()
	}
	var timeout <-chan time.Time
	if r.cfg.timeout > 0 {
		t := time.NewTimer(r.cfg.timeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case res := <-ch:
		if res.err != nil {
			return nil, fmt.Errorf("accept: %w", res.err)
		}
		// Closing the listeners (deferred) resets connections not accepted;
		// a second one accepted at the same time is closed here.
		go func() {
			for range len(lns) - 1 {
				if res := <-ch; res.c != nil {
					res.c.Abort()
				}
			}
		}()
		return res.c, nil
	case <-timeout:
		return nil, fmt.Errorf("no connection within %v", r.cfg.timeout)
	case <-ctx.Done():
		return nil, errInterrupted
	}
}

// transfer copies stdin to the connection and the connection to stdout
// until both directions are closed (or -q expires), then waits for our
// data and FIN to be acknowledged.
func (r *ncRun) transfer(ctx context.Context) error {
	c := r.conn
	recvDone, recvExited := make(chan error, 1), make(chan struct{})
	// Every return below has either seen the reader finish or closed the
	// connection, which ends its Read: wait, so nothing writes to stdout
	// after nc returns (bounded: stdout itself may be stuck).
	defer func() {
		select {
		case <-recvExited:
		case <-time.After(2 * time.Second):
		}
	}()
	go func() {
		defer close(recvExited)
		buf := make([]byte, 256<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := r.env.stdout.Write(buf[:n]); werr != nil {
					recvDone <- fmt.Errorf("write to stdout: %w", werr)
					return
				}
				r.recvd.Add(int64(n))
			}
			if err == io.EOF {
				recvDone <- nil
				return
			}
			if err != nil {
				recvDone <- err
				return
			}
		}
	}()
	var sendDone chan error
	if !r.cfg.noStdin {
		sendDone = make(chan error, 1)
		go func() {
			buf := make([]byte, 256<<10)
			for {
				n, err := r.env.stdin.Read(buf)
				if n > 0 {
					m, werr := c.Write(buf[:n])
					r.sent.Add(int64(m))
					if werr != nil {
						sendDone <- werr
						return
					}
				}
				if err == io.EOF {
					sendDone <- nil
					return
				}
				if err != nil {
					sendDone <- fmt.Errorf("read stdin: %w", err)
					return
				}
			}
		}()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var quit <-chan time.Time
	stdinDone, peerDone := r.cfg.noStdin, false
	fail := func(err error) error {
		c.Abort()
		return connErr(err)
	}
	for !stdinDone || !peerDone {
		select {
		case err := <-sendDone:
			sendDone = nil
			stdinDone = true
			if err != nil {
				return fail(err)
			}
			r.log.Info("stdin closed: FIN after the data", "sent", r.sent.Load())
			if err := c.CloseWrite(); err != nil {
				return fail(err)
			}
			if r.cfg.quit >= 0 && !peerDone {
				t := time.NewTimer(r.cfg.quit)
				defer t.Stop()
				quit = t.C
			}
		case err := <-recvDone:
			recvDone = nil
			if err != nil {
				return fail(err)
			}
			peerDone = true
			r.log.Info("peer closed its side", "received", r.recvd.Load())
		case <-quit:
			r.log.Info("-q expired: closing without waiting for the peer")
			err := r.waitAcked(ctx)
			c.Abort() // the peer learns we are gone; nobody answers once we exit
			return err
		case <-tick.C:
			r.progress()
		case <-ctx.Done():
			c.Close()
			wctx, cancel := context.WithTimeout(context.Background(), time.Second)
			r.waitAcked(wctx)
			cancel()
			return errInterrupted
		}
	}
	if r.cfg.noStdin {
		if err := c.CloseWrite(); err != nil {
			return fail(err)
		}
	}
	return r.waitAcked(ctx)
}

// waitAcked waits until our FIN (and so all our data) is acknowledged: the
// stack lives in this process, so exiting earlier would lose what is still
// in flight.
func (r *ncRun) waitAcked(ctx context.Context) error {
	c := r.conn
	for {
		in := c.Info()
		switch in.State {
		case tcp.StateFinWait2, tcp.StateTimeWait, tcp.StateClosed:
			if in.State == tcp.StateClosed && in.SndUna != in.SndNxt {
				return errors.New("connection closed before our data was acknowledged")
			}
			return nil
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return nil
			}
			return errInterrupted
		case <-c.Done():
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// connErr shortens the stack's errors to what a user needs.
func connErr(err error) error {
	switch {
	case errors.Is(err, tcp.ErrConnectionRefused):
		return errors.New("connection refused")
	case errors.Is(err, tcp.ErrConnectionReset):
		return errors.New("connection reset by peer")
	case errors.Is(err, tcp.ErrTimeout):
		return errors.New("connection timed out (the peer stopped answering)")
	}
	return innerErr(err)
}

func (r *ncRun) progress() {
	in := r.conn.Info()
	d := time.Since(r.start)
	r.log.Info("progress", "sent", r.sent.Load(), "received", r.recvd.Load(),
		"mbit_s", fmt.Sprintf("%.1f", mbits(r.sent.Load()+r.recvd.Load(), d)),
		"cwnd", in.Cwnd, "srtt", in.SRTT.Round(10*time.Microsecond), "retrans_segs", in.Stats.RetransSegs)
}

func mbits(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) * 8 / d.Seconds() / 1e6
}

// ncSummary is the --json object.
type ncSummary struct {
	Mode          string     `json:"mode"`
	Local         string     `json:"local,omitempty"`
	Remote        string     `json:"remote,omitempty"`
	BytesSent     int64      `json:"bytes_sent"`
	BytesReceived int64      `json:"bytes_received"`
	WaitS         float64    `json:"wait_s"`     // connecting or waiting for the connection
	DurationS     float64    `json:"duration_s"` // from the handshake to the end
	SendMbitS     float64    `json:"send_mbit_s"`
	RecvMbitS     float64    `json:"recv_mbit_s"`
	GoodputMbitS  float64    `json:"goodput_mbit_s"` // both directions
	Error         string     `json:"error,omitempty"`
	ExitCode      int        `json:"exit_code"`
	TCP           *ncTCPInfo `json:"tcp,omitempty"`
	Link          *ncLink    `json:"link,omitempty"`
}

// ncTCPInfo is tcp.Info for JSON (times in milliseconds).
type ncTCPInfo struct {
	State         string    `json:"state"`
	CC            string    `json:"cc"`
	MSS           int       `json:"mss"`
	Cwnd          int       `json:"cwnd"`
	Ssthresh      int       `json:"ssthresh"`
	SndWnd        int       `json:"snd_wnd"`
	RcvWnd        int       `json:"rcv_wnd"`
	SRTTms        float64   `json:"srtt_ms"`
	RTTVarms      float64   `json:"rttvar_ms"`
	MinRTTms      float64   `json:"min_rtt_ms"`
	RTOms         float64   `json:"rto_ms"`
	InFlight      int       `json:"in_flight"`
	SACK          bool      `json:"sack"`
	Timestamps    bool      `json:"timestamps"`
	ECN           bool      `json:"ecn"`
	SndWScale     uint8     `json:"snd_wscale"`
	RcvWScale     uint8     `json:"rcv_wscale"`
	PacingRate    float64   `json:"pacing_rate,omitempty"` // bytes/s
	Delivered     int64     `json:"delivered"`
	SegsOut       uint64    `json:"segs_out"`
	SegsIn        uint64    `json:"segs_in"`
	WireBytesSent uint64    `json:"wire_bytes_sent"` // retransmissions included
	BytesAcked    uint64    `json:"bytes_acked"`
	WireBytesRecv uint64    `json:"wire_bytes_received"`
	RetransSegs   uint64    `json:"retrans_segs"`
	FastRetrans   uint64    `json:"fast_retrans"`
	Timeouts      uint64    `json:"timeouts"`
	TLPProbes     uint64    `json:"tlp_probes"`
	Recoveries    uint64    `json:"recoveries"`
	OutOfOrder    uint64    `json:"ooo_segs"`
	DupSegs       uint64    `json:"dup_segs"`
	DSACKs        uint64    `json:"dsacks"`
	SpuriousUndos uint64    `json:"spurious_undos"`
	ZeroWinProbes uint64    `json:"zero_window_probes"`
	ECNReductions uint64    `json:"ecn_reductions"`
	BBR           *ncBBRInf `json:"bbr,omitempty"`
}

type ncBBRInf struct {
	Mode       string  `json:"mode"`
	BtlBw      float64 `json:"btl_bw"` // bytes/s
	MinRTTms   float64 `json:"min_rtt_ms"`
	PacingGain float64 `json:"pacing_gain"`
	CwndGain   float64 `json:"cwnd_gain"`
	Rounds     int64   `json:"rounds"`
}

// ncLink are the interface's and stack's drop and offload counters.
type ncLink struct {
	Name          string `json:"name"`
	KernelDrops   uint64 `json:"kernel_drops"` // AF_PACKET receive queue drops
	StackDrops    uint64 `json:"link_drops"`   // the stack's LinkDrops: packets it could not send or resolve
	SuperOut      uint64 `json:"super_frames_out"`
	SuperIn       uint64 `json:"super_frames_in"`
	TCPOutResets  uint64 `json:"tcp_out_rsts"`
	TCPInChecksum uint64 `json:"tcp_in_errs"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func (r *ncRun) printSummary(err error, code int) {
	s := ncSummary{Mode: "connect", ExitCode: code, WaitS: r.waited.Seconds()}
	if r.cfg.listen {
		s.Mode = "listen"
	}
	if err != nil {
		s.Error = err.Error()
	}
	s.BytesSent, s.BytesReceived = r.sent.Load(), r.recvd.Load()
	if r.conn != nil {
		s.Local, s.Remote = r.conn.LocalAddrPort().String(), r.conn.RemoteAddrPort().String()
		d := r.end.Sub(r.start)
		s.DurationS = d.Seconds()
		s.SendMbitS, s.RecvMbitS = mbits(s.BytesSent, d), mbits(s.BytesReceived, d)
		s.GoodputMbitS = mbits(s.BytesSent+s.BytesReceived, d)
	}
	if in := r.info; in != nil {
		t := &ncTCPInfo{State: in.State.String(), CC: in.CongestionControl, MSS: in.MSS, Cwnd: in.Cwnd,
			Ssthresh: in.Ssthresh, SndWnd: in.SndWnd, RcvWnd: in.RcvWnd, SRTTms: ms(in.SRTT), RTTVarms: ms(in.RTTVar),
			MinRTTms: ms(in.MinRTT), RTOms: ms(in.RTO), InFlight: in.InFlight, SACK: in.SACKOK, Timestamps: in.TSOK,
			ECN: in.ECNOK, SndWScale: in.SndWScale, RcvWScale: in.RcvWScale, PacingRate: in.PacingRate,
			Delivered: in.Delivered, SegsOut: in.Stats.SegsOut, SegsIn: in.Stats.SegsIn,
			WireBytesSent: in.Stats.BytesSent, BytesAcked: in.Stats.BytesAcked, WireBytesRecv: in.Stats.BytesReceived,
			RetransSegs: in.Stats.RetransSegs, FastRetrans: in.Stats.FastRetrans, Timeouts: in.Stats.Timeouts,
			TLPProbes: in.Stats.TLPProbes, Recoveries: in.Stats.Recoveries, OutOfOrder: in.Stats.OutOfOrderSegs,
			DupSegs: in.Stats.DupSegs, DSACKs: in.Stats.DSACKs, SpuriousUndos: in.Stats.SpuriousUndos,
			ZeroWinProbes: in.Stats.ZeroWindowProbes, ECNReductions: in.Stats.ECNReductions}
		if in.CongestionControl == "bbr" {
			b := in.BBR
			t.BBR = &ncBBRInf{Mode: b.Mode.String(), BtlBw: b.BtlBw, MinRTTms: ms(b.MinRTT),
				PacingGain: b.PacingGain, CwndGain: b.CwndGain, Rounds: b.Rounds}
		}
		s.TCP = t
	}
	if r.s != nil {
		st := r.s.Stats()
		l := &ncLink{Name: r.cfg.iface + r.cfg.tun, StackDrops: st.LinkDrops.Load(),
			TCPOutResets: st.TCPOutRsts.Load(), TCPInChecksum: st.TCPInErrs.Load()}
		switch ep := r.ep.(type) {
		case *link.AFPacket:
			l.KernelDrops = ep.Drops()
			l.SuperOut, l.SuperIn = ep.GSOCounts()
		case *link.TUN:
			l.SuperOut, l.SuperIn = ep.GSOCounts()
		}
		s.Link = l
	}
	b, _ := json.Marshal(s)
	fmt.Fprintf(r.env.stderr, "%s\n", b)
}
