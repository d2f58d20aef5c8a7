package tcp

import (
	"bytes"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// lastOut keeps a copy of the last segment sent.
type lastOut struct{ hdr []byte }

func (o *lastOut) OutputSegment(hdr, p1, p2 []byte) { o.hdr = append(o.hdr[:0], hdr...) }

func (o *lastOut) fastOpen(t *testing.T) (bool, []byte) {
	t.Helper()
	var opts header.TCPOptions
	if err := header.ParseTCPOptions(header.TCP(o.hdr).Options(), &opts); err != nil {
		t.Fatal(err)
	}
	return opts.FastOpen, opts.FastOpenCookie[:opts.FastOpenCookieLen]
}

// TestFastOpenServer: a passive endpoint with a Fast Open cookie (RFC 7413
// §4.2) answers a cookie request and a wrong cookie with the cookie and
// ignores their data; with the cookie, the SYN's data is readable at once
// and the SYN-ACK acknowledges it, without a cookie.
func TestFastOpenServer(t *testing.T) {
	cookie := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	data := []byte("hello fast open")
	for _, tc := range []struct {
		name    string
		sent    []byte // cookie in the SYN (nil: no option; empty: request)
		accept  bool
		replies bool // the SYN-ACK carries the cookie
	}{
		{"no option", nil, false, false},
		{"request", []byte{}, false, true},
		{"wrong cookie", []byte{1, 2, 3, 4, 5, 6, 7, 9}, false, true},
		{"cookie", cookie, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out lastOut
			clk := &manualClock{t: time.Second}
			e := New(Config{LocalPort: 80, RemotePort: 4000, ISS: 1000, FastOpenCookie: cookie}, clk, &out)
			e.Listen()
			var opts []byte
			if tc.sent != nil {
				opts = header.AppendFastOpen(nil, tc.sent)
				for len(opts)%4 != 0 {
					opts = append(opts, header.TCPOptNOP)
				}
			}
			e.HandleSegment(&Segment{Seq: 5000, Flags: header.TCPFlagSYN, Window: 65535, Options: opts, Payload: data})
			h := header.TCP(out.hdr)
			want := uint32(5001)
			if tc.accept {
				want += uint32(len(data))
			}
			if h.Flags() != header.TCPFlagSYN|header.TCPFlagACK || h.Ack() != want {
				t.Errorf("reply %v ack %d, want SYN-ACK ack %d", h.Flags(), h.Ack(), want)
			}
			has, c := out.fastOpen(t)
			if has != tc.replies || tc.replies && !bytes.Equal(c, cookie) {
				t.Errorf("SYN-ACK Fast Open option %v %x, want %v", has, c, tc.replies)
			}
			buf := make([]byte, 100)
			n, _ := e.Read(buf)
			if tc.accept && string(buf[:n]) != string(data) || !tc.accept && n != 0 {
				t.Errorf("read %q", buf[:n])
			}
			if got := e.Info().Stats.FastOpenAccepted; got != map[bool]uint64{true: 1}[tc.accept] {
				t.Errorf("FastOpenAccepted %d", got)
			}
		})
	}
}
