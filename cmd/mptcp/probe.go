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
	"strings"
	"time"

	"github.com/mptcp-go/mptcp/netdev"
	"github.com/mptcp-go/mptcp/probe"
	"github.com/mptcp-go/mptcp/stack"
)

const probeDescription = `
Does the server at HOST PORT speak Multipath TCP (RFC 8684), which version,
with DSS checksums or not, and does something on the way strip or change
the options? probe opens one MPTCP connection, sends --send (nothing by
default) and its DATA_FIN, waits --wait for the server to close and
announce addresses, and compares what it sent with what came back:

  SYN/ACK   MP_CAPABLE present? version (v1, or RFC 6824's v0), flags A
            (checksums), H (HMAC), C (no more subflows). No MP_CAPABLE but a
            run of NOPs where options go: a middlebox overwrote the option.
  DSS       the server's first DATA_ACK must follow from the key of our
            third ACK, its first data sequence number from the key of its
            SYN/ACK; no MPTCP option at all on its later segments means
            something strips them after the handshake.
  ADD_ADDR  each announced address's HMAC must verify with both keys.

The wire transcript (both directions, options decoded) is printed too.
Only the server's side is visible: a server that answers without MPTCP
does not speak it, or never saw our SYN's option (only it could tell).

Why an interface of our own: the probe needs to see and shape every
segment, and must work where the local kernel has no MPTCP (or an old
one). The userspace stack does the talking on an interface it owns
(AF_PACKET, the kernel has no address on it), exactly as "mptcp nc" does;
a raw socket beside the kernel's own TCP would not do: the kernel has the
address and answers the server's SYN/ACK with a RST, unless a firewall rule
is added behind the user's back. So give probe an interface the kernel has
no address on: --path DEV=ADDR/PLEN[,gw=ADDR] (or --iface/--addr/--gw),
e.g. a lab's client side (mptcp lab up x --client user).

Examples:
  mptcp lab up x --client user --announce
  mptcp lab exec x server -- mptcpize run nc -l 5001 &
  mptcp lab exec x client -- mptcp probe --path wifi=198.18.1.1/24,gw=198.18.1.2 198.18.1.2 5001
  mptcp lab exec x client -- mptcp probe --json --send 'GET / HTTP/1.0\r\n\r\n' \
      --path wifi=198.18.1.1/24,gw=198.18.1.2 198.18.1.2 80

Verdicts: mptcp (MPTCP v1 end to end, options intact), tcp (no MPTCP),
mptcp_v0 (RFC 6824 only), stripped (options removed on the way), modified
(options changed on the way), unreachable (refused, no answer, no route).
--json prints the report as one JSON object on stdout: target, local,
verdict, summary, mptcp, version, fallback, server_requires_checksum,
checksum, hmac, no_more_subflows, syn_ack_nop_run, data_ack {got, min, max,
matches}, data_seq {got, want, matches}, add_addrs [{id, addr, port,
hmac_valid}], findings [{kind, severity, detail}], segments [{t_s, dir,
flags, seq, ack, len, mptcp, nop_run, options}], rtt_ms, error.

Exit codes: 0 MPTCP works end to end, 1 it does not (any other verdict),
or a runtime failure (interface problems), 2 usage error.
`

func runProbe(ctx context.Context, env *cmdEnv, args []string) int {
	var (
		paths        pathList
		iface, tun   string
		addrs        prefixList
		gws          addrList
		mac          string
		mtu          int
		send         string
		timeout      secondsFlag
		wait         secondsFlag
		checksum, js bool
		verbose      bool
	)
	timeout.d, wait.d = 10*time.Second, 2*time.Second
	fs := newFlagSet(env, "probe", "[flags] --path "+pathSyntax+" ... HOST PORT", probeDescription)
	fs.Var(&paths, "path", "an interface the stack owns, `"+pathSyntax+"` (repeatable; the route to HOST picks one)")
	fs.StringVar(&iface, "iface", "", "one-path spelling: Ethernet interface `NAME` the stack owns")
	fs.StringVar(&tun, "tun", "", "one-path spelling: TUN device `NAME` the stack owns")
	fs.Var(&addrs, "addr", "with --iface/--tun: the stack's address with its prefix (`CIDR`)")
	fs.Var(&gws, "gw", "with --iface/--tun: default gateway `ADDR`")
	fs.StringVar(&mac, "mac", "", "with --iface: the stack's `MAC` address")
	fs.IntVar(&mtu, "mtu", 0, "`MTU` to use if lower than the interfaces'")
	fs.StringVar(&send, "send", "", "`TEXT` to send after the handshake (\\r, \\n and \\t are escapes; default: nothing, only the DATA_FIN)")
	fs.Var(&timeout, "w", "handshake timeout in `SECS` (default 10)")
	fs.Var(&wait, "wait", "how long the server has to answer and close after our DATA_FIN, in `SECS` (default 2)")
	fs.BoolVar(&checksum, "checksum", false, "ask for DSS checksums in our SYN")
	fs.BoolVar(&js, "json", false, "print the report as JSON on stdout")
	fs.BoolVar(&verbose, "v", false, "log the stack's setup on stderr")
	pos, code, done := parseFlagsN(fs, env, args, 2, 2, "want HOST PORT")
	if done {
		return code
	}
	ps, err := pathsFromFlags(paths, iface, tun, addrs, gws, mac, mtu, false)
	if err != nil {
		return usageError(fs, env, err.Error())
	}
	port, err := parsePort(pos[1], false)
	if err != nil {
		return usageError(fs, env, err.Error())
	}
	if timeout.d <= 0 || wait.d <= 0 {
		return usageError(fs, env, "-w and --wait must be positive")
	}
	for _, p := range ps {
		if p.backup {
			return usageError(fs, env, "backup: probe opens one subflow (no joins)")
		}
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	r := &ncRun{cfg: &ncConfig{host: pos[0], paths: ps}, log: log}
	dst, err := r.resolve(ctx)
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp probe: %v\n", err)
		return exitFailure
	}
	target := netip.AddrPortFrom(dst, port)
	tap := probe.NewTap(target)
	st := stack.New(stack.Options{Logger: log})
	defer st.Close()
	for _, p := range ps {
		d, err := netdev.Open(p.dev)
		if err == nil {
			if err = st.AddInterface(tap.Wrap(d.Endpoint()), d.InterfaceConfig()); err != nil {
				d.Close()
			}
		}
		if err != nil {
			if errors.Is(err, netdev.ErrNoDevice) && !p.dev.TUN {
				err = fmt.Errorf("%w (in a lab, run probe inside the namespace: mptcp lab exec LAB client -- mptcp probe ...)", err)
			}
			fmt.Fprintf(env.stderr, "mptcp probe: %v\n", err)
			return exitFailure
		}
		c := d.Config()
		log.Info("interface", "dev", c.Name, "addrs", (*prefixList)(&c.Addrs).String(), "mac", net.HardwareAddr(c.MAC[:]).String())
		for _, w := range d.Warnings {
			log.Warn(w)
		}
	}
	rep := probe.Run(ctx, st, tap, target, probe.Config{Send: []byte(unescape(send)), Timeout: timeout.d, Wait: wait.d, Checksum: checksum})
	if js {
		b, _ := json.Marshal(rep)
		fmt.Fprintf(env.stdout, "%s\n", b)
	} else {
		printProbe(env.stdout, rep)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(env.stderr, "mptcp probe: interrupted")
		return exitFailure
	}
	if rep.Verdict != probe.VerdictMPTCP {
		return exitFailure
	}
	return exitOK
}

func unescape(s string) string {
	return strings.NewReplacer(`\r`, "\r", `\n`, "\n", `\t`, "\t", `\\`, `\`).Replace(s)
}

func printProbe(w io.Writer, r *probe.Report) {
	from := ""
	if r.Local != "" {
		from = " from " + r.Local
	}
	fmt.Fprintf(w, "probe %s%s\n", r.Target, from)
	fmt.Fprintf(w, "verdict: %s: %s\n", r.Verdict, r.Summary)
	if r.Version != nil {
		v := fmt.Sprintf("%d", *r.Version)
		if *r.Version == 1 {
			v += " (RFC 8684)"
		} else {
			v += " (RFC 6824)"
		}
		fmt.Fprintf(w, "  %-12s %s, HMAC-%s\n", "version", v, strings.ToUpper(r.HMAC))
		fmt.Fprintf(w, "  %-12s server requires: %s, in use: %s\n", "checksums", yesNo(r.ServerChecksum), yesNo(r.Checksum))
		if r.NoMoreSubflows {
			fmt.Fprintf(w, "  %-12s the server accepts no more subflows (C flag)\n", "subflows")
		}
	}
	if r.RTTms > 0 {
		fmt.Fprintf(w, "  %-12s %.3f ms (SYN to SYN/ACK)\n", "rtt", r.RTTms)
	}
	if r.Verdict != probe.VerdictUnreachable {
		fmt.Fprintf(w, "  %-12s longest NOP run %d\n", "SYN/ACK", r.SynAckNOPRun)
	}
	if c := r.DataAck; c != nil {
		fmt.Fprintf(w, "  %-12s %s, our key puts it in [%s, %s]: %s\n", "DATA_ACK", c.Got, c.Min, c.Max, okBad(c.Matches))
	}
	if c := r.DataSeq; c != nil {
		fmt.Fprintf(w, "  %-12s %s, the server's key says %s: %s\n", "data seq", c.Got, c.Want, okBad(c.Matches))
	}
	for _, a := range r.AddAddrs {
		addr := a.Addr
		if a.Port != 0 {
			addr = netip.AddrPortFrom(netip.MustParseAddr(a.Addr), a.Port).String()
		}
		fmt.Fprintf(w, "  %-12s %s id %d, HMAC %s\n", "ADD_ADDR", addr, a.ID, map[bool]string{true: "valid", false: "INVALID"}[a.HMACValid])
	}
	fmt.Fprintf(w, "  %-12s fallback to TCP: %s; %d bytes sent, %d received\n", "connection", yesNo(r.Fallback), r.BytesSent, r.BytesRecv)
	if r.Error != "" {
		fmt.Fprintf(w, "  %-12s %s\n", "error", r.Error)
	}
	if len(r.Findings) > 0 {
		fmt.Fprintln(w, "findings:")
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  %-7s %s: %s\n", f.Severity, f.Kind, f.Detail)
		}
	}
	if len(r.Segments) > 0 {
		fmt.Fprintln(w, "wire (out: ours, in: the server's):")
		for _, s := range r.Segments {
			mp := strings.Join(s.MPTCP, "; ")
			if mp == "" {
				mp = "-"
			}
			fmt.Fprintf(w, "  %+.6fs %-3s %-8s len %-5d %s  [%s]\n", s.TS, s.Dir, s.Flags, s.Len, mp, s.Options)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func okBad(b bool) string {
	if b {
		return "ok"
	}
	return "MISMATCH"
}
