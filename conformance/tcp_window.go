package conformance

import "time"

// Scenarios of flow control: the peer's zero window and the DUT's probes,
// the DUT's own window closing and reopening (RFC 9293 §3.8.6).

func init() {
	register(
		Scenario{
			Name:    "tcp/zero-window-probe",
			Summary: "a zero window stops the data; the DUT probes it with backed-off intervals, each probe answered with the zero window, and sends the data once the window opens (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17)",
			Note:    "RFC 9293 §3.8.6.1 lets a probe carry one byte of new data or none; Linux sends an ACK with SEG.SEQ = SND.UNA-1 and no data (tcp_xmit_probe_skb), which draws the receiver's ACK as well.",
			Timeout: 30 * time.Second,
			Run: func(t *T) {
				f, c, _ := t.AcceptFlow(SockOpts{})
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Win: WinZero})
				f.ExpectNone(100 * time.Millisecond)
				data := Pattern(1000, 23)
				start := time.Now()
				t.Write(c, data)
				var probes []*Got
				for len(probes) < 4 {
					p := f.Expect(5 * time.Second)
					switch {
					case len(p.Data) == 0 && p.RelSeq() == 0:
						t.Variant("probe: ACK at SND.UNA-1 without data")
					case len(p.Data) == 1 && p.RelSeq() == 1:
						t.Variant("probe: one byte of new data")
						p.Payload(data[:1])
					default:
						p.errorf("probe", "want an ACK at SND.UNA-1 or one byte at SND.UNA")
					}
					probes = append(probes, p)
					// Without timestamps: the answer's delay (the testbench's
					// scheduling) must not become an RTT sample that moves
					// the DUT's RTO, and so the probe intervals.
					f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Win: WinZero, NoTS: true})
				}
				if d := probes[0].At.Sub(start); d < 150*time.Millisecond || d > 3*time.Second {
					t.Errorf("first probe %v after the write, want 150 ms to 3 s", d)
				}
				for i := 2; i < len(probes); i++ {
					t.Backoff("probe", probes[i-2], probes[i-1], probes[i], 1.5, 2.6)
				}
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1})
				segs := expectData(t, f, len(data)-len(probes[0].Data), Quick)
				if segs[0].RelSeq() != 1+uint32(len(probes[0].Data)) {
					segs[0].errorf("seq", "data resumes at %d", segs[0].RelSeq())
				}
			},
		},
		Scenario{
			Name:    "tcp/zero-window-receiver",
			Summary: "a receiver whose application does not read closes its window to zero, answers a probe beyond it with an ACK of the zero window (the byte not accepted), and announces the reopened window once the application reads (RFC 9293 §3.8.6.2, §3.10.7.4)",
			Setup:   Setup{RcvBuf: 16384},
			Timeout: 30 * time.Second,
			Run: func(t *T) {
				f, c, sa := t.AcceptFlow(SockOpts{})
				ws := uint(max(sa.Opts.WindowScale, 0))
				win := uint32(sa.Win) // the SYN-ACK's window is never scaled
				next := uint32(1)
				d := Pattern(200000, 29)
				for i := 0; ; i++ {
					if i > 400 {
						t.Fatalf("the window did not close after %d bytes", next-1)
					}
					n := min(win, 1000)
					if n == 0 {
						break
					}
					f.Send(Seg{Flags: ACK | PSH, Seq: next, Ack: 1, Data: d[next-1 : next-1+n]})
					next += n
					a := f.Expect(Quick).Is(ACK)
					for a.RelAck() != next {
						a = f.Expect(Quick).Is(ACK)
					}
					win = uint32(a.Win) << ws
				}
				t.Logf("window closed after %d bytes", next-1)
				// A probe with one byte beyond the closed window.
				f.Send(Seg{Flags: ACK, Seq: next, Ack: 1, Data: d[next-1 : next]})
				f.Expect(Quick).Is(ACK).AckIs(next).WinIs(0)
				// The application reads everything: the window reopens.
				got := t.Read(c, int(next-1), Quick)
				if string(got) != string(d[:next-1]) {
					t.Errorf("read: data differs from what was sent")
				}
				u := f.Expect(Quick).Is(ACK).AckIs(next).WinNonZero()
				_ = u
				f.Send(Seg{Flags: ACK | PSH, Seq: next, Ack: 1, Data: d[next-1 : next+99]})
				f.Expect(Quick).Is(ACK).AckIs(next + 100)
			},
		},
	)
}
