package conformance

import (
	"errors"
	"io"
	"time"
)

// rstAckNote explains the two forms of an abort's RST.
const rstAckNote = "RFC 9293 §3.10.5 sends <SEQ=SND.NXT><CTL=RST>; Linux adds the ACK flag and RCV.NXT (tcp_send_active_reset). The receiver checks a RST by its sequence number alone (RFC 5961 §3.2), so both forms work the same."

// expectReset checks an abort's RST: at SND.NXT seq, with or without an
// ACK of ack (see rstAckNote).
func expectReset(t *T, g *Got, seq, ack uint32) {
	if g.Flags.Has(ACK) {
		g.Is(RST | ACK).AckIs(ack)
		t.Variant("RST|ACK")
	} else {
		g.Is(RST)
		t.Variant("RST without ACK")
	}
	g.SeqIs(seq).DataLen(0)
}

// Scenarios of connection teardown: active and passive close, half close,
// TIME-WAIT, and resets on close (RFC 9293 §3.6, §3.10.4).

func init() {
	register(
		Scenario{
			Name:    "tcp/active-close-time-wait",
			Summary: "close sends FIN; after the peer's ACK and FIN the DUT ACKs and stays in TIME-WAIT, where a retransmitted FIN is ACKed again (RFC 9293 §3.6, §3.10.7.4)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				t.Close(c)
				f.Expect(Quick).Is(FIN | ACK).SeqIs(1).AckIs(1).DataLen(0)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 2})
				f.ExpectNone(100 * time.Millisecond)
				f.Send(Seg{Flags: FIN | ACK, Seq: 1, Ack: 2})
				f.Expect(Quick).Is(ACK).SeqIs(2).AckIs(2).DataLen(0)
				f.Send(Seg{Flags: FIN | ACK, Seq: 1, Ack: 2})
				f.Expect(Quick).Is(ACK).SeqIs(2).AckIs(2).DataLen(0)
			},
		},
		Scenario{
			Name:    "tcp/passive-close",
			Summary: "the peer's FIN is ACKed and read as end of file; the application's close then sends FIN, and once that is ACKed the connection is gone: a later segment draws a RST (RFC 9293 §3.6, §3.10.7.4)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				f.Send(Seg{Flags: FIN | ACK, Seq: 1, Ack: 1})
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(2).DataLen(0)
				if _, err := t.ReadErr(c, Quick); !errors.Is(err, io.EOF) {
					t.Errorf("read after FIN: got %v, want EOF", err)
				}
				t.Close(c)
				f.Expect(Quick).Is(FIN | ACK).SeqIs(1).AckIs(2)
				f.Send(Seg{Flags: ACK, Seq: 2, Ack: 2})
				f.ExpectNone(100 * time.Millisecond)
				f.Send(Seg{Flags: ACK | PSH, Seq: 2, Ack: 2, Data: Pattern(10, 1)})
				f.Expect(Quick).Is(RST).SeqIs(2)
			},
		},
		Scenario{
			Name:    "tcp/half-close",
			Summary: "after shutdown(SHUT_WR) the DUT's FIN is sent but data still flows the other way, is ACKed and read, until the peer's FIN ends it (RFC 9293 §3.6)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				t.CloseWrite(c)
				f.Expect(Quick).Is(FIN | ACK).SeqIs(1).AckIs(1)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 2})
				d := Pattern(500, 41)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 2, Data: d})
				f.Expect(Quick).Is(ACK).SeqIs(2).AckIs(501)
				if got := t.Read(c, 500, Quick); string(got) != string(d) {
					t.Errorf("read: data differs from what was sent")
				}
				f.Send(Seg{Flags: FIN | ACK, Seq: 501, Ack: 2})
				f.Expect(Quick).Is(ACK).SeqIs(2).AckIs(502)
				if _, err := t.ReadErr(c, Quick); !errors.Is(err, io.EOF) {
					t.Errorf("read after FIN: got %v, want EOF", err)
				}
			},
		},
		Scenario{
			Name:    "tcp/fin-with-data",
			Summary: "data and FIN in one segment: both are acknowledged (ACK = end of data + 1) and the application reads the data, then end of file (RFC 9293 §3.10.7.4)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				d := Pattern(300, 43)
				f.Send(Seg{Flags: FIN | ACK | PSH, Seq: 1, Ack: 1, Data: d})
				f.Expect(Quick).Is(ACK).AckIs(302)
				got, err := t.ReadErr(c, Quick)
				if string(got) != string(d) || !errors.Is(err, io.EOF) {
					t.Errorf("read: %d bytes then %v, want the 300 bytes sent then EOF", len(got), err)
				}
			},
		},
		Scenario{
			Name:    "tcp/close-with-unread-data-rst",
			Summary: "closing a connection with received data unread sends RST at SND.NXT instead of FIN (RFC 9293 §3.10.4, RFC 2525 §2.17)",
			Note:    rstAckNote,
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: Pattern(100, 47)})
				f.Expect(Quick).Is(ACK).AckIs(101)
				t.Close(c)
				expectReset(t, f.Expect(Quick), 1, 101)
			},
		},
		Scenario{
			Name:    "tcp/abort-rst",
			Summary: "an abortive close (SO_LINGER 0) sends RST at SND.NXT and no FIN (RFC 9293 §3.10.5)",
			Note:    rstAckNote,
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				t.Abort(c)
				expectReset(t, f.Expect(Quick), 1, 1)
				f.ExpectNone(200 * time.Millisecond)
			},
		},
		Scenario{
			Name:    "tcp/data-after-close-rst",
			Summary: "data arriving after the application closed both directions is answered with RST (RFC 9293 §3.10.7.4 permits; RFC 2525 §2.17)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				t.Close(c)
				f.Expect(Quick).Is(FIN | ACK).SeqIs(1).AckIs(1)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 2, Data: Pattern(100, 53)})
				f.Expect(Quick).Is(RST).SeqIs(2)
			},
		},
		Scenario{
			Name:    "tcp/time-wait-new-syn",
			Summary: "in TIME-WAIT a new SYN for the same 4-tuple with a higher sequence number (and newer timestamp) may start a new connection (RFC 9293 §3.10.7.4 note, RFC 6191); otherwise it is answered by an ACK",
			Note:    "RFC 9293 and RFC 6191 allow a TIME-WAIT connection to accept a new SYN whose sequence number (or timestamp) is above the old connection's; Linux does (tcp_timewait_state_process). A stack may also keep TIME-WAIT and ACK it (RFC 5961 §4).",
			Run: func(t *T) {
				l := t.Listen(SockOpts{})
				acc := t.Accept(l)
				f := t.TB().NewFlow(0, l.Addr())
				f.Send(Seg{Flags: SYN, Opts: StdSYN()})
				f.Expect(Quick).Is(SYN | ACK).AckIs(1)
				f.AutoTS = true
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1})
				c := acc.Result(Quick)
				t.Close(c)
				f.Expect(Quick).Is(FIN | ACK).SeqIs(1).AckIs(1)
				f.Send(Seg{Flags: FIN | ACK, Seq: 1, Ack: 2})
				f.Expect(Quick).Is(ACK).SeqIs(2).AckIs(2)
				// New incarnation: ISN well above the old RCV.NXT, newer TSval.
				acc2 := t.Accept(l)
				nf := *f
				nf.ISS = f.ISS + 100000
				nf.HaveIRS = false
				nf.AutoTS = false
				nf.Send(Seg{Flags: SYN, Opts: StdSYN()})
				g := nf.Expect(Quick)
				switch {
				case g.Flags == SYN|ACK:
					g.AckIs(1)
					t.Variant("new SYN accepted in TIME-WAIT")
					nf.AutoTS = true
					nf.Send(Seg{Flags: ACK, Seq: 1, Ack: 1})
					acc2.Result(Quick)
				case g.Flags == ACK:
					t.Variant("TIME-WAIT kept, SYN ACKed")
				default:
					g.errorf("flags", "got %s, want SYN-ACK or ACK", flagString(g.Flags))
				}
			},
		},
	)
}
