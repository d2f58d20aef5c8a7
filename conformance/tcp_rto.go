package conformance

import "time"

// Scenarios of the retransmission timer (RFC 6298) on established
// connections.

func init() {
	register(
		Scenario{
			Name:    "tcp/rto-backoff",
			Summary: "unacknowledged data is retransmitted when the RTO expires, whole and unchanged, and each later timeout doubles (RFC 6298 §5.4-5.6, Karn's backoff)",
			Note:    "RFC 6298 §2.4 asks for an RTO of at least 1 s but allows less; Linux and our stack use a 200 ms floor. A tail loss probe (RFC 8985 §7) may come first: with one segment in flight its timer is at least the RTO, so the first two retransmissions may be a probe and the timeout at an equal interval; from then on intervals double.",
			Timeout: 30 * time.Second,
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				data := Pattern(100, 9)
				t.Write(c, data)
				orig := f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).Payload(data)
				segs := []*Got{orig}
				for i := 0; i < 4; i++ {
					segs = append(segs, f.Expect(5*time.Second).Is(ACK).SeqIs(1).AckIs(1).Payload(data))
				}
				segs[1].After(orig, 150*time.Millisecond, 1500*time.Millisecond)
				first := 2
				if float64(Interval(segs[1], segs[2])) < 1.4*float64(Interval(segs[0], segs[1])) {
					t.Variant("tail loss probe before the first timeout")
					first = 3
				}
				for i := first; i < len(segs); i++ {
					t.Backoff("retransmission", segs[i-2], segs[i-1], segs[i], 1.6, 2.6)
				}
			},
		},
		Scenario{
			Name:    "tcp/rto-backoff-reset",
			Summary: "an ACK of new data after timeouts restores the RTO from the estimator: the next loss waits about one RTO again (within 0.5-2.5 times the first one), not the backed-off four times (RFC 6298 §5.7 keeps the backoff only until an RTT is measured)",
			Timeout: 30 * time.Second,
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				t.Write(c, Pattern(100, 1))
				o := f.Expect(Quick).SeqIs(1).DataLen(100)
				r1 := f.Expect(5 * time.Second).SeqIs(1).DataLen(100)
				f.Expect(5 * time.Second).SeqIs(1).DataLen(100)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 101})
				t.Write(c, Pattern(100, 2))
				n := f.Expect(Quick).SeqIs(101).DataLen(100)
				n2 := f.Expect(5 * time.Second).SeqIs(101).DataLen(100)
				base := Interval(o, r1)
				n2.After(n, base/2, base*5/2)
			},
		},
	)
}
