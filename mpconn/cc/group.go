package cc

import (
	"time"

	"github.com/mptcp-go/mptcp/tcp"
)

// group is what the controllers of one connection share: the subflows that
// take part in the coupling, in the order they were made (so that every
// computation over them is deterministic).
type group struct {
	members []*member
}

// member is one subflow's place in its group.
type member struct {
	g *group
	// s is the window the engine manages for the subflow, known from the
	// engine's first call (it passes the same *CCState for the
	// connection's life: tcp.CCReleaser).
	s *tcp.CCState
	// srtt is the subflow's smoothed RTT as of its last ACK (0: none yet).
	srtt time.Duration
	// recovering is set from the start of a window reduction (fast
	// recovery, ECN) to the next ACK of congestion avoidance or slow
	// start: meanwhile PRR moves Cwnd toward Ssthresh and Ssthresh is the
	// window that counts (Linux's mptcp_get_crt_cwnd).
	recovering bool
	// olia is the member's controller if it is OLIA's (for ℓ_r).
	olia *olia
}

func (g *group) join(m *member) {
	m.g = g
	g.members = append(g.members, m)
}

// leave takes m out of the coupling (tcp.CCReleaser.Release).
func (g *group) leave(m *member) {
	for i, x := range g.members {
		if x == m {
			copy(g.members[i:], g.members[i+1:])
			g.members[len(g.members)-1] = nil
			g.members = g.members[:len(g.members)-1]
			return
		}
	}
}

// ack records what an ACK tells of the subflow: where its window is and
// its smoothed RTT. The window reduction, if any, is over.
func (m *member) ack(s *tcp.CCState, srtt time.Duration) {
	m.s = s
	if srtt > 0 {
		m.srtt = srtt
	}
	m.recovering = false
}

// counted reports whether the member takes part in the coupling: the
// engine has called its controller and it has an RTT sample.
func (m *member) counted() bool { return m.s != nil && m.srtt > 0 }

// window is the member's congestion window in bytes for the coupling.
func (m *member) window() int {
	if m.recovering {
		return m.s.Ssthresh
	}
	return m.s.Cwnd
}

// halve is TCP's response to a loss (RFC 5681 §3.1 eqn. 4), the same for
// both controllers: ssthresh = max(FlightSize/2, 2*SMSS).
func halve(s *tcp.CCState, inflight int) {
	s.Ssthresh = max(inflight/2, 2*s.MSS)
}

// slowStart grows the window by the bytes ACKed, at most 2*SMSS per ACK
// (RFC 5681 §3.1 with RFC 3465's L=2), as tcp.Reno does.
func slowStart(s *tcp.CCState, acked int) {
	s.Cwnd += min(acked, 2*s.MSS)
}
