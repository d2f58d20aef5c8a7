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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/mpconn"
	"github.com/mptcp-go/mptcp/mpconn/cc"
	"github.com/mptcp-go/mptcp/netdev"
	"github.com/mptcp-go/mptcp/stack"
	"github.com/mptcp-go/mptcp/tcp"
)

const ncDescription = `
Netcat over the project's userspace TCP/IP stack, speaking Multipath TCP
(RFC 8684) by default. The stack owns one or more interfaces with its own
addresses and runs the connection in this process; the kernel's TCP and
MPTCP are not involved on this side (the kernel needs no MPTCP support).

Without -l, nc connects to HOST PORT (HOST is an IP address, or a name the
system resolver knows); with -l it waits for one connection on PORT (on
every address of the paths, or only on ADDR). Either way it copies stdin to
the connection and the connection to stdout. When stdin ends it sends
DATA_FIN (FIN with --tcp: a half close, as "nc -N") and keeps reading until
the peer closes, then exits 0; -q bounds that wait, -d does not read stdin.

MPTCP: the connection starts on the path the route to HOST picks. A client
then opens a subflow from each of its other paths, and to each address the
server announces (ADD_ADDR); a listener announces its other paths'
addresses with ADD_ADDR so that the client can join them. A "backup" path
carries data only when no other path can (MP_JOIN/MP_PRIO backup flag).
A peer without MPTCP, or a middlebox that strips the option, makes the
connection fall back to plain TCP on its first path; nc says so (-v) and
carries on. --tcp speaks plain TCP (one path).

Congestion control: --cc cubic (the default), reno or bbr runs on each
subflow on its own, so two subflows through one bottleneck take what two
TCP flows would. --cc lia (RFC 6356) or olia (Khalili et al., "MPTCP is
not Pareto-optimal") couples the subflows of the connection: together
they take no more than one TCP flow where they share a bottleneck, and
the connection moves its traffic off its more congested paths (OLIA more
completely). Slow start and the response to losses stay TCP's.

Interfaces: one --path DEV=ADDR/PLEN[,gw=ADDR][,backup][,tun] per
interface, as many as wanted:
  DEV           an Ethernet interface, through AF_PACKET: the stack sends and
                receives whole frames and answers ARP and neighbour discovery
                for ADDR itself. The kernel must NOT have ADDR (on any
                interface of the namespace): it would answer our peer's
                segments with RSTs. nc refuses to start if it has. A lab made
                with "mptcp lab up NAME --client user" leaves the client's
                interfaces up without addresses for exactly this. Without
                --offload, TSO/GSO/GRO must be off on the interface (the lab
                turns them off unless "lab up --offload"); with --offload the
                stack exchanges virtio-net headers with the kernel and the
                interface may keep them on.
  ADDR/PLEN     the stack's address with its on-link prefix. Give the same
                DEV twice for an IPv4 and an IPv6 address.
  gw=ADDR       the default router through DEV. Subflows leave by the path
                of their source address, so with several paths give each its
                gateway toward the peer's other addresses.
  backup        MPTCP uses this path only when the others cannot send.
  tun           DEV is a TUN device (created, or an existing persistent one
                is attached): the kernel is the peer on the other side. Give
                the device a kernel address in the prefix (another one than
                ADDR); nc brings the device up.
                  ip tuntap add dev tun0 mode tun
                  ip addr add 10.9.0.1/24 dev tun0
                  mptcp nc --path tun0=10.9.0.2/24,tun -l 5001 > received
                  (kernel side: nc 10.9.0.2 5001 < file)
The one-path spelling of earlier versions still works: --iface NAME (or
--tun NAME) with --addr CIDR (repeatable: one IPv4, one IPv6), --gw ADDR
and --mac MAC.

Examples, in a lab whose client side is ours (198.18.1.1 on "wifi",
198.18.2.1 on "cellular"; the kernel's MPTCP server at 198.18.1.2 and
198.18.2.2):
  mptcp lab up x --client user        # two paths: wifi and cellular
  mptcp lab exec x server -- mptcpize run nc -l 5001 > received &
  mptcp lab exec x client -- mptcp nc -v \
      --path wifi=198.18.1.1/24,gw=198.18.1.2 \
      --path cellular=198.18.2.1/24,gw=198.18.2.2 198.18.1.2 5001 < file
  mptcp lab exec x client -- mptcp nc -l -v --path wifi=198.18.1.1/24,gw=198.18.1.2 \
      --path cellular=198.18.2.1/24,gw=198.18.2.2 5001 > received
  (then: mptcp lab exec x server -- mptcpize run nc -N 198.18.1.1 5001 < file)
  head -c 1G /dev/zero | mptcp lab exec x client -- \
      mptcp nc --tcp --json --cc bbr --iface wifi --addr 198.18.1.1/24 198.18.1.2 5001

-v logs on stderr: the interfaces, the connection (MPTCP or fallback),
subflow events (joins, ADD_ADDR sent and received, REMOVE_ADDR, MP_PRIO,
subflows closing, fallback), every second's counters, and at the end one
line per subflow (addresses, data carried, RTT, retransmissions, state).

--json prints one JSON object on stderr at the end: mode, protocol ("mptcp"
or "tcp"), fallback, local and remote address, bytes_sent and
bytes_received (application bytes, all of the sent ones acknowledged),
duration_s (from the handshake to the end), send_mbit_s, recv_mbit_s and
goodput_mbit_s, error and exit_code; "tcp", the TCP state of the connection
(--tcp) or of its initial subflow (cwnd, ssthresh, mss, srtt_ms, min_rtt_ms,
rto_ms, retrans_segs, timeouts, recoveries, ...); "mptcp", the connection
as "ss -Mi" shows it, with "subflows" and "closed_subflows" (each: id, local,
remote, join, backup, data_sent, data_received and its own "tcp"); "events"
(t_s, event, subflow, local, remote, addr, addr_id, error); "mib", the
non-zero MPTCP counters (Linux's MPTcpExt names); "links", each
interface's drop and offload counters ("link": the first one's).

Ctrl-C (SIGINT) or SIGTERM closes the connection (DATA_FIN or FIN; a reset
if received data is unread) and exits 1.
Exit codes: 0 the transfer completed, 1 runtime failure (connection refused,
reset or timed out, no route, interface problems, interrupted), 2 usage error.
`

// ncFlags are nc's flag values.
type ncFlags struct {
	listen     bool
	plainTCP   bool
	paths      pathList
	iface, tun string
	addrs      prefixList
	gws        addrList
	mac        string
	mtu        int
	offload    bool
	checksum   bool
	cc         string
	timeout    secondsFlag
	quit       secondsFlag
	noStdin    bool
	json       bool
	verbose    bool
	mode       string
	scheduler  string
	useAnn     prefixList

	// limits (0: the defaults)
	maxSubflows, maxAddAddr, maxHalfOpen int
	sndbuf, rcvbuf                       sizeFlag
}

// ncConfig is the validated configuration.
type ncConfig struct {
	listen   bool
	plainTCP bool
	host     string         // connect: HOST as given
	port     uint16         // connect: PORT
	laddr    netip.AddrPort // listen: address (invalid: every address) and port
	paths    []pathSpec
	checksum bool
	cc       string     // each subflow's (or the TCP connection's) congestion control
	coupled  cc.Factory // coupled congestion control of the subflows (--cc lia, olia), or nil
	mode     mpconn.Mode
	sched    func() mpconn.Scheduler // nil: the mode's default
	useAnn   []netip.Prefix          // nil: every address the server announces
	timeout  time.Duration           // 0: none
	quit     time.Duration           // < 0: wait for the peer
	noStdin  bool
	json     bool

	// Limits (0: the defaults): subflows per connection, addresses taken
	// from the peer's ADD_ADDRs (<0: none), handshakes a listener holds.
	maxSubflows, maxAddAddr, maxHalfOpen int
	// sndbuf bounds the data written and not yet acknowledged, rcvbuf the
	// receive window and each subflow's out-of-order data (0: the
	// defaults).
	sndbuf, rcvbuf int
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

// tcpCCNames lists the congestion controls tcp.NewCongestionControl knows
// (it falls back to CUBIC for unknown names, so ask it by name).
func tcpCCNames() []string {
	var ok []string
	for _, n := range []string{"cubic", "reno", "bbr"} {
		if ccValid(n) {
			ok = append(ok, n)
		}
	}
	return ok
}

// ccNames lists every --cc: TCP's, then the coupled ones of package cc
// (MPTCP only).
func ccNames() []string { return append(tcpCCNames(), cc.Names()...) }

func ccValid(name string) bool {
	if name == "newreno" {
		name = "reno"
	}
	if ccCoupled(name) {
		return true
	}
	return name != "" && tcp.NewCongestionControl(name).Name() == name
}

// ccCoupled reports whether name is a coupled congestion control (RFC
// 6356 LIA, OLIA): one controller across an MPTCP connection's subflows.
func ccCoupled(name string) bool {
	_, err := cc.New(name)
	return err == nil
}

func runNC(ctx context.Context, env *cmdEnv, args []string) int {
	var f ncFlags
	f.quit.d = -time.Second
	fs := newFlagSet(env, "nc", "[flags] --path "+pathSyntax+" ... HOST PORT\n       mptcp nc -l [flags] [ADDR:]PORT", ncDescription)
	fs.BoolVar(&f.listen, "l", false, "listen: accept one connection on [ADDR:]PORT (same as --listen)")
	fs.BoolVar(&f.listen, "listen", false, "listen: accept one connection on [ADDR:]PORT")
	fs.BoolVar(&f.plainTCP, "tcp", false, "plain TCP instead of MPTCP (one path)")
	fs.Var(&f.paths, "path", "an interface the stack owns, `"+pathSyntax+"` (repeatable: one per path)")
	fs.StringVar(&f.iface, "iface", "", "one-path spelling: Ethernet interface `NAME` the stack owns through AF_PACKET (the kernel must not have --addr)")
	fs.StringVar(&f.tun, "tun", "", "one-path spelling: TUN device `NAME` the stack owns instead of --iface (the kernel is the peer on it)")
	fs.Var(&f.addrs, "addr", "with --iface/--tun: the stack's address with its on-link prefix (`CIDR`), e.g. 198.18.1.1/24 (repeatable: one IPv4 and one IPv6)")
	fs.Var(&f.gws, "gw", "with --iface/--tun: default gateway `ADDR`, IPv4 or IPv6 (repeatable: one of each); without it only --addr's prefixes are reachable")
	fs.StringVar(&f.mac, "mac", "", "with --iface: the stack's `MAC` address (default: the interface's own)")
	fs.IntVar(&f.mtu, "mtu", 0, "`MTU` to use if lower than the interfaces' (0: each interface's)")
	fs.BoolVar(&f.offload, "offload", false, "virtio-net offloads (PACKET_VNET_HDR, or IFF_VNET_HDR for TUN): the interfaces may keep TSO/GSO/GRO on")
	fs.BoolVar(&f.checksum, "checksum", false, "ask for DSS checksums (RFC 8684 §3.3.1; used when either side asks)")
	fs.StringVar(&f.cc, "cc", "cubic", "congestion control `NAME`: "+strings.Join(tcpCCNames(), ", ")+
		" (each subflow on its own), or "+strings.Join(cc.Names(), ", ")+" (MPTCP: coupled across the subflows)")
	fs.StringVar(&f.mode, "mode", "default", "MPTCP path management `MODE`: default (a subflow from each other path to the peer, and to each address it announces), "+
		"fullmesh or aggregate (every path to every peer address), handover (the other paths joined as backups, used when the first fails), "+
		"interactive (the lowest-latency path carries the data, another only while it recovers from a loss)")
	fs.StringVar(&f.scheduler, "scheduler", "", "MPTCP `SCHEDULER`: "+strings.Join(mpconn.SchedulerNames(), ", ")+
		" (default: the mode's: interactive for --mode interactive, minrtt otherwise)")
	fs.Var(&f.useAnn, "use-announced", "join only the addresses the server announces within `CIDR` (repeatable; default: all of them)")
	fs.IntVar(&f.maxSubflows, "max-subflows", 0, "at most `N` subflows on the connection, the first included (0: 8); joins beyond are refused with MP_TCPRST")
	fs.IntVar(&f.maxAddAddr, "max-add-addr", 0, "use at most `N` of the addresses the peer announces (0: 8; -1: none, they are only echoed)")
	fs.Var(&f.sndbuf, "sndbuf", "at most `SIZE` bytes written and not yet acknowledged (64k, 4m; default 4m); Write waits beyond it")
	fs.Var(&f.rcvbuf, "rcvbuf", "receive window of `SIZE` bytes (64k, 8m; default 8m for MPTCP, up to 6m autotuned for --tcp): the most received data held, in order or not, at the connection level and on each subflow")
	fs.IntVar(&f.maxHalfOpen, "max-half-open", 0, "with -l: at most `N` handshakes in progress; a SYN beyond gives up the oldest (0: 1024)")
	fs.Var(&f.timeout, "w", "connect timeout in `SECS` or as a duration (5, 1.5, 500ms); with -l, how long to wait for the connection (same as --timeout; default: none, TCP's SYN retries)")
	fs.Var(&f.timeout, "timeout", "connect timeout in `SECS` (same as -w)")
	fs.Var(&f.quit, "q", "after EOF on stdin, quit after `SECS` even if the peer has not closed (our data is acknowledged first; negative: wait for the peer)")
	fs.BoolVar(&f.noStdin, "d", false, "do not read stdin: send nothing, DATA_FIN/FIN only once the peer has closed")
	fs.BoolVar(&f.json, "json", false, "print a JSON summary (bytes, duration, goodput, subflows, events, counters) on stderr at the end")
	fs.BoolVar(&f.verbose, "v", false, "log progress on stderr (interfaces, connection, subflow events, every second's counters, a line per subflow at the end)")
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
	r := &ncRun{cfg: cfg, env: env, log: log, evCh: make(chan struct{}, 1)}
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

func parseMAC(s string) (header.MAC, error) {
	var m header.MAC
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return m, fmt.Errorf("--mac %q: want an Ethernet address like 02:00:00:00:00:01", s)
	}
	copy(m[:], hw)
	return m, nil
}

// validate checks flags and arguments (usage errors only; the system is
// not looked at).
func (f *ncFlags) validate(pos []string) (*ncConfig, error) {
	cfg := &ncConfig{listen: f.listen, plainTCP: f.plainTCP, checksum: f.checksum, cc: f.cc,
		timeout: f.timeout.d, quit: f.quit.d, noStdin: f.noStdin, json: f.json,
		maxSubflows: f.maxSubflows, maxAddAddr: f.maxAddAddr, maxHalfOpen: f.maxHalfOpen,
		sndbuf: int(f.sndbuf.n), rcvbuf: int(f.rcvbuf.n)}
	paths, err := pathsFromFlags(f.paths, f.iface, f.tun, f.addrs, f.gws, f.mac, f.mtu, f.offload)
	if err != nil {
		return nil, err
	}
	cfg.paths = paths
	switch {
	case f.timeout.d < 0:
		return nil, errors.New("-w/--timeout must not be negative")
	case f.maxSubflows < 0 || f.maxHalfOpen < 0 || f.maxAddAddr < -1:
		return nil, errors.New("--max-subflows and --max-half-open must not be negative, --max-add-addr not below -1")
	case f.sndbuf.n != 0 && (f.sndbuf.n < minNCBuffer || f.sndbuf.n > maxNCBuffer),
		f.rcvbuf.n != 0 && (f.rcvbuf.n < minNCBuffer || f.rcvbuf.n > maxNCBuffer):
		return nil, fmt.Errorf("--sndbuf and --rcvbuf must be between %s and %s", formatSize(minNCBuffer), formatSize(maxNCBuffer))
	case f.plainTCP && (f.maxSubflows != 0 || f.maxAddAddr != 0):
		return nil, errors.New("--max-subflows and --max-add-addr are MPTCP's (not with --tcp)")
	case !ccValid(f.cc):
		return nil, fmt.Errorf("--cc %q: want one of %s", f.cc, strings.Join(ccNames(), ", "))
	case f.plainTCP && len(paths) > 1:
		return nil, errors.New("--tcp uses one path: give one --path")
	case f.plainTCP && ccCoupled(f.cc):
		return nil, fmt.Errorf("--cc %s couples the subflows of an MPTCP connection (not with --tcp)", f.cc)
	case f.plainTCP && f.checksum:
		return nil, errors.New("--checksum is MPTCP's (not with --tcp)")
	case f.plainTCP && paths[0].backup:
		return nil, errors.New("backup is MPTCP's (not with --tcp)")
	case f.plainTCP && (f.mode != "default" || f.scheduler != ""):
		return nil, errors.New("--mode and --scheduler are MPTCP's (not with --tcp)")
	}
	if cfg.mode, err = mpconn.ParseMode(f.mode); err != nil {
		return nil, fmt.Errorf("--mode: %v", err)
	}
	if len(f.useAnn) > 0 {
		cfg.useAnn = []netip.Prefix(f.useAnn)
	}
	if f.scheduler != "" {
		if cfg.sched, err = mpconn.SchedulerByName(f.scheduler); err != nil {
			return nil, fmt.Errorf("--scheduler: %v", err)
		}
	}
	if f.cc == "newreno" {
		cfg.cc = "reno"
	}
	if ccCoupled(f.cc) {
		cfg.coupled, _ = cc.New(f.cc)
		cfg.cc = "" // the stack's default for anything not MPTCP
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
		if !la.IsUnspecified() && !prefixesHave(pathAddrs(paths), la) {
			return nil, fmt.Errorf("listen address %v is not one of --addr or --path's addresses", la)
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

// ncConn is what nc needs of a connection: stack.Conn (TCP) and
// mptcp.Conn both are one.
type ncConn interface {
	net.Conn
	CloseWrite() error
	Abort()
	LocalAddrPort() netip.AddrPort
	RemoteAddrPort() netip.AddrPort
	Done() <-chan struct{}
}

// ncRun is one nc invocation.
type ncRun struct {
	cfg *ncConfig
	env *cmdEnv
	log *slog.Logger

	s      *stack.Stack
	devs   []*netdev.Device
	host   *mptcp.Host // nil with --tcp
	conn   ncConn
	tcpc   *stack.Conn // conn with --tcp
	mpc    *mptcp.Conn // conn with MPTCP
	start  time.Time   // handshake done
	end    time.Time
	t0     time.Time // nc started connecting or listening
	waited time.Duration
	sent   atomic.Int64
	recvd  atomic.Int64
	info   *tcp.Info
	mpInfo *mpconn.ConnInfo

	evMu      sync.Mutex
	events    []ncEvent // every event, for --json
	evStopped bool      // the transfer is over: no more events
	evLogged  int       // events logged with -v so far
	evCh      chan struct{}
}

var errInterrupted = errors.New("interrupted")

func (r *ncRun) run(ctx context.Context) error {
	if err := r.setup(); err != nil {
		return err
	}
	defer r.s.Close()
	stopWatch := r.watchChecksums()
	defer stopWatch()
	stopLinks := r.watchLinks()
	defer stopLinks()
	r.t0 = time.Now()
	var err error
	if r.cfg.listen {
		r.conn, err = r.accept(ctx)
	} else {
		r.conn, err = r.dial(ctx)
	}
	r.waited = time.Since(r.t0)
	r.logEvents()
	if err != nil {
		return err
	}
	r.start = time.Now()
	if r.tcpc != nil {
		info := r.tcpc.Info()
		r.log.Info("connected", "protocol", "tcp", "local", r.conn.LocalAddrPort(), "remote", r.conn.RemoteAddrPort(),
			"mss", info.MSS, "cc", info.CongestionControl, "sack", info.SACKOK, "timestamps", info.TSOK,
			"wscale", fmt.Sprintf("%d/%d", info.SndWScale, info.RcvWScale))
	} else {
		in := r.mpc.Info()
		args := []any{"protocol", "mptcp", "fallback", in.Fallback, "local", r.conn.LocalAddrPort(), "remote", r.conn.RemoteAddrPort()}
		if !in.Fallback {
			args = append(args, "checksum", in.Checksum, "token", fmt.Sprintf("%08x", in.LocalToken), "peer_token", fmt.Sprintf("%08x", in.RemoteToken))
		}
		if len(in.Subflows) > 0 {
			t := in.Subflows[0].TCP
			args = append(args, "mss", t.MSS, "cc", t.CongestionControl)
		}
		r.log.Info("connected", args...)
	}
	err = r.transfer(ctx)
	r.end = time.Now()
	// Events end here: closing the stack next aborts the subflows left in
	// TIME-WAIT, which is no news for the user.
	r.evMu.Lock()
	r.evStopped = true
	r.evMu.Unlock()
	r.logEvents()
	var retrans uint64
	var state string
	if r.tcpc != nil {
		in := r.tcpc.Info()
		r.info = &in
		retrans, state = in.Stats.RetransSegs, in.State.String()
	} else {
		in := r.mpc.Info()
		r.mpInfo = &in
		if sf := initialSubflow(&in); sf != nil {
			r.info = &sf.TCP
		}
		for _, sf := range append(slices.Clone(in.Subflows), in.Closed...) {
			retrans += sf.TCP.Stats.RetransSegs
			r.log.Info("subflow", "id", sf.ID, "local", sf.Local, "remote", sf.Remote, "join", sf.Join, "backup", sf.Backup,
				"data_sent", sf.DataSent, "data_received", sf.DataRecv, "srtt", sf.TCP.SRTT.Round(10*time.Microsecond),
				"cwnd", sf.TCP.Cwnd, "retrans_segs", sf.TCP.Stats.RetransSegs, "state", sf.TCP.State)
		}
		state = in.State
	}
	dur := r.end.Sub(r.start)
	r.log.Info("done", "sent", r.sent.Load(), "received", r.recvd.Load(), "duration", dur.Round(time.Millisecond),
		"goodput_mbit_s", fmt.Sprintf("%.1f", mbits(r.sent.Load()+r.recvd.Load(), dur)),
		"retrans_segs", retrans, "state", state)
	return err
}

// initialSubflow returns the connection's first subflow, open or closed.
func initialSubflow(in *mpconn.ConnInfo) *mpconn.SubflowInfo {
	for _, l := range [][]mpconn.SubflowInfo{in.Subflows, in.Closed} {
		for i := range l {
			if !l[i].Join {
				return &l[i]
			}
		}
	}
	return nil
}

// minNCBuffer and maxNCBuffer bound --sndbuf and --rcvbuf: a few
// segments at least; the receive window's scale tops out at 1 GiB (RFC
// 7323 §2.3).
const (
	minNCBuffer = 16 << 10
	maxNCBuffer = 1 << 30
)

// tcpConfig is the TCP configuration of nc's connection or of each of its
// subflows. With --tcp, --sndbuf and --rcvbuf cap its buffers (their
// autotuning stops there). With MPTCP they are the connection's
// (mpconn.Config.SendBuffer, ReceiveBuffer), and each subflow's
// out-of-order data is bounded by the connection's window
// (mpconn's default for the subflows).
func (c *ncConfig) tcpConfig() tcp.Config {
	tc := tcp.Config{CongestionControl: c.cc}
	if !c.plainTCP {
		return tc
	}
	if c.rcvbuf > 0 {
		tc.ReceiveBufferSize = min(128<<10, c.rcvbuf)
		tc.ReceiveBufferMax = c.rcvbuf
	}
	if c.sndbuf > 0 {
		tc.SendBufferSize = min(256<<10, c.sndbuf)
		tc.SendBufferMax = c.sndbuf
	}
	return tc
}

// setup opens the interfaces and makes the stack (and the MPTCP host).
func (r *ncRun) setup() error {
	tcpc := r.cfg.tcpConfig()
	r.s = stack.New(stack.Options{Logger: r.log, TCP: tcpc, MaxHalfOpen: r.cfg.maxHalfOpen})
	for _, p := range r.cfg.paths {
		d, err := netdev.Open(p.dev)
		if err != nil {
			r.s.Close()
			if errors.Is(err, netdev.ErrNoDevice) && !p.dev.TUN {
				return fmt.Errorf("%w (in a lab, run nc inside the namespace: mptcp lab exec LAB client -- mptcp nc ...)", err)
			}
			return err
		}
		if err := d.Attach(r.s); err != nil {
			r.s.Close()
			return err
		}
		r.devs = append(r.devs, d)
		c := d.Config()
		kind := "afpacket"
		if c.TUN {
			kind = "tun"
		}
		args := []any{kind, c.Name, "mtu", d.Endpoint().MTU(), "offload", c.Offload, "addrs", (*prefixList)(&c.Addrs).String()}
		if !c.TUN {
			args = append(args, "mac", net.HardwareAddr(c.MAC[:]).String())
		}
		for _, g := range []netip.Addr{c.Gateway4, c.Gateway6} {
			if g.IsValid() {
				args = append(args, "gw", g)
			}
		}
		if p.backup {
			args = append(args, "backup", true)
		}
		r.log.Info("interface", args...)
		for _, w := range d.Warnings {
			r.log.Warn(w)
		}
	}
	if r.cfg.plainTCP {
		return nil
	}
	mc := mptcp.Config{TCP: tcpc, Checksum: r.cfg.checksum, Congestion: r.cfg.coupled, OnEvent: r.onEvent,
		Mode: r.cfg.mode, NewScheduler: r.cfg.sched, UseAnnounced: r.cfg.useAnn,
		MaxSubflows: r.cfg.maxSubflows, MaxAddAddr: r.cfg.maxAddAddr,
		SendBuffer: r.cfg.sndbuf, ReceiveBuffer: r.cfg.rcvbuf}
	for _, p := range r.cfg.paths {
		if p.backup {
			for _, a := range p.dev.Addrs {
				mc.Backup = append(mc.Backup, a.Addr())
			}
		}
	}
	h, err := mptcp.NewHost(r.s, mc)
	if err != nil {
		r.s.Close()
		return err
	}
	r.host = h
	return nil
}

// watchLinks follows each path's interface: when one goes down (or
// disappears) the MPTCP host closes or parks its subflows (REMOVE_ADDR to
// the peer), and when it comes back opens them again (a new join, or
// ADD_ADDR from a listener).
func (r *ncRun) watchLinks() (stop func()) {
	if r.host == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, d := range r.devs {
		c := d.Config()
		if c.TUN {
			continue // our own device: its state is ours
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			netdev.WatchLink(ctx, c.Name, 25*time.Millisecond, func(up bool) {
				state := "down"
				if up {
					state = "up"
				}
				r.log.Info("link "+state, "dev", c.Name)
				for _, a := range c.Addrs {
					if up {
						r.host.AddrUp(a.Addr())
					} else {
						r.host.AddrDown(a.Addr())
					}
				}
			})
		}()
	}
	return func() { cancel(); wg.Wait() }
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
				if r.cfg.paths[0].dev.Offload {
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
func (r *ncRun) dial(ctx context.Context) (ncConn, error) {
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
	var c ncConn
	if r.cfg.plainTCP {
		var tc *stack.Conn
		if tc, err = r.s.DialTCP(dctx, netip.AddrPort{}, raddr); err == nil {
			r.tcpc, c = tc, tc
		}
	} else {
		var mc *mptcp.Conn
		if mc, err = r.host.Dial(dctx, raddr); err == nil {
			r.mpc, c = mc, mc
		}
	}
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
		return nil, fmt.Errorf("connect to %v: no route to host (not in a --path prefix; add gw=ADDR to a --path, or --gw)", raddr)
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
	addrs := pathAddrs(r.cfg.paths)
	have := func(a netip.Addr) bool {
		for _, p := range addrs {
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
			return netip.Addr{}, fmt.Errorf("connect to %v: no %s --addr or --path address", a, fam)
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
	return netip.Addr{}, fmt.Errorf("resolve %s: no address of our paths' families (%v)", r.cfg.host, ips)
}

// accept listens and waits for one connection.
func (r *ncRun) accept(ctx context.Context) (ncConn, error) {
	var want []netip.AddrPort
	if r.cfg.laddr.Addr().IsValid() {
		want = []netip.AddrPort{r.cfg.laddr}
	} else {
		var have4, have6 bool
		for _, p := range pathAddrs(r.cfg.paths) {
			if p.Addr().Is4() && !have4 {
				have4 = true
				want = append(want, netip.AddrPortFrom(netip.IPv4Unspecified(), r.cfg.laddr.Port()))
			} else if p.Addr().Is6() && !have6 {
				have6 = true
				want = append(want, netip.AddrPortFrom(netip.IPv6Unspecified(), r.cfg.laddr.Port()))
			}
		}
	}
	type result struct {
		c   ncConn
		err error
	}
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	ch := make(chan result, len(want))
	port := r.cfg.laddr.Port()
	for _, a := range want {
		a = netip.AddrPortFrom(a.Addr(), port)
		var bound netip.AddrPort
		if r.cfg.plainTCP {
			l, err := r.s.ListenTCP(a)
			if err != nil {
				return nil, fmt.Errorf("listen: %w", err)
			}
			closers, bound = append(closers, func() { l.Close() }), l.AddrPort()
			go func() {
				c, err := l.AcceptTCP()
				if err != nil {
					ch <- result{nil, err}
					return
				}
				ch <- result{c, nil}
			}()
		} else {
			l, err := r.host.Listen(a)
			if err != nil {
				return nil, fmt.Errorf("listen: %w", err)
			}
			closers, bound = append(closers, func() { l.Close() }), l.AddrPort()
			go func() {
				c, err := l.AcceptMPTCP()
				if err != nil {
					ch <- result{nil, err}
					return
				}
				ch <- result{c, nil}
			}()
		}
		port = bound.Port() // port 0: the same ephemeral port on both
		r.log.Info("listening", "addr", bound, "protocol", map[bool]string{true: "tcp", false: "mptcp"}[r.cfg.plainTCP])
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
		// a second one accepted at the same time is aborted here.
		go func() {
			for range len(want) - 1 {
				if res := <-ch; res.c != nil {
					res.c.Abort()
				}
			}
		}()
		if mc, ok := res.c.(*mptcp.Conn); ok {
			r.mpc = mc
		} else {
			r.tcpc = res.c.(*stack.Conn)
		}
		return res.c, nil
	case <-timeout:
		return nil, fmt.Errorf("no connection within %v", r.cfg.timeout)
	case <-ctx.Done():
		return nil, errInterrupted
	}
}

// transfer copies stdin to the connection and the connection to stdout
// until both directions are closed (or -q expires), then waits for our
// data and FIN (DATA_FIN) to be acknowledged.
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
	fin := "FIN"
	if r.mpc != nil {
		fin = "DATA_FIN"
	}
	for !stdinDone || !peerDone {
		select {
		case err := <-sendDone:
			sendDone = nil
			stdinDone = true
			if err != nil {
				return fail(err)
			}
			r.log.Info("stdin closed: "+fin+" after the data", "sent", r.sent.Load())
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
			err := r.waitAcked(ctx, false)
			c.Abort() // the peer learns we are gone; nobody answers once we exit
			return err
		case <-tick.C:
			r.progress()
		case <-r.evCh:
			r.logEvents()
		case <-ctx.Done():
			c.Close()
			wctx, cancel := context.WithTimeout(context.Background(), time.Second)
			r.waitAcked(wctx, true)
			cancel()
			return errInterrupted
		}
	}
	if r.cfg.noStdin {
		if err := c.CloseWrite(); err != nil {
			return fail(err)
		}
	}
	return r.waitAcked(ctx, true)
}

// waitAcked waits until our FIN or DATA_FIN (and so all our data) is
// acknowledged: the stack lives in this process, so exiting earlier would
// lose what is still in flight. Without fin (after -q) only the data
// counts.
func (r *ncRun) waitAcked(ctx context.Context, fin bool) error {
	c := r.conn
	for {
		if r.tcpc != nil {
			in := r.tcpc.Info()
			switch in.State {
			case tcp.StateFinWait2, tcp.StateTimeWait, tcp.StateClosed:
				if in.State == tcp.StateClosed && in.SndUna != in.SndNxt {
					return errors.New("connection closed before our data was acknowledged")
				}
				return nil
			}
		} else {
			in := r.mpc.Info()
			if in.State == mpconn.StateClosed.String() {
				if err := r.mpc.Err(); err != nil {
					return connErr(err)
				}
				r.waitSubflowsClosing(ctx)
				return nil
			}
			if !fin && in.SendBuffered == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return nil
			}
			return errInterrupted
		case <-c.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitSubflowsClosing gives the subflows' FINs, sent once both DATA_FINs
// were acknowledged, a moment to be acknowledged (bounded: 1 s), so the
// peer's subflows close cleanly rather than retransmit FINs to nobody.
func (r *ncRun) waitSubflowsClosing(ctx context.Context) {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		done := true
		for _, sf := range r.mpc.Info().Subflows {
			switch sf.TCP.State {
			case tcp.StateFinWait2, tcp.StateTimeWait, tcp.StateClosed:
			default:
				done = false
			}
		}
		if done {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// connErr shortens the stack's errors to what a user needs.
func connErr(err error) error {
	switch {
	case errors.Is(err, tcp.ErrConnectionRefused):
		return errors.New("connection refused")
	case errors.Is(err, mpconn.ErrFastClose):
		return errors.New("connection reset by peer (MP_FASTCLOSE)")
	case errors.Is(err, tcp.ErrConnectionReset):
		return errors.New("connection reset by peer")
	case errors.Is(err, tcp.ErrTimeout):
		return errors.New("connection timed out (the peer stopped answering)")
	}
	return innerErr(err)
}

func (r *ncRun) progress() {
	d := time.Since(r.start)
	args := []any{"sent", r.sent.Load(), "received", r.recvd.Load(),
		"mbit_s", fmt.Sprintf("%.1f", mbits(r.sent.Load()+r.recvd.Load(), d))}
	if r.tcpc != nil {
		in := r.tcpc.Info()
		args = append(args, "cwnd", in.Cwnd, "srtt", in.SRTT.Round(10*time.Microsecond), "retrans_segs", in.Stats.RetransSegs)
	} else {
		in := r.mpc.Info()
		args = append(args, "subflows", len(in.Subflows), "reinjected", in.BytesRetrans)
		for _, sf := range in.Subflows {
			args = append(args, fmt.Sprintf("sf%d", sf.ID), fmt.Sprintf("%v sent=%d recv=%d srtt=%v", sf.Local.Addr(), sf.DataSent, sf.DataRecv, sf.TCP.SRTT.Round(10*time.Microsecond)))
		}
	}
	r.log.Info("progress", args...)
}

func mbits(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) * 8 / d.Seconds() / 1e6
}

// ncEvent is one MPTCP event, for -v and --json.
type ncEvent struct {
	TS      float64 `json:"t_s"` // since nc started connecting or listening
	Event   string  `json:"event"`
	Subflow *int    `json:"subflow,omitempty"`
	Local   string  `json:"local,omitempty"`
	Remote  string  `json:"remote,omitempty"`
	Backup  bool    `json:"backup,omitempty"`
	Addr    string  `json:"addr,omitempty"`
	AddrID  *uint8  `json:"addr_id,omitempty"`
	Error   string  `json:"error,omitempty"`
}

// onEvent is mpconn's event hook: called under the connection's lock, so
// it only records; the main loop logs.
func (r *ncRun) onEvent(e mpconn.Event) {
	ev := ncEvent{Event: e.Kind.String()}
	if !r.t0.IsZero() {
		ev.TS = time.Since(r.t0).Seconds()
	}
	switch e.Kind {
	case mpconn.EventEstablished, mpconn.EventSubflowEstablished, mpconn.EventSubflowClosed, mpconn.EventPrio, mpconn.EventFallback:
		id := e.Subflow.ID
		ev.Subflow, ev.Local, ev.Remote = &id, e.Subflow.Local.String(), e.Subflow.Remote.String()
		ev.Backup = e.Subflow.Backup || e.Subflow.PeerBackup
		if e.Kind == mpconn.EventEstablished && e.Fallback {
			ev.Event = "established_fallback"
		}
	case mpconn.EventAddAddr, mpconn.EventAddAddrSent, mpconn.EventRemoveAddr, mpconn.EventAddrDown, mpconn.EventAddrUp:
		if e.Kind != mpconn.EventAddrDown && e.Kind != mpconn.EventAddrUp {
			id := e.AddrID
			ev.AddrID = &id
		}
		if e.Addr.Addr().IsValid() {
			ev.Addr = e.Addr.Addr().String()
			if e.Addr.Port() != 0 {
				ev.Addr = e.Addr.String()
			}
		}
	}
	if e.Err != nil {
		ev.Error = connErr(e.Err).Error()
	}
	r.evMu.Lock()
	if len(r.events) < 1000 && !r.evStopped {
		r.events = append(r.events, ev)
	}
	r.evMu.Unlock()
	select {
	case r.evCh <- struct{}{}:
	default:
	}
}

// logEvents logs (-v) the events not logged yet.
func (r *ncRun) logEvents() {
	r.evMu.Lock()
	evs := slices.Clone(r.events[r.evLogged:])
	r.evLogged = len(r.events)
	r.evMu.Unlock()
	for _, e := range evs {
		var msg string
		args := []any{"t", fmt.Sprintf("%.3fs", e.TS)}
		if e.Subflow != nil {
			args = append(args, "subflow", *e.Subflow, "local", e.Local, "remote", e.Remote)
			if e.Backup {
				args = append(args, "backup", true)
			}
		}
		if e.AddrID != nil {
			if e.Addr != "" {
				args = append(args, "addr", e.Addr)
			}
			args = append(args, "id", *e.AddrID)
		}
		if e.Error != "" {
			args = append(args, "error", e.Error)
		}
		switch e.Event {
		case "established":
			msg = "MPTCP established"
		case "established_fallback":
			msg = "established as plain TCP: the peer (or a middlebox) did not let MPTCP through"
		case "fallback":
			msg = "fell back to TCP"
		case "subflow_established":
			msg = "subflow established"
		case "subflow_closed":
			msg = "subflow closed"
		case "add_addr":
			msg = "ADD_ADDR received"
		case "add_addr_sent":
			msg = "ADD_ADDR sent"
		case "remove_addr":
			msg = "REMOVE_ADDR received"
		case "mp_prio":
			msg = "MP_PRIO received"
		case "closed":
			msg = "MPTCP connection closed"
		default:
			msg = e.Event
		}
		r.log.Info(msg, args...)
	}
}

// ncSummary is the --json object.
type ncSummary struct {
	Mode          string               `json:"mode"`
	Protocol      string               `json:"protocol"` // "mptcp" or "tcp"
	Fallback      bool                 `json:"fallback"` // MPTCP fell back to TCP
	Local         string               `json:"local,omitempty"`
	Remote        string               `json:"remote,omitempty"`
	BytesSent     int64                `json:"bytes_sent"`
	BytesReceived int64                `json:"bytes_received"`
	WaitS         float64              `json:"wait_s"`     // connecting or waiting for the connection
	DurationS     float64              `json:"duration_s"` // from the handshake to the end
	SendMbitS     float64              `json:"send_mbit_s"`
	RecvMbitS     float64              `json:"recv_mbit_s"`
	GoodputMbitS  float64              `json:"goodput_mbit_s"` // both directions
	Error         string               `json:"error,omitempty"`
	ExitCode      int                  `json:"exit_code"`
	TCP           *tcp.InfoJSON        `json:"tcp,omitempty"` // the connection (--tcp) or its initial subflow
	MPTCP         *mpconn.ConnInfoJSON `json:"mptcp,omitempty"`
	Events        []ncEvent            `json:"events,omitempty"`
	MIB           map[string]int64     `json:"mib,omitempty"`
	Link          *ncLink              `json:"link,omitempty"` // the first interface (links[0])
	Links         []ncLink             `json:"links,omitempty"`
}

// ncLink are an interface's and the stack's drop and offload counters.
type ncLink struct {
	Name          string `json:"name"`
	KernelDrops   uint64 `json:"kernel_drops"` // AF_PACKET receive queue drops
	StackDrops    uint64 `json:"link_drops"`   // the stack's LinkDrops: packets it could not send or resolve (all interfaces)
	SuperOut      uint64 `json:"super_frames_out"`
	SuperIn       uint64 `json:"super_frames_in"`
	TCPOutResets  uint64 `json:"tcp_out_rsts"` // the stack's
	TCPInChecksum uint64 `json:"tcp_in_errs"`  // the stack's
}

func (r *ncRun) printSummary(err error, code int) {
	s := ncSummary{Mode: "connect", Protocol: "mptcp", ExitCode: code, WaitS: r.waited.Seconds()}
	if r.cfg.listen {
		s.Mode = "listen"
	}
	if r.cfg.plainTCP {
		s.Protocol = "tcp"
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
		j := in.JSON()
		s.TCP = &j
	}
	if in := r.mpInfo; in != nil {
		j := in.JSON()
		s.MPTCP, s.Fallback = &j, in.Fallback
	}
	r.evMu.Lock()
	s.Events = slices.Clone(r.events)
	r.evMu.Unlock()
	if r.host != nil {
		s.MIB = map[string]int64{}
		for k, v := range r.host.MIB().Counters() {
			if v != 0 {
				s.MIB[k] = v
			}
		}
	}
	if r.s != nil {
		st := r.s.Stats()
		for _, d := range r.devs {
			c := d.Counters()
			s.Links = append(s.Links, ncLink{Name: d.Config().Name, KernelDrops: c.KernelDrops, SuperOut: c.SuperOut,
				SuperIn: c.SuperIn, StackDrops: st.LinkDrops.Load(), TCPOutResets: st.TCPOutRsts.Load(),
				TCPInChecksum: st.TCPInErrs.Load()})
		}
		if len(s.Links) > 0 {
			s.Link = &s.Links[0]
		}
	}
	b, _ := json.Marshal(s)
	fmt.Fprintf(r.env.stderr, "%s\n", b)
}
