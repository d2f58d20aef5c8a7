package capture

import (
	"encoding/binary"
	"time"
)

// tcpSegment builds an IPv4 TCP segment with the given flags and options
// (padded with EOL bytes to a multiple of 4) and payload.
func tcpSegment(src, dst [4]byte, sport, dport uint16, flags byte, opts []byte, payload []byte) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	tcpLen := 20 + len(opts)
	total := 20 + tcpLen + len(payload)
	b := make([]byte, total)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	b[8] = 64
	b[9] = 6
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	t := b[20:]
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], 1000)
	t[12] = byte(tcpLen/4) << 4
	t[13] = flags
	binary.BigEndian.PutUint16(t[14:], 65535)
	copy(t[20:], opts)
	copy(t[tcpLen:], payload)
	return b
}

// ethernet prepends an Ethernet header (and VLAN tags) to an IP packet.
func ethernet(ethertype uint16, payload []byte, vlans ...uint16) []byte {
	b := []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2}
	for _, v := range vlans {
		b = binary.BigEndian.AppendUint16(b, EtherTypeVLAN)
		b = binary.BigEndian.AppendUint16(b, v)
	}
	b = binary.BigEndian.AppendUint16(b, ethertype)
	return append(b, payload...)
}

// samplePackets returns a few Ethernet packets of various sizes.
func samplePackets() []Packet {
	base := time.Date(2026, 11, 26, 7, 0, 0, 123456789, time.UTC)
	var out []Packet
	for i := range 7 {
		payload := make([]byte, i*97)
		for j := range payload {
			payload[j] = byte(i + j)
		}
		ip := tcpSegment([4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}, 40000, uint16(5000+i), 0x18, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, payload)
		frame := ethernet(EtherTypeIPv4, ip)
		out = append(out, Packet{
			Timestamp:     base.Add(time.Duration(i) * 1500 * time.Microsecond),
			LinkType:      LinkTypeEthernet,
			CaptureLength: len(frame),
			Length:        len(frame),
			Data:          frame,
		})
	}
	return out
}

// builder writes hand-made capture files in a chosen byte order.
type builder struct {
	order binary.AppendByteOrder
	b     []byte
}

func (w *builder) u16(v uint16) *builder { w.b = w.order.AppendUint16(w.b, v); return w }
func (w *builder) u32(v uint32) *builder { w.b = w.order.AppendUint32(w.b, v); return w }
func (w *builder) u64(v uint64) *builder { w.b = w.order.AppendUint64(w.b, v); return w }
func (w *builder) raw(v []byte) *builder { w.b = append(w.b, v...); return w }

// pcapHeader writes a pcap file header.
func (w *builder) pcapHeader(magic uint32, snap uint32, lt LinkType) *builder {
	return w.u32(magic).u16(2).u16(4).u32(0).u32(0).u32(snap).u32(uint32(lt))
}

// pcapRecord writes one pcap record.
func (w *builder) pcapRecord(sec, frac uint32, data []byte, orig int) *builder {
	return w.u32(sec).u32(frac).u32(uint32(len(data))).u32(uint32(orig)).raw(data)
}

// block writes one pcapng block with the given body (padded to 4 bytes).
func (w *builder) block(typ uint32, body []byte) *builder {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	return w.u32(typ).u32(n).raw(body).u32(n)
}

// body returns a builder for a block body in the same byte order.
func (w *builder) body() *builder { return &builder{order: w.order} }

func (w *builder) shb() *builder {
	return w.block(blockSHB, w.body().u32(byteOrderMagic).u16(1).u16(0).u64(^uint64(0)).b)
}

// idb writes an interface description block with optional tsresol and
// tsoffset (negative means absent).
func (w *builder) idb(lt LinkType, snap uint32, tsresol int, tsoffset int64, name string) *builder {
	o := w.body().u16(uint16(lt)).u16(0).u32(snap)
	if name != "" {
		o.u16(optIfName).u16(uint16(len(name))).raw([]byte(name))
		for len(o.b)%4 != 0 {
			o.b = append(o.b, 0)
		}
	}
	if tsresol >= 0 {
		o.u16(optTSResol).u16(1).raw([]byte{byte(tsresol), 0, 0, 0})
	}
	if tsoffset != 0 {
		o.u16(optTSOffset).u16(8).u64(uint64(tsoffset))
	}
	o.u16(0).u16(0)
	return w.block(blockIDB, o.b)
}

func (w *builder) epb(iface uint32, ts uint64, data []byte, orig int) *builder {
	o := w.body().u32(iface).u32(uint32(ts >> 32)).u32(uint32(ts)).u32(uint32(len(data))).u32(uint32(orig)).raw(data)
	return w.block(blockEPB, o.b)
}

// manyEthernet returns 350 Ethernet packets.
func manyEthernet() []Packet {
	var out []Packet
	for range 50 {
		out = append(out, samplePackets()...)
	}
	return out
}
