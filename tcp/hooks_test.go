package tcp

import (
	"errors"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// optHooks adds an MPTCP-like option (kind 30) to every segment and
// records what it sees, standing in for the MPTCP layer.
type optHooks struct {
	reserve     int
	rejectSYN   bool
	outSYN      int
	outTotal    int
	lastBudget  int
	inWithOpt   int
	inTotal     int
	sawSynAck   bool
	events      []SubflowEvent
	synAckFlags header.TCPFlags
}

var errReject = errors.New("join rejected")

func (h *optHooks) OutgoingOptions(seg *SegmentInfo, b []byte) []byte {
	h.outTotal++
	h.lastBudget = seg.Budget
	if seg.Flags&header.TCPFlagSYN != 0 {
		h.outSYN++
		return append(b, header.TCPOptMPTCP, 12, 0x01, 0x81, 1, 2, 3, 4, 5, 6, 7, 8) // MP_CAPABLE-like
	}
	if seg.Budget < 8 {
		return b
	}
	return append(b, header.TCPOptMPTCP, 8, 0x20, 0x01, 0, 0, 0, byte(seg.Len)) // DSS-like
}

func (h *optHooks) Incoming(seg *SegmentInfo, opts []byte) error {
	h.inTotal++
	it := header.NewTCPOptionIterator(opts)
	for it.Next() {
		if it.Kind() == header.TCPOptMPTCP {
			h.inWithOpt++
			break
		}
	}
	if seg.Flags&header.TCPFlagSYN != 0 {
		if seg.Flags&header.TCPFlagACK != 0 {
			h.sawSynAck = true
		}
		if h.rejectSYN {
			return errReject
		}
	}
	return nil
}

func (h *optHooks) Event(ev SubflowEvent) { h.events = append(h.events, ev) }
func (h *optHooks) OptionReserve() int    { return h.reserve }

func TestHooksCarryOptionsOnEverySegment(t *testing.T) {
	ha, hb := &optHooks{reserve: 8}, &optHooks{reserve: 8}
	n := newTestNet(t, Config{Hooks: ha}, Config{Hooks: hb})
	n.delay = 2 * time.Millisecond
	n.keep = true
	n.connect()
	if !ha.sawSynAck || ha.outSYN != 1 || hb.outSYN != 1 {
		t.Fatalf("SYN hooks: sawSynAck %v outSYN %d/%d", ha.sawSynAck, ha.outSYN, hb.outSYN)
	}
	data := randomData(200<<10, 1)
	if got := n.transfer(0, data, time.Minute); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	n.ep[1].Close()
	n.runFor(2 * time.Minute)
	for to := 0; to < 2; to++ {
		for _, s := range n.sent[to] {
			if s.Flags()&header.TCPFlagRST != 0 {
				continue
			}
			var found bool
			it := header.NewTCPOptionIterator(s.Options())
			for it.Next() {
				found = found || it.Kind() == header.TCPOptMPTCP
			}
			if !found {
				t.Fatalf("segment %v seq %d without the hook's option", s.Flags(), s.Seq())
			}
			// PMTU safety: header and payload fit the 1500-byte MTU.
			if len(s)+20 > 1500 {
				t.Fatalf("segment of %d bytes exceeds the MTU", len(s)+20)
			}
		}
	}
	if hb.inWithOpt != hb.inTotal || hb.inTotal == 0 {
		t.Fatalf("receiver saw the option on %d of %d segments", hb.inWithOpt, hb.inTotal)
	}
	want := []SubflowEvent{EventEstablished, EventClosed}
	if len(ha.events) != 2 || ha.events[0] != want[0] || ha.events[1] != want[1] {
		t.Fatalf("events %v", ha.events)
	}
}

func TestHooksRejectSYN(t *testing.T) {
	for _, side := range []string{"listener rejects SYN", "client rejects SYN-ACK"} {
		t.Run(side, func(t *testing.T) {
			ha, hb := &optHooks{}, &optHooks{}
			if side == "listener rejects SYN" {
				hb.rejectSYN = true
			} else {
				ha.rejectSYN = true
			}
			n := newTestNet(t, Config{Hooks: ha}, Config{Hooks: hb})
			n.delay = time.Millisecond
			n.ep[1].Listen()
			n.ep[0].Connect()
			n.runFor(5 * time.Second)
			if n.ep[0].State() != StateClosed || n.ep[1].State() != StateClosed {
				t.Fatalf("states %v %v", n.ep[0].State(), n.ep[1].State())
			}
			rejecter := n.ep[1]
			if ha.rejectSYN {
				rejecter = n.ep[0]
			}
			if !errors.Is(rejecter.Err(), errReject) {
				t.Fatalf("rejecter err %v", rejecter.Err())
			}
		})
	}
}

func TestSendAckCarriesHookOptions(t *testing.T) {
	ha := &optHooks{}
	n := newTestNet(t, Config{Hooks: ha}, Config{})
	n.delay = time.Millisecond
	n.connect()
	n.keep = true
	before := ha.outTotal
	n.ep[0].SendAck()
	if ha.outTotal != before+1 || len(n.sent[1]) != 1 || len(n.sent[1][0].Payload()) != 0 {
		t.Fatalf("SendAck: hooks %d->%d, sent %d", before, ha.outTotal, len(n.sent[1]))
	}
	if ha.lastBudget != header.TCPMaxOptionsLen-12 {
		t.Fatalf("budget with timestamps = %d, want 28", ha.lastBudget)
	}
}

// TestFastPathAllocs checks that steady-state data transfer allocates
// nothing in the engine: receiving a data segment, ACKing, sending.
func TestFastPathAllocs(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	n.delay = time.Millisecond
	n.connect()
	n.pump(0, randomData(1<<20, 1), time.Minute, false)
	a, b := n.ep[0], n.ep[1]
	payload := make([]byte, 1000)
	buf := make([]byte, 4096)
	var out nopOutput
	a.out, b.out = out, out
	optBuf := make([]byte, 0, 40)
	allocs := testing.AllocsPerRun(200, func() {
		a.Write(payload)
		in := a.Info()
		seg := Segment{Seq: in.SndNxt - 1000, Ack: b.Info().SndNxt, Flags: header.TCPFlagACK, Window: 1000, Payload: payload}
		seg.Options = header.AppendTimestamps(optBuf[:0], uint32(n.clock.t.Milliseconds()), 0)
		b.HandleSegment(&seg)
		b.Read(buf)
		ack := Segment{Seq: b.Info().SndNxt, Ack: in.SndNxt, Flags: header.TCPFlagACK, Window: 1000}
		a.HandleSegment(&ack)
		n.clock.t += time.Millisecond
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per segment round", allocs)
	}
}
