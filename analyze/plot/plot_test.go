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

func TestSVG(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, points(500)); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if !strings.HasPrefix(s, "<svg") || !strings.Contains(s, "subflow #1") || !strings.Contains(s, "subflow #2") ||
		strings.Count(s, "<path") != 2 || !strings.Contains(s, "connection 1 server->client") {
		t.Errorf("svg:\n%.500s", s)
	}
	b.Reset()
	if err := WriteSVG(&b, nil); err != nil || !strings.Contains(b.String(), "no MPTCP data") {
		t.Errorf("empty svg: %v", err)
	}
}

func TestPNG(t *testing.T) {
	var b bytes.Buffer
	if err := WritePNG(&b, points(500)); err != nil {
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
		c := colour(i)
		if !seen[[3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}] {
			t.Errorf("colour of subflow %d missing", i+1)
		}
	}
	// The panel title is drawn: black text pixels above the first panel.
	dark := 0
	for y := 0; y < marginT; y++ {
		for x := 0; x < bd.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r == 0 && g == 0 && bl == 0 {
				dark++
			}
		}
	}
	if dark < 200 {
		t.Errorf("only %d text pixels in the title row: labels missing", dark)
	}
}
