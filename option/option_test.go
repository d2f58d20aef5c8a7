package option

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", ":", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func mustRemove(t testing.TB, ids ...uint8) RemoveAddr {
	t.Helper()
	r, err := NewRemoveAddr(ids...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustUnknown(t testing.TB, data string) Unknown {
	t.Helper()
	u, err := NewUnknown(unhex(t, data))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// parseCases are well-formed options with their expected decoding. Every one
// must also re-encode to exactly the same bytes.
func parseCases(t testing.TB) []struct {
	name string
	hex  string
	p    Parser
	want Option
} {
	var hmac20 [20]byte
	copy(hmac20[:], unhex(t, "00112233445566778899aabbccddeeff00112233"))
	return []struct {
		name string
		hex  string
		p    Parser
		want Option
	}{
		{"iPhone 2013 SYN, v0", "1e0c00017acdc123cc42a7ec", Parser{},
			Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V0, Flags: CapHMACSHA1, HasSenderKey: true, SenderKey: 0x7acdc123cc42a7ec}}},
		{"v0 third ACK", "1e1400810102030405060708a1a2a3a4a5a6a7a8", Parser{},
			Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V0, Flags: CapChecksum | CapHMACSHA1, HasSenderKey: true, SenderKey: 0x0102030405060708, HasReceiverKey: true, ReceiverKey: 0xa1a2a3a4a5a6a7a8}}},
		{"v1 SYN", "1e040181", Parser{},
			Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V1, Flags: CapChecksum | CapHMACSHA256}}},
		{"v1 SYN/ACK", "1e0c0101aabbccdd11223344", Parser{},
			Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V1, Flags: CapHMACSHA256, HasSenderKey: true, SenderKey: 0xaabbccdd11223344}}},
		{"v1 ACK", "1e1401210102030405060708a1a2a3a4a5a6a7a8", Parser{},
			Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V1, Flags: CapNoMoreSubflows | CapHMACSHA256, HasSenderKey: true, SenderKey: 0x0102030405060708, HasReceiverKey: true, ReceiverKey: 0xa1a2a3a4a5a6a7a8}}},
		{"v1 ACK with data", "1e1601010102030405060708a1a2a3a4a5a6a7a80064", Parser{},
			Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V1, Flags: CapHMACSHA256, HasSenderKey: true, SenderKey: 0x0102030405060708, HasReceiverKey: true, ReceiverKey: 0xa1a2a3a4a5a6a7a8, HasDataLen: true, DataLen: 100}}},
		{"v1 ACK with data and checksum", "1e1801810102030405060708a1a2a3a4a5a6a7a80064beef", Parser{},
			Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V1, Flags: CapChecksum | CapHMACSHA256, HasSenderKey: true, SenderKey: 0x0102030405060708, HasReceiverKey: true, ReceiverKey: 0xa1a2a3a4a5a6a7a8, HasDataLen: true, DataLen: 100, HasChecksum: true, Checksum: 0xbeef}}},
		{"MP_JOIN SYN backup", "1e0c1102deadbeef01020304", Parser{},
			Option{Subtype: SubtypeMPJoin, MPJoin: MPJoin{Stage: JoinSYN, Backup: true, AddrID: 2, Token: 0xdeadbeef, Nonce: 0x01020304}}},
		{"MP_JOIN SYN/ACK", "1e10100511223344556677880a0b0c0d", Parser{},
			Option{Subtype: SubtypeMPJoin, MPJoin: MPJoin{Stage: JoinSYNACK, AddrID: 5, TruncHMAC: 0x1122334455667788, Nonce: 0x0a0b0c0d}}},
		{"MP_JOIN ACK", "1e18100000112233445566778899aabbccddeeff00112233", Parser{},
			Option{Subtype: SubtypeMPJoin, MPJoin: MPJoin{Stage: JoinACK, HMAC: hmac20}}},
		{"DSS ack32", "1e08200101020304", Parser{},
			Option{Subtype: SubtypeDSS, DSS: DSS{Flags: DSSDataACK, DataACK: 0x01020304}}},
		{"DSS ack64", "1e0c20030102030405060708", Parser{},
			Option{Subtype: SubtypeDSS, DSS: DSS{Flags: DSSDataACK | DSSDataACK8, DataACK: 0x0102030405060708}}},
		{"DSS map32", "1e0e200400000002000000030004", Parser{},
			Option{Subtype: SubtypeDSS, DSS: DSS{Flags: DSSMapping, DSN: 2, SubflowSeq: 3, DataLen: 4}}},
		{"DSS map32 csum", "1e10200400000002000000030004abcd", Parser{},
			Option{Subtype: SubtypeDSS, DSS: DSS{Flags: DSSMapping, DSN: 2, SubflowSeq: 3, DataLen: 4, HasChecksum: true, Checksum: 0xabcd}}},
		{"DSS kernel ack64 map64", "1e1a200f0000000000000064000000000000c350000000010578", Parser{},
			Option{Subtype: SubtypeDSS, DSS: DSS{Flags: DSSDataACK | DSSDataACK8 | DSSMapping | DSSDSN8, DataACK: 100, DSN: 50000, SubflowSeq: 1, DataLen: 1400}}},
		{"DSS all flags csum", "1e1c201f000000000000000100000000000000020000000300040000", Parser{},
			Option{Subtype: SubtypeDSS, DSS: DSS{Flags: 0x1f, DataACK: 1, DSN: 2, SubflowSeq: 3, DataLen: 4, HasChecksum: true}}},
		{"DSS DATA_FIN infinite", "1e16201d00000001000000000000000200000000" + "0000", Parser{},
			Option{Subtype: SubtypeDSS, DSS: DSS{Flags: DSSDataFIN | DSSDSN8 | DSSMapping | DSSDataACK, DataACK: 1, DSN: 2, SubflowSeq: 0, DataLen: 0}}},
		{"DSS a without A", "1e042002", Parser{},
			Option{Subtype: SubtypeDSS, DSS: DSS{Flags: DSSDataACK8}}},
		{"DSS reserved bits kept", "1e0823e101020304", Parser{},
			Option{Subtype: SubtypeDSS, DSS: DSS{Flags: DSSDataACK, DataACK: 0x01020304, Reserved: 0x03e0}}},
		{"ADD_ADDR v1 echo v4", "1e083101c6120201", Parser{},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V1, Echo: true, AddrID: 1, Addr: netip.MustParseAddr("198.18.2.1")}}},
		{"ADD_ADDR v1 v4 port hmac", "1e12300ac6120201270f1122334455667788", Parser{},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V1, AddrID: 10, Addr: netip.MustParseAddr("198.18.2.1"), HasPort: true, Port: 9999, HasHMAC: true, HMAC: 0x1122334455667788}}},
		{"ADD_ADDR v1 v4 hmac", "1e103002c61202011122334455667788", Parser{},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V1, AddrID: 2, Addr: netip.MustParseAddr("198.18.2.1"), HasHMAC: true, HMAC: 0x1122334455667788}}},
		{"ADD_ADDR v1 v6 hmac", "1e1c3003fe800000000000000000000000000001aabbccddeeff0011", Parser{},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V1, AddrID: 3, Addr: netip.MustParseAddr("fe80::1"), HasHMAC: true, HMAC: 0xaabbccddeeff0011}}},
		{"ADD_ADDR v1 v6 port hmac", "1e1e300320010db800000000000000000000000101bbaabbccddeeff0011", Parser{},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V1, AddrID: 3, Addr: netip.MustParseAddr("2001:db8::1"), HasPort: true, Port: 443, HasHMAC: true, HMAC: 0xaabbccddeeff0011}}},
		{"ADD_ADDR v1 v6 echo port", "1e16310320010db800000000000000000000000101bb", Parser{},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V1, Echo: true, AddrID: 3, Addr: netip.MustParseAddr("2001:db8::1"), HasPort: true, Port: 443}}},
		{"ADD_ADDR v0 v4", "1e083404c6120201", Parser{},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V0, AddrID: 4, Addr: netip.MustParseAddr("198.18.2.1")}}},
		{"ADD_ADDR v0 v4 port", "1e0a3404c61202010050", Parser{},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V0, AddrID: 4, Addr: netip.MustParseAddr("198.18.2.1"), HasPort: true, Port: 80}}},
		{"ADD_ADDR v0 v6 port", "1e16360720010db800000000000000000000000101bb", Parser{},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V0, AddrID: 7, Addr: netip.MustParseAddr("2001:db8::1"), HasPort: true, Port: 443}}},
		{"ADD_ADDR forced v1 keeps reserved", "1e083404c6120201", Parser{Version: AssumeV1},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V1, AddrID: 4, Addr: netip.MustParseAddr("198.18.2.1"), Reserved: 0x0400}}},
		// Nibble 4 or 6 with a length no v0 layout has: v1 with reserved
		// bits set (which the kernel accepts too), not a malformed v0.
		{"ADD_ADDR auto v1 reserved nibble 4", "1e103404c61202011122334455667788", Parser{},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V1, AddrID: 4, Addr: netip.MustParseAddr("198.18.2.1"), HasHMAC: true, HMAC: 0x1122334455667788, Reserved: 0x0400}}},
		{"ADD_ADDR auto v1 reserved nibble 6", "1e1c3603fe800000000000000000000000000001aabbccddeeff0011", Parser{},
			Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V1, AddrID: 3, Addr: netip.MustParseAddr("fe80::1"), HasHMAC: true, HMAC: 0xaabbccddeeff0011, Reserved: 0x0600}}},
		{"REMOVE_ADDR one", "1e044005", Parser{},
			Option{Subtype: SubtypeRemoveAddr, RemoveAddr: mustRemove(t, 5)}},
		{"REMOVE_ADDR three", "1e0640010203", Parser{},
			Option{Subtype: SubtypeRemoveAddr, RemoveAddr: mustRemove(t, 1, 2, 3)}},
		{"MP_PRIO v1", "1e0351", Parser{},
			Option{Subtype: SubtypeMPPrio, MPPrio: MPPrio{Backup: true}}},
		{"MP_PRIO v0 id", "1e045003", Parser{},
			Option{Subtype: SubtypeMPPrio, MPPrio: MPPrio{HasAddrID: true, AddrID: 3}}},
		{"MP_FAIL", "1e0c60000000000000000102", Parser{},
			Option{Subtype: SubtypeMPFail, MPFail: MPFail{DSN: 0x0102}}},
		{"MP_FASTCLOSE", "1e0c70000102030405060708", Parser{},
			Option{Subtype: SubtypeMPFastclose, MPFastclose: MPFastclose{ReceiverKey: 0x0102030405060708}}},
		{"MP_TCPRST transient", "1e048101", Parser{},
			Option{Subtype: SubtypeMPTCPRst, MPTCPRst: MPTCPRst{Flags: RstTransient, Reason: RstMPTCPError}}},
		{"MP_TCPRST middlebox", "1e048006", Parser{},
			Option{Subtype: SubtypeMPTCPRst, MPTCPRst: MPTCPRst{Reason: RstMiddleboxInterfered}}},
		{"subtype 9", "1e0491ff", Parser{},
			Option{Subtype: 9, Unknown: mustUnknown(t, "91ff")}},
		{"experimental", "1e05f01234", Parser{},
			Option{Subtype: SubtypeExperimental, Unknown: mustUnknown(t, "f01234")}},
	}
}

func TestParseAndAppend(t *testing.T) {
	for _, tc := range parseCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			in := unhex(t, tc.hex)
			got, err := tc.p.Parse(append(in, 0xee, 0xee)) // trailing bytes are not part of the option
			if err != nil {
				t.Fatalf("Parse(%x): %v", in, err)
			}
			if got != tc.want {
				t.Fatalf("Parse(%x):\n got  %+v\n want %+v", in, got, tc.want)
			}
			if n := got.Len(); n != len(in) {
				t.Errorf("Len() = %d, want %d", n, len(in))
			}
			out, err := got.Append([]byte{0xaa})
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if !bytes.Equal(out[1:], in) || out[0] != 0xaa {
				t.Errorf("Append = %x, want aa%x", out, in)
			}
			if s := got.String(); !strings.HasPrefix(s, got.Subtype.String()) {
				t.Errorf("String() = %q, want prefix %q", s, got.Subtype)
			}
		})
	}
}

func TestParseDSSMatchesParse(t *testing.T) {
	for _, tc := range parseCases(t) {
		if tc.want.Subtype != SubtypeDSS {
			continue
		}
		d, err := ParseDSS(unhex(t, tc.hex))
		if err != nil || d != tc.want.DSS {
			t.Errorf("%s: ParseDSS = %+v, %v; want %+v", tc.name, d, err, tc.want.DSS)
		}
	}
	if _, err := ParseDSS(unhex(t, "1e035001")); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseDSS(MP_PRIO) error = %v, want ErrInvalid", err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name    string
		hex     string
		p       Parser
		want    error
		message string // substring of the error text
	}{
		{"empty", "", Parser{}, ErrTruncated, "0 bytes"},
		{"kind only", "1e", Parser{}, ErrTruncated, "1 bytes"},
		{"not MPTCP", "020405b4", Parser{}, ErrNotMPTCP, "kind 2"},
		{"length 2", "1e02", Parser{}, ErrLength, "length 2 < 3"},
		{"length over 40", "1e2920" + strings.Repeat("00", 38), Parser{}, ErrLength, "length 41 exceeds"},
		{"truncated", "1e0c00017acdc123", Parser{}, ErrTruncated, "MP_CAPABLE: length field says 12 bytes, only 8"},
		{"truncated before subtype", "1e0c", Parser{}, ErrTruncated, "says 12 bytes, only 2"},
		{"MP_CAPABLE v0 length 4", "1e040001", Parser{}, ErrLength, "length 4, want 12 (SYN, SYN/ACK) or 20 (ACK) for v0"},
		{"MP_CAPABLE v0 length 22", "1e1600010102030405060708a1a2a3a4a5a6a7a80064", Parser{}, ErrLength, "for v0"},
		{"MP_CAPABLE v1 length 8", "1e0801010102030405", Parser{}, ErrLength, "length 8"},
		{"MP_JOIN length 3", "1e0310", Parser{}, ErrLength, "length 3"},
		{"MP_JOIN length 20", "1e141000" + strings.Repeat("00", 16), Parser{}, ErrLength, "12 (SYN), 16 (SYN/ACK) or 24 (ACK)"},
		{"MP_JOIN strict reserved", "1e0c1e02deadbeef01020304", Parser{Strict: true}, ErrReserved, "0x0e00"},
		{"MP_JOIN ACK strict reserved", "1e18100100112233445566778899aabbccddeeff00112233", Parser{Strict: true}, ErrReserved, "0x0001"},
		{"DSS length 3", "1e0320", Parser{}, ErrLength, "at least 4"},
		{"DSS ack32 too long", "1e0a2001010203040000", Parser{}, ErrLength, "length 10 does not match flags 0x01 (want 8)"},
		{"DSS map too short", "1e0c2004000000020000000300", Parser{}, ErrLength, "want 14, or 16 with checksum"},
		{"DSS checksum without mapping", "1e0a200101020304abcd", Parser{}, ErrLength, "want 8"},
		{"DSS strict reserved", "1e0823e101020304", Parser{Strict: true}, ErrReserved, "0x03e0"},
		{"ADD_ADDR v1 length 12", "1e0c3001c612020100000000", Parser{}, ErrLength, "for v1"},
		{"ADD_ADDR v0 ipver 5", "1e083505c6120201", Parser{Version: AssumeV0}, ErrInvalid, "IPVer 5"},
		{"ADD_ADDR v0 v4 wrong length", "1e103404c61202011122334455667788", Parser{Version: AssumeV0}, ErrLength, "want 8 or 10"},
		{"ADD_ADDR auto v1 strict reserved nibble 4", "1e103404c61202011122334455667788", Parser{Strict: true}, ErrReserved, "0x0400"},
		{"ADD_ADDR v1 strict no hmac", "1e083002c6120201", Parser{Strict: true}, ErrLength, "E=false with HMAC present=false"},
		{"ADD_ADDR v1 strict echo with hmac", "1e103102c61202011122334455667788", Parser{Strict: true}, ErrLength, "E=true with HMAC present=true"},
		{"ADD_ADDR v1 strict reserved", "1e103802c61202011122334455667788", Parser{Strict: true}, ErrReserved, "0x0800"},
		{"REMOVE_ADDR empty", "1e0340", Parser{}, ErrLength, "at least 4"},
		{"REMOVE_ADDR strict reserved", "1e044105", Parser{Strict: true}, ErrReserved, "0x0100"},
		{"MP_PRIO length 5", "1e0550030000", Parser{}, ErrLength, "3, or 4"},
		{"MP_PRIO strict reserved", "1e035201", Parser{Strict: true}, ErrReserved, ""},
		{"MP_FAIL length 8", "1e0860000000000000", Parser{}, ErrLength, "want 12"},
		{"MP_FASTCLOSE strict reserved", "1e0c70010102030405060708", Parser{Strict: true}, ErrReserved, "0x0001"},
		{"MP_TCPRST length 5", "1e058101ff", Parser{}, ErrLength, "want 4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := tc.p.Parse(unhex(t, tc.hex))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%s) = %v, %v; want error %v", tc.hex, o, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not mention %q", err, tc.message)
			}
			// The value is zeroed except for the subtype on error.
			if o.Len() > 0 && (o != Option{Subtype: o.Subtype}) {
				t.Errorf("Parse left a partial value on error: %+v", o)
			}
		})
	}
}

func TestStrictAcceptsWellFormed(t *testing.T) {
	for _, tc := range parseCases(t) {
		if tc.want.DSS.Reserved != 0 || tc.want.AddAddr.Reserved != 0 {
			continue
		}
		// v1 ADD_ADDR without HMAC and without echo is not in the table;
		// every other case is well formed for a strict parser.
		if _, err := (Parser{Strict: true, Version: tc.p.Version}).Parse(unhex(t, tc.hex)); err != nil {
			t.Errorf("%s: strict Parse: %v", tc.name, err)
		}
	}
}

func TestAppendErrors(t *testing.T) {
	cases := []struct {
		name string
		o    Option
	}{
		{"MP_CAPABLE receiver key without sender key", Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V1, HasReceiverKey: true}}},
		{"MP_CAPABLE checksum without data len", Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V1, HasSenderKey: true, HasReceiverKey: true, HasChecksum: true}}},
		{"MP_CAPABLE v0 without key", Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V0}}},
		{"MP_CAPABLE v0 with data len", Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V0, HasSenderKey: true, HasReceiverKey: true, HasDataLen: true}}},
		{"MP_CAPABLE version 16", Option{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: 16}}},
		{"MP_JOIN stage 3", Option{Subtype: SubtypeMPJoin, MPJoin: MPJoin{Stage: 3}}},
		{"DSS checksum without mapping", Option{Subtype: SubtypeDSS, DSS: DSS{Flags: DSSDataACK, HasChecksum: true}}},
		{"DSS flags 0x20", Option{Subtype: SubtypeDSS, DSS: DSS{Flags: 0x20}}},
		{"ADD_ADDR no address", Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V1}}},
		{"ADD_ADDR zone", Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V1, Addr: netip.MustParseAddr("fe80::1%eth0")}}},
		{"ADD_ADDR v0 with HMAC", Option{Subtype: SubtypeAddAddr, AddAddr: AddAddr{Version: V0, Addr: netip.MustParseAddr("198.18.0.1"), HasHMAC: true}}},
		{"REMOVE_ADDR empty", Option{Subtype: SubtypeRemoveAddr}},
		{"MP_TCPRST flags 0x10", Option{Subtype: SubtypeMPTCPRst, MPTCPRst: MPTCPRst{Flags: 0x10}}},
		{"unknown empty", Option{Subtype: 9}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.o.Append([]byte{1})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Append = %x, %v; want ErrInvalid", out, err)
			}
			if !bytes.Equal(out, []byte{1}) {
				t.Errorf("Append wrote %x on error", out)
			}
		})
	}
	if _, err := NewRemoveAddr(make([]uint8, MaxRemoveIDs+1)...); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewRemoveAddr(38 ids) error = %v, want ErrInvalid", err)
	}
	if _, err := NewUnknown(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewUnknown(nil) error = %v, want ErrInvalid", err)
	}
}

// TestDSSAllFlagCombinations encodes every flag combination with and
// without checksum and parses it back.
func TestDSSAllFlagCombinations(t *testing.T) {
	for flags := uint8(0); flags <= dssFlagMask; flags++ {
		for _, csum := range []bool{false, true} {
			if csum && flags&DSSMapping == 0 {
				continue
			}
			d := DSS{Flags: flags, HasChecksum: csum}
			if flags&DSSDataACK != 0 {
				d.DataACK = 0x11223344
				if flags&DSSDataACK8 != 0 {
					d.DataACK = 0x1122334455667788
				}
			}
			if flags&DSSMapping != 0 {
				d.DSN = 0x99aabbcc
				if flags&DSSDSN8 != 0 {
					d.DSN = 0x99aabbccddeeff00
				}
				d.SubflowSeq, d.DataLen = 7, 1400
				if csum {
					d.Checksum = 0x1234
				}
			}
			b, err := d.Append(nil)
			if err != nil {
				t.Fatalf("flags 0x%02x csum %v: Append: %v", flags, csum, err)
			}
			if len(b) != d.Len() || int(b[1]) != len(b) {
				t.Fatalf("flags 0x%02x: encoded %d bytes, Len %d, length byte %d", flags, len(b), d.Len(), b[1])
			}
			got, err := ParseDSS(b)
			if err != nil || got != d {
				t.Fatalf("flags 0x%02x csum %v: ParseDSS(%x) = %+v, %v; want %+v", flags, csum, b, got, err, d)
			}
		}
	}
}

func TestIter(t *testing.T) {
	// A SYN's options block as Linux sends it: MSS, SACK-permitted,
	// timestamps, NOP, window scale, MP_CAPABLE v1.
	block := unhex(t, "020405b4 0402 080a00112233 00000000 01 030307 1e040181")
	got, err := ParseAll(block, nil)
	if err != nil {
		t.Fatalf("ParseAll: %v", err)
	}
	want := []Option{{Subtype: SubtypeMPCapable, MPCapable: MPCapable{Version: V1, Flags: CapChecksum | CapHMACSHA256}}}
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("ParseAll = %v, want %v", got, want)
	}

	// Two MPTCP options, then EOL and garbage that must be ignored.
	block = unhex(t, "0101 1e083001c6120201 1e08200100000064 00 ffff")
	got, err = ParseAll(block, make([]Option, 0, 4))
	if err != nil || len(got) != 2 || got[0].Subtype != SubtypeAddAddr || got[1].DSS.DataACK != 100 {
		t.Fatalf("ParseAll = %v, %v", got, err)
	}

	errCases := []struct {
		name  string
		block string
		want  error
		n     int // options decoded before the error
	}{
		{"no length byte", "1e08200100000064 02", ErrTruncated, 1},
		{"length 1", "0101 0801", ErrLength, 0},
		{"overlong", "1e08200100000064 080a0011", ErrTruncated, 1},
		{"bad MPTCP option", "1e08200100000064 1e0920010000006400", ErrLength, 1},
	}
	for _, tc := range errCases {
		got, err := ParseAll(unhex(t, tc.block), nil)
		if !errors.Is(err, tc.want) || len(got) != tc.n {
			t.Errorf("%s: ParseAll = %v, %v; want %d options and %v", tc.name, got, err, tc.n, tc.want)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	cases := parseCases(t)
	var o Option
	for _, tc := range cases {
		b := unhex(t, tc.hex)
		if n := testing.AllocsPerRun(100, func() { o, _ = tc.p.Parse(b) }); n != 0 {
			t.Errorf("%s: Parse allocates %v times", tc.name, n)
		}
	}
	block := unhex(t, "0101 1e083001c6120201 1e1a200f0000000000000064000000000000c350000000010578")
	dst := make([]Option, 0, 4)
	if n := testing.AllocsPerRun(100, func() { dst, _ = ParseAll(block, dst[:0]) }); n != 0 {
		t.Errorf("ParseAll allocates %v times", n)
	}
	var sd DSS
	dss := unhex(t, "1e1a200f0000000000000064000000000000c350000000010578")
	if n := testing.AllocsPerRun(100, func() { sd, _ = ParseDSS(dss) }); n != 0 || sd.DSN != 0xc350 {
		t.Errorf("ParseDSS allocates %v times (DSN %d)", n, sd.DSN)
	}
	seg := unhex(t, "0101080a0011223300000000 1e1a200f0000000000000064000000000000c350000000010578")
	if n := testing.AllocsPerRun(100, func() {
		for it := NewIter(seg); it.Next(); {
			sd, _ = ParseDSS(it.Bytes())
		}
	}); n != 0 {
		t.Errorf("Iter allocates %v times", n)
	}
	d := DSS{Flags: 0x0f, DataACK: 1, DSN: 2, SubflowSeq: 3, DataLen: 4}
	buf := make([]byte, 0, 40)
	if n := testing.AllocsPerRun(100, func() { buf, _ = d.Append(buf[:0]) }); n != 0 {
		t.Errorf("DSS.Append allocates %v times", n)
	}
	_ = o
}

func TestSubtypeString(t *testing.T) {
	for st, want := range map[Subtype]string{
		SubtypeMPCapable: "MP_CAPABLE", SubtypeDSS: "DSS", SubtypeMPTCPRst: "MP_TCPRST",
		SubtypeExperimental: "MP_EXPERIMENTAL", 9: "SUBTYPE_9",
	} {
		if got := st.String(); got != want {
			t.Errorf("Subtype(%d).String() = %q, want %q", st, got, want)
		}
	}
	if got := RstReason(9).String(); got != "reason 0x09" {
		t.Errorf("RstReason(9) = %q", got)
	}
}

// TestFieldsIPhone checks the Wireshark-named fields of the 2013 iPhone SYN
// against what tshark 4.0 prints for the same bytes.
func TestFieldsIPhone(t *testing.T) {
	o, err := Parse(unhex(t, "1e0c00017acdc123cc42a7ec"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{
		{Name: "tcp.option_kind", Value: "30"},
		{Name: "tcp.option_len", Value: "12"},
		{Name: "tcp.options.mptcp.subtype", Value: "0", Info: "MP_CAPABLE"},
		{Name: "tcp.options.mptcp.version", Value: "0"},
		{Name: "tcp.options.mptcp.flags", Value: "0x01", Info: "HMAC-SHA1, no checksum"},
		{Name: "tcp.options.mptcp.checksumreq.flags", Value: "0"},
		{Name: "tcp.options.mptcp.extensibility.flag", Value: "0"},
		{Name: "tcp.options.mptcp.sha1.flag", Value: "1"},
		{Name: "tcp.options.mptcp.reserved.flag", Value: "0x00"},
		{Name: "tcp.options.mptcp.sendkey", Value: "8848941202347829228", Info: "0x7acdc123cc42a7ec"},
	}
	got := o.Fields(nil)
	if len(got) != len(want) {
		t.Fatalf("Fields = %v\nwant %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestFieldsPerSubtype(t *testing.T) {
	// Spot checks of names and formats tshark uses for each subtype.
	cases := []struct {
		hex  string
		want map[string]string
	}{
		{"1e18100000112233445566778899aabbccddeeff00112233", map[string]string{
			"tcp.options.mptcp.reserved": "0x0000",
			"tcp.options.mptcp.sendhmac": "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33"}},
		{"1e0c1102deadbeef01020304", map[string]string{
			"tcp.options.mptcp.flags": "0x11", "tcp.options.mptcp.backup.flag": "1",
			"tcp.options.mptcp.recvtok": "3735928559", "tcp.options.mptcp.sendrand": "16909060"}},
		{"1e10200400000002000000030004abcd", map[string]string{
			"tcp.options.mptcp.flags": "0x04", "tcp.options.mptcp.dseqnpresent.flag": "1",
			"tcp.options.mptcp.rawdataseqno": "2", "tcp.options.mptcp.checksum": "0xabcd"}},
		{"1e12300ac6120201270f1122334455667788", map[string]string{
			"tcp.options.mptcp.echo": "0", "tcp.options.mptcp.ipv4": "198.18.2.1",
			"tcp.options.mptcp.port": "9999", "tcp.options.mptcp.addaddrtrunchmac": "1234605616436508552"}},
		{"1e0a3404c61202010050", map[string]string{"tcp.options.mptcp.ipver": "4"}},
		{"1e0640010203", map[string]string{"mptcp.rm_addr.count": "3"}},
		{"1e045103", map[string]string{"tcp.options.mptcp.flags": "0x51", "tcp.options.mptcp.addrid": "3"}},
		{"1e04810106", map[string]string{"tcp.options.mptcp.flags": "0x81", "tcp.options.mptcp.flag_T.flag": "1", "tcp.options.mptcp.rst_reason": "0x01"}},
		{"1e0c70000102030405060708", map[string]string{"tcp.options.mptcp.recvkey": "72623859790382856"}},
		{"1e0c01ff7acdc123cc42a7ec", map[string]string{"tcp.options.mptcp.reserved.flag": "0x0f", "tcp.options.mptcp.nomoresubflows.flag": "1"}},
	}
	for _, tc := range cases {
		o, err := Parse(unhex(t, tc.hex))
		if err != nil {
			t.Fatalf("%s: %v", tc.hex, err)
		}
		got := map[string]string{}
		for _, f := range o.Fields(nil) {
			got[f.Name] = f.Value
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tc.hex, k, got[k], v)
			}
		}
	}
}
