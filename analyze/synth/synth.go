// Package synth builds synthetic MPTCP traffic (IPv4 or IPv6 packets with
// real MP_CAPABLE keys, MP_JOIN HMACs, DSS mappings and checksums) for the
// analyzer's tests and benchmarks. It plays both ends of one connection and
// hands every packet, as it would appear on the wire, to Emit.
package synth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
)

// Conn is one synthetic MPTCP v1 connection.
type Conn struct {
	// Keys of the client and server (RFC 8684 §3.1).
	Keys [2]uint64
	// Version is V1 (RFC 8684) unless made with NewVersion.
	Version option.Version
	// Checksum asks for DSS checksums in MP_CAPABLE.
	Checksum bool
	// DSN32 sends 4-byte DSNs and DATA_ACKs instead of 8-byte ones.
	DSN32 bool
	// Emit receives each packet (an IP packet) and its time. The slice is
	// reused after Emit returns.
	Emit func(ts time.Time, pkt []byte)
	// Now is the time of the next packet; Step is added after each.
	Now  time.Time
	Step time.Duration

	// DSN is the next data sequence number to send in each direction
	// (0 client to server).
	DSN      [2]uint64
	subflows []*Subflow
	buf      []byte
	opt      []byte
	capData  bool
}

// Subflow is one TCP subflow of a Conn.
type Subflow struct {
	c *Conn
	// Addr[0] is the subflow's client end, Addr[1] its server end.
	Addr [2]netip.AddrPort
	// Seq is the next sequence number each end sends; ISN its initial one.
	Seq, ISN [2]uint32
	// Nonce of each end (joins).
	Nonce [2]uint32
	// Reversed: the subflow's client is the connection's server.
	Reversed bool
	// Initial: the MP_CAPABLE subflow.
	Initial bool
}

// Token returns the token of key (RFC 8684 §3.1).
func Token(key uint64) uint32 {
	d := keyHash(key)
	return binary.BigEndian.Uint32(d[:4])
}

// IDSN returns the initial data sequence number of key.
func IDSN(key uint64) uint64 {
	d := keyHash(key)
	return binary.BigEndian.Uint64(d[24:])
}

func keyHash(key uint64) [32]byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], key)
	return sha256.Sum256(k[:])
}

// JoinHMAC returns HMAC-SHA256(ownKey||peerKey, ownNonce||peerNonce).
func JoinHMAC(ownKey, peerKey uint64, ownNonce, peerNonce uint32) []byte {
	var k [16]byte
	var m [8]byte
	binary.BigEndian.PutUint64(k[:8], ownKey)
	binary.BigEndian.PutUint64(k[8:], peerKey)
	binary.BigEndian.PutUint32(m[:4], ownNonce)
	binary.BigEndian.PutUint32(m[4:], peerNonce)
	h := hmac.New(sha256.New, k[:])
	h.Write(m[:])
	return h.Sum(nil)
}

// New returns an MPTCP v1 connection with the given keys; DSNs start at
// IDSN+1.
func New(clientKey, serverKey uint64, emit func(time.Time, []byte)) *Conn {
	c := &Conn{Version: option.V1, Keys: [2]uint64{clientKey, serverKey}, Emit: emit,
		Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Step: 10 * time.Microsecond}
	c.DSN[0] = IDSN(clientKey) + 1
	c.DSN[1] = IDSN(serverKey) + 1
	return c
}

// NewVersion returns a connection of version v. For v0 (RFC 6824) keys
// go in the SYN and SYN/ACK, tokens, IDSNs and HMACs use SHA-1 (computed
// with package mpcrypto), and the first data carries a DSS mapping.
func NewVersion(v option.Version, clientKey, serverKey uint64, emit func(time.Time, []byte)) *Conn {
	c := New(clientKey, serverKey, emit)
	c.Version = v
	if v == option.V0 {
		c.DSN[0] = mpcrypto.IDSN(v, clientKey) + 1
		c.DSN[1] = mpcrypto.IDSN(v, serverKey) + 1
	}
	return c
}

// Handshake opens the initial subflow with MP_CAPABLE (SYN, SYN/ACK, ACK).
// The first client data then carries its mapping in MP_CAPABLE, as Linux
// does.
func (c *Conn) Handshake(cli, srv netip.AddrPort) *Subflow {
	s := c.newSubflow(cli, srv, false)
	s.Initial = true
	flags := option.CapHMACSHA256
	if c.Checksum {
		flags |= option.CapChecksum
	}
	v := c.Version
	syn := &option.MPCapable{Version: v, Flags: flags}
	if v == option.V0 {
		syn.HasSenderKey, syn.SenderKey = true, c.Keys[0]
	}
	c.send(s, 0, header.TCPFlagSYN, nil, syn)
	c.send(s, 1, header.TCPFlagSYN|header.TCPFlagACK, nil, &option.MPCapable{Version: v, Flags: flags,
		HasSenderKey: true, SenderKey: c.Keys[1]})
	c.send(s, 0, header.TCPFlagACK, nil, &option.MPCapable{Version: v, Flags: flags,
		HasSenderKey: true, SenderKey: c.Keys[0], HasReceiverKey: true, ReceiverKey: c.Keys[1]})
	c.capData = v != option.V0
	return s
}

// JoinOptions tweak a join.
type JoinOptions struct {
	Backup bool
	// Reversed: the connection's server opens the subflow.
	Reversed bool
	// BadHMAC corrupts the initiator's HMAC in the third ACK (a forgery).
	BadHMAC bool
	// Token overrides the token in the SYN (0: the right one).
	Token uint32
}

// Join opens a subflow with MP_JOIN (SYN, SYN/ACK, ACK, ACK).
func (c *Conn) Join(cli, srv netip.AddrPort, o JoinOptions) *Subflow {
	s := c.newSubflow(cli, srv, o.Reversed)
	ini, rsp := 0, 1 // connection sides of the subflow's client and server
	if o.Reversed {
		ini, rsp = 1, 0
	}
	s.Nonce = [2]uint32{0x1000 + uint32(len(c.subflows)), 0x2000 + uint32(len(c.subflows))}
	tok := Token(c.Keys[rsp])
	if c.Version == option.V0 {
		tok = mpcrypto.Token(option.V0, c.Keys[rsp])
	}
	if o.Token != 0 {
		tok = o.Token
	}
	c.send(s, 0, header.TCPFlagSYN, nil, &option.MPJoin{Stage: option.JoinSYN, Backup: o.Backup,
		AddrID: uint8(len(c.subflows)), Token: tok, Nonce: s.Nonce[0]})
	mB := JoinHMAC(c.Keys[rsp], c.Keys[ini], s.Nonce[1], s.Nonce[0])
	mA := JoinHMAC(c.Keys[ini], c.Keys[rsp], s.Nonce[0], s.Nonce[1])
	if c.Version == option.V0 {
		b := mpcrypto.JoinHMAC(option.V0, c.Keys[rsp], c.Keys[ini], s.Nonce[1], s.Nonce[0])
		a := mpcrypto.JoinHMAC(option.V0, c.Keys[ini], c.Keys[rsp], s.Nonce[0], s.Nonce[1])
		mB, mA = b[:], a[:]
	}
	c.send(s, 1, header.TCPFlagSYN|header.TCPFlagACK, nil, &option.MPJoin{Stage: option.JoinSYNACK,
		Backup: o.Backup, AddrID: 0, TruncHMAC: binary.BigEndian.Uint64(mB[:8]), Nonce: s.Nonce[1]})
	j := option.MPJoin{Stage: option.JoinACK}
	copy(j.HMAC[:], mA[:20])
	if o.BadHMAC {
		j.HMAC[3] ^= 0x5a
	}
	c.send(s, 0, header.TCPFlagACK, nil, &j)
	c.send(s, 1, header.TCPFlagACK, nil, c.ackDSS(s, 1))
	return s
}

func (c *Conn) newSubflow(cli, srv netip.AddrPort, reversed bool) *Subflow {
	n := uint32(len(c.subflows) + 1)
	s := &Subflow{c: c, Addr: [2]netip.AddrPort{cli, srv}, Reversed: reversed}
	s.ISN = [2]uint32{0xfffff000 - n*0x10000, 0x7ffff000 + n*0x10000}
	s.Seq = s.ISN
	c.subflows = append(c.subflows, s)
	return s
}

// connDir maps a subflow direction (0: from the subflow's client) to the
// connection's.
func (s *Subflow) connDir(d int) int {
	if s.Reversed {
		return 1 - d
	}
	return d
}

// ackDSS is a DSS carrying only a DATA_ACK for what the sender received.
func (c *Conn) ackDSS(s *Subflow, d int) *option.DSS {
	cd := s.connDir(d)
	o := &option.DSS{Flags: option.DSSDataACK | option.DSSDataACK8, DataACK: c.DSN[1-cd]}
	if c.DSN32 {
		o.Flags = option.DSSDataACK
		o.DataACK &= 0xffffffff
	}
	return o
}

// Send sends data from end d of the subflow (0: its client) in one segment
// with a DSS mapping at the connection's next DSN for that direction.
func (s *Subflow) Send(d int, data []byte) {
	cd := s.connDir(d)
	s.SendAt(d, s.c.DSN[cd], data)
	s.c.DSN[cd] += uint64(len(data))
}

// SendAt sends data mapped at an explicit DSN (a reinjection or a
// retransmission at the data level), new at the subflow level.
func (s *Subflow) SendAt(d int, dsn uint64, data []byte) {
	c := s.c
	if c.capData && s.Initial && d == 0 && !s.Reversed && s.Seq[0] == s.ISN[0]+1 {
		c.capData = false
		o := &option.MPCapable{Version: option.V1, Flags: option.CapHMACSHA256, HasSenderKey: true,
			SenderKey: c.Keys[0], HasReceiverKey: true, ReceiverKey: c.Keys[1], HasDataLen: true, DataLen: uint16(len(data))}
		if c.Checksum {
			o.Flags |= option.CapChecksum
			o.HasChecksum = true
			o.Checksum = DSSChecksum(dsn, 1, uint16(len(data)), data)
		}
		c.send(s, d, header.TCPFlagACK|header.TCPFlagPSH, data, o)
		return
	}
	c.send(s, d, header.TCPFlagACK|header.TCPFlagPSH, data, s.Mapping(d, dsn, data, false))
}

// Mapping returns the DSS for data at dsn sent next by end d, with the
// DATA_ACK; fin adds a DATA_FIN after the data.
func (s *Subflow) Mapping(d int, dsn uint64, data []byte, fin bool) *option.DSS {
	c := s.c
	o := c.ackDSS(s, d)
	o.Flags |= option.DSSMapping | option.DSSDSN8
	o.DSN = dsn
	o.SubflowSeq = s.Seq[d] - s.ISN[d]
	o.DataLen = uint16(len(data))
	if fin {
		o.Flags |= option.DSSDataFIN
		o.DataLen++
		if len(data) == 0 {
			o.SubflowSeq = 0
		}
	}
	if c.DSN32 {
		o.Flags &^= option.DSSDSN8
		o.DSN &= 0xffffffff
	}
	if c.Checksum {
		o.HasChecksum = true
		o.Checksum = DSSChecksum(dsn, o.SubflowSeq, o.DataLen, data)
	}
	return o
}

// SendRaw sends a segment from end d with the given flags, payload and
// options (any option.* value with an Append method), advancing Seq.
func (s *Subflow) SendRaw(d int, flags header.TCPFlags, data []byte, opts ...interface {
	Append([]byte) ([]byte, error)
}) {
	s.c.send(s, d, flags, data, opts...)
}

// DataFIN sends a DATA_FIN (no data) from end d.
func (s *Subflow) DataFIN(d int) {
	cd := s.connDir(d)
	o := s.Mapping(d, s.c.DSN[cd], nil, true)
	s.c.send(s, d, header.TCPFlagACK, nil, o)
	s.c.DSN[cd]++
}

// Close sends FIN from both ends and the last ACK.
func (s *Subflow) Close() {
	c := s.c
	c.send(s, 0, header.TCPFlagFIN|header.TCPFlagACK, nil, c.ackDSS(s, 0))
	c.send(s, 1, header.TCPFlagFIN|header.TCPFlagACK, nil, c.ackDSS(s, 1))
	c.send(s, 0, header.TCPFlagACK, nil, c.ackDSS(s, 0))
}

// Reset sends a RST from end d.
func (s *Subflow) Reset(d int) {
	s.c.send(s, d, header.TCPFlagRST|header.TCPFlagACK, nil)
}

// DSSChecksum computes the DSS checksum (RFC 8684 §3.3.1).
func DSSChecksum(dsn uint64, ssn uint32, dataLen uint16, data []byte) uint16 {
	var ph [16]byte
	binary.BigEndian.PutUint64(ph[0:], dsn)
	binary.BigEndian.PutUint32(ph[8:], ssn)
	binary.BigEndian.PutUint16(ph[12:], dataLen)
	sum := header.Checksum(ph[:], 0)
	sum = header.Checksum(data, sum)
	return ^sum
}

// send builds and emits one packet.
func (c *Conn) send(s *Subflow, d int, flags header.TCPFlags, data []byte, opts ...interface {
	Append([]byte) ([]byte, error)
}) {
	c.opt = c.opt[:0]
	for _, o := range opts {
		var err error
		c.opt, err = o.Append(c.opt)
		if err != nil {
			panic(fmt.Sprintf("synth: %v", err))
		}
	}
	for len(c.opt)%4 != 0 {
		c.opt = append(c.opt, 1) // NOP
	}
	src, dst := s.Addr[d], s.Addr[1-d]
	ack := s.Seq[1-d]
	if flags&header.TCPFlagACK == 0 {
		ack = 0
	}
	c.buf = Packet(c.buf[:0], src, dst, s.Seq[d], ack, flags, c.opt, data)
	seqLen := uint32(len(data))
	if flags&(header.TCPFlagSYN|header.TCPFlagFIN) != 0 {
		seqLen++
	}
	s.Seq[d] += seqLen
	if c.Emit != nil {
		c.Emit(c.Now, c.buf)
	}
	c.Now = c.Now.Add(c.Step)
}

// Packet appends an IPv4 or IPv6 packet carrying one TCP segment to b,
// with correct IP and TCP checksums (header.AppendTCPIP, window 65535).
// opts must be padded to 4 bytes.
func Packet(b []byte, src, dst netip.AddrPort, seq, ack uint32, flags header.TCPFlags, opts, data []byte) []byte {
	return header.AppendTCPIP(b, src, dst, seq, ack, flags, 0xffff, opts, data)
}
