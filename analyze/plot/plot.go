// Package plot draws the data sequence of MPTCP connections over time, one
// colour per subflow: the view used to see how a scheduler spreads data
// and when a handover moves it. It writes SVG (by hand) or PNG
// (image/png).
package plot

import (
	"bufio"
	"cmp"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/mptcp-go/mptcp/analyze"
)

// Point is one data segment: when it was seen, on which subflow, and the
// data-level offset range it carried.
type Point struct {
	T       time.Time
	Off     uint64
	Len     uint32
	Conn    int
	Dir     int
	Subflow int
}

// Collector gathers points from the analyzer's per-packet hook with
// bounded memory: past Max points it keeps every other one and samples
// half as often.
type Collector struct {
	Max    int
	pts    []Point
	stride int
	n      int
}

// Add records the packet if it carried mapped data.
func (c *Collector) Add(pi *analyze.PacketInfo) {
	if !pi.HasDSN || pi.Len == 0 || pi.Conn == 0 {
		return
	}
	if c.stride == 0 {
		c.stride = 1
	}
	if c.Max <= 0 {
		c.Max = 1 << 19
	}
	c.n++
	if c.n%c.stride != 0 {
		return
	}
	if len(c.pts) >= c.Max {
		k := 0
		for i := 0; i < len(c.pts); i += 2 {
			c.pts[k] = c.pts[i]
			k++
		}
		c.pts = c.pts[:k]
		c.stride *= 2
	}
	c.pts = append(c.pts, Point{T: pi.Time, Off: pi.DSN, Len: uint32(pi.Len), Conn: pi.Conn, Dir: pi.Dir, Subflow: pi.Subflow})
}

// Points returns the collected points.
func (c *Collector) Points() []Point { return c.pts }

// panel is one connection direction's chart.
type panel struct {
	conn, dir int
	pts       []Point
	subflows  []int
	t0, t1    time.Time
	maxOff    uint64
}

// maxPanels bounds the charts drawn (the connection directions with the
// most points).
const maxPanels = 6

func panels(pts []Point) []*panel {
	m := map[[2]int]*panel{}
	for _, p := range pts {
		k := [2]int{p.Conn, p.Dir}
		pn := m[k]
		if pn == nil {
			pn = &panel{conn: p.Conn, dir: p.Dir, t0: p.T, t1: p.T}
			m[k] = pn
		}
		pn.pts = append(pn.pts, p)
		if p.T.Before(pn.t0) {
			pn.t0 = p.T
		}
		if p.T.After(pn.t1) {
			pn.t1 = p.T
		}
		if e := p.Off + uint64(p.Len); e > pn.maxOff {
			pn.maxOff = e
		}
		if !slices.Contains(pn.subflows, p.Subflow) {
			pn.subflows = append(pn.subflows, p.Subflow)
		}
	}
	var out []*panel
	for _, pn := range m {
		out = append(out, pn)
	}
	slices.SortFunc(out, func(a, b *panel) int {
		if c := cmp.Compare(len(b.pts), len(a.pts)); c != 0 {
			return c
		}
		return cmp.Compare(a.conn*2+a.dir, b.conn*2+b.dir)
	})
	if len(out) > maxPanels {
		out = out[:maxPanels]
	}
	slices.SortFunc(out, func(a, b *panel) int { return cmp.Compare(a.conn*2+a.dir, b.conn*2+b.dir) })
	for _, pn := range out {
		slices.Sort(pn.subflows)
	}
	return out
}

// palette: distinguishable colours, one per subflow of a panel.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xff, 0x7f, 0x0e, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

func colour(i int) color.RGBA { return palette[i%len(palette)] }

const (
	width   = 960
	panelH  = 320
	marginL = 80
	marginR = 20
	marginT = 40
	marginB = 40
)

// geometry maps a point to pixel coordinates inside panel number k.
func (pn *panel) xy(k int, t time.Time, off uint64) (float64, float64) {
	span := pn.t1.Sub(pn.t0).Seconds()
	if span <= 0 {
		span = 1
	}
	top := float64(k*panelH + marginT)
	h := float64(panelH - marginT - marginB)
	x := marginL + (t.Sub(pn.t0).Seconds()/span)*float64(width-marginL-marginR)
	y := top + h
	if pn.maxOff > 0 {
		y = top + h - float64(off)/float64(pn.maxOff)*h
	}
	return x, y
}

func dirName(d int) string {
	if d == 0 {
		return "client->server"
	}
	return "server->client"
}

// WriteSVG draws the points as SVG, one panel per connection direction.
func WriteSVG(w io.Writer, pts []Point) error {
	pns := panels(pts)
	bw := bufio.NewWriter(w)
	h := max(1, len(pns)) * panelH
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, h, width, h)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	if len(pns) == 0 {
		fmt.Fprintf(bw, `<text x="20" y="40">no MPTCP data</text>`+"\n")
	}
	for k, pn := range pns {
		top := k*panelH + marginT
		ph := panelH - marginT - marginB
		fmt.Fprintf(bw, `<text x="%d" y="%d" font-weight="bold">connection %d %s: data offset over time (%.3f s, %d bytes)</text>`+"\n",
			marginL, top-14, pn.conn, dirName(pn.dir), pn.t1.Sub(pn.t0).Seconds(), pn.maxOff)
		fmt.Fprintf(bw, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", marginL, top, width-marginL-marginR, ph)
		fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", marginL-4, top+10, human(pn.maxOff))
		fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="end">0</text>`+"\n", marginL-4, top+ph)
		fmt.Fprintf(bw, `<text x="%d" y="%d">0 s</text>`+"\n", marginL, top+ph+16)
		fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="end">%.3f s</text>`+"\n", width-marginR, top+ph+16, pn.t1.Sub(pn.t0).Seconds())
		for i, sf := range pn.subflows {
			c := colour(i)
			fmt.Fprintf(bw, `<rect x="%d" y="%d" width="10" height="10" fill="#%02x%02x%02x"/><text x="%d" y="%d">subflow #%d</text>`+"\n",
				marginL+10+i*110, top+8, c.R, c.G, c.B, marginL+24+i*110, top+17, sf)
		}
		// At most ~20000 marks per panel keep the file readable.
		step := max(1, len(pn.pts)/20000)
		for i, sf := range pn.subflows {
			c := colour(i)
			var path strings.Builder
			for j := 0; j < len(pn.pts); j += step {
				p := pn.pts[j]
				if p.Subflow != sf {
					continue
				}
				x, y0 := pn.xy(k, p.T, p.Off)
				_, y1 := pn.xy(k, p.T, p.Off+uint64(p.Len))
				fmt.Fprintf(&path, "M%.1f %.1fV%.1f", x, y0, min(y1, y0-1))
			}
			fmt.Fprintf(bw, `<path d="%s" stroke="#%02x%02x%02x" stroke-width="2" fill="none"/>`+"\n", path.String(), c.R, c.G, c.B)
		}
	}
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

// WritePNG draws the points as a PNG image with the same panels, labels
// and legend as the SVG (text in a fixed 7x13 bitmap font).
func WritePNG(w io.Writer, pts []Point) error {
	pns := panels(pts)
	img := image.NewRGBA(image.Rect(0, 0, width, max(1, len(pns))*panelH))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	grey := color.RGBA{0x88, 0x88, 0x88, 0xff}
	// text draws s with its baseline at y; align is 0 (left) or 1 (right, ending at x).
	text := func(x, y int, s string, align int) {
		d := font.Drawer{Dst: img, Src: image.Black, Face: basicfont.Face7x13}
		if align == 1 {
			x -= d.MeasureString(s).Round()
		}
		d.Dot = fixed.P(x, y)
		d.DrawString(s)
	}
	if len(pns) == 0 {
		text(20, 40, "no MPTCP data", 0)
	}
	for k, pn := range pns {
		top := k*panelH + marginT
		bot := top + panelH - marginT - marginB
		text(marginL, top-14, fmt.Sprintf("connection %d %s: data offset over time (%.3f s, %d bytes)",
			pn.conn, dirName(pn.dir), pn.t1.Sub(pn.t0).Seconds(), pn.maxOff), 0)
		text(marginL-4, top+10, human(pn.maxOff), 1)
		text(marginL-4, bot, "0", 1)
		text(marginL, bot+16, "0 s", 0)
		text(width-marginR, bot+16, fmt.Sprintf("%.3f s", pn.t1.Sub(pn.t0).Seconds()), 1)
		for x := marginL; x < width-marginR; x++ {
			img.SetRGBA(x, top, grey)
			img.SetRGBA(x, bot, grey)
		}
		for y := top; y <= bot; y++ {
			img.SetRGBA(marginL, y, grey)
			img.SetRGBA(width-marginR-1, y, grey)
		}
		for i, sf := range pn.subflows {
			c := colour(i)
			for y := top + 8; y < top+18; y++ {
				for x := marginL + 10 + i*110; x < marginL+20+i*110; x++ {
					img.SetRGBA(x, y, c)
				}
			}
			text(marginL+24+i*110, top+17, fmt.Sprintf("subflow #%d", sf), 0)
		}
		idx := map[int]int{}
		for i, sf := range pn.subflows {
			idx[sf] = i
		}
		for _, p := range pn.pts {
			c := colour(idx[p.Subflow])
			x, y0 := pn.xy(k, p.T, p.Off)
			_, y1 := pn.xy(k, p.T, p.Off+uint64(p.Len))
			for y := int(y1); y <= int(y0); y++ {
				img.SetRGBA(int(x), y, c)
				img.SetRGBA(int(x)+1, y, c)
			}
		}
	}
	return png.Encode(w, img)
}

func human(n uint64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
