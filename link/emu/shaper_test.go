package emu

import (
	"math"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestShaperRateSerializes(t *testing.T) {
	// 1250-byte packets at 1 Mbit/s take 10 ms each on the wire.
	s := NewShaper(Spec{Rate: 1e6, Delay: 5 * ms, QueueLimit: 100}, 1)
	for i := range 5 {
		rel, v := s.Admit(0, 1250)
		if v != Pass {
			t.Fatalf("packet %d: %v", i, v)
		}
		if want := time.Duration(i+1)*10*ms + 5*ms; rel != want {
			t.Errorf("packet %d released at %v, want %v", i, rel, want)
		}
	}
	// A packet arriving after the link went idle starts at once.
	if rel, _ := s.Admit(200*ms, 1250); rel != 215*ms {
		t.Errorf("idle-link packet released at %v, want 215ms", rel)
	}
	if got := s.QueueHigh(); got != 5 {
		t.Errorf("QueueHigh = %d, want 5", got)
	}
}

func TestShaperQueueLimit(t *testing.T) {
	s := NewShaper(Spec{Rate: 1e6, QueueLimit: 3}, 1)
	var verdicts []Verdict
	for range 5 {
		_, v := s.Admit(0, 1250)
		verdicts = append(verdicts, v)
	}
	want := []Verdict{Pass, Pass, Pass, DropQueue, DropQueue}
	for i := range want {
		if verdicts[i] != want[i] {
			t.Fatalf("verdicts = %v, want %v", verdicts, want)
		}
	}
	// After the first packet left (10 ms) one slot is free again.
	if _, v := s.Admit(10*ms, 1250); v != Pass {
		t.Errorf("after drain: %v, want pass", v)
	}
	if _, v := s.Admit(10*ms, 1250); v != DropQueue {
		t.Errorf("queue full again: %v, want queue drop", v)
	}
}

func TestShaperJitterKeepsOrder(t *testing.T) {
	s := NewShaper(Spec{Delay: 20 * ms, Jitter: 5 * ms}, 7)
	var last time.Duration
	lo, hi := time.Hour, time.Duration(0)
	for i := range 10000 {
		now := time.Duration(i) * 100 * time.Microsecond
		rel, v := s.Admit(now, 100)
		if v != Pass {
			t.Fatal(v)
		}
		if rel < last {
			t.Fatalf("packet %d released at %v before previous %v", i, rel, last)
		}
		last = rel
		d := rel - now
		lo, hi = min(lo, d), max(hi, d)
		if d < 15*ms || d > 25*ms+5*ms {
			t.Fatalf("delay %v outside [15ms, 30ms]", d)
		}
	}
	// Packets further apart than the spread never wait for each other,
	// so their delays cover [Delay-Jitter, Delay+Jitter].
	s = NewShaper(Spec{Delay: 20 * ms, Jitter: 5 * ms}, 7)
	lo, hi = time.Hour, 0
	var sum time.Duration
	const n = 5000
	for i := range n {
		now := time.Duration(i) * 20 * ms
		rel, _ := s.Admit(now, 100)
		d := rel - now
		lo, hi, sum = min(lo, d), max(hi, d), sum+d
	}
	if lo < 15*ms || lo > 15100*time.Microsecond || hi > 25*ms || hi < 24900*time.Microsecond {
		t.Errorf("sparse jitter range [%v, %v], want about [15ms, 25ms]", lo, hi)
	}
	if mean := sum / n; mean < 19800*time.Microsecond || mean > 20200*time.Microsecond {
		t.Errorf("mean delay %v, want 20ms", mean)
	}
}

func TestShaperReorder(t *testing.T) {
	s := NewShaper(Spec{Delay: 10 * ms, Reorder: 0.1, ReorderDelay: 3 * ms}, 3)
	const n = 20000
	var rels []time.Duration
	for i := range n {
		rel, _ := s.Admit(time.Duration(i)*ms, 100)
		rels = append(rels, rel)
	}
	// A packet held back 3 ms is overtaken by the 3 packets after it (1 ms apart): count
	// packets released after their successor.
	late := 0
	for i := 0; i+1 < n; i++ {
		if rels[i] > rels[i+1] {
			late++
		}
	}
	// Packet i is late when it is held back and its successor is not.
	p, want := float64(late)/n, 0.1*0.9
	if math.Abs(p-want) > 5*math.Sqrt(want*(1-want)/n) {
		t.Errorf("reordered share %.4f, want %.4f", p, want)
	}
}

// binomialOK reports whether k successes in n trials is within z standard
// deviations of probability p.
func binomialOK(k, n int, p, z float64) bool {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(k)-mean) <= z*sd
}

func TestShaperLoss(t *testing.T) {
	for _, p := range []float64{0.01, 0.05, 0.3} {
		s := NewShaper(Spec{Loss: p}, 42)
		const n = 50000
		lost := 0
		for i := range n {
			if _, v := s.Admit(time.Duration(i), 100); v == DropLoss {
				lost++
			} else if v != Pass {
				t.Fatal(v)
			}
		}
		if !binomialOK(lost, n, p, 5) {
			t.Errorf("loss %v: lost %d of %d", p, lost, n)
		}
	}
}

func TestShaperDeterministic(t *testing.T) {
	spec := Spec{Loss: 0.1, Jitter: 3 * ms, Delay: 10 * ms, Reorder: 0.05}
	run := func(seed uint64) []time.Duration {
		s := NewShaper(spec, seed)
		var out []time.Duration
		for i := range 1000 {
			rel, v := s.Admit(time.Duration(i)*ms, 100)
			out = append(out, rel+time.Duration(v))
		}
		return out
	}
	a, b, c := run(9), run(9), run(10)
	same := func(x, y []time.Duration) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("same seed gave different results")
	}
	if same(a, c) {
		t.Error("different seeds gave the same results")
	}
}

func TestShaperGilbertElliott(t *testing.T) {
	g := GilbertElliott{P: 0.01, R: 0.25, LossBad: 1}
	s := NewShaper(Spec{Burst: g}, 5)
	const n = 200000
	lost, bursts, run := 0, 0, 0
	var runs []int
	for i := range n {
		_, v := s.Admit(time.Duration(i), 100)
		if v == DropBurst {
			lost++
			run++
			continue
		}
		if v != Pass {
			t.Fatal(v)
		}
		if run > 0 {
			bursts++
			runs = append(runs, run)
			run = 0
		}
	}
	mean := float64(lost) / n
	if want := g.MeanLoss(); math.Abs(mean-want) > 0.15*want {
		t.Errorf("mean loss %.4f, want %.4f ±15%%", mean, want)
	}
	avg := float64(lost) / float64(bursts)
	if math.Abs(avg-1/g.R) > 0.15/g.R {
		t.Errorf("mean burst length %.2f, want %.2f", avg, 1/g.R)
	}
}

func TestShaperEvents(t *testing.T) {
	s := NewShaper(Spec{
		Delay:  10 * ms,
		Events: []Event{Up(5 * time.Second), Down(2 * time.Second), SetDelay(3*time.Second, 50*ms), SetRate(4*time.Second, 1e6), SetLoss(6*time.Second, 1)},
	}, 1)
	tests := []struct {
		at      time.Duration
		verdict Verdict
		release time.Duration
	}{
		{0, Pass, 10 * ms},
		{1999 * ms, Pass, 2009 * ms},
		{2 * time.Second, DropDown, 0},
		{3500 * ms, DropDown, 0},
		{5 * time.Second, Pass, 5*time.Second + 10*ms + 50*ms}, // 10ms serialization of 1250 B, then 50ms
		{7 * time.Second, DropLoss, 0},
	}
	for _, tc := range tests {
		rel, v := s.Admit(tc.at, 1250)
		if v != tc.verdict || rel != tc.release {
			t.Errorf("at %v: %v %v, want %v %v", tc.at, v, rel, tc.verdict, tc.release)
		}
	}
	if sp := s.Spec(); sp.Rate != 1e6 || sp.Delay != 50*ms || sp.Loss != 1 {
		t.Errorf("spec after events = %+v", sp)
	}
	if _, ok := s.NextEvent(); ok {
		t.Error("events left after the last one")
	}
}

func TestShaperSetDown(t *testing.T) {
	s := NewShaper(Spec{}, 1)
	s.SetDown(true)
	if _, v := s.Admit(0, 1); v != DropDown {
		t.Fatalf("down: %v", v)
	}
	s.SetDown(false)
	if rel, v := s.Admit(1, 1); v != Pass || rel != 1 {
		t.Fatalf("up: %v %v", v, rel)
	}
}

func TestShaperAdmitAllocs(t *testing.T) {
	s := NewShaper(Spec{Rate: 1e9, Delay: ms, Jitter: 100 * time.Microsecond, Loss: 0.01,
		Burst: GilbertElliott{P: 0.01, R: 0.5, LossBad: 0.5}, Reorder: 0.01}, 1)
	now := time.Duration(0)
	if a := testing.AllocsPerRun(1000, func() {
		now += 20 * time.Microsecond
		s.Admit(now, 1500)
	}); a != 0 {
		t.Errorf("Admit allocates %v per packet", a)
	}
}

func BenchmarkShaperAdmit(b *testing.B) {
	s := NewShaper(Spec{Rate: 10e9, Delay: ms, Jitter: 100 * time.Microsecond, Loss: 0.001}, 1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Admit(time.Duration(i)*1200, 1500)
	}
}
