package conformance

import (
	"time"

	"github.com/mptcp-go/mptcp/option"
)

// MP_CAPABLE scenarios (RFC 8684 §3.1): the handshake in both roles, the
// keys, data with MP_CAPABLE, checksums, and every fallback trigger.

func init() {
	register(
		Scenario{
			Name:    "mp_capable/passive-handshake",
			Summary: "listener: the SYN-ACK answers MP_CAPABLE v1 with flag H and the DUT's key, the third ACK carries both keys; data then flows with DSS mappings and DATA_ACKs in both directions (RFC 8684 §3.1, §3.3)",
			MPTCP:   true,
			Run: func(t *T) {
				_, f, c, sa := t.MPAccept(MPCFlagH)
				sa.MSSIs(mssFor(t, 1500)).SACKOKIs(true).HasWS().MPCIs(MPCFlagH, true, false)
				t.Write(c, Pattern(100, 1))
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).Payload(Pattern(100, 1)).MappingIs(1, 1, 100).DataAckIs(1)
				d := Pattern(50, 2)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 101, Data: d, Opts: []Opt{Mapping(101, 1, 1, d)}})
				f.Expect(Quick).Is(ACK).AckIs(51).DataLen(0).DataAckIs(51).NoMapping()
				if got := t.Read(c, 50, Quick); string(got) != string(d) {
					t.Errorf("read: data differs from what was sent")
				}
			},
		},
		Scenario{
			Name:    "mp_capable/active-handshake",
			Summary: "connect: the SYN carries MP_CAPABLE v1 with flag H and no key; the third ACK echoes both keys, the DUT's first (RFC 8684 §3.1)",
			MPTCP:   true,
			Run: func(t *T) {
				_, _, _, syn := t.MPConnect(MPCFlagH)
				syn.MSSIs(mssFor(t, 1500)).SACKOKIs(true).HasWS().MPCIs(MPCFlagH, false, false)
			},
		},
		Scenario{
			Name:    "mp_capable/active-first-data-with-mpc",
			Summary: "connect: until the peer acknowledges data, the DUT's first data segment repeats MP_CAPABLE with both keys and the data-level length instead of a DSS mapping; later data uses DSS (RFC 8684 §3.1)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPConnect(MPCFlagH)
				t.Write(c, Pattern(100, 3))
				g := f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).Payload(Pattern(100, 3))
				mc := g.MPCIs(MPCFlagH, true, true)
				if mc.SenderKey != m.RemoteKey || mc.ReceiverKey != m.LocalKey || !mc.HasDataLen || mc.DataLen != 100 {
					g.errorf("MP_CAPABLE", "got %v, want the DUT's key, ours and data length 100", *mc)
				}
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 101, Opts: []Opt{DataAck(101)}})
				t.Write(c, Pattern(50, 4))
				f.Expect(Quick).Is(ACK).SeqIs(101).Payload(Pattern(50, 4)).MappingIs(101, 101, 50)
			},
		},
		Scenario{
			Name:    "mp_capable/passive-data-with-mpc",
			Summary: "listener: the peer's first data carries MP_CAPABLE with both keys and the data length instead of a DSS; the DUT acknowledges it with a DATA_ACK and the application reads it (RFC 8684 §3.1)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				d := Pattern(100, 5)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{m.MPCData(MPCFlagH, d)}})
				f.Expect(Quick).Is(ACK).AckIs(101).DataLen(0).DataAckIs(101)
				if got := t.Read(c, 100, Quick); string(got) != string(d) {
					t.Errorf("read: data differs from what was sent")
				}
			},
		},
		fallbackSYN("flag-b", "MP_CAPABLE with flag B (extensibility, reserved) set", MP(&option.MPCapable{Version: option.V1, Flags: MPCFlagH | option.CapExtensibility})),
		fallbackSYN("no-flag-h", "MP_CAPABLE without flag H (no crypto algorithm the DUT knows)", MP(&option.MPCapable{Version: option.V1})),
		fallbackSYN("wrong-version", "MP_CAPABLE version 0 (RFC 6824), which the DUT does not speak", MP(&option.MPCapable{Version: option.V0, Flags: option.CapHMACSHA1, HasSenderKey: true, SenderKey: 2})),
		fallbackSYN("plain-syn", "no MP_CAPABLE at all"),
		fallback3rdACK("flag-b", "flag B set", MPCFlagH|option.CapExtensibility, option.V1, true),
		fallback3rdACK("no-flag-h", "flag H clear", 0, option.V1, true),
		fallback3rdACK("wrong-version", "version 0", option.CapHMACSHA1, option.V0, true),
		fallback3rdACK("no-mpc", "no MP_CAPABLE at all", 0, option.V1, false),
		fallbackSYNACK("flag-b", "flag B set", MPCFlagH|option.CapExtensibility, option.V1, true),
		fallbackSYNACK("no-flag-h", "flag H clear", 0, option.V1, true),
		fallbackSYNACK("wrong-version", "version 0", option.CapHMACSHA1, option.V0, true),
		fallbackSYNACK("no-mpc", "no MP_CAPABLE at all", 0, option.V1, false),
		Scenario{
			Name:    "mp_capable/checksum-required-by-dut",
			Summary: "a DUT that requires checksums sets flag A in its SYN-ACK; every DSS it sends carries a checksum that verifies, and the peer's checksummed data is accepted (RFC 8684 §3.1, §3.3.1)",
			MPTCP:   true,
			Setup:   Setup{MPTCPChecksum: true},
			Run: func(t *T) {
				m, f, c, sa := t.MPAccept(MPCFlagH)
				sa.MPCIs(MPCFlagA|MPCFlagH, true, false)
				if !m.Checksum {
					t.Fatalf("checksums not in use")
				}
				d := Pattern(100, 6)
				t.Write(c, d)
				f.Expect(Quick).Is(ACK).SeqIs(1).Payload(d).MappingIs(1, 1, 100)
				in := Pattern(200, 7)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 101, Data: in, Opts: []Opt{Mapping(101, 1, 1, in)}})
				f.Expect(Quick).Is(ACK).AckIs(201).DataAckIs(201)
				if got := t.Read(c, 200, Quick); string(got) != string(in) {
					t.Errorf("read: data differs from what was sent")
				}
			},
		},
		Scenario{
			Name:    "mp_capable/checksum-requested-by-peer",
			Summary: "a peer's SYN with flag A makes checksums mandatory on the connection even though the DUT does not ask for them: its DSS mappings carry checksums that verify (RFC 8684 §3.1: either host setting A turns checksums on)",
			Note:    "Flag A in the SYN-ACK says whether its sender requires checksums; RFC 8684 §3.1 does not ask it to echo the peer's A. Linux leaves it clear and uses checksums all the same.",
			MPTCP:   true,
			Run: func(t *T) {
				_, f, c, sa := t.MPAccept(MPCFlagA | MPCFlagH)
				if sa.MPCIs(sa.MPTCP(option.SubtypeMPCapable).MPCapable.Flags&MPCFlagA|MPCFlagH, true, false).Flags&MPCFlagA != 0 {
					t.Variant("SYN-ACK echoes flag A")
				} else {
					t.Variant("SYN-ACK without flag A")
				}
				d := Pattern(100, 8)
				t.Write(c, d)
				f.Expect(Quick).Is(ACK).SeqIs(1).Payload(d).MappingIs(1, 1, 100)
			},
		},
		Scenario{
			Name:    "mp_capable/active-checksum",
			Summary: "connect from a DUT that requires checksums: its SYN has flags A and H, its third ACK too, and its first data's MP_CAPABLE carries a checksum that verifies (RFC 8684 §3.1, §3.3.1)",
			MPTCP:   true,
			Setup:   Setup{MPTCPChecksum: true},
			Run: func(t *T) {
				m, f, c, syn := t.MPConnect(MPCFlagH)
				syn.MPCIs(MPCFlagA|MPCFlagH, false, false)
				if !m.Checksum {
					t.Fatalf("checksums not in use")
				}
				d := Pattern(100, 9)
				t.Write(c, d)
				g := f.Expect(Quick).Is(ACK).SeqIs(1).Payload(d)
				mc := g.MPCIs(MPCFlagA|MPCFlagH, true, true)
				if !mc.HasChecksum || !verifyMPCChecksum(m, mc, d) {
					g.errorf("MP_CAPABLE", "checksum missing or wrong in %v", *mc)
				}
			},
		},
		Scenario{
			Name:    "mp_capable/syn-loss-fallback",
			Summary: "connect: after its MP_CAPABLE SYNs go unanswered the DUT retries without MP_CAPABLE, and the connection works as plain TCP (RFC 8684 §3.1 allows falling back after SYN retransmissions, against middleboxes dropping unknown options)",
			Note:    "Linux drops MP_CAPABLE after net.mptcp.syn_retrans_before_tcp_fallback (2) retransmissions. The scenario accepts any number from 1 to 4.",
			MPTCP:   true,
			Timeout: 30 * time.Second,
			Run: func(t *T) {
				d := t.Dial(0, t.TB().port(), SockOpts{MPTCP: true})
				f, syn := t.TB().ExpectConnect(Quick)
				syn.MPCIs(MPCFlagH, false, false)
				n := 0
				var plain *Got
				for plain == nil {
					g := f.Expect(5 * time.Second).Is(SYN).SeqIs(0)
					if g.FindMPTCP(option.SubtypeMPCapable) != nil {
						n++
						if n > 4 {
							t.Fatalf("still MP_CAPABLE after %d retransmissions", n)
						}
						continue
					}
					plain = g
				}
				if n < 1 {
					t.Errorf("MP_CAPABLE dropped from the first retransmission")
				}
				t.Variant("%d MP_CAPABLE retransmissions", n)
				f.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: StdSYN()})
				f.AutoTS = true
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).NoMPTCP()
				c := d.Result(Quick)
				checkPlainTCP(t, f, c)
			},
		},
	)
}

// verifyMPCChecksum checks the checksum of an MP_CAPABLE carrying data
// (RFC 8684 §3.1: as a DSS mapping at DSN IDSN+1, subflow sequence 1).
func verifyMPCChecksum(m *MPConn, mc *option.MPCapable, data []byte) bool {
	return verifyChecksum(m.RemoteIDSN+1, 1, mc.DataLen, mc.Checksum, data)
}

// fallbackSYN is the listener's fallback when the SYN's MP_CAPABLE cannot
// be used: a SYN-ACK without it, and plain TCP afterwards.
func fallbackSYN(name, what string, mpc ...Opt) Scenario {
	return Scenario{
		Name:    "mp_capable/passive-fallback-syn-" + name,
		Summary: "listener, SYN with " + what + ": the SYN-ACK has no MP_CAPABLE and the connection is plain TCP, data without DSS (RFC 8684 §3.1)",
		MPTCP:   true,
		Run: func(t *T) {
			l := t.Listen(SockOpts{MPTCP: true})
			acc := t.Accept(l)
			f := t.TB().NewFlow(0, l.Addr())
			f.Send(Seg{Flags: SYN, Opts: mpSYNOpts(mpc...)})
			f.Expect(Quick).Is(SYN | ACK).AckIs(1).NoMPTCP()
			f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1})
			checkPlainTCP(t, f, acc.Result(Quick))
		},
	}
}

// fallback3rdACK is the listener's fallback when the third ACK's
// MP_CAPABLE is not acceptable (or missing).
func fallback3rdACK(name, what string, flags uint8, v option.Version, present bool) Scenario {
	return Scenario{
		Name:    "mp_capable/passive-fallback-ack-" + name,
		Summary: "listener, third ACK with " + what + " after a good MP_CAPABLE exchange: the connection falls back to plain TCP, data without DSS (RFC 8684 §3.1)",
		MPTCP:   true,
		Run: func(t *T) {
			m := t.NewMPConn()
			l := t.Listen(SockOpts{MPTCP: true})
			acc := t.Accept(l)
			f := t.TB().NewFlow(0, l.Addr())
			m.attach(f, MPSubflow{})
			f.Send(Seg{Flags: SYN, Opts: mpSYNOpts(MPCSyn(MPCFlagH))})
			sa := f.Expect(Quick).Is(SYN | ACK).AckIs(1)
			m.SetRemoteKey(sa.MPCIs(MPCFlagH, true, false).SenderKey)
			var opts []Opt
			if present {
				opts = append(opts, MP(&option.MPCapable{Version: v, Flags: flags, HasSenderKey: true, SenderKey: m.LocalKey,
					HasReceiverKey: true, ReceiverKey: m.RemoteKey}))
			}
			f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: opts})
			checkPlainTCP(t, f, acc.Result(Quick))
		},
	}
}

// fallbackSYNACK is the connecting DUT's fallback when the SYN-ACK's
// MP_CAPABLE is not acceptable (or missing).
func fallbackSYNACK(name, what string, flags uint8, v option.Version, present bool) Scenario {
	return Scenario{
		Name:    "mp_capable/active-fallback-synack-" + name,
		Summary: "connect, SYN-ACK with " + what + ": the third ACK has no MP_CAPABLE and the connection is plain TCP, data without DSS (RFC 8684 §3.1)",
		MPTCP:   true,
		Run: func(t *T) {
			d := t.Dial(0, t.TB().port(), SockOpts{MPTCP: true})
			f, syn := t.TB().ExpectConnect(Quick)
			syn.MPCIs(MPCFlagH, false, false)
			opts := StdSYN()
			if present {
				opts = append(opts, MP(&option.MPCapable{Version: v, Flags: flags, HasSenderKey: true, SenderKey: 0x1122334455667788}))
			}
			f.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: opts})
			f.AutoTS = true
			f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).NoMPTCP()
			checkPlainTCP(t, f, d.Result(Quick))
		},
	}
}

// checkPlainTCP checks that a connection carries data both ways without
// MPTCP options: 1000 bytes from the DUT, 500 from the testbench.
func checkPlainTCP(t *T, f *Flow, c Conn) {
	d := Pattern(1000, 11)
	t.Write(c, d)
	f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).Payload(d).NoMPTCP()
	in := Pattern(500, 12)
	f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1001, Data: in})
	f.Expect(Quick).Is(ACK).SeqIs(1001).AckIs(501).NoMPTCP()
	if got := t.Read(c, 500, Quick); string(got) != string(in) {
		t.Errorf("read: data differs from what was sent")
	}
}
