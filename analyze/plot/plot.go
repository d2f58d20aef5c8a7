// Package plot draws MPTCP connections over time, as a person wants to
// look at them: for each direction of the largest connections the data
// sequence (each segment a mark in its subflow's colour, reinjected data
// crossed, the DATA_ACK as a line, events such as joins, ADD_ADDR,
// handovers, lost paths, DATA_FIN and MP_FASTCLOSE marked), and the
// goodput of each subflow over time, as iperf3 users read it. Every chart
// has ticks, gridlines and axis titles with units; the time axis is in
// seconds since the capture's first packet, the "+s" times of the text
// report; a subflow has the same colour in every chart. It writes SVG or
// PNG (the Go fonts, antialiased), and the points as CSV.
package plot

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/stats"
)

// Point is one data segment: when it was seen, on which subflow, and the
// data-level offset range it carried.
type Point struct {
	T          time.Time
	Off        uint64
	Len        uint32
	Conn       int
	Dir        int
	Subflow    int
	Reinjected bool
}

// Ack is a DATA_ACK: the offset the receiver of direction Dir of Conn
// acknowledged at T.
type Ack struct {
	T    time.Time
	Off  uint64
	Conn int
	Dir  int
}

// Collector gathers points from the analyzer's per-packet hook with
// bounded memory: past Max points it keeps every other one and samples
// half as often (DATA_ACKs likewise, and only when they advance).
type Collector struct {
	Max       int
	pts       []Point
	stride, n int
	acks      []Ack
	ackStride int
	nAcks     int
	lastAck   map[[2]int]uint64
}

// Add records the packet's mapped data and DATA_ACK.
func (c *Collector) Add(pi *analyze.PacketInfo) {
	if pi.Conn == 0 {
		return
	}
	if c.Max <= 0 {
		c.Max = 1 << 19
	}
	if pi.HasDataACK {
		c.addAck(Ack{T: pi.Time, Off: pi.DataACK, Conn: pi.Conn, Dir: 1 - pi.Dir})
	}
	if !pi.HasDSN || pi.Len == 0 {
		return
	}
	if c.stride == 0 {
		c.stride = 1
	}
	c.n++
	reinj := pi.Analysis&analyze.PacketReinjection != 0
	if c.n%c.stride != 0 && !reinj {
		return
	}
	if len(c.pts) >= c.Max {
		c.pts = thin(c.pts, func(p Point) bool { return p.Reinjected })
		c.stride *= 2
	}
	c.pts = append(c.pts, Point{T: pi.Time, Off: pi.DSN, Len: uint32(pi.Len), Conn: pi.Conn, Dir: pi.Dir,
		Subflow: pi.Subflow, Reinjected: reinj})
}

func (c *Collector) addAck(a Ack) {
	if c.lastAck == nil {
		c.lastAck = map[[2]int]uint64{}
		c.ackStride = 1
	}
	k := [2]int{a.Conn, a.Dir}
	if last, ok := c.lastAck[k]; ok && a.Off <= last {
		return
	}
	c.lastAck[k] = a.Off
	c.nAcks++
	if c.nAcks%c.ackStride != 0 {
		return
	}
	if len(c.acks) >= c.Max/4 {
		c.acks = thin(c.acks, func(Ack) bool { return false })
		c.ackStride *= 2
	}
	c.acks = append(c.acks, a)
}

// thin keeps every other element, and every one keep says to keep.
func thin[T any](s []T, keep func(T) bool) []T {
	k := 0
	for i, x := range s {
		if i%2 == 0 || keep(x) {
			s[k] = x
			k++
		}
	}
	return s[:k]
}

// Points returns the collected data points.
func (c *Collector) Points() []Point { return c.pts }

// Acks returns the collected DATA_ACKs.
func (c *Collector) Acks() []Ack { return c.acks }

// Conn is what the charts show of a connection besides its points.
type Conn struct {
	ID       int
	Client   string
	Server   string
	Bytes    [2]uint64 // data per direction
	Events   []analyze.Event
	Subflows []Subflow
}

// Subflow is a connection's subflow: its label and goodput per direction
// (bytes per bin, see Data.Bin).
type Subflow struct {
	ID      int
	Label   string
	Goodput [2][]uint64
}

// ConnFrom takes what the charts need of a finished connection and its
// statistics (st may be nil: no goodput chart).
func ConnFrom(c *analyze.Connection, st *stats.Conn) Conn {
	pc := Conn{ID: c.ID, Client: c.Client.String(), Server: c.Server.String(), Events: c.Events}
	for i := range c.Streams {
		if i < 2 {
			pc.Bytes[i] = c.Streams[i].Bytes
		}
	}
	for i := range c.Subflows {
		sf := &c.Subflows[i]
		s := Subflow{ID: sf.ID, Label: fmt.Sprintf("#%d %s %v", sf.ID, sf.Role, sf.Client)}
		if st != nil {
			for _, x := range st.Subflows {
				if x.ID == sf.ID {
					s.Goodput = [2][]uint64{x.Dirs[0].Goodput, x.Dirs[1].Goodput}
				}
			}
		}
		pc.Subflows = append(pc.Subflows, s)
	}
	return pc
}

// Data is everything a plot shows.
type Data struct {
	Points []Point
	Acks   []Ack
	Conns  []Conn
	// Start is time zero of the time axis: the capture's first packet.
	Start time.Time
	// Bin and BinStart place the goodput bins: bin i covers
	// [BinStart+i*Bin, BinStart+(i+1)*Bin).
	Bin      time.Duration
	BinStart time.Time
}

// Limits of one figure.
const (
	maxConnsDrawn = 3
	maxEventMarks = 40
	svgMarksMax   = 20000 // data marks per chart in SVG (PNG draws all)
)

// palette: distinguishable colours (Tableau 10), one per subflow of a
// connection, the same in every chart.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

var (
	black = color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey  = color.RGBA{0x70, 0x70, 0x70, 0xff}
	grid  = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	frame = color.RGBA{0xa0, 0xa0, 0xa0, 0xff}
	evc   = color.RGBA{0x99, 0x33, 0x66, 0xff}
)

// Figure geometry, in pixels.
const (
	width   = 1200
	seqH    = 380
	gpH     = 280
	headH   = 46
	noteH   = 30
	marginL = 92
	marginR = 24
	marginT = 58 // title, legend and event labels
	marginB = 52 // tick labels and axis title
)

// chart is one panel to draw.
type chart struct {
	conn    *Conn
	dir     int // seq charts: direction; goodput: -1
	pts     []Point
	acks    []Ack
	t0, t1  float64 // seconds since Data.Start
	colours map[int]color.RGBA
}

// layout picks the connections to draw (the most data first) and their
// charts, and says how many connections were left out.
func layout(d *Data) (charts []*chart, left int) {
	byConn := map[int][]Point{}
	for _, p := range d.Points {
		byConn[p.Conn] = append(byConn[p.Conn], p)
	}
	acks := map[[2]int][]Ack{}
	for _, a := range d.Acks {
		acks[[2]int{a.Conn, a.Dir}] = append(acks[[2]int{a.Conn, a.Dir}], a)
	}
	conns := map[int]*Conn{}
	for i := range d.Conns {
		conns[d.Conns[i].ID] = &d.Conns[i]
	}
	var ids []int
	for id := range byConn {
		if conns[id] == nil {
			c := Conn{ID: id}
			for _, p := range byConn[id] {
				c.Bytes[p.Dir] += uint64(p.Len)
				if !slices.ContainsFunc(c.Subflows, func(s Subflow) bool { return s.ID == p.Subflow }) {
					c.Subflows = append(c.Subflows, Subflow{ID: p.Subflow, Label: fmt.Sprintf("#%d", p.Subflow)})
				}
			}
			conns[id] = &c
		}
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b int) int {
		ca, cb := conns[a], conns[b]
		if c := cmp.Compare(cb.Bytes[0]+cb.Bytes[1], ca.Bytes[0]+ca.Bytes[1]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	if len(ids) > maxConnsDrawn {
		left = len(ids) - maxConnsDrawn
		ids = ids[:maxConnsDrawn]
	}
	for _, id := range ids {
		c := conns[id]
		pts := byConn[id]
		slices.SortStableFunc(pts, func(a, b Point) int { return a.T.Compare(b.T) })
		t0, t1 := math.Inf(1), math.Inf(-1)
		for _, p := range pts {
			x := p.T.Sub(d.Start).Seconds()
			t0, t1 = math.Min(t0, x), math.Max(t1, x)
		}
		for _, e := range c.Events {
			x := e.Time.Sub(d.Start).Seconds()
			t0, t1 = math.Min(t0, x), math.Max(t1, x)
		}
		if t1-t0 <= 0 {
			t0, t1 = t0-0.0005, t1+0.0005
		}
		colours := map[int]color.RGBA{}
		for i, s := range c.Subflows {
			colours[s.ID] = palette[i%len(palette)]
		}
		for _, p := range pts {
			if _, ok := colours[p.Subflow]; !ok {
				colours[p.Subflow] = palette[len(colours)%len(palette)]
			}
		}
		for dir := range 2 {
			var dp []Point
			for _, p := range pts {
				if p.Dir == dir {
					dp = append(dp, p)
				}
			}
			if len(dp) == 0 {
				continue
			}
			charts = append(charts, &chart{conn: c, dir: dir, pts: dp, acks: acks[[2]int{id, dir}], t0: t0, t1: t1, colours: colours})
		}
		hasGoodput := false
		for _, s := range c.Subflows {
			if len(s.Goodput[0])+len(s.Goodput[1]) > 0 {
				hasGoodput = true
			}
		}
		if hasGoodput && d.Bin > 0 {
			charts = append(charts, &chart{conn: c, dir: -1, t0: t0, t1: t1, colours: colours})
		}
	}
	return charts, left
}

func height(charts []*chart, left int) int {
	h := headH
	for _, c := range charts {
		if c.dir < 0 {
			h += gpH
		} else {
			h += seqH
		}
	}
	if left > 0 || len(charts) == 0 {
		h += noteH
	}
	return h
}

// WriteSVG draws d as SVG.
func WriteSVG(w io.Writer, d *Data) error {
	charts, left := layout(d)
	c := newSVG(w, width, height(charts, left))
	drawFigure(c, d, charts, left, true)
	return c.finish()
}

// WritePNG draws d as a PNG image.
func WritePNG(w io.Writer, d *Data) error {
	charts, left := layout(d)
	c := newRaster(width, height(charts, left))
	drawFigure(c, d, charts, left, false)
	return png.Encode(w, c.img)
}

func dirLabel(d int) string {
	if d == 1 {
		return "server → client"
	}
	return "client → server"
}

func drawFigure(c canvas, d *Data, charts []*chart, left int, svg bool) {
	title := "MPTCP data sequence and goodput per subflow"
	if !d.Start.IsZero() {
		title += ", capture from " + d.Start.UTC().Format("2006-01-02 15:04:05.000 UTC")
	}
	c.text(marginL, 28, title, 17, 0, black, true, false)
	y := float64(headH)
	for _, ch := range charts {
		if ch.dir < 0 {
			drawGoodput(c, d, ch, y)
			y += gpH
		} else {
			drawSeq(c, d, ch, y, svg)
			y += seqH
		}
	}
	switch {
	case len(charts) == 0:
		c.text(marginL, y+20, "no MPTCP data in the capture (or none chosen)", 14, 0, grey, false, false)
	case left > 0:
		c.text(marginL, y+20, fmt.Sprintf("%d more connection(s) with data not drawn: the %d with the most data are shown; choose others with --conn",
			left, maxConnsDrawn), 13, 0, grey, false, false)
	}
}

// box is a chart's plotting area.
type box struct{ x0, y0, x1, y1 float64 }

func (b box) x(v, lo, hi float64) float64 { return b.x0 + (v-lo)/(hi-lo)*(b.x1-b.x0) }
func (b box) y(v, lo, hi float64) float64 { return b.y1 - (v-lo)/(hi-lo)*(b.y1-b.y0) }

// axes draws the frame, gridlines, ticks, tick labels and axis titles.
func axes(c canvas, b box, t0, t1, ylo, yhi float64, yunit float64, ytitle string) {
	xs := ticks(t0, t1, 8)
	ys := ticks(ylo/yunit, yhi/yunit, 6)
	for _, t := range xs {
		x := b.x(t, t0, t1)
		c.line(x, b.y0, x, b.y1, grid, 1, false)
		c.line(x, b.y1, x, b.y1+5, frame, 1, false)
		c.text(x, b.y1+18, fmtTick(t, xs), 12, 1, black, false, false)
	}
	for _, v := range ys {
		y := b.y(v*yunit, ylo, yhi)
		c.line(b.x0, y, b.x1, y, grid, 1, false)
		c.line(b.x0-5, y, b.x0, y, frame, 1, false)
		c.text(b.x0-8, y+4, fmtTick(v, ys), 12, 2, black, false, false)
	}
	c.line(b.x0, b.y0, b.x1, b.y0, frame, 1, false)
	c.line(b.x0, b.y1, b.x1, b.y1, frame, 1, false)
	c.line(b.x0, b.y0, b.x0, b.y1, frame, 1, false)
	c.line(b.x1, b.y0, b.x1, b.y1, frame, 1, false)
	c.text((b.x0+b.x1)/2, b.y1+40, "time since the capture's first packet (s)", 13, 1, black, false, false)
	c.text(b.x0-62, (b.y0+b.y1)/2, ytitle, 13, 1, black, false, true)
}

// ticks returns round values covering [lo, hi], about n of them.
func ticks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

// fmtTick prints a tick value with the decimals its step needs.
func fmtTick(v float64, all []float64) string {
	dec := 0
	if len(all) > 1 {
		step := all[1] - all[0]
		for dec < 6 && math.Abs(step*math.Pow(10, float64(dec))-math.Round(step*math.Pow(10, float64(dec)))) > 1e-6 {
			dec++
		}
	}
	if math.Abs(v) < 1e-12 {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// byteUnit picks a unit for a byte axis up to max.
func byteUnit(max float64) (float64, string) {
	switch {
	case max >= 4<<30:
		return 1 << 30, "GiB"
	case max >= 4<<20:
		return 1 << 20, "MiB"
	case max >= 4<<10:
		return 1 << 10, "KiB"
	}
	return 1, "bytes"
}

// rateUnit picks a unit for a bit rate axis up to max bit/s.
func rateUnit(max float64) (float64, string) {
	switch {
	case max >= 2e9:
		return 1e9, "Gbit/s"
	case max >= 2e6:
		return 1e6, "Mbit/s"
	case max >= 2e3:
		return 1e3, "kbit/s"
	}
	return 1, "bit/s"
}

// legend draws entries left to right above a chart.
func legend(c canvas, x, y float64, items []legendItem) {
	for _, it := range items {
		switch it.kind {
		case "box":
			c.rect(x, y-10, 12, 12, it.c)
		case "line":
			c.line(x, y-4, x+18, y-4, it.c, 2, it.dash)
		case "cross":
			c.cross(x+6, y-4, 4, it.c)
		}
		x += 22
		c.text(x, y, it.label, 12, 0, black, false, false)
		x += c.textWidth(it.label, 12, false) + 18
	}
}

type legendItem struct {
	kind  string
	label string
	c     color.RGBA
	dash  bool
}

// drawSeq draws one direction's data sequence.
func drawSeq(c canvas, d *Data, ch *chart, top float64, svg bool) {
	b := box{marginL, top + marginT, width - marginR, top + seqH - marginB}
	var maxOff float64
	for _, p := range ch.pts {
		maxOff = math.Max(maxOff, float64(p.Off+uint64(p.Len)))
	}
	for _, a := range ch.acks {
		maxOff = math.Max(maxOff, float64(a.Off))
	}
	if maxOff == 0 {
		maxOff = 1
	}
	unit, uname := byteUnit(maxOff)
	yhi := maxOff * 1.02
	c.text(marginL, top+18, fmt.Sprintf("connection %d %s → %s, %s: data sequence (%s delivered)", ch.conn.ID, ch.conn.Client,
		ch.conn.Server, dirLabel(ch.dir), human(ch.conn.Bytes[ch.dir])), 14, 0, black, true, false)
	axes(c, b, ch.t0, ch.t1, 0, yhi, unit, "data offset ("+uname+")")
	// Legend: subflows, reinjections, DATA_ACK.
	var items []legendItem
	seen := map[int]bool{}
	for _, p := range ch.pts {
		seen[p.Subflow] = true
	}
	hasReinj := slices.ContainsFunc(ch.pts, func(p Point) bool { return p.Reinjected })
	for _, s := range ch.conn.Subflows {
		if seen[s.ID] {
			items = append(items, legendItem{kind: "box", label: s.Label, c: ch.colours[s.ID]})
		}
	}
	if hasReinj {
		items = append(items, legendItem{kind: "cross", label: "reinjected", c: black})
	}
	if len(ch.acks) > 0 {
		items = append(items, legendItem{kind: "line", label: "DATA_ACK", c: black})
	}
	legend(c, marginL, top+36, items)
	events(c, d, ch, b)
	// Data marks, one path per subflow.
	step := 1
	if svg && len(ch.pts) > svgMarksMax {
		step = len(ch.pts)/svgMarksMax + 1
	}
	bySF := map[int][3][]float64{}
	var order []int
	for i, p := range ch.pts {
		if i%step != 0 && !p.Reinjected {
			continue
		}
		x := b.x(p.T.Sub(d.Start).Seconds(), ch.t0, ch.t1)
		s := bySF[p.Subflow]
		if s[0] == nil {
			order = append(order, p.Subflow)
		}
		s[0] = append(s[0], x)
		s[1] = append(s[1], b.y(float64(p.Off), 0, yhi))
		s[2] = append(s[2], b.y(float64(p.Off+uint64(p.Len)), 0, yhi))
		bySF[p.Subflow] = s
	}
	for _, sf := range order {
		s := bySF[sf]
		c.vsegs(s[0], s[1], s[2], ch.colours[sf], 2)
	}
	for _, p := range ch.pts {
		if p.Reinjected {
			c.cross(b.x(p.T.Sub(d.Start).Seconds(), ch.t0, ch.t1), b.y(float64(p.Off)+float64(p.Len)/2, 0, yhi), 4, black)
		}
	}
	// The DATA_ACK line: a step at each advance.
	if len(ch.acks) > 0 {
		var xs, ys []float64
		for i, a := range ch.acks {
			x, y := b.x(a.T.Sub(d.Start).Seconds(), ch.t0, ch.t1), b.y(float64(a.Off), 0, yhi)
			if i > 0 {
				xs, ys = append(xs, x), append(ys, ys[len(ys)-1])
			}
			xs, ys = append(xs, x), append(ys, y)
		}
		c.polyline(xs, ys, black, 1.2, false)
	}
}

// eventLabel returns the mark of an event worth marking, or "".
func eventLabel(e analyze.Event) string {
	switch e.Type {
	case "subflow_open":
		if strings.HasPrefix(e.Detail, "join") {
			return fmt.Sprintf("join #%d", e.Subflow)
		}
	case "subflow_close":
		if e.Detail == "rst" || e.Detail == "mp_tcprst" {
			return fmt.Sprintf("#%d lost (%s)", e.Subflow, e.Detail)
		}
	case "add_addr":
		return "ADD_ADDR " + strings.TrimPrefix(e.Detail, "id ")
	case "remove_addr":
		return "REMOVE_ADDR"
	case "handover":
		return fmt.Sprintf("handover #%d→#%d", e.Subflow, e.To)
	case "data_fin":
		return "DATA_FIN"
	case "mp_fastclose":
		return "MP_FASTCLOSE"
	case "mp_tcprst":
		return "MP_TCPRST"
	case "fallback":
		return "fallback"
	case "mp_prio":
		return fmt.Sprintf("MP_PRIO #%d", e.Subflow)
	}
	return ""
}

// events marks the connection's events on a chart: a dashed line and a
// label at the top, labels staggered on three rows.
func events(c canvas, d *Data, ch *chart, b box) {
	n := 0
	lastX := [3]float64{-1e9, -1e9, -1e9}
	for _, e := range ch.conn.Events {
		l := eventLabel(e)
		if l == "" {
			continue
		}
		if e.Type == "data_fin" && !strings.Contains(e.Detail, strings.ReplaceAll(dirLabel(ch.dir), " → ", "->")) {
			continue // a DATA_FIN belongs to its own direction's chart
		}
		if n == maxEventMarks {
			c.text(b.x1, b.y0-4, "more events not marked", 11, 2, grey, false, false)
			break
		}
		n++
		x := b.x(e.Time.Sub(d.Start).Seconds(), ch.t0, ch.t1)
		col := evc
		if sc, ok := ch.colours[e.Subflow]; ok && e.Type != "handover" {
			col = sc
		}
		c.line(x, b.y0, x, b.y1, col, 1, true)
		row := 0
		w := c.textWidth(l, 11, false)
		for row < 2 && x < lastX[row] {
			row++
		}
		lastX[row] = x + w + 6
		c.text(x+3, b.y0+12+float64(row)*13, l, 11, 0, col, false, false)
	}
}

// drawGoodput draws each subflow's goodput over time: solid for client
// to server, dashed for server to client.
func drawGoodput(c canvas, d *Data, ch *chart, top float64) {
	b := box{marginL, top + marginT, width - marginR, top + gpH - marginB}
	sec := d.Bin.Seconds()
	var maxRate float64
	for _, s := range ch.conn.Subflows {
		for dir := range 2 {
			for _, v := range s.Goodput[dir] {
				maxRate = math.Max(maxRate, float64(v)*8/sec)
			}
		}
	}
	if maxRate == 0 {
		maxRate = 1
	}
	unit, uname := rateUnit(maxRate)
	yhi := maxRate * 1.05
	c.text(marginL, top+18, fmt.Sprintf("connection %d: goodput per subflow (%s bins; data new to the connection)", ch.conn.ID, d.Bin),
		14, 0, black, true, false)
	axes(c, b, ch.t0, ch.t1, 0, yhi, unit, "goodput ("+uname+")")
	var items []legendItem
	for _, s := range ch.conn.Subflows {
		for dir := range 2 {
			var sum uint64
			for _, v := range s.Goodput[dir] {
				sum += v
			}
			if sum == 0 {
				continue
			}
			items = append(items, legendItem{kind: "line", label: fmt.Sprintf("#%d %s", s.ID, [...]string{"c→s", "s→c"}[dir]),
				c: ch.colours[s.ID], dash: dir == 1})
			var xs, ys []float64
			for i, v := range s.Goodput[dir] {
				t := d.BinStart.Sub(d.Start).Seconds() + (float64(i)+0.5)*sec
				if t < ch.t0-sec || t > ch.t1+sec {
					continue
				}
				xs = append(xs, b.x(math.Min(math.Max(t, ch.t0), ch.t1), ch.t0, ch.t1))
				ys = append(ys, b.y(float64(v)*8/sec, 0, yhi))
			}
			c.polyline(xs, ys, ch.colours[s.ID], 2, dir == 1)
		}
	}
	legend(c, marginL, top+36, items)
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

// CSVColumns are the columns of WriteCSV: kind is data, reinjection,
// data_ack, goodput or event; rel_s is seconds since the capture's first
// packet (for goodput: the start of the bin); offset and bytes are the
// data range (goodput: bytes in the bin, bps its rate).
var CSVColumns = []string{"kind", "connection", "direction", "subflow", "rel_s", "offset", "bytes", "bps", "detail"}

// WriteCSV writes every point of d, the ones the charts draw and those of
// connections left out.
func WriteCSV(w io.Writer, d *Data) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVColumns)
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }
	dir := func(x int) string { return [...]string{"client_to_server", "server_to_client"}[x&1] }
	for _, p := range d.Points {
		kind := "data"
		if p.Reinjected {
			kind = "reinjection"
		}
		cw.Write([]string{kind, strconv.Itoa(p.Conn), dir(p.Dir), strconv.Itoa(p.Subflow), f(p.T.Sub(d.Start).Seconds()),
			strconv.FormatUint(p.Off, 10), strconv.FormatUint(uint64(p.Len), 10), "", ""})
	}
	for _, a := range d.Acks {
		cw.Write([]string{"data_ack", strconv.Itoa(a.Conn), dir(a.Dir), "", f(a.T.Sub(d.Start).Seconds()),
			strconv.FormatUint(a.Off, 10), "", "", ""})
	}
	for _, c := range d.Conns {
		for _, s := range c.Subflows {
			for di := range 2 {
				for i, v := range s.Goodput[di] {
					t := d.BinStart.Sub(d.Start).Seconds() + float64(i)*d.Bin.Seconds()
					cw.Write([]string{"goodput", strconv.Itoa(c.ID), dir(di), strconv.Itoa(s.ID), f(t), "",
						strconv.FormatUint(v, 10), f(float64(v) * 8 / d.Bin.Seconds()), ""})
				}
			}
		}
		for _, e := range c.Events {
			det := e.Type
			if e.Detail != "" {
				det += ": " + e.Detail
			}
			cw.Write([]string{"event", strconv.Itoa(c.ID), "", strconv.Itoa(e.Subflow), f(e.Time.Sub(d.Start).Seconds()), "", "", "", det})
		}
	}
	cw.Flush()
	return cw.Error()
}
