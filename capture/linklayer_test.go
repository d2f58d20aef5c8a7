package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestDecodeLink(t *testing.T) {
	ip4 := tcpSegment([4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}, 1, 2, 0x02, nil, nil)
	ip6 := append([]byte{0x60, 0, 0, 0, 0, 20, 6, 64}, make([]byte, 32+20)...)
	sll := func(proto uint16, p []byte) []byte {
		h := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}
		return append(binary.BigEndian.AppendUint16(h, proto), p...)
	}
	sll2 := func(proto uint16, p []byte) []byte {
		h := binary.BigEndian.AppendUint16(nil, proto)
		h = append(h, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0)
		return append(h, p...)
	}
	null := func(order binary.AppendByteOrder, af uint32, p []byte) []byte {
		return append(order.AppendUint32(nil, af), p...)
	}
	for _, tc := range []struct {
		name    string
		lt      LinkType
		frame   []byte
		version uint8
		etype   uint16
		offset  int
		vlans   uint8
		vlan    uint16
		err     error
	}{
		{"eth-ipv4", LinkTypeEthernet, ethernet(EtherTypeIPv4, ip4), 4, EtherTypeIPv4, 14, 0, 0, nil},
		{"eth-ipv6", LinkTypeEthernet, ethernet(EtherTypeIPv6, ip6), 6, EtherTypeIPv6, 14, 0, 0, nil},
		{"eth-vlan", LinkTypeEthernet, ethernet(EtherTypeIPv4, ip4, 0x2064), 4, EtherTypeIPv4, 18, 1, 0x064, nil},
		{"eth-qinq", LinkTypeEthernet, ethernet(EtherTypeIPv6, ip6, 7, 8, 9), 6, EtherTypeIPv6, 26, 3, 7, nil},
		{"eth-arp", LinkTypeEthernet, ethernet(0x0806, make([]byte, 28)), 0, 0x0806, 14, 0, 0, nil},
		{"eth-short", LinkTypeEthernet, make([]byte, 13), 0, 0, 0, 0, 0, ErrShort},
		{"eth-short-vlan", LinkTypeEthernet, ethernet(EtherTypeVLAN, []byte{0, 1}), 0, 0, 0, 0, 0, ErrShort},
		{"eth-empty-payload", LinkTypeEthernet, ethernet(EtherTypeIPv4, nil), 4, EtherTypeIPv4, 14, 0, 0, nil},
		{"sll-ipv4", LinkTypeLinuxSLL, sll(EtherTypeIPv4, ip4), 4, EtherTypeIPv4, 16, 0, 0, nil},
		{"sll-vlan", LinkTypeLinuxSLL, sll(EtherTypeVLAN, append([]byte{0, 5, 0x86, 0xdd}, ip6...)), 6, EtherTypeIPv6, 20, 1, 5, nil},
		{"sll-short", LinkTypeLinuxSLL, make([]byte, 15), 0, 0, 0, 0, 0, ErrShort},
		{"sll2-ipv6", LinkTypeLinuxSLL2, sll2(EtherTypeIPv6, ip6), 6, EtherTypeIPv6, 20, 0, 0, nil},
		{"sll2-short", LinkTypeLinuxSLL2, make([]byte, 19), 0, 0, 0, 0, 0, ErrShort},
		{"raw-ipv4", LinkTypeRaw, ip4, 4, EtherTypeIPv4, 0, 0, 0, nil},
		{"raw12-ipv6", LinkTypeRawDLT12, ip6, 6, EtherTypeIPv6, 0, 0, 0, nil},
		{"raw-garbage", LinkTypeRaw, []byte{0x10}, 0, 0, 0, 0, 0, nil},
		{"raw-empty", LinkTypeRaw, nil, 0, 0, 0, 0, 0, ErrShort},
		{"ipv4", LinkTypeIPv4, ip4, 4, EtherTypeIPv4, 0, 0, 0, nil},
		{"ipv6", LinkTypeIPv6, ip6, 6, EtherTypeIPv6, 0, 0, 0, nil},
		{"null-le-inet", LinkTypeNull, null(binary.LittleEndian, 2, ip4), 4, EtherTypeIPv4, 4, 0, 0, nil},
		{"null-be-inet6-darwin", LinkTypeNull, null(binary.BigEndian, 30, ip6), 6, EtherTypeIPv6, 4, 0, 0, nil},
		{"null-le-inet6-freebsd", LinkTypeNull, null(binary.LittleEndian, 28, ip6), 6, EtherTypeIPv6, 4, 0, 0, nil},
		{"loop-inet6-openbsd", LinkTypeLoop, null(binary.BigEndian, 24, ip6), 6, EtherTypeIPv6, 4, 0, 0, nil},
		{"loop-unknown-af", LinkTypeLoop, null(binary.BigEndian, 17, ip4), 0, 0, 4, 0, 0, nil},
		{"null-short", LinkTypeNull, []byte{2, 0}, 0, 0, 0, 0, 0, ErrShort},
		{"unsupported", LinkType(147), ip4, 0, 0, 0, 0, 0, ErrLinkType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := DecodeLink(tc.lt, tc.frame)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Version != tc.version || n.EtherType != tc.etype || n.Offset != tc.offset || n.VLANs != tc.vlans || n.VLAN != tc.vlan {
				t.Errorf("got %+v", n)
			}
			if !bytes.Equal(n.Payload, tc.frame[tc.offset:]) {
				t.Errorf("payload %x, want frame[%d:]", n.Payload, tc.offset)
			}
			// No copy: the payload aliases the frame.
			if len(n.Payload) > 0 && &n.Payload[0] != &tc.frame[tc.offset] {
				t.Error("payload was copied")
			}
		})
	}
}

func TestDecodeLinkAllocs(t *testing.T) {
	frame := ethernet(EtherTypeIPv4, tcpSegment([4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8}, 1, 2, 2, nil, nil), 10, 20)
	if a := testing.AllocsPerRun(1000, func() {
		if n, err := DecodeLink(LinkTypeEthernet, frame); err != nil || n.Version != 4 {
			t.Fatal(n, err)
		}
	}); a != 0 {
		t.Errorf("%v allocations", a)
	}
}
