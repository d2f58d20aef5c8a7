package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Format names a capture file format.
type Format int

// Formats NewReader detects.
const (
	FormatPcap Format = iota + 1
	FormatPcapng
)

func (f Format) String() string {
	switch f {
	case FormatPcap:
		return "pcap"
	case FormatPcapng:
		return "pcapng"
	}
	return "unknown"
}

// Reader is a capture file reader: a *PcapReader or a *PcapngReader.
type Reader interface {
	Source
	// Offset is the byte offset of the next record or block in the
	// (decompressed) input.
	Offset() int64
}

// NewReader detects the format of r by its magic number (gzip, then pcap
// in either byte order and timestamp precision, or pcapng) and returns a
// reader for it. The file name plays no part. It reads r through a buffer
// and never holds more than one record or block in memory.
func NewReader(r io.Reader) (Reader, Format, error) {
	br := bufio.NewReaderSize(r, bufSize)
	magic, _ := br.Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b { // RFC 1952 §2.3.1
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("capture: gzip header: %w", gzipErr(err))
		}
		br = bufio.NewReaderSize(gzipReader{zr}, bufSize)
		magic, _ = br.Peek(4)
	}
	if len(magic) < 4 {
		return nil, 0, fmt.Errorf("capture: %d-byte input, no magic number: %w", len(magic), ErrTruncated)
	}
	switch m := binary.LittleEndian.Uint32(magic); m {
	case blockSHB:
		pr, err := NewPcapngReader(br)
		return pr, FormatPcapng, err
	case pcapMagicMicro, pcapMagicNano, swap32(pcapMagicMicro), swap32(pcapMagicNano):
		pr, err := NewPcapReader(br)
		return pr, FormatPcap, err
	}
	return nil, 0, fmt.Errorf("capture: magic %#08x: %w", binary.BigEndian.Uint32(magic), ErrUnknownFormat)
}

// gzipReader reports corrupt compressed data as ErrCorrupt and a cut
// stream as io.ErrUnexpectedEOF (which readers turn into ErrTruncated).
type gzipReader struct{ r *gzip.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = gzipErr(err)
	}
	return n, err
}

func gzipErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("gzip: %w: %w", ErrTruncated, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("gzip: %w: %w", ErrCorrupt, err)
}

func swap32(v uint32) uint32 { return v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24 }

// File is a capture file opened with Open.
type File struct {
	Reader
	Format Format
	f      *os.File
}

// Open opens the named capture file (pcap or pcapng, plain or gzip).
func Open(name string) (*File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	r, format, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &File{Reader: r, Format: format, f: f}, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Writer is a capture file writer: a *PcapWriter or a *PcapngWriter.
type Writer interface {
	WritePacket(Packet) error
	Flush() error
}

var (
	_ Writer = (*PcapWriter)(nil)
	_ Writer = (*PcapngWriter)(nil)
	_ Reader = (*PcapReader)(nil)
	_ Reader = (*PcapngReader)(nil)
)
