package simnet

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/link/emu"
	"github.com/mptcp-go/mptcp/tcp"
)

// FuzzTCPOverNet drives a TCP connection with data both ways through a
// path whose impairments come from the fuzzer (loss up to 20% each way,
// delay, jitter, reordering, a bottleneck with a short queue, an outage of
// up to 10 s, the seed). The received bytes must always be a prefix of
// those sent, and within 30 minutes of simulated time every byte must
// arrive unless the engine gave up (ErrTimeout after its retries, a
// legitimate end under 20% loss): a live connection that stops making
// progress is a failure.
func FuzzTCPOverNet(f *testing.F) {
	f.Add(uint64(1), uint8(5), uint8(2), uint8(20), uint8(0), uint8(0), uint8(0), uint8(0), uint16(40000), false)
	f.Add(uint64(2), uint8(40), uint8(40), uint8(100), uint8(30), uint8(10), uint8(20), uint8(50), uint16(60000), true)
	f.Add(uint64(3), uint8(0), uint8(0), uint8(1), uint8(0), uint8(50), uint8(8), uint8(100), uint16(9000), false)
	f.Fuzz(func(t *testing.T, seed uint64, lossAB, lossBA, delayMs, jitterMs, reorderPct, queue, outage uint8, size uint16, bbr bool) {
		// Loss in 0.5% steps up to 20%, outage in 100 ms steps up to 10 s.
		loss := func(b uint8) float64 { return float64(b%41) * 0.005 }
		spec := emu.Spec{Delay: time.Duration(delayMs) * ms, Jitter: time.Duration(jitterMs%50) * ms,
			Reorder: float64(reorderPct%51) / 100, Loss: loss(lossAB)}
		if queue > 0 {
			spec.Rate, spec.QueueLimit = 10e6, 4+int(queue%64)
		}
		if outage > 0 {
			spec.Events = []emu.Event{emu.Down(time.Second), emu.Up(time.Second + time.Duration(outage%101)*100*ms)}
		}
		back := spec
		back.Loss, back.Events = loss(lossBA), nil
		n := New(seed)
		cli, _ := n.NewHost(addrA)
		srv, _ := n.NewHost(addrB)
		if _, err := n.Link(addrA, addrB, spec, back); err != nil {
			t.Fatal(err)
		}
		cfg := tcp.Config{}
		if bbr {
			cfg.CongestionControl = "bbr"
		}
		c, _ := cli.Endpoint(ap(addrA, 1000), ap(addrB, 2000), cfg)
		s, _ := srv.Endpoint(ap(addrB, 2000), ap(addrA, 1000), cfg)
		if s.Listen() != nil || c.Connect() != nil {
			t.Fatal("listen/connect")
		}
		flows := []*flow{newFlow(t, c, s, randomData(int(size), seed)), newFlow(t, s, c, randomData(int(size)/3, seed+1))}
		established := false
		err := n.Run(func() bool {
			if c.Err() != nil || s.Err() != nil {
				return true
			}
			established = established || c.State() == tcp.StateEstablished && s.State() == tcp.StateEstablished
			if !established {
				return false
			}
			done := true
			for _, f := range flows {
				done = f.pump() && done
			}
			return done
		}, 30*time.Minute)
		for i, f := range flows {
			if !bytes.HasPrefix(f.data, f.got.Bytes()) {
				t.Fatalf("flow %d: received bytes differ from those sent", i)
			}
		}
		if err != nil {
			t.Fatalf("spec %v / %v: %v; received %d/%d and %d/%d; %v %v", spec, back, err,
				flows[0].got.Len(), size, flows[1].got.Len(), len(flows[1].data), c.State(), s.State())
		}
		for _, ep := range []*tcp.Endpoint{c, s} {
			if e := ep.Err(); e != nil && !errors.Is(e, tcp.ErrTimeout) {
				t.Fatalf("spec %v / %v: connection failed: %v", spec, back, e)
			}
		}
	})
}
