package option

import (
	"encoding/hex"
	"testing"
)

// A DSS as Linux sends it with data: 64-bit Data ACK and 64-bit mapping.
var benchDSS, _ = hex.DecodeString("1e1a200f0000000000000064000000000000c350000000010578")

// A data segment's options block: NOP, NOP, timestamps, that DSS.
var benchBlock, _ = hex.DecodeString("0101080a0011223300000000" + "1e1a200f0000000000000064000000000000c350000000010578")

var sinkDSS DSS
var sinkOpt Option

func BenchmarkParseDSS(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchDSS)))
	for b.Loop() {
		d, err := ParseDSS(benchDSS)
		if err != nil {
			b.Fatal(err)
		}
		sinkDSS = d
	}
}

func BenchmarkParseGenericDSS(b *testing.B) {
	b.ReportAllocs()
	var p Parser
	for b.Loop() {
		if err := p.ParseInto(&sinkOpt, benchDSS); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAllDataSegment(b *testing.B) {
	b.ReportAllocs()
	dst := make([]Option, 0, 4)
	for b.Loop() {
		var err error
		dst, err = ParseAll(benchBlock, dst[:0])
		if err != nil || len(dst) != 1 {
			b.Fatal(err)
		}
	}
}

func BenchmarkIterDSS(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		it := NewIter(benchBlock)
		for it.Next() {
			d, err := ParseDSS(it.Bytes())
			if err != nil {
				b.Fatal(err)
			}
			sinkDSS = d
		}
	}
}

func BenchmarkAppendDSS(b *testing.B) {
	b.ReportAllocs()
	d, _ := ParseDSS(benchDSS)
	buf := make([]byte, 0, 40)
	for b.Loop() {
		buf, _ = d.Append(buf[:0])
	}
}

func BenchmarkParseMPCapable(b *testing.B) {
	in, _ := hex.DecodeString("1e16018192e7c5ff3d18b12ad1a1f4b7c1c8ab350005")
	b.ReportAllocs()
	for b.Loop() {
		if err := (Parser{}).ParseInto(&sinkOpt, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAddAddrV6(b *testing.B) {
	in, _ := hex.DecodeString("1e1e300320010db8000000000000000000000001" + "01bbaabbccddeeff0011")
	b.ReportAllocs()
	for b.Loop() {
		if err := (Parser{}).ParseInto(&sinkOpt, in); err != nil {
			b.Fatal(err)
		}
	}
}
