package lab

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/link"
)

// BenchmarkLabForward measures the emulator forwarding 1514-byte frames
// (1500-byte packets) across a real path: an AF_PACKET sender on the
// client's interface, the emulator bridging the middle namespace's veths
// with AF_PACKET, an AF_PACKET receiver on the server's interface. Both
// sides are in User mode so the kernel does not answer. It reports what
// arrives (rx-pkts/s, rx-Gbit/s); the target is 1 Gbit/s (~83k pkts/s).
func BenchmarkLabForward(b *testing.B) {
	needRoot(b)
	for _, bc := range []struct {
		name string
		spec LinkSpec
	}{
		{"passthrough", LinkSpec{}},
		{"delay1ms+rate10gbit", LinkSpec{Delay: time.Millisecond, Rate: 10e9, QueueLimit: 10000}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := testConfig(b, PathSpec{Name: "wifi", Up: bc.spec, Down: bc.spec, Emulate: true})
			cfg.ClientMode, cfg.ServerMode = User, User
			l := startLab(b, cfg)
			var tx, rx *link.AFPacket
			if err := l.Do(Client, func() (err error) {
				tx, err = link.OpenAFPacket(l.Iface(Client, 1), link.AFPacketOptions{})
				return err
			}); err != nil {
				b.Fatal(err)
			}
			defer tx.Close()
			if err := l.Do(Server, func() (err error) {
				rx, err = link.OpenAFPacket(l.Iface(Server, 1), link.AFPacketOptions{Promisc: true})
				return err
			}); err != nil {
				b.Fatal(err)
			}
			batch := make([][]byte, 64)
			for i := range batch {
				f := make([]byte, 1514)
				copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
				binary.BigEndian.PutUint32(f[14:], uint32(i))
				batch[i] = f
			}
			got := make(chan int)
			go func() {
				bufs := make([][]byte, 64)
				for i := range bufs {
					bufs[i] = make([]byte, 2048)
				}
				sizes := make([]int, 64)
				n := 0
				for {
					k, err := rx.ReadPackets(bufs, sizes)
					if err != nil {
						got <- n
						return
					}
					for i := range k {
						if sizes[i] == 1514 {
							n++
						}
					}
				}
			}()
			b.SetBytes(1514)
			start := time.Now()
			for sent := 0; sent < b.N; {
				k := min(len(batch), b.N-sent)
				n, err := tx.WritePackets(batch[:k])
				sent += n
				if err != nil {
					sent++ // refused (ENOBUFS): lost, go on
				}
			}
			time.Sleep(20*time.Millisecond + bc.spec.Delay)
			el := time.Since(start)
			rx.Close()
			n := <-got
			st, _ := l.EmulatorStats(1)
			pps := float64(n) / el.Seconds()
			b.ReportMetric(pps, "rx-pkts/s")
			b.ReportMetric(pps*1514*8/1e9, "rx-Gbit/s")
			b.ReportMetric(float64(n)/float64(b.N), "delivered")
			b.Logf("sent %d, emulator received %d (kernel dropped %d before it read them) forwarded %d (queue drops %d, tx errors %d), arrived %d",
				b.N, st.AtoB.Received, st.AtoB.DroppedRx, st.AtoB.Forwarded, st.AtoB.DroppedQueue, st.AtoB.DroppedTxError, n)
		})
	}
}
