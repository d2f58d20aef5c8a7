// Package flatten rewrites MPTCP connections as ordinary TCP
// conversations: each connection becomes one TCP connection between its
// client and server carrying the reassembled data of both directions, so
// tools that know nothing of MPTCP (Suricata, Zeek, Snort, Wireshark's
// "Follow TCP Stream") see the combined content.
//
// Writer is an analyze.Sink: it writes packets as the analyzer delivers
// data, in capture time order, and never holds a stream in memory. Holes
// are left as gaps in the sequence space (bytes are never invented), so a
// reader sees them as missing segments.
package flatten

import (
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/header"
)

// MSS is the largest payload of a synthesized segment.
const MSS = 1400

// Writer writes flattened connections to a capture writer (raw IP link
// type).
type Writer struct {
	w     capture.Writer
	conns map[int]*flow
	buf   []byte
	err   error
}

type flow struct {
	cli, srv netip.AddrPort
	// next sequence number each end sends; fin: FIN sent.
	seq [2]uint32
	fin [2]bool
}

// New returns a Writer that writes packets to w, which must accept the
// raw IP link type (capture.LinkTypeRaw).
func New(w capture.Writer) *Writer {
	return &Writer{w: w, conns: make(map[int]*flow)}
}

// Err returns the first write error.
func (fw *Writer) Err() error { return fw.err }

func (fw *Writer) flow(c *analyze.ConnInfo, ts time.Time) *flow {
	f := fw.conns[c.ID]
	if f != nil {
		return f
	}
	f = &flow{cli: c.Client, srv: c.Server}
	f.seq[0] = 0x10000000 + uint32(c.ID)*0x1000
	f.seq[1] = 0x20000000 + uint32(c.ID)*0x1000
	fw.conns[c.ID] = f
	// The three-way handshake.
	fw.packet(ts, f, 0, header.TCPFlagSYN, nil)
	fw.packet(ts, f, 1, header.TCPFlagSYN|header.TCPFlagACK, nil)
	fw.packet(ts, f, 0, header.TCPFlagACK, nil)
	return f
}

// Data implements analyze.Sink.
func (fw *Writer) Data(c *analyze.ConnInfo, dir int, ts time.Time, off uint64, b []byte) {
	f := fw.flow(c, ts)
	for len(b) > 0 {
		n := min(len(b), MSS)
		fw.packet(ts, f, dir, header.TCPFlagACK|header.TCPFlagPSH, b[:n])
		b = b[n:]
	}
}

// Hole implements analyze.Sink: the sequence space skips the missing bytes.
func (fw *Writer) Hole(c *analyze.ConnInfo, dir int, ts time.Time, off, size uint64) {
	f := fw.flow(c, ts)
	f.seq[dir] += uint32(size)
}

// End implements analyze.Sink: the direction is closed with a FIN.
func (fw *Writer) End(c *analyze.ConnInfo, dir int, ts time.Time) {
	f := fw.conns[c.ID]
	if f == nil || f.fin[dir] {
		return
	}
	fw.packet(ts, f, dir, header.TCPFlagFIN|header.TCPFlagACK, nil)
	f.fin[dir] = true
	if f.fin[0] && f.fin[1] {
		fw.packet(ts, f, 0, header.TCPFlagACK, nil)
		delete(fw.conns, c.ID)
	}
}

// packet writes one segment from end dir (0 client) and advances its
// sequence number.
func (fw *Writer) packet(ts time.Time, f *flow, dir int, flags header.TCPFlags, data []byte) {
	src, dst := f.cli, f.srv
	if dir == 1 {
		src, dst = dst, src
	}
	ack := f.seq[1-dir]
	if flags&header.TCPFlagACK == 0 {
		ack = 0
	}
	fw.buf = appendPacket(fw.buf[:0], src, dst, f.seq[dir], ack, flags, data)
	f.seq[dir] += uint32(len(data))
	if flags&(header.TCPFlagSYN|header.TCPFlagFIN) != 0 {
		f.seq[dir]++
	}
	if fw.err != nil {
		return
	}
	fw.err = fw.w.WritePacket(capture.Packet{Timestamp: ts, LinkType: capture.LinkTypeRaw,
		CaptureLength: len(fw.buf), Length: len(fw.buf), Data: fw.buf})
}

// appendPacket appends an IPv4 or IPv6 packet with one TCP segment (no
// options) and correct checksums.
func appendPacket(b []byte, src, dst netip.AddrPort, seq, ack uint32, flags header.TCPFlags, data []byte) []byte {
	return header.AppendTCPIP(b, src, dst, seq, ack, flags, 0xffff, nil, data)
}
