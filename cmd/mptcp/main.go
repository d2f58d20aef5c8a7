// Command mptcp is the project's single command-line tool: it decodes MPTCP
// options, analyzes captures, runs the namespace lab and (later) drives the
// userspace stack. Each subcommand lives in its own file; this file only
// dispatches. Exit codes: 0 success, 1 failure or a finding, 2 usage error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0 // success, nothing to report
	exitFailure = 1 // the command failed, or found something the user must see
	exitUsage   = 2 // bad flags or arguments
	// exitInput: analyze and capture could not read their input whole (a
	// missing, unreadable, truncated or corrupt capture, an interface that
	// fails) or could not write an output; what could be read is still
	// analyzed and reported.
	exitInput = 3
)

// command is one subcommand: its name, a one-line summary for the top-level
// help and the function that runs it.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) int
}

// cmdEnv carries the process's streams so subcommands are testable without
// touching os.Stdout and friends.
type cmdEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// commands lists every subcommand, in the order the help shows them.
func commands() []command {
	return []command{
		// Subcommands are added here, one line each, as their issues land.
		{"decode", "decode MPTCP option bytes (hex) into fields, with derived tokens and IDSNs", runDecode},
		{"lab", "network-namespace labs with the link emulator (up, down, exec, status, list)", runLab},
		{"filter", "print the classic BPF filter that keeps MPTCP segments", runFilter},
		{"analyze", "analyze a capture: MPTCP connections, joins, mappings, reassembled data", runAnalyze},
		{"capture", "capture MPTCP traffic on an interface and analyze it live (optionally saving pcapng)", runCapture},
		{"nc", "netcat over the userspace MPTCP stack (or TCP) on interfaces it owns (AF_PACKET or TUN)", runNC},
		{"probe", "does a server speak MPTCP, and does the path let it through (options stripped or changed)?", runProbe},
		{"bench", "benchmark MPTCP on lab topologies: our stack, the kernel's MPTCP and TCP side by side", runBench},
		{"version", "print the version of this build (also: mptcp --version)", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &cmdEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches args[0] to its subcommand and returns the exit code.
func run(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 {
		usage(env.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-version", "--version", "-V":
		return runVersion(ctx, env, args[1:])
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return run(ctx, env, []string{args[1], "--help"})
		}
		usage(env.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.stderr, "mptcp: unknown command %q\n\n", args[0])
	usage(env.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mptcp: Multipath TCP (RFC 8684) tools: codec, analyzer, lab and userspace stack.")
	fmt.Fprintln(w, "\nUsage: mptcp COMMAND [flags] [args]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'mptcp COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 failure or finding, 2 usage error; analyze and capture: 3 input")
	fmt.Fprintln(w, "not read whole or output not written. 'mptcp --version' prints the version.")
}
