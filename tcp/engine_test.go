package tcp

import (
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
