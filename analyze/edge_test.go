package analyze

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
)

// shiftSeq returns an emit function that adds delta to the sequence and
// acknowledgment numbers of IPv4 packets (another ISN for the same traffic).
func shiftSeq(emit func(time.Time, []byte), delta uint32) func(time.Time, []byte) {
	return func(ts time.Time, p []byte) {
		q := append([]byte(nil), p...)
		t := q[20:]
		binary.BigEndian.PutUint32(t[4:], binary.BigEndian.Uint32(t[4:])+delta)
		if t[13]&flagACK != 0 {
			binary.BigEndian.PutUint32(t[8:], binary.BigEndian.Uint32(t[8:])+delta)
		}
		emit(ts, q)
	}
}

// RFC 9293 §3.4.1 / TIME_WAIT reuse: a new SYN with a new ISN on a 4-tuple
// whose earlier connection's end was not captured starts a new subflow and
// a new MPTCP connection.
func TestFourTupleReuseUnclosed(t *testing.T) {
	rec, a := newRec(Config{})
	c1 := synth.New(0x1111, 0x2222, rec.emit)
	s := c1.Handshake(cli1, srv1)
	d1 := payload(3000, 1)
	s.Send(0, d1)
	// No FIN captured. A new connection reuses the 4-tuple.
	c2 := synth.New(0x3333, 0x4444, shiftSeq(rec.emit, 0x12345678))
	c2.Now = c1.Now.Add(time.Second)
	s2 := c2.Handshake(cli1, srv1)
	d2 := payload(4000, 2)
	s2.Send(0, d2)
	s2.DataFIN(0)
	r := a.Finish()
	if len(r.Connections) != 2 {
		t.Fatalf("%d connections, want 2", len(r.Connections))
	}
	if st := r.Connections[0].Streams[0]; st.SHA256 != sha(d1) {
		t.Errorf("first connection stream %+v", st)
	}
	cn := r.Connections[1]
	if !cn.Verified || cn.ClientKey != hex64(0x3333) || cn.Streams[0].SHA256 != sha(d2) {
		t.Errorf("second connection %+v", cn)
	}
	for _, cn := range r.Connections {
		for _, f := range cn.Findings {
			if f.Severity == Error {
				t.Errorf("conn %d finding %+v", cn.ID, f)
			}
		}
	}
}

// keyNearWrap finds a key whose v1 IDSN's low 32 bits are just below 2^32,
// so that 32-bit DSNs wrap early in the stream.
func keyNearWrap() uint64 {
	for k := uint64(1); ; k++ {
		if uint32(synth.IDSN(k)) > 0xffff8000 {
			return k
		}
	}
}

// RFC 8684 §3.3: 32-bit DSNs and DATA_ACKs across the 2^32 boundary are
// expanded with the implicit upper bits.
func TestDSN32Wrap(t *testing.T) {
	rec, a := newRec(Config{})
	k := keyNearWrap()
	c := synth.New(k, k+1, rec.emit)
	c.DSN32 = true
	s1 := c.Handshake(cli1, srv1)
	s2 := c.Join(cli2, srv2, synth.JoinOptions{})
	d := payload(100000, 5)
	for i := 0; i < len(d); i += 1000 {
		s := s1
		if i/1000%2 == 1 {
			s = s2
		}
		s.Send(0, d[i:i+1000])
		s.SendRaw(1, header.TCPFlagACK, nil, &option.DSS{Flags: option.DSSDataACK, DataACK: c.DSN[0] & 0xffffffff})
	}
	s1.DataFIN(0)
	r := a.Finish()
	st := r.Connections[0].Streams[0]
	if st.SHA256 != sha(d) || len(st.Holes) != 0 || st.End != uint64(len(d)) {
		t.Errorf("stream %+v", st)
	}
}

// RFC 6824 §3.1: a v0 SYN retransmitted with another key (the first was
// given up); the SYN/ACK answers the last one and the third ACK echoes it.
// The connection's key is the echoed one and joins verify with it.
func TestV0SYNRetransmittedNewKey(t *testing.T) {
	rec, a := newRec(Config{})
	c := synth.NewVersion(option.V0, 0xaaaa, 0xbbbb, rec.emit)
	// A first SYN with another key, unanswered.
	p := synth.Packet(nil, cli1, srv1, 0xfffef000, 0, header.TCPFlagSYN, pad(mustAppend(&option.MPCapable{Version: option.V0,
		Flags: option.CapHMACSHA256, HasSenderKey: true, SenderKey: 0x9999})), nil)
	a.Packet(c.Now, p)
	s1 := c.Handshake(cli1, srv1)
	s2 := c.Join(cli2, srv2, synth.JoinOptions{})
	d := payload(3000, 3)
	s1.Send(0, d[:1000])
	s2.Send(0, d[1000:])
	s1.DataFIN(0)
	r := a.Finish()
	if len(r.Connections) != 1 || len(r.Rejected) != 0 {
		t.Fatalf("%d connections, %d rejected", len(r.Connections), len(r.Rejected))
	}
	cn := r.Connections[0]
	if cn.ClientKey != hex64(0xaaaa) || cn.ClientToken != hex32(mpcrypto.Token(option.V0, 0xaaaa)) || len(cn.Subflows) != 2 {
		t.Errorf("key %s token %s subflows %d", cn.ClientKey, cn.ClientToken, len(cn.Subflows))
	}
	if cn.Streams[0].SHA256 != sha(d) {
		t.Errorf("stream %+v", cn.Streams[0])
	}
	for _, f := range cn.Findings {
		if f.Severity == Error {
			t.Errorf("finding %+v", f)
		}
	}
}

func mustAppend(o interface{ Append([]byte) ([]byte, error) }) []byte {
	b, err := o.Append(nil)
	if err != nil {
		panic(err)
	}
	return b
}

func pad(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 1)
	}
	return b
}

// RFC 8684 §3.7: after the infinite mapping on the last subflow of a
// connection whose other subflows carried data, the unmapped bytes continue
// the data sequence where each direction's last mapping on that subflow
// ended; subflow byte 1 is not data byte 1 any more.
func TestFallbackAfterJoinsContinuesDSN(t *testing.T) {
	rec, a := newRec(Config{})
	c := synth.New(51, 52, rec.emit)
	s1 := c.Handshake(cli1, srv1)
	s2 := c.Join(cli2, srv2, synth.JoinOptions{})
	up := payload(1200, 1)
	down := payload(1600, 2)
	s1.Send(0, up[:300])
	s2.Send(1, down[:500])
	s1.Send(1, down[500:1000])
	s2.Send(0, up[300:600])
	s2.Close()
	// MP_FAIL then the infinite mapping on the last subflow (RFC 8684 §3.7).
	e := up[600:900]
	m := s1.Mapping(0, c.DSN[0], e, false)
	m.DataLen = 0
	s1.SendRaw(0, header.TCPFlagACK, e, m)
	s1.SendRaw(0, header.TCPFlagACK, up[900:])
	s1.SendRaw(1, header.TCPFlagACK, down[1000:])
	r := a.Finish()
	cn := r.Connections[0]
	if hasFinding(cn.Findings, CodeDataConflict) || cn.Fallback == "" {
		t.Errorf("fallback %q findings %+v", cn.Fallback, cn.Findings)
	}
	if cn.Streams[0].SHA256 != sha(up) || cn.Streams[1].SHA256 != sha(down) {
		t.Errorf("streams %+v", cn.Streams)
	}
}

// RFC 8684 §3.1, §3.2: when the third ACK of MP_CAPABLE is not captured the
// client's key arrives with its first data, possibly after joins: their
// HMACs are checked then, and a forged one is rejected.
func TestJoinVerifiedWhenKeyArrivesLate(t *testing.T) {
	for _, forged := range []bool{false, true} {
		rec, a := newRec(Config{})
		rec.drop = func(i int, _ []byte) bool { return i == 3 } // the third ACK
		c := synth.New(61, 62, rec.emit)
		s1 := c.Handshake(cli1, srv1)
		s2 := c.Join(cli2, srv2, synth.JoinOptions{BadHMAC: forged})
		d := payload(3000, 1)
		s1.Send(0, d[:1000]) // MP_CAPABLE with data: the client's key
		s2.Send(0, d[1000:2000])
		s1.Send(0, d[2000:])
		r := a.Finish()
		cn := r.Connections[0]
		if !cn.Verified {
			t.Fatalf("forged %v: not verified", forged)
		}
		if !forged {
			if len(cn.Subflows) != 2 || cn.Subflows[1].JoinHMAC != "verified" || cn.Streams[0].SHA256 != sha(d) {
				t.Errorf("join %+v stream %+v", cn.Subflows, cn.Streams[0])
			}
			continue
		}
		if len(r.Rejected) != 1 || r.Rejected[0].JoinHMAC != "failed" || len(cn.Subflows) != 1 || !hasFinding(cn.Findings, CodeJoinHMAC) {
			t.Errorf("forged join: rejected %+v subflows %d findings %+v", r.Rejected, len(cn.Subflows), cn.Findings)
		}
		if st := cn.Streams[0]; st.Bytes != 2000 || len(st.Holes) != 1 || st.Holes[0] != (Hole{1000, 1000, "missing"}) {
			t.Errorf("forged join's data merged: %+v", st)
		}
	}
}

// Config.MaxBuffer: over the cap, the stream holding the most out-of-order
// data gives up on its gap, not whichever stream happened to go over: a
// connection with a segment merely reordered keeps its bytes while another
// holds nearly the whole cap behind a loss.
func TestMemoryCapShedsLargestStream(t *testing.T) {
	rec, _ := newRec(Config{})
	c1 := synth.New(71, 72, rec.emit)
	s1 := c1.Handshake(cli1, srv1)
	hog := payload(20000, 1)
	for i := 0; i < 20; i++ {
		s1.Send(0, hog[i*1000:(i+1)*1000])
	}
	n1 := len(rec.pkts)
	c2 := synth.New(73, 74, rec.emit)
	c2.Now = c1.Now
	s2 := c2.Handshake(cli2, srv2)
	small := payload(2000, 2)
	s2.Send(0, small[:1000])
	s2.Send(0, small[1000:])
	pkts, ts := rec.pkts, rec.ts
	// The hog's first data segment is lost; the other connection's two
	// data segments arrive swapped.
	order := []int{0, 1, 2}
	for i := 4; i < n1; i++ {
		order = append(order, i)
	}
	order = append(order, n1, n1+1, n1+2, n1+4, n1+3)
	a := New(Config{Hash: true, MaxBuffer: 19500})
	for _, i := range order {
		a.Packet(ts[i], pkts[i])
	}
	r := a.Finish()
	if st := r.Connections[1].Streams[0]; st.SHA256 != sha(small) || len(st.Holes) != 0 {
		t.Errorf("reordered connection lost data: %+v", st)
	}
	st := r.Connections[0].Streams[0]
	if len(st.Holes) != 1 || st.Holes[0] != (Hole{0, 1000, "memory"}) || st.SHA256 != sha(hog[1000:]) {
		t.Errorf("hog: %+v", st)
	}
}

// A plain TCP connection reusing the 4-tuple of an MPTCP subflow is not
// analyzed as that subflow (its bytes are not the old connection's).
func TestFourTupleReusedByPlainTCP(t *testing.T) {
	for _, closed := range []bool{false, true} {
		rec, a := newRec(Config{})
		c := synth.New(0x5151, 0x5252, rec.emit)
		s := c.Handshake(cli1, srv1)
		d := payload(2000, 1)
		s.Send(0, d)
		if closed {
			s.DataFIN(0)
			s.DataFIN(1)
			s.Close()
		}
		isn := uint32(0x40000000)
		a.Packet(c.Now, synth.Packet(nil, cli1, srv1, isn, 0, header.TCPFlagSYN, nil, nil))
		a.Packet(c.Now, synth.Packet(nil, srv1, cli1, 0x50000000, isn+1, header.TCPFlagSYN|header.TCPFlagACK, nil, nil))
		a.Packet(c.Now, synth.Packet(nil, cli1, srv1, isn+1, 0x50000001, header.TCPFlagACK|header.TCPFlagPSH, nil, payload(3000, 2)))
		r := a.Finish()
		cn := r.Connections[0]
		if len(r.Connections) != 1 || r.PlainTCPFlows != 1 || cn.Streams[0].SHA256 != sha(d) || cn.Subflows[0].Dirs[0].Unmapped != 0 || len(cn.Findings) != 0 {
			t.Errorf("closed %v: %d connections, %d plain, stream %+v, subflow %+v, findings %+v", closed, len(r.Connections),
				r.PlainTCPFlows, cn.Streams[0], cn.Subflows[0].Dirs[0], cn.Findings)
		}
	}
}

// RFC 8684 §3.3.1: a mapping covers many segments (Linux: up to 64 KiB,
// repeated on each). A capture that starts in the middle of one places
// that mapping's start before the first byte seen: the bytes are mapped
// where they belong, not shifted to the first byte seen.
func TestLateCaptureMidMapping(t *testing.T) {
	for _, skip := range []int{1, 2, 4, 5, 6} {
		rec, _ := newRec(Config{})
		c := synth.New(81, 82, rec.emit)
		s1 := c.Handshake(cli1, srv1)
		s1.Send(0, payload(100, 1))
		d := payload(16000, 2)
		for m := 0; m < 4; m++ {
			md := d[m*4000 : (m+1)*4000]
			o := s1.Mapping(0, c.DSN[0], md, false)
			for i := 0; i < 4; i++ {
				s1.SendRaw(0, header.TCPFlagACK, md[i*1000:(i+1)*1000], o)
			}
			c.DSN[0] += 4000
		}
		a := New(Config{Hash: true})
		first := 4 + skip // SYN, SYN/ACK, ACK, MPC data, then skip segments
		for i := first; i < len(rec.pkts); i++ {
			a.Packet(rec.ts[i], rec.pkts[i])
		}
		r := a.Finish()
		cn := r.Connections[0]
		st := cn.Streams[0]
		if st.SHA256 != sha(d[skip*1000:]) || len(st.Holes) != 0 || cn.Subflows[0].Dirs[0].Unmapped != 0 {
			t.Errorf("skip %d: stream %+v unmapped %d findings %+v", skip, st, cn.Subflows[0].Dirs[0].Unmapped, cn.Findings)
		}
	}
}

// More holes than the list keeps: the totals still count them all.
func TestHoleTotalsPastTheList(t *testing.T) {
	rec, a := newRec(Config{})
	c := synth.New(101, 102, rec.emit)
	s1 := c.Handshake(cli1, srv1)
	const n = maxRanges + 100
	d := payload(2*n*10, 1)
	rec.drop = func(i int, _ []byte) bool { return i > 3 && i%2 == 0 }
	for i := 0; i < 2*n; i++ {
		s1.Send(0, d[i*10:(i+1)*10])
	}
	rec.drop = nil
	s1.DataFIN(0)
	r := a.Finish()
	cn := r.Connections[0]
	st := cn.Streams[0]
	if len(st.Holes) != maxRanges || st.HoleCount != n || st.HoleBytes != n*10 || st.Bytes+st.HoleBytes != st.End {
		t.Errorf("%d holes listed, count %d, bytes %d, delivered %d, end %d", len(st.Holes), st.HoleCount, st.HoleBytes, st.Bytes, st.End)
	}
	var f string
	for _, x := range cn.Findings {
		if x.Code == CodeHole {
			f = x.Message
		}
	}
	if want := fmt.Sprintf("%d bytes missing in %d holes (%d never seen;", n*10, n, n*10); !strings.Contains(f, want) {
		t.Errorf("hole finding %q, want %q", f, want)
	}
}

// RFC 8684 §3.1 with SYN cookies: a retransmitted SYN is answered by a
// SYN/ACK with another key; the client accepted the first SYN/ACK and its
// third ACK echoes that key, which the connection goes on with (joins
// verify with it, no key mismatch).
func TestSYNACKKeyEchoedWins(t *testing.T) {
	rec, a := newRec(Config{})
	c := synth.New(0xc1, 0xc2, rec.emit)
	s1 := c.Handshake(cli1, srv1)
	// Re-feed: SYN, SYN/ACK (0xc2), SYN again, SYN/ACK with key 0xee, then
	// the third ACK echoing 0xc2.
	pk := rec.pkts
	a = New(Config{Hash: true})
	a.Packet(rec.ts[0], pk[0])
	a.Packet(rec.ts[1], pk[1])
	a.Packet(rec.ts[1], pk[0])
	other := synth.Packet(nil, srv1, cli1, s1.ISN[1], s1.ISN[0]+1, header.TCPFlagSYN|header.TCPFlagACK,
		pad(mustAppend(&option.MPCapable{Version: option.V1, Flags: option.CapHMACSHA256, HasSenderKey: true, SenderKey: 0xee})), nil)
	a.Packet(rec.ts[1], other)
	rec.a = a
	for i := 2; i < len(pk); i++ {
		a.Packet(rec.ts[i], pk[i])
	}
	s2 := c.Join(cli2, srv2, synth.JoinOptions{})
	d := payload(2000, 1)
	s1.Send(0, d[:1000])
	s2.Send(0, d[1000:])
	r := a.Finish()
	cn := r.Connections[0]
	if cn.ServerKey != hex64(0xc2) || len(cn.Subflows) != 2 || cn.Subflows[1].JoinHMAC != "verified" || cn.Streams[0].SHA256 != sha(d) {
		t.Errorf("server key %s subflows %+v stream %+v", cn.ServerKey, cn.Subflows, cn.Streams[0])
	}
	for _, f := range cn.Findings {
		if f.Severity == Error {
			t.Errorf("finding %+v", f)
		}
	}
}

// RFC 8684 §3.3.1: with checksums negotiated, a mapping without one is
// reported.
func TestChecksumMissing(t *testing.T) {
	rec, a := newRec(Config{})
	c := synth.New(121, 122, rec.emit)
	c.Checksum = true
	s1 := c.Handshake(cli1, srv1)
	s1.Send(0, payload(100, 1))
	s1.Send(0, payload(200, 2))
	if hasFinding(a.Snapshot().Connections[0].Findings, CodeChecksumMissing) {
		t.Fatalf("finding with checksums present")
	}
	d := payload(300, 3)
	m := s1.Mapping(0, c.DSN[0], d, false)
	m.HasChecksum = false
	s1.SendRaw(0, header.TCPFlagACK, d, m)
	if !hasFinding(a.Finish().Connections[0].Findings, CodeChecksumMissing) {
		t.Errorf("no finding for a mapping without checksum")
	}
}

// TestZeroWindowProbeIgnored: Linux's MPTCP zero-window probe maps one
// byte at DSN snd_una-1, already acknowledged, and its content is not that
// byte (net/mptcp/protocol.c, mptcp_sendmsg_frag). It must be neither
// reported as a conflicting copy nor delivered into the stream.
func TestZeroWindowProbeIgnored(t *testing.T) {
	rec, a := newRec(Config{Hash: true})
	c := synth.New(21, 22, rec.emit)
	s1 := c.Handshake(cli1, srv1)
	d := payload(3000, 8)
	s1.Send(0, d[:2000])
	s1.Send(1, []byte("ok")) // carries the server's DATA_ACK of all 2000 bytes
	s1.SendAt(0, c.DSN[0]-1, []byte{^d[1999]})
	s1.Send(0, d[2000:])
	r := a.Finish()
	cn := r.Connections[0]
	st := cn.Streams[0]
	if st.SHA256 != sha(d) || st.Bytes != uint64(len(d)) {
		t.Errorf("stream: %d bytes, sha match %v", st.Bytes, st.SHA256 == sha(d))
	}
	if hasFinding(cn.Findings, CodeDataConflict) || len(st.Conflicts) != 0 {
		t.Errorf("the probe was reported as a conflict: %+v", cn.Findings)
	}
}
