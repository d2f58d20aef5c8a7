// Package capture reads and writes packet captures and defines the packet
// source that the analyzer consumes: pcap and pcapng files (plain or
// gzip-compressed) and, in subpackage live, an AF_PACKET socket.
//
// Every Source hands out one packet at a time. The returned Packet.Data
// aliases a buffer the Source owns and reuses: it is valid only until the
// next call to Next. Callers that keep packets must copy them. On the steady
// path (buffers already grown) reading a packet allocates nothing.
//
// Errors say where the problem is (byte offset and record number) and wrap a
// sentinel the caller can act on: ErrTruncated when the input ends in the
// middle of a record, ErrCorrupt for a record or block that cannot be valid,
// ErrUnknownFormat when the input is neither pcap nor pcapng. Everything a
// reader returned before an error is good; see the reader types for what a
// further call to Next does after each kind of error.
//
// DecodeLink strips the link-layer header (Ethernet with VLAN tags, Linux
// cooked v1/v2, raw IP, BSD null/loopback) and returns the network-layer
// bytes without copying.
package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"
)

// LinkType is a pcap LINKTYPE_ value (the tcpdump.org link-layer header
// type registry, also used by pcapng interface description blocks).
type LinkType uint16

// Link types this package decodes. The values are the file-format
// LINKTYPE_ numbers, not the platform DLT_ numbers, except LinkTypeRawDLT12
// which some writers put in files for raw IP.
const (
	LinkTypeNull      LinkType = 0   // BSD loopback: 4-byte address family in the writer's byte order
	LinkTypeEthernet  LinkType = 1   // Ethernet II (IEEE 802.3), optionally with 802.1Q/802.1ad tags
	LinkTypeRawDLT12  LinkType = 12  // DLT_RAW on most BSDs: raw IPv4 or IPv6
	LinkTypeRaw       LinkType = 101 // raw IPv4 or IPv6, version in the first nibble
	LinkTypeLoop      LinkType = 108 // OpenBSD loopback: 4-byte address family, network byte order
	LinkTypeLinuxSLL  LinkType = 113 // Linux cooked capture v1 (16-byte header)
	LinkTypeIPv4      LinkType = 228 // raw IPv4
	LinkTypeIPv6      LinkType = 229 // raw IPv6
	LinkTypeLinuxSLL2 LinkType = 276 // Linux cooked capture v2 (20-byte header)
)

// String returns the tcpdump name of the link type (as `tcpdump -L` shows).
func (l LinkType) String() string {
	switch l {
	case LinkTypeNull:
		return "NULL"
	case LinkTypeEthernet:
		return "EN10MB"
	case LinkTypeRawDLT12, LinkTypeRaw:
		return "RAW"
	case LinkTypeLoop:
		return "LOOP"
	case LinkTypeLinuxSLL:
		return "LINUX_SLL"
	case LinkTypeIPv4:
		return "IPV4"
	case LinkTypeIPv6:
		return "IPV6"
	case LinkTypeLinuxSLL2:
		return "LINUX_SLL2"
	}
	return fmt.Sprintf("LINKTYPE_%d", uint16(l))
}

// Packet is one captured packet.
type Packet struct {
	// Timestamp is when the packet was captured (UTC).
	Timestamp time.Time
	// Interface is the index of the capture interface: the pcapng
	// interface ID (per section), the kernel ifindex for a live capture,
	// 0 for pcap files.
	Interface int
	// LinkType says what Data starts with.
	LinkType LinkType
	// CaptureLength is len(Data): the bytes that were saved.
	CaptureLength int
	// Length is the packet's length on the wire; it exceeds CaptureLength
	// when the capture truncated the packet (snap length).
	Length int
	// Data is the captured bytes, starting with the link-layer header. It
	// aliases the Source's buffer and is valid until the next call to Next.
	Data []byte
	// Source is the index of the input the packet came from in a merged
	// capture (Merger), 0 otherwise.
	Source int
}

// Source delivers packets one at a time. Next returns io.EOF after the last
// packet. The returned Packet.Data is valid until the next call to Next.
type Source interface {
	Next() (Packet, error)
}

// Sentinel errors; readers wrap them with the position of the problem.
var (
	// ErrTruncated means the input ended in the middle of a header, record
	// or block. Packets returned before it are intact.
	ErrTruncated = errors.New("truncated capture")
	// ErrCorrupt means a header, record or block cannot be valid (bad
	// length, bad magic, inconsistent fields).
	ErrCorrupt = errors.New("corrupt capture")
	// ErrUnknownFormat means the input starts with neither a pcap nor a
	// pcapng magic number (after gzip decompression, if gzip).
	ErrUnknownFormat = errors.New("unknown capture format")
	// ErrLinkType means a link type cannot be decoded, or a writer cannot
	// store a packet of that link type.
	ErrLinkType = errors.New("unsupported link type")
	// ErrShort means a packet is too short for its link-layer header.
	ErrShort = errors.New("packet too short for link-layer header")
)

// MaxPacketSize bounds the captured length a reader accepts for one packet
// by default. libpcap's largest snap length is 262144 bytes; we allow four
// times that for captures of GRO/GSO super-segments or jumbo frames.
const MaxPacketSize = 1 << 20

// MaxBlockSize bounds a pcapng block by default (a block holds one packet
// plus options, or metadata such as name resolution records).
const MaxBlockSize = 16 << 20

// bufSize is the read buffer of every reader: records and blocks up to
// this size are returned without copying (they alias the buffer).
const bufSize = 256 << 10

// buffered returns r as a *bufio.Reader of at least bufSize bytes.
func buffered(r io.Reader) *bufio.Reader {
	if br, ok := r.(*bufio.Reader); ok && br.Size() >= bufSize {
		return br
	}
	return bufio.NewReaderSize(r, bufSize)
}

// readRecord returns the next n bytes of r: aliasing r's buffer when they
// fit in it (valid until the next read from r), else in *buf, reusing its
// memory when it is large enough. *buf grows in steps (at most doubling),
// so that a header announcing an absurd length costs memory proportional
// to the bytes actually present, not to the announced length. On error it
// returns the bytes that were read.
func readRecord(r *bufio.Reader, buf *[]byte, n int) ([]byte, error) {
	if n <= r.Size() {
		b, err := r.Peek(n)
		if err != nil {
			return b, err
		}
		_, _ = r.Discard(n)
		return b, nil
	}
	b := *buf
	if cap(b) >= n {
		b = b[:n]
		m, err := io.ReadFull(r, b)
		return b[:m], err
	}
	b = b[:cap(b)]
	have := 0
	for have < n {
		want := n
		if limit := 2*len(b) + 64<<10; want > limit {
			want = limit
		}
		if want > cap(b) {
			nb := make([]byte, want)
			copy(nb, b[:have])
			b = nb
		}
		b = b[:want]
		m, err := io.ReadFull(r, b[have:want])
		have += m
		if err != nil {
			*buf = b[:0]
			return b[:have], err
		}
	}
	*buf = b[:0]
	return b[:n], nil
}
