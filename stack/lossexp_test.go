package stack

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/link/emu"
)

func TestLossExperiment(t *testing.T) {
	if os.Getenv("LOSSEXP") == "" {
		t.Skip()
	}
	p := newLabPeer(t, emu.Spec{Rate: 50e6, Delay: 10 * time.Millisecond, Loss: 0.02, QueueLimit: 200}, Options{})
	for _, stackSends := range []bool{true, false} {
		t.Run(fmt.Sprintf("stackSends=%v", stackSends), func(t *testing.T) {
			ours, theirs := p.connPair(t, true)
			before, _ := p.l.EmulatorStats(1)
			var el time.Duration
			const size = 16 << 20
			if stackSends {
				el = sendAndVerify(t, ours, theirs, size, 3*time.Minute)
			} else {
				el = sendAndVerify(t, theirs, ours, size, 3*time.Minute)
			}
			after, _ := p.l.EmulatorStats(1)
			in := ours.Info()
			t.Logf("%.1f Mbit/s; ours: retrans %d timeouts %d recoveries %d srtt %v cwnd %d; emu up fwd %d loss %d q %d down fwd %d loss %d",
				float64(size)*8/el.Seconds()/1e6, in.Stats.RetransSegs, in.Stats.Timeouts, in.Stats.Recoveries, in.SRTT, in.Cwnd,
				after.AtoB.Forwarded-before.AtoB.Forwarded, after.AtoB.DroppedLoss-before.AtoB.DroppedLoss, after.AtoB.DroppedQueue-before.AtoB.DroppedQueue,
				after.BtoA.Forwarded-before.BtoA.Forwarded, after.BtoA.DroppedLoss-before.BtoA.DroppedLoss)
		})
	}
}
