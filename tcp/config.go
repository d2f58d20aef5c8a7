package tcp

import (
	"errors"
	"syscall"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// Errors reported by the engine. Callers test them with errors.Is; those
// with a POSIX counterpart also match it (errors.Is(err,
// syscall.ECONNRESET)), as code written for the kernel's sockets expects.
var (
	// ErrConnectionRefused: a RST answered our SYN (RFC 9293 §3.10.7.3).
	ErrConnectionRefused error = &Error{"connection refused", syscall.ECONNREFUSED}
	// ErrConnectionReset: the peer reset the connection.
	ErrConnectionReset error = &Error{"connection reset by peer", syscall.ECONNRESET}
	// ErrConnectionAborted: the local side aborted (Abort, or a refused hook).
	ErrConnectionAborted error = &Error{"connection aborted", syscall.ECONNABORTED}
	// ErrTimeout: retransmissions or keepalive probes went unanswered.
	ErrTimeout error = &Error{"connection timed out", syscall.ETIMEDOUT}
	// ErrHostUnreachable: an ICMP error ended the connection attempt.
	ErrHostUnreachable error = &Error{"host unreachable", syscall.EHOSTUNREACH}
	// ErrClosed: the operation is not possible in this state (writing after
	// CloseWrite, or on a closed connection).
	ErrClosed error = &Error{"connection closed", syscall.EPIPE}
	// ErrInvalidState: Connect or Listen called in the wrong state.
	ErrInvalidState = errors.New("tcp: operation not valid in this state")
)

// Error is a connection error with its POSIX errno.
type Error struct {
	msg   string
	errno syscall.Errno
}

func (e *Error) Error() string { return "tcp: " + e.msg }

// Is makes errors.Is(err, syscall.Exxx) match the errno.
func (e *Error) Is(target error) bool { return target == e.errno }

// Timeout reports whether the error is a timeout (net.Error style).
func (e *Error) Timeout() bool { return e.errno == syscall.ETIMEDOUT }

// Clock gives the engine its notion of time: a monotonic duration since an
// arbitrary epoch. The stack uses the monotonic clock; tests a manual one.
type Clock interface {
	Now() time.Duration
}

// Output carries the segments the engine emits. hdr is the TCP header with
// options and a zero checksum; the payload is p1 followed by p2 (p2 is
// non-empty only when the data wraps around the send buffer). The memory
// is the engine's and valid only during the call: the owner adds the IP
// header and checksum and copies it out.
type Output interface {
	OutputSegment(hdr, p1, p2 []byte)
}

// Notify is a bit set of readiness changes the engine reports.
type Notify uint8

// Notification bits.
const (
	NotifyReadable    Notify = 1 << iota // data, FIN or an error to read
	NotifyWritable                       // send buffer space freed, or an error
	NotifyEstablished                    // the handshake completed
	NotifyClosed                         // the connection reached CLOSED (or TIME-WAIT)
)

// SegmentInfo describes a segment to the hooks.
type SegmentInfo struct {
	Seq, Ack uint32
	Flags    header.TCPFlags
	Window   uint16 // raw window field
	// Wnd is an incoming segment's window in bytes: Window scaled by the
	// peer's window scale (unscaled on SYNs, RFC 7323 §2.2).
	Wnd uint32
	Len int // payload length
	// Retransmit is set on outgoing retransmissions.
	Retransmit bool
	// Budget is how many option bytes an OutgoingOptions hook may append.
	Budget int
	// State is the connection state when the segment is built or received.
	State State
}

// SubflowEvent is a connection event reported to the hooks.
type SubflowEvent uint8

// Subflow events.
const (
	EventEstablished SubflowEvent = iota + 1 // the handshake completed
	EventRTO                                 // the retransmission timer expired
	EventClosed                              // the connection closed normally
	EventReset                               // the connection was reset or timed out
)

func (e SubflowEvent) String() string {
	switch e {
	case EventEstablished:
		return "established"
	case EventRTO:
		return "rto"
	case EventClosed:
		return "closed"
	case EventReset:
		return "reset"
	}
	return "unknown"
}

// SegmentHooks let a layer above (MPTCP) ride on the connection's segments.
// All calls happen under the owner's lock, from inside engine calls.
type SegmentHooks interface {
	// OutgoingOptions appends options for the segment described by seg to b
	// and returns the result; it must not add more than seg.Budget bytes
	// (the engine drops the hook's options if it does). SYN and SYN-ACK
	// segments are offered too (MP_CAPABLE, MP_JOIN).
	OutgoingOptions(seg *SegmentInfo, b []byte) []byte
	// Incoming sees the raw options of every acceptable incoming segment,
	// SYN and SYN-ACK included, before the engine acts on its data. An
	// error returned for a SYN or SYN-ACK refuses the connection: the
	// engine answers with RST and closes (e.g. a rejected MP_JOIN).
	// Errors for other segments are ignored.
	Incoming(seg *SegmentInfo, opts []byte) error
	// Event reports subflow events.
	Event(ev SubflowEvent)
}

// OptionReserver is an optional interface of SegmentHooks: bytes to keep
// free for hook options in every data segment, so that segment sizing
// stays within the path MTU when the hook adds its options (RFC 6691).
type OptionReserver interface {
	OptionReserve() int
}

// DataReceiver is an optional interface of SegmentHooks for a layer that
// takes the connection's data itself: MPTCP places each subflow's payload
// in the connection-level data sequence space (RFC 8684 §3.3) and
// announces the connection's receive window on every subflow (§3.3.4).
// In-order payload is handed over as soon as it is in order instead of
// waiting for Read in the receive buffer, which then holds out-of-order
// data only; the window announced is the layer's.
type DataReceiver interface {
	// ReceiveData takes payload that became in order, starting at
	// sequence number seq (p2, possibly empty, follows p1). It must take
	// all of it; the memory is the engine's and valid during the call.
	ReceiveData(seq uint32, p1, p2 []byte)
	// ReceiveWindow returns the window to announce now and the largest
	// window the layer can offer (its buffer size), in bytes.
	ReceiveWindow() (wnd, max int)
}

// WindowAnnouncer is an optional interface of a DataReceiver: the window
// each segment actually announces (after the engine's rules: the right
// edge of this connection never moves left, no silly-window openings,
// the scale's rounding), in bytes from the layer's own
// acknowledgment. It may be larger than ReceiveWindow said: MPTCP must
// then accept data up to that edge too (Linux's mptcp_set_rwin raises
// rcv_wnd_sent likewise), or a peer sending to it would see its data
// dropped.
type WindowAnnouncer interface {
	AnnouncedWindow(wnd int)
}

// SegmentLimiter is an optional interface of SegmentHooks: where data
// segments must end. MPTCP uses it so that no segment, first
// transmission or retransmission, straddles two DSS mappings (RFC 8684
// §3.3.1: a mapping covers contiguous subflow bytes, and one segment's
// DSS option can describe one mapping only).
type SegmentLimiter interface {
	// SegmentLimit returns how many of the n bytes starting at sequence
	// seq one segment may carry; values outside [1, n] are clamped.
	SegmentLimit(seq uint32, n int) int
}

// Config configures an Endpoint.
type Config struct {
	LocalPort, RemotePort uint16
	// ISS is the initial send sequence number; the owner computes it per
	// RFC 6528 (the engine has no keys).
	ISS uint32
	// MTU of the path's link (IP header included), used to size segments and
	// the MSS option. 1500 if zero.
	MTU int
	// IPHeaderLen is 20 (IPv4) or 40 (IPv6). 20 if zero.
	IPHeaderLen int
	// SendBufferSize / ReceiveBufferSize are the initial buffer sizes;
	// the Max values bound auto-tuning. Defaults 256 KiB / 4 MiB (send)
	// and 128 KiB / 6 MiB (receive).
	SendBufferSize, SendBufferMax       int
	ReceiveBufferSize, ReceiveBufferMax int
	// CongestionControl is "cubic" (default), "reno" or "bbr" (BBR v1,
	// which paces its transmissions); see ValidCongestionControl.
	CongestionControl string
	// NewCongestionControl, if set, makes the connection's congestion
	// control instead of CongestionControl's name: a coupled controller
	// (MPTCP's LIA or OLIA, RFC 6356) shares state between subflows.
	NewCongestionControl func() CongestionControl
	// DisableSACK, DisableTimestamps, DisableWindowScale turn the options off.
	DisableSACK, DisableTimestamps, DisableWindowScale bool
	// DelayedAckTimeout bounds how long an ACK may wait (RFC 9293
	// §3.8.6.3: under 0.5 s). 40 ms if zero; negative turns delayed ACKs off.
	DelayedAckTimeout time.Duration
	// MinRTO floors the RTO's variance term: RTO = SRTT + max(4*RTTVAR,
	// MinRTO). RFC 6298 §2.4 asks for RTO >= 1 s; like Linux we default
	// to 200 ms, which loss recovery on long paths needs.
	MinRTO time.Duration
	// MaxRTO bounds backoff; 60 s if zero (RFC 6298 §2.5 allows it).
	MaxRTO time.Duration
	// SynRetries and DataRetries are how many retransmission timeouts are
	// tolerated before the connection fails with ErrTimeout (defaults 6 and 15,
	// Linux's tcp_syn_retries and tcp_retries2).
	SynRetries, DataRetries int
	// TimeWait is how long TIME-WAIT lasts (2*MSL, RFC 9293 §3.4.2). 60 s if zero.
	TimeWait time.Duration
	// FinWait2Timeout bounds FIN-WAIT-2 after a full close; 60 s if zero.
	FinWait2Timeout time.Duration
	// Keepalive turns on keepalive probes (RFC 9293 §3.8.4) after
	// KeepaliveIdle without traffic, every KeepaliveInterval, giving up
	// after KeepaliveCount unanswered probes. Defaults 2 h, 75 s, 9.
	Keepalive                        bool
	KeepaliveIdle, KeepaliveInterval time.Duration
	KeepaliveCount                   int
	// ECN asks for Explicit Congestion Notification (RFC 3168) in the
	// SYN and accepts it in a SYN-ACK's reply. With ECN, data segments are
	// sent ECN-capable (the owner marks them ECT(0), see ECNCapable) and a
	// CE mark is answered like a loss, without a retransmission.
	ECN bool
	// Nagle enables Nagle's algorithm (RFC 9293 §3.7.4). Off by default, as
	// Go's net package sets TCP_NODELAY.
	Nagle bool
	// FastOpenCookie, if set, turns on TCP Fast Open for a passive
	// endpoint (RFC 7413 §4.2): it is the cookie valid for this
	// connection's peer, which the owner derives from the peer's address
	// and a secret (§4.1.2). A SYN that requests a cookie, or carries a
	// wrong one, gets it in the SYN-ACK; the data of a SYN that carries it
	// is accepted at once, and the SYN-ACK acknowledges it.
	FastOpenCookie []byte
	// Hooks, if set, see every segment and event (MPTCP).
	Hooks SegmentHooks
	// Notify, if set, is called with readiness changes.
	Notify func(Notify)
}

func (c *Config) setDefaults() {
	if c.MTU == 0 {
		c.MTU = 1500
	}
	if c.IPHeaderLen == 0 {
		c.IPHeaderLen = 20
	}
	if c.SendBufferSize == 0 {
		c.SendBufferSize = 256 << 10
	}
	if c.SendBufferMax < c.SendBufferSize {
		c.SendBufferMax = max(4<<20, c.SendBufferSize)
	}
	if c.ReceiveBufferSize == 0 {
		c.ReceiveBufferSize = 128 << 10
	}
	if c.ReceiveBufferMax < c.ReceiveBufferSize {
		c.ReceiveBufferMax = max(6<<20, c.ReceiveBufferSize)
	}
	if c.DelayedAckTimeout == 0 {
		c.DelayedAckTimeout = 40 * time.Millisecond
	}
	if c.MinRTO == 0 {
		c.MinRTO = 200 * time.Millisecond
	}
	if c.MaxRTO == 0 {
		c.MaxRTO = 60 * time.Second
	}
	if c.SynRetries == 0 {
		c.SynRetries = 6
	}
	if c.DataRetries == 0 {
		c.DataRetries = 15
	}
	if c.TimeWait == 0 {
		c.TimeWait = 60 * time.Second
	}
	if c.FinWait2Timeout == 0 {
		c.FinWait2Timeout = 60 * time.Second
	}
	if c.KeepaliveIdle == 0 {
		c.KeepaliveIdle = 2 * time.Hour
	}
	if c.KeepaliveInterval == 0 {
		c.KeepaliveInterval = 75 * time.Second
	}
	if c.KeepaliveCount == 0 {
		c.KeepaliveCount = 9
	}
}

// Stats are per-connection counters, named after the Linux MIB entries
// they correspond to where one exists.
type Stats struct {
	SegsOut, SegsIn       uint64
	BytesSent, BytesAcked uint64 // payload bytes put on the wire (retransmissions included) / acknowledged
	BytesReceived         uint64 // in-order payload bytes received
	RetransSegs           uint64 // all retransmitted segments
	FastRetrans           uint64 // retransmissions in fast recovery
	Timeouts              uint64 // RTO expiries (TCPTimeouts)
	TLPProbes             uint64 // tail loss probes sent (TCPLossProbes)
	TLPRecoveries         uint64 // losses repaired by a probe (TCPLossProbeRecovery)
	Recoveries            uint64 // fast recovery episodes
	OutOfOrderSegs        uint64 // segments queued out of order (TCPOFOQueue)
	DupSegs               uint64 // duplicate or out-of-window segments
	ZeroWindowProbes      uint64
	ChallengeACKs         uint64 // TCPChallengeACK (RFC 5961)
	PAWSDrops             uint64 // TCPPAWSEstab
	DSACKs                uint64 // D-SACKs received (TCPDSACKRecv)
	SpuriousUndos         uint64 // recoveries undone after D-SACKs (TCPDSACKUndo)
	ECNReductions         uint64 // window reductions on ECN-Echo
	FastOpenAccepted      uint64 // SYNs whose data was accepted with a valid Fast Open cookie (TCPFastOpenPassive)
	// OptionOverflows counts segments whose hook options did not fit the
	// option space left and were sent without them.
	OptionOverflows uint64
}

// Info is a snapshot of the connection's state, like Linux's tcp_info.
type Info struct {
	State                State
	SndUna, SndNxt       uint32
	RcvNxt               uint32
	SndWnd, RcvWnd       int
	Cwnd, Ssthresh       int
	MSS                  int
	SRTT, RTTVar, RTO    time.Duration
	MinRTT               time.Duration
	InFlight             int
	SACKOK, TSOK, ECNOK  bool
	SndWScale, RcvWScale uint8
	InRecovery           bool
	SendBuffered         int
	RecvBuffered         int
	CongestionControl    string
	// PacingRate is the rate-based controller's pacing rate in bytes/s
	// (0: not paced). Delivered is the data delivered so far (SACKed or
	// acknowledged, each byte once), AppLimited whether the delivery rate
	// samples are currently marked application-limited
	// (draft-cheng-iccrg-delivery-rate-estimation §3.4).
	PacingRate float64
	Delivered  int64
	AppLimited bool
	// BBR is BBR's model when the controller is "bbr" (zero otherwise).
	BBR   BBRInfo
	Stats Stats
}
