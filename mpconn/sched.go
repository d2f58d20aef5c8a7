package mpconn

import (
	"fmt"
	"strings"
	"time"
)

// SchedInfo is what a scheduler sees of a subflow that may send.
type SchedInfo struct {
	ID int
	// SRTT is the subflow's smoothed RTT (0 before the first sample).
	SRTT time.Duration
	// Room is how many bytes the subflow can take now (its congestion and
	// peer windows less what it holds); 0 when it is full.
	Room int
	// Queued is what a byte written now waits behind on the subflow:
	// bytes sent and not acknowledged plus bytes written and not sent.
	Queued int
	// Cwnd is the subflow's congestion window in bytes.
	Cwnd int
	// Recovering: the subflow is recovering from a loss (fast recovery
	// or after a retransmission timeout).
	Recovering bool
	// Backup: either side asked for the subflow to be a backup (MP_JOIN
	// "B" flag, MP_PRIO).
	Backup bool
	// Origin: the data being scheduled was sent on this subflow before
	// (a reinjection should go elsewhere).
	Origin bool
}

// DeliveryEstimate is when a byte written now on the subflow can be
// expected at the peer, relative to now: one RTT, plus the time to drain
// what waits before it at the rate of one window per RTT. It is the
// pacing-rate "linger time" Linux's scheduler compares
// (mptcp_subflow_get_send), with the RTT added so that idle subflows
// compare by their RTT. 0 SRTT (no sample yet) counts as 100 ms.
func (s *SchedInfo) DeliveryEstimate() time.Duration {
	rtt := s.SRTT
	if rtt <= 0 {
		rtt = 100 * time.Millisecond
	}
	cwnd := max(s.Cwnd, 1)
	return rtt + time.Duration(float64(rtt)*float64(max(s.Queued, 0))/float64(cwnd))
}

// Scheduler picks the subflow for the next chunk of data. RFC 8684 leaves
// the policy to the implementation (§3.3.8 asks only that backup
// subflows carry data when no other can). Pick is called with every
// subflow that can carry data (established, not stale; Room may be 0)
// and returns the index in subs of the one to use, or -1 to wait for
// room. A scheduler keeps whatever state it needs; each connection has
// its own (Config.NewScheduler).
type Scheduler interface {
	Pick(subs []SchedInfo) int
}

// CopyScheduler is a Scheduler that sends data on more than one subflow
// (redundant scheduling). After new data was scheduled, Copies appends
// to dst the indices of the subflows that should also carry it: each of
// them then sends, as its Room allows, the data not yet DATA_ACKed that
// it has not carried. The receiver keeps the first copy that arrives.
type CopyScheduler interface {
	Scheduler
	Copies(dst []int, subs []SchedInfo) []int
}

// Opportunist is a Scheduler that asks for opportunistic retransmission:
// when the peer's receive window is full of data that waits for the
// oldest unacknowledged chunk, the chunk is sent again on the subflow the
// scheduler picks (a faster one, Origin set for the subflow it was
// on), and that slower subflow is penalised (its congestion window
// halved), as the out-of-tree Linux MPTCP (mptcp_rcv_buf_optimization)
// and mptcp-rs do against receive-window head-of-line blocking.
type Opportunist interface {
	Scheduler
	Opportunistic() bool
}

// MinRTT is the default scheduler: the subflow with room where a byte
// arrives soonest (DeliveryEstimate: the lowest RTT among idle subflows,
// as Linux's default scheduler); backup subflows only when no other
// subflow is usable (RFC 8684 §3.3.8); reinjections away from the
// subflow the data was on when possible. Unless Plain is set it also
// retransmits opportunistically (Opportunist).
type MinRTT struct {
	// Plain: no opportunistic retransmission or penalisation (Linux
	// upstream's behaviour).
	Plain bool
}

// Pick implements Scheduler.
func (MinRTT) Pick(subs []SchedInfo) int { return pickBest(subs, true) }

// Opportunistic implements Opportunist.
func (m MinRTT) Opportunistic() bool { return !m.Plain }

// pickBest returns the subflow with room and the earliest delivery
// estimate (or, if byRTT is false, the lowest RTT regardless of what it
// holds), backups only when no regular subflow is usable and origins
// only when nothing else has room.
func pickBest(subs []SchedInfo, byDelivery bool) int {
	regular := hasRegular(subs)
	best := -1
	var bestT time.Duration
	for pass := 0; pass < 2 && best < 0; pass++ {
		for i := range subs {
			s := &subs[i]
			if s.Room <= 0 || s.Backup && regular || pass == 0 && s.Origin {
				continue
			}
			t := s.SRTT
			if byDelivery {
				t = s.DeliveryEstimate()
			} else if t <= 0 {
				t = 100 * time.Millisecond
			}
			if best < 0 || t < bestT {
				best, bestT = i, t
			}
		}
	}
	return best
}

func hasRegular(subs []SchedInfo) bool {
	for i := range subs {
		if !subs[i].Backup {
			return true
		}
	}
	return false
}

// RoundRobin gives each chunk to the next subflow in turn that has room
// (backups only when no other subflow is usable). It fills paths equally
// in chunks rather than by speed: for tests and for links whose
// RTT is no guide.
type RoundRobin struct {
	last int // ID of the subflow that had the last chunk
}

// Pick implements Scheduler.
func (r *RoundRobin) Pick(subs []SchedInfo) int {
	regular := hasRegular(subs)
	best := -1
	for pass := 0; pass < 2 && best < 0; pass++ {
		// The first subflow with an ID after the last one, else the one
		// with the lowest ID.
		for i := range subs {
			s := &subs[i]
			if s.Room <= 0 || s.Backup && regular || pass == 0 && s.Origin {
				continue
			}
			if best < 0 {
				best = i
				continue
			}
			b := subs[best].ID
			after, bAfter := s.ID > r.last, b > r.last
			if after && !bAfter || after == bAfter && s.ID < b {
				best = i
			}
		}
	}
	if best >= 0 {
		r.last = subs[best].ID
	}
	return best
}

// Redundant sends every chunk on every usable subflow (backups too when
// no regular subflow is usable): the earliest copy to arrive is the one
// delivered, so a loss or a stall on one path costs nothing while another
// path works. It trades capacity for latency (gaming, voice, requests):
// a subflow carries new data only once it has caught up with the copies
// of what the others carried, so a bulk transfer goes about as fast as
// its fastest path, not their sum.
type Redundant struct{}

// Pick implements Scheduler: new data goes where it arrives soonest, as
// with MinRTT; the copies follow on the other subflows.
func (Redundant) Pick(subs []SchedInfo) int { return pickBest(subs, true) }

// Copies implements CopyScheduler.
func (Redundant) Copies(dst []int, subs []SchedInfo) []int {
	regular := hasRegular(subs)
	for i := range subs {
		if subs[i].Room > 0 && !(subs[i].Backup && regular) {
			dst = append(dst, i)
		}
	}
	return dst
}

// Interactive keeps the data on the lowest-latency subflow, waiting for
// its window rather than spreading over slower paths, and moves to the
// next one only while the best is recovering from a loss (Apple's
// "interactive" mode: latency first, capacity second).
type Interactive struct{}

// Pick implements Scheduler.
func (Interactive) Pick(subs []SchedInfo) int {
	regular := hasRegular(subs)
	best := -1
	for pass := 0; pass < 2 && best < 0; pass++ {
		for i := range subs {
			s := &subs[i]
			if s.Backup && regular || pass == 0 && (s.Recovering || s.Origin) {
				continue
			}
			if best < 0 || rttLess(s.SRTT, subs[best].SRTT) {
				best = i
			}
		}
	}
	if best >= 0 && subs[best].Room <= 0 {
		return -1 // wait for the fast path
	}
	return best
}

// Opportunistic implements Opportunist: a slow path must not hold the
// fast one up either.
func (Interactive) Opportunistic() bool { return true }

// rttLess orders RTTs with "unknown" (0) last.
func rttLess(a, b time.Duration) bool {
	if a == 0 {
		return false
	}
	return b == 0 || a < b
}

// SchedulerNames lists the schedulers SchedulerByName knows.
func SchedulerNames() []string {
	return []string{"minrtt", "minrtt-plain", "roundrobin", "redundant", "interactive"}
}

// SchedulerByName returns a factory of the named scheduler (for command
// lines and configuration files): minrtt (the default), minrtt-plain
// (without opportunistic retransmission), roundrobin, redundant,
// interactive.
func SchedulerByName(name string) (func() Scheduler, error) {
	switch strings.ToLower(name) {
	case "", "minrtt", "default":
		return func() Scheduler { return MinRTT{} }, nil
	case "minrtt-plain":
		return func() Scheduler { return MinRTT{Plain: true} }, nil
	case "roundrobin", "rr":
		return func() Scheduler { return &RoundRobin{last: -1} }, nil
	case "redundant":
		return func() Scheduler { return Redundant{} }, nil
	case "interactive":
		return func() Scheduler { return Interactive{} }, nil
	}
	return nil, fmt.Errorf("unknown scheduler %q (known: %s)", name, strings.Join(SchedulerNames(), ", "))
}
