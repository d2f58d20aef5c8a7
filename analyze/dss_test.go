package analyze

import (
	"testing"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

func countFindings(fs []Finding, code string) int {
	n := 0
	for _, f := range fs {
		if f.Code == code {
			n++
		}
	}
	return n
}

// TestContradictoryRemapIgnored: the same subflow bytes mapped again to
// another data offset (after the DATA_FIN) are a mapping_conflict and the
// later mapping is ignored: the bytes stay where the first put them and
// nothing is delivered after the DATA_FIN.
func TestContradictoryRemapIgnored(t *testing.T) {
	rec, a := newRec(Config{})
	c := synth.New(0x7a7a, 0x7b7b, rec.emit)
	s := c.Handshake(cli1, srv1)
	s.Send(0, payload(10, 1))
	d := payload(1000, 2)
	seq, dsn := s.Seq[0], c.DSN[0]
	s.Send(0, d)
	s.DataFIN(0)
	// The same subflow bytes again, mapped 5000 bytes further.
	s.Seq[0] = seq
	s.SendRaw(0, header.TCPFlagACK, d, s.Mapping(0, dsn+5000, d, false))
	r := a.Finish()
	cn := r.Connections[0]
	st := cn.Streams[0]
	if !hasFinding(cn.Findings, CodeMappingConflict) || st.End != 1010 || st.Bytes != 1010 || st.FinOffset != 1010 || len(st.Conflicts) != 0 {
		t.Errorf("stream %+v, findings %+v", st, cn.Findings)
	}
}

// TestDataAfterDataFIN: bytes mapped after a DATA_FIN the receiver
// acknowledged are not delivered (an error); after one it did not
// acknowledge they are, with a warning (the DATA_FIN may be the forgery).
func TestDataAfterDataFIN(t *testing.T) {
	for _, acked := range []bool{true, false} {
		rec, a := newRec(Config{})
		c := synth.New(0x7c7c, 0x7d7d, rec.emit)
		s := c.Handshake(cli1, srv1)
		s.Send(0, payload(100, 1))
		fin := c.DSN[0]
		s.DataFIN(0)
		if acked {
			s.SendRaw(1, header.TCPFlagACK, nil, &option.DSS{Flags: option.DSSDataACK | option.DSSDataACK8, DataACK: fin + 1})
		}
		s.SendAt(0, fin, payload(500, 2))
		r := a.Finish()
		cn := r.Connections[0]
		var f *Finding
		for i := range cn.Findings {
			if cn.Findings[i].Code == CodeAfterDataFIN {
				f = &cn.Findings[i]
			}
		}
		st := cn.Streams[0]
		switch {
		case f == nil:
			t.Errorf("acked %v: no finding: %+v", acked, cn.Findings)
		case acked && (f.Severity != Error || st.Bytes != 100):
			t.Errorf("acked: %d bytes delivered, finding %+v", st.Bytes, f)
		case !acked && (f.Severity != Warning || st.Bytes != 600):
			t.Errorf("not acked: %d bytes delivered, finding %+v", st.Bytes, f)
		}
	}
}

// TestMappingCutByCaptureEnd: a capture that ends inside a mapping (its
// last segments never captured) has a mapping_truncated finding and a hole
// for what the mapping announced.
func TestMappingCutByCaptureEnd(t *testing.T) {
	rec, a := newRec(Config{})
	rec.drop = func(i int, p []byte) bool { return i > 6 }
	c := synth.New(0x7e7e, 0x7f7f, rec.emit)
	s := c.Handshake(cli1, srv1)
	s.Send(0, payload(10, 1))
	d := payload(4000, 3)
	o := s.Mapping(0, c.DSN[0], d, false)
	for i := range 4 {
		s.SendRaw(0, header.TCPFlagACK, d[i*1000:(i+1)*1000], o) // packets 5 to 8; 7 and 8 lost
	}
	r := a.Finish()
	cn := r.Connections[0]
	st := cn.Streams[0]
	if !hasFinding(cn.Findings, CodeMappingCut) || st.Bytes != 2010 || st.HoleBytes != 2000 || st.End != 4010 {
		t.Errorf("stream %+v, findings %+v", st, cn.Findings)
	}
}

// TestSeparateConflictsSeparateFindings: two copies that differ from the
// original at two places far apart are two data_conflict findings.
func TestSeparateConflictsSeparateFindings(t *testing.T) {
	rec, a := newRec(Config{})
	c := synth.New(0x8a8a, 0x8b8b, rec.emit)
	s1 := c.Handshake(cli1, srv1)
	s2 := c.Join(cli2, srv2, synth.JoinOptions{})
	d := payload(10000, 4)
	s1.Send(0, d)
	for _, off := range []int{1000, 7000} {
		bad := append([]byte(nil), d[off:off+100]...)
		bad[10] ^= 0xff
		s2.SendAt(0, c.DSN[0]-uint64(len(d)-off), bad)
	}
	r := a.Finish()
	cn := r.Connections[0]
	if n := countFindings(cn.Findings, CodeDataConflict); n != 2 || len(cn.Streams[0].Conflicts) != 2 {
		t.Errorf("%d data_conflict findings, conflicts %v", n, cn.Streams[0].Conflicts)
	}
}
