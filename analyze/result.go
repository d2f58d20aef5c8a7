package analyze

import (
	"net/netip"
	"time"
)

// Result is everything the analyzer learned from a capture. Field names
// and JSON tags are stable: scripts read them.
type Result struct {
	// Packets is the number of packets handed to the analyzer; TCP the
	// number of TCP segments among them; MPTCP the segments carrying at
	// least one MPTCP option.
	Packets uint64 `json:"packets"`
	TCP     uint64 `json:"tcp_segments"`
	MPTCP   uint64 `json:"mptcp_segments"`
	// NotTCP counts packets that are not TCP over IPv4/IPv6 (or are later
	// IP fragments); Malformed counts packets too broken to analyze.
	NotTCP    uint64 `json:"not_tcp"`
	Malformed uint64 `json:"malformed"`
	// PlainTCPFlows counts connection attempts (SYNs) without MPTCP
	// options; plain TCP is not analyzed further.
	PlainTCPFlows uint64 `json:"plain_tcp_flows"`
	// First and Last are the timestamps of the first and last packet.
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
	// Connections are the MPTCP connections, in the order they were first
	// seen.
	Connections []Connection `json:"connections"`
	// Rejected are subflows that claimed to join a connection but could
	// not be attached to it (a join whose HMAC does not verify).
	Rejected []Subflow `json:"rejected_subflows,omitempty"`
	// Orphans are segments with MPTCP options that belong to no
	// connection seen, grouped (see Orphan).
	Orphans []Orphan `json:"orphans,omitempty"`
	// Findings not tied to one connection (input errors, memory cap).
	Findings []Finding `json:"findings,omitempty"`
	// PeakBuffered is the most out-of-order data held at once, in bytes.
	PeakBuffered int64 `json:"peak_buffered_bytes"`
}

// Connection is one MPTCP connection: its subflows, its two data streams,
// its events and findings.
type Connection struct {
	ID int `json:"id"`
	// Version is "v0", "v1" or "" when no MP_CAPABLE was seen.
	Version string `json:"version"`
	// Verified is true when the grouping rests on the keys exchanged in
	// MP_CAPABLE; false when the subflows were grouped by what was left
	// (join tokens, addresses, data sequence continuity).
	Verified bool `json:"verified"`
	// GroupedBy says how the subflows were grouped: "keys", "token",
	// "dsn" (data sequence continuity) or "alone".
	GroupedBy string `json:"grouped_by"`
	// Client and Server are the endpoints of the initial subflow (or of
	// the first subflow seen when the handshake was not captured).
	Client netip.AddrPort `json:"client"`
	Server netip.AddrPort `json:"server"`
	// Keys and tokens in hex; empty when not seen.
	ClientKey   string `json:"client_key,omitempty"`
	ServerKey   string `json:"server_key,omitempty"`
	ClientToken string `json:"client_token,omitempty"`
	ServerToken string `json:"server_token,omitempty"`
	// Checksums says whether DSS checksums were negotiated (RFC 8684 §3.3.1).
	Checksums bool `json:"checksums"`
	// Fallback is non-empty when the connection fell back to plain TCP
	// (RFC 8684 §3.7) and says why.
	Fallback  string    `json:"fallback,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// End says how the connection ended: "data_fin" (both DATA_FINs),
	// "fastclose", "reset", "closed" (all subflows closed) or "open".
	End      string    `json:"end"`
	Subflows []Subflow `json:"subflows"`
	Streams  []Stream  `json:"streams"`
	Events   []Event   `json:"events,omitempty"`
	Findings []Finding `json:"findings,omitempty"`
}

// Subflow is one TCP subflow of a connection.
type Subflow struct {
	ID int `json:"id"`
	// Connection is the ID of the connection the subflow belongs to (for a
	// rejected subflow: the one it claimed to join).
	Connection int `json:"connection"`
	// Role is "initial" (MP_CAPABLE), "join" (MP_JOIN) or "unknown"
	// (handshake not captured).
	Role string `json:"role"`
	// Client is the end that sent the SYN (or, without a SYN, the source
	// of the first packet); it is on the connection's client side when
	// ClientIsConnClient.
	Client netip.AddrPort `json:"client"`
	Server netip.AddrPort `json:"server"`
	// ClientIsConnClient: the subflow's client is the connection's client.
	ClientIsConnClient bool `json:"client_is_conn_client"`
	// Backup: the B flag of MP_JOIN or the last MP_PRIO.
	Backup bool `json:"backup"`
	// AddrIDs of the client and server as announced in MP_JOIN.
	ClientAddrID *uint8 `json:"client_addr_id,omitempty"`
	ServerAddrID *uint8 `json:"server_addr_id,omitempty"`
	// JoinHMAC is "verified", "failed", "unverifiable" (keys not seen) or
	// "" for an initial subflow.
	JoinHMAC string `json:"join_hmac,omitempty"`
	// Token is the token the MP_JOIN SYN carried (hex).
	Token     string    `json:"token,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// End is "fin", "rst", "mp_tcprst", "fastclose", "reused" (a new
	// connection's SYN took the 4-tuple before its end was seen) or "open".
	End string `json:"end"`
	// Dirs: [0] client to server, [1] server to client (subflow's own
	// client, see Client).
	Dirs [2]SubflowDir `json:"dirs"`
}

// SubflowDir is one direction of a subflow.
type SubflowDir struct {
	Packets uint64 `json:"packets"`
	// Bytes is TCP payload seen, retransmissions included; NewBytes only
	// counts bytes beyond the highest sequence number seen before.
	Bytes    uint64 `json:"bytes"`
	NewBytes uint64 `json:"new_bytes"`
	// Share is this subflow's part of the connection's data in this
	// direction (DataBytes over the stream's), 0 to 1.
	Share float64 `json:"share"`
	// DataBytes are bytes this subflow contributed to the connection's
	// stream first (not reinjections or retransmissions).
	DataBytes uint64 `json:"data_bytes"`
	// Retransmissions: segments at or below the highest sequence number
	// already seen on this subflow; RetransBytes their payload.
	Retransmissions uint64 `json:"retransmissions"`
	RetransBytes    uint64 `json:"retrans_bytes"`
	// Reinjected: bytes new on this subflow but already seen at the data
	// level on another (RFC 8684 §3.3.6 reinjection).
	Reinjected uint64 `json:"reinjected_bytes"`
	// Unmapped: payload bytes not covered by any DSS mapping.
	Unmapped uint64 `json:"unmapped_bytes"`
	FIN      bool   `json:"fin"`
	RST      bool   `json:"rst"`
	// RSTIgnored counts RSTs a real stack would not accept (not at the
	// next expected sequence number, RFC 5961 §3.2), which did not end
	// the subflow.
	RSTIgnored uint64 `json:"rst_ignored,omitempty"`
}

// Direction names a connection-level direction.
const (
	ClientToServer = 0
	ServerToClient = 1
)

// Stream is one direction of a connection's data: the bytes rebuilt across
// all subflows.
type Stream struct {
	// Direction is "client->server" or "server->client".
	Direction string `json:"direction"`
	// IDSN is the initial data sequence number (hex) when the sender's key
	// was seen; Offsets below are relative to IDSN+1. Without the key they
	// are relative to the first data sequence number seen (Origin).
	IDSN   string `json:"idsn,omitempty"`
	Origin uint64 `json:"origin_dsn"`
	// Bytes is the number of data bytes delivered in order (holes
	// excluded); End is the offset just past the last byte accounted for.
	Bytes uint64 `json:"bytes"`
	End   uint64 `json:"end"`
	// DataFIN is true when a DATA_FIN was seen, at offset FinOffset.
	DataFIN   bool   `json:"data_fin"`
	FinOffset uint64 `json:"fin_offset,omitempty"`
	// DataACK is the highest DATA_ACK the peer sent, relative, when
	// DataACKSeen.
	DataACK     uint64 `json:"data_ack,omitempty"`
	DataACKSeen bool   `json:"data_ack_seen"`
	// OriginSet: the stream has an origin (the sender's key or a mapping
	// was seen); Origin and the offsets are meaningless without it.
	OriginSet bool `json:"origin_set"`
	// Duplicate: bytes seen again at the data level (retransmitted or
	// reinjected); Reinjected: the part that came on another subflow.
	Duplicate  uint64 `json:"duplicate_bytes"`
	Reinjected uint64 `json:"reinjected_bytes"`
	// Unchecked: bytes seen again too long after the first copy to be
	// compared (older than the history kept).
	Unchecked uint64 `json:"unchecked_bytes,omitempty"`
	// Ignored: bytes mapped before the stream's origin (capture started
	// late) or implausibly far from it (a corrupt mapping).
	Ignored uint64 `json:"ignored_bytes,omitempty"`
	// Checksums counts DSS checksums verified and failed (RFC 8684
	// §3.3.1), when checksums are in use.
	ChecksumsOK     uint64 `json:"checksums_ok,omitempty"`
	ChecksumsFailed uint64 `json:"checksums_failed,omitempty"`
	// Holes are ranges never seen. At most 1024 are listed: HoleCount and
	// HoleBytes count them all.
	Holes     []Hole `json:"holes,omitempty"`
	HoleCount uint64 `json:"hole_count,omitempty"`
	HoleBytes uint64 `json:"hole_bytes,omitempty"`
	// DroppedBytes is the part of HoleBytes the capture had but the
	// analysis gave up to stay under the memory cap (holes of reason
	// "memory"); AckedHoleBytes the part the peer acknowledged although
	// the capture lacks it ("acked"). The rest was never seen.
	DroppedBytes   uint64 `json:"dropped_bytes,omitempty"`
	AckedHoleBytes uint64 `json:"acked_hole_bytes,omitempty"`
	// Conflicts are ranges seen twice with different contents (at most
	// 1024 listed; ConflictBytes counts all the differing bytes).
	Conflicts     []Hole `json:"conflicts,omitempty"`
	ConflictBytes uint64 `json:"conflict_bytes,omitempty"`
	// SHA256 of the delivered bytes (holes skipped), when hashing is on.
	SHA256 string `json:"sha256,omitempty"`
	// File is where --streams wrote the data (at its data offsets);
	// HolesFile lists the holes.
	File      string `json:"file,omitempty"`
	HolesFile string `json:"holes_file,omitempty"`
}

// Hole is a range of the data stream: Offset relative to the stream's
// origin, Size in bytes.
type Hole struct {
	Offset uint64 `json:"offset"`
	Size   uint64 `json:"size"`
	// Reason: for holes, "missing" (never seen), "acked" (the peer
	// acknowledged data the capture does not have) or "memory" (seen, but
	// dropped to keep memory under the cap).
	Reason string `json:"reason,omitempty"`
}

// Hole reasons.
const (
	HoleMissing = "missing"
	HoleAcked   = "acked"
	HoleMemory  = "memory"
)

// Event is a point on a connection's timeline.
type Event struct {
	Time time.Time `json:"time"`
	// Type: subflow_open, subflow_close, add_addr, add_addr_echo,
	// remove_addr, mp_prio, mp_fail, mp_fastclose, mp_tcprst, fallback,
	// data_fin, handover, regrouped (a subflow first taken for another
	// connection, whose data showed it belongs to this one).
	Type    string `json:"type"`
	Subflow int    `json:"subflow"`
	// To is the subflow that took over (handover).
	To     int    `json:"to,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Severity of a finding.
type Severity string

// Severities, from the least to the most serious.
const (
	Info    Severity = "info"
	Warning Severity = "warning"
	Error   Severity = "error"
)

// Finding is something the analyzer checked and found wrong or notable.
type Finding struct {
	Time     time.Time `json:"time,omitzero"`
	Severity Severity  `json:"severity"`
	// Code is a stable identifier (see the Code* constants).
	Code    string `json:"code"`
	Subflow int    `json:"subflow,omitempty"`
	Message string `json:"message"`
}

// Finding codes.
const (
	CodeJoinHMAC    = "join_hmac_mismatch"     // MP_JOIN HMAC does not verify: possible forgery
	CodeAddAddrHMAC = "add_addr_hmac_mismatch" // ADD_ADDR HMAC does not verify
	// ADD_ADDR HMAC is the leftmost 64 bits (early Linux), not the RFC's rightmost
	CodeAddAddrHMACLegacy = "add_addr_hmac_leftmost"
	CodeJoinNoConn        = "join_unknown_token"     // MP_JOIN token matches no connection seen
	CodeUnverified        = "grouping_unverified"    // keys not seen: grouping by token/DSN
	CodeMappingConflict   = "mapping_conflict"       // two DSS mappings disagree on the same bytes
	CodeUnmapped          = "unmapped_data"          // payload outside any DSS mapping
	CodeDataConflict      = "data_conflict"          // two copies of the same data differ
	CodeHole              = "hole"                   // data never seen
	CodeChecksum          = "dss_checksum_mismatch"  // RFC 8684 §3.3.1
	CodeChecksumMissing   = "dss_checksum_missing"   // RFC 8684 §3.3.1: negotiated, absent
	CodeMPFail            = "mp_fail"                // RFC 8684 §3.7
	CodeFastclose         = "mp_fastclose"           // RFC 8684 §3.5
	CodeFallback          = "fallback"               // RFC 8684 §3.7
	CodeMalformedOption   = "malformed_option"       // an MPTCP option that does not parse
	CodeMemoryCap         = "memory_cap"             // out-of-order data dropped to stay under the cap
	CodeInput             = "input_error"            // the capture is truncated or corrupt
	CodeSYNUnanswered     = "syn_unanswered"         // connection attempts (MP_CAPABLE SYNs) never answered
	CodeSYNRefused        = "syn_refused"            // connection attempts answered with a RST
	CodeJoinUnanswered    = "join_unanswered"        // MP_JOIN SYNs to a connection's token never answered
	CodeTableFull         = "table_full"             // state given up to stay within a bound (attempts, subflows, connections)
	CodeRSTIgnored        = "rst_ignored"            // a RST a real stack would not accept (RFC 5961): analysis goes on
	CodeDataAfterEnd      = "data_after_end"         // new data on a subflow after its connection ended
	CodeTimestamp         = "timestamp_out_of_range" // packet times outside years 1-9999, replaced
	CodeJoinUnverified    = "join_unverified"        // a join's HMAC was checkable but not captured: its data not merged
	CodeAfterDataFIN      = "data_after_data_fin"    // bytes mapped after the DATA_FIN: not delivered
	CodeMappingCut        = "mapping_truncated"      // the capture ends inside a DSS mapping: its missing bytes are a hole
)
