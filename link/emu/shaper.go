package emu

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Verdict is a Shaper's decision about one packet.
type Verdict uint8

// Verdicts. Every value but Pass is a drop, with its reason.
const (
	Pass      Verdict = iota // the packet leaves at the returned time
	DropDown                 // the link is down (an outage event)
	DropQueue                // the bottleneck queue is full (tail drop)
	DropLoss                 // random (Bernoulli) loss
	DropBurst                // Gilbert-Elliott burst loss
	numVerdicts
)

func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case DropDown:
		return "down"
	case DropQueue:
		return "queue"
	case DropLoss:
		return "loss"
	case DropBurst:
		return "burst"
	}
	return "verdict?"
}

// Shaper decides, for one direction, the fate of each packet: dropped (and
// why) or released at a given time. It is a pure state machine: time is an
// explicit offset from the emulator's start, randomness comes from a seeded
// PCG, so the same inputs give the same outputs. It allocates nothing per
// packet. A Shaper is not safe for concurrent use.
type Shaper struct {
	spec   Spec
	events []Event // sorted by At, stable
	next   int     // index of the first event not yet applied
	down   bool
	rng    *rand.Rand

	// Bottleneck: linkFree is when the link finishes sending everything
	// admitted so far; departures holds the departure time of each packet
	// still waiting (a FIFO ring of QueueLimit entries).
	linkFree   time.Duration
	departures []time.Duration
	qhead, qn  int
	queueHigh  int

	geBad       bool
	lastRelease time.Duration // latest release of an in-order packet
}

// NewShaper returns a Shaper for spec, with its random source seeded by
// seed. spec must be valid (see Spec.Validate).
func NewShaper(spec Spec, seed uint64) *Shaper {
	s := &Shaper{
		spec: spec,
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	s.events = slices.Clone(spec.Events)
	slices.SortStableFunc(s.events, func(a, b Event) int {
		if a.At < b.At {
			return -1
		}
		if a.At > b.At {
			return 1
		}
		return 0
	})
	s.setQueueLimit()
	return s
}

func (s *Shaper) setQueueLimit() {
	n := s.spec.QueueLimit
	if n == 0 {
		n = DefaultQueueLimit
	}
	s.departures = make([]time.Duration, n)
	s.qhead, s.qn = 0, 0
}

// Spec returns the current settings, after the events applied so far.
func (s *Shaper) Spec() Spec { return s.spec }

// Down reports whether the link is down.
func (s *Shaper) Down() bool { return s.down }

// SetDown takes the link down (true) or up (false) now, outside the
// schedule.
func (s *Shaper) SetDown(down bool) { s.down = down }

// QueueHigh returns the most packets that ever waited for the bottleneck.
func (s *Shaper) QueueHigh() int { return s.queueHigh }

// Advance applies every event due at or before now.
func (s *Shaper) Advance(now time.Duration) {
	for s.next < len(s.events) && s.events[s.next].At <= now {
		e := s.events[s.next]
		s.next++
		switch e.Action {
		case ActionDown:
			s.down = true
		case ActionUp:
			s.down = false
		case ActionRate:
			s.spec.Rate = e.Rate
		case ActionDelay:
			s.spec.Delay = e.Delay
		case ActionLoss:
			s.spec.Loss = e.Loss
		}
	}
}

// NextEvent returns the offset of the next scheduled event, if any.
func (s *Shaper) NextEvent() (time.Duration, bool) {
	if s.next < len(s.events) {
		return s.events[s.next].At, true
	}
	return 0, false
}

// Admit decides the fate of a packet of size bytes arriving at now (an
// offset from the start; calls must not go back in time). For Pass it
// returns the offset at which the packet leaves the link.
func (s *Shaper) Admit(now time.Duration, size int) (release time.Duration, v Verdict) {
	s.Advance(now)
	if s.down {
		return 0, DropDown
	}
	depart := now
	if s.spec.Rate > 0 {
		// Forget packets that have left the bottleneck by now.
		for s.qn > 0 && s.departures[s.qhead] <= now {
			s.qhead++
			if s.qhead == len(s.departures) {
				s.qhead = 0
			}
			s.qn--
		}
		if s.qn == len(s.departures) {
			return 0, DropQueue
		}
		start := max(now, s.linkFree)
		// Serialization time in ns: size*8 bits / rate bits/s.
		tx := time.Duration(uint64(size) * 8 * uint64(time.Second) / s.spec.Rate)
		depart = start + tx
		s.linkFree = depart
		i := s.qhead + s.qn
		if i >= len(s.departures) {
			i -= len(s.departures)
		}
		s.departures[i] = depart
		s.qn++
		s.queueHigh = max(s.queueHigh, s.qn)
	}
	// Loss on the wire: the packet has used its share of the bottleneck.
	if s.spec.Loss > 0 && s.rng.Float64() < s.spec.Loss {
		return 0, DropLoss
	}
	if g := s.spec.Burst; g.Enabled() || g.LossGood > 0 {
		if s.geBad {
			if s.rng.Float64() < g.R {
				s.geBad = false
			}
		} else if g.P > 0 && s.rng.Float64() < g.P {
			s.geBad = true
		}
		p := g.LossGood
		if s.geBad {
			p = g.LossBad
		}
		if p > 0 && s.rng.Float64() < p {
			return 0, DropBurst
		}
	}
	d := s.spec.Delay
	if j := s.spec.Jitter; j > 0 {
		d += time.Duration(s.rng.Int64N(int64(2*j)+1)) - j
		d = max(d, 0)
	}
	release = depart + d
	if s.spec.Reorder > 0 && s.rng.Float64() < s.spec.Reorder {
		extra := s.spec.ReorderDelay
		if extra == 0 {
			extra = DefaultReorderDelay
		}
		// Held back, out of order: later packets do not wait for it.
		return release + extra, Pass
	}
	release = max(release, s.lastRelease)
	s.lastRelease = release
	return release, Pass
}
