package analyze

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

// FuzzAnalyzerScenario fuzzes the analyzer with crafted sequences, not
// bytes: the input is a program of operations on a real MPTCP connection
// (keys, HMACs, mappings from package synth) that mixes what the peers
// send with what an attacker or a bad capture does: data on either
// subflow, retransmissions and reinjections, reordering, lost packets,
// forged data over the stream, contradictory remappings, RSTs with random
// sequence numbers, RSTs at the right one, joins with good and bad HMACs,
// forged ADD_ADDR and MP_FASTCLOSE, DATA_FIN. Whatever the program:
//
//   - no panic, and held memory never above the cap;
//   - nothing held after Finish;
//   - every byte delivered for the connection is a byte some operation
//     sent at that data offset (the real one, a forgery's, which is the
//     real one inverted, or one a remapping put there, which the analyzer
//     cannot tell from the real one when the capture lost the first
//     mapping): bytes are never invented or misplaced.
func FuzzAnalyzerScenario(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 10, 0, 10, 1, 3, 0, 20, 6},
		{0, 5, 2, 3, 4, 0, 0, 8, 0, 8, 3, 2, 6},
		{7, 0, 10, 10, 0, 10, 0, 12, 5, 0, 4},
		{9, 1, 0, 30, 8, 11, 1, 2, 2, 1, 6, 12, 0, 3},
		{0, 200, 0, 200, 10, 0, 10, 7, 0, 50, 1, 0, 6},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 400 {
			prog = prog[:400]
		}
		const limit = 64 << 10
		v := &vouchSink{}
		a := New(Config{Hash: true, Sink: v, MaxBuffer: limit, History: 4096})
		var held [][]byte
		var heldTS []time.Time
		drop, swap := false, false
		emit := func(ts time.Time, p []byte) {
			switch {
			case drop:
				drop = false
				return
			case swap:
				swap = false
				held = append(held, append([]byte(nil), p...))
				heldTS = append(heldTS, ts)
				return
			}
			a.Packet(ts, p)
			for i := len(held) - 1; i >= 0; i-- {
				a.Packet(heldTS[i], held[i])
			}
			held, heldTS = held[:0], heldTS[:0]
			if a.Buffered() > limit {
				t.Fatalf("buffered %d > cap %d", a.Buffered(), limit)
			}
		}
		c := synth.New(0xc1c1, 0xc2c2, emit)
		s1 := c.Handshake(cli1, srv1)
		s2 := c.Join(cli2, srv2, synth.JoinOptions{})
		sfs := []*synth.Subflow{s1, s2}
		legit := payload(1<<16, 77)
		r := rand.New(rand.NewPCG(1, 2))
		type chunk struct {
			off, n, sf int
			seq        uint32
		}
		var sent []chunk
		dsn0 := c.DSN[0]
		alt := map[uint64][]byte{}
		// The first data of the initial subflow carries its mapping in
		// MP_CAPABLE, at the stream's first byte: send it first.
		s1.Send(0, legit[:1])
		next := 1
		forged := func(off, n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = ^legit[off+i]
			}
			return b
		}
		at := func(i int) int {
			if i < len(prog) {
				return int(prog[i])
			}
			return 0
		}
		for i := 0; i < len(prog); i++ {
			op, arg := prog[i]%13, at(i+1)
			s := sfs[arg%len(sfs)]
			switch op {
			case 0: // new data
				i++
				n := 1 + arg*7
				if next+n > len(legit) {
					continue
				}
				c.DSN[0] = dsn0 + uint64(next)
				sent = append(sent, chunk{next, n, arg % len(sfs), s.Seq[0]})
				s.Send(0, legit[next:next+n])
				next += n
			case 1: // a retransmission or reinjection of an earlier chunk
				i++
				if len(sent) == 0 {
					continue
				}
				ch := sent[arg%len(sent)]
				sfs[(arg/7)%len(sfs)].SendAt(0, dsn0+uint64(ch.off), legit[ch.off:ch.off+ch.n])
			case 2: // forged data over the stream, possibly ahead of it
				i++
				off := min(arg*97, len(legit)-64)
				s.SendAt(0, dsn0+uint64(off), forged(off, 64))
			case 3: // the same subflow bytes mapped elsewhere
				i++
				if len(sent) == 0 {
					continue
				}
				ch := sent[arg%len(sent)]
				x := sfs[ch.sf]
				b := legit[ch.off : ch.off+ch.n]
				seq := x.Seq[0]
				x.Seq[0] = ch.seq
				x.SendRaw(0, header.TCPFlagACK, b, x.Mapping(0, dsn0+uint64(ch.off)+uint64(1+arg), b, false))
				x.Seq[0] = seq
				// If the capture lost the first mapping, this one is all
				// the analyzer has: these bytes may be delivered there.
				for j, x := range b {
					alt[uint64(ch.off+1+arg+j)] = append(alt[uint64(ch.off+1+arg+j)], x)
				}
			case 4: // a RST with a random sequence number
				i++
				p := synth.Packet(nil, s.Addr[arg&1], s.Addr[1-arg&1], r.Uint32(), 0, header.TCPFlagRST, nil, nil)
				emit(c.Now, p)
			case 5: // a RST at the right sequence number
				i++
				s.Reset(arg & 1)
			case 6: // DATA_FIN
				c.DSN[0] = dsn0 + uint64(next)
				s1.DataFIN(0)
			case 7:
				drop = true
			case 8: // ADD_ADDR with a bad HMAC
				i++
				s.SendRaw(1, header.TCPFlagACK, nil, &option.AddAddr{Version: option.V1, AddrID: uint8(arg),
					Addr: netip.AddrFrom4([4]byte{198, 18, 9, byte(arg)}), HasHMAC: true, HMAC: uint64(arg)})
			case 9: // a join, forged or not
				i++
				n := len(sfs)
				if n >= 6 {
					continue
				}
				cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 20, byte(n)}), uint16(41000+n))
				sfs = append(sfs, c.Join(cli, srv1, synth.JoinOptions{BadHMAC: arg&1 == 1}))
			case 10: // two chunks out of order
				n := 1 + arg%200
				if next+2*n > len(legit) {
					continue
				}
				i++
				seq := s.Seq[0]
				c.DSN[0] = dsn0 + uint64(next+n)
				s.Seq[0] = seq + uint32(n)
				s.Send(0, legit[next+n:next+2*n])
				c.DSN[0] = dsn0 + uint64(next)
				s.Seq[0] = seq
				s.Send(0, legit[next:next+n])
				s.Seq[0] = seq + uint32(2*n)
				sent = append(sent, chunk{next, n, arg % len(sfs), seq}, chunk{next + n, n, arg % len(sfs), seq + uint32(n)})
				next += 2 * n
			case 11: // MP_FASTCLOSE with a wrong key
				s.SendRaw(0, header.TCPFlagACK, nil, &option.MPFastclose{ReceiverKey: 0xbad})
			case 12:
				swap = true
			}
		}
		if len(held) > 0 {
			swap, drop = false, false
			emit(c.Now, synth.Packet(nil, cli3, srv2, 1, 0, header.TCPFlagSYN, nil, nil))
		}
		res := a.Finish()
		if a.Buffered() != 0 {
			t.Fatalf("%d bytes held after Finish", a.Buffered())
		}
		for _, cn := range res.Connections {
			if cn.ClientKey != hex64(0xc1c1) {
				continue
			}
			for off, b := range v.data[[2]int{cn.ID, 0}] {
				for i, x := range b {
					o := off + uint64(i)
					if o >= uint64(len(legit)) || x != legit[o] && x != ^legit[o] && !bytes.Contains(alt[o], []byte{x}) {
						t.Fatalf("conn %d: byte at data offset %d is %#x, sent %#x (or forged %#x)", cn.ID, o, x, legit[min(o, uint64(len(legit)-1))], ^legit[min(o, uint64(len(legit)-1))])
					}
				}
			}
		}
	})
}
