// Package probe finds out whether a server speaks Multipath TCP (RFC
// 8684) and whether the path to it lets MPTCP through: it opens one MPTCP
// connection with our userspace stack on an interface the stack owns (so
// the local kernel needs no MPTCP support and cannot interfere), records
// every segment of it on the wire (Tap), and compares what was sent with
// what came back:
//
//   - the SYN/ACK: MP_CAPABLE present, its version (v1, or RFC 6824's v0),
//     the checksum ("A"), HMAC ("H") and no-more-subflows ("C") flags; a
//     SYN/ACK without it but with a run of NOPs where options go is the
//     mark of a middlebox that overwrote the option (as firewalls that do
//     not know option 30 do, and as the lab's strip=synack does);
//   - the server's first DSS: its DATA_ACK must follow from the key our
//     third ACK carried (RFC 8684 §3.1: the IDSN is derived from the key),
//     and the data sequence numbers of its data from the key of its own
//     SYN/ACK; a mismatch means something changed an MP_CAPABLE on the way;
//     no MPTCP option at all on the server's segments after an MPTCP
//     handshake means something strips them after the handshake;
//   - the server's ADD_ADDRs: their HMAC (§3.4.1) must verify with both
//     keys.
//
// Only the server's side of the wire is visible from here: a server that
// answers without MPTCP either does not speak it or never saw our SYN's
// option, and the report says so.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/mpconn"
	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
	"github.com/mptcp-go/mptcp/stack"
)

// Verdicts, from the best to the worst news.
const (
	// VerdictMPTCP: the server speaks MPTCP v1 and its options came back
	// as they should.
	VerdictMPTCP = "mptcp"
	// VerdictTCP: the server answered without MPTCP and nothing suggests
	// an option was removed.
	VerdictTCP = "tcp"
	// VerdictV0: the server speaks only RFC 6824's MPTCP v0 (the
	// connection fell back to TCP: we speak v1, as Linux does).
	VerdictV0 = "mptcp_v0"
	// VerdictStripped: something on the way removed MPTCP options.
	VerdictStripped = "stripped"
	// VerdictModified: something on the way changed MPTCP options.
	VerdictModified = "modified"
	// VerdictUnreachable: no connection (refused, no answer, no route).
	VerdictUnreachable = "unreachable"
)

// Config configures a probe.
type Config struct {
	// Send is sent after the handshake (nil: nothing; our DATA_FIN alone
	// makes the server answer with a DSS).
	Send []byte
	// Timeout bounds the handshake (10 s if zero); Wait how long the
	// server has to close its side after ours, and to send ADD_ADDRs
	// (2 s if zero).
	Timeout, Wait time.Duration
	// Checksum asks for DSS checksums in our SYN.
	Checksum bool
}

// Report is what a probe found. Its JSON form is the --json output of
// `mptcp probe`.
type Report struct {
	Target   string `json:"target"`
	Local    string `json:"local,omitempty"`
	Verdict  string `json:"verdict"`
	Summary  string `json:"summary"`
	MPTCP    bool   `json:"mptcp"`    // the connection ran MPTCP end to end
	Version  *int   `json:"version"`  // the server's MP_CAPABLE version (null: none)
	Fallback bool   `json:"fallback"` // our stack fell back to TCP
	// ServerChecksum: the server's SYN/ACK asks for DSS checksums ("A");
	// Checksum: they were used (either side asked).
	ServerChecksum bool   `json:"server_requires_checksum"`
	Checksum       bool   `json:"checksum"`
	HMAC           string `json:"hmac,omitempty"`   // "sha256" (v1) or "sha1" (v0)
	NoMoreSubflows bool   `json:"no_more_subflows"` // the SYN/ACK's "C" flag
	// SynAckNOPRun is the longest run of NOPs in the SYN/ACK's options.
	SynAckNOPRun int             `json:"syn_ack_nop_run"`
	DataAck      *DataAckCheck   `json:"data_ack"` // the server's first DATA_ACK against our key
	DataSeq      *DataSeqCheck   `json:"data_seq"` // the server's first data mapping against its key
	AddAddrs     []AddAddrReport `json:"add_addrs"`
	Findings     []Finding       `json:"findings"`
	Segments     []SegmentReport `json:"segments"` // the wire, both ways
	RTTms        float64         `json:"rtt_ms,omitempty"`
	BytesSent    int             `json:"bytes_sent"`
	BytesRecv    int64           `json:"bytes_received"`
	Error        string          `json:"error,omitempty"`
}

// DataAckCheck compares the server's first DATA_ACK with what our key
// says it may be: from our IDSN+1 to the end of what we sent (our
// DATA_FIN included).
type DataAckCheck struct {
	Got     string `json:"got"` // hex; 8 digits for a 32-bit DATA_ACK
	Min     string `json:"min"`
	Max     string `json:"max"`
	Matches bool   `json:"matches"`
}

// DataSeqCheck compares the server's first data mapping with its IDSN+1.
type DataSeqCheck struct {
	Got     string `json:"got"`
	Want    string `json:"want"`
	Matches bool   `json:"matches"`
}

// AddAddrReport is one ADD_ADDR the server sent.
type AddAddrReport struct {
	ID        uint8  `json:"id"`
	Addr      string `json:"addr"`
	Port      uint16 `json:"port,omitempty"`
	HMACValid bool   `json:"hmac_valid"`
}

// Finding is one observation; Kind is stable for scripts.
type Finding struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"` // "info", "warning", "error"
	Detail   string `json:"detail"`
}

// SegmentReport is one segment of the transcript.
type SegmentReport struct {
	TS      float64  `json:"t_s"`
	Dir     string   `json:"dir"` // "out" (we sent) or "in"
	Flags   string   `json:"flags"`
	Seq     uint32   `json:"seq"`
	Ack     uint32   `json:"ack"`
	Len     int      `json:"len"`
	MPTCP   []string `json:"mptcp"`   // the MPTCP options, decoded
	NOPRun  int      `json:"nop_run"` // longest run of NOPs
	Options string   `json:"options"` // the option kinds in order, e.g. "mss,sackok,ts,nop,ws,mptcp"
}

// Run probes target over st, whose interfaces were wrapped by tap (see
// Tap.Wrap). It needs no MPTCP Host on st: it makes its own (st must
// have none). The report is complete even when the connection fails.
func Run(ctx context.Context, st *stack.Stack, tap *Tap, target netip.AddrPort, cfg Config) *Report {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 2 * time.Second
	}
	r := &Report{Target: target.String(), AddAddrs: []AddAddrReport{}, Findings: []Finding{}, Segments: []SegmentReport{}}
	h, err := mptcp.NewHost(st, mptcp.Config{Checksum: cfg.Checksum, DisableJoins: true})
	if err != nil {
		r.Error = err.Error()
		r.Verdict, r.Summary = VerdictUnreachable, "no probe: "+err.Error()
		return r
	}
	defer h.Close()
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	c, err := h.Dial(dctx, target)
	cancel()
	var info *mpconn.ConnInfo
	if err != nil {
		r.Error = err.Error()
	} else {
		r.Local = c.LocalAddrPort().String()
		info = exchange(ctx, c, cfg, r)
	}
	Analyze(r, tap.Segments(), info)
	return r
}

// exchange sends cfg.Send and our DATA_FIN, reads until the server closes
// or cfg.Wait passes, and returns the connection's final state.
func exchange(ctx context.Context, c *mptcp.Conn, cfg Config, r *Report) *mpconn.ConnInfo {
	defer c.Abort()
	c.SetDeadline(time.Now().Add(cfg.Wait))
	if len(cfg.Send) > 0 {
		n, err := c.Write(cfg.Send)
		r.BytesSent = n
		if err != nil {
			r.Error = err.Error()
		}
	}
	c.CloseWrite()
	buf := make([]byte, 64<<10)
	for ctx.Err() == nil {
		n, err := c.Read(buf)
		r.BytesRecv += int64(n)
		if err == io.EOF {
			// The server closed its side: give our DATA_ACK of its
			// DATA_FIN a moment to leave, as a clean close.
			waitClosed(c, 200*time.Millisecond)
			break
		}
		if err != nil {
			var te interface{ Timeout() bool }
			if !(errors.As(err, &te) && te.Timeout()) && r.Error == "" {
				r.Error = err.Error()
			}
			break
		}
	}
	in := c.Info()
	return &in
}

func waitClosed(c *mptcp.Conn, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		if c.Info().State == mpconn.StateClosed.String() {
			return
		}
		select {
		case <-c.Done():
			return
		case <-t.C:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// mptcpOpts returns the MPTCP options of an options block, and the
// longest run of NOPs and the option kinds in order.
func mptcpOpts(opts []byte) (mp []option.Option, nopRun int, kinds string) {
	var names []string
	run := 0
	for i := 0; i < len(opts); {
		k := opts[i]
		if k == header.TCPOptEOL {
			break
		}
		if k == header.TCPOptNOP {
			run++
			nopRun = max(nopRun, run)
			names = append(names, "nop")
			i++
			continue
		}
		run = 0
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			names = append(names, "bad")
			break
		}
		l := int(opts[i+1])
		names = append(names, kindName(k))
		if k == option.Kind {
			if o, err := option.Parse(opts[i : i+l]); err == nil {
				mp = append(mp, o)
			} else {
				mp = append(mp, option.Option{Subtype: 0xff})
			}
		}
		i += l
	}
	return mp, nopRun, joinKinds(names)
}

// joinKinds joins option names, a run of more than two NOPs as "nop*N".
func joinKinds(names []string) string {
	var out []string
	for i := 0; i < len(names); {
		j := i
		for j < len(names) && names[j] == "nop" {
			j++
		}
		if j-i > 2 {
			out = append(out, fmt.Sprintf("nop*%d", j-i))
			i = j
			continue
		}
		out = append(out, names[i])
		i++
	}
	return strings.Join(out, ",")
}

func kindName(k uint8) string {
	switch k {
	case 2:
		return "mss"
	case 3:
		return "ws"
	case 4:
		return "sackok"
	case 5:
		return "sack"
	case 8:
		return "ts"
	case 30:
		return "mptcp"
	}
	return fmt.Sprintf("kind%d", k)
}

// suspiciousNOPs is the shortest run of NOPs in a SYN/ACK that we take
// for an overwritten option: stacks pad with at most three (Linux one or
// two, before SACK_PERM and window scale), an MP_CAPABLE is 12 bytes.
const suspiciousNOPs = 4

// Analyze fills r from the recorded segments and the connection's final
// state (nil if the handshake failed). It is pure: tests feed it crafted
// segments.
func Analyze(r *Report, segs []Segment, info *mpconn.ConnInfo) {
	if r.AddAddrs == nil {
		r.AddAddrs = []AddAddrReport{}
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	find := func(kind, sev, format string, args ...any) {
		r.Findings = append(r.Findings, Finding{Kind: kind, Severity: sev, Detail: fmt.Sprintf(format, args...)})
	}
	var synAt, synAckAt time.Duration
	var synAck *Segment
	var rst bool
	handshakeIdx := -1
	for i := range segs {
		s := &segs[i]
		mp, run, kinds := mptcpOpts(s.Options)
		sr := SegmentReport{TS: s.At.Seconds(), Dir: "in", Flags: s.Flags.String(), Seq: s.Seq, Ack: s.Ack, Len: s.Len,
			MPTCP: []string{}, NOPRun: run, Options: kinds}
		if s.Out {
			sr.Dir = "out"
		}
		for _, o := range mp {
			if o.Subtype == 0xff {
				sr.MPTCP = append(sr.MPTCP, "malformed")
				continue
			}
			sr.MPTCP = append(sr.MPTCP, o.String())
		}
		r.Segments = append(r.Segments, sr)
		syn, ack := s.Flags&header.TCPFlagSYN != 0, s.Flags&header.TCPFlagACK != 0
		switch {
		case s.Out && syn && !ack && synAt == 0:
			synAt = s.At + 1
		case !s.Out && syn && ack && synAck == nil:
			synAck, synAckAt, handshakeIdx = s, s.At, i
		case !s.Out && s.Flags&header.TCPFlagRST != 0 && synAck == nil:
			rst = true
		}
	}
	if synAck == nil {
		r.Verdict = VerdictUnreachable
		switch {
		case rst:
			r.Summary = "the server refused the connection (RST): nothing listens on that port"
		case synAt == 0:
			r.Summary = "no SYN left: no route to the server from our paths"
		default:
			r.Summary = "no answer to our SYN"
		}
		if r.Error != "" {
			r.Summary += " (" + r.Error + ")"
		}
		return
	}
	if synAt > 0 {
		r.RTTms = float64(synAckAt-(synAt-1)) / 1e6
	}
	mp, run, _ := mptcpOpts(synAck.Options)
	r.SynAckNOPRun = run
	var cap *option.MPCapable
	for i := range mp {
		if mp[i].Subtype == option.SubtypeMPCapable {
			cap = &mp[i].MPCapable
		} else if mp[i].Subtype == 0xff {
			find("syn_ack_option_malformed", "error", "the SYN/ACK's MPTCP option does not parse: something changed it on the way")
		}
	}
	if info != nil {
		r.Fallback, r.Checksum = info.Fallback, info.Checksum && !info.Fallback
	}
	if cap == nil {
		if run >= suspiciousNOPs {
			find("syn_ack_option_removed", "error", "the SYN/ACK has no MP_CAPABLE but %d NOPs in a row where options go: a middlebox overwrote an option (MP_CAPABLE is 12 bytes) with NOPs", run)
		} else {
			find("no_mp_capable", "info", "the SYN/ACK has no MP_CAPABLE: the server does not speak MPTCP, or something on the way removed the option from our SYN (only the server could tell)")
		}
		conclude(r)
		return
	}
	v := int(cap.Version)
	r.Version = &v
	r.ServerChecksum = cap.Flags&option.CapChecksum != 0
	r.NoMoreSubflows = cap.Version == option.V1 && cap.Flags&option.CapNoMoreSubflows != 0
	if cap.Version == option.V1 {
		r.HMAC = "sha256"
	} else {
		r.HMAC = "sha1"
	}
	if cap.Version != option.V1 {
		find("server_v0", "info", "the server speaks MPTCP v%d (RFC 6824) only: we speak v1 (RFC 8684), as Linux does, so the connection fell back to TCP", v)
		conclude(r)
		return
	}
	if !cap.HasSenderKey || cap.SenderKey == 0 {
		find("syn_ack_key_missing", "error", "the SYN/ACK's MP_CAPABLE has no key")
		conclude(r)
		return
	}
	if info == nil {
		conclude(r)
		return
	}
	if info.RemoteKey != 0 && info.RemoteKey != cap.SenderKey {
		find("syn_ack_key_differs", "error", "the key our stack took from the SYN/ACK differs from the one on the wire")
	}
	localIDSN := mpcrypto.IDSN(option.V1, info.LocalKey)
	remoteIDSN := mpcrypto.IDSN(option.V1, cap.SenderKey)
	// The server's segments after the handshake.
	var later, withMPTCP int
	var firstAck, firstMap bool
	var sentEnd uint64 = localIDSN + 1 + info.BytesSent + 1
	for _, s := range segs[handshakeIdx+1:] {
		if s.Out || s.Flags&header.TCPFlagSYN != 0 || s.Flags&header.TCPFlagRST != 0 {
			continue
		}
		later++
		mp, _, _ := mptcpOpts(s.Options)
		if len(mp) > 0 {
			withMPTCP++
		}
		for _, o := range mp {
			switch o.Subtype {
			case option.SubtypeDSS:
				d := o.DSS
				if d.HasDataACK() && !firstAck {
					firstAck = true
					c := &DataAckCheck{Min: fmt.Sprintf("%016x", localIDSN+1), Max: fmt.Sprintf("%016x", sentEnd)}
					if d.Flags&option.DSSDataACK8 != 0 {
						c.Got = fmt.Sprintf("%016x", d.DataACK)
						c.Matches = d.DataACK-(localIDSN+1) <= sentEnd-(localIDSN+1)
					} else {
						c.Got = fmt.Sprintf("%08x", uint32(d.DataACK))
						c.Min, c.Max = fmt.Sprintf("%08x", uint32(localIDSN+1)), fmt.Sprintf("%08x", uint32(sentEnd))
						c.Matches = uint32(d.DataACK)-uint32(localIDSN+1) <= uint32(sentEnd-(localIDSN+1))
					}
					r.DataAck = c
					if !c.Matches {
						find("data_ack_mismatch", "error", "the server's DATA_ACK %s is not in [%s, %s], where our key puts it: something changed the key of our third ACK's MP_CAPABLE", c.Got, c.Min, c.Max)
					}
				}
				if d.HasMapping() && (s.Len > 0 || d.DataFIN()) && !firstMap {
					// The first mapping: the server's first data byte, or
					// its DATA_FIN when it sent no data, is at its IDSN+1.
					firstMap = true
					c := &DataSeqCheck{Want: fmt.Sprintf("%016x", remoteIDSN+1)}
					if d.Flags&option.DSSDSN8 != 0 {
						c.Got, c.Matches = fmt.Sprintf("%016x", d.DSN), d.DSN == remoteIDSN+1
					} else {
						c.Got, c.Want = fmt.Sprintf("%08x", uint32(d.DSN)), fmt.Sprintf("%08x", uint32(remoteIDSN+1))
						c.Matches = uint32(d.DSN) == uint32(remoteIDSN+1)
					}
					r.DataSeq = c
					if !c.Matches {
						find("data_seq_mismatch", "error", "the server's first data sequence number %s is not %s, its IDSN+1 from the SYN/ACK's key: something changed the key of the SYN/ACK (or of our third ACK's echo of it)", c.Got, c.Want)
					}
				}
			case option.SubtypeAddAddr:
				a := o.AddAddr
				if a.Echo {
					continue
				}
				ar := AddAddrReport{ID: a.AddrID, Addr: a.Addr.String(), Port: a.Port}
				ar.HMACValid = a.HasHMAC && a.HMAC == mpcrypto.AddAddrHMAC(cap.SenderKey, info.LocalKey, a.AddrID, a.Addr, a.Port)
				if !containsAddAddr(r.AddAddrs, ar) {
					r.AddAddrs = append(r.AddAddrs, ar)
					if !ar.HMACValid {
						find("add_addr_hmac_invalid", "error", "the ADD_ADDR of %v (id %d) does not verify with both keys: something changed it (or the keys) on the way", a.Addr, a.AddrID)
					}
				}
			case option.SubtypeMPTCPRst:
				find("mp_tcprst", "warning", "the server reset the subflow: %v", o)
			case option.SubtypeMPFastclose:
				find("mp_fastclose", "info", "the server closed the connection with MP_FASTCLOSE")
			}
		}
	}
	switch {
	case later > 0 && withMPTCP == 0:
		find("options_removed_after_handshake", "error", "the SYN/ACK carried MP_CAPABLE but none of the server's %d later segments carried an MPTCP option: something removes the options after the handshake, in one direction or the other (the server falls back when our third ACK or data arrive without them)", later)
	case later == 0:
		find("no_answer_after_handshake", "warning", "the server sent nothing after its SYN/ACK: the DSS could not be checked")
	case r.DataAck == nil:
		find("no_data_ack", "warning", "none of the server's segments carried a DATA_ACK: our key could not be checked")
	}
	if info.Fallback && len(r.Findings) == 0 {
		find("fallback", "warning", "our stack fell back to TCP after an MPTCP handshake")
	}
	conclude(r)
}

func containsAddAddr(l []AddAddrReport, a AddAddrReport) bool {
	for _, x := range l {
		if x == a {
			return true
		}
	}
	return false
}

// conclude sets the verdict and summary from the findings.
func conclude(r *Report) {
	has := func(kinds ...string) bool {
		for _, f := range r.Findings {
			for _, k := range kinds {
				if f.Kind == k {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("syn_ack_option_malformed", "syn_ack_key_missing", "syn_ack_key_differs", "data_ack_mismatch", "data_seq_mismatch", "add_addr_hmac_invalid"):
		r.Verdict, r.Summary = VerdictModified, "the server speaks MPTCP, but something on the way changes MPTCP options"
	case has("syn_ack_option_removed"):
		r.Verdict, r.Summary = VerdictStripped, "something on the way removes MPTCP options from the SYN/ACK (the connection fell back to TCP)"
	case has("options_removed_after_handshake"):
		r.Verdict, r.Summary = VerdictStripped, "the server speaks MPTCP v1, but something on the way removes MPTCP options after the handshake (the connection fell back to TCP)"
	case has("server_v0"):
		r.Verdict, r.Summary = VerdictV0, "the server speaks MPTCP v0 (RFC 6824) only; the connection fell back to TCP"
	case r.Version == nil:
		r.Verdict, r.Summary = VerdictTCP, "the server answered without MPTCP (plain TCP)"
	case r.Fallback:
		r.Verdict, r.Summary = VerdictStripped, "the server speaks MPTCP v1, but the connection fell back to TCP"
	default:
		r.Verdict, r.MPTCP = VerdictMPTCP, true
		var b strings.Builder
		b.WriteString("the server speaks MPTCP v1")
		if r.ServerChecksum {
			b.WriteString(", requires DSS checksums")
		} else {
			b.WriteString(", without DSS checksums")
		}
		if r.Checksum && !r.ServerChecksum {
			b.WriteString(" (on: we asked)")
		}
		b.WriteString("; its options came back intact")
		if len(r.AddAddrs) > 0 {
			fmt.Fprintf(&b, "; it announced %d more address(es)", len(r.AddAddrs))
		}
		r.Summary = b.String()
	}
}
