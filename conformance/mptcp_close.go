package conformance

import (
	"errors"
	"syscall"
	"time"

	"github.com/mptcp-go/mptcp/option"
)

// MP_PRIO, MP_FASTCLOSE, MP_TCPRST and MP_FAIL scenarios (RFC 8684 §3.3.8,
// §3.5, §3.6, §3.7).

func init() {
	register(
		Scenario{
			Name:    "mp_prio/peer-marks-first-subflow-backup",
			Summary: "after the peer's MP_PRIO with B on the first subflow and a join without B, the DUT sends new data on the joined subflow, not on the backup one (RFC 8684 §3.3.8)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1), Prio(true)}})
				j, _ := m.JoinToDUT(1, f.Remote, 1, false)
				j.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				t.Write(c, Pattern(100, 1))
				j.Expect(Quick).SeqIs(1).DataLen(100).MappingIs(1, 1, 100)
				f.ExpectNone(200 * time.Millisecond)
			},
		},
		Scenario{
			Name:    "mp_prio/peer-swaps-priorities",
			Summary: "a join with B is not used while the first subflow is active; after MP_PRIO makes the first a backup and the join active, new data goes on the join (RFC 8684 §3.3.8)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				j, _ := m.JoinToDUT(1, f.Remote, 1, true)
				t.Write(c, Pattern(100, 2))
				f.Expect(Quick).SeqIs(1).DataLen(100).MappingIs(1, 1, 100)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 101, Opts: []Opt{DataAck(101), Prio(true)}})
				j.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(101), Prio(false)}})
				j.ExpectNone(100 * time.Millisecond)
				t.Write(c, Pattern(100, 3))
				j.Expect(Quick).SeqIs(1).DataLen(100).MappingIs(101, 1, 100)
			},
		},
		Scenario{
			Name:    "mp_prio/v0-form-ignored",
			Summary: "an MP_PRIO with an address id (the RFC 6824 layout) on a v1 connection is ignored: the active subflow keeps carrying new data (RFC 8684 §3.3.8 has no address id)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1), Prio(true)}})
				j, _ := m.JoinToDUT(1, f.Remote, 1, false)
				j.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1), MP(&option.MPPrio{Backup: true, HasAddrID: true, AddrID: 1})}})
				j.ExpectNone(100 * time.Millisecond)
				t.Write(c, Pattern(100, 4))
				j.Expect(Quick).SeqIs(1).DataLen(100).MappingIs(1, 1, 100)
			},
		},
		Scenario{
			Name:    "mp_prio/dut-sends",
			Summary: "marking the DUT's address as backup sends MP_PRIO with B on the subflow using it (RFC 8684 §3.3.8)",
			MPTCP:   true,
			Setup:   signalEndpoint,
			Run: func(t *T) {
				l := t.ListenAny(SockOpts{MPTCP: true})
				m, f, _, _ := t.MPAcceptOn(l, MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				dut1 := t.Topology().DUT[1]
				f.Expect(Quick).AddAddrIs(10, dut1, 0)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{AddAddrEcho(10, dut1, 0), DataAck(1)}})
				j, _ := m.JoinToDUT(1, netipPort(dut1, f.Remote.Port()), 1, false)
				t.must("set backup", t.PathManager().SetBackup(t.Context(), 1, true))
				g := j.Expect(Quick).Is(ACK).DataLen(0)
				if p := g.MPTCP(option.SubtypeMPPrio).MPPrio; !p.Backup || p.HasAddrID {
					g.errorf("MP_PRIO", "got %v, want B set, no address id", p)
				}
			},
		},
		Scenario{
			Name:    "fastclose/ack-wrong-key-ignored",
			Summary: "an MP_FASTCLOSE whose key is not the DUT's is ignored: data still flows (RFC 8684 §3.5)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{MP(&option.MPFastclose{ReceiverKey: m.RemoteKey ^ 42})}})
				f.ExpectNone(200 * time.Millisecond)
				d := Pattern(100, 5)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 1, 1, d)}})
				f.ExpectDataAck(101, Quick)
				t.Read(c, 100, Quick)
			},
		},
		Scenario{
			Name:    "fastclose/ack-closes-connection",
			Summary: "an MP_FASTCLOSE with the DUT's key on an ACK closes the connection at once: the DUT resets the subflow (RST with MP_TCPRST), the application sees the reset, later segments get a bare RST (RFC 8684 §3.5)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				d := Pattern(100, 6)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 1, 1, d)}})
				f.ExpectDataAck(101, Quick)
				f.Send(Seg{Flags: ACK, Seq: 101, Ack: 1, Opts: []Opt{m.FastClose()}})
				r := f.Expect(Quick).Is(RST | ACK).SeqIs(1).AckIs(101)
				if o := r.FindMPTCP(option.SubtypeMPTCPRst); o != nil {
					t.Variant("MP_TCPRST reason %d", o.MPTCPRst.Reason)
				} else {
					t.Variant("RST without MP_TCPRST")
				}
				_, err := t.ReadErr(c, Quick)
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("read after MP_FASTCLOSE: got %v, want ECONNRESET", err)
				}
				f.Send(Seg{Flags: ACK | PSH, Seq: 101, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 101, 101, d)}})
				f.Expect(Quick).Is(RST)
			},
		},
		Scenario{
			Name:    "fastclose/rst-closes-connection",
			Summary: "an MP_FASTCLOSE with the DUT's key on a RST closes the connection: the application sees the reset and later segments get a bare RST (RFC 8684 §3.5, the RST form)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				d := Pattern(100, 7)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 1, 1, d)}})
				f.ExpectDataAck(101, Quick)
				f.Send(Seg{Flags: RST | ACK, Seq: 101, Ack: 1, Opts: []Opt{m.FastClose()}})
				_, err := t.ReadErr(c, Quick)
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("read after MP_FASTCLOSE: got %v, want ECONNRESET", err)
				}
				f.Send(Seg{Flags: ACK | PSH, Seq: 101, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 101, 101, d)}})
				f.Expect(Quick).Is(RST)
			},
		},
		Scenario{
			Name:    "fastclose/rst-wrong-key-keeps-connection",
			Summary: "a RST with an MP_FASTCLOSE whose key is wrong only resets its subflow: the connection lives on and accepts a join that carries its data (RFC 8684 §3.5, §3.6)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				d := Pattern(100, 8)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 1, 1, d)}})
				f.ExpectDataAck(101, Quick)
				f.Send(Seg{Flags: RST | ACK, Seq: 101, Ack: 1, Opts: []Opt{MP(&option.MPFastclose{ReceiverKey: m.RemoteKey ^ 42})}})
				f.ExpectNone(100 * time.Millisecond)
				j, _ := m.JoinToDUT(1, f.Remote, 1, false)
				e := Pattern(50, 9)
				j.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: e, Opts: []Opt{Mapping(1, 101, 1, e)}})
				j.ExpectDataAck(151, Quick)
				if got := t.Read(c, 150, Quick); string(got) != string(d)+string(e) {
					t.Errorf("read: data differs from what was sent")
				}
			},
		},
		Scenario{
			Name:    "fastclose/ack-on-second-subflow-resets-all",
			Summary: "an MP_FASTCLOSE on an ACK of a joined subflow resets every subflow of the connection, each with RST (RFC 8684 §3.5)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, _, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				j, _ := m.JoinToDUT(1, f.Remote, 1, false)
				j.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.FastClose()}})
				f.Expect(Quick).Is(RST | ACK).SeqIs(1).AckIs(1)
				j.Expect(Quick).Is(RST | ACK).SeqIs(1).AckIs(1)
			},
		},
		Scenario{
			Name:    "fastclose/rst-on-second-subflow-resets-first",
			Summary: "an MP_FASTCLOSE on a RST of a joined subflow closes the connection: the DUT resets the other subflow (RFC 8684 §3.5)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, _, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				j, _ := m.JoinToDUT(1, f.Remote, 1, false)
				j.Send(Seg{Flags: RST | ACK, Seq: 1, Ack: 1, Opts: []Opt{m.FastClose()}})
				f.Expect(Quick).Is(RST | ACK).SeqIs(1).AckIs(1)
				j.ExpectNone(100 * time.Millisecond)
			},
		},
		Scenario{
			Name:    "fastclose/out-of-window-ignored",
			Summary: "an MP_FASTCLOSE on a segment with an old sequence number (outside the window) has no effect; the DUT answers it as any unacceptable segment, with an ACK (RFC 8684 §3.5, RFC 9293 §3.10.7.4)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				d := Pattern(1000, 10)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 1, 1, d)}})
				f.ExpectDataAck(1001, Quick)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.FastClose()}})
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1001)
				t.Read(c, 1000, Quick)
				t.Write(c, Pattern(10, 11))
				f.Expect(Quick).SeqIs(1).MappingIs(1, 1, 10)
			},
		},
		Scenario{
			Name:    "fastclose/dut-sends-on-abort",
			Summary: "an abortive close (SO_LINGER 0) of an MPTCP connection sends MP_FASTCLOSE with the peer's key, on a RST or on an ACK followed by RSTs (RFC 8684 §3.5)",
			Note:    "RFC 8684 §3.5 offers two forms: MP_FASTCLOSE on an ACK, then RST on every subflow once it is acknowledged or timed out, or on a RST per subflow at once. Linux uses the RST form.",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				// The DATA_ACK must reach the connection before the abort:
				// arriving after it, it is answered with a bare RST (the
				// connection is gone), which is right but not this
				// scenario's point. A DUT whose application runs beside its
				// packet input (ours) can otherwise see the two in either
				// order.
				f.ExpectNone(50 * time.Millisecond)
				t.Abort(c)
				g := f.Expect(Quick)
				fc := g.MPTCP(option.SubtypeMPFastclose).MPFastclose
				if fc.ReceiverKey != m.LocalKey {
					g.errorf("MP_FASTCLOSE", "key 0x%016x, want the testbench's 0x%016x", fc.ReceiverKey, m.LocalKey)
				}
				if g.Flags.Has(RST) {
					t.Variant("MP_FASTCLOSE on RST")
				} else {
					g.Is(ACK)
					t.Variant("MP_FASTCLOSE on ACK")
				}
			},
		},
		Scenario{
			Name:    "mp_reset/in-window-challenge-ack",
			Summary: "a RST (with MP_TCPRST) inside the window but not at RCV.NXT draws a challenge ACK carrying a DATA_ACK, and the subflow lives on (RFC 5961 §3.2 applied to subflows, RFC 8684 §3.6)",
			MPTCP:   true,
			Run: func(t *T) {
				_, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: RST | ACK, Seq: 1001, Ack: 1, Opts: []Opt{MPRst(option.RstMPTCPError, 0)}})
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataAckIs(1)
				t.Write(c, Pattern(10, 12))
				f.Expect(Quick).SeqIs(1).MappingIs(1, 1, 10)
			},
		},
		Scenario{
			Name:    "mp_reset/option-without-rst-ignored",
			Summary: "MP_TCPRST on a segment without the RST flag is ignored (RFC 8684 §3.6: it only qualifies a RST)",
			MPTCP:   true,
			Run: func(t *T) {
				_, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{MPRst(option.RstMPTCPError, 0)}})
				t.Write(c, Pattern(10, 13))
				f.Expect(Quick).SeqIs(1).MappingIs(1, 1, 10)
			},
		},
		Scenario{
			Name:    "mp_reset/single-subflow",
			Summary: "a RST with MP_TCPRST at RCV.NXT closes the only subflow; a later ACK on it gets a RST, as for any segment without a connection (RFC 8684 §3.6, RFC 9293 §3.10.7.1)",
			MPTCP:   true,
			Run: func(t *T) {
				_, f, c, _ := t.MPAccept(MPCFlagH)
				t.Write(c, Pattern(1000, 14))
				f.Expect(Quick).SeqIs(1).MappingIs(1, 1, 1000)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1001, Opts: []Opt{DataAck(1001)}})
				f.Send(Seg{Flags: RST | ACK, Seq: 1, Ack: 1001, Opts: []Opt{MPRst(option.RstMPTCPError, 0)}})
				f.ExpectNone(100 * time.Millisecond)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1001})
				f.Expect(Quick).Is(RST).SeqIs(1001)
			},
		},
		Scenario{
			Name:    "mp_reset/second-subflow",
			Summary: "a RST with MP_TCPRST on a joined subflow closes that subflow only: its segments then get a RST, and data mapped on the first subflow after the reset one's is still delivered (RFC 8684 §3.6)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				a := Pattern(100, 15)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: a, Opts: []Opt{Mapping(1, 1, 1, a)}})
				f.ExpectDataAck(101, Quick)
				j, _ := m.JoinToDUT(1, f.Remote, 1, false)
				b := Pattern(100, 16)
				j.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: b, Opts: []Opt{Mapping(1, 101, 1, b)}})
				j.ExpectDataAck(201, Quick)
				j.Send(Seg{Flags: RST | ACK, Seq: 101, Ack: 1, Opts: []Opt{MPRst(option.RstUnspecified, option.RstTransient)}})
				j.Send(Seg{Flags: ACK | PSH, Seq: 101, Ack: 1, Data: b, Opts: []Opt{Mapping(1, 201, 101, b)}})
				j.Expect(Quick).Is(RST)
				cc := Pattern(100, 17)
				f.Send(Seg{Flags: ACK | PSH, Seq: 101, Ack: 1, Data: cc, Opts: []Opt{Mapping(1, 201, 101, cc)}})
				f.ExpectDataAck(301, Quick)
				if got := t.Read(c, 300, Quick); string(got) != string(a)+string(b)+string(cc) {
					t.Errorf("read: data differs from what was sent")
				}
			},
		},
		Scenario{
			Name:    "mp_reset/plain-tcp-ignores-option",
			Summary: "on a plain TCP connection (a TCP socket refusing MP_CAPABLE) MP_TCPRST means nothing: without RST it is ignored, with RST at RCV.NXT it is an ordinary reset (RFC 8684 §3.6)",
			Run: func(t *T) {
				l := t.Listen(SockOpts{})
				acc := t.Accept(l)
				f := t.TB().NewFlow(0, l.Addr())
				f.Send(Seg{Flags: SYN, Opts: mpSYNOpts(MPCSyn(MPCFlagH))})
				f.Expect(Quick).Is(SYN | ACK).AckIs(1).NoMPTCP()
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1})
				c := acc.Result(Quick)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{MPRst(option.RstMPTCPError, 0)}})
				t.Write(c, Pattern(100, 18))
				f.Expect(Quick).SeqIs(1).DataLen(100).NoMPTCP()
				f.Send(Seg{Flags: RST | ACK, Seq: 1, Ack: 101, Opts: []Opt{MPRst(option.RstMPTCPError, 0)}})
				f.ExpectNone(100 * time.Millisecond)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 101})
				f.Expect(Quick).Is(RST).SeqIs(101)
			},
		},
		Scenario{
			Name:    "mp_fail/bad-checksum-single-subflow",
			Summary: "with checksums and one subflow, data whose DSS checksum fails is not delivered; the DUT reports MP_FAIL with the DSN of the failed mapping's start and falls back to an infinite mapping, after which the data flows as plain TCP (RFC 8684 §3.7)",
			Note:    "Linux sends MP_FAIL on an ACK of the data and, once the peer answers with MP_FAIL or after a timeout, uses the infinite mapping; this scenario checks what precedes: the MP_FAIL and that the corrupt data is not read.",
			MPTCP:   true,
			Setup:   Setup{MPTCPChecksum: true},
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				a := Pattern(100, 19)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: a, Opts: []Opt{Mapping(1, 1, 1, a)}})
				f.ExpectDataAck(101, Quick)
				t.Read(c, 100, Quick)
				b := Pattern(100, 20)
				f.Send(Seg{Flags: ACK | PSH, Seq: 101, Ack: 1, Data: b, Opts: []Opt{DSS(DSSArgs{HasAck: true, Ack: 1,
					Map: true, DSN: 101, SSN: 101, Len: 100, Data: b, BadChecksum: true})}})
				gs := f.ExpectUntil(Quick, func(g *Got) bool { return g.FindMPTCP(option.SubtypeMPFail) != nil })
				g := gs[len(gs)-1]
				if dsn := g.MPTCP(option.SubtypeMPFail).MPFail.DSN; dsn-m.LocalIDSN != 101 {
					g.errorf("MP_FAIL", "DSN %d, want 101 (the failed mapping's start)", int64(dsn-m.LocalIDSN))
				}
			},
		},
		Scenario{
			Name:    "mp_fail/bad-checksum-second-subflow",
			Summary: "with checksums and two subflows, data whose DSS checksum fails on one of them makes the DUT reset that subflow (RST with MP_TCPRST) and keep the connection on the other (RFC 8684 §3.7)",
			MPTCP:   true,
			Setup:   Setup{MPTCPChecksum: true},
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				j, _ := m.JoinToDUT(1, f.Remote, 1, false)
				b := Pattern(100, 21)
				j.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: b, Opts: []Opt{DSS(DSSArgs{HasAck: true, Ack: 1,
					Map: true, DSN: 1, SSN: 1, Len: 100, Data: b, BadChecksum: true})}})
				gs := j.ExpectUntil(Quick, func(g *Got) bool { return g.Flags.Has(RST) })
				r := gs[len(gs)-1]
				if o := r.FindMPTCP(option.SubtypeMPTCPRst); o != nil {
					t.Variant("MP_TCPRST reason %d", o.MPTCPRst.Reason)
				}
				d := Pattern(100, 22)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 1, 1, d)}})
				f.ExpectDataAck(101, Quick)
				if got := t.Read(c, 100, Quick); string(got) != string(d) {
					t.Errorf("read: data differs from what was sent")
				}
			},
		},
	)
}
