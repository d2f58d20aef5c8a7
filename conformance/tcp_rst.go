package conformance

import (
	"errors"
	"syscall"
	"time"
)

// Scenarios of RST and SYN acceptance on established connections (RFC
// 5961 challenge ACKs) and of resets for segments without a connection
// (RFC 9293 §3.10.7.1).

func init() {
	register(
		Scenario{
			Name:    "tcp/rst-exact-seq",
			Summary: "a RST whose sequence number is exactly RCV.NXT resets the connection: the application gets ECONNRESET and nothing is sent in answer (RFC 5961 §3.2, RFC 9293 §3.10.7.4)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				f.Send(Seg{Flags: RST, Seq: 1, NoTS: true})
				_, err := t.ReadErr(c, Quick)
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("read after RST: got %v, want ECONNRESET", err)
				}
				f.ExpectNone(200 * time.Millisecond)
			},
		},
		Scenario{
			Name:    "tcp/rst-in-window-challenge-ack",
			Summary: "a RST inside the window but not at RCV.NXT draws a challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT> and leaves the connection up (RFC 5961 §3.2)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				f.Send(Seg{Flags: RST, Seq: 101, NoTS: true})
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataLen(0)
				checkAlive(t, f, c, 1, 1)
			},
		},
		Scenario{
			Name:    "tcp/rst-out-of-window",
			Summary: "a RST outside the receive window is dropped without an answer and leaves the connection up (RFC 5961 §3.2, RFC 9293 §3.10.7.4)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				f.Send(Seg{Flags: RST, Seq: 1 << 30, NoTS: true})
				f.ExpectNone(200 * time.Millisecond)
				checkAlive(t, f, c, 1, 1)
			},
		},
		Scenario{
			Name:    "tcp/syn-in-window-challenge-ack",
			Summary: "a SYN on an established connection with a sequence number inside the window draws a challenge ACK and leaves the connection up (RFC 5961 §4.2)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				f.Send(Seg{Flags: SYN, Seq: 1001, Opts: StdSYN()})
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataLen(0)
				checkAlive(t, f, c, 1, 1)
			},
		},
		Scenario{
			Name:    "tcp/syn-out-of-window-challenge-ack",
			Summary: "a SYN on an established connection with a sequence number outside the window draws a challenge ACK too, whatever its sequence number, and leaves the connection up (RFC 5961 §4.2)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				f.Send(Seg{Flags: SYN, Seq: 1 << 30, Opts: StdSYN()})
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataLen(0)
				checkAlive(t, f, c, 1, 1)
			},
		},
		Scenario{
			Name:    "tcp/ack-of-unsent-data",
			Summary: "a segment acknowledging data never sent (SEG.ACK > SND.NXT) is dropped, its data with it, and answered with an ACK (RFC 9293 §3.10.7.4, RFC 5961 §5.2)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1001, Data: Pattern(100, 31)})
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataLen(0)
				checkAlive(t, f, c, 1, 1)
			},
		},
		Scenario{
			Name:    "tcp/closed-port-syn",
			Summary: "a SYN to a port nobody listens on is answered by <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK> (RFC 9293 §3.10.7.1)",
			Run: func(t *T) {
				f := t.TB().NewFlow(0, netipPort(t.Topology().DUT[0], 9))
				f.Send(Seg{Flags: SYN, Opts: StdSYN()})
				r := f.Expect(Quick).Is(RST | ACK).DataLen(0).AckIs(1)
				if r.Seq != 0 {
					r.errorf("seq", "got %d, want 0", r.Seq)
				}
			},
		},
		Scenario{
			Name:    "tcp/closed-port-ack",
			Summary: "an ACK to a port without a connection is answered by <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.1)",
			Run: func(t *T) {
				f := t.TB().NewFlow(0, netipPort(t.Topology().DUT[0], 9))
				f.IRS, f.HaveIRS = 0x12345678, true
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1000})
				r := f.Expect(Quick).Is(RST).DataLen(0)
				if r.Seq != 0x12345678+1000 {
					r.errorf("seq", "got %#x, want SEG.ACK %#x", r.Seq, 0x12345678+1000)
				}
			},
		},
	)
}

// checkAlive checks that the connection still carries data both ways:
// 100 bytes from the testbench at seq (relative), acknowledged and read,
// and 100 bytes from the DUT at its seq dseq.
func checkAlive(t *T, f *Flow, c Conn, seq, dseq uint32) {
	d := Pattern(100, 37)
	f.Send(Seg{Flags: ACK | PSH, Seq: seq, Ack: dseq, Data: d})
	f.Expect(Quick).Is(ACK).AckIs(seq + 100)
	if got := t.Read(c, 100, Quick); string(got) != string(d) {
		t.Errorf("read: data differs from what was sent")
	}
	t.Write(c, d)
	f.Expect(Quick).Is(ACK).SeqIs(dseq).AckIs(seq + 100).Payload(d)
}
