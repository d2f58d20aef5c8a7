package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}, args)
	return code, out.String(), errOut.String()
}

// TestHelpEverywhere checks that every command answers --help once, on
// stdout, with exit 0, and that the top level lists every command.
func TestHelpEverywhere(t *testing.T) {
	code, out, errOut := runCLI("--help")
	if code != exitOK || errOut != "" {
		t.Fatalf("mptcp --help: exit %d, stderr %q", code, errOut)
	}
	for _, c := range commands() {
		if !strings.Contains(out, "  "+c.name+" ") {
			t.Errorf("top-level help does not list %q", c.name)
		}
		code, out, errOut := runCLI(c.name, "--help")
		if code != exitOK {
			t.Errorf("%s --help: exit %d", c.name, code)
		}
		if n := strings.Count(out, "Usage: mptcp "+c.name); n != 1 {
			t.Errorf("%s --help: usage printed %d times on stdout:\n%s", c.name, n, out)
		}
		if errOut != "" {
			t.Errorf("%s --help: unexpected stderr %q", c.name, errOut)
		}
	}
}

// TestUsageErrors checks exit code 2 and a message on stderr for an unknown
// command, no command and an unknown flag.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"no-such-command"}, {"decode", "--no-such-flag", "1e"}, {"analyze", "--bogus"}} {
		code, out, errOut := runCLI(args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
		if errOut == "" || out != "" {
			t.Errorf("%q: stdout %q stderr %q: want the message on stderr only", args, out, errOut)
		}
	}
	_, _, errOut := runCLI("decode", "--no-such-flag")
	if strings.Count(errOut, "Usage: mptcp decode") != 1 {
		t.Errorf("usage after a flag error printed %d times:\n%s", strings.Count(errOut, "Usage: mptcp decode"), errOut)
	}
}
