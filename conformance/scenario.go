package conformance

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
)

// Scenario is one conformance scenario: a script played by the testbench
// against a DUT, written once and run for IPv4 and IPv6.
type Scenario struct {
	// Name is "family/what-it-tests", e.g. "tcp/rst-in-window-challenge-ack".
	Name string
	// Summary says what is checked and where the rule comes from (RFC
	// section); it is the table's description of the row.
	Summary string
	// Note explains, where the RFC allows more than one behaviour, which
	// ones the scenario accepts; the table prints it under the row.
	Note string
	// MPTCP marks scenarios that need an MPTCP DUT.
	MPTCP bool
	// Setup is what the DUT must be configured with.
	Setup Setup
	// Timeout bounds the whole run (default 20 s).
	Timeout time.Duration
	// Run plays the scenario.
	Run func(t *T)
}

// Family returns the part of the name before the slash ("tcp",
// "mp_capable", ...).
func (s *Scenario) Family() string {
	if i := strings.IndexByte(s.Name, '/'); i > 0 {
		return s.Name[:i]
	}
	return s.Name
}

type registry struct {
	mu  sync.Mutex
	all map[string]*Scenario
}

var scenarios = registry{all: map[string]*Scenario{}}

// register adds s to the package's scenarios; it is called from the
// scenario files' init functions, and a duplicate name is a programming
// error caught by the package's tests.
func register(s ...Scenario) {
	scenarios.mu.Lock()
	defer scenarios.mu.Unlock()
	for i := range s {
		sc := s[i]
		if _, dup := scenarios.all[sc.Name]; dup {
			panic("conformance: duplicate scenario " + sc.Name)
		}
		scenarios.all[sc.Name] = &sc
	}
}

// Scenarios returns every registered scenario sorted by name.
func Scenarios() []*Scenario {
	scenarios.mu.Lock()
	defer scenarios.mu.Unlock()
	out := make([]*Scenario, 0, len(scenarios.all))
	for _, s := range scenarios.all {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Outcome is the result of one run.
type Outcome uint8

// Outcomes of a run.
const (
	Pass    Outcome = iota
	Fail            // a check failed
	NotYet          // the DUT does not implement what the scenario needs yet
	NA              // the scenario does not apply to this DUT (explained)
	Skipped         // the DUT cannot run on this machine
)

func (o Outcome) String() string {
	return [...]string{"pass", "FAIL", "not yet", "n/a", "skipped"}[o]
}

// Result is what a run produced.
type Result struct {
	Scenario string
	DUT      string
	Family   Family
	Outcome  Outcome
	// Errors are the failed checks, Reason why the run was not applicable,
	// not yet possible or skipped.
	Errors []string
	Reason string
	// Variants are the RFC-allowed behaviours the DUT showed where the
	// scenario accepts more than one.
	Variants []string
	// Trace is the packet and call log of the run.
	Trace    []string
	Duration time.Duration
}

// T is a scenario's handle on a run: checks, the DUT's application side
// and the testbench. Its Fatal-style methods must be called from the
// scenario's goroutine.
type T struct {
	ctx    context.Context
	sc     *Scenario
	dut    DUT
	topo   Topology
	tb     *Testbench
	start  time.Time
	stalls *stallMonitor

	mu    sync.Mutex
	res   Result
	trace []traceLine
	// verdict is closed once the run's outcome is settled before the
	// scenario ends (not yet possible), so that its waits return at once.
	verdict     chan struct{}
	verdictOnce sync.Once
	ended       bool
	cleanups    []func()
}

// errEnd ends a scenario's goroutine after Fatalf, NotApplicable or NotYet.
var errEnd = errors.New("conformance: scenario ended")

// Run plays scenario sc against a fresh DUT made by fac for family fam.
func Run(ctx context.Context, sc *Scenario, fac DUTFactory, fam Family) Result {
	res := Result{Scenario: sc.Name, DUT: fac.Name, Family: fam}
	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()
	timeout := sc.Timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	topo := NewTopology(fam)
	dut, err := fac.New(ctx, DUTConfig{Topology: topo, Setup: sc.Setup})
	if err != nil {
		res.Outcome, res.Reason = Fail, err.Error()
		if errors.Is(err, ErrSkip) {
			res.Outcome = Skipped
		}
		return res
	}
	t := &T{ctx: ctx, sc: sc, dut: dut, topo: topo, start: start, stalls: startStallMonitor(), verdict: make(chan struct{})}
	defer t.stalls.close()
	t.res = res
	t.tb = newTestbench(t, dut.Link(), topo)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil && r != errEnd {
				t.record(Fail, fmt.Sprintf("panic: %v\n%s", r, debug.Stack()))
			}
		}()
		sc.Run(t)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.record(Fail, fmt.Sprintf("scenario did not finish within %v", timeout))
		// Closing the DUT below unblocks what the scenario waits on.
	}
	t.mu.Lock()
	t.ended = true
	cl := t.cleanups
	t.mu.Unlock()
	for i := len(cl) - 1; i >= 0; i-- {
		cl[i]()
	}
	if dg, ok := dut.(interface{ Diagnose() string }); ok && t.Failed() {
		t.logLine("DUT state at the end:\n" + dg.Diagnose())
	}
	if err := dut.Close(); err != nil {
		t.record(Fail, "closing the DUT: "+err.Error())
	}
	t.tb.close()
	<-done
	t.tb.logUntaken()
	t.mu.Lock()
	defer t.mu.Unlock()
	sort.SliceStable(t.trace, func(i, j int) bool { return t.trace[i].at.Before(t.trace[j].at) })
	for _, l := range t.trace {
		t.res.Trace = append(t.res.Trace, fmt.Sprintf("%9.4f %s", l.at.Sub(t.start).Seconds(), l.s))
	}
	return t.res
}

// record notes an outcome: a failure wins over everything but an earlier
// NotYet/NA/Skipped verdict, which ends the run anyway.
func (t *T) record(o Outcome, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch o {
	case Fail:
		t.res.Errors = append(t.res.Errors, msg)
		if t.res.Outcome == Pass {
			t.res.Outcome = Fail
		}
	default:
		if t.res.Outcome == Pass {
			t.res.Outcome, t.res.Reason = o, msg
		}
		t.verdictOnce.Do(func() { close(t.verdict) })
	}
}

// Context is the run's context: it ends at the scenario's timeout.
func (t *T) Context() context.Context { return t.ctx }

// DUT returns the device under test.
func (t *T) DUT() DUT { return t.dut }

// Topology returns the run's address plan.
func (t *T) Topology() Topology { return t.topo }

// TB returns the testbench.
func (t *T) TB() *Testbench { return t.tb }

// Family returns the run's IP version.
func (t *T) Family() Family { return t.topo.Family }

// Logf adds a line to the run's trace.
func (t *T) Logf(format string, args ...any) {
	t.logLine(fmt.Sprintf(format, args...))
}

func (t *T) logLine(s string) { t.logAt(time.Now(), s) }

// logAt adds a line to the trace for an event that happened at when (a
// segment's arrival, logged a little later by the reader).
func (t *T) logAt(when time.Time, s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trace = append(t.trace, traceLine{when, s})
}

type traceLine struct {
	at time.Time
	s  string
}

// Errorf records a failed check and lets the scenario go on.
func (t *T) Errorf(format string, args ...any) {
	msg := where() + fmt.Sprintf(format, args...)
	t.record(Fail, msg)
	t.logLine("ERROR " + msg)
}

// Fatalf records a failed check and ends the scenario.
func (t *T) Fatalf(format string, args ...any) {
	msg := where() + fmt.Sprintf(format, args...)
	t.record(Fail, msg)
	t.logLine("FATAL " + msg)
	panic(errEnd)
}

// NotApplicable ends the scenario as not applicable to this DUT, with the
// reason the table shows.
func (t *T) NotApplicable(reason string) {
	t.record(NA, reason)
	panic(errEnd)
}

// notYet ends the scenario as not yet possible on this DUT.
func (t *T) notYet(err error) {
	t.record(NotYet, err.Error())
	panic(errEnd)
}

// Variant records which of the behaviours the RFC allows the DUT showed.
func (t *T) Variant(format string, args ...any) {
	v := fmt.Sprintf(format, args...)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, have := range t.res.Variants {
		if have == v {
			return
		}
	}
	t.res.Variants = append(t.res.Variants, v)
}

// Failed reports whether a check has failed so far.
func (t *T) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.res.Outcome == Fail
}

// Cleanup registers f to run when the scenario ends, before the DUT is
// closed (last registered first).
func (t *T) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// harnessFiles are the files of the harness itself: a check's message
// points at the first caller outside them, the scenario's line.
var harnessFiles = map[string]bool{"scenario.go": true, "testbench.go": true, "segment.go": true,
	"app.go": true, "mptcp.go": true, "helpers.go": true, "stall.go": true}

func where() string {
	for i := 2; i < 20; i++ {
		_, file, line, ok := runtime.Caller(i)
		if !ok {
			break
		}
		base := file[strings.LastIndexByte(file, '/')+1:]
		if harnessFiles[base] {
			continue
		}
		return fmt.Sprintf("%s:%d: ", base, line)
	}
	return ""
}
