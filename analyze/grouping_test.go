package analyze

import (
	"net/netip"
	"testing"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/header"
)

// sendMapped sends data from end d of s as Linux does: one DSS mapping
// covering segs segments, repeated on each of them (RFC 8684 §3.3.1).
func sendMapped(c *synth.Conn, s *synth.Subflow, d int, data []byte, segs int) {
	cd := d
	if s.Reversed {
		cd = 1 - d
	}
	o := s.Mapping(d, c.DSN[cd], data, false)
	n := (len(data) + segs - 1) / segs
	for off := 0; off < len(data); off += n {
		s.SendRaw(d, header.TCPFlagACK, data[off:min(off+n, len(data))], o)
	}
	c.DSN[cd] += uint64(len(data))
}

// lateTwoSubflows records a connection with two subflows carrying
// multi-segment mappings in both directions in the order steps gives
// (subflow 1 or 2, direction), and returns the packets from the first
// segment of the second mapping on: the capture starts in the middle of a
// mapping of subflow 1, whose bytes wait for a mapping boundary to be
// placed.
func lateTwoSubflows(t *testing.T, steps [][2]int) (rec *recorder, start int, sent [2][]byte) {
	t.Helper()
	rec = &recorder{}
	c := synth.New(0x5151, 0x5252, rec.emit)
	s1 := c.Handshake(cli1, srv1)
	s2 := c.Join(cli2, srv1, synth.JoinOptions{})
	s1.Send(0, payload(10, 1)) // the MP_CAPABLE data
	sfs := []*synth.Subflow{nil, s1, s2}
	for i, st := range steps {
		d := payload(4000, uint64(100+i))
		if i == 0 {
			// Captured from its third segment on.
			start = len(rec.pkts) + 2
			d = d[:4000]
		}
		sendMapped(c, sfs[st[0]], st[1], d, 4)
		if i == 0 {
			sent[st[1]] = append(sent[st[1]], d[2000:]...)
		} else {
			sent[st[1]] = append(sent[st[1]], d...)
		}
	}
	return rec, start, sent
}

// TestLateCaptureGroupingDeterministic: a capture that starts after the
// handshakes, with Linux-style mappings of several segments. The first
// subflow's bytes cannot be placed until its next mapping starts, so no
// data has been delivered when the second subflow's first mapping
// arrives: the second subflow must still be grouped by the data sequence
// (the DSN of the mappings is known), not by a shared address with a
// connection that has no join token (the flaky TestKernelCaptures/late-
// start: "grouped with the joins to token 00000000 by address"), and the
// result must not depend on which subflow or direction shows a mapping
// first.
func TestLateCaptureGroupingDeterministic(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps [][2]int
	}{
		{"second subflow same direction", [][2]int{{1, 0}, {2, 0}, {1, 0}, {2, 0}, {1, 0}, {2, 0}}},
		{"second subflow other direction first", [][2]int{{1, 0}, {2, 1}, {1, 1}, {2, 0}, {1, 0}, {2, 1}, {1, 0}}},
		{"other direction then same on both", [][2]int{{1, 0}, {2, 1}, {2, 0}, {1, 0}, {2, 1}, {1, 1}, {2, 0}}},
		{"second subflow only the other direction", [][2]int{{1, 0}, {2, 1}, {2, 1}, {1, 1}, {1, 0}, {2, 1}, {1, 0}}},
	} {
		rec, start, sent := lateTwoSubflows(t, tc.steps)
		a := New(Config{Hash: true})
		rec.replay(a, start)
		r := a.Finish()
		if len(r.Connections) != 1 {
			for _, cn := range r.Connections {
				t.Logf("conn %d grouped %s, %d subflows, findings %+v", cn.ID, cn.GroupedBy, len(cn.Subflows), cn.Findings)
			}
			t.Errorf("%s: %d connections, want 1", tc.name, len(r.Connections))
			continue
		}
		cn := r.Connections[0]
		if cn.GroupedBy != "dsn" || cn.Verified || len(cn.Subflows) != 2 {
			t.Errorf("%s: grouped by %q, verified %v, %d subflows; findings %+v", tc.name, cn.GroupedBy, cn.Verified, len(cn.Subflows), cn.Findings)
		}
		for _, f := range cn.Findings {
			if f.Code == CodeUnverified && contains(f.Message, "by address") {
				t.Errorf("%s: grouped by address: %s", tc.name, f.Message)
			}
		}
		// Without the SYN the first packet's sender is taken as the
		// client: here the connection's client, so directions agree.
		for d := range 2 {
			if st := cn.Streams[d]; st.SHA256 != sha(sent[d]) || len(st.Holes) != 0 {
				t.Errorf("%s: dir %d: %d bytes (want %d), holes %v", tc.name, d, st.Bytes, len(sent[d]), st.Holes)
			}
		}
	}
}

// TestLateCaptureSharedAddressNotGrouped: two unrelated connections from
// one client to one server, both captured late with multi-segment
// mappings: sharing addresses is no evidence, they stay two connections.
func TestLateCaptureSharedAddressNotGrouped(t *testing.T) {
	rec := &recorder{}
	var conns [2]*synth.Conn
	var sfs [2]*synth.Subflow
	for k := range conns {
		conns[k] = synth.New(uint64(0x6100+k), uint64(0x6200+k), rec.emit)
		sfs[k] = conns[k].Handshake(netip.AddrPortFrom(cli1.Addr(), uint16(43000+k)), srv1)
		sfs[k].Send(0, payload(10, uint64(k)))
	}
	start := len(rec.pkts) + 1 // inside the first mapping
	var sent [2][]byte
	for i := range 6 {
		for k := range conns {
			d := payload(4000, uint64(10*i+k))
			sendMapped(conns[k], sfs[k], 0, d, 4)
			if i == 0 && k == 0 {
				d = d[1000:]
			}
			sent[k] = append(sent[k], d...)
		}
	}
	a := New(Config{Hash: true})
	rec.replay(a, start)
	r := a.Finish()
	if len(r.Connections) != 2 {
		t.Fatalf("%d connections, want 2", len(r.Connections))
	}
	for k, cn := range r.Connections {
		if len(cn.Subflows) != 1 || cn.Streams[0].SHA256 != sha(sent[k]) {
			t.Errorf("conn %d: %d subflows, %d bytes (want %d), findings %+v", cn.ID, len(cn.Subflows), cn.Streams[0].Bytes, len(sent[k]), cn.Findings)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestLateCaptureManyConnectionsIndexed: hundreds of connections captured
// late, two subflows each, 64-bit and 32-bit DSNs: each subflow is found
// by its data (through the DSN index) and grouped with its own
// connection's other subflow.
func TestLateCaptureManyConnectionsIndexed(t *testing.T) {
	for _, dsn32 := range []bool{false, true} {
		rec := &recorder{}
		type cs struct {
			c      *synth.Conn
			s1, s2 *synth.Subflow
			data   []byte
		}
		var conns []cs
		for k := range 300 {
			c := synth.New(uint64(9000+k), uint64(19000+k), rec.emit)
			c.DSN32 = dsn32
			p := uint16(20000 + k)
			s1 := c.Handshake(netip.AddrPortFrom(cli1.Addr(), p), srv1)
			s2 := c.Join(netip.AddrPortFrom(cli2.Addr(), p), srv1, synth.JoinOptions{})
			s1.Send(0, payload(10, uint64(k)))
			conns = append(conns, cs{c, s1, s2, payload(4000, uint64(1000+k))})
		}
		start := len(rec.pkts)
		for i := range 4 {
			for _, x := range conns {
				[]*synth.Subflow{x.s1, x.s2}[i%2].Send(0, x.data[i*1000:(i+1)*1000])
			}
		}
		a := New(Config{Hash: true})
		rec.replay(a, start)
		r := a.Finish()
		if len(r.Connections) != len(conns) {
			t.Fatalf("dsn32=%v: %d connections, want %d", dsn32, len(r.Connections), len(conns))
		}
		for i, cn := range r.Connections {
			if len(cn.Subflows) != 2 || cn.Streams[0].SHA256 != sha(conns[i].data) {
				t.Errorf("dsn32=%v conn %d: %d subflows, %d bytes", dsn32, i, len(cn.Subflows), cn.Streams[0].Bytes)
			}
		}
	}
}

// BenchmarkOrphanSubflows: one segment on each of many subflows seen
// without their handshake (random 64-bit DSNs): the cost per subflow must
// not grow with their number.
func BenchmarkOrphanSubflows(b *testing.B) {
	for _, n := range []int{2000, 20000} {
		rec := &recorder{}
		hostileGens["orphan-data"](n, rec.emit)
		b.Run(itoa(n), func(b *testing.B) {
			for range b.N {
				a := New(Config{OnConnection: func(Connection) {}})
				for i := range rec.pkts {
					a.Packet(rec.ts[i], rec.pkts[i])
				}
				a.Finish()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/subflow")
		})
	}
}
