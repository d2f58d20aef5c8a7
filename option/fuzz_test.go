package option

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// fuzzSeeds are real options: the 2013 iPhone SYN, options taken from a
// Linux 6.x kernel MPTCP v1 transfer (see kernel_test.go), and the table of
// parse cases.
var fuzzSeeds = []string{
	"1e0c00017acdc123cc42a7ec", // iPhone MP_CAPABLE v0 SYN
	// Linux v1 handshake, join, data and address signalling.
	"1e040181", "1e0c0181d1a1f4b7c1c8ab35",
	"1e16018192e7c5ff3d18b12ad1a1f4b7c1c8ab350005",
	"1e0c1000d6ff10bc4ce8a9c1", "1e1010008ef2a8c1d1bd2f0f0e29a79e",
	"1e1810008b16f0b55c2eb99b1b77b0b3a53c3a25b5a4adc4",
	"1e08200100000000", "1e1620050000000000000000000000010000000580",
	"1e12300ac6120201270f1122334455667788", "1e083101c6120201",
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

// FuzzParse: Parse never panics, and every option it accepts re-encodes to
// exactly its input bytes and parses back to the same value.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		p := fuzzParser(mode)
		o, err := p.Parse(b)
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
