//go:build linux

package stack

import (
	"fmt"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/link/emu"
	"github.com/mptcp-go/mptcp/tcp"
)

// TestKernelInteropBBR sends with our BBR to the kernel through the lab's
// emulator, byte-exact (SHA-256 checked), on a lossy long path and on a
// path with a short bottleneck queue, as client and as server; the
// sender must have left Startup by the end of the longer transfer and
// estimate the bottleneck no higher than it is.
func TestKernelInteropBBR(t *testing.T) {
	if testing.Short() {
		t.Skip("long-running")
	}
	tests := []struct {
		name string
		spec emu.Spec
		size int
	}{
		{"1pct-loss-50ms-100mbit", emu.Spec{Rate: 100e6, Delay: 25 * time.Millisecond, Loss: 0.01}, 2 << 20},
		{"20mbit-20ms-queue32", emu.Spec{Rate: 20e6, Delay: 10 * time.Millisecond, QueueLimit: 32}, 8 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newLabPeer(t, tt.spec, Options{TCP: tcp.Config{CongestionControl: "bbr"}})
			for _, stackIsClient := range []bool{true, false} {
				t.Run(fmt.Sprintf("stackClient=%v", stackIsClient), func(t *testing.T) {
					ours, theirs := p.connPair(t, stackIsClient)
					el := sendAndVerify(t, ours, theirs, tt.size, 3*time.Minute)
					in := ours.Info()
					t.Logf("%d MB in %v (%.1f Mbit/s); ours: %s, BtlBw %.1f Mbit/s, RTprop %v, retrans %d timeouts %d",
						tt.size>>20, el.Round(time.Millisecond), float64(tt.size)*8/el.Seconds()/1e6, in.BBR.Mode,
						in.BBR.BtlBw*8/1e6, in.BBR.MinRTT, in.Stats.RetransSegs, in.Stats.Timeouts)
					if in.CongestionControl != "bbr" || in.BBR.BtlBw <= 0 {
						t.Fatalf("not BBR: %+v", in)
					}
					if in.BBR.BtlBw*8 > float64(tt.spec.Rate)*1.05 {
						t.Fatalf("BtlBw %.1f Mbit/s above the %.0f Mbit/s bottleneck", in.BBR.BtlBw*8/1e6, float64(tt.spec.Rate)/1e6)
					}
					if tt.spec.Loss == 0 && in.BBR.Mode == tcp.BBRStartup {
						t.Fatalf("still in Startup after %d MB", tt.size>>20)
					}
				})
			}
		})
	}
}
