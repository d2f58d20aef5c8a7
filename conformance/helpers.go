package conformance

import (
	"fmt"
	"net/netip"
	"time"
)

// StdSYN is the option list of the testbench's SYNs and SYN-ACKs: what
// Linux sends (MSS 1460, SACK permitted, timestamps, window scale 7).
func StdSYN() []Opt { return []Opt{MSS(1460), SACKOK, TS, NOP, WS(7)} }

// AcceptFlow has the DUT listen (o) and the testbench open a connection to
// it with synOpts (StdSYN if none): SYN, the DUT's SYN-ACK (checked for the
// flags and the acknowledgment only), the third ACK, and the accept. It
// returns the flow, the accepted connection and the SYN-ACK. With
// timestamps on both sides the flow's AutoTS is set.
func (t *T) AcceptFlow(o SockOpts, synOpts ...Opt) (*Flow, Conn, *Got) {
	return t.AcceptFlowRTT(0, o, synOpts...)
}

// AcceptFlowRTT is AcceptFlow with the third ACK sent rtt after the
// SYN-ACK came: the DUT's first RTT sample, and so its RTO (RFC 6298
// §2.2: SRTT + 4 RTTVAR = 3 rtt), are the scenario's choice.
func (t *T) AcceptFlowRTT(rtt time.Duration, o SockOpts, synOpts ...Opt) (*Flow, Conn, *Got) {
	l := t.Listen(o)
	acc := t.Accept(l)
	f := t.tb.NewFlow(0, l.Addr())
	if synOpts == nil {
		synOpts = StdSYN()
	}
	f.Send(Seg{Flags: SYN, Opts: synOpts})
	sa := f.Expect(Quick).Is(SYN | ACK).AckIs(1)
	f.AutoTS = f.TSLast != 0 && sa.Opts.HasTimestamps
	t.PauseUntil(sa.At.Add(rtt))
	f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1})
	c := acc.Result(Quick)
	return f, c, sa
}

// ConnectFlow has the DUT connect (o) to the testbench, which answers the
// SYN with a SYN-ACK carrying synackOpts (StdSYN if none) and checks the
// DUT's third ACK. It returns the flow, the connection and the DUT's SYN.
func (t *T) ConnectFlow(o SockOpts, synackOpts ...Opt) (*Flow, Conn, *Got) {
	d := t.Dial(0, t.tb.port(), o)
	f, syn := t.tb.ExpectConnect(Quick)
	if synackOpts == nil {
		synackOpts = StdSYN()
	}
	f.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: synackOpts})
	f.AutoTS = f.TSLast != 0 && syn.Opts.HasTimestamps
	f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataLen(0)
	c := d.Result(Quick)
	return f, c, syn
}

// Backoff checks three of the DUT's segments a, b, c: the interval b-c is
// lo to hi times the interval a-b (intervals by Interval). On an
// in-process DUT the bounds widen by the process's stalls (see slack).
func (t *T) Backoff(what string, a, b, c *Got, lo, hi float64) {
	ref, d := Interval(a, b), Interval(b, c)
	s := t.slack(a, c)
	min := time.Duration(lo*float64(ref-s)) - s
	max := time.Duration(hi*float64(ref+s)) + s
	if d < min || d > max {
		msg := fmt.Sprintf("%s: %v after an interval of %v (%.2f times), want %.2f to %.2f times",
			what, d.Round(time.Millisecond), ref.Round(time.Millisecond), float64(d)/float64(ref), lo, hi)
		if s > 0 {
			msg += fmt.Sprintf(" give or take the %v this process stalled", s.Round(time.Millisecond))
		}
		t.Errorf("%s", msg)
	}
}

// PauseUntil holds the script until the given time: a step of the
// scenario's timeline (packetdrill's "+0.2"), such as a peer that answers
// late to give the DUT a measurable RTT; never a way to wait for the DUT,
// which the Expect calls do.
func (t *T) PauseUntil(when time.Time) {
	select {
	case <-time.After(time.Until(when)):
	case <-t.ctx.Done():
		t.checkCtx()
	}
}

func netipPort(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
