package conformance

import (
	"errors"
	"syscall"
	"time"
)

// Scenarios of the three-way handshake: options, MSS, retransmission of
// SYN and SYN-ACK, refused and reset attempts, simultaneous open.

func init() {
	register(
		Scenario{
			Name:    "tcp/handshake-passive-options",
			Summary: "SYN with MSS, SACK-permitted, timestamps and window scale: the SYN-ACK acknowledges ISN+1, announces its MSS for the link and answers each option (RFC 9293 §3.7.1, RFC 2018 §2, RFC 7323 §2.2, §3.2)",
			Run: func(t *T) {
				l := t.Listen(SockOpts{})
				acc := t.Accept(l)
				f := t.TB().NewFlow(0, l.Addr())
				f.Send(Seg{Flags: SYN, Opts: StdSYN()})
				f.Expect(Quick).Is(SYN | ACK).AckIs(1).DataLen(0).MSSIs(mssFor(t, 1500)).SACKOKIs(true).HasWS().TSIs(true).WinNonZero()
				f.AutoTS = true
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1})
				acc.Result(Quick)
				f.ExpectNone(200 * time.Millisecond)
			},
		},
		Scenario{
			Name:    "tcp/handshake-passive-no-options",
			Summary: "SYN without options: the SYN-ACK carries only MSS (no window scale, SACK-permitted or timestamps, RFC 7323 §2.2, §3.2, RFC 2018 §2), and data leaves in segments of the default send MSS, 536 bytes for IPv4 and 1220 for IPv6 (RFC 9293 §3.7.1, MUST-15)",
			Run: func(t *T) {
				l := t.Listen(SockOpts{})
				acc := t.Accept(l)
				f := t.TB().NewFlow(0, l.Addr())
				f.Send(Seg{Flags: SYN})
				f.Expect(Quick).Is(SYN | ACK).AckIs(1).MSSIs(mssFor(t, 1500)).WSIs(-1).SACKOKIs(false).TSIs(false)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Win: 65535})
				c := acc.Result(Quick)
				t.Write(c, Pattern(3000, 1))
				def := 536
				if t.Family() == IPv6 {
					def = 1220
				}
				segs := expectData(t, f, 3000, Quick)
				for i, g := range segs {
					g.TSIs(false).SACKIs()
					if len(g.Data) > def || i < len(segs)-1 && len(g.Data) != def {
						g.errorf("length", "%d bytes, want segments of the default send MSS %d", len(g.Data), def)
					}
				}
			},
		},
		Scenario{
			Name:    "tcp/handshake-active-options",
			Summary: "connect: the SYN carries MSS, SACK-permitted, timestamps (TSecr 0) and window scale and no data; the third ACK acknowledges the SYN-ACK and echoes its TSval (RFC 9293 §3.5, RFC 7323 §3.2, RFC 2018 §2)",
			Run: func(t *T) {
				d := t.Dial(0, t.TB().port(), SockOpts{})
				f, syn := t.TB().ExpectConnect(Quick)
				syn.Is(SYN).DataLen(0).MSSIs(mssFor(t, 1500)).SACKOKIs(true).HasWS().TSIs(true).TSEcrIs(0).WinNonZero()
				f.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: StdSYN()})
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataLen(0).TSIs(true)
				d.Result(Quick)
			},
		},
		Scenario{
			Name:    "tcp/handshake-active-no-options",
			Summary: "connect to a peer whose SYN-ACK has no options: no timestamps or SACK afterwards (RFC 7323 §3.2, RFC 2018 §2), data in segments of the default send MSS, 536 bytes for IPv4 and 1220 for IPv6 (RFC 9293 §3.7.1, MUST-15)",
			Run: func(t *T) {
				d := t.Dial(0, t.TB().port(), SockOpts{})
				f, _ := t.TB().ExpectConnect(Quick)
				f.Send(Seg{Flags: SYN | ACK, Ack: 1})
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).TSIs(false)
				c := d.Result(Quick)
				t.Write(c, Pattern(2000, 3))
				def := 536
				if t.Family() == IPv6 {
					def = 1220
				}
				segs := expectData(t, f, 2000, Quick)
				for i, g := range segs {
					g.TSIs(false)
					if len(g.Data) > def || i < len(segs)-1 && len(g.Data) != def {
						g.errorf("length", "%d bytes, want segments of the default send MSS %d", len(g.Data), def)
					}
				}
			},
		},
		Scenario{
			Name:    "tcp/mss-clamp",
			Summary: "the peer's MSS option bounds every data segment (RFC 9293 §3.7.1): with MSS 536 and no timestamps, 2000 bytes leave as 536+536+536+392",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{}, MSS(536), SACKOK, NOP, WS(7))
				t.Write(c, Pattern(2000, 5))
				segs := expectData(t, f, 2000, Quick)
				for i, g := range segs {
					if len(g.Data) > 536 {
						g.errorf("length", "%d bytes, more than the peer's MSS 536", len(g.Data))
					}
					if i < len(segs)-1 && len(g.Data) != 536 {
						g.errorf("length", "%d bytes, want full 536-byte segments before the last", len(g.Data))
					}
				}
			},
		},
		Scenario{
			Name:    "tcp/syn-retransmit-backoff",
			Summary: "an unanswered SYN is retransmitted after the initial RTO of 1 s, then after twice that (RFC 6298 §2.1, §5.5), same sequence number and options",
			Note:    "Linux 6.5+ retransmits the first SYNs at a constant 1 s by default (net.ipv4.tcp_syn_linear_timeouts=4, for quicker connection setup), against RFC 6298 §5.5's backoff; the kernel DUT runs this scenario with the knob at 0, which restores the RFC's doubling.",
			Setup:   Setup{KernelSysctls: []string{"net.ipv4.tcp_syn_linear_timeouts=0"}},
			Timeout: 30 * time.Second,
			Run: func(t *T) {
				t.Dial(0, t.TB().port(), SockOpts{})
				f, syn := t.TB().ExpectConnect(Quick)
				r1 := f.Expect(3 * time.Second).Is(SYN).SeqIs(0).MSSIs(syn.Opts.MSS).SACKOKIs(true)
				r1.After(syn, 800*time.Millisecond, 2*time.Second)
				r2 := f.Expect(5 * time.Second).Is(SYN).SeqIs(0)
				t.Backoff("second SYN retransmission", syn, r1, r2, 1.6, 2.6)
			},
		},
		Scenario{
			Name:    "tcp/synack-retransmit-backoff",
			Summary: "a SYN-ACK whose ACK does not come is retransmitted after the initial RTO of 1 s, then after twice that (RFC 6298 §2.1, §5.5), same sequence number",
			Timeout: 30 * time.Second,
			Run: func(t *T) {
				l := t.Listen(SockOpts{})
				f := t.TB().NewFlow(0, l.Addr())
				f.Send(Seg{Flags: SYN, Opts: StdSYN()})
				sa := f.Expect(Quick).Is(SYN | ACK).AckIs(1)
				r1 := f.Expect(3 * time.Second).Is(SYN | ACK).SeqIs(0).AckIs(1)
				r1.After(sa, 800*time.Millisecond, 2*time.Second)
				r2 := f.Expect(5 * time.Second).Is(SYN | ACK).SeqIs(0).AckIs(1)
				t.Backoff("second SYN-ACK retransmission", sa, r1, r2, 1.6, 2.6)
				// The handshake still completes.
				acc := t.Accept(l)
				f.AutoTS = true
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1})
				acc.Result(Quick)
			},
		},
		Scenario{
			Name:    "tcp/connect-refused",
			Summary: "a RST|ACK acknowledging the SYN ends the attempt: connect fails with ECONNREFUSED and nothing more is sent (RFC 9293 §3.10.7.3)",
			Run: func(t *T) {
				d := t.Dial(0, t.TB().port(), SockOpts{})
				f, _ := t.TB().ExpectConnect(Quick)
				f.Send(Seg{Flags: RST | ACK, Ack: 1})
				_, err := d.Wait(Quick)
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("connect: got %v, want ECONNREFUSED", err)
				}
				f.ExpectNone(300 * time.Millisecond)
			},
		},
		Scenario{
			Name:    "tcp/syn-sent-rst-bad-ack",
			Summary: "in SYN-SENT a RST whose ACK does not acknowledge the SYN is dropped (RFC 9293 §3.10.7.3, RFC 5961 §3): the attempt goes on and completes with a good SYN-ACK",
			Note:    "Linux also retransmits its SYN at once (a RST with a bad ACK may mean the peer still holds an old connection of this 4-tuple and ignored the SYN); an RFC sender waits for its timer. Both keep the attempt going.",
			Run: func(t *T) {
				d := t.Dial(0, t.TB().port(), SockOpts{})
				f, _ := t.TB().ExpectConnect(Quick)
				f.Send(Seg{Flags: RST | ACK, Ack: 100})
				for g := f.Next(200 * time.Millisecond); g != nil; g = f.Next(200 * time.Millisecond) {
					g.Is(SYN).SeqIs(0)
					t.Variant("retransmits the SYN at once")
				}
				if d.Returned() {
					_, err := d.Wait(0)
					t.Fatalf("connect returned after a RST with a bad ACK: %v", err)
				}
				f.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: StdSYN()})
				f.AutoTS = true
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1)
				d.Result(Quick)
			},
		},
		Scenario{
			Name:    "tcp/syn-sent-bad-ack",
			Summary: "in SYN-SENT a SYN-ACK acknowledging something never sent is answered by <SEQ=SEG.ACK><CTL=RST> and the attempt goes on (RFC 9293 §3.10.7.3); a good SYN-ACK then completes it",
			Note:    "Linux also rearms its SYN timer to its minimum (tcp_rcv_synsent_state_process: the peer may have ignored an earlier RST) and may send its SYN again a few milliseconds later, before the good SYN-ACK reaches it; that SYN is taken as part of the attempt.",
			Run: func(t *T) {
				d := t.Dial(0, t.TB().port(), SockOpts{})
				f, _ := t.TB().ExpectConnect(Quick)
				f.Send(Seg{Flags: SYN | ACK, Ack: 1000, Opts: StdSYN()})
				f.Expect(Quick).Is(RST).SeqIs(1000).DataLen(0)
				if d.Returned() {
					_, err := d.Wait(0)
					t.Fatalf("connect returned after a SYN-ACK with a bad ACK: %v", err)
				}
				f.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: StdSYN()})
				f.AutoTS = true
				got := f.ExpectUntil(Quick, func(g *Got) bool { return !g.Flags.Has(SYN) })
				for _, g := range got[:len(got)-1] {
					g.Is(SYN).SeqIs(0) // sent again before our SYN-ACK arrived
				}
				got[len(got)-1].Is(ACK).SeqIs(1).AckIs(1)
				d.Result(Quick)
			},
		},
		Scenario{
			Name:    "tcp/simultaneous-open",
			Summary: "a SYN (without ACK) answering our SYN: the DUT goes to SYN-RECEIVED and sends a SYN-ACK with its original ISN acknowledging the peer's SYN; the peer's SYN-ACK completes the open and data flows (RFC 9293 §3.5 figure 8)",
			Note:    "In RFC 9293's figure 8 the crossing SYN-ACKs complete the open and nothing more is sent; Linux also ACKs the peer's SYN-ACK, which is harmless (a duplicate ACK).",
			Run: func(t *T) {
				d := t.Dial(0, t.TB().port(), SockOpts{})
				f, syn := t.TB().ExpectConnect(Quick)
				f.Send(Seg{Flags: SYN, Opts: StdSYN()})
				f.Expect(Quick).Is(SYN | ACK).SeqIs(0).AckIs(1).MSSIs(syn.Opts.MSS).TSIs(true)
				f.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: StdSYN()})
				f.AutoTS = true
				if g := f.Next(300 * time.Millisecond); g != nil {
					g.Is(ACK).SeqIs(1).AckIs(1).DataLen(0)
					t.Variant("ACKs the SYN-ACK")
				}
				c := d.Result(Quick)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: Pattern(100, 7)})
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(101)
				if got := t.Read(c, 100, Quick); string(got) != string(Pattern(100, 7)) {
					t.Errorf("read: data differs")
				}
			},
		},
	)
}

// mssFor is the MSS a DUT on a link of the given MTU announces.
func mssFor(t *T, mtu int) uint16 {
	if t.Family() == IPv6 {
		return uint16(mtu - 60)
	}
	return uint16(mtu - 40)
}

// expectData takes the DUT's segments on f until n bytes of data came
// (pure ACKs and window updates between them are skipped, and so are
// retransmissions: the testbench does not acknowledge the data, and on a
// loaded machine a retransmission timer may fire meanwhile) and returns the
// data segments; their sequence numbers must follow one another from 1.
func expectData(t *T, f *Flow, n int, within time.Duration) []*Got {
	var out []*Got
	next := uint32(1)
	total := 0
	for total < n {
		g := f.Expect(within)
		if len(g.Data) == 0 {
			continue
		}
		if int32(g.RelSeq()+uint32(len(g.Data))-next) <= 0 {
			t.Logf("retransmission of %d:%d skipped", g.RelSeq(), g.RelSeq()+uint32(len(g.Data)))
			continue
		}
		if g.RelSeq() != next {
			g.errorf("seq", "got %d, want %d (the next byte)", g.RelSeq(), next)
		}
		next = g.RelSeq() + uint32(len(g.Data))
		total += len(g.Data)
		out = append(out, g)
	}
	return out
}
