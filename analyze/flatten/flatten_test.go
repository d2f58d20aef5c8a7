package flatten

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/header"
)

func TestWriterConversation(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		var buf bytes.Buffer
		pw, err := capture.NewPcapWriter(&buf, capture.LinkTypeRaw, capture.PcapWriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fw := New(pw)
		ci := &analyze.ConnInfo{ID: 3, Client: netip.MustParseAddrPort("198.18.1.1:1000"), Server: netip.MustParseAddrPort("198.18.1.2:80")}
		if v6 {
			ci.Client = netip.MustParseAddrPort("[2001:db8::1]:1000")
			ci.Server = netip.MustParseAddrPort("[2001:db8::2]:80")
		}
		ts := time.Unix(100, 0)
		up := bytes.Repeat([]byte("u"), 3000)
		fw.Data(ci, 0, ts, 0, up)
		fw.Data(ci, 1, ts, 0, []byte("reply"))
		fw.Hole(ci, 1, ts, 5, 100)
		fw.Data(ci, 1, ts, 105, []byte("after the hole"))
		fw.End(ci, 0, ts)
		fw.End(ci, 1, ts)
		if err := errorsJoin(fw.Err(), pw.Flush()); err != nil {
			t.Fatal(err)
		}
		r, err := capture.NewPcapReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		var got [2][]byte
		var seqs [2][]uint32
		var flags []header.TCPFlags
		var isn [2]uint32
		for {
			p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ipl := 20
			if v6 {
				ipl = 40
			}
			tcp := header.TCP(p.Data[ipl:])
			d := 0
			if tcp.SrcPort() == 80 {
				d = 1
			}
			if header.Checksum(tcp, header.PseudoHeaderChecksum(6, addr(p.Data, v6, true), addr(p.Data, v6, false), uint32(len(tcp)))) != 0xffff {
				t.Errorf("bad TCP checksum")
			}
			flags = append(flags, tcp.Flags())
			if tcp.Flags()&header.TCPFlagSYN != 0 {
				isn[d] = tcp.Seq()
			}
			if len(tcp.Payload()) > 0 {
				got[d] = append(got[d], tcp.Payload()...)
				seqs[d] = append(seqs[d], tcp.Seq()-isn[d])
				if len(tcp.Payload()) > MSS {
					t.Errorf("segment of %d bytes > MSS", len(tcp.Payload()))
				}
			}
		}
		if !bytes.Equal(got[0], up) || string(got[1]) != "replyafter the hole" {
			t.Errorf("payloads %d %q", len(got[0]), got[1])
		}
		// The hole is a gap in the sequence space, not invented bytes.
		if len(seqs[1]) != 2 || seqs[1][0] != 1 || seqs[1][1] != 1+5+100 {
			t.Errorf("server seqs %v", seqs[1])
		}
		if len(flags) < 3 || flags[0] != header.TCPFlagSYN || flags[1] != header.TCPFlagSYN|header.TCPFlagACK {
			t.Errorf("no handshake: %v", flags)
		}
		fins := 0
		for _, f := range flags {
			if f&header.TCPFlagFIN != 0 {
				fins++
			}
		}
		if fins != 2 {
			t.Errorf("%d FINs", fins)
		}
	}
}

func addr(p []byte, v6, src bool) netip.Addr {
	if v6 {
		if src {
			return netip.AddrFrom16([16]byte(p[8:24]))
		}
		return netip.AddrFrom16([16]byte(p[24:40]))
	}
	if src {
		return netip.AddrFrom4([4]byte(p[12:16]))
	}
	return netip.AddrFrom4([4]byte(p[16:20]))
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
