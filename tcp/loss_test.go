package tcp

import (
	"testing"
	"time"
)

func TestTransferImpairedPaths(t *testing.T) {
	tests := []struct {
		name   string
		delay  time.Duration
		jitter time.Duration
		loss   float64
		rate   float64
		cc     string
		noSACK bool
		size   int
	}{
		{"1% loss 50ms", 25 * time.Millisecond, 0, 0.01, 12.5e6, "cubic", false, 2 << 20},
		{"5% loss 100ms", 50 * time.Millisecond, 0, 0.05, 12.5e6, "cubic", false, 1 << 20},
		{"reorder", 10 * time.Millisecond, 5 * time.Millisecond, 0, 12.5e6, "cubic", false, 2 << 20},
		{"reorder and loss reno", 25 * time.Millisecond, 3 * time.Millisecond, 0.02, 12.5e6, "reno", false, 1 << 20},
		{"loss without SACK", 25 * time.Millisecond, 0, 0.02, 12.5e6, "reno", true, 1 << 20},
		{"200ms rtt 3% loss", 100 * time.Millisecond, 0, 0.03, 12.5e6, "cubic", false, 1 << 20},
	}
	for _, tt := range tests {
		for _, from := range []int{0, 1} {
			t.Run(tt.name, func(t *testing.T) {
				n := newTestNet(t, Config{CongestionControl: tt.cc, DisableSACK: tt.noSACK}, Config{CongestionControl: tt.cc})
				n.delay, n.jitter, n.rate = tt.delay, tt.jitter, tt.rate
				n.connect()
				n.loss = tt.loss
				data := randomData(tt.size, uint64(from)+7)
				start := n.clock.t
				got := n.transfer(from, data, 10*time.Minute)
				if !sameSHA(got, data) {
					t.Fatalf("received %d of %d bytes, content differs", len(got), len(data))
				}
				in := n.ep[from].Info()
				el := n.clock.t - start
				t.Logf("from %d: %v simulated, %.1f Mbit/s, retrans %d timeouts %d recoveries %d tlp %d cwnd %d srtt %v",
					from, el, float64(len(data))*8/el.Seconds()/1e6, in.Stats.RetransSegs, in.Stats.Timeouts,
					in.Stats.Recoveries, in.Stats.TLPProbes, in.Cwnd, in.SRTT)
			})
		}
	}
}
