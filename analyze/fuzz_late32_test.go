package analyze

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
)

// FuzzLate32 fuzzes the grouping of late subflows with 32-bit DSNs and no
// address in common (late32.go) with programs of operations on two
// connections captured after their handshakes: A, with two subflows on
// disjoint addresses, and B, one subflow, whose DSNs and DATA_ACKs the
// program puts near A's (colliding). Operations send new chunks on either
// of A's subflows or on B, reinject A's chunks on the other subflow, and
// lose or reorder packets in the capture. Whatever the program:
//
//   - no panic, held memory never above the cap, nothing held after
//     Finish;
//   - every byte delivered in a connection is a byte A or B sent at that
//     DSN, and one of A's wherever the analyzer was given A's byte at
//     that DSN (the held bytes of a subflow that joins are compared with
//     every copy the connection has): B's bytes can only end up in A's
//     stream where the capture lacks A's, and only when B continues A's
//     data sequence exactly there with agreeing DATA_ACKs.
func FuzzLate32(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 0, 0, 0, 100, 1, 100, 0, 100, 1, 100, 0, 100, 1, 100, 0, 100, 1, 100},
		{0xfc, 0x18, 1, 0, 100, 2, 100, 1, 100, 2, 100, 0, 100, 1, 100, 2, 100, 0, 100, 1, 100},
		{0, 200, 0, 0, 50, 1, 50, 4, 0, 0, 50, 1, 50, 5, 0, 50, 1, 50, 3, 7, 0, 50, 1, 50},
		{3, 232, 2, 0, 200, 1, 200, 2, 200, 6, 9, 0, 200, 1, 200, 2, 200, 0, 200, 1, 200},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) < 3 {
			return
		}
		if len(prog) > 300 {
			prog = prog[:300]
		}
		const limit = 64 << 10
		v := &vouchSink{}
		a := New(Config{Hash: true, Sink: v, MaxBuffer: limit, History: 4096})
		live, drop, swap := false, false, false
		var held []byte
		var heldTS time.Time
		emit := func(ts time.Time, p []byte) {
			switch {
			case !live:
				return
			case drop:
				drop = false
				return
			case swap && held == nil:
				swap = false
				held, heldTS = append([]byte(nil), p...), ts
				return
			}
			a.Packet(ts, p)
			if held != nil {
				a.Packet(heldTS, held)
				held = nil
			}
			if a.Buffered() > limit {
				t.Fatalf("buffered %d > cap %d", a.Buffered(), limit)
			}
		}
		A := synth.New(0xa1, 0xa2, emit)
		A.DSN32 = true
		a1 := A.Handshake(cli1, srv1)
		a2 := A.Join(cli2, srv2, synth.JoinOptions{})
		B := synth.New(0xb1, 0xb2, emit)
		B.DSN32 = true
		bAddr := [2]netip.AddrPort{netip.MustParseAddrPort("198.18.5.1:40005"), netip.MustParseAddrPort("198.18.5.2:443")}
		b1 := B.Handshake(bAddr[0], bAddr[1])
		dsnA0 := uint32(A.DSN[0])
		dsnB0 := dsnA0 + uint32(int32(int16(binary.BigEndian.Uint16(prog))))
		B.DSN[0] = uint64(dsnB0)
		B.DSN[1] = A.DSN[1] - uint64(prog[2])*1024
		legitA, legitB := payload(1<<15, 0xa), payload(1<<15, 0xb)
		a1.Send(0, legitA[:1]) // the MP_CAPABLE data, before the capture
		b1.Send(0, legitB[:1])
		nextA, nextB := 1, 1
		fedA := make([]bool, len(legitA)) // A's bytes the analyzer was given
		var chunks [][2]int
		sendA := func(s *synth.Subflow, off, n int) {
			dropped := drop
			s.SendAt(0, uint64(dsnA0)+uint64(off), legitA[off:off+n])
			if !dropped {
				for i := off; i < off+n; i++ {
					fedA[i] = true
				}
			}
		}
		live = true
		prog = prog[3:]
		for i := 0; i+1 < len(prog); i += 2 {
			op, arg := prog[i]%7, int(prog[i+1])
			n := 1 + arg*5
			switch op {
			case 0, 1: // A's next chunk on a1 or a2
				if nextA+n > len(legitA) {
					continue
				}
				sendA([]*synth.Subflow{a1, a2}[op], nextA, n)
				nextA += n
			case 2: // B's next chunk
				if nextB+n > len(legitB) {
					continue
				}
				B.DSN[0] = uint64(dsnB0) + uint64(nextB)
				b1.Send(0, legitB[nextB:nextB+n])
				nextB += n
			case 3: // an earlier chunk of A again, on the other subflow
				if len(chunks) == 0 {
					continue
				}
				c := chunks[arg%len(chunks)]
				sendA([]*synth.Subflow{a2, a1}[c[1]], c[0], min(n, nextA-c[0]))
				continue
			case 4:
				drop = true
			case 5:
				swap = true
			case 6: // B's peer acknowledges more of B's other direction
				B.DSN[1] += uint64(arg) << 10
			}
			if op <= 1 {
				chunks = append(chunks, [2]int{nextA - n, int(op)})
			}
		}
		live = false
		if held != nil {
			a.Packet(heldTS, held)
		}
		res := a.Finish()
		if a.Buffered() != 0 {
			t.Fatalf("%d bytes held after Finish", a.Buffered())
		}
		for _, cn := range res.Connections {
			hasA, hasB := false, false
			for _, sf := range cn.Subflows {
				b := sf.Client == bAddr[0] || sf.Server == bAddr[0]
				hasA, hasB = hasA || !b, hasB || b
			}
			for dir, st := range cn.Streams {
				for off, b := range v.data[[2]int{cn.ID, dir}] {
					for j, x := range b {
						dsn := uint32(st.Origin + off + uint64(j))
						oa, ob := int(dsn-dsnA0), int(dsn-dsnB0)
						isA := hasA && dir == 0 && uint32(oa) < uint32(len(legitA)) && x == legitA[oa]
						isB := hasB && dir == 0 && uint32(ob) < uint32(len(legitB)) && x == legitB[ob]
						switch {
						case !isA && !isB:
							t.Fatalf("conn %d dir %d: byte at DSN %#x was sent by neither connection", cn.ID, dir, dsn)
						case hasA && !isA && uint32(oa) < uint32(len(legitA)) && fedA[oa]:
							t.Fatalf("conn %d: B's byte delivered at DSN %#x where the capture had A's (A offset %d); events %+v", cn.ID, dsn, oa, cn.Events)
						}
					}
				}
			}
		}
	})
}
