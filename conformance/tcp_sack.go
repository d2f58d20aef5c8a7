package conformance

import "time"

// Scenarios of out-of-order data and selective acknowledgment (RFC 2018,
// RFC 5681 §4.2, RFC 6675, RFC 8985).

func init() {
	register(
		Scenario{
			Name:    "tcp/ooo-sack",
			Summary: "out-of-order segments are ACKed at once with SACK blocks (the block holding the latest segment first), and the segment filling the hole is ACKed at once cumulatively; the application reads the bytes in order (RFC 5681 §4.2, RFC 2018 §3-4)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				d := Pattern(3000, 11)
				f.Send(Seg{Flags: ACK, Seq: 1001, Ack: 1, Data: d[1000:2000]})
				f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataLen(0).SACKIs([2]uint32{1001, 2001})
				f.Send(Seg{Flags: ACK, Seq: 2001, Ack: 1, Data: d[2000:]})
				f.Expect(Quick).Is(ACK).AckIs(1).SACKIs([2]uint32{1001, 3001})
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Data: d[:1000]})
				f.Expect(Quick).Is(ACK).AckIs(3001).SACKIs()
				if got := t.Read(c, 3000, Quick); string(got) != string(d) {
					t.Errorf("read: data differs from what was sent")
				}
			},
		},
		Scenario{
			Name:    "tcp/ooo-sack-blocks-order",
			Summary: "with several holes the SACK option lists the block of the most recent segment first, then the others most recent first, up to 3 with timestamps (RFC 2018 §4)",
			Run: func(t *T) {
				f, _, _ := t.AcceptFlow(SockOpts{})
				d := Pattern(6000, 13)
				f.Send(Seg{Flags: ACK, Seq: 1001, Ack: 1, Data: d[1000:2000]})
				f.Expect(Quick).AckIs(1).SACKIs([2]uint32{1001, 2001})
				f.Send(Seg{Flags: ACK, Seq: 3001, Ack: 1, Data: d[3000:4000]})
				f.Expect(Quick).AckIs(1).SACKIs([2]uint32{3001, 4001}, [2]uint32{1001, 2001})
				f.Send(Seg{Flags: ACK, Seq: 5001, Ack: 1, Data: d[5000:6000]})
				f.Expect(Quick).AckIs(1).SACKIs([2]uint32{5001, 6001}, [2]uint32{3001, 4001}, [2]uint32{1001, 2001})
				// Filling the first hole merges the first two blocks' data
				// into the cumulative ACK.
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Data: d[:1000]})
				f.Expect(Quick).AckIs(2001).SACKIs([2]uint32{5001, 6001}, [2]uint32{3001, 4001})
			},
		},
		Scenario{
			Name:    "tcp/ooo-no-sack",
			Summary: "without SACK permitted, an out-of-order segment draws an immediate duplicate ACK with no SACK option, and the hole's repair a cumulative ACK (RFC 5681 §4.2, RFC 2018 §2)",
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{}, MSS(1460), TS, NOP, WS(7))
				d := Pattern(2000, 17)
				f.Send(Seg{Flags: ACK, Seq: 1001, Ack: 1, Data: d[1000:]})
				f.Expect(Quick).Is(ACK).AckIs(1).DataLen(0).SACKIs()
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Data: d[:1000]})
				f.Expect(Quick).Is(ACK).AckIs(2001).SACKIs()
				if got := t.Read(c, 2000, Quick); string(got) != string(d) {
					t.Errorf("read: data differs from what was sent")
				}
			},
		},
		Scenario{
			Name:    "tcp/sack-fast-retransmit",
			Summary: "SACKs for segments 2-5 of 5 mark segment 1 lost: it is retransmitted at once, long before the RTO, and the SACKed segments are not (RFC 6675 §5, RFC 8985 §6)",
			Timeout: 30 * time.Second,
			Note:    "A tail loss probe (RFC 8985 §7, a retransmission of the last segment) may come before the SACKs arrive on a loaded machine; it is allowed and skipped.",
			Run: func(t *T) {
				// A 300 ms handshake RTT puts the RTO near 900 ms, far from
				// an immediate retransmission even on a loaded machine.
				f, c, _ := t.AcceptFlowRTT(300*time.Millisecond, SockOpts{}, MSS(1012), SACKOK, TS, NOP, WS(7))
				d := Pattern(5000, 19)
				t.Write(c, d)
				segs := expectData(t, f, 5000, Quick)
				if len(segs) != 5 {
					t.Fatalf("5000 bytes came in %d segments, want 5 of 1000 (MSS 1012 with timestamps)", len(segs))
				}
				for i := 2; i <= 5; i++ {
					f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{SACK([2]uint32{1001, uint32(i)*1000 + 1})}})
				}
				for {
					r := f.Expect(Quick)
					if r.RelSeq() == 4001 && len(r.Data) == 1000 {
						t.Variant("tail loss probe")
						continue
					}
					r.SeqIs(1).DataLen(1000).Payload(d[:1000])
					r.After(segs[4], 0, 400*time.Millisecond)
					break
				}
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 5001})
				f.ExpectNone(300 * time.Millisecond)
			},
		},
	)
}
