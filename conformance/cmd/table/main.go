// Command table runs the packet-level conformance scenarios against the
// Linux kernel (as root) and our stack, for IPv4 and IPv6, and writes the
// results as a Markdown table (docs/conformance.md by default).
//
//	go run ./conformance/cmd/table                   # everything, writes docs/conformance.md
//	go run ./conformance/cmd/table -run 'mp_join/' -o -   # some scenarios, table on stdout
//	go run ./conformance/cmd/table -json             # one JSON result per run on stdout
//
// Exit status: 0 when no run failed, 1 when one did (or the table could not
// be written), 2 on a usage error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/mptcp-go/mptcp/conformance"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("table", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "docs/conformance.md", "write the Markdown table to this file (- for stdout)")
	filter := fs.String("run", "", "only scenarios whose name matches this regular expression")
	duts := fs.String("dut", "kernel,ours", "DUTs to run: kernel, ours or both (comma-separated)")
	parallel := fs.Int("parallel", 8, "runs at a time (each has its own DUT; most of a run is waiting for timers)")
	asJSON := fs.Bool("json", false, "print one JSON object per run on stdout instead of writing the table")
	quiet := fs.Bool("q", false, "no progress on stderr")
	verbose := fs.Bool("v", false, "print the trace of each failed run on stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./conformance/cmd/table [flags]\n\n"+
			"Runs the conformance scenarios against the kernel (needs root; skipped otherwise) and our\n"+
			"stack, IPv4 and IPv6, and writes the Markdown table. Exit 0: no failure; 1: a run failed.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "table: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	var re *regexp.Regexp
	if *filter != "" {
		var err error
		if re, err = regexp.Compile(*filter); err != nil {
			fmt.Fprintf(stderr, "table: -run: %v\n", err)
			return 2
		}
	}
	var facs []conformance.DUTFactory
	for _, d := range strings.Split(*duts, ",") {
		switch strings.TrimSpace(d) {
		case "kernel":
			facs = append(facs, conformance.Kernel)
		case "ours":
			facs = append(facs, conformance.Ours)
		default:
			fmt.Fprintf(stderr, "table: -dut: unknown DUT %q (kernel, ours)\n", d)
			return 2
		}
	}
	jobs := conformance.Jobs(re, facs)
	if len(jobs) == 0 {
		fmt.Fprintf(stderr, "table: no scenario matches %q\n", *filter)
		return 2
	}
	if err := conformance.KernelAvailable(); err != nil && !*quiet && strings.Contains(*duts, "kernel") {
		fmt.Fprintf(stderr, "table: %v: the kernel's cells will say skipped\n", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	results := conformance.RunJobs(ctx, jobs, *parallel, func(done, total int, r conformance.Result) {
		if !*quiet {
			fmt.Fprintf(stderr, "[%3d/%d] %-52s %-4s %-6s %s (%.1fs)\n", done, total, r.Scenario, r.Family, r.DUT,
				r.Outcome, r.Duration.Seconds())
		}
		if *verbose && r.Outcome == conformance.Fail {
			fmt.Fprintf(stderr, "%s\n%s\n", strings.Join(r.Errors, "\n"), strings.Join(r.Trace, "\n"))
		}
	})
	failed := 0
	for _, r := range results {
		if r.Outcome == conformance.Fail {
			failed++
			if !*verbose {
				fmt.Fprintf(stderr, "FAIL %s %s %s: %s\n", r.Scenario, r.Family, r.DUT, strings.Join(r.Errors, "; "))
			}
		}
	}
	if !*quiet {
		fmt.Fprintf(stderr, "table: %d runs in %.0fs, %d failed\n", len(results), time.Since(start).Seconds(), failed)
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range results {
			if err := enc.Encode(jsonResult(r)); err != nil {
				fmt.Fprintf(stderr, "table: %v\n", err)
				return 1
			}
		}
	} else {
		meta := conformance.TableMeta{Command: "go run ./conformance/cmd/table", Date: time.Now(),
			Kernel: kernelRelease(), Go: runtime.Version()}
		w := stdout
		if *out != "-" {
			f, err := os.Create(*out)
			if err != nil {
				fmt.Fprintf(stderr, "table: %v\n", err)
				return 1
			}
			defer f.Close()
			w = f
		}
		if err := conformance.WriteMarkdown(w, results, meta); err != nil {
			fmt.Fprintf(stderr, "table: %v\n", err)
			return 1
		}
		if *out != "-" && !*quiet {
			fmt.Fprintf(stderr, "table: wrote %s\n", *out)
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// jsonResult is the JSON form of a run.
func jsonResult(r conformance.Result) map[string]any {
	m := map[string]any{"scenario": r.Scenario, "dut": r.DUT, "family": r.Family.String(),
		"outcome": r.Outcome.String(), "seconds": r.Duration.Seconds()}
	if len(r.Errors) > 0 {
		m["errors"] = r.Errors
	}
	if r.Reason != "" {
		m["reason"] = r.Reason
	}
	if len(r.Variants) > 0 {
		m["variants"] = r.Variants
	}
	return m
}

func kernelRelease() string {
	out, err := exec.Command("uname", "-r").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
