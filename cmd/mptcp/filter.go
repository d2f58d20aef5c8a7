package main

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/mptcp-go/mptcp/capture/filter"
)

const filterDescription = `
Prints the classic BPF program that keeps the packets an MPTCP analyzer
needs: TCP segments (IPv4 and IPv6) that carry TCP option kind 30 (MPTCP,
RFC 8684) anywhere in their option list, and every SYN, FIN and RST segment
(MPTCP or not) so that connections and fallbacks can be followed. Non-first
IP fragments are rejected. The option walk is exact (unrolled over the 40
option bytes), so nothing is missed and nothing else is kept.

--link selects the header in front of IP: ethernet (Ethernet with up to two
VLAN tags, e.g. an AF_PACKET SOCK_RAW socket or tcpdump -i eth0), sll or sll2
(Linux cooked, tcpdump -i any), raw (bare IP: SOCK_DGRAM, TUN).

--format ddd prints what 'tcpdump -ddd' prints: the instruction count, then
"code jt jf k" per line, in decimal. Joined with commas it is the bytecode
syntax of tc's classic-BPF classifier (cls_bpf sees the Ethernet header on
ingress and egress); a match there returns the value of --snaplen as the
class ID, so pass --snaplen 4294967295 (-1: the class ID given to tc):
  tc qdisc add dev eth0 clsact
  tc filter add dev eth0 ingress bpf bytecode "$(mptcp filter --snaplen 4294967295 | paste -sd,)"
The same numbers serve socket filters loaded by hand (SO_ATTACH_FILTER).
iptables' '-m bpf --bytecode' uses the same syntax but takes at most 64
instructions (XT_BPF_MAX_NUM_INSTR), far fewer than this filter needs, so it
does not load there. --format c prints 'tcpdump -dd' (a struct sock_filter
initializer), asm a 'tcpdump -d'-style listing, json an object with the
instructions.

EXPRESSION, as tcpdump users write it (host, net, port, portrange, each with
src or dst; ip, ip6, tcp; and, or, not, parentheses), narrows the filter to
the TCP segments it matches; with --all it is the whole filter (for TCP).
'mptcp capture' takes the same expression.`

// runFilter prints the MPTCP classic BPF filter.
func runFilter(_ context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "filter", "[--link ethernet|sll|sll2|raw] [--format ddd|asm|c|json] [--snaplen N] [EXPRESSION]", filterDescription)
	linkName := fs.String("link", "ethernet", "link-layer header in front of IP: ethernet, sll, sll2 or raw")
	formatName := fs.String("format", "ddd", "output format: ddd, c, asm or json")
	snapLen := fs.Uint("snaplen", filter.DefaultSnapLen, "bytes of an accepted packet to keep (the filter's return value)")
	all := fs.Bool("all", false, "with EXPRESSION: no MPTCP part, the expression alone (on TCP segments)")
	pos, code, done := parseFlags(fs, env, args)
	if done {
		return code
	}
	var expr *filter.Expr
	if len(pos) > 0 {
		var err error
		if expr, err = filter.ParseExpression(strings.Join(pos, " ")); err != nil {
			fmt.Fprintf(env.stderr, "mptcp %v\n", err)
			return exitUsage
		}
	} else if *all {
		fmt.Fprintln(env.stderr, "mptcp filter: --all needs an EXPRESSION")
		return exitUsage
	}
	// The package's errors start with "filter: ", which reads as this
	// command's name after "mptcp ".
	link, err := filter.ParseLink(*linkName)
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp %v\n", err)
		return exitUsage
	}
	format, err := filter.ParseFormat(*formatName)
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp %v\n", err)
		return exitUsage
	}
	if *snapLen == 0 || *snapLen > math.MaxUint32 {
		fmt.Fprintf(env.stderr, "mptcp filter: --snaplen %d out of range 1..4294967295\n", *snapLen)
		return exitUsage
	}
	prog, err := filter.AssembleExpr(link, uint32(*snapLen), expr, !*all)
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp filter: %v\n", err)
		return exitFailure
	}
	if err := filter.Write(env.stdout, format, prog, link, uint32(*snapLen)); err != nil {
		fmt.Fprintf(env.stderr, "mptcp filter: %v\n", err)
		return exitFailure
	}
	return exitOK
}
