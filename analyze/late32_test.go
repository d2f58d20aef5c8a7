package analyze

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/header"
)

// Tests of the grouping rule for late-captured subflows with 32-bit DSNs
// and no address in common with their connection's others (late32.go).

// disjointAddr returns the i-th address of a set no other test address
// shares: client ends in 198.18.100.0/22, server ends in 198.19.100.0/22.
func disjointAddr(server bool, i int, port uint16) netip.AddrPort {
	b := byte(18)
	if server {
		b = 19
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, b, byte(100 + i/250), byte(1 + i%250)}), port)
}

// late32Step is one burst of data: on subflow sub (1 or 2), in the
// connection's direction dir, n bytes in segs segments under one mapping.
type late32Step struct {
	sub, dir, n, segs int
	fin               bool // a DATA_FIN after the data, in the same mapping
}

// late32Conn records a connection with DSN32 whose second subflow shares
// no address with the first, runs steps after the handshakes and returns
// the packets from the first step on and what each connection direction
// carried from there. s2 opens the second subflow (nil: a join from a
// disjoint client to a disjoint server).
func late32Conn(t *testing.T, steps []late32Step, s2 func(c *synth.Conn) *synth.Subflow, v6 bool) (rec *recorder, start int, sent [2][]byte) {
	t.Helper()
	rec = &recorder{}
	c := synth.New(0x3232a, 0x3232b, rec.emit)
	c.DSN32 = true
	cl, sv := cli1, srv1
	if v6 {
		cl, sv = v6c, v6s
	}
	s1 := c.Handshake(cl, sv)
	var sub2 *synth.Subflow
	switch {
	case s2 != nil:
		sub2 = s2(c)
	case v6:
		sub2 = c.Join(netip.MustParseAddrPort("[2001:db8:77::1]:40001"), netip.MustParseAddrPort("[2001:db8:78::2]:443"), synth.JoinOptions{})
	default:
		sub2 = c.Join(cli2, srv2, synth.JoinOptions{})
	}
	s1.Send(0, payload(10, 1)) // the MP_CAPABLE data
	start = len(rec.pkts)
	sfs := []*synth.Subflow{nil, s1, sub2}
	for i, st := range steps {
		d := payload(st.n, uint64(100+i))
		sf := sfs[st.sub]
		end := st.dir
		if sf.Reversed {
			end = 1 - end
		}
		if st.fin {
			sf.SendRaw(end, header.TCPFlagACK, d, sf.Mapping(end, c.DSN[st.dir], d, true))
			c.DSN[st.dir] += uint64(len(d)) + 1
		} else {
			sendMapped(c, sf, end, d, st.segs)
		}
		sent[st.dir] = append(sent[st.dir], d...)
	}
	return rec, start, sent
}

// alternate returns n steps of size bytes (segs segments each) from the
// connection's end dir, on subflows 1 and 2 in turn.
func alternate(n, size, segs, dir int) []late32Step {
	var s []late32Step
	for i := range n {
		s = append(s, late32Step{sub: 1 + i%2, dir: dir, n: size, segs: segs})
	}
	return s
}

// TestLate32DisjointGrouped: a capture that starts after the handshakes,
// 32-bit DSNs, the second subflow on addresses the first does not use.
// The second subflow is grouped with the first (after agree32Needed
// mappings agreed and its bytes filled the connection's gaps), the
// regrouped event says why, and both streams are the bytes sent.
func TestLate32DisjointGrouped(t *testing.T) {
	both := alternate(12, 1000, 1, 0)
	for i, st := range alternate(12, 1400, 1, 1) {
		both = append(both[:2*i+1], append([]late32Step{st}, both[2*i+1:]...)...)
	}
	for _, tc := range []struct {
		name  string
		steps []late32Step
		s2    func(c *synth.Conn) *synth.Subflow
		v6    bool
	}{
		{name: "one mapping a segment, up", steps: alternate(16, 1000, 1, 0)},
		{name: "one mapping a segment, down", steps: append([]late32Step{{sub: 1, n: 100, segs: 1}}, alternate(16, 1200, 1, 1)...)},
		{name: "both directions", steps: both},
		{name: "mappings of several segments", steps: alternate(14, 8000, 4, 0)},
		{name: "ipv6", steps: alternate(16, 1000, 1, 0), v6: true},
		{name: "DATA_FIN in a held mapping", steps: append(alternate(7, 1000, 1, 0), late32Step{sub: 2, n: 500, segs: 1, fin: true})},
		{name: "second subflow seen the other way round", steps: alternate(16, 1000, 1, 0),
			s2: func(c *synth.Conn) *synth.Subflow {
				// Its client's port is the lower: without the SYN the
				// analyzer takes that end for the server.
				return c.Join(netip.MustParseAddrPort("198.18.2.1:80"), netip.MustParseAddrPort("198.18.2.2:50000"), synth.JoinOptions{})
			}},
		{name: "second subflow opened by the server", steps: alternate(16, 1000, 1, 0),
			s2: func(c *synth.Conn) *synth.Subflow {
				return c.Join(srv2, cli2, synth.JoinOptions{Reversed: true})
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, start, sent := late32Conn(t, tc.steps, tc.s2, tc.v6)
			a := New(Config{Hash: true})
			rec.replay(a, start)
			r := a.Finish()
			if len(r.Connections) != 1 {
				for _, cn := range r.Connections {
					t.Logf("conn %d grouped %s, %d subflows, findings %+v", cn.ID, cn.GroupedBy, len(cn.Subflows), cn.Findings)
				}
				t.Fatalf("%d connections, want 1", len(r.Connections))
			}
			cn := r.Connections[0]
			if cn.GroupedBy != "dsn" || cn.Verified || len(cn.Subflows) != 2 {
				t.Errorf("grouped by %q, verified %v, %d subflows", cn.GroupedBy, cn.Verified, len(cn.Subflows))
			}
			regrouped := 0
			for _, e := range cn.Events {
				if e.Type == "regrouped" {
					regrouped++
					if !strings.Contains(e.Detail, fmt.Sprintf("%d mappings in a row agreed", agree32Needed)) {
						t.Errorf("regrouped event without the evidence: %q", e.Detail)
					}
				}
			}
			if regrouped != 1 {
				t.Errorf("%d regrouped events, want 1: %+v", regrouped, cn.Events)
			}
			for _, f := range cn.Findings {
				if f.Severity != Info {
					t.Errorf("finding %+v", f)
				}
			}
			for d := range 2 {
				if st := cn.Streams[d]; st.SHA256 != sha(sent[d]) || len(st.Holes) != 0 || st.Bytes != uint64(len(sent[d])) {
					t.Errorf("dir %d: %d bytes (want %d), holes %v", d, st.Bytes, len(sent[d]), st.Holes)
				}
			}
			if last := tc.steps[len(tc.steps)-1]; last.fin {
				if st := cn.Streams[last.dir]; !st.DataFIN || st.FinOffset != uint64(len(sent[last.dir])) {
					t.Errorf("DATA_FIN %v at %d, want at %d", st.DataFIN, st.FinOffset, len(sent[last.dir]))
				}
			}
		})
	}
}

// crowdConn is one connection of TestLate32CrowdStaysApart.
type crowdConn struct {
	c    *synth.Conn
	sfs  []*synth.Subflow
	sent [2][]byte
	next int
}

// TestLate32CrowdStaysApart: many concurrent, unrelated connections with
// 32-bit DSNs that collide on purpose (the same DSNs and DATA_ACKs as
// another connection, one or two chunks ahead or behind, a few bytes
// off), every subflow on addresses no other uses, captured after the
// handshakes, in lockstep with the same chunk size. Connections with two
// subflows have their second one grouped with their first; no subflow
// is ever grouped with another connection's, and every stream is the
// bytes its connection sent.
func TestLate32CrowdStaysApart(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("order", seed), func(t *testing.T) { late32Crowd(t, seed) })
	}
}

func late32Crowd(t *testing.T, seed uint64) {
	const chunk = 1000
	rec := &recorder{}
	var conns []*crowdConn
	addr := 0
	newConn := func(key uint64, off0, off1 int64, subflows int) *crowdConn {
		c := synth.New(key, key^0xffff, rec.emit)
		c.DSN32 = true
		c.DSN[0] = uint64(int64(0x7000_0000) + off0)
		c.DSN[1] = uint64(int64(0x2000_0000) + off1)
		x := &crowdConn{c: c}
		for range subflows {
			cl, sv := disjointAddr(false, addr, uint16(40000+addr)), disjointAddr(true, addr, 443)
			addr++
			if len(x.sfs) == 0 {
				x.sfs = append(x.sfs, c.Handshake(cl, sv))
				x.sfs[0].Send(0, payload(10, key)) // the MP_CAPABLE data
			} else {
				x.sfs = append(x.sfs, c.Join(cl, sv, synth.JoinOptions{}))
			}
		}
		conns = append(conns, x)
		return x
	}
	// Connections with two subflows, DSNs 7 bytes apart, and around
	// each of them single-subflow connections on the same DSNs, one and
	// two chunks ahead and behind, and a few bytes off, with DATA_ACKs
	// as far off, or the same.
	var twos []*crowdConn
	for k := range 12 {
		off := int64(k * 7)
		twos = append(twos, newConn(uint64(0x10000+k), off, off, 2))
		for j, d := range []int64{0, chunk, -chunk, 2 * chunk, -2 * chunk, 3} {
			newConn(uint64(0x20000+16*k+j), off+d, off+d, 1)
			if d != 0 {
				newConn(uint64(0x20008+16*k+j), off+d, off, 1)
			}
		}
	}
	start := len(rec.pkts)
	rng := rand.New(rand.NewPCG(seed, 8))
	for round := range 16 {
		order := rng.Perm(len(conns))
		for _, i := range order {
			x := conns[i]
			sf := x.sfs[x.next%len(x.sfs)]
			x.next++
			for d := range 2 {
				b := payload(chunk-200*d, uint64(round<<20|i<<1|d))
				sendMapped(x.c, sf, d, b, 1)
				x.sent[d] = append(x.sent[d], b...)
			}
		}
	}
	a := New(Config{Hash: true})
	rec.replay(a, start)
	r := a.Finish()
	owner := map[netip.AddrPort]*crowdConn{}
	for _, x := range conns {
		for _, sf := range x.sfs {
			owner[sf.Addr[0]] = x
		}
	}
	seen := map[*crowdConn]int{}
	grouped := 0
	for _, cn := range r.Connections {
		var x *crowdConn
		for _, sf := range cn.Subflows {
			o := owner[sf.Client]
			if o == nil {
				o = owner[sf.Server]
			}
			if x != nil && o != x {
				t.Errorf("conn %d mixes subflows of two connections: %+v", cn.ID, cn.Events)
			}
			x = o
		}
		if x == nil {
			t.Fatalf("conn %d: subflows of no connection", cn.ID)
		}
		seen[x]++
		if len(cn.Subflows) == 2 {
			grouped++
		}
		if len(cn.Subflows) != len(x.sfs) {
			continue
		}
		for d := range 2 {
			if st := cn.Streams[d]; st.SHA256 != sha(x.sent[d]) || len(st.Holes) != 0 {
				t.Errorf("conn %d dir %d: %d bytes (want %d), holes %v", cn.ID, d, st.Bytes, len(x.sent[d]), st.Holes)
			}
		}
		for _, f := range cn.Findings {
			if f.Severity != Info {
				t.Errorf("conn %d: %+v", cn.ID, f)
			}
		}
	}
	for _, x := range twos {
		if seen[x] != 1 {
			t.Errorf("a connection with two subflows is %d connections", seen[x])
			for _, cn := range r.Connections {
				for _, sf := range cn.Subflows {
					if owner[sf.Client] == x {
						t.Logf("conn %d: %+v", cn.ID, cn.Findings)
					}
				}
			}
		}
	}
	released := 0
	for _, cn := range r.Connections {
		for _, f := range cn.Findings {
			if strings.Contains(f.Message, "but was not grouped") {
				released++
			}
		}
	}
	t.Logf("%d connections, %d with two subflows, %d held for a while and released", len(r.Connections), grouped, released)
	if grouped != len(twos) || len(r.Connections) != len(conns) {
		t.Errorf("%d connections (want %d), %d with two subflows (want %d)", len(r.Connections), len(conns), grouped, len(twos))
	}
}

// TestLate32Twins: two connections with two subflows each whose DSNs
// and chunks are identical, so that each second subflow fills both
// connections' gaps exactly. When their DATA_ACKs are identical too, the
// evidence cannot tell them apart: neither second subflow is grouped
// (each stays a connection of its own) and no bytes move between
// connections. When the DATA_ACKs differ (the other direction's data
// sequence), each second subflow is grouped with its own connection.
func TestLate32Twins(t *testing.T) {
	for _, sameACK := range []bool{true, false} {
		rec := &recorder{}
		type twin struct {
			c    *synth.Conn
			sfs  [2]*synth.Subflow
			sent []byte
		}
		var tw [2]*twin
		for k := range tw {
			c := synth.New(uint64(0x900+k), uint64(0x990+k), rec.emit)
			c.DSN32 = true
			c.DSN = [2]uint64{0x5000_0000, 0x6000_0000}
			if !sameACK {
				c.DSN[1] += uint64(k) << 28
			}
			x := &twin{c: c}
			x.sfs[0] = c.Handshake(disjointAddr(false, 4*k, 40000), disjointAddr(true, 4*k, 443))
			x.sfs[0].Send(0, payload(10, 1))
			x.sfs[1] = c.Join(disjointAddr(false, 4*k+1, 40001), disjointAddr(true, 4*k+1, 443), synth.JoinOptions{})
			tw[k] = x
		}
		start := len(rec.pkts)
		for round := range 16 {
			for _, x := range tw {
				b := payload(1000, uint64(round*2+int(x.c.Keys[0])))
				sendMapped(x.c, x.sfs[round%2], 0, b, 1)
				x.sent = append(x.sent, b...)
			}
		}
		a := New(Config{Hash: true})
		rec.replay(a, start)
		r := a.Finish()
		var total [2]uint64
		for _, cn := range r.Connections {
			k := -1
			for _, sf := range cn.Subflows {
				for j, x := range tw {
					for _, s := range x.sfs {
						if s.Addr[0] == sf.Client || s.Addr[0] == sf.Server {
							if k >= 0 && k != j {
								t.Errorf("same DATA_ACKs %v: conn %d mixes the twins' subflows", sameACK, cn.ID)
							}
							k = j
						}
					}
				}
			}
			if k >= 0 {
				total[k] += cn.Streams[0].Bytes
			}
			if !sameACK && (len(cn.Subflows) != 2 || cn.Streams[0].SHA256 != sha(tw[k].sent)) {
				t.Errorf("different DATA_ACKs: conn %d: %d subflows, %d bytes; findings %+v", cn.ID, len(cn.Subflows), cn.Streams[0].Bytes, cn.Findings)
			}
			for _, f := range cn.Findings {
				if f.Code == CodeDataConflict {
					t.Errorf("same DATA_ACKs %v: conn %d: %+v", sameACK, cn.ID, f)
				}
			}
		}
		for k, x := range tw {
			if total[k] != uint64(len(x.sent)) {
				t.Errorf("same DATA_ACKs %v: twin %d: %d bytes delivered, %d sent", sameACK, k, total[k], len(x.sent))
			}
		}
		if n := len(r.Connections); sameACK && n != 4 || !sameACK && n != 2 {
			t.Errorf("same DATA_ACKs %v: %d connections", sameACK, n)
		}
	}
}

// TestLate32OneCoincidenceNotEnough: a connection waits for the bytes of
// a subflow the capture does not have; another connection's first
// mapping fills that gap exactly, with an agreeing DATA_ACK, and nothing
// of it overlaps yet. Its next mappings run over the connection's own
// data: the agreement does not hold over agree32Needed mappings and it
// stays a connection of its own.
func TestLate32OneCoincidenceNotEnough(t *testing.T) {
	rec := &recorder{}
	c := synth.New(0x777, 0x778, rec.emit)
	c.DSN32 = true
	s1 := c.Handshake(cli1, srv1)
	s1.Send(0, payload(10, 1))
	s2 := c.Join(cli2, srv2, synth.JoinOptions{})
	x := synth.New(0x779, 0x77a, rec.emit)
	x.DSN32 = true
	xs := x.Handshake(cli3, netip.MustParseAddrPort("198.18.3.2:443"))
	xs.Send(0, payload(10, 2))
	start := len(rec.pkts)
	gap := c.DSN[0] + 1000
	var sent, xsent []byte
	for i := range 12 {
		b := payload(1000, uint64(10+i))
		if i == 2 {
			// x continues exactly at the first byte c lacks, with c's
			// DATA_ACK.
			x.DSN = [2]uint64{gap, c.DSN[1]}
		}
		if i >= 2 {
			xb := payload(1000, uint64(50+i))
			xs.Send(0, xb)
			xsent = append(xsent, xb...)
		}
		sendMapped(c, []*synth.Subflow{s1, s2}[i%2], 0, b, 1)
		if i%2 == 0 {
			sent = append(sent, b...)
		}
	}
	// The capture lacks s2.
	a := New(Config{Hash: true})
	for i := start; i < len(rec.pkts); i++ {
		if p := rec.pkts[i]; !(netip.AddrFrom4([4]byte(p[12:16])) == cli2.Addr() || netip.AddrFrom4([4]byte(p[16:20])) == cli2.Addr()) {
			a.Packet(rec.ts[i], p)
		}
	}
	r := a.Finish()
	if len(r.Connections) != 2 {
		t.Fatalf("%d connections, want 2", len(r.Connections))
	}
	for _, cn := range r.Connections {
		if len(cn.Subflows) != 1 {
			t.Errorf("conn %d: %d subflows: %+v", cn.ID, len(cn.Subflows), cn.Events)
		}
	}
	if st := r.Connections[1].Streams[0]; st.SHA256 != sha(xsent) {
		t.Errorf("the other connection's stream: %d bytes, want %d", st.Bytes, len(xsent))
	}
	if st := r.Connections[0].Streams[0]; st.Bytes != uint64(len(sent)) || st.HoleBytes != 5000 {
		t.Errorf("the connection's stream: %d bytes (want %d), holes %+v", st.Bytes, len(sent), st.Holes)
	}
}

// TestLate32UntrackedRivalBlocks: a held subflow follows at most
// maxCands32 candidates. Identical twins (same DSNs, DATA_ACKs, chunks),
// each second subflow held: if the rival twin is not among the followed
// candidates (more connections fitted than it follows), the decision
// still finds it (unique32) and does not merge.
func TestLate32UntrackedRivalBlocks(t *testing.T) {
	rec := &recorder{}
	var sfs [2][2]*synth.Subflow
	var cs [2]*synth.Conn
	for k := range cs {
		c := synth.New(uint64(0x900+k), uint64(0x990+k), rec.emit)
		c.DSN32 = true
		c.DSN = [2]uint64{0x5000_0000, 0x6000_0000}
		sfs[k][0] = c.Handshake(disjointAddr(false, 4*k, 40000), disjointAddr(true, 4*k, 443))
		sfs[k][0].Send(0, payload(10, 1))
		sfs[k][1] = c.Join(disjointAddr(false, 4*k+1, 40001), disjointAddr(true, 4*k+1, 443), synth.JoinOptions{})
		cs[k] = c
	}
	start := len(rec.pkts)
	for round := range 10 {
		for k, c := range cs {
			sendMapped(c, sfs[k][round%2], 0, payload(1000, uint64(round*2+k)), 1)
		}
	}
	a := New(Config{Hash: true})
	rec.replay(a, start)
	held := 0
	for _, p := range a.conns.list {
		if p == nil || p.probe == nil {
			continue
		}
		held++
		pr := p.probe
		if pr.ncand != 2 || pr.cands[0].n < agree32Needed || pr.cands[1].n < agree32Needed {
			t.Fatalf("held conn %d: %d candidates %+v", p.id, pr.ncand, pr.cands)
		}
		if pr.ambiguous == 0 {
			t.Errorf("held conn %d: both twins followed, no ambiguous decision", p.id)
		}
		// Forget the rival twin: the held subflow's client is address
		// 4k+1 of the set, its own connection's first subflow's 4k.
		ownFirst := disjointAddr(false, int(p.subflows[0].client.Addr().As4()[3])-2, 0).Addr()
		for i := 0; i < pr.ncand; i++ {
			if c := pr.cands[i].c; c.subflows[0].client.Addr() != ownFirst {
				pr.drop(i)
				break
			}
		}
		if pr.ncand != 1 {
			t.Fatalf("held conn %d: %d candidates after dropping the rival", p.id, pr.ncand)
		}
		if a.decide32(p, a.res.Last) || p.probe == nil {
			t.Errorf("held conn %d merged although its rival passes as well", p.id)
		}
	}
	if held != 2 {
		t.Errorf("%d held connections, want the two second subflows", held)
	}
}
