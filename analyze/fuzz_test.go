package analyze

import (
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
)

// fuzzPackets splits fuzz input into packets: each is a 2-byte big-endian
// length and that many bytes.
func fuzzPackets(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		n = min(n, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func joinPackets(pkts [][]byte) []byte {
	var b []byte
	for _, p := range pkts {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b
}

// FuzzAnalyzerPacket feeds arbitrary packet sequences: the analyzer must
// not panic, must keep its out-of-order data under the cap, and must
// produce a result that encodes.
func FuzzAnalyzerPacket(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 4096
		a := New(Config{MaxBuffer: limit, History: 1024, Hash: true})
		ts := time.Unix(1, 0)
		for _, p := range fuzzPackets(in) {
			a.Packet(ts, p)
			ts = ts.Add(time.Millisecond)
			if a.Buffered() > limit {
				t.Fatalf("buffered %d > cap %d", a.Buffered(), limit)
			}
		}
		r := a.Finish()
		if _, err := json.Marshal(r); err != nil {
			t.Fatal(err)
		}
		if a.Buffered() != 0 {
			t.Fatalf("%d bytes still buffered after Finish", a.Buffered())
		}
	})
}

// fuzzSeeds are real MPTCP exchanges from the generator, whole and
// reordered.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, tc := range []struct{ csum, dsn32 bool }{{false, false}, {true, false}, {false, true}} {
		var pkts [][]byte
		c := synth.New(0xa1, 0xb2, func(_ time.Time, p []byte) { pkts = append(pkts, append([]byte(nil), p...)) })
		c.Checksum, c.DSN32 = tc.csum, tc.dsn32
		s1 := c.Handshake(cli1, srv1)
		s2 := c.Join(cli2, srv2, synth.JoinOptions{})
		s1.Send(0, []byte("hello"))
		s2.Send(0, []byte(" world"))
		s1.Send(1, []byte("reply"))
		s2.SendAt(0, c.DSN[0]-6, []byte(" WORLD"))
		s1.DataFIN(0)
		s1.Close()
		s2.Reset(1)
		seeds = append(seeds, joinPackets(pkts))
		rev := append([][]byte(nil), pkts...)
		for i := 7; i+1 < len(rev); i += 2 {
			rev[i], rev[i+1] = rev[i+1], rev[i]
		}
		seeds = append(seeds, joinPackets(rev[5:]))
	}
	return seeds
}
