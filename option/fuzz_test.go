package option

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// fuzzSeeds are real options: the 2013 iPhone SYN and options captured
// from Linux 6.18 kernel MPTCP v1 connections between two namespaces (the
// same captures as ../mpcrypto/testdata/linux-v1.json). addSeeds adds the
// table of parse cases too.
var fuzzSeeds = []string{
	"1e0c00017acdc123cc42a7ec", // iPhone MP_CAPABLE v0 SYN
	// Linux: MP_CAPABLE SYN, SYN/ACK, ACK (checksums off and on).
	"1e040101", "1e0c0101a8b0213669e295cb", "1e140101242c57b018658b10a8b0213669e295cb",
	"1e040181", "1e1401810ccdf2049b771792abe26e7952601652",
	// Linux: ADD_ADDR with HMAC and its echo.
	"1e103001c61202022c0054bb4c9e5cfc", "1e083101c6120202",
	// Linux: MP_JOIN SYN, SYN/ACK, ACK.
	"1e0c10017b980801f987526d", "1e1010009475a12dc7e05e8fcb2dd5f7",
	"1e1810001120db87907667cdb9cb342c1f66a84acaaf535e",
	// Linux: DSS Data ACK only, ACK+64-bit mapping, with checksum.
	"1e082001966ecf6f", "1e0c2003e77210d9966ed4ff",
	"1e16200da7b2f8ace77210d9966ecf6f000000014e20",
	"1e18200df8597545fa1515ed19d3b3d1000000010014e2af",
	"1e1c200ffa1515ed19d3b6e653160562f8597545000000010002ca79",
}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		b, err := hex.DecodeString(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	for i, tc := range parseCases(f) {
		b, _ := hex.DecodeString(tc.hex)
		f.Add(b, uint8(i))
	}
}

func fuzzParser(mode uint8) Parser {
	return Parser{Version: VersionHint(mode % 3), Strict: mode&0x80 != 0}
}

// FuzzParse: Parse never panics, agrees with ParseDSS on DSS options, and
// every option it accepts re-encodes to exactly its input bytes and parses
// back to the same value.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		p := fuzzParser(mode)
		o, err := p.Parse(b)
		if !p.Strict && len(b) >= 3 && b[0] == Kind && Subtype(b[2]>>4) == SubtypeDSS {
			// The fast path agrees with the general one.
			d, derr := ParseDSS(b)
			if (derr == nil) != (err == nil) || d != o.DSS {
				t.Fatalf("ParseDSS(%x) = %+v, %v; Parse: %+v, %v", b, d, derr, o.DSS, err)
			}
		}
		if err != nil {
			return
		}
		_ = o.String()
		_ = o.Fields(nil)
		in := b[:b[1]]
		if o.Len() != len(in) {
			t.Fatalf("Parse(%x): Len %d != %d", in, o.Len(), len(in))
		}
		out, err := o.Append(nil)
		if err != nil {
			t.Fatalf("Parse(%x) = %+v, but Append fails: %v", in, o, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("Append(Parse(%x)) = %x", in, out)
		}
		o2, err := p.Parse(out)
		if err != nil || o2 != o {
			t.Fatalf("Parse(Append(%+v)) = %+v, %v", o, o2, err)
		}
	})
}

// FuzzParseAll: walking any options block never panics, and every option
// returned round-trips.
func FuzzParseAll(f *testing.F) {
	f.Add([]byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7, 0x1e, 4, 1, 0x81}, uint8(0))
	f.Add([]byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0x1e, 8, 0x20, 1, 0, 0, 0, 5, 0}, uint8(1))
	addSeeds(f)
	f.Fuzz(func(t *testing.T, block []byte, mode uint8) {
		p := fuzzParser(mode)
		opts, _ := p.ParseAll(block, nil)
		for _, o := range opts {
			out, err := o.Append(nil)
			if err != nil {
				t.Fatalf("option %+v from block %x does not encode: %v", o, block, err)
			}
			if !bytes.Contains(block, out) {
				t.Fatalf("option %x not found in block %x", out, block)
			}
		}
	})
}

// FuzzDSSRoundTrip: any DSS value encodes, and parses back to itself once
// the fields its flags leave out are cleared.
func FuzzDSSRoundTrip(f *testing.F) {
	f.Add(uint8(0x0f), uint64(1), uint64(2), uint32(3), uint16(4), true, uint16(5), uint16(0))
	f.Add(uint8(0x05), uint64(1<<40), uint64(1<<33), uint32(3), uint16(0), false, uint16(0), uint16(0x0fe0))
	f.Add(uint8(0x1d), uint64(7), uint64(8), uint32(9), uint16(10), true, uint16(0xffff), uint16(0x0100))
	f.Fuzz(func(t *testing.T, flags uint8, ack, dsn uint64, ssn uint32, dll uint16, hasCsum bool, csum uint16, rsv uint16) {
		d := DSS{Flags: flags & dssFlagMask, DataACK: ack, DSN: dsn, SubflowSeq: ssn, DataLen: dll,
			HasChecksum: hasCsum && flags&DSSMapping != 0, Checksum: csum, Reserved: rsv & dssRsvMask}
		b, err := d.Append(nil)
		if err != nil {
			t.Fatalf("Append(%+v): %v", d, err)
		}
		want := d
		if !d.HasDataACK() {
			want.DataACK = 0
		} else if d.Flags&DSSDataACK8 == 0 {
			want.DataACK &= 0xffffffff
		}
		if !d.HasMapping() {
			want.DSN, want.SubflowSeq, want.DataLen = 0, 0, 0
		} else if d.Flags&DSSDSN8 == 0 {
			want.DSN &= 0xffffffff
		}
		if !want.HasChecksum {
			want.Checksum = 0
		}
		got, err := ParseDSS(b)
		if err != nil || got != want {
			t.Fatalf("ParseDSS(Append(%+v)) = %+v, %v; want %+v", d, got, err, want)
		}
	})
}
