package probe

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/mpconn"
	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
)

const (
	ourKey    = 0x0d281e809240b7a4
	serverKey = 0x1539cfa72767970c
)

// plainOpts is Linux's SYN/ACK option layout without MPTCP.
var plainOpts = []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7}

func opt(t *testing.T, o option.Option) []byte {
	t.Helper()
	b, err := o.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mpCap(t *testing.T, v option.Version, flags uint8, key uint64) []byte {
	return opt(t, option.Option{Subtype: option.SubtypeMPCapable, MPCapable: option.MPCapable{Version: v, Flags: flags, HasSenderKey: key != 0, SenderKey: key}})
}

func dss(t *testing.T, d option.DSS) []byte {
	return opt(t, option.Option{Subtype: option.SubtypeDSS, DSS: d})
}

// conv builds a connection's segments: our SYN, the server's SYN/ACK
// with synAckOpts, our third ACK, and the server's later segments.
func conv(t *testing.T, synAckOpts []byte, later ...Segment) []Segment {
	segs := []Segment{
		{Out: true, Flags: header.TCPFlagSYN, Options: append(slices.Clone(plainOpts), mpCap(t, option.V1, option.CapHMACSHA256, 0)...)},
		{Flags: header.TCPFlagSYN | header.TCPFlagACK, Options: synAckOpts},
		{Out: true, Flags: header.TCPFlagACK},
	}
	for i := range later {
		later[i].Flags |= header.TCPFlagACK
	}
	return append(segs, later...)
}

func info(fallback bool) *mpconn.ConnInfo {
	return &mpconn.ConnInfo{LocalKey: ourKey, RemoteKey: serverKey, Fallback: fallback, State: "closed"}
}

func kinds(r *Report) []string {
	var k []string
	for _, f := range r.Findings {
		k = append(k, f.Kind)
	}
	return k
}

func TestAnalyze(t *testing.T) {
	ourIDSN, srvIDSN := mpcrypto.IDSN(option.V1, ourKey), mpcrypto.IDSN(option.V1, serverKey)
	synAck := append(slices.Clone(plainOpts), mpCap(t, option.V1, option.CapHMACSHA256, serverKey)...)
	goodAck := dss(t, option.DSS{Flags: option.DSSDataACK, DataACK: uint64(uint32(ourIDSN + 2))})
	srvFin := dss(t, option.DSS{Flags: option.DSSDataACK | option.DSSDataACK8 | option.DSSMapping | option.DSSDSN8 | option.DSSDataFIN,
		DataACK: ourIDSN + 2, DSN: srvIDSN + 1, DataLen: 1})
	a2 := netip.MustParseAddr("198.18.2.2")
	addAddr := func(hmac uint64) []byte {
		return opt(t, option.Option{Subtype: option.SubtypeAddAddr, AddAddr: option.AddAddr{Version: option.V1, AddrID: 1, Addr: a2, HasHMAC: true, HMAC: hmac}})
	}
	validHMAC := mpcrypto.AddAddrHMAC(serverKey, ourKey, 1, a2, 0)
	nops := func(n int) []byte { return slices.Repeat([]byte{1}, n) }
	for _, tc := range []struct {
		name     string
		segs     []Segment
		info     *mpconn.ConnInfo
		verdict  string
		findings []string
		check    func(*Report) bool
	}{
		{"mptcp", conv(t, synAck, Segment{Options: goodAck}, Segment{Options: srvFin}, Segment{Options: addAddr(validHMAC)}), info(false),
			VerdictMPTCP, nil, func(r *Report) bool {
				return r.MPTCP && *r.Version == 1 && r.DataAck.Matches && r.DataSeq.Matches && len(r.AddAddrs) == 1 && r.AddAddrs[0].HMACValid && r.SynAckNOPRun == 1
			}},
		{"checksum", conv(t, append(slices.Clone(plainOpts), mpCap(t, option.V1, option.CapHMACSHA256|option.CapChecksum, serverKey)...), Segment{Options: goodAck}),
			info(false), VerdictMPTCP, nil, func(r *Report) bool { return r.ServerChecksum && strings.Contains(r.Summary, "requires DSS checksums") }},
		{"plain-tcp", conv(t, plainOpts, Segment{}), info(true), VerdictTCP, []string{"no_mp_capable"},
			func(r *Report) bool { return r.Version == nil && !r.MPTCP }},
		{"synack-stripped", conv(t, append(slices.Clone(plainOpts), nops(12)...), Segment{}), info(true), VerdictStripped, []string{"syn_ack_option_removed"},
			func(r *Report) bool {
				return r.SynAckNOPRun == 12 && r.Segments[1].Options == "mss,sackok,ts,nop,ws,nop*12"
			}},
		{"v0", conv(t, append(slices.Clone(plainOpts[:16]), mpCap(t, option.V0, option.CapHMACSHA1, serverKey)...)), info(true), VerdictV0, []string{"server_v0"},
			func(r *Report) bool { return *r.Version == 0 && r.HMAC == "sha1" }},
		{"data-ack-changed", conv(t, synAck, Segment{Options: dss(t, option.DSS{Flags: option.DSSDataACK | option.DSSDataACK8, DataACK: ourIDSN + 1000})}),
			info(false), VerdictModified, []string{"data_ack_mismatch"}, func(r *Report) bool { return !r.DataAck.Matches }},
		{"data-seq-changed", conv(t, synAck, Segment{Options: goodAck}, Segment{Len: 10, Options: dss(t, option.DSS{Flags: option.DSSMapping | option.DSSDSN8, DSN: srvIDSN + 7, DataLen: 10, SubflowSeq: 1})}),
			info(false), VerdictModified, []string{"data_seq_mismatch"}, nil},
		{"stripped-after-handshake", conv(t, synAck, Segment{}, Segment{Len: 100}), info(true), VerdictStripped, []string{"options_removed_after_handshake"}, nil},
		{"add-addr-forged", conv(t, synAck, Segment{Options: goodAck}, Segment{Options: addAddr(validHMAC ^ 1)}), info(false), VerdictModified, []string{"add_addr_hmac_invalid"},
			func(r *Report) bool { return len(r.AddAddrs) == 1 && !r.AddAddrs[0].HMACValid }},
		{"silent-server", conv(t, synAck), info(false), VerdictMPTCP, []string{"no_answer_after_handshake"}, nil},
		{"refused", []Segment{{Out: true, Flags: header.TCPFlagSYN}, {Flags: header.TCPFlagRST | header.TCPFlagACK}}, nil, VerdictUnreachable, nil,
			func(r *Report) bool { return strings.Contains(r.Summary, "refused") }},
		{"no-answer", []Segment{{Out: true, Flags: header.TCPFlagSYN}, {Out: true, Flags: header.TCPFlagSYN}}, nil, VerdictUnreachable, nil,
			func(r *Report) bool { return strings.Contains(r.Summary, "no answer") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{}
			Analyze(r, tc.segs, tc.info)
			if r.Verdict != tc.verdict || !slices.Equal(kinds(r), tc.findings) && !(len(tc.findings) == 0 && len(r.Findings) == 0) ||
				tc.check != nil && !tc.check(r) || len(r.Segments) != len(tc.segs) {
				b, _ := json.MarshalIndent(r, "", " ")
				t.Errorf("verdict %q findings %q, want %q %q\n%s", r.Verdict, kinds(r), tc.verdict, tc.findings, b)
			}
		})
	}
}

// TestParseSegment reads an IPv4 TCP segment in an Ethernet frame and as
// a bare packet, and refuses what is not one.
func TestParseSegment(t *testing.T) {
	src, dst := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2")
	opts := append(slices.Clone(plainOpts), mpCap(t, option.V1, 1, 0)...)
	tcpHdr := make([]byte, 20+len(opts))
	binary.BigEndian.PutUint16(tcpHdr[0:], 40000)
	binary.BigEndian.PutUint16(tcpHdr[2:], 5201)
	binary.BigEndian.PutUint32(tcpHdr[4:], 7)
	tcpHdr[12] = byte((20 + len(opts)) / 4 << 4)
	tcpHdr[13] = byte(header.TCPFlagSYN)
	copy(tcpHdr[20:], opts)
	payload := append(tcpHdr, "hello"...)
	ip := make([]byte, 20+len(payload))
	header.IPv4(ip).Encode(&header.IPv4Fields{TotalLength: uint16(len(ip)), TTL: 64, Protocol: 6, Src: src, Dst: dst})
	copy(ip[20:], payload)
	frame := append(make([]byte, 14), ip...)
	header.Ethernet(frame).Encode(header.MAC{2}, header.MAC{4}, 0x0800)
	for _, tc := range []struct {
		pkt []byte
		lt  link.Type
	}{{frame, link.TypeEthernet}, {ip, link.TypeIP}} {
		s, ok := ParseSegment(tc.pkt, tc.lt)
		if !ok || s.Src != netip.AddrPortFrom(src, 40000) || s.Dst != netip.AddrPortFrom(dst, 5201) || s.Seq != 7 ||
			s.Flags != header.TCPFlagSYN || s.Len != 5 || string(s.Options) != string(opts) {
			t.Errorf("%v: %+v %v", tc.lt, s, ok)
		}
	}
	for _, bad := range [][]byte{nil, frame[:20], ip[:30], {0x45}} {
		if _, ok := ParseSegment(bad, link.TypeIP); ok {
			t.Errorf("%x parsed", bad)
		}
	}
}

func FuzzParseSegment(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 1, 1, 198, 18, 1, 2, 0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 2, 0, 0, 0, 0, 0, 0}, false)
	f.Add(make([]byte, 74), true)
	f.Fuzz(func(t *testing.T, b []byte, eth bool) {
		lt := link.TypeIP
		if eth {
			lt = link.TypeEthernet
		}
		s, ok := ParseSegment(b, lt)
		if !ok {
			return
		}
		if s.Len < 0 || len(s.Options) > 40 || len(s.Options)%4 != 0 {
			t.Fatalf("%+v", s)
		}
		// Whatever parsed, the analysis of it never panics.
		r := &Report{}
		Analyze(r, []Segment{s, {Flags: header.TCPFlagSYN | header.TCPFlagACK, Options: s.Options}, {Options: s.Options}}, &mpconn.ConnInfo{})
	})
}
