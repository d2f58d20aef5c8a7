package tcp

import (
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// FuzzSegmentInput feeds arbitrary segments to an established connection
// with data in flight and to a listener. The engine must never panic and
// its accounting must stay consistent.
func FuzzSegmentInput(f *testing.F) { fuzzSegmentInput(f, Config{}) }

// FuzzSegmentInputBBR is FuzzSegmentInput with BBR sending: rate
// samples, pacing and BBR's window from arbitrary ACKs and SACKs.
func FuzzSegmentInputBBR(f *testing.F) { fuzzSegmentInput(f, Config{CongestionControl: "bbr"}) }

func fuzzSegmentInput(f *testing.F, cfg Config) {
	seed := func(flags header.TCPFlags, seqOff, ackOff uint32, opts []byte, payload []byte) {
		b := make([]byte, 0, 60+len(payload))
		b = append(b, make([]byte, 20)...)
		opts = header.PadOptions(append([]byte(nil), opts...))
		b = append(b, opts...)
		header.TCP(b).Encode(&header.TCPFields{SrcPort: 2000, DstPort: 1000, Seq: seqOff, Ack: ackOff,
			DataOffset: 20 + len(opts), Flags: flags, Window: 1000})
		f.Add(append(b, payload...))
	}
	seed(header.TCPFlagACK, 0, 100, header.AppendTimestamps(nil, 1, 2), []byte("data"))
	seed(header.TCPFlagACK, 0, 0, header.AppendSACK(nil, []header.SACKBlock{{Start: 1000, End: 2000}, {Start: 3000, End: 4000}}), nil)
	seed(header.TCPFlagRST, 0, 0, nil, nil)
	seed(header.TCPFlagSYN, 5, 0, header.AppendWindowScale(header.AppendMSS(nil, 1460), 20), nil)
	seed(header.TCPFlagFIN|header.TCPFlagACK, 10, 200, nil, []byte("x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		seg, ok := ParseSegment(header.TCP(b))
		if !ok {
			return
		}
		n := newTestNet(t, cfg, Config{})
		n.delay = time.Millisecond
		n.connect()
		n.ep[0].Write(randomData(20000, 1))
		n.runFor(500 * time.Microsecond) // data in flight, nothing ACKed yet
		e := n.ep[0]
		// Make the fuzzed numbers relative to the connection's.
		seg.Seq += e.rcvNxt
		seg.Ack += e.sndUna
		e.HandleSegment(&seg)
		if e.inflight() < 0 || e.sackedB < 0 || e.lostB < 0 || e.retransB < 0 || seqGT(e.sndUna, e.sndNxt) {
			t.Fatalf("accounting broken: inflight %d sacked %d lost %d retrans %d una %d nxt %d",
				e.inflight(), e.sackedB, e.lostB, e.retransB, e.sndUna, e.sndNxt)
		}
		n.runFor(5 * time.Second)
		if d, ok := e.NextDeadline(); ok && d < n.clock.t {
			t.Fatalf("timer deadline %v in the past at %v", d, n.clock.t)
		}
		l := New(Config{LocalPort: 1, RemotePort: 2, ISS: 99}, &n.clock, nopOutput{})
		l.Listen()
		l.HandleSegment(&seg)
		l.HandleTimers()
	})
}

type nopOutput struct{}

func (nopOutput) OutputSegment(hdr, p1, p2 []byte) {}
