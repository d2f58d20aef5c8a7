package analyze

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

// Hostile captures, made as an attacker would make them: the tests run
// them at a small scale with small limits; -write-hostile writes one at
// full scale for measuring the CLI (figures in README.md):
//
//	go test ./analyze -run TestWriteHostile -write-hostile syn-flood -hostile-n 1000000 -hostile-out /tmp/syn.pcap

var (
	hostileKind = flag.String("write-hostile", "", "write the hostile capture of this kind to -hostile-out and exit")
	hostileN    = flag.Int("hostile-n", 100000, "size of the hostile capture (packets or segments)")
	hostileOut  = flag.String("hostile-out", "/tmp/hostile.pcap", "where -write-hostile writes")
)

// hostileServer is the address hostile traffic goes to.
var hostileServer = netip.MustParseAddrPort("198.19.255.1:443")

// hostileStart is the time of the first hostile packet.
var hostileStart = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// randomSource returns a random address in 198.18.0.0/16 and a random
// ephemeral port.
func randomSource(r *rand.Rand) netip.AddrPort {
	v := r.Uint32()
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(v >> 8), byte(v)}), uint16(1024+v>>16%60000))
}

// appendOpts encodes MPTCP options padded with NOPs to 4 bytes.
func appendOpts(b []byte, opts ...interface{ Append([]byte) ([]byte, error) }) []byte {
	for _, o := range opts {
		var err error
		if b, err = o.Append(b); err != nil {
			panic(err)
		}
	}
	for len(b)%4 != 0 {
		b = append(b, 1)
	}
	return b
}

// hostileGens are the generators by name; n is the size (packets, or
// segments of the attack). Each emits IPv4 packets in capture order.
var hostileGens = map[string]func(n int, emit func(time.Time, []byte)){
	// SYNs with MP_CAPABLE (v1) from random sources, never answered.
	"syn-flood": func(n int, emit func(time.Time, []byte)) {
		r := rand.New(rand.NewPCG(1, 2))
		opts := appendOpts(nil, &option.MPCapable{Version: option.V1, Flags: option.CapHMACSHA256})
		var pkt []byte
		ts := hostileStart
		for range n {
			pkt = synth.Packet(pkt[:0], randomSource(r), hostileServer, r.Uint32(), 0, header.TCPFlagSYN, opts, nil)
			emit(ts, pkt)
			ts = ts.Add(10 * time.Microsecond)
		}
	},
	// MP_JOIN SYNs to random tokens no connection has, from random sources.
	"join-flood": func(n int, emit func(time.Time, []byte)) {
		r := rand.New(rand.NewPCG(3, 4))
		var pkt, opts []byte
		ts := hostileStart
		for range n {
			opts = appendOpts(opts[:0], &option.MPJoin{Stage: option.JoinSYN, Token: r.Uint32(), Nonce: r.Uint32(), AddrID: 1})
			pkt = synth.Packet(pkt[:0], randomSource(r), hostileServer, r.Uint32(), 0, header.TCPFlagSYN, opts, nil)
			emit(ts, pkt)
			ts = ts.Add(10 * time.Microsecond)
		}
	},
	// One data segment each on n subflows whose handshake is not in the
	// capture, with random 64-bit DSNs: each is a connection seen late.
	"orphan-data": func(n int, emit func(time.Time, []byte)) {
		r := rand.New(rand.NewPCG(5, 6))
		data := payload(100, 7)
		var pkt, opts []byte
		ts := hostileStart
		for range n {
			opts = appendOpts(opts[:0], &option.DSS{Flags: option.DSSMapping | option.DSSDSN8 | option.DSSDataACK | option.DSSDataACK8,
				DSN: r.Uint64(), DataACK: r.Uint64(), SubflowSeq: 1, DataLen: uint16(len(data))})
			pkt = synth.Packet(pkt[:0], randomSource(r), hostileServer, r.Uint32(), r.Uint32(), header.TCPFlagACK, opts, data)
			emit(ts, pkt)
			ts = ts.Add(10 * time.Microsecond)
		}
	},
	// One connection whose client sends n 10-byte segments, each with its
	// mapping, last first: every segment waits for all before it.
	"reverse": func(n int, emit func(time.Time, []byte)) {
		c := synth.New(0x7171, 0x7272, emit)
		c.Now = hostileStart
		s := c.Handshake(netip.MustParseAddrPort("198.18.0.1:40000"), hostileServer)
		const seg = 10
		base, seq0, dsn0 := s.Seq[0], s.Seq[0], c.DSN[0]
		data := payload(n*seg, 8)
		for i := n - 1; i >= 0; i-- {
			d := data[i*seg : (i+1)*seg]
			s.Seq[0] = seq0 + uint32(i*seg)
			s.SendRaw(0, header.TCPFlagACK, d, s.Mapping(0, dsn0+uint64(i*seg), d, false))
		}
		s.Seq[0] = base + uint32(n*seg)
		c.DSN[0] = dsn0 + uint64(n*seg)
		s.DataFIN(0)
		s.DataFIN(1)
		s.Close()
	},
	// One connection whose first data byte never comes: n 1-byte segments
	// after it, each with its mapping, wait for it (the memory cap).
	"tiny-ooo": func(n int, emit func(time.Time, []byte)) {
		c := synth.New(0x8181, 0x8282, emit)
		c.Now = hostileStart
		s := c.Handshake(netip.MustParseAddrPort("198.18.0.1:40000"), hostileServer)
		s.Send(0, []byte{'x'}) // the MP_CAPABLE data
		lost := c.Emit
		c.Emit = nil
		s.Send(0, []byte{'y'}) // never captured
		c.Emit = lost
		b := []byte{0}
		for i := range n {
			b[0] = byte(i)
			s.Send(0, b)
		}
	},
	// A 200 KB transfer with two forged RSTs (random sequence numbers,
	// acknowledging nothing) after 10 KB, one in each direction.
	"rst-evasion": func(n int, emit func(time.Time, []byte)) {
		rstEvasion(emit)
	},
}

// rstEvasion is the forged-RST capture: the real transfer is
// payload(200000, 9) from the client, in 1000-byte segments.
func rstEvasion(emit func(time.Time, []byte)) (sent []byte) {
	r := rand.New(rand.NewPCG(9, 10))
	c := synth.New(0x9191, 0x9292, emit)
	c.Now = hostileStart
	s := c.Handshake(netip.MustParseAddrPort("198.18.0.1:40000"), hostileServer)
	sent = payload(200000, 9)
	var pkt []byte
	for i := 0; i < len(sent); i += 1000 {
		if i == 10000 {
			for d := range 2 {
				pkt = synth.Packet(pkt[:0], s.Addr[d], s.Addr[1-d], r.Uint32(), 0, header.TCPFlagRST, nil, nil)
				emit(c.Now, pkt)
			}
		}
		s.Send(0, sent[i:i+1000])
	}
	s.DataFIN(0)
	s.DataFIN(1)
	s.Close()
	return sent
}

// TestWriteHostile writes one hostile capture (only with -write-hostile).
func TestWriteHostile(t *testing.T) {
	if *hostileKind == "" {
		t.Skip("no -write-hostile")
	}
	gen := hostileGens[*hostileKind]
	if gen == nil {
		keys := make([]string, 0, len(hostileGens))
		for k := range hostileGens {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.Fatalf("unknown -write-hostile %q; kinds: %v", *hostileKind, keys)
	}
	f, err := os.Create(*hostileOut)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := capture.NewPcapWriter(f, capture.LinkTypeRaw, capture.PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gen(*hostileN, func(ts time.Time, p []byte) {
		if err := w.WritePacket(capture.Packet{Timestamp: ts, LinkType: capture.LinkTypeRaw, Data: p, CaptureLength: len(p), Length: len(p)}); err != nil {
			t.Fatal(err)
		}
	})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestSYNFloodBounded: a flood of MP_CAPABLE SYNs from random sources
// around a real connection costs a bounded table (attempts, no
// connections), is summarised as one finding with the top sources and the
// count given up, and the real connection is analyzed in full.
func TestSYNFloodBounded(t *testing.T) {
	const flood, limit = 20000, 500
	a := New(Config{Hash: true, MaxHalfOpen: limit})
	maxTable, maxConns := 0, 0
	feed := func(ts time.Time, p []byte) {
		a.Packet(ts, p)
		maxTable = max(maxTable, len(a.half.m))
		maxConns = max(maxConns, a.conns.live())
	}
	var pkts [][]byte
	var tss []time.Time
	hostileGens["syn-flood"](flood, func(ts time.Time, p []byte) {
		pkts = append(pkts, slices.Clone(p))
		tss = append(tss, ts)
	})
	for _, p := range pkts[:flood/2] {
		feed(tss[0], p)
	}
	// The real connection, in the middle of the flood.
	c := synth.New(0x4141, 0x4242, feed)
	c.Now = tss[flood/2]
	s := c.Handshake(cli1, srv1)
	d := payload(50000, 1)
	for i := 0; i < len(d); i += 1000 {
		s.Send(0, d[i:i+1000])
	}
	for i, p := range pkts[flood/2:] {
		feed(tss[flood/2+i], p)
	}
	s.DataFIN(0)
	s.DataFIN(1)
	s.Close()
	r := a.Finish()
	if maxTable > limit || maxConns > 1 {
		t.Errorf("held %d attempts (limit %d) and %d connections at most", maxTable, limit, maxConns)
	}
	if len(r.Connections) != 1 || r.Connections[0].Streams[0].SHA256 != sha(d) {
		t.Fatalf("%d connections; the real one must be whole", len(r.Connections))
	}
	var o *Orphan
	for i := range r.Orphans {
		if r.Orphans[i].Kind == OrphanSYN {
			o = &r.Orphans[i]
		}
	}
	if o == nil || o.Subflows != flood || o.Segments != flood || len(o.Sources) == 0 {
		t.Fatalf("orphans %+v", r.Orphans)
	}
	var f *Finding
	for i := range r.Findings {
		if r.Findings[i].Code == CodeSYNUnanswered {
			f = &r.Findings[i]
		}
	}
	if f == nil || f.Severity != Warning || !contains(f.Message, fmt.Sprintf("%d connection attempts", flood)) ||
		!contains(f.Message, "given up before the end") || !contains(f.Message, o.Sources[0].Addr.String()) {
		t.Errorf("finding %+v", f)
	}
}

// TestAttemptsAgeOut: attempts older than halfOpenIdle are given up as
// time goes on (a long capture with scattered unanswered SYNs holds few).
func TestAttemptsAgeOut(t *testing.T) {
	a := New(Config{})
	r := rand.New(rand.NewPCG(1, 1))
	opts := appendOpts(nil, &option.MPCapable{Version: option.V1, Flags: option.CapHMACSHA256})
	ts := hostileStart
	most := 0
	for range 1000 {
		a.Packet(ts, synth.Packet(nil, randomSource(r), hostileServer, r.Uint32(), 0, header.TCPFlagSYN, opts, nil))
		most = max(most, a.held())
		ts = ts.Add(time.Minute)
	}
	if most > 3 {
		t.Errorf("%d attempts held at once, one a minute for 2 minutes", most)
	}
	res := a.Finish()
	if len(res.Orphans) != 1 || res.Orphans[0].Subflows != 1000 {
		t.Errorf("orphans %+v", res.Orphans)
	}
	for _, f := range res.Findings {
		if f.Code == CodeSYNUnanswered && f.Severity != Info {
			t.Errorf("no flood, but %+v", f)
		}
	}
}

// TestAttemptRefusedAndForgedRST: a SYN refused with a RST that
// acknowledges it is an orphan (syn_refused), not a connection; a RST that
// does not acknowledge the SYN is not acceptable (RFC 9293 §3.10.7.3) and
// the connection that follows is analyzed.
func TestAttemptRefusedAndForgedRST(t *testing.T) {
	rec, a := newRec(Config{})
	c := synth.New(0x5353, 0x5454, nil)
	c.Emit = func(ts time.Time, p []byte) {
		rec.emit(ts, p)
		if tcp := header.TCP(p[20:]); tcp.Flags() == header.TCPFlagSYN {
			// The server refuses the first attempt on another port, and
			// someone forges a RST on this one.
			q := synth.Packet(nil, srv1, netip.AddrPortFrom(cli1.Addr(), 1), 0, tcp.Seq()+1, header.TCPFlagRST|header.TCPFlagACK, nil, nil)
			syn := synth.Packet(nil, netip.AddrPortFrom(cli1.Addr(), 1), srv1, tcp.Seq(), 0, header.TCPFlagSYN, tcp.Options(), nil)
			rec.emit(ts, syn)
			rec.emit(ts, q)
			rec.emit(ts, synth.Packet(nil, srv1, cli1, 12345, 999, header.TCPFlagRST|header.TCPFlagACK, nil, nil))
		}
	}
	s := c.Handshake(cli1, srv1)
	d := payload(5000, 2)
	s.Send(0, d)
	s.DataFIN(0)
	r := a.Finish()
	if len(r.Connections) != 1 || r.Connections[0].Streams[0].SHA256 != sha(d) {
		t.Fatalf("connections %+v", r.Connections)
	}
	if len(r.Orphans) != 1 || r.Orphans[0].Kind != OrphanSYNRefused || !hasFinding(r.Findings, CodeSYNRefused) {
		t.Errorf("orphans %+v findings %+v", r.Orphans, r.Findings)
	}
}

// TestJoinFloodUnknownTokens: MP_JOIN SYNs to tokens no connection has are
// one warning with counts and sources, not connections.
func TestJoinFloodUnknownTokens(t *testing.T) {
	a := New(Config{MaxHalfOpen: 100})
	most := 0
	hostileGens["join-flood"](5000, func(ts time.Time, p []byte) {
		a.Packet(ts, p)
		most = max(most, a.held())
	})
	r := a.Finish()
	if most > 100 {
		t.Errorf("%d attempts, subflows and connections held at once (bound 100)", most)
	}
	if len(r.Connections) != 0 || len(r.Orphans) != 1 || r.Orphans[0].Kind != OrphanJoinSYN || r.Orphans[0].Subflows != 5000 {
		t.Fatalf("%d connections, orphans %+v", len(r.Connections), r.Orphans)
	}
	if !hasFinding(r.Findings, CodeJoinNoConn) {
		t.Errorf("findings %+v", r.Findings)
	}
}

// TestJoinUnansweredKnownToken: joins to a connection's token that get no
// answer are one finding on that connection, not subflows.
func TestJoinUnansweredKnownToken(t *testing.T) {
	rec, a := newRec(Config{})
	c := synth.New(0x6363, 0x6464, rec.emit)
	s1 := c.Handshake(cli1, srv1)
	s1.Send(0, payload(100, 1))
	opts := appendOpts(nil, &option.MPJoin{Stage: option.JoinSYN, Token: synth.Token(c.Keys[1]), Nonce: 7, AddrID: 2})
	for i := range 50 {
		p := synth.Packet(nil, netip.AddrPortFrom(cli2.Addr(), uint16(50000+i)), srv1, 1000, 0, header.TCPFlagSYN, opts, nil)
		a.Packet(c.Now, p)
		a.Packet(c.Now, p) // retransmitted
	}
	r := a.Finish()
	cn := r.Connections[0]
	if len(r.Connections) != 1 || len(cn.Subflows) != 1 {
		t.Fatalf("%d connections, %d subflows", len(r.Connections), len(cn.Subflows))
	}
	var f *Finding
	for i := range cn.Findings {
		if cn.Findings[i].Code == CodeJoinUnanswered {
			f = &cn.Findings[i]
		}
	}
	if f == nil || !contains(f.Message, "50 MP_JOIN attempts (100 SYNs)") {
		t.Errorf("findings %+v", cn.Findings)
	}
}

// TestLooseSubflowsBounded: segments with MPTCP options on 4-tuples of no
// connection (a flood of DATA_ACKs) are counted with the orphans; the flow
// table holds a bounded number of them.
func TestLooseSubflowsBounded(t *testing.T) {
	a := New(Config{MaxHalfOpen: 200})
	r := rand.New(rand.NewPCG(2, 2))
	opts := appendOpts(nil, &option.DSS{Flags: option.DSSDataACK | option.DSSDataACK8, DataACK: 1})
	most := 0
	for range 10000 {
		a.Packet(hostileStart, synth.Packet(nil, randomSource(r), hostileServer, r.Uint32(), r.Uint32(), header.TCPFlagACK, opts, nil))
		most = max(most, len(a.flows))
	}
	res := a.Finish()
	if most > 200 {
		t.Errorf("%d flows held (bound 200)", most)
	}
	if len(res.Orphans) != 1 || res.Orphans[0].Segments != 10000 || !hasFinding(res.Findings, CodeTableFull) {
		t.Errorf("orphans %+v findings %+v", res.Orphans, res.Findings)
	}
}

// TestAttemptIDsInPacketView: the per-packet view shows an attempt's SYN
// with the connection and subflow IDs it gets when answered, and
// MinOpenID counts the attempt.
func TestAttemptIDsInPacketView(t *testing.T) {
	var seen []PacketInfo
	a := New(Config{OnPacket: func(p *PacketInfo) { seen = append(seen, *p) }})
	c := synth.New(0x7373, 0x7474, a.Packet)
	c.Emit = func(ts time.Time, p []byte) {
		a.Packet(ts, p)
		if len(seen) == 1 && a.MinOpenID() != 1 {
			t.Errorf("MinOpenID %d while the SYN waits", a.MinOpenID())
		}
	}
	s := c.Handshake(cli1, srv1)
	s.Send(0, payload(10, 1))
	r := a.Finish()
	if len(seen) != 4 || len(r.Connections) != 1 {
		t.Fatalf("%d packets, %d connections", len(seen), len(r.Connections))
	}
	for _, p := range seen {
		if p.Conn != r.Connections[0].ID || p.Subflow != r.Connections[0].Subflows[0].ID {
			t.Errorf("packet %d: conn %d subflow %d, want %d %d", p.Index, p.Conn, p.Subflow, r.Connections[0].ID, r.Connections[0].Subflows[0].ID)
		}
	}
	if sf := r.Connections[0].Subflows[0]; sf.Dirs[0].Packets != 3 || !sf.FirstSeen.Equal(seen[0].Time) {
		t.Errorf("subflow %+v", sf)
	}
}

// held is how many attempts, flow entries and connections a holds.
func (a *Analyzer) held() int { return len(a.half.m) + len(a.flows) + a.conns.live() }

// TestForgedRSTsIgnored: two RSTs with random sequence numbers that
// acknowledge nothing (an IDS evasion: the receiver drops them, an
// analyzer that takes them stops looking) do not end the subflow: the
// whole transfer is delivered, each RST is counted and reported, and the
// per-packet view agrees with the summary.
func TestForgedRSTsIgnored(t *testing.T) {
	var pkts []PacketInfo
	a := New(Config{Hash: true, OnPacket: func(p *PacketInfo) { pkts = append(pkts, *p) }})
	sent := rstEvasion(a.Packet)
	r := a.Finish()
	if len(r.Connections) != 1 {
		t.Fatalf("%d connections", len(r.Connections))
	}
	cn := r.Connections[0]
	if st := cn.Streams[0]; st.SHA256 != sha(sent) || len(st.Holes) != 0 {
		t.Errorf("stream: %d of %d bytes, holes %v", st.Bytes, len(sent), st.Holes)
	}
	sf := cn.Subflows[0]
	if sf.End == "rst" || sf.Dirs[0].RSTIgnored+sf.Dirs[1].RSTIgnored != 2 || sf.Dirs[0].RST || sf.Dirs[1].RST {
		t.Errorf("subflow end %q, dirs %+v", sf.End, sf.Dirs)
	}
	if !hasFinding(cn.Findings, CodeRSTIgnored) || cn.End != "data_fin" {
		t.Errorf("end %q, findings %+v", cn.End, cn.Findings)
	}
	var n, flagged uint64
	for _, p := range pkts {
		if p.Conn == cn.ID && p.Subflow == sf.ID {
			n++
		}
		if p.Analysis&PacketRSTIgnored != 0 {
			flagged++
		}
	}
	if n != sf.Dirs[0].Packets+sf.Dirs[1].Packets || flagged != 2 {
		t.Errorf("per-packet view: %d packets of the subflow (summary %d), %d flagged rst_ignored",
			n, sf.Dirs[0].Packets+sf.Dirs[1].Packets, flagged)
	}
}

// TestRSTAtExpectedSequenceAccepted: a RST at the next sequence number
// ends the subflow (RFC 5961 §3.2); new data after the connection ended
// is analyzed as a connection of its own with a data_after_end finding.
func TestRSTAtExpectedSequenceAccepted(t *testing.T) {
	var done []Connection
	rec, a := newRec(Config{OnConnection: func(c Connection) { done = append(done, c) }})
	c := synth.New(0xabab, 0xcdcd, rec.emit)
	s := c.Handshake(cli1, srv1)
	d := payload(8000, 3)
	s.Send(0, d[:4000])
	s.Reset(0)
	if len(done) != 1 || done[0].End != "reset" || done[0].Subflows[0].End != "rst" {
		t.Fatalf("after the RST: %+v", done)
	}
	s.Send(0, d[4000:])
	r := a.Finish()
	if len(r.Connections) != 0 || len(done) != 2 {
		t.Fatalf("%d connections handed over", len(done))
	}
	after := done[1]
	if !hasFinding(after.Findings, CodeDataAfterEnd) || after.Streams[0].Bytes == 0 {
		t.Errorf("after the end: %+v", after)
	}
}

// TestConnectionCapEvictsLeastRecent: handshakes that never end (crafted
// in numbers) are given up least recently active first past
// MaxConnections; a connection that keeps carrying data is never the one,
// and is delivered whole.
func TestConnectionCapEvictsLeastRecent(t *testing.T) {
	const limit = 50
	var handed []Connection
	a := New(Config{Hash: true, MaxConnections: limit, OnConnection: func(c Connection) { handed = append(handed, c) }})
	most := 0
	feed := func(ts time.Time, p []byte) {
		a.Packet(ts, p)
		most = max(most, a.conns.open.Len())
	}
	live := synth.New(0xeeee, 0xffff, feed)
	s := live.Handshake(cli1, srv1)
	d := payload(500*200, 4)
	for i := range 500 {
		c := synth.New(uint64(0x10000+i), uint64(0x20000+i), feed)
		c.Now = live.Now
		c.Handshake(netip.AddrPortFrom(cli2.Addr(), uint16(30000+i)), srv2)
		live.Now = c.Now
		s.Send(0, d[i*200:(i+1)*200])
	}
	s.DataFIN(0)
	s.DataFIN(1)
	s.Close()
	a.Finish()
	if most > limit {
		t.Errorf("%d connections open at once (limit %d)", most, limit)
	}
	var got *Connection
	evicted := 0
	for i := range handed {
		if handed[i].Client == cli1 {
			got = &handed[i]
		} else if hasFinding(handed[i].Findings, CodeTableFull) {
			evicted++
		}
	}
	if got == nil || got.Streams[0].SHA256 != sha(d) || hasFinding(got.Findings, CodeTableFull) {
		t.Fatalf("the active connection was not kept whole: %+v", got)
	}
	if evicted < 500-limit {
		t.Errorf("%d connections given up, want at least %d", evicted, 500-limit)
	}
}

// TestFinishHonoursContext: Finish stops handing connections over when its
// context is done (SIGTERM during the end of a big capture).
func TestFinishHonoursContext(t *testing.T) {
	handed := 0
	a := New(Config{OnConnection: func(Connection) { handed++ }})
	for i := range 2000 {
		c := synth.New(uint64(0x30000+i), uint64(0x40000+i), a.Packet)
		s := c.Handshake(netip.AddrPortFrom(cli2.Addr(), uint16(20000+i)), srv2)
		s.Send(0, payload(10, uint64(i)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := a.FinishContext(ctx)
	if !errors.Is(err, context.Canceled) || handed > 256 || len(r.Connections)+handed != 2000 {
		t.Errorf("err %v, %d handed over, %d in the result", err, handed, len(r.Connections))
	}
}

// TestTimestampOutOfRange: a packet dated past the year 9999 (a corrupt
// pcapng if_tsresol/if_tsoffset) is analyzed at the time of the one before
// and reported; the result still encodes as JSON.
func TestTimestampOutOfRange(t *testing.T) {
	a := New(Config{})
	c := synth.New(0x1212, 0x3434, nil)
	n := 0
	c.Emit = func(ts time.Time, p []byte) {
		n++
		if n == 4 {
			ts = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		a.Packet(ts, p)
	}
	s := c.Handshake(cli1, srv1)
	s.Send(0, payload(100, 1))
	s.Send(0, payload(100, 2))
	r := a.Finish()
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if !hasFinding(r.Findings, CodeTimestamp) || r.Last.Year() > 9999 {
		t.Errorf("findings %+v, last %v", r.Findings, r.Last)
	}
}

// TestJoinWithoutHMACNotMerged: a join to a known connection whose
// SYN/ACK and third ACK are not in the capture (or never existed: a
// forged join with a sniffed token) proves nothing: its data is not
// merged, a join_unverified warning says so, and what the stream lacks is
// a hole, not the join's bytes.
func TestJoinWithoutHMACNotMerged(t *testing.T) {
	rec, a := newRec(Config{})
	rec.drop = func(i int, p []byte) bool {
		return i == 5 || i == 6 // the join's SYN/ACK and third ACK
	}
	c := synth.New(0x5656, 0x5757, rec.emit)
	s1 := c.Handshake(cli1, srv1)
	s2 := c.Join(cli2, srv2, synth.JoinOptions{})
	d := payload(3000, 1)
	s1.Send(0, d[:1000])
	s2.Send(0, d[1000:2000]) // the join's data
	s1.Send(0, d[2000:])
	s1.DataFIN(0)
	r := a.Finish()
	cn := r.Connections[0]
	if !hasFinding(cn.Findings, CodeJoinUnverified) {
		t.Errorf("findings %+v", cn.Findings)
	}
	st := cn.Streams[0]
	if st.Bytes != 2000 || len(st.Holes) != 1 || st.Holes[0].Offset != 1000 || st.Holes[0].Size != 1000 {
		t.Errorf("stream: %d bytes, holes %v", st.Bytes, st.Holes)
	}
}

// TestRejectedJoinsBounded: a thousand joins with a bad HMAC are each
// rejected (their data never merged), the first 64 listed, the rest one
// error with counts and sources; their flow entries stay bounded.
func TestRejectedJoinsBounded(t *testing.T) {
	a := New(Config{Hash: true, MaxHalfOpen: 100})
	most := 0
	c := synth.New(0x6767, 0x6868, func(ts time.Time, p []byte) {
		a.Packet(ts, p)
		most = max(most, len(a.flows))
	})
	s1 := c.Handshake(cli1, srv1)
	d := payload(1000, 1)
	s1.Send(0, d)
	for i := range 1000 {
		s := c.Join(netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 50, byte(i % 7)}), uint16(30000+i)), srv1, synth.JoinOptions{BadHMAC: true})
		s.SendAt(0, c.DSN[0]-1000, payload(1000, 2)) // forged data over what was sent
	}
	s1.DataFIN(0)
	r := a.Finish()
	if len(r.Rejected) != maxRejectedListed || most > maxRejectedListed+100+2 {
		t.Errorf("%d rejected listed, %d flows at most", len(r.Rejected), most)
	}
	found := false
	for _, f := range r.Findings {
		if f.Code == CodeJoinHMAC && contains(f.Message, fmt.Sprintf("%d more joins", 1000-maxRejectedListed)) && contains(f.Message, "198.18.50.") {
			found = true
		}
	}
	if !found {
		t.Errorf("findings %+v", r.Findings)
	}
	if st := r.Connections[0].Streams[0]; st.SHA256 != sha(d) || st.ConflictBytes != 0 {
		t.Errorf("stream %+v", st)
	}
}

// TestTopSourcesFindHeavySender: a flood's heaviest sender is found even
// when it starts after thousands of made-up sources (more than are
// counted one by one).
func TestTopSourcesFindHeavySender(t *testing.T) {
	a := New(Config{MaxHalfOpen: 100})
	r := rand.New(rand.NewPCG(9, 9))
	opts := appendOpts(nil, &option.MPCapable{Version: option.V1, Flags: option.CapHMACSHA256})
	heavy := netip.MustParseAddr("198.19.7.7")
	for i := range 20000 {
		src := randomSource(r)
		if i > 5000 && i%4 == 0 {
			src = netip.AddrPortFrom(heavy, uint16(i))
		}
		a.Packet(hostileStart, synth.Packet(nil, src, hostileServer, r.Uint32(), 0, header.TCPFlagSYN, opts, nil))
	}
	res := a.Finish()
	if len(res.Orphans) != 1 || len(res.Orphans[0].Sources) == 0 || res.Orphans[0].Sources[0].Addr != heavy ||
		res.Orphans[0].Sources[0].Segments < 3749 {
		t.Errorf("orphans %+v", res.Orphans)
	}
}

// TestForgedFastcloseIgnored: an MP_FASTCLOSE whose key is not the
// receiver's is an error and does not end the connection (RFC 8684 §3.5):
// what follows is analyzed.
func TestForgedFastcloseIgnored(t *testing.T) {
	rec, a := newRec(Config{})
	c := synth.New(0xfafa, 0xfbfb, rec.emit)
	s := c.Handshake(cli1, srv1)
	d := payload(6000, 1)
	s.Send(0, d[:3000])
	s.SendRaw(0, header.TCPFlagACK, nil, &option.MPFastclose{ReceiverKey: 0xbad})
	s.Send(0, d[3000:])
	s.DataFIN(0)
	r := a.Finish()
	cn := r.Connections[0]
	if cn.End == "fastclose" || cn.Streams[0].SHA256 != sha(d) || !hasFinding(cn.Findings, CodeFastclose) {
		t.Errorf("end %q, %d bytes, findings %+v", cn.End, cn.Streams[0].Bytes, cn.Findings)
	}
}
