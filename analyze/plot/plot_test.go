package plot

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
)

func points(n int) []Point {
	t0 := time.Unix(0, 0)
	var pts []Point
	for i := range n {
		sf := 1 + i%2
		if i > n/2 {
			sf = 2 // a handover
		}
		pts = append(pts, Point{T: t0.Add(time.Duration(i) * time.Millisecond), Off: uint64(i) * 1000, Len: 1000, Conn: 1, Dir: 1, Subflow: sf})
	}
	return pts
}

func TestCollectorBounded(t *testing.T) {
	c := &Collector{Max: 100}
	pi := &analyze.PacketInfo{Conn: 1, HasDSN: true, Len: 10}
	for i := range 10000 {
		pi.DSN = uint64(i * 10)
		c.Add(pi)
	}
	if n := len(c.Points()); n > 100 || n < 25 {
		t.Errorf("%d points kept", n)
	}
	pts := c.Points()
	for i := 1; i < len(pts); i++ {
		if pts[i].Off <= pts[i-1].Off {
			t.Fatalf("points out of order after decimation")
		}
	}
	c.Add(&analyze.PacketInfo{Conn: 1, HasDSN: false, Len: 10})
	c.Add(&analyze.PacketInfo{Conn: 0, HasDSN: true, Len: 10})
}

// data is a connection with a handover from subflow 1 to 2, a reinjected
// segment, DATA_ACKs, events and goodput; and a small second connection.
func data() *Data {
	t0 := time.Unix(100, 0)
	d := &Data{Points: points(500), Start: t0.Add(-2 * time.Second), Bin: 100 * time.Millisecond, BinStart: t0.Add(-2 * time.Second)}
	for i := range d.Points {
		d.Points[i].T = t0.Add(time.Duration(i) * time.Millisecond)
	}
	d.Points[300].Reinjected = true
	for i := 0; i < 500; i += 10 {
		d.Acks = append(d.Acks, Ack{T: t0.Add(time.Duration(i+5) * time.Millisecond), Off: uint64(i) * 1000, Conn: 1, Dir: 1})
	}
	gp := func(from, to int) []uint64 {
		s := make([]uint64, 30)
		for i := from; i < to; i++ {
			s[i] = 100000
		}
		return s
	}
	d.Conns = []Conn{{ID: 1, Client: "198.18.1.1:1", Server: "198.18.1.2:2", Bytes: [2]uint64{0, 500000},
		Events: []analyze.Event{{Time: t0.Add(10 * time.Millisecond), Type: "subflow_open", Subflow: 2, Detail: "join 198.18.2.1:3 -> 198.18.1.2:2"},
			{Time: t0.Add(250 * time.Millisecond), Type: "handover", Subflow: 1, To: 2},
			{Time: t0.Add(499 * time.Millisecond), Type: "data_fin", Subflow: 2, Detail: "server->client"}},
		Subflows: []Subflow{{ID: 1, Label: "#1 initial", Goodput: [2][]uint64{nil, gp(20, 23)}}, {ID: 2, Label: "#2 join", Goodput: [2][]uint64{nil, gp(20, 25)}}}}}
	for i := range 5 {
		d.Points = append(d.Points, Point{T: t0.Add(time.Duration(i) * time.Millisecond), Off: uint64(i) * 10, Len: 10, Conn: 7, Dir: 0, Subflow: 9})
	}
	return d
}

func TestSVG(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, data()); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{"<svg", "#1 initial", "#2 join", "connection 1 198.18.1.1:1 → 198.18.1.2:2", "server → client", "reinjected", "DATA_ACK",
		"handover #1→#2", "join #2", "DATA_FIN", "time since the capture", "data offset (KiB)", "goodput (Mbit/s)", "connection 7"} {
		if !strings.Contains(s, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	// The time axis counts from Data.Start: the data begins 2 s in.
	if !strings.Contains(s, ">2.1<") && !strings.Contains(s, ">2.05<") {
		t.Errorf("time ticks are not seconds since the capture start")
	}
	b.Reset()
	if err := WriteSVG(&b, &Data{}); err != nil || !strings.Contains(b.String(), "no MPTCP data") {
		t.Errorf("empty svg: %v", err)
	}
}

// TestLayoutBiggestFirst: the connections with the most data are drawn,
// and a note says how many were left out.
func TestLayoutBiggestFirst(t *testing.T) {
	d := &Data{Start: time.Unix(0, 0)}
	for id := 1; id <= 5; id++ {
		for i := range 10 * id {
			d.Points = append(d.Points, Point{T: time.Unix(0, int64(i)), Off: uint64(i) * 100, Len: 100, Conn: id, Subflow: id})
		}
	}
	charts, left := layout(d)
	var ids []int
	for _, c := range charts {
		ids = append(ids, c.conn.ID)
	}
	if left != 2 || len(ids) != 3 || ids[0] != 5 || ids[1] != 4 || ids[2] != 3 {
		t.Errorf("charts of %v, %d left out", ids, left)
	}
	var b bytes.Buffer
	WriteSVG(&b, d)
	if !strings.Contains(b.String(), "2 more connection(s) with data not drawn") {
		t.Errorf("no note about the connections left out")
	}
}

func TestPNG(t *testing.T) {
	var b bytes.Buffer
	if err := WritePNG(&b, data()); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	// Both subflow colours appear.
	seen := map[[3]uint32]bool{}
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	for i := range 2 {
		c := palette[i]
		if !seen[[3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}] {
			t.Errorf("colour of subflow %d missing", i+1)
		}
	}
	// Text is drawn (antialiased, so dark and grey pixels) in the title.
	dark := 0
	for y := 0; y < headH; y++ {
		for x := 0; x < bd.Max.X; x++ {
			if r, _, _, _ := img.At(x, y).RGBA(); r>>8 < 0x80 {
				dark++
			}
		}
	}
	if dark < 300 {
		t.Errorf("only %d text pixels in the title row: labels missing", dark)
	}
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{{0, 10, "0 2 4 6 8 10"}, {2.013, 2.51, "2.1 2.2 2.3 2.4 2.5"}, {0, 0.00039, "0 0.0001 0.0002 0.0003"}} {
		var got []string
		ts := ticks(tc.lo, tc.hi, 6)
		for _, v := range ts {
			got = append(got, fmtTick(v, ts))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("ticks(%v, %v) = %s, want %s...", tc.lo, tc.hi, g, tc.want)
		}
	}
}

// TestCSV: every point, DATA_ACK, goodput bin and event is a row.
func TestCSV(t *testing.T) {
	var b bytes.Buffer
	d := data()
	if err := WriteCSV(&b, d); err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := 1 + len(d.Points) + len(d.Acks) + 2*30 + 3
	if len(rows) != want || !strings.HasPrefix(rows[1], "data,1,server_to_client,1,2.000000,0,1000") {
		t.Errorf("%d rows, want %d; first %q", len(rows), want, rows[1])
	}
}
