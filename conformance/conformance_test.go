package conformance

import (
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
)

var traceAll = flag.Bool("conformance.trace", false, "log every run's packet trace, not only failing ones")

// TestMain runs the scenarios several at a time unless -parallel was
// given: each run has its own DUT (stack or namespace) and most of a run is
// waiting for the DUT's timers, so the suite's time is the sum of those
// waits divided by the parallelism rather than bounded by the CPUs.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}

// TestScenarios plays every scenario against our stack (always) and the
// kernel (as root), for IPv4 and IPv6.
func TestScenarios(t *testing.T) {
	for _, fac := range []DUTFactory{Ours, Kernel} {
		t.Run(fac.Name, func(t *testing.T) {
			if fac.Name == "kernel" {
				if err := KernelAvailable(); err != nil {
					t.Skip(err)
				}
			}
			for _, sc := range Scenarios() {
				for _, fam := range []Family{IPv4, IPv6} {
					t.Run(sc.Name+"/"+fam.String(), func(t *testing.T) {
						t.Parallel()
						runTest(t, sc, fac, fam)
					})
				}
			}
		})
	}
}

func runTest(t *testing.T, sc *Scenario, fac DUTFactory, fam Family) {
	res := Run(context.Background(), sc, fac, fam)
	if res.Outcome == Fail || *traceAll || testing.Verbose() && res.Outcome != Pass {
		t.Logf("trace:\n%s", strings.Join(res.Trace, "\n"))
	}
	for _, v := range res.Variants {
		t.Logf("variant: %s", v)
	}
	switch res.Outcome {
	case Fail:
		for _, e := range res.Errors {
			t.Error(e)
		}
		if res.Reason != "" {
			t.Error(res.Reason)
		}
	case NotYet, Skipped:
		t.Skipf("%v: %s", res.Outcome, res.Reason)
	case NA:
		t.Logf("not applicable: %s", res.Reason)
	}
}

func TestScenarioNames(t *testing.T) {
	for _, sc := range Scenarios() {
		fam, rest, ok := strings.Cut(sc.Name, "/")
		if !ok || fam == "" || rest == "" || strings.ContainsAny(sc.Name, " \t") {
			t.Errorf("scenario name %q: want family/what-it-tests", sc.Name)
		}
		if sc.Summary == "" || sc.Run == nil {
			t.Errorf("scenario %s: no summary or no Run", sc.Name)
		}
	}
	_ = errors.New
}

// TestScenarioCounts holds the suite to issue 15's floor: at least 20 TCP
// and 60 MPTCP scenarios, each run for IPv4 and IPv6.
func TestScenarioCounts(t *testing.T) {
	var tcp, mp int
	fams := map[string]int{}
	for _, sc := range Scenarios() {
		if sc.MPTCP {
			mp++
		} else {
			tcp++
		}
		fams[sc.Family()]++
	}
	t.Logf("%d TCP, %d MPTCP scenarios; families %v", tcp, mp, fams)
	if tcp < 20 || mp < 60 {
		t.Errorf("%d TCP and %d MPTCP scenarios, want at least 20 and 60", tcp, mp)
	}
}
