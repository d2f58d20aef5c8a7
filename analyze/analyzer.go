package analyze

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

// Config tunes an Analyzer. The zero value is usable.
type Config struct {
	// MaxBuffer caps the out-of-order data held across all streams, in
	// bytes (default DefaultMaxBuffer). When it is exceeded the analyzer
	// gives up waiting for the missing data of the stream that holds the
	// most, reports a hole and moves on: memory stays bounded whatever the
	// capture's size.
	MaxBuffer int64
	// History is how many already-delivered bytes each stream keeps to
	// compare later copies (retransmissions, reinjections) with (default
	// DefaultHistory). Copies older than that are counted, not compared.
	History int
	// Hash computes the SHA-256 of each stream's delivered bytes.
	Hash bool
	// Sink, if set, receives each stream's data as it becomes contiguous.
	Sink Sink
	// OnPacket, if set, is called for every TCP segment after it has been
	// analyzed (the per-packet view). The PacketInfo is reused.
	OnPacket func(*PacketInfo)
	// MaxHalfOpen bounds the connection attempts (SYNs with MPTCP options
	// not answered yet) held at once, and as many subflows that belong to
	// no connection (default DefaultMaxHalfOpen). Past it the oldest are
	// given up and counted with the orphans: a SYN flood or a scan costs
	// a fixed amount of memory.
	MaxHalfOpen int
	// MaxConnections bounds the connections open at once (default
	// DefaultMaxConnections). Past it the least recently active one is
	// finished early (a table_full finding says so), so that crafted
	// handshakes that never end cost a bounded amount of memory.
	MaxConnections int
	// OnConnection, if set, receives each connection when it is finished
	// (both DATA_FINs and every subflow closed, an MP_FASTCLOSE, every
	// subflow reset, or Finish); the analyzer then forgets it, so memory
	// stays flat however many connections a capture holds. The Result of
	// Finish then has no connections: they all went to the hook.
	OnConnection func(Connection)
	// Logger receives debug logs (nil: discard).
	Logger *slog.Logger
}

// Defaults for Config.
const (
	DefaultMaxBuffer = 256 << 20
	DefaultHistory   = 256 << 10
)

// ConnInfo identifies a connection to a Sink.
type ConnInfo struct {
	ID     int
	Client netip.AddrPort
	Server netip.AddrPort
}

// Sink receives reassembled data as it becomes contiguous, so that whole
// streams never need to be held in memory. Calls for one stream come in
// offset order: Data and Hole cover the stream without overlap, then End.
// b is only valid during the call.
type Sink interface {
	Data(c *ConnInfo, dir int, ts time.Time, off uint64, b []byte)
	Hole(c *ConnInfo, dir int, ts time.Time, off, size uint64)
	End(c *ConnInfo, dir int, ts time.Time)
}

// PacketInfo describes one analyzed TCP segment for the per-packet view.
type PacketInfo struct {
	Index    uint64
	Time     time.Time
	Src, Dst netip.AddrPort
	Flags    uint8
	// Seq and Ack are relative to the subflow's initial sequence numbers
	// (or to the first seen, without a SYN).
	Seq, Ack uint32
	Len      int
	// Conn and Subflow are IDs (0: none); Dir is the connection-level
	// direction (0 client to server).
	Conn, Subflow int
	Dir           int
	// HasDSN: the payload was mapped; DSN is the data-level offset of its
	// first byte (relative, like Stream offsets).
	HasDSN bool
	DSN    uint64
	// Options is the raw TCP options block (aliases the packet).
	Options []byte
	// Rejected: the subflow's join did not verify.
	Rejected bool
	// Window is the TCP header's window field (not scaled).
	Window uint16
	// Analysis holds what the analysis found about this segment.
	Analysis PacketFlags
	// HasDataACK: the segment carried a DATA_ACK; DataACK is its value
	// relative to the origin of the stream it acknowledges (direction
	// 1-Dir), like Stream offsets.
	HasDataACK bool
	DataACK    uint64
	// Source is the source tag given to PacketFrom (the input file of a
	// merged capture), 0 for Packet.
	Source int
}

// PacketFlags say what the analysis found about one segment; the names
// follow tshark's tcp.analysis fields where they mean the same.
type PacketFlags uint16

// Packet flags.
const (
	// PacketRetransmission: the payload was all seen before on this
	// subflow direction (it ends at or below the highest sequence number
	// seen), as the subflow's retransmission counters count it.
	PacketRetransmission PacketFlags = 1 << iota
	// PacketReinjection: data new on this subflow that the connection had
	// already seen at the data level (RFC 8684 §3.3.6: sent again on
	// another subflow, usually because the first one stalled).
	PacketReinjection
	// PacketDataOutOfOrder: mapped data that lies beyond the next byte
	// the connection's stream expects: it waits for the bytes before it
	// (which another subflow carries, or which were lost).
	PacketDataOutOfOrder
	// PacketDuplicateACK: tshark's tcp.analysis.duplicate_ack: no
	// payload, no SYN, FIN or RST, the same acknowledgment number and a
	// non-zero window equal to those of the previous segment in the same
	// direction, at the next expected sequence number.
	PacketDuplicateACK
	// PacketMappingStart and PacketMappingEnd: the payload holds the
	// first, or the last, byte of a DSS mapping (RFC 8684 §3.3.1).
	PacketMappingStart
	PacketMappingEnd
	// PacketRSTIgnored: a RST a real stack would not accept (not at the
	// next expected sequence number, RFC 5961 §3.2): the analysis goes
	// on as if it had not been sent.
	PacketRSTIgnored
)

// packetFlagNames are the names of the packet flags, in bit order.
var packetFlagNames = [...]string{"retransmission", "reinjection", "data_out_of_order", "duplicate_ack", "mapping_start", "mapping_end", "rst_ignored"}

// Names returns the names of the flags set, in bit order: retransmission,
// reinjection, data_out_of_order, duplicate_ack, mapping_start,
// mapping_end.
func (f PacketFlags) Names() []string {
	var out []string
	for i, n := range packetFlagNames {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// TCP flags.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// flowKey is a TCP 4-tuple in canonical order (a < b), so both directions
// find the same entry.
type flowKey struct {
	a, b netip.AddrPort
}

// Analyzer owns all state of one analysis. Feed it packets in capture order
// with Packet, then call Finish. It is not safe for concurrent use.
type Analyzer struct {
	cfg       Config
	log       *slog.Logger
	flows     map[flowKey]*subflow
	tokens    map[uint32]*conn
	conns     connSet
	index     dsnIndex
	nextSF    int
	nextConn  int
	lastSweep time.Time

	res      Result
	rejected []*subflow

	buffered int64
	pool     bufPool
	histFree [][]byte

	opts [maxOpts]option.Option
	pi   PacketInfo
	seg  segment

	// Connection attempts (halfopen.go), and the SYNs of one being
	// analyzed when it is answered (replaying).
	half      halfOpenTable
	rseg      segment
	ropts     [maxOpts]option.Option
	replaying bool
	// presetConn is the ID newConn gives (an attempt's), if not 0.
	presetConn int
	// Subflows created without a connection, oldest first (loose).
	looseQ       []*subflow
	looseHead    int
	looseEvicted uint64
	// inErr is the last input error finding: its index, the packet
	// count then, its message and how many errors it stands for.
	inErr struct {
		idx int
		at  uint64
		msg string
		n   int
	}
	// rejectedMore counts rejected joins past maxRejectedListed.
	rejectedMore orphanTable
	// connsEvicted counts connections given up for MaxConnections.
	connsEvicted uint64
	// ctx is the context of the last ReadSource (Finish honours it).
	ctx context.Context
	// badTS counts packets whose timestamp was out of range, the first
	// being packet badTSFirst.
	badTS, badTSFirst uint64

	// Per-packet notes for the OnPacket view, reset for each segment.
	pflags    PacketFlags
	pack      uint64 // DATA_ACK of the segment (absolute)
	packSet   bool
	pktSource int

	orphans orphanTable
}

// maxOpts bounds the MPTCP options looked at in one segment: 40 option
// bytes hold at most ten of the shortest (4-byte) MPTCP options.
const maxOpts = 10

// New returns an Analyzer.
func New(cfg Config) *Analyzer {
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = DefaultMaxBuffer
	}
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	if cfg.MaxHalfOpen <= 0 {
		cfg.MaxHalfOpen = DefaultMaxHalfOpen
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Analyzer{
		cfg:    cfg,
		log:    log,
		flows:  make(map[flowKey]*subflow),
		tokens: make(map[uint32]*conn),
	}
}

// segment is the parsed view of the packet being analyzed.
type segment struct {
	ts       time.Time
	src, dst netip.AddrPort
	seq, ack uint32
	flags    uint8
	win      uint16
	opts     []byte
	payload  []byte
	nopts    int
	badOpt   error
	// ov holds the parsed MPTCP options (ov[:nopts]).
	ov *[maxOpts]option.Option
}

// Packet analyzes one IP packet (IPv4 or IPv6, starting at the IP header)
// captured at ts. It never fails: packets that are not TCP or are malformed
// are counted. On the steady path (a known subflow) it allocates nothing.
func (a *Analyzer) Packet(ts time.Time, pkt []byte) {
	a.PacketFrom(ts, 0, pkt)
}

// PacketFrom is Packet for a packet from input number source (the file of
// a merged capture): the per-packet view (Config.OnPacket) carries it in
// PacketInfo.Source.
func (a *Analyzer) PacketFrom(ts time.Time, source int, pkt []byte) {
	a.pktSource = source
	a.res.Packets++
	if y := ts.Year(); y < 1 || y > 9999 {
		// Outside what RFC 3339 (and JSON) can write: a corrupt record or
		// interface description (pcapng if_tsresol, if_tsoffset). The
		// packet is analyzed at the time of the one before.
		ts = a.badTime(ts)
	}
	if a.res.Packets&0xfff == 0 && ts.Sub(a.lastSweep) > flowIdle/2 {
		a.lastSweep = ts
		a.sweep()
	}
	if a.res.First.IsZero() || ts.Before(a.res.First) {
		a.res.First = ts
	}
	if ts.After(a.res.Last) {
		a.res.Last = ts
	}
	s := &a.seg
	s.ov = &a.opts
	ok, isTCP := a.parseIP(pkt, s)
	if !isTCP {
		a.res.NotTCP++
		return
	}
	if !ok {
		a.res.Malformed++
		return
	}
	a.res.TCP++
	s.ts = ts
	a.parseOptions(s)
	if s.nopts > 0 || s.badOpt != nil {
		a.res.MPTCP++
	}
	a.segment(s)
}

// parseIP fills s from an IPv4 or IPv6 packet. isTCP is false for
// non-TCP packets and IP fragments (counted as not TCP: the analyzer does
// not reassemble IP); ok is false when the packet is
// TCP but too short or inconsistent to use.
func (a *Analyzer) parseIP(p []byte, s *segment) (ok, isTCP bool) {
	if len(p) < 1 {
		return false, false
	}
	var tcp header.TCP
	switch p[0] >> 4 {
	case 4:
		ip := header.IPv4(p)
		if len(p) < header.IPv4MinHeaderLen || ip.Protocol() != header.ProtocolTCP {
			return false, false
		}
		if ip.IsFragment() {
			// A fragment (MF set or an offset): the segment is not whole
			// here, and bytes are never guessed.
			return false, false
		}
		// The captured payload: a total length of 0 is what GRO/TSO
		// super-packets over 64 KiB carry (BIG TCP), and the snap length
		// may have cut the packet.
		payload, whole := ip.PayloadCaptured()
		if !whole {
			return false, true
		}
		s.src = netip.AddrPortFrom(ip.SrcAddr(), 0)
		s.dst = netip.AddrPortFrom(ip.DstAddr(), 0)
		tcp = payload
	case 6:
		ip := header.IPv6(p)
		proto, off, end, err := ip.UpperLayerCaptured()
		if err != nil || proto != header.ProtocolTCP {
			return false, false // not TCP, a fragment, or cut in the extension headers
		}
		if off > end {
			return false, true
		}
		s.src = netip.AddrPortFrom(ip.SrcAddr(), 0)
		s.dst = netip.AddrPortFrom(ip.DstAddr(), 0)
		tcp = header.TCP(p[off:end])
	default:
		return false, false
	}
	if !tcp.Valid() {
		return false, true
	}
	doff := tcp.DataOffset()
	s.src = netip.AddrPortFrom(s.src.Addr(), tcp.SrcPort())
	s.dst = netip.AddrPortFrom(s.dst.Addr(), tcp.DstPort())
	s.seq = tcp.Seq()
	s.ack = tcp.Ack()
	s.flags = uint8(tcp.Flags())
	s.win = tcp.Window()
	s.opts = tcp[header.TCPMinHeaderLen:doff]
	s.payload = tcp[doff:]
	return true, true
}

// parseOptions decodes the MPTCP options of s into s.ov.
func (a *Analyzer) parseOptions(s *segment) {
	s.nopts, s.badOpt = 0, nil
	if len(s.opts) == 0 {
		return
	}
	// The TCP options walk is header's; MPTCP options (kind 30) are
	// decoded by package option.
	it := header.NewTCPOptionIterator(s.opts)
	var p option.Parser
	for it.Next() {
		if it.Kind() != option.Kind {
			continue
		}
		if s.nopts == maxOpts {
			break
		}
		b := it.Raw()
		if len(b) >= 3 && option.Subtype(b[2]>>4) == option.SubtypeDSS {
			// The fast path for the option nearly every segment carries:
			// only the DSS fields are written (handlers read the field
			// that Subtype names).
			d, err := option.ParseDSS(b)
			if err != nil {
				if s.badOpt == nil {
					s.badOpt = err
				}
				continue
			}
			o := &s.ov[s.nopts]
			o.Subtype, o.DSS = option.SubtypeDSS, d
			s.nopts++
			continue
		}
		if err := p.ParseInto(&s.ov[s.nopts], b); err != nil {
			if s.badOpt == nil {
				s.badOpt = err
			}
			continue
		}
		s.nopts++
	}
	if err := it.Err(); err != nil && s.badOpt == nil {
		s.badOpt = option.IterError(err)
	}
}

// badTime counts a timestamp outside years 1 to 9999 and returns the time
// to use instead: the last good one (the Unix epoch before any).
func (a *Analyzer) badTime(ts time.Time) time.Time {
	if a.badTS == 0 {
		a.badTSFirst = a.res.Packets
	}
	a.badTS++
	if !a.res.Last.IsZero() {
		return a.res.Last
	}
	return time.Unix(0, 0).UTC()
}
