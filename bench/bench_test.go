//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab/labtest"
)

// TestShortRun runs every scenario in short mode (small transfers, one
// repetition) and checks that the table is complete and sane: every
// scenario and pair has every metric, nothing failed, goodputs are
// positive and below what the paths can carry, shares add up, times and
// stalls are positive, fairness is in (0, 1].
func TestShortRun(t *testing.T) {
	labtest.Requirements(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	res, err := Run(ctx, Options{Short: true, Progress: &progress})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	t.Logf("progress:\n%s", progress.String())
	if res.CongestionControl != "cubic" || res.Machine.HostCongestionControl == "" {
		t.Errorf("congestion control %q, host's %q: want cubic (the default) and the host's recorded", res.CongestionControl, res.Machine.HostCongestionControl)
	}
	want := map[string][]string{ // scenario: pair/metric that must be there
		"bulk": {"ours -> kernel/goodput", "ours -> kernel/CPU per GB", "kernel -> ours/goodput", "kernel -> kernel/goodput", "tcp path 1/goodput"},
		"aggregate-2x50": {"ours -> kernel/goodput", "ours -> kernel/share on path 1", "ours -> kernel/share on path 2",
			"kernel -> kernel/goodput", "tcp path 1/goodput"},
		"aggregate-3": {"ours -> kernel/goodput", "ours -> kernel/share on path 3", "kernel -> kernel/goodput", "tcp path 1/goodput"},
		"handover": {"ours -> kernel/time to complete", "ours -> kernel/longest stall", "ours handover mode/time to complete",
			"kernel -> kernel/longest stall"},
		"loss-2pct":        {"ours -> kernel/goodput", "kernel -> kernel/goodput", "tcp path 2/goodput"},
		"request-response": {"ours minrtt/time to complete p99", "ours redundant/time to first byte p50", "kernel -> kernel/time to complete p50", "tcp path 2/time to complete p99"},
		"connections":      {"kernel -> ours/memory per connection", "kernel -> ours/fairness (Jain)", "kernel -> ours/aggregate goodput"},
	}
	have := map[string]Row{}
	for _, r := range res.Rows {
		have[r.Scenario+"/"+r.Pair+"/"+r.Metric] = r
		if r.Error != "" || len(r.Values) == 0 {
			t.Errorf("%s %s %s: failed: %s", r.Scenario, r.Pair, r.Metric, r.Error)
		}
	}
	if len(res.Scenarios) != len(want) {
		t.Errorf("%d scenarios, want %d", len(res.Scenarios), len(want))
	}
	for sc, keys := range want {
		for _, k := range keys {
			if _, ok := have[sc+"/"+k]; !ok {
				t.Errorf("no row %s/%s", sc, k)
			}
		}
	}
	// Path capacities (Mbit/s) bound the goodputs of the shaped scenarios.
	capacity := map[string]float64{"aggregate-2x50": 100, "aggregate-3": 80, "loss-2pct": 100}
	shares := map[string]float64{}
	for k, r := range have {
		switch {
		case r.Unit == "Mbit/s":
			if r.Median <= 0 {
				t.Errorf("%s: goodput %v", k, r.Median)
			}
			if c, ok := capacity[r.Scenario]; ok && r.Median > c*1.05 {
				t.Errorf("%s: %.1f Mbit/s over paths of %.0f", k, r.Median, c)
			}
		case strings.HasPrefix(r.Metric, "share"):
			shares[r.Scenario+"/"+r.Pair] += r.Median
		case r.Unit == "s" || r.Unit == "ms" || r.Unit == "KiB":
			if r.Median <= 0 && r.Metric != "longest stall" || r.Median < 0 {
				t.Errorf("%s: %v %s", k, r.Median, r.Unit)
			}
		case strings.HasPrefix(r.Metric, "fairness"):
			if r.Median <= 0 || r.Median > 1.0001 {
				t.Errorf("%s: Jain's index %v", k, r.Median)
			}
		}
	}
	for k, s := range shares {
		if math.Abs(s-100) > 0.5 {
			t.Errorf("%s: shares add up to %.1f%%", k, s)
		}
	}
	// The JSON form and the table both hold every row.
	var back Result
	b, _ := json.Marshal(res)
	if err := json.Unmarshal(b, &back); err != nil || len(back.Rows) != len(res.Rows) {
		t.Errorf("JSON round trip: %v, %d rows of %d", err, len(back.Rows), len(res.Rows))
	}
	var table bytes.Buffer
	WriteTable(&table, res)
	if !strings.Contains(table.String(), "congestion control: cubic on every flow") {
		t.Errorf("table does not name the congestion control:\n%s", table.String())
	}
	for sc := range want {
		if !strings.Contains(table.String(), sc+": ") {
			t.Errorf("table lacks %s:\n%s", sc, table.String())
		}
	}
	files, err := WritePlots(t.TempDir(), res)
	if err != nil || len(files) < len(want) {
		t.Errorf("plots: %v, %d files", err, len(files))
	}
}

func TestRunRejectsUnknownCongestionControl(t *testing.T) {
	if _, err := Run(context.Background(), Options{CongestionControl: "vegas"}); err == nil || !strings.Contains(err.Error(), "vegas") {
		t.Fatalf("Run with vegas: %v", err)
	}
}
