package analyze

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/header"
)

// The 4-tuples FuzzAnalyzerSegments draws from: few, so that fuzzed
// segments land on the same subflows and connections.
var fuzzEnds = [][2]netip.AddrPort{
	{cli1, srv1}, {cli2, srv2}, {cli3, srv1}, {v6c, v6s},
}

// segRecord is the fuzz encoding of one segment: tuple (low 2 bits) and
// direction (bit 2), TCP flags, sequence and acknowledgment numbers,
// options length and options, payload length (the payload is a pattern).
func appendSegRecord(b []byte, tuple, dir int, flags byte, seq, ack uint32, opts []byte, plen int) []byte {
	b = append(b, byte(tuple)|byte(dir)<<2, flags)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, ack)
	b = append(b, byte(len(opts)))
	b = append(b, opts...)
	return binary.BigEndian.AppendUint16(b, uint16(plen))
}

// FuzzAnalyzerSegments fuzzes the analyzer one level deeper than
// FuzzAnalyzerPacket: inputs are well-formed TCP segments on a few
// subflows whose flags, sequence numbers, MPTCP options and payload sizes
// are fuzzed, so mappings, joins and reassembly are exercised rather than
// the IP parser. No panic, and out-of-order data under the cap.
func FuzzAnalyzerSegments(f *testing.F) {
	for _, seed := range segmentSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 8192
		a := New(Config{MaxBuffer: limit, History: 2048, Hash: true})
		ts := time.Unix(1, 0)
		var pkt, pay []byte
		for len(in) >= 11 {
			tuple, dir, flags := int(in[0]&3), int(in[0]>>2&1), in[1]
			seq, ack := binary.BigEndian.Uint32(in[2:]), binary.BigEndian.Uint32(in[6:])
			n := min(int(in[10]), 40, len(in)-11)
			opts := in[11 : 11+n]
			in = in[11+n:]
			plen := 0
			if len(in) >= 2 {
				plen = int(binary.BigEndian.Uint16(in)) % 3000
				in = in[2:]
			}
			pay = pay[:0]
			for i := range plen {
				pay = append(pay, byte(i*7+int(seq)))
			}
			o := make([]byte, (len(opts)+3)&^3)
			copy(o, opts)
			for i := len(opts); i < len(o); i++ {
				o[i] = 1
			}
			ends := fuzzEnds[tuple]
			src, dst := ends[dir], ends[1-dir]
			pkt = synth.Packet(pkt[:0], src, dst, seq, ack, header.TCPFlags(flags), o, pay)
			a.Packet(ts, pkt)
			ts = ts.Add(time.Millisecond)
			if a.Buffered() > limit {
				t.Fatalf("buffered %d > cap %d", a.Buffered(), limit)
			}
		}
		a.Finish()
		if a.Buffered() != 0 {
			t.Fatalf("%d bytes buffered after Finish", a.Buffered())
		}
	})
}

// appendPacketRecord appends the segment record of IPv4 packet p between
// two of fuzzEnds.
func appendPacketRecord(rec, p []byte) []byte {
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[12:16])), binary.BigEndian.Uint16(p[20:]))
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[16:20])), binary.BigEndian.Uint16(p[22:]))
	tuple, dir := 0, 0
	for i, e := range fuzzEnds {
		if e[0] == src && e[1] == dst {
			tuple, dir = i, 0
		} else if e[1] == src && e[0] == dst {
			tuple, dir = i, 1
		}
	}
	tcp := header.TCP(p[20:])
	return appendSegRecord(rec, tuple, dir, byte(tcp.Flags()), tcp.Seq(), tcp.Ack(), tcp.Options(), len(tcp.Payload()))
}

// segmentSeeds turn generated MPTCP exchanges into segment records.
func segmentSeeds() [][]byte {
	var seeds [][]byte
	for _, csum := range []bool{false, true} {
		var rec []byte
		emit := func(_ time.Time, p []byte) {
			rec = appendPacketRecord(rec, p)
		}
		c := synth.New(0x11, 0x22, emit)
		c.Checksum = csum
		s1 := c.Handshake(cli1, srv1)
		s2 := c.Join(cli2, srv2, synth.JoinOptions{})
		s1.Send(0, make([]byte, 100))
		s2.Send(0, make([]byte, 200))
		s1.Send(1, make([]byte, 300))
		s2.SendAt(1, c.DSN[1]-300, make([]byte, 300))
		s1.DataFIN(0)
		s1.Close()
		seeds = append(seeds, rec)
	}
	// A capture started after the handshakes, 32-bit DSNs, on two
	// subflows without an address in common (late32.go: the second one
	// is held, then grouped).
	var rec []byte
	on := false
	emit := func(_ time.Time, p []byte) {
		if !on {
			return
		}
		rec = appendPacketRecord(rec, p)
	}
	c := synth.New(0x33, 0x44, emit)
	c.DSN32 = true
	s1 := c.Handshake(cli1, srv1)
	s2 := c.Join(cli2, srv2, synth.JoinOptions{})
	s1.Send(0, make([]byte, 10))
	on = true
	for i := range 10 {
		[]*synth.Subflow{s1, s2}[i%2].Send(0, make([]byte, 500))
	}
	return append(seeds, rec)
}
