package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// pcap file format, as described by draft-ietf-opsawg-pcap ("PCAP Capture
// File Format"): a 24-byte file header, then records made of a 16-byte
// record header and the captured bytes.
const (
	pcapMagicMicro   = 0xa1b2c3d4 // §4: timestamps in seconds and microseconds
	pcapMagicNano    = 0xa1b23c4d // §4: timestamps in seconds and nanoseconds
	pcapFileHdrLen   = 24
	pcapRecordHdrLen = 16
	// maxResyncScan bounds how far PcapReader searches for the next
	// plausible record header after a corrupt one.
	maxResyncScan = 64 << 20
)

// PcapReader reads a pcap file (either byte order, microsecond or
// nanosecond timestamps).
//
// Error handling: at EOF in the middle of a record header or record data,
// Next returns an error wrapping ErrTruncated, and so does every later call.
// A record header whose captured length exceeds the reader's limit
// (MaxPacketSize) is reported once as an error wrapping ErrCorrupt; the
// following call to Next then searches forward (at most 64 MiB) for the
// next plausible record header, one whose timestamp fraction is in range,
// whose lengths are consistent and within a day of the last good record,
// and which is followed by another plausible header or by the end of the
// file, and carries on from there. If none is found, Next keeps returning
// the ErrCorrupt error. Resyncs and SkippedBytes count what was lost.
type PcapReader struct {
	r        *bufio.Reader
	order    binary.ByteOrder
	nano     bool
	linkType LinkType
	snapLen  uint32
	fcsLen   int

	maxPacket int
	off       int64 // byte offset of the next record
	records   int   // records returned so far
	lastSec   uint32
	haveLast  bool
	resync    bool
	err       error // sticky error

	resyncs int
	skipped int64

	hdr [pcapRecordHdrLen]byte
	buf []byte
}

// NewPcapReader reads the file header from r and returns a reader
// positioned at the first record.
func NewPcapReader(r io.Reader) (*PcapReader, error) {
	br := buffered(r)
	var h [pcapFileHdrLen]byte
	if n, err := io.ReadFull(br, h[:]); err != nil {
		if n == 0 && err == io.EOF {
			return nil, fmt.Errorf("pcap: empty input: %w", ErrTruncated)
		}
		return nil, fmt.Errorf("pcap: file header: %d of %d bytes: %w", n, pcapFileHdrLen, ErrTruncated)
	}
	p := &PcapReader{r: br, maxPacket: MaxPacketSize, off: pcapFileHdrLen}
	switch {
	case binary.LittleEndian.Uint32(h[:]) == pcapMagicMicro:
		p.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h[:]) == pcapMagicMicro:
		p.order = binary.BigEndian
	case binary.LittleEndian.Uint32(h[:]) == pcapMagicNano:
		p.order, p.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[:]) == pcapMagicNano:
		p.order, p.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("pcap: magic %#08x: %w", binary.BigEndian.Uint32(h[:]), ErrUnknownFormat)
	}
	if major := p.order.Uint16(h[4:]); major != 2 {
		return nil, fmt.Errorf("pcap: file header: major version %d, want 2: %w", major, ErrCorrupt)
	}
	p.snapLen = p.order.Uint32(h[16:])
	// draft-ietf-opsawg-pcap §4: the LinkType field's low 16 bits are the
	// link type; bit 26 (F) says the FCS length in bits 28-31 is valid.
	lt := p.order.Uint32(h[20:])
	p.linkType = LinkType(lt & 0xffff)
	if lt&(1<<26) != 0 {
		p.fcsLen = int(lt>>28) * 2
	}
	return p, nil
}

// LinkType returns the file's link type (pcap has one per file).
func (p *PcapReader) LinkType() LinkType { return p.linkType }

// SnapLen returns the snap length from the file header.
func (p *PcapReader) SnapLen() int { return int(p.snapLen) }

// Nanosecond reports whether the file has nanosecond timestamps.
func (p *PcapReader) Nanosecond() bool { return p.nano }

// ByteOrder returns the byte order the file was written in.
func (p *PcapReader) ByteOrder() binary.ByteOrder { return p.order }

// FCSLength returns the number of frame check sequence bytes at the end of
// each packet, when the file header says so (0 otherwise).
func (p *PcapReader) FCSLength() int { return p.fcsLen }

// SetMaxPacketSize changes the largest captured length accepted for one
// record (default MaxPacketSize).
func (p *PcapReader) SetMaxPacketSize(n int) { p.maxPacket = n }

// Offset returns the byte offset of the next record in the (decompressed)
// input.
func (p *PcapReader) Offset() int64 { return p.off }

// Resyncs returns how many times the reader skipped forward after a
// corrupt record header, and SkippedBytes how many bytes it skipped.
func (p *PcapReader) Resyncs() int        { return p.resyncs }
func (p *PcapReader) SkippedBytes() int64 { return p.skipped }

// Next returns the next packet. Packet.Data is valid until the next call.
func (p *PcapReader) Next() (Packet, error) {
	if p.err != nil {
		return Packet{}, p.err
	}
	if p.resync {
		if err := p.doResync(); err != nil {
			p.err = err
			return Packet{}, err
		}
		p.resync = false
	}
	n, err := io.ReadFull(p.r, p.hdr[:])
	if err != nil {
		if n == 0 && err == io.EOF {
			return Packet{}, io.EOF
		}
		p.err = fmt.Errorf("pcap: record %d at offset %d: header: %d of %d bytes: %w",
			p.records+1, p.off, n, pcapRecordHdrLen, truncErr(err))
		return Packet{}, p.err
	}
	sec := p.order.Uint32(p.hdr[0:])
	frac := p.order.Uint32(p.hdr[4:])
	capLen := p.order.Uint32(p.hdr[8:])
	origLen := p.order.Uint32(p.hdr[12:])
	if uint64(capLen) > uint64(p.maxPacket) {
		err := fmt.Errorf("pcap: record %d at offset %d: captured length %d > limit %d: %w",
			p.records+1, p.off, capLen, p.maxPacket, ErrCorrupt)
		p.off += pcapRecordHdrLen
		p.resync = true
		return Packet{}, err
	}
	data, err := readRecord(p.r, &p.buf, int(capLen))
	if err != nil {
		p.err = fmt.Errorf("pcap: record %d at offset %d: data: %d of %d bytes: %w",
			p.records+1, p.off, len(data), capLen, truncErr(err))
		return Packet{}, p.err
	}
	p.off += pcapRecordHdrLen + int64(capLen)
	p.records++
	p.lastSec, p.haveLast = sec, true
	nsec := int64(frac)
	if !p.nano {
		nsec *= 1000
	}
	return Packet{
		Timestamp:     time.Unix(int64(sec), nsec).UTC(),
		LinkType:      p.linkType,
		CaptureLength: int(capLen),
		Length:        int(origLen),
		Data:          data,
	}, nil
}

// plausible reports whether h looks like a record header that follows a
// record read earlier in this file.
func (p *PcapReader) plausible(h []byte) bool {
	sec := p.order.Uint32(h[0:])
	frac := p.order.Uint32(h[4:])
	capLen := p.order.Uint32(h[8:])
	origLen := p.order.Uint32(h[12:])
	limit := uint32(1_000_000)
	if p.nano {
		limit = 1_000_000_000
	}
	if frac >= limit || uint64(capLen) > uint64(p.maxPacket) || capLen > origLen || origLen > 1<<24 {
		return false
	}
	if p.haveLast {
		d := int64(sec) - int64(p.lastSec)
		if d < -86400 || d > 86400 {
			return false
		}
	}
	return true
}

// doResync advances the input to the next plausible record header.
func (p *PcapReader) doResync() error {
	start := p.off
	for scanned := 0; scanned < maxResyncScan; scanned++ {
		h, err := p.r.Peek(pcapRecordHdrLen)
		if len(h) < pcapRecordHdrLen {
			if len(h) == 0 && err == io.EOF {
				p.skipped += p.off - start
				return io.EOF
			}
			return fmt.Errorf("pcap: resync from offset %d: no record header before end of input at %d: %w", start, p.off, ErrTruncated)
		}
		if p.plausible(h) {
			capLen := int(p.order.Uint32(h[8:]))
			next := pcapRecordHdrLen + capLen
			// Confirm with the header after it, when it fits in the
			// buffer; at the very end of the input, the record alone.
			if next+pcapRecordHdrLen > p.r.Size() {
				p.resyncs++
				p.skipped += p.off - start
				return nil
			}
			if nb, err := p.r.Peek(next + pcapRecordHdrLen); len(nb) == next+pcapRecordHdrLen && p.plausible(nb[next:]) ||
				len(nb) == next && err == io.EOF {
				p.resyncs++
				p.skipped += p.off - start
				return nil
			}
		}
		_, _ = p.r.Discard(1)
		p.off++
	}
	return fmt.Errorf("pcap: no plausible record header within %d bytes after offset %d: %w", maxResyncScan, start, ErrCorrupt)
}

// truncErr maps an unexpected EOF to ErrTruncated and keeps other errors
// (an I/O or gzip error) as they are.
func truncErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, bufio.ErrBufferFull) {
		return ErrTruncated
	}
	return err
}

// PcapWriterOptions configures a PcapWriter.
type PcapWriterOptions struct {
	// Nanosecond selects the nanosecond magic (0xa1b23c4d) instead of
	// microsecond timestamps.
	Nanosecond bool
	// SnapLen is written to the file header (default 262144).
	SnapLen int
}

// PcapWriter writes a little-endian pcap file. It buffers; call Flush.
type PcapWriter struct {
	w        *bufio.Writer
	linkType LinkType
	nano     bool
	hdr      [pcapRecordHdrLen]byte
}

// NewPcapWriter writes the file header for linkType and returns a writer.
func NewPcapWriter(w io.Writer, linkType LinkType, opts PcapWriterOptions) (*PcapWriter, error) {
	snap := opts.SnapLen
	if snap <= 0 {
		snap = 262144
	}
	pw := &PcapWriter{w: bufio.NewWriterSize(w, 64<<10), linkType: linkType, nano: opts.Nanosecond}
	var h [pcapFileHdrLen]byte
	magic := uint32(pcapMagicMicro)
	if opts.Nanosecond {
		magic = pcapMagicNano
	}
	le := binary.LittleEndian
	le.PutUint32(h[0:], magic)
	le.PutUint16(h[4:], 2)
	le.PutUint16(h[6:], 4)
	le.PutUint32(h[16:], uint32(snap))
	le.PutUint32(h[20:], uint32(linkType))
	if _, err := pw.w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap: write file header: %w", err)
	}
	return pw, nil
}

// LinkType is the file's link type.
func (w *PcapWriter) LinkType() LinkType { return w.linkType }

// WritePacket appends one record. The packet's link type must be the
// file's (or zero, meaning the file's). Length defaults to len(Data).
func (w *PcapWriter) WritePacket(p Packet) error {
	if p.LinkType != w.linkType && p.LinkType != 0 {
		return fmt.Errorf("pcap: packet link type %v in a %v file: %w", p.LinkType, w.linkType, ErrLinkType)
	}
	orig := p.Length
	if orig < len(p.Data) {
		orig = len(p.Data)
	}
	sec, nsec := timeParts(p.Timestamp)
	frac := uint32(nsec)
	if !w.nano {
		frac /= 1000
	}
	le := binary.LittleEndian
	le.PutUint32(w.hdr[0:], uint32(sec))
	le.PutUint32(w.hdr[4:], frac)
	le.PutUint32(w.hdr[8:], uint32(len(p.Data)))
	le.PutUint32(w.hdr[12:], uint32(orig))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return fmt.Errorf("pcap: write record: %w", err)
	}
	if _, err := w.w.Write(p.Data); err != nil {
		return fmt.Errorf("pcap: write record: %w", err)
	}
	return nil
}

// Flush writes buffered data to the underlying writer.
func (w *PcapWriter) Flush() error { return w.w.Flush() }

// timeParts returns seconds and nanoseconds since 1970; the zero Time maps
// to 0, 0.
func timeParts(t time.Time) (int64, int64) {
	if t.IsZero() {
		return 0, 0
	}
	return t.Unix(), int64(t.Nanosecond())
}
