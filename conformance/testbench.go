package conformance

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/option"
)

// Testbench is the scenario's end of the DUT's link: it writes crafted IP
// packets and collects every TCP segment the DUT sends, which the
// scenario takes flow by flow with Expect.
type Testbench struct {
	t    *T
	ep   link.Endpoint
	topo Topology

	mu      sync.Mutex
	queue   []*Got // received, not yet taken
	changed chan struct{}
	closed  bool
	ipID    uint16
	nextPrt uint16
	done    chan struct{}
}

func newTestbench(t *T, ep link.Endpoint, topo Topology) *Testbench {
	tb := &Testbench{t: t, ep: ep, topo: topo, changed: make(chan struct{}), done: make(chan struct{}),
		ipID: uint16(rand.Uint32()), nextPrt: uint16(40000 + rand.IntN(20000))}
	go tb.reader()
	return tb
}

// close waits for the reader, which ends when the DUT closed the link.
func (tb *Testbench) close() {
	tb.ep.Close()
	<-tb.done
}

func (tb *Testbench) logf(format string, args ...any) {
	tb.t.logLine(fmt.Sprintf(format, args...))
}

func (tb *Testbench) reader() {
	defer close(tb.done)
	const n = 32
	bufs := make([][]byte, n)
	sizes := make([]int, n)
	for i := range bufs {
		bufs[i] = make([]byte, 65536)
	}
	for {
		k, err := tb.ep.ReadPackets(bufs, sizes)
		now := time.Now()
		var got []*Got
		for i := 0; i < k; i++ {
			if g := tb.parse(bufs[i][:sizes[i]], now); g != nil {
				got = append(got, g)
			}
		}
		tb.mu.Lock()
		tb.queue = append(tb.queue, got...)
		if err != nil {
			tb.closed = true
		}
		if len(got) > 0 || err != nil {
			close(tb.changed)
			tb.changed = make(chan struct{})
		}
		tb.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// parse decodes one IP packet from the DUT; packets other than TCP
// (neighbour discovery, MLD) are ignored.
func (tb *Testbench) parse(b []byte, now time.Time) *Got {
	if len(b) == 0 {
		return nil
	}
	g := &Got{t: tb.t, At: now}
	var seg []byte
	var src, dst netip.Addr
	switch b[0] >> 4 {
	case 4:
		ip := header.IPv4(b)
		if !ip.Valid() || ip.Protocol() != header.ProtocolTCP || ip.IsFragment() {
			return nil
		}
		src, dst, seg = ip.SrcAddr(), ip.DstAddr(), ip.Payload()
		g.TTL, g.TOS = ip.TTL(), ip.TOS()
		if !ip.ValidChecksum() {
			g.Problems = append(g.Problems, "bad IPv4 header checksum")
		}
	case 6:
		ip := header.IPv6(b)
		if !ip.Valid() {
			return nil
		}
		proto, off, err := ip.UpperLayer()
		if err != nil || proto != header.ProtocolTCP {
			return nil
		}
		src, dst = ip.SrcAddr(), ip.DstAddr()
		seg = b[off : header.IPv6HeaderLen+ip.PayloadLength()]
		g.TTL, g.TOS = ip.HopLimit(), ip.TrafficClass()
	default:
		return nil
	}
	th := header.TCP(seg)
	if !th.Valid() {
		return nil
	}
	if th.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint32(len(seg)))) != 0 {
		g.Problems = append(g.Problems, "bad TCP checksum")
	}
	g.Src = netip.AddrPortFrom(src, th.SrcPort())
	g.Dst = netip.AddrPortFrom(dst, th.DstPort())
	g.Flags, g.Seq, g.Ack, g.Win, g.Urg = th.Flags(), th.Seq(), th.Ack(), th.Window(), th.Urgent()
	g.RawOpts = append([]byte(nil), th.Options()...)
	g.Data = append([]byte(nil), th.Payload()...)
	if err := header.ParseTCPOptions(g.RawOpts, &g.Opts); err != nil {
		g.Problems = append(g.Problems, "options: "+err.Error())
	}
	p := option.Parser{Version: option.AssumeV1}
	g.MP, g.MPErr = p.ParseAll(g.RawOpts, nil)
	if g.MPErr != nil {
		g.Problems = append(g.Problems, "MPTCP options: "+g.MPErr.Error())
	}
	return g
}

// take waits until the first queued segment that match accepts is there,
// removes it from the queue and returns it; nil after within (or when the
// link closed or the run ended).
func (tb *Testbench) take(match func(*Got) bool, within time.Duration) *Got {
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		tb.mu.Lock()
		for i, g := range tb.queue {
			if match(g) {
				tb.queue = append(tb.queue[:i:i], tb.queue[i+1:]...)
				tb.mu.Unlock()
				return g
			}
		}
		ch, closed := tb.changed, tb.closed
		tb.mu.Unlock()
		if closed {
			return nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil
		case <-tb.t.ctx.Done():
			return nil
		case <-tb.t.verdict:
			return nil
		}
	}
}

// logUntaken logs the segments nobody took, at the end of a run.
func (tb *Testbench) logUntaken() {
	tb.mu.Lock()
	q := tb.queue
	tb.queue = nil
	tb.mu.Unlock()
	for _, g := range q {
		tb.t.logAt(g.At, "dut > tb  "+g.describe(nil)+" (not taken by the scenario)")
	}
}

// Pending returns the segments received and not taken yet, oldest first,
// without removing them.
func (tb *Testbench) Pending() []*Got {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]*Got(nil), tb.queue...)
}

func (tb *Testbench) port() uint16 {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.nextPrt++
	if tb.nextPrt < 40000 || tb.nextPrt >= 60000 {
		tb.nextPrt = 40000
	}
	return tb.nextPrt
}

// Flow is the testbench's side of one TCP connection (or subflow) with
// the DUT: the 4-tuple, both initial sequence numbers, so that scenarios
// write sequence and acknowledgment numbers relative to them as packetdrill
// does, and the timestamp state.
type Flow struct {
	t  *T
	tb *Testbench
	// Local is the testbench's address and port, Remote the DUT's.
	Local, Remote netip.AddrPort
	// ISS is the testbench's initial sequence number; IRS the DUT's, known
	// once a SYN from the DUT was taken (HaveIRS).
	ISS, IRS uint32
	HaveIRS  bool
	// Win is the window field of segments whose Seg.Win is zero.
	Win uint16
	// TSRecent is the last TSval the DUT sent (echoed by the TS option);
	// TSLast the last TSval the testbench sent.
	TSRecent, TSLast uint32
	tsBase           time.Time
	tsOff            uint32
	// AutoTS adds the timestamps option (NOP, NOP, TS) to every segment
	// sent without SYN, as RFC 7323 §3.2 asks once both sides sent it in
	// their SYNs; the handshake helpers set it.
	AutoTS bool
	// LastSent is when the last segment was written.
	LastSent time.Time
	// MP is the subflow's MPTCP state, for the MPTCP scenarios' helpers
	// (nil on plain TCP flows).
	MP *MPSubflow
}

// NewFlow returns a flow from the testbench's address tbAddr (an index in
// Topology.TB) and a fresh port to remote on the DUT.
func (tb *Testbench) NewFlow(tbAddr int, remote netip.AddrPort) *Flow {
	f := &Flow{t: tb.t, tb: tb, Local: netip.AddrPortFrom(tb.topo.TB[tbAddr], tb.port()),
		Remote: remote, ISS: rand.Uint32(), Win: 65535, tsBase: time.Now(), tsOff: rand.Uint32()}
	return f
}

// ExpectConnect waits for a SYN from the DUT (an active open) and returns a
// flow for its 4-tuple, with IRS from the SYN, and the SYN itself.
func (tb *Testbench) ExpectConnect(within time.Duration) (*Flow, *Got) {
	g := tb.take(func(g *Got) bool {
		return g.Flags&(header.TCPFlagSYN|header.TCPFlagACK) == header.TCPFlagSYN
	}, within)
	if g == nil {
		tb.t.Fatalf("no SYN from the DUT within %v", within)
	}
	f := &Flow{t: tb.t, tb: tb, Local: g.Dst, Remote: g.Src, ISS: rand.Uint32(), Win: 65535,
		tsBase: time.Now(), tsOff: rand.Uint32()}
	f.IRS, f.HaveIRS = g.Seq, true
	g.f = f
	f.noteRecv(g)
	return f, g
}

func (f *Flow) noteRecv(g *Got) {
	if g.Flags.Has(header.TCPFlagSYN) && !f.HaveIRS {
		f.IRS, f.HaveIRS = g.Seq, true
	}
	f.t.logAt(g.At, "dut > tb  "+g.describe(f))
	if g.Opts.HasTimestamps {
		f.TSRecent = g.Opts.TSVal
	}
	for _, p := range g.Problems {
		f.t.Errorf("segment %s: %s", g.describe(f), p)
	}
}

// TSNow is the testbench's timestamp clock for the flow: milliseconds
// from a random origin.
func (f *Flow) TSNow() uint32 {
	return f.tsOff + uint32(time.Since(f.tsBase)/time.Millisecond)
}

// Seg is a segment the testbench sends on a flow. Seq is relative to the
// flow's ISS and Ack to its IRS unless AbsSeq/AbsAck say they are absolute.
type Seg struct {
	Flags header.TCPFlags
	Seq   uint32
	Ack   uint32
	// Win is the window field; 0 means the flow's Win, WinZero a zero window.
	Win  int
	Opts []Opt
	Data []byte
	// AbsSeq and AbsAck take Seq and Ack as they are.
	AbsSeq, AbsAck bool
	// NoTS leaves the timestamps option out even with Flow.AutoTS.
	NoTS bool
	// Src and Dst, if valid, replace the flow's addresses (a segment
	// sent from elsewhere).
	Src, Dst netip.AddrPort
}

// WinZero in Seg.Win sends a zero window.
const WinZero = -1

// Flag shorthands.
const (
	FIN = header.TCPFlagFIN
	SYN = header.TCPFlagSYN
	RST = header.TCPFlagRST
	PSH = header.TCPFlagPSH
	ACK = header.TCPFlagACK
	URG = header.TCPFlagURG
	ECE = header.TCPFlagECE
	CWR = header.TCPFlagCWR
)

// Opt appends one TCP option to b for flow f.
type Opt func(f *Flow, b []byte) []byte

// MSS is the maximum segment size option.
func MSS(v uint16) Opt { return func(_ *Flow, b []byte) []byte { return header.AppendMSS(b, v) } }

// WS is the window scale option.
func WS(shift uint8) Opt {
	return func(_ *Flow, b []byte) []byte { return header.AppendWindowScale(b, shift) }
}

// SACKOK is the SACK-permitted option.
func SACKOK(_ *Flow, b []byte) []byte { return header.AppendSACKPermitted(b) }

// NOP is one no-operation option.
func NOP(_ *Flow, b []byte) []byte { return header.AppendNOP(b, 1) }

// TS is the timestamps option with the flow's clock and the DUT's last
// TSval as echo (zero before the DUT sent one).
func TS(f *Flow, b []byte) []byte {
	f.TSLast = f.TSNow()
	return header.AppendTimestamps(b, f.TSLast, f.TSRecent)
}

// TSVals is the timestamps option with the given values.
func TSVals(val, ecr uint32) Opt {
	return func(f *Flow, b []byte) []byte {
		f.TSLast = val
		return header.AppendTimestamps(b, val, ecr)
	}
}

// SACK is a SACK option whose blocks are relative to the flow's IRS (they
// acknowledge the DUT's data): each block is {start, end}.
func SACK(blocks ...[2]uint32) Opt {
	return func(f *Flow, b []byte) []byte {
		bl := make([]header.SACKBlock, len(blocks))
		for i, x := range blocks {
			bl[i] = header.SACKBlock{Start: f.IRS + x[0], End: f.IRS + x[1]}
		}
		return header.AppendSACK(b, bl)
	}
}

// RawOpt appends bytes as they are.
func RawOpt(raw ...byte) Opt { return func(_ *Flow, b []byte) []byte { return append(b, raw...) } }

// Appender is an MPTCP option value (a pointer to option.MPCapable,
// option.DSS, ...) or an *option.Option.
type Appender interface {
	Append(b []byte) ([]byte, error)
}

// MP is an MPTCP option.
func MP(o Appender) Opt {
	return func(f *Flow, b []byte) []byte {
		out, err := o.Append(b)
		if err != nil {
			f.t.Fatalf("building MPTCP option %v: %v", o, err)
		}
		return out
	}
}

// Send writes segment s on the flow.
func (f *Flow) Send(s Seg) {
	f.t.checkCtx()
	src, dst := f.Local, f.Remote
	if s.Src.IsValid() {
		src = s.Src
	}
	if s.Dst.IsValid() {
		dst = s.Dst
	}
	seq, ack := s.Seq, s.Ack
	if !s.AbsSeq {
		seq += f.ISS
	}
	if !s.AbsAck {
		ack += f.IRS
	}
	if !s.Flags.Has(ACK) && !s.AbsAck {
		ack = 0
	}
	var opts []byte
	if f.AutoTS && !s.Flags.Has(SYN) && !s.NoTS {
		opts = TS(f, header.AppendNOP(opts, 2))
	}
	for _, o := range s.Opts {
		opts = o(f, opts)
	}
	opts = header.PadOptions(opts)
	if len(opts) > header.TCPMaxOptionsLen {
		f.t.Fatalf("segment options are %d bytes, more than %d", len(opts), header.TCPMaxOptionsLen)
	}
	win := uint16(f.Win)
	switch {
	case s.Win == WinZero:
		win = 0
	case s.Win > 0:
		win = uint16(s.Win)
	}
	tl := header.TCPMinHeaderLen + len(opts) + len(s.Data)
	ihl := header.IPv4MinHeaderLen
	if !src.Addr().Is4() {
		ihl = header.IPv6HeaderLen
	}
	pkt := make([]byte, ihl+tl)
	if src.Addr().Is4() {
		f.tb.mu.Lock()
		f.tb.ipID++
		id := f.tb.ipID
		f.tb.mu.Unlock()
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), ID: id, Flags: header.IPv4FlagDF,
			TTL: 64, Protocol: header.ProtocolTCP, Src: src.Addr(), Dst: dst.Addr()})
		ip.SetChecksum()
	} else {
		header.IPv6(pkt).Encode(&header.IPv6Fields{PayloadLength: uint16(tl), NextHeader: header.ProtocolTCP,
			HopLimit: 64, Src: src.Addr(), Dst: dst.Addr()})
	}
	th := header.TCP(pkt[ihl:])
	th.Encode(&header.TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Ack: ack,
		DataOffset: header.TCPMinHeaderLen + len(opts), Flags: s.Flags, Window: win})
	copy(th[header.TCPMinHeaderLen:], opts)
	copy(th[header.TCPMinHeaderLen+len(opts):], s.Data)
	th.SetChecksum(th.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, src.Addr(), dst.Addr(), uint32(tl))))
	g := f.tb.parse(pkt, time.Now())
	g.f = f
	f.tb.logf("tb > dut  %s", g.describe(f))
	if _, err := f.tb.ep.WritePackets([][]byte{pkt}); err != nil {
		f.t.Fatalf("testbench write: %v", err)
	}
	f.LastSent = time.Now()
}

// Expect returns the next segment the DUT sends on the flow, waiting up to
// within for it; the scenario ends if none comes.
func (f *Flow) Expect(within time.Duration) *Got {
	g := f.tb.take(f.matchIn, within)
	if g == nil {
		f.t.checkCtx()
		f.t.Fatalf("flow %v: no segment from the DUT within %v", f, within)
	}
	g.f = f
	f.noteRecv(g)
	return g
}

// Next is Expect without the failure: nil if nothing came within.
func (f *Flow) Next(within time.Duration) *Got {
	g := f.tb.take(f.matchIn, within)
	if g != nil {
		g.f = f
		f.noteRecv(g)
	}
	return g
}

// ExpectNone checks that the DUT sends nothing on the flow for d.
func (f *Flow) ExpectNone(d time.Duration) {
	if g := f.tb.take(f.matchIn, d); g != nil {
		g.f = f
		f.noteRecv(g)
		f.t.Errorf("flow %v: unexpected segment %s", f, g.describe(f))
	}
}

// ExpectUntil takes segments on the flow until one satisfies stop, and
// returns them all (the last one is the one that stopped); each waits up
// to within.
func (f *Flow) ExpectUntil(within time.Duration, stop func(*Got) bool) []*Got {
	var out []*Got
	for {
		g := f.Expect(within)
		out = append(out, g)
		if stop(g) {
			return out
		}
		if len(out) > 1000 {
			f.t.Fatalf("flow %v: more than 1000 segments without the one expected", f)
		}
	}
}

func (f *Flow) matchIn(g *Got) bool { return g.Src == f.Remote && g.Dst == f.Local }

func (f *Flow) String() string { return f.Local.String() + "<->" + f.Remote.String() }

// Got is a segment the DUT sent. Its check methods record a failure for
// each field that differs (and go on), and return the segment so checks
// chain: f.Expect(Quick).Is(SYN|ACK).AckIs(1).MSSIs(1460).
type Got struct {
	t *T
	f *Flow
	// At is when the testbench read it.
	At       time.Time
	Src, Dst netip.AddrPort
	TTL, TOS uint8
	Flags    header.TCPFlags
	Seq, Ack uint32
	Win, Urg uint16
	RawOpts  []byte
	Opts     header.TCPOptions
	// MP are the segment's MPTCP options, decoded.
	MP    []option.Option
	MPErr error
	Data  []byte
	// Problems are malformations found when decoding (bad checksum, bad
	// option); each is a failure once the segment is taken.
	Problems []string
}

// RelSeq and RelAck are Seq and Ack relative to the flow's IRS and ISS.
func (g *Got) RelSeq() uint32 { return g.Seq - g.f.IRS }
func (g *Got) RelAck() uint32 { return g.Ack - g.f.ISS }

// Len is the payload length plus one for SYN and FIN (the sequence space
// the segment occupies).
func (g *Got) Len() int {
	n := len(g.Data)
	if g.Flags.Has(SYN) {
		n++
	}
	if g.Flags.Has(FIN) {
		n++
	}
	return n
}

func (g *Got) errorf(field, format string, args ...any) {
	g.t.Errorf("segment %s: %s: %s", g.describe(g.f), field, fmt.Sprintf(format, args...))
}

// Is checks the flags, ignoring PSH (whose use RFC 9293 leaves to the
// sender).
func (g *Got) Is(want header.TCPFlags) *Got {
	if g.Flags&^PSH != want&^PSH {
		g.errorf("flags", "got %s, want %s", flagString(g.Flags), flagString(want))
	}
	return g
}

// SeqIs checks the sequence number relative to the flow's IRS.
func (g *Got) SeqIs(rel uint32) *Got {
	if g.RelSeq() != rel {
		g.errorf("seq", "got %d, want %d", int32(g.RelSeq()), rel)
	}
	return g
}

// AckIs checks the acknowledgment number relative to the flow's ISS.
func (g *Got) AckIs(rel uint32) *Got {
	if !g.Flags.Has(ACK) {
		g.errorf("ack", "ACK flag not set")
	} else if g.RelAck() != rel {
		g.errorf("ack", "got %d, want %d", int32(g.RelAck()), rel)
	}
	return g
}

// DataLen checks the payload length.
func (g *Got) DataLen(n int) *Got {
	if len(g.Data) != n {
		g.errorf("length", "got %d bytes of data, want %d", len(g.Data), n)
	}
	return g
}

// Payload checks the payload bytes.
func (g *Got) Payload(want []byte) *Got {
	if string(g.Data) != string(want) {
		g.errorf("data", "got %d bytes %.16q..., want %d bytes %.16q...", len(g.Data), g.Data, len(want), want)
	}
	return g
}

// WinIs checks the raw window field.
func (g *Got) WinIs(w uint16) *Got {
	if g.Win != w {
		g.errorf("window", "got %d, want %d", g.Win, w)
	}
	return g
}

// WinNonZero checks that the window is open.
func (g *Got) WinNonZero() *Got {
	if g.Win == 0 {
		g.errorf("window", "got 0, want an open window")
	}
	return g
}

// MSSIs checks the MSS option (0: must be absent).
func (g *Got) MSSIs(v uint16) *Got {
	if g.Opts.MSS != v {
		g.errorf("mss option", "got %d, want %d (0: absent)", g.Opts.MSS, v)
	}
	return g
}

// WSIs checks the window scale option (-1: must be absent).
func (g *Got) WSIs(shift int8) *Got {
	if g.Opts.WindowScale != shift {
		g.errorf("wscale option", "got %d, want %d (-1: absent)", g.Opts.WindowScale, shift)
	}
	return g
}

// HasWS checks that a window scale option is present, with a legal shift.
func (g *Got) HasWS() *Got {
	if g.Opts.WindowScale < 0 || g.Opts.WindowScale > header.TCPMaxWindowScale {
		g.errorf("wscale option", "got %d, want 0-14", g.Opts.WindowScale)
	}
	return g
}

// SACKOKIs checks the SACK-permitted option.
func (g *Got) SACKOKIs(want bool) *Got {
	if g.Opts.SACKPermitted != want {
		g.errorf("sackOK option", "present %v, want %v", g.Opts.SACKPermitted, want)
	}
	return g
}

// TSIs checks whether the timestamps option is present; when it must be,
// it also checks the echo: TSecr is the testbench's last TSval (after a
// SYN, 0 is checked by TSEcrIs).
func (g *Got) TSIs(want bool) *Got {
	if g.Opts.HasTimestamps != want {
		g.errorf("timestamps option", "present %v, want %v", g.Opts.HasTimestamps, want)
		return g
	}
	if want && g.f != nil && g.f.TSLast != 0 && g.Opts.TSEcr != g.f.TSLast {
		g.errorf("TSecr", "got %d, want %d (the testbench's last TSval)", g.Opts.TSEcr, g.f.TSLast)
	}
	return g
}

// TSEcrIs checks the timestamp echo.
func (g *Got) TSEcrIs(v uint32) *Got {
	if !g.Opts.HasTimestamps || g.Opts.TSEcr != v {
		g.errorf("TSecr", "got %d (present %v), want %d", g.Opts.TSEcr, g.Opts.HasTimestamps, v)
	}
	return g
}

// SACKIs checks the SACK blocks (relative to the flow's ISS), in order;
// none means there must be no SACK option.
func (g *Got) SACKIs(blocks ...[2]uint32) *Got {
	var have [][2]uint32
	for i := 0; i < g.Opts.NumSACK; i++ {
		b := g.Opts.SACK[i]
		have = append(have, [2]uint32{b.Start - g.f.ISS, b.End - g.f.ISS})
	}
	if fmt.Sprint(have) != fmt.Sprint(blocks) && !(len(have) == 0 && len(blocks) == 0) {
		g.errorf("SACK blocks", "got %v, want %v", have, blocks)
	}
	return g
}

// NoMPTCP checks that the segment carries no MPTCP option.
func (g *Got) NoMPTCP() *Got {
	if len(g.MP) > 0 {
		g.errorf("MPTCP options", "got %v, want none", g.MP)
	}
	return g
}

// MPTCP returns the segment's MPTCP option of subtype st, recording a
// failure (and returning a zero option) if there is none.
func (g *Got) MPTCP(st option.Subtype) *option.Option {
	if o := g.FindMPTCP(st); o != nil {
		return o
	}
	g.errorf("MPTCP options", "no %v (have %v)", st, g.MP)
	return &option.Option{Subtype: st}
}

// FindMPTCP returns the segment's MPTCP option of subtype st, or nil.
func (g *Got) FindMPTCP(st option.Subtype) *option.Option {
	for i := range g.MP {
		if g.MP[i].Subtype == st {
			return &g.MP[i]
		}
	}
	return nil
}

// Within checks that the segment came between lo and hi after ref, by the
// testbench's clock: only for times the testbench sets (a write, its own
// segment). Intervals between two of the DUT's segments are measured with
// Interval and checked with After.
func (g *Got) Within(ref time.Time, lo, hi time.Duration) *Got {
	d := g.At.Sub(ref)
	if d < lo || d > hi {
		g.errorf("timing", "came %v after the reference, want %v to %v", d.Round(time.Millisecond), lo, hi)
	}
	return g
}

// After checks that the DUT sent the segment between lo and hi after it
// sent prev (see Interval).
// On an in-process DUT the bounds widen by the process's stalls (see
// slack).
func (g *Got) After(prev *Got, lo, hi time.Duration) *Got {
	d := Interval(prev, g)
	s := g.t.slack(prev, g)
	if d < lo-s || d > hi+s {
		msg := fmt.Sprintf("sent %v after the segment at %s, want %v to %v", d.Round(time.Millisecond), prev.describe(prev.f), lo, hi)
		if s > 0 {
			msg += fmt.Sprintf(" give or take the %v this process stalled", s.Round(time.Millisecond))
		}
		g.errorf("timing", "%s", msg)
	}
	return g
}

// Interval is the time between the DUT's sending a and b. When both carry
// timestamps it comes from the DUT's own clock, their TSvals (taken as
// milliseconds, the tick of Linux and of our stack, within RFC 7323 §5.4's
// 1 ms to 1 s): the testbench's reading times would add its own scheduling
// delays, which on a loaded machine can reach hundreds of milliseconds.
// Without timestamps it is the difference of the reading times.
func Interval(a, b *Got) time.Duration {
	if a.Opts.HasTimestamps && b.Opts.HasTimestamps {
		return time.Duration(int32(b.Opts.TSVal-a.Opts.TSVal)) * time.Millisecond
	}
	return b.At.Sub(a.At)
}

// describe formats the segment the way tcpdump and packetdrill do, with
// sequence numbers relative to f's ISNs when known.
func (g *Got) describe(f *Flow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v > %v %s ", g.Src, g.Dst, flagString(g.Flags))
	seq, ack := g.Seq, g.Ack
	if f != nil {
		fromTB := g.Src == f.Local
		if fromTB {
			seq -= f.ISS
			if f.HaveIRS {
				ack -= f.IRS
			}
		} else {
			if f.HaveIRS {
				seq -= f.IRS
			}
			ack -= f.ISS
		}
	}
	fmt.Fprintf(&b, "%d:%d(%d)", seq, seq+uint32(len(g.Data)), len(g.Data))
	if g.Flags.Has(ACK) {
		fmt.Fprintf(&b, " ack %d", ack)
	}
	fmt.Fprintf(&b, " win %d", g.Win)
	if len(g.RawOpts) > 0 {
		b.WriteString(" <")
		b.WriteString(optString(g.RawOpts))
		b.WriteString(">")
	}
	return b.String()
}

func flagString(fl header.TCPFlags) string {
	var s string
	for _, x := range []struct {
		f header.TCPFlags
		c string
	}{{SYN, "S"}, {FIN, "F"}, {RST, "R"}, {PSH, "P"}, {URG, "U"}, {ECE, "E"}, {CWR, "W"}} {
		if fl.Has(x.f) {
			s += x.c
		}
	}
	if fl.Has(ACK) {
		s += "."
	}
	if s == "" {
		s = "none"
	}
	return s
}

func optString(opts []byte) string {
	var parts []string
	for i := 0; i < len(opts); {
		k := opts[i]
		if k == header.TCPOptEOL {
			parts = append(parts, "eol")
			break
		}
		if k == header.TCPOptNOP {
			parts = append(parts, "nop")
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			parts = append(parts, fmt.Sprintf("malformed %x", opts[i:]))
			break
		}
		o := opts[i : i+int(opts[i+1])]
		d := o[2:]
		switch {
		case k == header.TCPOptMSS && len(d) == 2:
			parts = append(parts, fmt.Sprintf("mss %d", binary.BigEndian.Uint16(d)))
		case k == header.TCPOptWindowScale && len(d) == 1:
			parts = append(parts, fmt.Sprintf("wscale %d", d[0]))
		case k == header.TCPOptSACKPermitted:
			parts = append(parts, "sackOK")
		case k == header.TCPOptTimestamps && len(d) == 8:
			parts = append(parts, fmt.Sprintf("TS val %d ecr %d", binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])))
		case k == header.TCPOptSACK:
			s := "sack"
			for j := 0; j+8 <= len(d); j += 8 {
				s += fmt.Sprintf(" %d:%d", binary.BigEndian.Uint32(d[j:]), binary.BigEndian.Uint32(d[j+4:]))
			}
			parts = append(parts, s)
		case k == header.TCPOptMPTCP:
			mo, err := option.Parser{Version: option.AssumeV1}.Parse(o)
			if err != nil {
				parts = append(parts, fmt.Sprintf("mptcp %x (%v)", o, err))
			} else {
				parts = append(parts, mo.String())
			}
		default:
			parts = append(parts, fmt.Sprintf("opt%d %x", k, d))
		}
		i += len(o)
	}
	return strings.Join(parts, ",")
}
