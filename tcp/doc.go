// Package tcp is a userspace TCP engine (RFC 9293): the per-connection
// state machine, send and receive buffers with flow control and
// auto-tuning, retransmission (RFC 6298), SACK-based loss recovery
// (RFC 2018, RFC 6675) with RACK-TLP (RFC 8985) and proportional rate
// reduction (RFC 6937), congestion control behind an interface (NewReno,
// RFC 5681/6582; CUBIC, RFC 9438; BBR v1,
// draft-cardwell-iccrg-bbr-congestion-control, which sets the window and
// a pacing rate from delivery rate samples,
// draft-cheng-iccrg-delivery-rate-estimation), window scaling and
// timestamps (RFC 7323), delayed ACKs, zero-window probes, keepalive and
// TIME-WAIT.
//
// The engine does no I/O and starts no goroutines. Its owner (package
// stack) feeds it segments with HandleSegment, application calls (Write,
// Read, Close) and timer expiries (HandleTimers, at NextDeadline), all
// serialised by the owner's lock; the engine emits segments through an
// Output and tells the owner about readiness through a Notify callback.
// Time comes from a Clock, so tests drive it with a manual clock.
//
// MPTCP rides on the engine through SegmentHooks: options to add to each
// outgoing segment (SYN included), the options of each incoming one (with
// the power to refuse a SYN or SYN-ACK), and subflow events.
package tcp
