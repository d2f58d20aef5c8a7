package option

import (
	"encoding/hex"
	"strconv"
	"strings"
)

// Field is one decoded field named as Wireshark's display filters name it
// (tcp.options.mptcp.*, and the few generated mptcp.* fields that only
// depend on the option's bytes), with its value formatted as tshark's JSON
// output formats it, so the two can be compared string for string. Info is
// an optional human-readable gloss (subtype name, key in hex, ...).
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Info  string `json:"info,omitempty"`
}

// Wireshark field name prefix for MPTCP option fields.
const wsPrefix = "tcp.options.mptcp."

// Fields appends the option's fields to dst in the order Wireshark's
// dissector shows them (packet-tcp.c, dissect_tcpopt_mptcp): kind, length,
// subtype, then the subtype's fields, flag bits after their flags byte.
// It allocates; it is meant for tools, not per-packet paths.
func (o *Option) Fields(dst []Field) []Field {
	n := o.Len()
	dst = append(dst,
		Field{Name: "tcp.option_kind", Value: "30"},
		Field{Name: "tcp.option_len", Value: strconv.Itoa(n)},
		Field{Name: wsPrefix + "subtype", Value: strconv.Itoa(int(o.Subtype)), Info: o.Subtype.String()},
	)
	switch o.Subtype {
	case SubtypeMPCapable:
		return o.MPCapable.fields(dst)
	case SubtypeMPJoin:
		return o.MPJoin.fields(dst)
	case SubtypeDSS:
		return o.DSS.fields(dst)
	case SubtypeAddAddr:
		return o.AddAddr.fields(dst)
	case SubtypeRemoveAddr:
		return o.RemoveAddr.fields(dst)
	case SubtypeMPPrio:
		return o.MPPrio.fields(dst)
	case SubtypeMPFail:
		return append(dst, hex16(wsPrefix+"reserved", o.MPFail.Reserved),
			dec64(wsPrefix+"rawdataseqno", o.MPFail.DSN))
	case SubtypeMPFastclose:
		return append(dst, hex16(wsPrefix+"reserved", o.MPFastclose.Reserved),
			key(wsPrefix+"recvkey", o.MPFastclose.ReceiverKey))
	case SubtypeMPTCPRst:
		m := o.MPTCPRst
		return append(dst,
			hex8(wsPrefix+"flags", byte(SubtypeMPTCPRst)<<4|m.Flags),
			bit(wsPrefix+"flag_U.flag", m.Flags&RstFlagU),
			bit(wsPrefix+"flag_V.flag", m.Flags&RstFlagV),
			bit(wsPrefix+"flag_W.flag", m.Flags&RstFlagW),
			bit(wsPrefix+"flag_T.flag", m.Flags&RstTransient),
			Field{Name: wsPrefix + "rst_reason", Value: "0x" + hex.EncodeToString([]byte{byte(m.Reason)}), Info: m.Reason.String()},
		)
	}
	// Wireshark shows nothing past the subtype; keep the raw bytes in Info.
	dst[len(dst)-1].Info += ", data " + hex.EncodeToString(o.Unknown.Data())
	return dst
}

func (c *MPCapable) fields(dst []Field) []Field {
	dst = append(dst,
		Field{Name: wsPrefix + "version", Value: strconv.Itoa(int(c.Version))},
		Field{Name: wsPrefix + "flags", Value: "0x" + hex.EncodeToString([]byte{c.Flags}), Info: c.FlagNames()},
		bit(wsPrefix+"checksumreq.flags", c.Flags&CapChecksum),
		bit(wsPrefix+"extensibility.flag", c.Flags&CapExtensibility),
	)
	// Wireshark decodes the flags with the v1 layout only for version 1.
	if c.Version == V1 {
		dst = append(dst,
			bit(wsPrefix+"nomoresubflows.flag", c.Flags&CapNoMoreSubflows),
			bit(wsPrefix+"sha256.flag", c.Flags&CapHMACSHA256),
			hex8(wsPrefix+"reserved.flag", (c.Flags&0x1e)>>1),
		)
	} else {
		dst = append(dst,
			bit(wsPrefix+"sha1.flag", c.Flags&CapHMACSHA1),
			hex8(wsPrefix+"reserved.flag", (c.Flags&0x3e)>>1),
		)
	}
	if c.HasSenderKey {
		dst = append(dst, key(wsPrefix+"sendkey", c.SenderKey))
	}
	if c.HasReceiverKey {
		dst = append(dst, key(wsPrefix+"recvkey", c.ReceiverKey))
	}
	if c.HasDataLen {
		dst = append(dst, dec64(wsPrefix+"datalvllen", uint64(c.DataLen)))
	}
	if c.HasChecksum {
		dst = append(dst, hex16(wsPrefix+"checksum", c.Checksum))
	}
	return dst
}

func (j *MPJoin) fields(dst []Field) []Field {
	if j.Stage == JoinACK {
		return append(dst,
			hex16(wsPrefix+"reserved", j.Reserved),
			Field{Name: wsPrefix + "sendhmac", Value: colonHex(j.HMAC[:])},
		)
	}
	dst = backupFlags(dst, SubtypeMPJoin, j.Reserved, j.Backup)
	dst = append(dst, dec64(wsPrefix+"addrid", uint64(j.AddrID)))
	if j.Stage == JoinSYN {
		return append(dst,
			Field{Name: wsPrefix + "recvtok", Value: strconv.FormatUint(uint64(j.Token), 10), Info: "0x" + strconv.FormatUint(uint64(j.Token), 16)},
			dec64(wsPrefix+"sendrand", uint64(j.Nonce)),
		)
	}
	return append(dst,
		key(wsPrefix+"sendtrunchmac", j.TruncHMAC),
		dec64(wsPrefix+"sendrand", uint64(j.Nonce)),
	)
}

func (d *DSS) fields(dst []Field) []Field {
	dst = append(dst,
		hex8(wsPrefix+"flags", uint8(d.Reserved)|d.Flags),
		bit(wsPrefix+"datafin.flag", d.Flags&DSSDataFIN),
		bit(wsPrefix+"dseqn8.flag", d.Flags&DSSDSN8),
		bit(wsPrefix+"dseqnpresent.flag", d.Flags&DSSMapping),
		bit(wsPrefix+"dataack8.flag", d.Flags&DSSDataACK8),
		bit(wsPrefix+"dataackpresent.flag", d.Flags&DSSDataACK),
	)
	if d.HasDataACK() {
		dst = append(dst, dec64(wsPrefix+"rawdataack", d.DataACK))
	}
	if d.HasMapping() {
		dst = append(dst,
			dec64(wsPrefix+"rawdataseqno", d.DSN),
			dec64(wsPrefix+"subflowseqno", uint64(d.SubflowSeq)),
			dec64(wsPrefix+"datalvllen", uint64(d.DataLen)),
		)
		if d.HasChecksum {
			dst = append(dst, hex16(wsPrefix+"checksum", d.Checksum))
		}
	}
	return dst
}

func (a *AddAddr) fields(dst []Field) []Field {
	if a.Version == V0 {
		nib := 4
		if !a.Addr.Is4() {
			nib = 6
		}
		dst = append(dst, dec64(wsPrefix+"ipver", uint64(nib)))
	} else {
		var e uint8
		if a.Echo {
			e = 1
		}
		dst = append(dst, bit(wsPrefix+"echo", e))
	}
	dst = append(dst, dec64(wsPrefix+"addrid", uint64(a.AddrID)))
	if a.Addr.Is4() {
		dst = append(dst, Field{Name: wsPrefix + "ipv4", Value: a.Addr.String()})
	} else {
		dst = append(dst, Field{Name: wsPrefix + "ipv6", Value: a.Addr.String()})
	}
	if a.HasPort {
		dst = append(dst, dec64(wsPrefix+"port", uint64(a.Port)))
	}
	if a.HasHMAC {
		dst = append(dst, key(wsPrefix+"addaddrtrunchmac", a.HMAC))
	}
	return dst
}

func (r *RemoveAddr) fields(dst []Field) []Field {
	dst = append(dst, dec64("mptcp.rm_addr.count", uint64(r.n)))
	for _, id := range r.IDs() {
		dst = append(dst, dec64(wsPrefix+"addrid", uint64(id)))
	}
	return dst
}

func (m *MPPrio) fields(dst []Field) []Field {
	dst = backupFlags(dst, SubtypeMPPrio, m.Reserved, m.Backup)
	if m.HasAddrID {
		dst = append(dst, dec64(wsPrefix+"addrid", uint64(m.AddrID)))
	}
	return dst
}

// backupFlags appends the flags byte (subtype, reserved bits, B) and the
// B flag of MP_JOIN SYN and SYN/ACK (RFC 8684 §3.2) and MP_PRIO (§3.3.8),
// which share that layout: B is the low bit of byte 2.
func backupFlags(dst []Field, st Subtype, reserved uint16, backup bool) []Field {
	b2 := byte(st)<<4 | uint8(reserved>>8)
	var b uint8
	if backup {
		b = 1
	}
	return append(dst, hex8(wsPrefix+"flags", b2|b), bit(wsPrefix+"backup.flag", b))
}

func dec64(name string, v uint64) Field {
	return Field{Name: name, Value: strconv.FormatUint(v, 10)}
}

// key formats a 64-bit key or HMAC in decimal (as tshark) with hex in Info.
func key(name string, v uint64) Field {
	h := strconv.FormatUint(v, 16)
	return Field{Name: name, Value: strconv.FormatUint(v, 10), Info: "0x" + strings.Repeat("0", 16-len(h)) + h}
}

func hex8(name string, v uint8) Field {
	return Field{Name: name, Value: "0x" + hex.EncodeToString([]byte{v})}
}

func hex16(name string, v uint16) Field {
	return Field{Name: name, Value: "0x" + hex.EncodeToString([]byte{byte(v >> 8), byte(v)})}
}

// bit formats a flag as tshark does: "1" if any bit of v is set, else "0".
func bit(name string, v uint8) Field {
	if v != 0 {
		return Field{Name: name, Value: "1"}
	}
	return Field{Name: name, Value: "0"}
}

// colonHex formats bytes as tshark formats FT_BYTES: "00:11:22".
func colonHex(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteString(hex.EncodeToString([]byte{c}))
	}
	return s.String()
}
