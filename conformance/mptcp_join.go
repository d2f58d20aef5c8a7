package conformance

import (
	"time"

	"github.com/mptcp-go/mptcp/option"
)

// MP_JOIN scenarios (RFC 8684 §3.2): joins in both roles with their HMACs,
// bad tokens and HMACs, third ACK retransmission, data on the new subflow,
// the subflow limit.

func init() {
	register(
		Scenario{
			Name:    "mp_join/passive",
			Summary: "a join to the DUT: the SYN-ACK carries MP_JOIN with the DUT's nonce, address id and the truncated HMAC of its key, ours and both nonces; the third ACK's full HMAC is acknowledged by the DUT's ACK, which makes the subflow usable (RFC 8684 §3.2)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, _, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				j, sa := m.JoinSYN(1, f.Remote, 1, false)
				sa.MSSIs(mssFor(t, 1500)).SACKOKIs(true).HasWS()
				j.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.JoinACK()}})
				j.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataLen(0).DataAckIs(1)
			},
		},
		Scenario{
			Name:    "mp_join/passive-data-on-join",
			Summary: "data mapped on a joined subflow (subflow sequence 1, DSN after the data of the first) is acknowledged on it at both levels and read in data-sequence order with the first subflow's data (RFC 8684 §3.2, §3.3)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				a := Pattern(100, 1)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: a, Opts: []Opt{Mapping(1, 1, 1, a)}})
				f.ExpectDataAck(101, Quick)
				j, _ := m.JoinToDUT(1, f.Remote, 1, false)
				b := Pattern(200, 2)
				j.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: b, Opts: []Opt{Mapping(1, 101, 1, b)}})
				j.ExpectDataAck(301, Quick).AckIs(201)
				if got := t.Read(c, 300, Quick); string(got) != string(a)+string(b) {
					t.Errorf("read: data differs from what was sent")
				}
			},
		},
		Scenario{
			Name:    "mp_join/passive-bad-token",
			Summary: "a join SYN with a token no connection has is refused with RST (RFC 8684 §3.2), carrying MP_TCPRST with a reason",
			Note:    "RFC 8684 §3.2 asks for a RST; Linux adds MP_TCPRST reason 1 (MPTCP-specific error), which §3.6 allows.",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, _, _ := t.MPAccept(MPCFlagH)
				m.RemoteToken++
				j := t.TB().NewFlow(1, f.Remote)
				m.attach(j, MPSubflow{LocalNonce: 7, LocalID: 1})
				j.Send(Seg{Flags: SYN, Opts: mpSYNOpts(MP(&option.MPJoin{Stage: option.JoinSYN, AddrID: 1, Token: m.RemoteToken, Nonce: 7}))})
				r := j.Expect(Quick).Is(RST | ACK).AckIs(1)
				if o := r.FindMPTCP(option.SubtypeMPTCPRst); o != nil {
					t.Variant("MP_TCPRST reason %d", o.MPTCPRst.Reason)
				}
			},
		},
		Scenario{
			Name:    "mp_join/passive-bad-hmac",
			Summary: "a join whose third ACK carries a wrong HMAC is closed with RST and never used (RFC 8684 §3.2: the subflow MUST be closed if the HMAC does not verify)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				j, _ := m.JoinSYN(1, f.Remote, 1, false)
				j.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{MP(&option.MPJoin{Stage: option.JoinACK, HMAC: [20]byte{1, 2, 3}})}})
				r := j.Expect(Quick).Is(RST)
				if o := r.FindMPTCP(option.SubtypeMPTCPRst); o != nil {
					t.Variant("MP_TCPRST reason %d", o.MPTCPRst.Reason)
				}
				// The connection goes on over the first subflow.
				t.Write(c, Pattern(100, 3))
				f.Expect(Quick).SeqIs(1).MappingIs(1, 1, 100)
			},
		},
		Scenario{
			Name:    "mp_join/active",
			Summary: "connect, then an ADD_ADDR of a second testbench address: the DUT echoes it and joins it with MP_JOIN (our token, its nonce); its third ACK's HMAC verifies; data mapped on the new subflow is acknowledged (RFC 8684 §3.2, §3.4.1)",
			MPTCP:   true,
			Setup:   Setup{Limits: &Limits{Subflows: 2, AddAddrAccepted: 2}},
			Run: func(t *T) {
				m, f, c, _ := t.MPConnect(MPCFlagH)
				tb1 := t.Topology().TB[1]
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.AddAddr(1, tb1, 0)}})
				j, syn := m.ExpectJoin(Quick)
				if j.Local.Addr() != tb1 || j.Local.Port() != f.Local.Port() {
					syn.errorf("join", "to %v, want %v port %d (the announced address, the connection's port)", j.Local, tb1, f.Local.Port())
				}
				echo := f.Expect(Quick).Is(ACK)
				echo.AddAddrEchoIs(1, tb1, 0)
				j.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: append(StdSYN(), m.JoinSYNACK(1, false))})
				j.AutoTS = true
				j.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataLen(0).JoinACKIs()
				j.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				d := Pattern(100, 4)
				j.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 1, 1, d)}})
				j.ExpectDataAck(101, Quick).AckIs(101)
				if got := t.Read(c, 100, Quick); string(got) != string(d) {
					t.Errorf("read: data differs from what was sent")
				}
			},
		},
		Scenario{
			Name:    "mp_join/active-bad-synack-hmac",
			Summary: "a join the DUT opened whose SYN-ACK HMAC does not verify is reset by the DUT (RFC 8684 §3.2: the subflow MUST be closed with RST)",
			MPTCP:   true,
			Setup:   Setup{Limits: &Limits{Subflows: 2, AddAddrAccepted: 2}},
			Run: func(t *T) {
				m, f, _, _ := t.MPConnect(MPCFlagH)
				tb1 := t.Topology().TB[1]
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.AddAddr(1, tb1, 0)}})
				j, _ := m.ExpectJoin(Quick)
				j.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: append(StdSYN(), MP(&option.MPJoin{Stage: option.JoinSYNACK,
					AddrID: 1, Nonce: 9, TruncHMAC: 0x0102030405060708}))})
				r := j.Expect(Quick)
				expectReset(t, r, 1, 1)
				if o := r.FindMPTCP(option.SubtypeMPTCPRst); o != nil {
					t.Variant("MP_TCPRST reason %d", o.MPTCPRst.Reason)
				}
			},
		},
		Scenario{
			Name:    "mp_join/third-ack-retransmit",
			Summary: "the third ACK of a join the DUT opened is retransmitted, with its MP_JOIN HMAC, until the peer acknowledges it (RFC 8684 §3.2: it must be delivered reliably); data then flows on the subflow",
			MPTCP:   true,
			Setup:   Setup{Limits: &Limits{Subflows: 2, AddAddrAccepted: 2}},
			Timeout: 30 * time.Second,
			Run: func(t *T) {
				m, f, _, _ := t.MPConnect(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.AddAddr(1, t.Topology().TB[1], 0)}})
				j, syn := m.ExpectJoin(Quick)
				// A 200 ms RTT on the join gives its timer a measurable
				// base (Linux arms it from the subflow's RTT).
				t.PauseUntil(syn.At.Add(200 * time.Millisecond))
				j.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: append(StdSYN(), m.JoinSYNACK(1, false))})
				j.AutoTS = true
				a := j.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).JoinACKIs()
				r1 := j.Expect(3 * time.Second).Is(ACK).SeqIs(1).AckIs(1).DataLen(0).JoinACKIs()
				r1.After(a, 150*time.Millisecond, 2*time.Second)
				r2 := j.Expect(5 * time.Second).Is(ACK).SeqIs(1).AckIs(1).DataLen(0).JoinACKIs()
				t.Backoff("third ACK retransmission", a, r1, r2, 0.9, 2.6)
				j.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				d := Pattern(100, 5)
				j.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 1, 1, d)}})
				j.ExpectDataAck(101, Quick)
			},
		},
		Scenario{
			Name:    "mp_join/passive-subflow-limit",
			Summary: "a join beyond the DUT's subflow limit is refused with RST, to the SYN or to the third ACK, and the connection goes on (RFC 8684 §3.2: a host may refuse new subflows)",
			Note:    "Linux answers the SYN and resets the subflow when the third ACK comes (the limit is checked when the subflow would join the connection).",
			MPTCP:   true,
			Setup:   Setup{Limits: &Limits{Subflows: 0, AddAddrAccepted: 0}},
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				j := t.TB().NewFlow(1, f.Remote)
				m.attach(j, MPSubflow{LocalNonce: rand32(), LocalID: 1})
				j.Send(Seg{Flags: SYN, Opts: mpSYNOpts(MP(&option.MPJoin{Stage: option.JoinSYN, AddrID: 1, Token: m.RemoteToken, Nonce: j.MP.LocalNonce}))})
				r := j.Expect(Quick)
				if r.Flags.Has(SYN) {
					t.Variant("refused at the third ACK")
					jo := &r.MPTCP(option.SubtypeMPJoin).MPJoin
					j.MP.RemoteNonce = jo.Nonce
					j.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.JoinACK()}})
					r = j.Expect(Quick).Is(RST).SeqIs(1)
				} else {
					t.Variant("refused at the SYN")
					r.Is(RST | ACK).AckIs(1)
				}
				if o := r.FindMPTCP(option.SubtypeMPTCPRst); o != nil {
					t.Variant("MP_TCPRST reason %d", o.MPTCPRst.Reason)
				}
				t.Write(c, Pattern(10, 6))
				f.Expect(Quick).SeqIs(1).MappingIs(1, 1, 10)
			},
		},
		Scenario{
			Name:    "mp_join/passive-no-new-accept",
			Summary: "a join adds a subflow to the existing connection: the listener gets no new connection from it (RFC 8684 §3.2)",
			MPTCP:   true,
			Run: func(t *T) {
				l := t.Listen(SockOpts{MPTCP: true})
				m, f, _, _ := t.MPAcceptOn(l, MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				m.JoinToDUT(1, f.Remote, 1, false)
				acc := t.Accept(l)
				f.ExpectNone(300 * time.Millisecond)
				if acc.Returned() {
					c, err := acc.Wait(0)
					t.Errorf("accept returned a connection after a join: %v %v", c, err)
				}
			},
		},
		Scenario{
			Name:    "mp_join/passive-backup",
			Summary: "a join SYN with flag B (backup) is accepted; the DUT's SYN-ACK states its own priority (RFC 8684 §3.2, §3.3.8)",
			Note:    "The B flag of a SYN-ACK is the responder's own wish for the subflow (RFC 8684 §3.2); it need not mirror the SYN's, and Linux's reflects its endpoint's backup setting.",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, _, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				_, sa := m.JoinToDUT(1, f.Remote, 1, true)
				if sa.MPTCP(option.SubtypeMPJoin).MPJoin.Backup {
					t.Variant("SYN-ACK with B")
				} else {
					t.Variant("SYN-ACK without B")
				}
			},
		},
	)
}
