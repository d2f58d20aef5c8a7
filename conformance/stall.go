package conformance

import (
	"sync"
	"time"
)

// stallMonitor records when this process was not scheduled: a goroutine
// that wakes every few milliseconds notes each wake-up that came late.
// Our stack runs in the test process, so its timers are late by about as
// much when the machine is loaded (the race detector on two shared cores,
// other packages' tests); timing checks of an in-process DUT widen their
// bounds by the stalls seen during the interval they judge, so they stay
// exact on an idle machine and do not fail on a starved one. The kernel's
// timers do not depend on us, and intervals between its segments come
// from its own timestamps (Interval).
type stallMonitor struct {
	mu     sync.Mutex
	stalls []stall
	stop   chan struct{}
	done   chan struct{}
}

type stall struct {
	from, to time.Time
}

const (
	stallTick      = 5 * time.Millisecond
	stallThreshold = 15 * time.Millisecond
)

func startStallMonitor() *stallMonitor {
	m := &stallMonitor{stop: make(chan struct{}), done: make(chan struct{})}
	go m.run()
	return m
}

func (m *stallMonitor) run() {
	defer close(m.done)
	tk := time.NewTicker(stallTick)
	defer tk.Stop()
	last := time.Now()
	for {
		select {
		case <-m.stop:
			return
		case now := <-tk.C:
			// The ticker's channel holds the time it fired; reading it
			// late means this goroutine was not run.
			woke := time.Now()
			if gap := woke.Sub(last); gap > stallTick+stallThreshold {
				m.mu.Lock()
				m.stalls = append(m.stalls, stall{last, woke})
				m.mu.Unlock()
			}
			_ = now
			last = woke
		}
	}
}

func (m *stallMonitor) close() {
	close(m.stop)
	<-m.done
}

// between returns the total stall overlapping [a, b].
func (m *stallMonitor) between(a, b time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum time.Duration
	for _, s := range m.stalls {
		from, to := s.from, s.to
		if to.Before(a) || from.After(b) {
			continue
		}
		if from.Before(a) {
			from = a
		}
		if to.After(b) {
			to = b
		}
		sum += to.Sub(from)
	}
	return sum
}

// slack is how far the stalls of this process may have moved the DUT's
// sending times of segments a..b (and the testbench's reading of them):
// zero for the kernel's timestamped segments, else the stalls seen from a
// second before a (a late timer postpones its segment) to b.
func (t *T) slack(a, b *Got) time.Duration {
	inProc := false
	if ip, ok := t.dut.(interface{ InProcess() bool }); ok {
		inProc = ip.InProcess()
	}
	if !inProc && a.Opts.HasTimestamps && b.Opts.HasTimestamps {
		return 0
	}
	return t.stalls.between(a.At.Add(-time.Second), b.At)
}
