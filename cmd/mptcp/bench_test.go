package main

import (
	"strings"
	"testing"
)

func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "extra"}, "bench takes no arguments"},
		{[]string{"bench", "--reps", "0"}, "--reps must be at least 1"},
		{[]string{"bench", "--scenario", "("}, "--scenario"},
	} {
		code, out, errOut := runCLI(tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	code, out, _ := runCLI("bench", "--help")
	if code != exitOK || !strings.Contains(out, "request-response") || !strings.Contains(out, "-short") {
		t.Errorf("bench --help: exit %d\n%s", code, out)
	}
}
