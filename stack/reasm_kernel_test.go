//go:build linux

package stack

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/lab"
)

// TestReassemblyKernelPing: the kernel (in a namespace, through a TUN
// device of MTU 1500) sends an echo request of 3008 bytes from a raw
// socket; it fragments it (no DF: a local sender under IP_PMTUDISC_WANT,
// and IPv6 at the source), our stack reassembles it and answers with an
// echo reply it fragments itself, which the kernel reassembles and hands
// to the socket. Both ways the payload must come back byte-exact.
func TestReassemblyKernelPing(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := "ipv4"
		if v6 {
			name = "ipv6"
		}
		t.Run(name, func(t *testing.T) {
			k := newKernelNS(t, Options{}, false)
			network, from, to := "ip4:icmp", k.kernel4, k.stack4
			if v6 {
				network, from, to = "ip6:ipv6-icmp", k.kernel6, k.stack6
			}
			var c net.PacketConn
			if err := lab.DoNS(k.name, func() error {
				var err error
				c, err = net.ListenPacket(network, from.String())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			payload := randBytes(3000, 31)
			const ident, seq = 0x4242, 1
			m := make([]byte, 8+len(payload))
			copy(m[8:], payload)
			reqType, replyType := header.ICMPv4Echo, header.ICMPv4EchoReply
			if v6 {
				reqType, replyType = header.ICMPv6EchoRequest, header.ICMPv6EchoReply
			}
			header.ICMPv4(m).Encode(reqType, 0, ident<<16|seq)
			if !v6 {
				header.ICMPv4(m).SetChecksum()
			} else {
				header.ICMPv6(m).SetChecksum(from, to) // the kernel computes it again
			}
			buf := make([]byte, 9000)
			var got []byte
			for try := 0; try < 5 && got == nil; try++ {
				if _, err := c.WriteTo(m, &net.IPAddr{IP: to.AsSlice()}); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				for {
					n, _, err := c.ReadFrom(buf)
					if err != nil {
						break // timeout: send again
					}
					r := buf[:n]
					if n >= 8 && r[0] == replyType && header.ICMPv4(r).Ident() == ident && header.ICMPv4(r).Sequence() == seq {
						got = append([]byte(nil), r[8:]...)
						break
					}
				}
			}
			st := k.s.Stats()
			t.Logf("stack: ReasmReqds %d ReasmOKs %d ReasmFails %d FragOKs %d FragCreates %d",
				st.IPReasmReqds.Load(), st.IPReasmOKs.Load(), st.IPReasmFails.Load(), st.IPFragOKs.Load(), st.IPFragCreates.Load())
			if got == nil {
				t.Fatal("no echo reply from the stack")
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("echo reply payload differs (%d bytes, want %d)", len(got), len(payload))
			}
			if st.IPReasmOKs.Load() == 0 || st.IPReasmReqds.Load() < 3 || st.IPFragCreates.Load() < 3 {
				t.Fatal("the exchange did not go through reassembly and fragmentation")
			}
		})
	}
}
