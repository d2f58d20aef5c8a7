package mpconn

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

// FuzzInjectedOptions runs a two-path transfer while an on-path attacker
// injects segments with arbitrary TCP options (MPTCP or not) and flags,
// at the receiver's expected sequence numbers, on both subflows. Whatever
// the options say, the engine must not panic or hang, and the receiver
// must never read a byte that was not sent: what it reads is a prefix of
// the data.
func FuzzInjectedOptions(f *testing.F) {
	seed := func(opts ...option.Option) []byte {
		var b []byte
		for _, o := range opts {
			b, _ = o.Append(b)
		}
		return b
	}
	f.Add(seed(option.Option{Subtype: option.SubtypeDSS, DSS: option.DSS{Flags: option.DSSMapping | option.DSSDSN8 | option.DSSDataFIN, DSN: 12345, DataLen: 1}}), uint8(0x10), uint16(100))
	f.Add(seed(option.Option{Subtype: option.SubtypeRemoveAddr, RemoveAddr: mustRemove(1)}), uint8(0x10), uint16(300))
	f.Add(seed(option.Option{Subtype: option.SubtypeMPFastclose, MPFastclose: option.MPFastclose{ReceiverKey: 1}}), uint8(0x14), uint16(200))
	f.Add(seed(option.Option{Subtype: option.SubtypeMPFail, MPFail: option.MPFail{DSN: 99}}), uint8(0x10), uint16(50))
	f.Add(seed(option.Option{Subtype: option.SubtypeAddAddr, AddAddr: option.AddAddr{Version: option.V1, AddrID: 7, Addr: netip.MustParseAddr("10.9.9.9"), HasHMAC: true, HMAC: 42}}), uint8(0x10), uint16(10))
	f.Add(seed(option.Option{Subtype: option.SubtypeMPPrio, MPPrio: option.MPPrio{Backup: true}}), uint8(0x10), uint16(400))
	f.Add([]byte{30, 4, 0x20, 0x1f}, uint8(0x11), uint16(0))
	f.Fuzz(func(t *testing.T, opts []byte, flags uint8, when uint16) {
		if len(opts) > header.TCPMaxOptionsLen {
			opts = opts[:header.TCPMaxOptionsLen]
		}
		n, cli, srv := twoHosts(t, 301, Config{}, Config{})
		c := cli.dial("10.0.1.2:80")
		if !n.runUntil(10*time.Second, func() bool { return c.State() == StateEstablished && len(srv.accepted) > 0 }) {
			t.Fatal("no handshake")
		}
		s := srv.accepted[0]
		data := randomData(256<<10, 1)
		injected := false
		inject := func() {
			injected = true
			for _, sf := range s.Subflows() {
				in := sf.ep.Info()
				seg := buildSeg(sf.io.Remote(), sf.io.Local(), in.RcvNxt, in.SndNxt,
					header.TCPFlags(flags)&^header.TCPFlagSYN|header.TCPFlagACK, append([]byte(nil), opts...), nil)
				n.send(sf.io.Remote(), sf.io.Local(), seg)
			}
		}
		var got bytes.Buffer
		buf := make([]byte, 32<<10)
		off := 0
		deadline := n.now + 2*time.Minute
		for steps := 0; steps < 200000; steps++ {
			if !injected && off >= int(when)*256 {
				inject()
			}
			if off < len(data) {
				w, err := c.Write(data[off:])
				if err != nil {
					break
				}
				off += w
			}
			r, err := s.Read(buf)
			got.Write(buf[:r])
			if err != nil || got.Len() == len(data) {
				break
			}
			if !n.step(deadline) {
				break
			}
		}
		if !bytes.Equal(got.Bytes(), data[:got.Len()]) {
			t.Fatalf("the receiver read %d bytes that are not a prefix of the data sent", got.Len())
		}
	})
}

func mustRemove(ids ...uint8) option.RemoveAddr {
	r, err := option.NewRemoveAddr(ids...)
	if err != nil {
		panic(err)
	}
	return r
}
