// Package cc is coupled congestion control for the subflows of an MPTCP
// connection: LIA (RFC 6356, "Coupled Congestion Control for Multipath
// Transport Protocols") and OLIA (Khalili, Gast, Popovic, Le Boudec, "MPTCP
// is not Pareto-optimal", IEEE/ACM ToN 2013; draft-khalili-mptcp-
// congestion-control). Each is an mpconn.CongestionFactory: NewConn makes
// the state one connection's subflows share, and the function it returns
// makes one subflow's tcp.CongestionControl.
//
// Both couple only the window increase of congestion avoidance, so that
//
//   - the subflows of a connection that share a bottleneck take together
//     no more than one TCP flow would there (RFC 6356 §2, goals 1 and 2);
//   - a connection moves its traffic away from its more congested paths
//     (goal 3, "balance congestion"); OLIA does so without LIA's
//     excess on the congested path (it is Pareto-optimal where LIA is not).
//
// Slow start, fast recovery, the loss response (halving, as NewReno: RFC
// 5681 §3.1) and the retransmission timeout are TCP's, as RFC 6356 §3
// prescribes and as Linux's out-of-tree mptcp_coupled.c and mptcp_olia.c
// do. Package tcp's engine does loss detection, PRR and undo; a controller
// here only grows the window and sets ssthresh.
//
// The controllers of one connection read each other's windows and RTTs,
// so every call into them must come under one lock: package mpconn's
// driver runs all of a connection's subflows under its Owner. A subflow's
// controller leaves the group when its engine releases it
// (tcp.CCReleaser: CLOSED or TIME-WAIT), and counts in the coupling once
// the engine has called it with an RTT sample (Linux counts subflows that
// can send and have an srtt).
//
// The per-ACK work is a pass over the connection's subflows (at most
// mpconn.Config.MaxSubflows) without allocation; see the benchmarks.
package cc

import (
	"fmt"
	"strings"

	"github.com/mptcp-go/mptcp/tcp"
)

// Factory makes the congestion control of a connection's subflows; it is
// mpconn.CongestionFactory (this package does not import mpconn, so that
// mpconn's own tests may use it).
type Factory interface {
	NewConn() func() tcp.CongestionControl
}

// Names lists the controllers New knows.
func Names() []string { return []string{"lia", "olia"} }

// New returns the coupled controller called name: "lia" or "olia".
func New(name string) (Factory, error) {
	switch name {
	case "lia":
		return LIA{}, nil
	case "olia":
		return OLIA{}, nil
	}
	return nil, fmt.Errorf("cc: unknown coupled congestion control %q (want %s)", name, strings.Join(Names(), " or "))
}
