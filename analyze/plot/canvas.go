package plot

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"math"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"
)

// canvas is what the charts are drawn on: SVG (vector, text as text) or
// a raster image (PNG) with the Go fonts, antialiased.
type canvas interface {
	// line draws a straight line; dash draws it dashed.
	line(x1, y1, x2, y2 float64, c color.RGBA, width float64, dash bool)
	// polyline joins the points.
	polyline(xs, ys []float64, c color.RGBA, width float64, dash bool)
	// vsegs draws vertical segments from (x[i], y0[i]) to (x[i], y1[i]).
	vsegs(x, y0, y1 []float64, c color.RGBA, width float64)
	rect(x, y, w, h float64, fill color.RGBA)
	// cross draws an x-shaped mark centred on (x, y).
	cross(x, y, r float64, c color.RGBA)
	// text draws s with its baseline at y; anchor 0 left, 1 centre,
	// 2 right; vertical turns it 90° counter-clockwise about (x, y).
	text(x, y float64, s string, size float64, anchor int, c color.RGBA, bold, vertical bool)
	// textWidth is the advance of s at size.
	textWidth(s string, size float64, bold bool) float64
}

// svgCanvas writes SVG elements.
type svgCanvas struct {
	w    *bufio.Writer
	font fontSet
}

func hexc(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

func newSVG(w io.Writer, width, height int) *svgCanvas {
	s := &svgCanvas{w: bufio.NewWriter(w), font: loadFonts()}
	fmt.Fprintf(s.w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Go, DejaVu Sans, Helvetica, Arial, sans-serif">`+"\n",
		width, height, width, height)
	fmt.Fprintf(s.w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	return s
}

func (s *svgCanvas) finish() error {
	fmt.Fprintln(s.w, "</svg>")
	return s.w.Flush()
}

func dashAttr(dash bool) string {
	if dash {
		return ` stroke-dasharray="5,4"`
	}
	return ""
}

func (s *svgCanvas) line(x1, y1, x2, y2 float64, c color.RGBA, width float64, dash bool) {
	fmt.Fprintf(s.w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n",
		x1, y1, x2, y2, hexc(c), width, dashAttr(dash))
}

func (s *svgCanvas) polyline(xs, ys []float64, c color.RGBA, width float64, dash bool) {
	if len(xs) == 0 {
		return
	}
	var b strings.Builder
	for i := range xs {
		fmt.Fprintf(&b, "%.1f,%.1f ", xs[i], ys[i])
	}
	fmt.Fprintf(s.w, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f" stroke-linejoin="round"%s/>`+"\n",
		strings.TrimSpace(b.String()), hexc(c), width, dashAttr(dash))
}

func (s *svgCanvas) vsegs(x, y0, y1 []float64, c color.RGBA, width float64) {
	if len(x) == 0 {
		return
	}
	var b strings.Builder
	for i := range x {
		top := math.Min(y1[i], y0[i]-1)
		fmt.Fprintf(&b, "M%.1f %.1fV%.1f", x[i], y0[i], top)
	}
	fmt.Fprintf(s.w, `<path d="%s" stroke="%s" stroke-width="%.1f" fill="none"/>`+"\n", b.String(), hexc(c), width)
}

func (s *svgCanvas) rect(x, y, w, h float64, fill color.RGBA) {
	fmt.Fprintf(s.w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y, w, h, hexc(fill))
}

func (s *svgCanvas) cross(x, y, r float64, c color.RGBA) {
	fmt.Fprintf(s.w, `<path d="M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f" stroke="%s" stroke-width="1.5"/>`+"\n",
		x-r, y-r, x+r, y+r, x-r, y+r, x+r, y-r, hexc(c))
}

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}

func (s *svgCanvas) text(x, y float64, t string, size float64, anchor int, c color.RGBA, bold, vertical bool) {
	a := [...]string{"start", "middle", "end"}[anchor]
	weight := ""
	if bold {
		weight = ` font-weight="bold"`
	}
	rot := ""
	if vertical {
		rot = fmt.Sprintf(` transform="rotate(-90 %.1f %.1f)"`, x, y)
	}
	fmt.Fprintf(s.w, `<text x="%.1f" y="%.1f" font-size="%.0f" text-anchor="%s" fill="%s"%s%s>%s</text>`+"\n",
		x, y, size, a, hexc(c), weight, rot, xmlEscape(t))
}

func (s *svgCanvas) textWidth(t string, size float64, bold bool) float64 {
	return s.font.width(t, size, bold)
}

// fontSet holds the Go fonts, parsed.
type fontSet struct {
	regular, bold *opentype.Font
	faces         map[[2]int]font.Face
}

func loadFonts() fontSet {
	r, _ := opentype.Parse(goregular.TTF)
	b, _ := opentype.Parse(gobold.TTF)
	return fontSet{regular: r, bold: b, faces: map[[2]int]font.Face{}}
}

func (f fontSet) face(size float64, bold bool) font.Face {
	k := [2]int{int(size * 4), 0}
	if bold {
		k[1] = 1
	}
	if fc, ok := f.faces[k]; ok {
		return fc
	}
	ft := f.regular
	if bold {
		ft = f.bold
	}
	fc, err := opentype.NewFace(ft, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil
	}
	f.faces[k] = fc
	return fc
}

func (f fontSet) width(s string, size float64, bold bool) float64 {
	fc := f.face(size, bold)
	if fc == nil {
		return float64(len(s)) * size * 0.55
	}
	return float64(font.MeasureString(fc, s)) / 64
}

// rasterCanvas draws into an RGBA image.
type rasterCanvas struct {
	img  *image.RGBA
	font fontSet
	r    *vector.Rasterizer
}

func newRaster(width, height int) *rasterCanvas {
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	return &rasterCanvas{img: img, font: loadFonts(), r: vector.NewRasterizer(width, height)}
}

// fillPath draws the rasterizer's path in c.
func (r *rasterCanvas) fillPath(c color.RGBA) {
	b := r.img.Bounds()
	r.r.Draw(r.img, b, image.NewUniform(c), image.Point{})
	r.r.Reset(b.Dx(), b.Dy())
}

// quad adds a segment of the given width as a filled quadrilateral.
func (r *rasterCanvas) quad(x1, y1, x2, y2, width float64) {
	dx, dy := x2-x1, y2-y1
	l := math.Hypot(dx, dy)
	if l == 0 {
		dx, dy, l = 1, 0, 1
	}
	nx, ny := -dy/l*width/2, dx/l*width/2
	r.r.MoveTo(float32(x1+nx), float32(y1+ny))
	r.r.LineTo(float32(x2+nx), float32(y2+ny))
	r.r.LineTo(float32(x2-nx), float32(y2-ny))
	r.r.LineTo(float32(x1-nx), float32(y1-ny))
	r.r.ClosePath()
}

// dashes splits a line into dash segments.
func dashes(x1, y1, x2, y2 float64, fn func(a, b, c, d float64)) {
	l := math.Hypot(x2-x1, y2-y1)
	if l == 0 {
		return
	}
	ux, uy := (x2-x1)/l, (y2-y1)/l
	for p := 0.0; p < l; p += 9 {
		q := math.Min(p+5, l)
		fn(x1+ux*p, y1+uy*p, x1+ux*q, y1+uy*q)
	}
}

func (r *rasterCanvas) line(x1, y1, x2, y2 float64, c color.RGBA, width float64, dash bool) {
	if dash {
		dashes(x1, y1, x2, y2, func(a, b, cc, d float64) { r.quad(a, b, cc, d, width) })
	} else {
		r.quad(x1, y1, x2, y2, width)
	}
	r.fillPath(c)
}

func (r *rasterCanvas) polyline(xs, ys []float64, c color.RGBA, width float64, dash bool) {
	for i := 1; i < len(xs); i++ {
		if dash {
			dashes(xs[i-1], ys[i-1], xs[i], ys[i], func(a, b, cc, d float64) { r.quad(a, b, cc, d, width) })
		} else {
			r.quad(xs[i-1], ys[i-1], xs[i], ys[i], width)
		}
		if i%256 == 0 {
			r.fillPath(c) // keep the path short
		}
	}
	r.fillPath(c)
}

func (r *rasterCanvas) vsegs(x, y0, y1 []float64, c color.RGBA, width float64) {
	for i := range x {
		top := math.Min(y1[i], y0[i]-1)
		r.rect(x[i]-width/2, top, width, y0[i]-top, c)
	}
}

// rect fills an axis-aligned rectangle, blending partial pixels.
func (r *rasterCanvas) rect(x, y, w, h float64, fill color.RGBA) {
	x0, y0, x1, y1 := int(math.Floor(x)), int(math.Floor(y)), int(math.Ceil(x+w)), int(math.Ceil(y+h))
	b := r.img.Bounds()
	for py := max(y0, b.Min.Y); py < min(y1, b.Max.Y); py++ {
		cy := math.Min(float64(py+1), y+h) - math.Max(float64(py), y)
		for px := max(x0, b.Min.X); px < min(x1, b.Max.X); px++ {
			cx := math.Min(float64(px+1), x+w) - math.Max(float64(px), x)
			a := cx * cy
			if a <= 0 {
				continue
			}
			if a >= 1 {
				r.img.SetRGBA(px, py, fill)
				continue
			}
			o := r.img.RGBAAt(px, py)
			mix := func(bg, fg uint8) uint8 { return uint8(float64(bg)*(1-a) + float64(fg)*a + 0.5) }
			r.img.SetRGBA(px, py, color.RGBA{mix(o.R, fill.R), mix(o.G, fill.G), mix(o.B, fill.B), 0xff})
		}
	}
}

func (r *rasterCanvas) cross(x, y, rad float64, c color.RGBA) {
	r.quad(x-rad, y-rad, x+rad, y+rad, 1.5)
	r.quad(x-rad, y+rad, x+rad, y-rad, 1.5)
	r.fillPath(c)
}

func (r *rasterCanvas) textWidth(s string, size float64, bold bool) float64 {
	return r.font.width(s, size, bold)
}

func (r *rasterCanvas) text(x, y float64, s string, size float64, anchor int, c color.RGBA, bold, vertical bool) {
	fc := r.font.face(size, bold)
	if fc == nil {
		return
	}
	w := r.textWidth(s, size, bold)
	off := [...]float64{0, w / 2, w}[anchor]
	if !vertical {
		d := font.Drawer{Dst: r.img, Src: image.NewUniform(c), Face: fc, Dot: fixed.P(int(math.Round(x-off)), int(math.Round(y)))}
		d.DrawString(s)
		return
	}
	// Draw horizontally into a scratch image, then turn it.
	m := fc.Metrics()
	asc, desc := m.Ascent.Ceil(), m.Descent.Ceil()
	tw := int(math.Ceil(w)) + 2
	tmp := image.NewRGBA(image.Rect(0, 0, tw, asc+desc))
	d := font.Drawer{Dst: tmp, Src: image.NewUniform(c), Face: fc, Dot: fixed.P(0, asc)}
	d.DrawString(s)
	// Pixel (u, v) of tmp goes to (x - asc + v, y + off - u): the
	// baseline runs upwards from (x, y+off).
	for v := 0; v < tmp.Bounds().Dy(); v++ {
		for u := 0; u < tw; u++ {
			p := tmp.RGBAAt(u, v)
			if p.A == 0 {
				continue
			}
			px, py := int(math.Round(x))-asc+v, int(math.Round(y+off))-u
			if !(image.Point{px, py}.In(r.img.Bounds())) {
				continue
			}
			o := r.img.RGBAAt(px, py)
			a := float64(p.A) / 255
			mix := func(bg, fg uint8) uint8 { return uint8(float64(bg)*(1-a) + float64(fg)*a + 0.5) }
			r.img.SetRGBA(px, py, color.RGBA{mix(o.R, c.R), mix(o.G, c.G), mix(o.B, c.B), 0xff})
		}
	}
}
