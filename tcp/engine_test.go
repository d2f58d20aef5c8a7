package tcp

import (
	"github.com/mptcp-go/mptcp/header"
	"testing"
	"time"
)

func TestHandshakeNegotiation(t *testing.T) {
	tests := []struct {
		name           string
		ca, cb         Config
		sack, ts, ws   bool
		wantMSSAtLeast int
	}{
		{"all options", Config{}, Config{}, true, true, true, 1400},
		{"peer without sack", Config{}, Config{DisableSACK: true}, false, true, true, 1400},
		{"peer without timestamps", Config{}, Config{DisableTimestamps: true}, true, false, true, 1400},
		{"peer without window scale", Config{}, Config{DisableWindowScale: true}, true, true, false, 1400},
		{"small MTU", Config{MTU: 1280, IPHeaderLen: 40}, Config{MTU: 1280, IPHeaderLen: 40}, true, true, true, 1200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNet(t, tt.ca, tt.cb)
			n.delay = 10 * time.Millisecond
			n.connect()
			for i, e := range n.ep {
				in := e.Info()
				if in.SACKOK != tt.sack || in.TSOK != tt.ts || (in.RcvWScale != 0) != tt.ws || (in.SndWScale != 0) != tt.ws {
					t.Errorf("side %d: sack %v ts %v ws %d/%d", i, in.SACKOK, in.TSOK, in.SndWScale, in.RcvWScale)
				}
				if in.MSS < tt.wantMSSAtLeast-100 || in.MSS > tt.wantMSSAtLeast+100 {
					t.Errorf("side %d: MSS %d", i, in.MSS)
				}
				if in.SRTT < 15*time.Millisecond || in.SRTT > 25*time.Millisecond {
					t.Errorf("side %d: SRTT %v after a 20 ms handshake", i, in.SRTT)
				}
			}
		})
	}
}

func TestTransferClean(t *testing.T) {
	for _, from := range []int{0, 1} {
		n := newTestNet(t, Config{}, Config{})
		n.delay = 5 * time.Millisecond
		n.connect()
		data := randomData(1<<20, 1)
		got := n.transfer(from, data, time.Minute)
		if !sameSHA(got, data) {
			t.Fatalf("from %d: received %d bytes, content differs", from, len(got))
		}
		if r := n.ep[from].Info().Stats.RetransSegs; r != 0 {
			t.Errorf("from %d: %d retransmissions on a clean path", from, r)
		}
	}
}

func TestReceiveBufferAutoTuning(t *testing.T) {
	n := newTestNet(t, Config{}, Config{ReceiveBufferSize: 64 << 10, ReceiveBufferMax: 4 << 20})
	n.delay, n.rate = 50*time.Millisecond, 12.5e6 // BDP 1.25 MB, far above 64 KiB
	n.connect()
	data := randomData(16<<20, 3)
	start := n.clock.t
	if got := n.transfer(0, data, 5*time.Minute); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	el := n.clock.t - start
	if c := n.ep[1].rcvBuf.cap(); c < 1<<20 {
		t.Fatalf("receive buffer stayed at %d bytes", c)
	}
	// With a fixed 64 KiB window the transfer would take over 12 s.
	if el > 6*time.Second {
		t.Fatalf("transfer took %v: window did not grow", el)
	}
}

func TestPAWSDropsOldTimestamp(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	n.delay = time.Millisecond
	n.connect()
	n.pump(0, randomData(5000, 2), time.Second, false)
	b := n.ep[1]
	in := b.Info()
	n.keep = true
	old := Segment{Seq: in.RcvNxt, Ack: in.SndNxt, Flags: header.TCPFlagACK, Payload: []byte("stale"),
		Options: header.AppendTimestamps(nil, b.tsRecent-1000, 0)}
	b.HandleSegment(&old)
	if b.Info().RcvNxt != in.RcvNxt || b.Info().Stats.PAWSDrops != 1 || len(n.sent[0]) != 1 {
		t.Fatalf("old-timestamp segment accepted: rcvnxt %d->%d paws %d", in.RcvNxt, b.Info().RcvNxt, b.Info().Stats.PAWSDrops)
	}
}

// TestDefaultSendMSS: a peer whose SYN has no MSS option gets segments of
// the RFC 9293 §3.7.1 default send MSS (MUST-15): 536 bytes over IPv4,
// 1220 over IPv6. The conformance scenario tcp/handshake-passive-no-options
// found 536 used for IPv6 too, where Linux sends 1220.
func TestDefaultSendMSS(t *testing.T) {
	for _, tc := range []struct {
		ipHeader, want int
	}{{20, 536}, {40, 1220}} {
		var out recordOut
		clk := &manualClock{t: time.Second}
		e := New(Config{LocalPort: 80, RemotePort: 4000, ISS: 1000, IPHeaderLen: tc.ipHeader, DisableTimestamps: true}, clk, &out)
		e.Listen()
		e.HandleSegment(&Segment{Seq: 5000, Flags: header.TCPFlagSYN, Window: 65535})
		e.HandleSegment(&Segment{Seq: 5001, Ack: 1001, Flags: header.TCPFlagACK, Window: 65535})
		out.lens = nil
		if n, err := e.Write(make([]byte, 5000)); n != 5000 || err != nil {
			t.Fatalf("write: %d, %v", n, err)
		}
		if len(out.lens) == 0 || out.lens[0] != tc.want {
			t.Errorf("IP header %d: data segments of %v bytes, want %d", tc.ipHeader, out.lens, tc.want)
		}
	}
}

// recordOut records the payload length of each segment sent with data.
type recordOut struct{ lens []int }

func (o *recordOut) OutputSegment(hdr, p1, p2 []byte) {
	if n := len(p1) + len(p2); n > 0 {
		o.lens = append(o.lens, n)
	}
}
