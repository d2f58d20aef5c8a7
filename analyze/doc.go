// Package analyze is the passive Multipath TCP analyzer: it takes the IP
// packets of a capture, one at a time, and finds the MPTCP connections in
// them (RFC 8684; RFC 6824 for v0).
//
// An Analyzer owns all state. Packet handles one IPv4 or IPv6 packet and
// allocates nothing for packets of known subflows; Finish returns the
// Result (connections with their subflows, streams, events and findings;
// JSON tags are stable). ReadSource feeds a capture.Source (a pcap or
// pcapng file, or a live capture) to an Analyzer.
//
// What happens to a segment:
//
//   - The flow table finds its subflow by 4-tuple and tracks TCP sequence
//     numbers (relative to the SYN, or to the first byte seen),
//     retransmissions and how the subflow ended.
//   - Subflows are grouped into connections by the keys of MP_CAPABLE
//     (§3.1: key -> token) and the token of MP_JOIN (§3.2). Both HMACs of a
//     join are verified when the keys are known; a join that does not
//     verify is a finding and is not merged. Without the handshake,
//     subflows are grouped by join token, shared addresses and data
//     sequence continuity, and the grouping is reported as unverified.
//   - DSS mappings (§3.3) place the subflow's bytes in the data sequence
//     space (32-bit DSNs expanded, offsets relative to IDSN+1); mappings
//     that disagree, data outside any mapping, DATA_ACK, DATA_FIN, the
//     infinite mapping and fallback (§3.7), and DSS checksums (§3.3.1) are
//     checked.
//   - Each direction's data is rebuilt across subflows. Out-of-order data
//     waits in a buffer whose memory is capped (Config.MaxBuffer); the
//     tables of connection attempts, subflows and connections are bounded
//     too (Config.MaxHalfOpen, Config.MaxConnections): memory depends on
//     what is in flight, not on the capture's size or on what an attacker
//     puts in it.
//     Holes are reported with offset and size, never filled; later copies
//     of delivered data are compared with a history of recent bytes and
//     differing copies are reported. A Sink receives the data as it
//     becomes contiguous (FileSink writes files; package flatten writes a
//     plain-TCP pcap).
//
// Subpackages: report (text and JSON), flatten, plot (SVG, PNG) and synth
// (synthetic traffic for tests and benchmarks).
package analyze
