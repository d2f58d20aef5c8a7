package conformance

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestWriteMarkdown(t *testing.T) {
	res := []Result{
		{Scenario: "tcp/abort-rst", DUT: "kernel", Family: IPv4, Outcome: Pass, Variants: []string{"RST|ACK"}},
		{Scenario: "tcp/abort-rst", DUT: "ours", Family: IPv4, Outcome: Pass, Variants: []string{"RST without ACK"}},
		{Scenario: "tcp/abort-rst", DUT: "kernel", Family: IPv6, Outcome: Fail, Errors: []string{"x"}},
		{Scenario: "tcp/abort-rst", DUT: "ours", Family: IPv6, Outcome: NotYet},
		{Scenario: "mp_capable/passive-handshake", DUT: "ours", Family: IPv4, Outcome: Skipped},
	}
	var b strings.Builder
	if err := WriteMarkdown(&b, res, TableMeta{Command: "cmd", Date: time.Unix(0, 0), Kernel: "k", Go: "go"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| `abort-rst` | pass (RST\\|ACK) | pass (RST without ACK) | **FAIL** | *not yet* |",
		"## tcp (1)", "## mp_capable (1)", "| `passive-handshake` |  | *skipped* |  |  |",
		"2 scenarios (1 TCP, 1 MPTCP), 5 runs: 2 pass, 1 fail, 1 not yet, 0 n/a, 1 skipped.",
		"*Note:* " + rstAckNote,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "## tcp") > strings.Index(out, "## mp_capable") {
		t.Errorf("TCP family not first")
	}
}

// TestRunJobsOrder checks that RunJobs returns results in job order
// whatever finishes first.
func TestRunJobsOrder(t *testing.T) {
	jobs := Jobs(regexp.MustCompile(`^tcp/(closed-port-syn|mss-clamp)$`), []DUTFactory{Ours})
	if len(jobs) != 4 {
		t.Fatalf("%d jobs, want 4", len(jobs))
	}
	res := RunJobs(context.Background(), jobs, 4, nil)
	for i, r := range res {
		if r.Scenario != jobs[i].Scenario.Name || r.Family != jobs[i].Family || r.Outcome != Pass {
			t.Errorf("result %d: %s %v %v, want %s %v pass", i, r.Scenario, r.Family, r.Outcome, jobs[i].Scenario.Name, jobs[i].Family)
		}
	}
}
