package analyze

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

// vouchSink records what the analyzer delivers, to check that every byte
// is one that was sent, at its offset.
type vouchSink struct {
	data map[[2]int]map[uint64][]byte
}

func (v *vouchSink) Data(c *ConnInfo, dir int, ts time.Time, off uint64, b []byte) {
	if v.data == nil {
		v.data = map[[2]int]map[uint64][]byte{}
	}
	k := [2]int{c.ID, dir}
	if v.data[k] == nil {
		v.data[k] = map[uint64][]byte{}
	}
	v.data[k][off] = bytes.Clone(b)
}
func (v *vouchSink) Hole(c *ConnInfo, dir int, ts time.Time, off, size uint64) {}
func (v *vouchSink) End(c *ConnInfo, dir int, ts time.Time)                    {}

// check fails t unless every byte delivered for (conn, dir) is sent's at
// base+offset, and returns how many were delivered.
func (v *vouchSink) check(t *testing.T, conn, dir int, sent []byte, base uint64) int {
	t.Helper()
	n := 0
	for off, b := range v.data[[2]int{conn, dir}] {
		lo := off + base
		if lo+uint64(len(b)) > uint64(len(sent)) || !bytes.Equal(sent[lo:lo+uint64(len(b))], b) {
			t.Errorf("conn %d dir %d: %d bytes delivered at offset %d were not sent there", conn, dir, len(b), off)
			return n
		}
		n += len(b)
	}
	return n
}

// TestHostileMappingsOneSubflow: overlapping mappings that agree are fine;
// ones that put the same subflow bytes elsewhere are reported and ignored;
// every byte delivered was sent at that offset.
func TestHostileMappingsOneSubflow(t *testing.T) {
	v := &vouchSink{}
	a := New(Config{Hash: true, Sink: v, MaxBuffer: 1 << 20})
	c := synth.New(0x9a9a, 0x9b9b, a.Packet)
	s := c.Handshake(cli1, srv1)
	s.Send(0, []byte{'x'})
	sent := append([]byte{'x'}, payload(20000, 1)...)
	d := sent[1:]
	seq0, dsn0 := s.Seq[0], c.DSN[0]
	send := func(off, n int, dsnOff int64) {
		s.Seq[0] = seq0 + uint32(off)
		b := d[off : off+n]
		s.SendRaw(0, header.TCPFlagACK, b, s.Mapping(0, uint64(int64(dsn0)+int64(off)+dsnOff), b, false))
	}
	for off := 0; off < len(d); off += 1000 {
		send(off, 1000, 0)
		if off >= 2000 {
			send(off-1500, 1000, 0)    // an overlapping copy that agrees
			send(off-1500, 1000, 7777) // the same bytes mapped elsewhere
			send(off-200, 700, -300)   // partly new, mapped 300 bytes early
		}
	}
	c.DSN[0] = dsn0 + uint64(len(d))
	s.DataFIN(0)
	r := a.Finish()
	cn := r.Connections[0]
	if !hasFinding(cn.Findings, CodeMappingConflict) || a.Buffered() != 0 {
		t.Errorf("findings %+v", cn.Findings)
	}
	if n := v.check(t, cn.ID, 0, sent, 0); n != len(sent) || cn.Streams[0].SHA256 != sha(sent) {
		t.Errorf("%d of %d bytes delivered, stream %+v", n, len(sent), cn.Streams[0])
	}
}

// TestHostileMappingsAcrossSubflows: a second subflow maps its bytes over
// data the first delivered, with other contents: each is a data_conflict,
// the first copy stands, the stream is what was sent first.
func TestHostileMappingsAcrossSubflows(t *testing.T) {
	v := &vouchSink{}
	a := New(Config{Hash: true, Sink: v})
	c := synth.New(0x9c9c, 0x9d9d, a.Packet)
	s1 := c.Handshake(cli1, srv1)
	s2 := c.Join(cli2, srv2, synth.JoinOptions{})
	sent := payload(30000, 2)
	for off := 0; off < len(sent); off += 1000 {
		s1.Send(0, sent[off:off+1000])
		if off >= 5000 && off%5000 == 0 {
			s2.SendAt(0, c.DSN[0]-3000, payload(500, uint64(off))) // other bytes over delivered data
		}
	}
	s1.DataFIN(0)
	r := a.Finish()
	cn := r.Connections[0]
	if n := countFindings(cn.Findings, CodeDataConflict); n < 5 {
		t.Errorf("%d data_conflict findings for 5 forged copies", n)
	}
	if n := v.check(t, cn.ID, 0, sent, 0); n != len(sent) {
		t.Errorf("%d of %d bytes delivered", n, len(sent))
	}
}

// TestHostileTinySegmentsLongMapping: one mapping of 65535 bytes (the
// largest data-level length) carried by one-byte segments in reverse
// order. With room (16 MB) all is delivered when the first byte comes;
// under a 2 MB cap memory stays under it, what was given up is a memory
// hole with its finding, and every byte delivered is one that was sent.
func TestHostileTinySegmentsLongMapping(t *testing.T) {
	for _, limit := range []int64{16 << 20, 2 << 20} {
		v := &vouchSink{}
		a := New(Config{Hash: true, Sink: v, MaxBuffer: limit})
		c := synth.New(0x9e9e, 0x9f9f, func(ts time.Time, p []byte) {
			a.Packet(ts, p)
			if a.Buffered() > limit {
				t.Fatalf("buffered %d > %d", a.Buffered(), limit)
			}
		})
		s := c.Handshake(cli1, srv1)
		s.Send(0, []byte{'x'})
		d := payload(65535, 3)
		o := s.Mapping(0, c.DSN[0], d, false)
		seq0 := s.Seq[0]
		for i := len(d) - 1; i >= 0; i-- {
			s.Seq[0] = seq0 + uint32(i)
			s.SendRaw(0, header.TCPFlagACK, d[i:i+1], o)
		}
		r := a.Finish()
		cn := r.Connections[0]
		st := cn.Streams[0]
		n := v.check(t, cn.ID, 0, append([]byte{'x'}, d...), 0)
		switch {
		case limit == 16<<20 && n != len(d)+1:
			t.Errorf("16 MB: %d of %d bytes delivered, holes %v", n, len(d)+1, st.Holes)
		case limit == 2<<20 && (st.DroppedBytes == 0 || !hasFinding(cn.Findings, CodeMemoryCap) || uint64(n)+st.HoleBytes != uint64(len(d)+1)):
			t.Errorf("2 MB: %d delivered, %d in holes (%d dropped), findings %+v", n, st.HoleBytes, st.DroppedBytes, cn.Findings)
		}
	}
}

// TestHostileWraparounds: subflow sequence numbers that wrap 2^32 and data
// sequence numbers that wrap 2^64 (and 2^32 for 4-byte DSNs) in
// mid-transfer: the stream is rebuilt across the wrap.
func TestHostileWraparounds(t *testing.T) {
	for _, dsn32 := range []bool{false, true} {
		rec := &recorder{}
		c := synth.New(0xa1a1, 0xa2a2, rec.emit)
		c.DSN32 = dsn32
		s := c.Handshake(cli1, srv1)
		s.Send(0, []byte{'x'})
		start := len(rec.pkts)
		// The capture starts here (keys not seen): DSNs just below the
		// wrap, subflow sequence numbers just below 2^32.
		c.DSN[0] = 1<<64 - 5000
		if dsn32 {
			c.DSN[0] = 1<<32 - 5000
		}
		s.Seq[0] = 0xffffffff - 3000
		sent := payload(20000, 4)
		for off := 0; off < len(sent); off += 1000 {
			s.Send(0, sent[off:off+1000])
		}
		v := &vouchSink{}
		a := New(Config{Hash: true, Sink: v})
		rec.replay(a, start)
		r := a.Finish()
		cn := r.Connections[0]
		if n := v.check(t, cn.ID, 0, sent, 0); n != len(sent) || len(cn.Streams[0].Holes) != 0 {
			t.Errorf("dsn32=%v: %d of %d bytes delivered, holes %v, findings %+v", dsn32, n, len(sent), cn.Streams[0].Holes, cn.Findings)
		}
	}
}

// TestHostileAddAddrFlood: 20,000 ADD_ADDRs (bad HMACs) on one
// connection: bounded events and findings, the data still delivered.
func TestHostileAddAddrFlood(t *testing.T) {
	v := &vouchSink{}
	a := New(Config{Hash: true, Sink: v})
	c := synth.New(0xa3a3, 0xa4a4, a.Packet)
	s := c.Handshake(cli1, srv1)
	sent := payload(10000, 5)
	for i := range 20000 {
		if i%2000 == 0 {
			s.Send(0, sent[i/2:i/2+1000])
		}
		aa := &option.AddAddr{Version: option.V1, AddrID: uint8(i), Addr: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), HasHMAC: true, HMAC: uint64(i)}
		s.SendRaw(1, header.TCPFlagACK, nil, aa)
	}
	s.DataFIN(0)
	r := a.Finish()
	cn := r.Connections[0]
	if len(cn.Events) > maxEvents+16 || len(cn.Findings) > maxFindings+8 {
		t.Errorf("%d events, %d findings", len(cn.Events), len(cn.Findings))
	}
	if n := v.check(t, cn.ID, 0, sent, 0); n != len(sent) {
		t.Errorf("%d of %d bytes delivered", n, len(sent))
	}
}
