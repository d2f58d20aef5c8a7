package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"

	"github.com/mptcp-go/mptcp/bench"
)

const benchDescription = `Benchmarks Multipath TCP on lab topologies (network namespaces, our link
emulator): each scenario for our userspace stack against the kernel's MPTCP
(sending and, for bulk, receiving), the kernel's MPTCP against itself, and
single-path kernel TCP as the baseline, in the same run. Each measurement is
repeated (--reps) and reported as median and min-max; every transfer is
checked byte for byte (SHA-256) at the receiver. Progress goes to stderr.

Scenarios: bulk (2 unshaped veth paths: goodput, machine CPU seconds per
GB), aggregate-2x50 (50 Mbit/s with 20 ms and 60 ms RTT), aggregate-3 (three
unequal paths), handover (wifi lost 1 s into a 16 MiB upload: time to
complete, longest stall, per-path shares), loss-2pct (one path with 2% loss
against TCP on the clean one), request-response (64 KB answers under 10%
loss on wifi: time to first byte and to complete, p50 and p99, with our
min-RTT and redundant schedulers), connections (many concurrent connections
to our stack: memory per connection, Jain's fairness, aggregate goodput).

Needs root. Exit status: 0 every measurement ran, 1 one failed (its row says
why), 2 usage error.`

func runBench(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "bench", "[flags]", benchDescription)
	reps := fs.Int("reps", 3, "repetitions of each measurement")
	short := fs.Bool("short", false, "small transfers and one repetition: a quick check that the whole table works (as the test suite runs it)")
	match := fs.String("scenario", "", "run only the scenarios whose name matches this `REGEXP`")
	asJSON := fs.Bool("json", false, "print the result as JSON (machine, settings, scenarios, rows with every value)")
	plotDir := fs.String("plot", "", "write an SVG bar chart per scenario and metric into `DIR`")
	ccName := fs.String("cc", "cubic", "congestion control `NAME` of every flow, the kernel's and ours: cubic, reno or bbr (the labs' namespaces would otherwise inherit the host's default)")
	if _, code, done := parseFlagsN(fs, env, args, 0, 0, "bench takes no arguments"); done {
		return code
	}
	o := bench.Options{Reps: *reps, Short: *short, Progress: env.stderr, CongestionControl: *ccName}
	if *reps < 1 {
		return usageError(fs, env, "--reps must be at least 1")
	}
	if err := bench.ValidCongestionControl(*ccName); err != nil {
		return usageError(fs, env, "--cc: "+err.Error())
	}
	if *match != "" {
		re, err := regexp.Compile(*match)
		if err != nil {
			return usageError(fs, env, fmt.Sprintf("--scenario: %v", err))
		}
		o.Match = re
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(env.stderr, "mptcp bench: needs root (network namespaces)")
		return exitFailure
	}
	res, err := bench.Run(ctx, o)
	if res == nil {
		fmt.Fprintf(env.stderr, "mptcp bench: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		bench.WriteTable(env.stdout, res)
	}
	if *plotDir != "" {
		files, perr := bench.WritePlots(*plotDir, res)
		if perr != nil {
			fmt.Fprintf(env.stderr, "mptcp bench: --plot: %v\n", perr)
			return exitFailure
		}
		fmt.Fprintf(env.stderr, "mptcp bench: %d charts in %s\n", len(files), *plotDir)
	}
	code := exitOK
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp bench: %v\n", err)
		code = exitFailure
	}
	for _, r := range res.Rows {
		if r.Error != "" {
			code = exitFailure
		}
	}
	return code
}
