package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// pcapng block types and option codes, from draft-ietf-opsawg-pcapng
// ("PCAP Now Generic (pcapng) Capture File Format").
const (
	blockSHB = 0x0A0D0D0A // §4.1 Section Header Block
	blockIDB = 0x00000001 // §4.2 Interface Description Block
	blockOPB = 0x00000002 // Appendix A: obsolete Packet Block
	blockSPB = 0x00000003 // §4.4 Simple Packet Block
	blockEPB = 0x00000006 // §4.3 Enhanced Packet Block

	byteOrderMagic = 0x1A2B3C4D // §4.1 Byte-Order Magic

	optEndOfOpt = 0  // §3.5 opt_endofopt
	optComment  = 1  // §3.5 opt_comment
	optIfName   = 2  // §4.2 if_name
	optTSResol  = 9  // §4.2 if_tsresol
	optTSOffset = 14 // §4.2 if_tsoffset
	optUserAppl = 4  // §4.1 shb_userappl
)

// Interface describes one capture interface of a pcapng section (from its
// Interface Description Block).
type Interface struct {
	LinkType LinkType
	SnapLen  int    // 0 means no limit
	Name     string // if_name, if present
	// TSResolution is the raw if_tsresol value: units of 10^-n seconds, or
	// 2^-n seconds when the high bit is set. The default is 6 (µs).
	TSResolution uint8
	// TSOffset is if_tsoffset: seconds added to every timestamp.
	TSOffset int64
}

type ngIface struct {
	Interface
	unitsPerSec uint64
}

// PcapngReader reads a pcapng file: any number of sections, each in its own
// byte order, each with its own interfaces (so several link types in one
// file). It returns packets from Enhanced, Simple and (obsolete) Packet
// Blocks and skips every other block type.
//
// Error handling: at EOF in the middle of a block, Next returns an error
// wrapping ErrTruncated, and so does every later call. A block that is
// inconsistent (trailing length differs from the leading one, packet longer
// than the block, unknown interface, bad if_tsresol) is reported once as an
// error wrapping ErrCorrupt; if the bytes after it start a plausible block
// header (or the input ends there), the next call continues with that block,
// otherwise the error is final and returned by every later call. A block
// length below 12 bytes or above the block limit (MaxBlockSize) is final,
// since the next block cannot be found.
type PcapngReader struct {
	r        *bufio.Reader
	order    binary.ByteOrder
	maxBlock int
	off      int64 // offset of the next block
	blocks   int   // blocks read
	packets  int   // packets returned
	sections int
	ifaces   []ngIface
	err      error
	buf      []byte
}

// NewPcapngReader reads the first Section Header Block from r and returns
// a reader positioned after it.
func NewPcapngReader(r io.Reader) (*PcapngReader, error) {
	br := buffered(r)
	p := &PcapngReader{r: br, maxBlock: MaxBlockSize, order: binary.LittleEndian}
	h, _ := br.Peek(4)
	if len(h) < 4 {
		return nil, fmt.Errorf("pcapng: %d-byte input: %w", len(h), ErrTruncated)
	}
	if binary.LittleEndian.Uint32(h) != blockSHB {
		return nil, fmt.Errorf("pcapng: first block type %#08x is not a section header: %w", binary.BigEndian.Uint32(h), ErrUnknownFormat)
	}
	if _, err := p.nextBlock(); err != nil {
		return nil, err
	}
	return p, nil
}

// SetMaxBlockSize changes the largest block accepted (default MaxBlockSize).
func (p *PcapngReader) SetMaxBlockSize(n int) { p.maxBlock = n }

// Interfaces returns the interfaces of the current section, indexed by
// interface ID (Packet.Interface). It returns a new slice each call.
func (p *PcapngReader) Interfaces() []Interface {
	out := make([]Interface, len(p.ifaces))
	for i := range p.ifaces {
		out[i] = p.ifaces[i].Interface
	}
	return out
}

// ByteOrder returns the byte order of the current section.
func (p *PcapngReader) ByteOrder() binary.ByteOrder { return p.order }

// Sections returns how many section header blocks were read so far.
func (p *PcapngReader) Sections() int { return p.sections }

// Offset returns the byte offset of the next block in the (decompressed)
// input.
func (p *PcapngReader) Offset() int64 { return p.off }

// Next returns the next packet. Packet.Data is valid until the next call.
func (p *PcapngReader) Next() (Packet, error) {
	for {
		if p.err != nil {
			return Packet{}, p.err
		}
		pkt, err := p.nextBlock()
		if err != nil || pkt.Data != nil {
			return pkt, err
		}
	}
}

// blockErr builds an error about the block that starts at off.
func (p *PcapngReader) blockErr(off int64, typ uint32, format string, args ...any) error {
	return fmt.Errorf("pcapng: block %d (type %#x) at offset %d: %s", p.blocks+1, typ, off, fmt.Sprintf(format, args...))
}

// nextBlock reads one block. It returns a packet with non-nil Data for a
// packet block, a zero Packet for any other block, or an error.
func (p *PcapngReader) nextBlock() (Packet, error) {
	start := p.off
	h, err := p.r.Peek(12)
	if len(h) == 0 && err == io.EOF {
		return Packet{}, io.EOF
	}
	if len(h) < 8 {
		p.err = fmt.Errorf("pcapng: block %d at offset %d: header: %d of 8 bytes: %w", p.blocks+1, start, len(h), truncErr(err))
		return Packet{}, p.err
	}
	order := p.order
	typ := order.Uint32(h)
	if typ == blockSHB {
		if len(h) < 12 {
			p.err = fmt.Errorf("%w: %w", p.blockErr(start, typ, "section header: %d of 12 bytes", len(h)), ErrTruncated)
			return Packet{}, p.err
		}
		switch {
		case binary.LittleEndian.Uint32(h[8:]) == byteOrderMagic:
			order = binary.LittleEndian
		case binary.BigEndian.Uint32(h[8:]) == byteOrderMagic:
			order = binary.BigEndian
		default:
			p.err = fmt.Errorf("%w: %w", p.blockErr(start, typ, "byte-order magic %#08x", binary.BigEndian.Uint32(h[8:])), ErrCorrupt)
			return Packet{}, p.err
		}
	}
	length := order.Uint32(h[4:])
	if length < 12 || uint64(length) > uint64(p.maxBlock) {
		p.err = fmt.Errorf("%w: %w", p.blockErr(start, typ, "length %d outside [12, %d]", length, p.maxBlock), ErrCorrupt)
		return Packet{}, p.err
	}
	block, err := readRecord(p.r, &p.buf, int(length))
	if err != nil {
		p.err = fmt.Errorf("%w: %w", p.blockErr(start, typ, "%d of %d bytes", len(block), length), truncErr(err))
		return Packet{}, p.err
	}
	p.off += int64(length)
	p.blocks++
	// §3.1: Block Total Length is repeated at the end, and is a multiple
	// of 4.
	if tail := order.Uint32(block[length-4:]); tail != length || length%4 != 0 {
		return Packet{}, p.corrupt(p.blockErr(start, typ, "length %d, trailing length %d", length, tail))
	}
	body := block[8 : length-4]
	switch typ {
	case blockSHB:
		if len(body) < 16 {
			p.err = fmt.Errorf("%w: %w", p.blockErr(start, typ, "section header body %d < 16 bytes", len(body)), ErrCorrupt)
			return Packet{}, p.err
		}
		if major := order.Uint16(body[4:]); major != 1 {
			p.err = fmt.Errorf("%w: %w", p.blockErr(start, typ, "major version %d, want 1", major), ErrCorrupt)
			return Packet{}, p.err
		}
		p.order = order
		p.ifaces = p.ifaces[:0]
		p.sections++
		return Packet{}, nil
	case blockIDB:
		return Packet{}, p.readIDB(start, body)
	case blockEPB:
		if len(body) < 20 {
			return Packet{}, p.corrupt(p.blockErr(start, typ, "body %d < 20 bytes", len(body)))
		}
		id := order.Uint32(body)
		capLen := order.Uint32(body[12:])
		if uint64(capLen) > uint64(len(body)-20) {
			return Packet{}, p.corrupt(p.blockErr(start, typ, "captured length %d > %d bytes in block", capLen, len(body)-20))
		}
		return p.packet(start, typ, id, order.Uint32(body[4:]), order.Uint32(body[8:]), body[20:20+capLen], order.Uint32(body[16:]))
	case blockSPB:
		if len(body) < 4 {
			return Packet{}, p.corrupt(p.blockErr(start, typ, "body %d < 4 bytes", len(body)))
		}
		if len(p.ifaces) == 0 {
			return Packet{}, p.corrupt(p.blockErr(start, typ, "simple packet block before any interface"))
		}
		// §4.4: the captured length is the smaller of the original
		// length and interface 0's snap length; the block may be padded.
		orig := order.Uint32(body)
		capLen := uint64(orig)
		if s := uint64(p.ifaces[0].SnapLen); s != 0 && s < capLen {
			capLen = s
		}
		if capLen > uint64(len(body)-4) {
			capLen = uint64(len(body) - 4)
		}
		data := body[4 : 4+capLen]
		p.packets++
		return Packet{Interface: 0, LinkType: p.ifaces[0].LinkType, CaptureLength: len(data), Length: int(orig), Data: data}, nil
	case blockOPB:
		if len(body) < 20 {
			return Packet{}, p.corrupt(p.blockErr(start, typ, "body %d < 20 bytes", len(body)))
		}
		capLen := order.Uint32(body[12:])
		if uint64(capLen) > uint64(len(body)-20) {
			return Packet{}, p.corrupt(p.blockErr(start, typ, "captured length %d > %d bytes in block", capLen, len(body)-20))
		}
		return p.packet(start, typ, uint32(order.Uint16(body)), order.Uint32(body[4:]), order.Uint32(body[8:]), body[20:20+capLen], order.Uint32(body[16:]))
	}
	return Packet{}, nil // §3.1: skip blocks we do not know
}

// packet completes a packet from an EPB or OPB.
func (p *PcapngReader) packet(start int64, typ, id, tsHigh, tsLow uint32, data []byte, orig uint32) (Packet, error) {
	if uint64(id) >= uint64(len(p.ifaces)) {
		return Packet{}, p.corrupt(p.blockErr(start, typ, "interface %d not described (%d interfaces)", id, len(p.ifaces)))
	}
	ifc := &p.ifaces[id]
	if ifc.unitsPerSec == 0 {
		return Packet{}, p.corrupt(p.blockErr(start, typ, "interface %d has an invalid if_tsresol %#x", id, ifc.TSResolution))
	}
	units := uint64(tsHigh)<<32 | uint64(tsLow)
	sec := units / ifc.unitsPerSec
	hi, lo := bits.Mul64(units%ifc.unitsPerSec, 1e9)
	nsec, _ := bits.Div64(hi, lo, ifc.unitsPerSec)
	p.packets++
	return Packet{
		Timestamp:     time.Unix(int64(sec)+ifc.TSOffset, int64(nsec)).UTC(),
		Interface:     int(id),
		LinkType:      ifc.LinkType,
		CaptureLength: len(data),
		Length:        int(orig),
		Data:          data,
	}, nil
}

// readIDB parses an Interface Description Block (§4.2).
func (p *PcapngReader) readIDB(start int64, body []byte) error {
	if len(body) < 8 {
		return p.corrupt(p.blockErr(start, blockIDB, "body %d < 8 bytes", len(body)))
	}
	ifc := ngIface{Interface: Interface{
		LinkType:     LinkType(p.order.Uint16(body)),
		SnapLen:      int(p.order.Uint32(body[4:])),
		TSResolution: 6,
	}}
	opts := body[8:]
	for len(opts) >= 4 {
		code := p.order.Uint16(opts)
		n := int(p.order.Uint16(opts[2:]))
		if code == optEndOfOpt || 4+n > len(opts) {
			break
		}
		v := opts[4 : 4+n]
		switch {
		case code == optTSResol && n >= 1:
			ifc.TSResolution = v[0]
		case code == optTSOffset && n >= 8:
			ifc.TSOffset = int64(p.order.Uint64(v))
		case code == optIfName:
			ifc.Name = string(v)
		}
		opts = opts[min(len(opts), 4+(n+3)&^3):]
	}
	ifc.unitsPerSec = unitsPerSecond(ifc.TSResolution)
	p.ifaces = append(p.ifaces, ifc)
	return nil
}

// unitsPerSecond converts if_tsresol to timestamp units per second, or 0
// if it does not fit in 64 bits.
func unitsPerSecond(res uint8) uint64 {
	if res&0x80 != 0 {
		if e := res & 0x7f; e < 64 {
			return 1 << e
		}
		return 0
	}
	if res > 19 {
		return 0
	}
	u := uint64(1)
	for range res {
		u *= 10
	}
	return u
}

// corrupt reports a block that was consumed but is inconsistent. If what
// follows does not look like a block, the error becomes final.
func (p *PcapngReader) corrupt(err error) error {
	err = fmt.Errorf("%w: %w", err, ErrCorrupt)
	h, _ := p.r.Peek(12)
	if len(h) == 0 {
		return err
	}
	if !p.saneHeader(h) {
		p.err = fmt.Errorf("%w (no block header follows at offset %d)", err, p.off)
	}
	return err
}

// saneHeader reports whether h (up to 12 bytes) looks like the start of a
// block.
func (p *PcapngReader) saneHeader(h []byte) bool {
	if len(h) < 8 {
		return false
	}
	order := p.order
	typ := order.Uint32(h)
	switch {
	case typ == blockSHB:
		if len(h) < 12 {
			return false
		}
		if binary.BigEndian.Uint32(h[8:]) == byteOrderMagic {
			order = binary.BigEndian
		} else if binary.LittleEndian.Uint32(h[8:]) == byteOrderMagic {
			order = binary.LittleEndian
		} else {
			return false
		}
	case typ < 0x100, typ&0x7fffffff == 0xBAD: // standard and custom blocks
	default:
		return false
	}
	n := order.Uint32(h[4:])
	return n >= 12 && n%4 == 0 && uint64(n) <= uint64(p.maxBlock)
}

// PcapngWriterOptions configures a PcapngWriter.
type PcapngWriterOptions struct {
	// Application is written as shb_userappl, if not empty.
	Application string
}

// PcapngWriter writes a little-endian pcapng file with one section.
// Interfaces are added with AddInterface; packets refer to them by index
// (Packet.Interface). Timestamps are written in nanoseconds (if_tsresol 9).
// It buffers; call Flush.
type PcapngWriter struct {
	w      *bufio.Writer
	ifaces []LinkType
	hdr    [28]byte
}

// NewPcapngWriter writes a Section Header Block and returns a writer.
func NewPcapngWriter(w io.Writer, opts PcapngWriterOptions) (*PcapngWriter, error) {
	pw := &PcapngWriter{w: bufio.NewWriterSize(w, 64<<10)}
	var body []byte
	body = binary.LittleEndian.AppendUint32(body, byteOrderMagic)
	body = binary.LittleEndian.AppendUint16(body, 1) // major
	body = binary.LittleEndian.AppendUint16(body, 0) // minor
	body = binary.LittleEndian.AppendUint64(body, ^uint64(0))
	if opts.Application != "" {
		body = appendOption(body, optUserAppl, []byte(opts.Application))
		body = appendOption(body, optEndOfOpt, nil)
	}
	if err := pw.writeBlock(blockSHB, body); err != nil {
		return nil, err
	}
	return pw, nil
}

// AddInterface writes an Interface Description Block and returns the new
// interface's index, for Packet.Interface.
func (w *PcapngWriter) AddInterface(ifc Interface) (int, error) {
	var body []byte
	body = binary.LittleEndian.AppendUint16(body, uint16(ifc.LinkType))
	body = binary.LittleEndian.AppendUint16(body, 0)
	body = binary.LittleEndian.AppendUint32(body, uint32(max(ifc.SnapLen, 0)))
	if ifc.Name != "" {
		body = appendOption(body, optIfName, []byte(ifc.Name))
	}
	body = appendOption(body, optTSResol, []byte{9})
	body = appendOption(body, optEndOfOpt, nil)
	if err := w.writeBlock(blockIDB, body); err != nil {
		return 0, err
	}
	w.ifaces = append(w.ifaces, ifc.LinkType)
	return len(w.ifaces) - 1, nil
}

// WritePacket writes an Enhanced Packet Block (§4.3) for p on interface
// p.Interface, which must have been added. Length defaults to len(Data).
func (w *PcapngWriter) WritePacket(p Packet) error {
	if p.Interface < 0 || p.Interface >= len(w.ifaces) {
		return fmt.Errorf("pcapng: packet on interface %d, %d interfaces added", p.Interface, len(w.ifaces))
	}
	if p.LinkType != 0 && p.LinkType != w.ifaces[p.Interface] {
		return fmt.Errorf("pcapng: packet link type %v on a %v interface: %w", p.LinkType, w.ifaces[p.Interface], ErrLinkType)
	}
	orig := max(p.Length, len(p.Data))
	sec, nsec := timeParts(p.Timestamp)
	ts := uint64(sec)*1e9 + uint64(nsec)
	pad := (4 - len(p.Data)%4) % 4
	total := 32 + len(p.Data) + pad
	le := binary.LittleEndian
	le.PutUint32(w.hdr[0:], blockEPB)
	le.PutUint32(w.hdr[4:], uint32(total))
	le.PutUint32(w.hdr[8:], uint32(p.Interface))
	le.PutUint32(w.hdr[12:], uint32(ts>>32))
	le.PutUint32(w.hdr[16:], uint32(ts))
	le.PutUint32(w.hdr[20:], uint32(len(p.Data)))
	le.PutUint32(w.hdr[24:], uint32(orig))
	if _, err := w.w.Write(w.hdr[:28]); err != nil {
		return fmt.Errorf("pcapng: write packet: %w", err)
	}
	if _, err := w.w.Write(p.Data); err != nil {
		return fmt.Errorf("pcapng: write packet: %w", err)
	}
	var tail [8]byte
	le.PutUint32(tail[pad:], uint32(total))
	if _, err := w.w.Write(tail[:pad+4]); err != nil {
		return fmt.Errorf("pcapng: write packet: %w", err)
	}
	return nil
}

// Flush writes buffered data to the underlying writer.
func (w *PcapngWriter) Flush() error { return w.w.Flush() }

func (w *PcapngWriter) writeBlock(typ uint32, body []byte) error {
	b := make([]byte, 0, 12+len(body))
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(12+len(body)))
	b = append(b, body...)
	b = binary.LittleEndian.AppendUint32(b, uint32(12+len(body)))
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("pcapng: write block type %#x: %w", typ, err)
	}
	return nil
}

// appendOption appends one option (§3.5), padded to 32 bits.
func appendOption(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for range (4 - len(v)%4) % 4 {
		b = append(b, 0)
	}
	return b
}

// PcapngRecorder writes packets from any number of interfaces and link
// types (a live capture on all interfaces, a merge of files) to one pcapng
// section: it adds an Interface Description Block the first time it sees a
// (Packet.Interface, Packet.LinkType) pair and rewrites Packet.Interface to
// that block's index.
type PcapngRecorder struct {
	w *PcapngWriter
	// Name, if set, names the interface with the given index (if_name),
	// for example with net.InterfaceByIndex for a live capture.
	Name func(index int) string
	ids  map[recKey]int
	snap int
}

type recKey struct {
	index int
	lt    LinkType
}

// NewPcapngRecorder returns a recorder writing to w with snap length snap
// in each interface description (0: no limit).
func NewPcapngRecorder(w *PcapngWriter, snap int) *PcapngRecorder {
	return &PcapngRecorder{w: w, ids: make(map[recKey]int), snap: snap}
}

// WritePacket writes p, describing its interface first if it is new.
func (r *PcapngRecorder) WritePacket(p Packet) error {
	k := recKey{p.Interface, p.LinkType}
	id, ok := r.ids[k]
	if !ok {
		ifc := Interface{LinkType: p.LinkType, SnapLen: r.snap}
		if r.Name != nil {
			ifc.Name = r.Name(p.Interface)
		}
		var err error
		if id, err = r.w.AddInterface(ifc); err != nil {
			return err
		}
		r.ids[k] = id
	}
	p.Interface = id
	return r.w.WritePacket(p)
}

// Flush flushes the underlying writer.
func (r *PcapngRecorder) Flush() error { return r.w.Flush() }
