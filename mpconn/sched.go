package mpconn

import "time"

// SchedInfo is what a scheduler sees of a subflow that may send.
type SchedInfo struct {
	ID int
	// SRTT is the subflow's smoothed RTT (0 before the first sample).
	SRTT time.Duration
	// Room is how many bytes the subflow can take now (its congestion and
	// peer windows less what it holds); 0 when it is full.
	Room int
	// Backup: either side asked for the subflow to be a backup (MP_JOIN
	// "B" flag, MP_PRIO).
	Backup bool
	// Origin: the data being scheduled was sent on this subflow before
	// (a reinjection should go elsewhere).
	Origin bool
}

// Scheduler picks the subflow for the next chunk of data. RFC 8684 leaves
// the policy to the implementation; Pick is called with every subflow
// that can carry data (established, not stale) and returns the index in
// subs of the one to use, or -1 to wait for room.
type Scheduler interface {
	Pick(subs []SchedInfo) int
}

// MinRTT is Linux's default scheduler: the lowest-RTT subflow with room;
// backup subflows only when no other subflow is usable (RFC 8684 §3.3.8);
// reinjections away from the subflow the data was on when possible.
type MinRTT struct{}

// Pick implements Scheduler.
func (MinRTT) Pick(subs []SchedInfo) int {
	best := -1
	regular := false
	for i := range subs {
		if !subs[i].Backup {
			regular = true
		}
	}
	for pass := 0; pass < 2 && best < 0; pass++ {
		for i := range subs {
			s := &subs[i]
			if s.Room <= 0 || s.Backup && regular || pass == 0 && s.Origin {
				continue
			}
			if best < 0 || rttLess(s.SRTT, subs[best].SRTT) {
				best = i
			}
		}
	}
	return best
}

// rttLess orders RTTs with "unknown" (0) last.
func rttLess(a, b time.Duration) bool {
	if a == 0 {
		return false
	}
	return b == 0 || a < b
}
