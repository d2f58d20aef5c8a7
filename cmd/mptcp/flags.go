package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// newFlagSet returns a FlagSet for a subcommand whose help text starts with
// the given usage line and description.
func newFlagSet(env *cmdEnv, name, usageLine, description string) *flag.FlagSet {
	fs := flag.NewFlagSet("mptcp "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: mptcp %s %s\n\n", name, usageLine)
		if description != "" {
			fmt.Fprintln(w, strings.TrimSpace(description))
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "Flags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args allowing flags and positional arguments to be
// interleaved ("decode HEX --json" and "decode --json HEX" both work). A
// lone "--" ends flag parsing. It returns the positional arguments, and the
// exit code to return at once if parsing ended the command (help or error).
func parseFlags(fs *flag.FlagSet, env *cmdEnv, args []string) (positional []string, exit int, done bool) {
	// The flag package prints the usage itself on an error or -help; keep it
	// quiet and print it once here: help to stdout, after an error to stderr.
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(env.stdout)
			usage()
			return nil, exitOK, true
		}
		if err != nil {
			usage()
			return nil, exitUsage, true
		}
		rest := fs.Args()
		// fs.Parse stops at the first non-flag; collect it and go on.
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), 0, false
		}
		if len(rest) == 0 {
			return positional, 0, false
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// parseFlagsN is parseFlags for a command that takes between minArgs and
// maxArgs positional arguments (maxArgs < 0: no upper limit). With any other
// number it prints "<command>: <want>" to stderr and ends the command with
// exitUsage.
func parseFlagsN(fs *flag.FlagSet, env *cmdEnv, args []string, minArgs, maxArgs int, want string) (positional []string, exit int, done bool) {
	pos, code, done := parseFlags(fs, env, args)
	if done {
		return nil, code, true
	}
	if len(pos) < minArgs || maxArgs >= 0 && len(pos) > maxArgs {
		return nil, usageError(fs, env, want), true
	}
	return pos, exitOK, false
}

// usageError prints "<command>: <msg>" to stderr and returns exitUsage.
func usageError(fs *flag.FlagSet, env *cmdEnv, msg string) int {
	fmt.Fprintf(env.stderr, "%s: %s\n", fs.Name(), msg)
	return exitUsage
}

// sizeFlag is a byte count with an optional binary suffix: 65536, 64k,
// 64KiB, 1m, 1MiB, 2g (k = 1024).
type sizeFlag struct{ n int64 }

func (s *sizeFlag) String() string { return formatSize(s.n) }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	s.n = n
	return nil
}

// parseSize parses a positive byte count with an optional suffix k, m, g
// (or KiB, MiB, GiB, KB, MB, GB; all binary).
func parseSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, suf := range []struct {
		s string
		m int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(s, suf.s) {
			s, mult = strings.TrimSuffix(s, suf.s), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (a positive number of bytes, optionally with k, m or g: 64k, 256m)", v)
	}
	return n * mult, nil
}

func formatSize(n int64) string {
	switch {
	case n > 0 && n%(1<<30) == 0:
		return fmt.Sprintf("%dg", n>>30)
	case n > 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dm", n>>20)
	case n > 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

// listFlag collects every use of a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}
