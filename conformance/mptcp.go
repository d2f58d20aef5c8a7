package conformance

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
)

// MPConn is the testbench's side of an MPTCP connection (RFC 8684): both
// keys with their tokens and IDSNs, whether DSS checksums are in use, and
// the subflows. Data sequence numbers in scenarios are relative to the
// IDSNs (the first data byte is 1, a DATA_FIN after n bytes is n+1), as
// packetdrill writes them; subflow sequence numbers in mappings are
// relative to the subflow's ISN (RFC 8684 §3.3.1).
type MPConn struct {
	t *T
	// LocalKey is the testbench's key, RemoteKey the DUT's (known after
	// its SYN-ACK or third ACK).
	LocalKey, RemoteKey     uint64
	LocalToken, RemoteToken uint32
	LocalIDSN, RemoteIDSN   uint64
	// Checksum says DSS checksums are in use (either side set flag A).
	Checksum bool
	// Flows are the subflows, the initial one first.
	Flows []*Flow
}

// MPSubflow is a subflow's MPTCP state.
type MPSubflow struct {
	Conn *MPConn
	// LocalNonce and RemoteNonce are the MP_JOIN random numbers (zero on
	// the initial subflow); LocalID and RemoteID the address ids.
	LocalNonce, RemoteNonce uint32
	LocalID, RemoteID       uint8
	Backup                  bool
}

// NewMPConn returns a connection state with a fresh testbench key.
func (t *T) NewMPConn() *MPConn {
	m := &MPConn{t: t, LocalKey: rand.Uint64()}
	m.LocalToken, m.LocalIDSN = mpcrypto.TokenIDSN(option.V1, m.LocalKey)
	return m
}

// SetRemoteKey records the DUT's key.
func (m *MPConn) SetRemoteKey(k uint64) {
	m.RemoteKey = k
	m.RemoteToken, m.RemoteIDSN = mpcrypto.TokenIDSN(option.V1, k)
}

func (m *MPConn) attach(f *Flow, sf MPSubflow) {
	sf.Conn = m
	f.MP = &sf
	m.Flows = append(m.Flows, f)
}

// MPCFlagH is the MP_CAPABLE flags of a v1 SYN without checksums: H
// (HMAC-SHA256); MPCFlagA adds A (checksums required).
const (
	MPCFlagH = option.CapHMACSHA256
	MPCFlagA = option.CapChecksum
)

// MPCSyn is the MP_CAPABLE option of a SYN (v1: no key).
func MPCSyn(flags uint8) Opt {
	return MP(&option.MPCapable{Version: option.V1, Flags: flags})
}

// MPCSynAck is the MP_CAPABLE option of the testbench's SYN-ACK: its key.
func (m *MPConn) MPCSynAck(flags uint8) Opt {
	return func(f *Flow, b []byte) []byte {
		return MP(&option.MPCapable{Version: option.V1, Flags: flags, HasSenderKey: true, SenderKey: m.LocalKey})(f, b)
	}
}

// MPCAck is the MP_CAPABLE option of the testbench's third ACK: both keys,
// the sender's (the testbench's) first (RFC 8684 §3.1).
func (m *MPConn) MPCAck(flags uint8) Opt {
	return func(f *Flow, b []byte) []byte {
		return MP(&option.MPCapable{Version: option.V1, Flags: flags, HasSenderKey: true, SenderKey: m.LocalKey,
			HasReceiverKey: true, ReceiverKey: m.RemoteKey})(f, b)
	}
}

// MPCData is the MP_CAPABLE option of the testbench's first data segment
// (RFC 8684 §3.1): both keys and the data-level length of data, with the
// DSS checksum when checksums are in use (the mapping starts at DSN 1 and
// subflow sequence 1).
func (m *MPConn) MPCData(flags uint8, data []byte) Opt {
	return func(f *Flow, b []byte) []byte {
		o := &option.MPCapable{Version: option.V1, Flags: flags, HasSenderKey: true, SenderKey: m.LocalKey,
			HasReceiverKey: true, ReceiverKey: m.RemoteKey, HasDataLen: true, DataLen: uint16(len(data))}
		if m.Checksum {
			o.HasChecksum = true
			o.Checksum = mpcrypto.DSSChecksum(m.LocalIDSN+1, 1, uint16(len(data)), data)
		}
		return MP(o)(f, b)
	}
}

// DSSArgs describe a DSS option the testbench sends, in relative numbers.
type DSSArgs struct {
	// Ack is the DATA_ACK relative to the DUT's IDSN, sent with HasAck;
	// Ack4 sends its low 32 bits only.
	Ack    uint64
	HasAck bool
	Ack4   bool
	// Map adds a mapping: DSN relative to the testbench's IDSN, SSN
	// relative to the subflow's ISN, Len bytes (Data, if given, is the
	// payload the checksum covers; a DATA_FIN counts one byte more).
	Map  bool
	DSN  uint64
	SSN  uint32
	Len  uint16
	DSN4 bool
	FIN  bool
	Data []byte
	// BadChecksum corrupts the checksum (when checksums are in use).
	BadChecksum bool
}

// DSS is a DSS option built from a.
func DSS(a DSSArgs) Opt {
	return func(f *Flow, b []byte) []byte {
		m := f.MP.Conn
		d := &option.DSS{}
		if a.HasAck {
			d.Flags |= option.DSSDataACK
			d.DataACK = m.RemoteIDSN + a.Ack
			if a.Ack4 {
				d.DataACK &= 0xffffffff
			} else {
				d.Flags |= option.DSSDataACK8
			}
		}
		if a.Map {
			d.Flags |= option.DSSMapping
			dsn := m.LocalIDSN + a.DSN
			d.DSN = dsn
			if a.DSN4 {
				d.DSN &= 0xffffffff
			} else {
				d.Flags |= option.DSSDSN8
			}
			d.SubflowSeq, d.DataLen = a.SSN, a.Len
			if a.FIN {
				d.Flags |= option.DSSDataFIN
			}
			if m.Checksum {
				d.HasChecksum = true
				// RFC 8684 §3.3.1: the checksum covers the data only, a
				// DATA_FIN's byte excluded, with the mapping's pseudo-header.
				d.Checksum = mpcrypto.DSSChecksum(dsn, a.SSN, a.Len, a.Data)
				if a.BadChecksum {
					d.Checksum ^= 0x5555
				}
			}
		}
		return MP(d)(f, b)
	}
}

// DataAck is a DSS with only a DATA_ACK (8 bytes), relative to the DUT's
// IDSN.
func DataAck(rel uint64) Opt { return DSS(DSSArgs{HasAck: true, Ack: rel}) }

// Mapping is a DSS with a DATA_ACK and a mapping of data at relative DSN
// dsn and subflow sequence ssn.
func Mapping(ack, dsn uint64, ssn uint32, data []byte) Opt {
	return DSS(DSSArgs{HasAck: true, Ack: ack, Map: true, DSN: dsn, SSN: ssn, Len: uint16(len(data)), Data: data})
}

// DataFIN is a DSS with a DATA_ACK and a DATA_FIN alone at relative DSN dsn
// (subflow sequence 0, length 1: RFC 8684 §3.3.3).
func DataFIN(ack, dsn uint64) Opt {
	return DSS(DSSArgs{HasAck: true, Ack: ack, Map: true, DSN: dsn, Len: 1, FIN: true})
}

// AddAddr is an ADD_ADDR announcing the testbench's address addr (with
// port if non-zero) as id, with the HMAC of RFC 8684 §3.4.1; Echo makes it
// an echo (no HMAC).
func (m *MPConn) AddAddr(id uint8, addr netip.Addr, port uint16) Opt {
	return MP(&option.AddAddr{Version: option.V1, AddrID: id, Addr: addr, HasPort: port != 0, Port: port,
		HasHMAC: true, HMAC: mpcrypto.AddAddrHMAC(m.LocalKey, m.RemoteKey, id, addr, port)})
}

// AddAddrEcho is the echo of the DUT's ADD_ADDR (RFC 8684 §3.4.1).
func AddAddrEcho(id uint8, addr netip.Addr, port uint16) Opt {
	return MP(&option.AddAddr{Version: option.V1, Echo: true, AddrID: id, Addr: addr, HasPort: port != 0, Port: port})
}

// RemoveAddr is a REMOVE_ADDR of ids.
func RemoveAddr(ids ...uint8) Opt {
	return func(f *Flow, b []byte) []byte {
		r, err := option.NewRemoveAddr(ids...)
		if err != nil {
			f.t.Fatalf("REMOVE_ADDR: %v", err)
		}
		return MP(&r)(f, b)
	}
}

// Prio is an MP_PRIO (v1: no address id).
func Prio(backup bool) Opt { return MP(&option.MPPrio{Backup: backup}) }

// FastClose is an MP_FASTCLOSE with the DUT's key (RFC 8684 §3.5).
func (m *MPConn) FastClose() Opt {
	return func(f *Flow, b []byte) []byte {
		return MP(&option.MPFastclose{ReceiverKey: m.RemoteKey})(f, b)
	}
}

// MPRst is an MP_TCPRST with a reason (RFC 8684 §3.6).
func MPRst(reason option.RstReason, flags uint8) Opt {
	return MP(&option.MPTCPRst{Reason: reason, Flags: flags})
}

// MPFail is an MP_FAIL at relative DSN dsn (of the DUT's data: RFC 8684
// §3.7 names the start of the failed mapping of the data received).
func (m *MPConn) MPFail(dsn uint64) Opt {
	return func(f *Flow, b []byte) []byte {
		return MP(&option.MPFail{DSN: m.RemoteIDSN + dsn})(f, b)
	}
}

// expand returns the 64-bit number whose low 32 bits are low and that is
// closest to ref (RFC 8684 §3.3: 4-byte DSNs and DATA_ACKs are the low
// bits of the 64-bit ones).
func expand(low uint32, ref uint64) uint64 {
	c := ref&^0xffffffff | uint64(low)
	switch d := int64(c - ref); {
	case d > 1<<31:
		c -= 1 << 32
	case d < -(1 << 31):
		c += 1 << 32
	}
	return c
}

// DSS returns the segment's DSS option, recording a failure if there is
// none.
func (g *Got) DSS() *option.DSS { return &g.MPTCP(option.SubtypeDSS).DSS }

// DataAck returns the segment's DATA_ACK relative to the testbench's IDSN
// (a 4-byte one expanded near the testbench's data sent so far), and
// whether there is one.
func (g *Got) DataAck() (uint64, bool) {
	o := g.FindMPTCP(option.SubtypeDSS)
	if o == nil || !o.DSS.HasDataACK() {
		return 0, false
	}
	m := g.f.MP.Conn
	ack := o.DSS.DataACK
	if o.DSS.Flags&option.DSSDataACK8 == 0 {
		ack = expand(uint32(ack), m.LocalIDSN)
	}
	return ack - m.LocalIDSN, true
}

// ExpectDataAck takes the DUT's segments on f until one carries a DATA_ACK
// of rel (relative), each within the given time, and returns it: the
// DATA_ACK may come on a segment of its own after the subflow's ACK.
func (f *Flow) ExpectDataAck(rel uint64, within time.Duration) *Got {
	gs := f.ExpectUntil(within, func(g *Got) bool {
		a, ok := g.DataAck()
		return ok && a == rel
	})
	return gs[len(gs)-1]
}

// DataAckIs checks the DATA_ACK, relative to the testbench's IDSN.
func (g *Got) DataAckIs(rel uint64) *Got {
	o := g.FindMPTCP(option.SubtypeDSS)
	if o == nil || !o.DSS.HasDataACK() {
		g.errorf("DATA_ACK", "none, want %d", rel)
		return g
	}
	m := g.f.MP.Conn
	ack := o.DSS.DataACK
	if o.DSS.Flags&option.DSSDataACK8 == 0 {
		ack = expand(uint32(ack), m.LocalIDSN+rel)
	}
	if ack-m.LocalIDSN != rel {
		g.errorf("DATA_ACK", "got %d, want %d", int64(ack-m.LocalIDSN), rel)
	}
	return g
}

// MappingIs checks the DSS mapping: DSN relative to the DUT's IDSN, subflow
// sequence relative to the subflow's ISN, data-level length; with
// checksums it also checks the checksum over the segment's payload.
func (g *Got) MappingIs(dsn uint64, ssn uint32, n uint16) *Got {
	o := g.FindMPTCP(option.SubtypeDSS)
	if o == nil || !o.DSS.HasMapping() {
		g.errorf("DSS mapping", "none, want dsn %d ssn %d len %d", dsn, ssn, n)
		return g
	}
	d := &o.DSS
	m := g.f.MP.Conn
	full := d.DSN
	if d.Flags&option.DSSDSN8 == 0 {
		full = expand(uint32(full), m.RemoteIDSN+dsn)
	}
	if full-m.RemoteIDSN != dsn || d.SubflowSeq != ssn || d.DataLen != n {
		g.errorf("DSS mapping", "got dsn %d ssn %d len %d, want dsn %d ssn %d len %d",
			int64(full-m.RemoteIDSN), d.SubflowSeq, d.DataLen, dsn, ssn, n)
	}
	if m.Checksum != d.HasChecksum {
		g.errorf("DSS checksum", "present %v, want %v", d.HasChecksum, m.Checksum)
	} else if d.HasChecksum && int(n) == len(g.Data)+btoi(d.DataFIN()) {
		if !mpcrypto.VerifyDSSChecksum(full, d.SubflowSeq, d.DataLen, d.Checksum, g.Data) {
			g.errorf("DSS checksum", "0x%04x does not verify", d.Checksum)
		}
	}
	return g
}

// DataFINIs checks the DSS's F flag.
func (g *Got) DataFINIs(want bool) *Got {
	o := g.FindMPTCP(option.SubtypeDSS)
	if (o != nil && o.DSS.DataFIN()) != want {
		g.errorf("DATA_FIN", "got %v, want %v", o != nil && o.DSS.DataFIN(), want)
	}
	return g
}

// NoMapping checks that the segment maps no data (a pure DATA_ACK).
func (g *Got) NoMapping() *Got {
	if o := g.FindMPTCP(option.SubtypeDSS); o != nil && o.DSS.HasMapping() {
		g.errorf("DSS mapping", "got %v, want none", o.DSS)
	}
	return g
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// MPCIs checks the segment's MP_CAPABLE: version 1, flags, and which keys
// it carries; it returns the option.
func (g *Got) MPCIs(flags uint8, senderKey, receiverKey bool) *option.MPCapable {
	c := &g.MPTCP(option.SubtypeMPCapable).MPCapable
	if c.Version != option.V1 || c.Flags != flags || c.HasSenderKey != senderKey || c.HasReceiverKey != receiverKey {
		g.errorf("MP_CAPABLE", "got %v, want v1 flags 0x%02x sender key %v receiver key %v", *c, flags, senderKey, receiverKey)
	}
	return c
}

// Options of an MPTCP SYN: the TCP options the testbench sends with
// MP_CAPABLE or MP_JOIN (as packetdrill's scripts: MSS 1460, SACK
// permitted, window scale 7; timestamps only where a scenario asks, which
// leaves room for a DSS with checksum).
func mpSYNOpts(extra ...Opt) []Opt {
	return append([]Opt{MSS(1460), SACKOK, NOP, WS(7)}, extra...)
}

// MPAccept has the DUT listen on an MPTCP socket and the testbench open a
// connection with MP_CAPABLE flags (MPCFlagH, MPCFlagA): SYN, the DUT's
// SYN-ACK with its key (checked), the third ACK with both keys, the
// accept. It returns the connection state, the initial flow, the accepted
// connection and the SYN-ACK. Checksums are in use when either side set A.
func (t *T) MPAccept(flags uint8) (*MPConn, *Flow, Conn, *Got) {
	l := t.Listen(SockOpts{MPTCP: true})
	return t.MPAcceptOn(l, flags)
}

// MPAcceptOn is MPAccept on an existing listener.
func (t *T) MPAcceptOn(l Listener, flags uint8) (*MPConn, *Flow, Conn, *Got) {
	m := t.NewMPConn()
	acc := t.Accept(l)
	f := t.tb.NewFlow(0, l.Addr())
	m.attach(f, MPSubflow{})
	f.Send(Seg{Flags: SYN, Opts: mpSYNOpts(MPCSyn(flags))})
	sa := f.Expect(Quick).Is(SYN | ACK).AckIs(1)
	c := &sa.MPTCP(option.SubtypeMPCapable).MPCapable
	if c.Version != option.V1 || !c.HasSenderKey || c.HasReceiverKey || c.Flags&MPCFlagH == 0 {
		sa.errorf("MP_CAPABLE", "got %v, want v1 with the DUT's key and flag H", *c)
	}
	m.SetRemoteKey(c.SenderKey)
	m.Checksum = (flags|c.Flags)&MPCFlagA != 0
	f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.MPCAck(flags)}})
	conn := acc.Result(Quick)
	return m, f, conn, sa
}

// MPConnect has the DUT connect on an MPTCP socket to the testbench, which
// answers with a SYN-ACK carrying its key (MP_CAPABLE flags), and checks
// the third ACK (both keys). It returns the connection state, the flow,
// the connection and the DUT's SYN. The TCP options are the testbench's
// standard ones (timestamps included, as Linux sends them).
func (t *T) MPConnect(flags uint8) (*MPConn, *Flow, Conn, *Got) {
	m := t.NewMPConn()
	d := t.Dial(0, t.tb.port(), SockOpts{MPTCP: true})
	f, syn := t.tb.ExpectConnect(Quick)
	m.attach(f, MPSubflow{})
	c := &syn.MPTCP(option.SubtypeMPCapable).MPCapable
	if c.Version != option.V1 || c.HasSenderKey || c.HasReceiverKey || c.Flags&MPCFlagH == 0 {
		syn.errorf("MP_CAPABLE", "got %v, want v1 without keys, flag H", *c)
	}
	m.Checksum = (flags|c.Flags)&MPCFlagA != 0
	f.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: append(StdSYN(), m.MPCSynAck(flags))})
	f.AutoTS = syn.Opts.HasTimestamps
	a := f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataLen(0)
	ac := &a.MPTCP(option.SubtypeMPCapable).MPCapable
	if ac.Version != option.V1 || !ac.HasSenderKey || !ac.HasReceiverKey || ac.ReceiverKey != m.LocalKey || ac.HasDataLen {
		a.errorf("MP_CAPABLE", "got %v, want v1 with the DUT's key and ours (0x%016x), no data length", *ac, m.LocalKey)
	}
	m.SetRemoteKey(ac.SenderKey)
	conn := d.Result(Quick)
	return m, f, conn, syn
}

// JoinToDUT opens a subflow to the DUT's address remote from the
// testbench's address tbAddr with MP_JOIN (address id id, backup flag):
// SYN with the DUT's token, the SYN-ACK's truncated HMAC checked, the third
// ACK with the testbench's HMAC, and the DUT's ACK of it (RFC 8684 §3.2).
// It returns the flow and the DUT's SYN-ACK.
func (m *MPConn) JoinToDUT(tbAddr int, remote netip.AddrPort, id uint8, backup bool) (*Flow, *Got) {
	f, sa := m.JoinSYN(tbAddr, remote, id, backup)
	f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.JoinACK()}})
	f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).DataLen(0)
	return f, sa
}

// JoinSYN sends the SYN of a join and checks the DUT's SYN-ACK (flags,
// truncated HMAC); the third ACK is the scenario's.
func (m *MPConn) JoinSYN(tbAddr int, remote netip.AddrPort, id uint8, backup bool) (*Flow, *Got) {
	t := m.t
	f := t.tb.NewFlow(tbAddr, remote)
	m.attach(f, MPSubflow{LocalNonce: rand.Uint32(), LocalID: id, Backup: backup})
	f.Send(Seg{Flags: SYN, Opts: mpSYNOpts(MP(&option.MPJoin{Stage: option.JoinSYN, Backup: backup, AddrID: id,
		Token: m.RemoteToken, Nonce: f.MP.LocalNonce}))})
	sa := f.Expect(Quick).Is(SYN | ACK).AckIs(1)
	j := &sa.MPTCP(option.SubtypeMPJoin).MPJoin
	if j.Stage != option.JoinSYNACK {
		sa.errorf("MP_JOIN", "got %v, want the SYN-ACK form", *j)
		return f, sa
	}
	f.MP.RemoteNonce, f.MP.RemoteID = j.Nonce, j.AddrID
	if want := mpcrypto.JoinTruncatedHMAC(option.V1, m.RemoteKey, m.LocalKey, j.Nonce, f.MP.LocalNonce); j.TruncHMAC != want {
		sa.errorf("MP_JOIN", "truncated HMAC 0x%016x, want 0x%016x", j.TruncHMAC, want)
	}
	return f, sa
}

// JoinACK is the MP_JOIN of the third ACK of a join the testbench opened.
func (m *MPConn) JoinACK() Opt {
	return func(f *Flow, b []byte) []byte {
		return MP(&option.MPJoin{Stage: option.JoinACK,
			HMAC: mpcrypto.JoinHMAC(option.V1, m.LocalKey, m.RemoteKey, f.MP.LocalNonce, f.MP.RemoteNonce)})(f, b)
	}
}

// ExpectJoin waits for a SYN with MP_JOIN from the DUT (a subflow it opens
// to an address the testbench announced) and checks its token; it returns
// the flow and the SYN.
func (m *MPConn) ExpectJoin(within time.Duration) (*Flow, *Got) {
	f, syn := m.t.tb.ExpectConnect(within)
	j := &syn.MPTCP(option.SubtypeMPJoin).MPJoin
	if j.Stage != option.JoinSYN || j.Token != m.LocalToken {
		syn.errorf("MP_JOIN", "got %v, want the SYN form with our token 0x%08x", *j, m.LocalToken)
	}
	m.attach(f, MPSubflow{RemoteNonce: j.Nonce, RemoteID: j.AddrID, LocalNonce: rand.Uint32(), Backup: j.Backup})
	return f, syn
}

// JoinSYNACK is the MP_JOIN of the testbench's SYN-ACK to a join the DUT
// opened (address id id).
func (m *MPConn) JoinSYNACK(id uint8, backup bool) Opt {
	return func(f *Flow, b []byte) []byte {
		f.MP.LocalID = id
		return MP(&option.MPJoin{Stage: option.JoinSYNACK, Backup: backup, AddrID: id, Nonce: f.MP.LocalNonce,
			TruncHMAC: mpcrypto.JoinTruncatedHMAC(option.V1, m.LocalKey, m.RemoteKey, f.MP.LocalNonce, f.MP.RemoteNonce)})(f, b)
	}
}

// JoinACKIs checks the MP_JOIN HMAC of the DUT's third ACK of a join it
// opened.
func (g *Got) JoinACKIs() *Got {
	j := &g.MPTCP(option.SubtypeMPJoin).MPJoin
	m := g.f.MP.Conn
	want := mpcrypto.JoinHMAC(option.V1, m.RemoteKey, m.LocalKey, g.f.MP.RemoteNonce, g.f.MP.LocalNonce)
	if j.Stage != option.JoinACK || j.HMAC != want {
		g.errorf("MP_JOIN", "got %v, want the third-ACK form with HMAC %x", *j, want)
	}
	return g
}

// AddAddrIs checks the segment's ADD_ADDR from the DUT: address id (0: any),
// address, port and the HMAC of RFC 8684 §3.4.1; it returns the option.
func (g *Got) AddAddrIs(id uint8, addr netip.Addr, port uint16) *option.AddAddr {
	a := &g.MPTCP(option.SubtypeAddAddr).AddAddr
	m := g.f.MP.Conn
	if a.Echo || (id != 0 && a.AddrID != id) || a.Addr != addr || a.Port != port || !a.HasHMAC {
		g.errorf("ADD_ADDR", "got %v, want id %d %v port %d with HMAC", *a, id, addr, port)
		return a
	}
	if want := mpcrypto.AddAddrHMAC(m.RemoteKey, m.LocalKey, a.AddrID, a.Addr, a.Port); a.HMAC != want {
		g.errorf("ADD_ADDR", "HMAC 0x%016x, want 0x%016x", a.HMAC, want)
	}
	return a
}

// AddAddrEchoIs checks the segment's ADD_ADDR echo.
func (g *Got) AddAddrEchoIs(id uint8, addr netip.Addr, port uint16) *Got {
	a := &g.MPTCP(option.SubtypeAddAddr).AddAddr
	if !a.Echo || a.AddrID != id || a.Addr != addr || a.Port != port || a.HasHMAC {
		g.errorf("ADD_ADDR echo", "got %v, want echo of id %d %v port %d without HMAC", *a, id, addr, port)
	}
	return g
}

// MPRstIs checks the segment's MP_TCPRST reason.
func (g *Got) MPRstIs(reason option.RstReason) *Got {
	r := g.MPTCP(option.SubtypeMPTCPRst).MPTCPRst
	if r.Reason != reason {
		g.errorf("MP_TCPRST", "reason %v, want %v", r.Reason, reason)
	}
	return g
}

func verifyChecksum(dsn uint64, ssn uint32, n, csum uint16, data []byte) bool {
	return mpcrypto.VerifyDSSChecksum(dsn, ssn, n, csum, data)
}

func rand32() uint32 { return rand.Uint32() }
