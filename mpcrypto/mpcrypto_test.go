package mpcrypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"math/rand/v2"
	"net/netip"
	"os"
	"testing"

	"github.com/mptcp-go/mptcp/option"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTokenIDSN(t *testing.T) {
	cases := []struct {
		name  string
		v     option.Version
		key   uint64
		token uint32
		idsn  uint64
	}{
		// MP_CAPABLE v0 in an iPhone's SYN, 2013.
		{"iPhone v0", option.V0, 0x7acdc123cc42a7ec, 0x53cea896, 0xe0c6d4b07736a18a},
		// The same key under v1 (SHA-256).
		{"same key v1", option.V1, 0x7acdc123cc42a7ec, 0x76128fe3, 0x13918cd3f4f8e7f1},
		// Linux 6.18 server key; its token appears in the MP_JOIN SYN and
		// the client's first Data ACK is its IDSN+1 (testdata/linux-v1.json);
		// the client key's first DSN is its IDSN+1. Tokens cross-checked
		// with Python's hashlib.
		{"Linux server key", option.V1, 0xa8b0213669e295cb, 0x7b980801, 0x77900e13a7b2f8ab},
		{"Linux client key", option.V1, 0x242c57b018658b10, 0x1c6c33c5, 0xe77210d9966ecf6e},
	}
	for _, tc := range cases {
		tok, idsn := TokenIDSN(tc.v, tc.key)
		if tok != tc.token || idsn != tc.idsn {
			t.Errorf("%s: TokenIDSN(%v, %#x) = %#x, %#x; want %#x, %#x", tc.name, tc.v, tc.key, tok, idsn, tc.token, tc.idsn)
		}
		if Token(tc.v, tc.key) != tc.token || IDSN(tc.v, tc.key) != tc.idsn {
			t.Errorf("%s: Token/IDSN disagree with TokenIDSN", tc.name)
		}
	}
}

// TestHMACKernelVectors uses the vectors of the Linux kernel's
// net/mptcp/crypto_test.c, which feed the ASCII text of the strings as
// the two 8-byte keys and the 8-byte message.
func TestHMACKernelVectors(t *testing.T) {
	cases := []struct{ key, msg, want string }{
		{"0b0b0b0b0b0b0b0b", "48692054", "8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa"},
		{"aaaaaaaaaaaaaaaa", "dddddddd", "2c5e219164ff1dca1c4a92318d847bb6b9d44492984e1eb71aff9022f71046e9"},
		{"0102030405060708", "cdcdcdcd", "e73b9ba9969969cefb04aa0d6df18ec2fcc075b6f23b4d8c4da736a5dbbc6e7d"},
	}
	for _, tc := range cases {
		k1 := binary.BigEndian.Uint64([]byte(tc.key[:8]))
		k2 := binary.BigEndian.Uint64([]byte(tc.key[8:]))
		sum, n := HMAC(option.V1, k1, k2, []byte(tc.msg))
		if got := hex.EncodeToString(sum[:n]); got != tc.want {
			t.Errorf("HMAC(%q, %q) = %s, want %s", tc.key, tc.msg, got, tc.want)
		}
	}
}

// TestHMACMatchesStdlib compares our allocation-free HMAC with crypto/hmac
// for both versions and every message length up to 40 bytes (which also
// covers the general path past 19 bytes).
func TestHMACMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, v := range []option.Version{option.V0, option.V1} {
		newHash := sha256.New
		if v == option.V0 {
			newHash = func() hash.Hash { return sha1.New() }
		}
		for n := 0; n <= 40; n++ {
			k1, k2 := r.Uint64(), r.Uint64()
			msg := make([]byte, n)
			for i := range msg {
				msg[i] = byte(r.Uint32())
			}
			var key [16]byte
			binary.BigEndian.PutUint64(key[:8], k1)
			binary.BigEndian.PutUint64(key[8:], k2)
			m := hmac.New(newHash, key[:])
			m.Write(msg)
			want := m.Sum(nil)
			sum, size := HMAC(v, k1, k2, msg)
			if !bytes.Equal(sum[:size], want) {
				t.Errorf("%v len %d: HMAC = %x, want %x", v, n, sum[:size], want)
			}
		}
	}
}

type vectors struct {
	Connections []struct {
		Name               string `json:"name"`
		MPCSyn             string `json:"mpc_syn"`
		MPCSynAck          string `json:"mpc_synack"`
		MPCAck             string `json:"mpc_ack"`
		AddAddrFromServer  string `json:"add_addr_from_server"`
		AddAddrEcho        string `json:"add_addr_echo_from_client"`
		JoinSyn            string `json:"join_syn_from_client"`
		JoinSynAck         string `json:"join_synack_from_server"`
		JoinAck            string `json:"join_ack_from_client"`
		FirstDSSFromClient string `json:"first_dss_from_client"`
		FirstDSSFromServer string `json:"first_dss_from_server"`
		Checksums          []struct {
			DSS     string `json:"dss"`
			Payload string `json:"payload"`
		} `json:"checksums"`
	} `json:"connections"`
}

func parseOpt(t *testing.T, s string) option.Option {
	t.Helper()
	o, err := option.Parse(unhex(t, s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return o
}

// TestLinuxVectors checks every derived value against options the Linux
// kernel put on the wire (testdata/linux-v1.json).
func TestLinuxVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/linux-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs vectors
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	for _, c := range vs.Connections {
		t.Run(c.Name, func(t *testing.T) {
			ack := parseOpt(t, c.MPCAck).MPCapable
			if !ack.HasReceiverKey || ack.Version != option.V1 {
				t.Fatalf("third ACK %+v", ack)
			}
			clientKey, serverKey := ack.SenderKey, ack.ReceiverKey
			if k := parseOpt(t, c.MPCSynAck).MPCapable.SenderKey; k != serverKey {
				t.Fatalf("SYN/ACK key %#x != echoed %#x", k, serverKey)
			}
			_, clientIDSN := TokenIDSN(option.V1, clientKey)
			serverToken, serverIDSN := TokenIDSN(option.V1, serverKey)

			// RFC 8684 §3.3: the first data byte has DSN IDSN+1.
			d := parseOpt(t, c.FirstDSSFromClient).DSS
			if d.DSN != clientIDSN+1 {
				t.Errorf("client first DSN %#x, want IDSN+1 = %#x", d.DSN, clientIDSN+1)
			}
			if d.DataACK != (serverIDSN+1)&0xffffffff {
				t.Errorf("client Data ACK %#x, want low 32 bits of %#x", d.DataACK, serverIDSN+1)
			}
			if c.FirstDSSFromServer != "" {
				if d := parseOpt(t, c.FirstDSSFromServer).DSS; d.DataACK>>32 != clientIDSN>>32 {
					t.Errorf("server Data ACK %#x not in the client's data space %#x", d.DataACK, clientIDSN)
				}
			}

			// The server signals its second address with an HMAC keyed by
			// its own key first.
			aa := parseOpt(t, c.AddAddrFromServer).AddAddr
			if !aa.HasHMAC {
				t.Fatal("ADD_ADDR without HMAC")
			}
			if got := AddAddrHMAC(serverKey, clientKey, aa.AddrID, aa.Addr, aa.Port); got != aa.HMAC {
				t.Errorf("ADD_ADDR HMAC = %#x, want %#x", got, aa.HMAC)
			}
			if got := AddAddrHMAC(clientKey, serverKey, aa.AddrID, aa.Addr, aa.Port); got == aa.HMAC {
				t.Error("ADD_ADDR HMAC also matches with the keys swapped")
			}

			if c.JoinSyn != "" {
				syn, synack, jack := parseOpt(t, c.JoinSyn).MPJoin, parseOpt(t, c.JoinSynAck).MPJoin, parseOpt(t, c.JoinAck).MPJoin
				if syn.Token != serverToken {
					t.Errorf("MP_JOIN token %#x, want server token %#x", syn.Token, serverToken)
				}
				// SYN/ACK: sent by the server (B) to the joining client (A).
				if got := JoinTruncatedHMAC(option.V1, serverKey, clientKey, synack.Nonce, syn.Nonce); got != synack.TruncHMAC {
					t.Errorf("SYN/ACK truncated HMAC = %#x, want %#x", got, synack.TruncHMAC)
				}
				// Third ACK: sent by the client (A).
				if got := JoinHMAC(option.V1, clientKey, serverKey, syn.Nonce, synack.Nonce); got != jack.HMAC {
					t.Errorf("ACK HMAC = %x, want %x", got, jack.HMAC)
				}
			}

			for _, cs := range c.Checksums {
				d := parseOpt(t, cs.DSS).DSS
				payload := unhex(t, cs.Payload)
				if !d.HasChecksum || int(d.DataLen) != len(payload) {
					t.Fatalf("DSS %+v does not map the %d-byte payload with a checksum", d, len(payload))
				}
				// The option may carry a 32-bit DSN; the checksum uses 64.
				if got := DSSChecksum(d.DSN, d.SubflowSeq, d.DataLen, payload); got != d.Checksum {
					t.Errorf("DSSChecksum(%s) = %#04x, want %#04x", cs.DSS, got, d.Checksum)
				}
				if !VerifyDSSChecksum(d.DSN, d.SubflowSeq, d.DataLen, d.Checksum, payload) {
					t.Errorf("VerifyDSSChecksum(%s) = false", cs.DSS)
				}
				payload[0] ^= 0x01
				if VerifyDSSChecksum(d.DSN, d.SubflowSeq, d.DataLen, d.Checksum, payload) {
					t.Errorf("VerifyDSSChecksum accepts a corrupted payload")
				}
			}
		})
	}
}

// refChecksum is a byte-at-a-time RFC 1071 sum for cross-checking.
func refChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		s += w
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func TestSumSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 200; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := refChecksum(b)
		for trial := 0; trial < 5; trial++ {
			var s Sum
			rest := b
			for len(rest) > 0 {
				k := r.IntN(len(rest)) + 1
				s.Add(rest[:k])
				rest = rest[k:]
			}
			if got := s.Fold(); got != want && !(got == 0 && want == 0xffff) && !(got == 0xffff && want == 0) {
				t.Fatalf("len %d: split sum %#04x, want %#04x", n, got, want)
			}
		}
	}
}

func TestDSSChecksumMultiBuffer(t *testing.T) {
	payload := bytes.Repeat([]byte("multipath"), 51) // odd length, 459 bytes
	want := DSSChecksum(0x0102030405060708, 1234, uint16(len(payload)), payload)
	s := DSSChecksumStart(0x0102030405060708, 1234, uint16(len(payload)))
	s.Add(payload[:101])
	s.Add(payload[101:300])
	s.Add(payload[300:])
	if got := DSSChecksumFinish(&s); got != want {
		t.Errorf("split checksum %#04x, one-shot %#04x", got, want)
	}
	if !VerifyDSSChecksum(0x0102030405060708, 1234, uint16(len(payload)), want, payload) {
		t.Error("VerifyDSSChecksum rejects a fresh checksum")
	}
	if VerifyDSSChecksum(0x0102030405060709, 1234, uint16(len(payload)), want, payload) {
		t.Error("VerifyDSSChecksum accepts a different DSN")
	}
}

func TestNewKey(t *testing.T) {
	k, err := NewKey(bytes.NewReader([]byte{1, 2, 3, 4, 5, 6, 7, 8}))
	if err != nil || k != 0x0102030405060708 {
		t.Errorf("NewKey = %#x, %v", k, err)
	}
	if _, err := NewKey(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Error("NewKey on a short reader succeeded")
	}
	a, err1 := NewKey(nil)
	b, err2 := NewKey(nil)
	if err1 != nil || err2 != nil || a == b {
		t.Errorf("NewKey(nil) = %#x, %#x, %v, %v", a, b, err1, err2)
	}
}

func TestAllocs(t *testing.T) {
	payload := make([]byte, 1400)
	addr := netip.MustParseAddr("2001:db8::1")
	checks := map[string]func(){
		"TokenIDSN v1":      func() { TokenIDSN(option.V1, 42) },
		"TokenIDSN v0":      func() { TokenIDSN(option.V0, 42) },
		"JoinHMAC":          func() { JoinHMAC(option.V1, 1, 2, 3, 4) },
		"JoinTruncatedHMAC": func() { JoinTruncatedHMAC(option.V0, 1, 2, 3, 4) },
		"AddAddrHMAC":       func() { AddAddrHMAC(1, 2, 3, addr, 443) },
		"DSSChecksum":       func() { DSSChecksum(1, 2, 1400, payload) },
		"VerifyDSSChecksum": func() { VerifyDSSChecksum(1, 2, 1400, 3, payload) },
	}
	for name, f := range checks {
		if n := testing.AllocsPerRun(50, f); n != 0 {
			t.Errorf("%s allocates %v times", name, n)
		}
	}
}

func FuzzSumSplit(f *testing.F) {
	f.Add([]byte("hello mptcp checksum"), uint8(3), uint8(7))
	f.Add(bytes.Repeat([]byte{0xff}, 33), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, cut1, cut2 uint8) {
		i, j := int(cut1), int(cut2)
		if i > len(b) {
			i = len(b)
		}
		if j > len(b)-i {
			j = len(b) - i
		}
		var s Sum
		s.Add(b[:i])
		s.Add(b[i : i+j])
		s.Add(b[i+j:])
		got, want := s.Fold(), refChecksum(b)
		if got != want && !(got == 0 && want == 0xffff) && !(got == 0xffff && want == 0) {
			t.Fatalf("split at %d,%d: %#04x, want %#04x", i, i+j, got, want)
		}
	})
}

func FuzzHMAC(f *testing.F) {
	f.Add(uint64(0x242c57b018658b10), uint64(0xa8b0213669e295cb), []byte{0xf9, 0x87, 0x52, 0x6d, 0xcb, 0x2d, 0xd5, 0xf7}, false)
	f.Add(uint64(1), uint64(2), []byte("x"), true)
	f.Fuzz(func(t *testing.T, k1, k2 uint64, msg []byte, v0 bool) {
		v, newHash := option.V1, sha256.New
		if v0 {
			v, newHash = option.V0, func() hash.Hash { return sha1.New() }
		}
		var key [16]byte
		binary.BigEndian.PutUint64(key[:8], k1)
		binary.BigEndian.PutUint64(key[8:], k2)
		m := hmac.New(newHash, key[:])
		m.Write(msg)
		sum, n := HMAC(v, k1, k2, msg)
		if !bytes.Equal(sum[:n], m.Sum(nil)) {
			t.Fatalf("HMAC mismatch for %x", msg)
		}
	})
}

func BenchmarkTokenIDSN(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		TokenIDSN(option.V1, 0x242c57b018658b10)
	}
}

func BenchmarkJoinHMAC(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		JoinHMAC(option.V1, 1, 2, 3, 4)
	}
}

func BenchmarkDSSChecksum1400(b *testing.B) {
	payload := make([]byte, 1400)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		DSSChecksum(1, 2, 1400, payload)
	}
}

// TestAddAddrHMACLeftmostLinux56: the ADD_ADDR of tcpdump's test capture
// mptcp-aa-v1.pcap (Linux 5.6, February 2020: server key 73bb150358a0aecb,
// client key 8f0c7c64a6a32ac1, id 1, 192.168.136.225, no port) carries
// 0x669928744366716c: the leftmost 64 bits of the HMAC, not the rightmost.
func TestAddAddrHMACLeftmostLinux56(t *testing.T) {
	const kServer, kClient = 0x73bb150358a0aecb, 0x8f0c7c64a6a32ac1
	addr := netip.MustParseAddr("192.168.136.225")
	if got := AddAddrHMACLeftmost(kServer, kClient, 1, addr, 0); got != 0x669928744366716c {
		t.Errorf("leftmost %016x", got)
	}
	if got := AddAddrHMAC(kServer, kClient, 1, addr, 0); got == 0x669928744366716c {
		t.Errorf("rightmost bits equal the leftmost")
	}
}
