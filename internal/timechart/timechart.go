// Package timechart draws series sampled over time as a PNG line chart: what a test or a
// benchmark measured during a run (pods of each function during a burst, a hop's latency),
// drawn by the run itself rather than by hand. It owns layout and drawing only; callers own
// the measurements.
package timechart

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Point is one sample: when, from the start of the run, and the value.
type Point struct {
	At    time.Duration
	Value float64
}

// Series is one line of the chart.
type Series struct {
	Name   string
	Points []Point
	// Steps draws the series as a step function (a count holds until the next sample),
	// rather than straight lines between samples.
	Steps bool
}

// Chart is a line chart of series over time.
type Chart struct {
	Title  string
	YLabel string
	// XLabel names the time axis; empty means "time since start".
	XLabel string
	Series []Series
	// Limit, when set, is drawn as a dashed horizontal line labelled LimitLabel (an objective,
	// or a bound such as max-scale).
	Limit      *float64
	LimitLabel string
	// Lanes draws each series in its own band, one above the other, on the same scales:
	// series that sit on the same few values (0 or 1 pod) would otherwise hide each other.
	Lanes bool
	// Width and Height in pixels; 0 means 900 x 420.
	Width, Height int
}

// palette holds one distinct colour per series, in order.
var palette = [MaxSeries]color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
	{0xff, 0x7f, 0x0e, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
}

var (
	black = color.RGBA{0, 0, 0, 0xff}
	grey  = color.RGBA{0xcc, 0xcc, 0xcc, 0xff}
	white = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

// margins around the plot area, in pixels: room for tick labels and the legend.
const (
	marginLeft   = 60
	marginRight  = 210
	marginTop    = 36
	marginBottom = 44
)

// PNG writes the chart. A chart without any point, or with more series than colours, is an
// error: an empty picture would look like a measurement.
func (c Chart) PNG(w io.Writer) error {
	img, err := c.Image()
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// MaxSeries is how many series one chart can tell apart (one colour each).
const MaxSeries = 6

// Image draws the chart, with the errors of PNG.
func (c Chart) Image() (*image.RGBA, error) {
	if len(c.Series) > len(palette) {
		return nil, fmt.Errorf("timechart: %d series, at most %d", len(c.Series), len(palette))
	}
	maxT, maxV, n := time.Duration(0), 0.0, 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) || p.At < 0 {
				return nil, fmt.Errorf("timechart: series %s has a point (%s, %v) that cannot be drawn", s.Name, p.At, p.Value)
			}
			maxT, maxV, n = max(maxT, p.At), max(maxV, p.Value), n+1
		}
	}
	if n == 0 {
		return nil, errors.New("timechart: no point to draw")
	}
	if c.Limit != nil {
		maxV = max(maxV, *c.Limit)
	}
	width, height := c.Width, c.Height
	if width == 0 || height == 0 {
		width, height = 900, 420
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)
	plot := image.Rect(marginLeft, marginTop, width-marginRight, height-marginBottom)
	if plot.Dx() < 50 || plot.Dy() < 50 {
		return nil, fmt.Errorf("timechart: %dx%d leaves no room to plot", width, height)
	}
	yTop := niceCeil(maxV)
	tEnd := max(maxT, time.Second)
	x := func(t time.Duration) int { return plot.Min.X + int(float64(plot.Dx())*float64(t)/float64(tEnd)) }
	bands := []image.Rectangle{plot}
	if c.Lanes {
		bands = lanes(plot, len(c.Series))
	}
	y := func(band image.Rectangle, v float64) int { return band.Max.Y - int(float64(band.Dy())*v/yTop) }

	// Grid and ticks: five steps on the time axis, and on the value axis five per band, or
	// its bottom and top in lanes.
	steps := 5
	if c.Lanes {
		steps = 1
	}
	for _, band := range bands {
		for i := 0; i <= steps; i++ {
			v := yTop * float64(i) / float64(steps)
			line(img, plot.Min.X, y(band, v), plot.Max.X, y(band, v), grey, 0)
			label(img, 4, y(band, v)+4, trimFloat(v))
		}
		if c.Limit != nil {
			line(img, plot.Min.X, y(band, *c.Limit), plot.Max.X, y(band, *c.Limit), black, 6)
		}
	}
	for i := 0; i <= 5; i++ {
		t := tEnd * time.Duration(i) / 5
		line(img, x(t), plot.Min.Y, x(t), plot.Max.Y, grey, 0)
		label(img, x(t)-12, plot.Max.Y+16, secondsLabel(t, tEnd))
	}
	line(img, plot.Min.X, plot.Max.Y, plot.Max.X, plot.Max.Y, black, 0)
	line(img, plot.Min.X, plot.Min.Y, plot.Min.X, plot.Max.Y, black, 0)
	xLabel := c.XLabel
	if xLabel == "" {
		xLabel = "time since start"
	}
	label(img, plot.Min.X+plot.Dx()/2-40, height-8, xLabel)
	label(img, 4, marginTop-8, c.YLabel)
	label(img, plot.Min.X, 16, c.Title)
	if c.Limit != nil {
		label(img, plot.Max.X+6, y(bands[0], *c.Limit)+4, "- - "+c.LimitLabel)
	}
	for i, s := range c.Series {
		col := palette[i]
		band := bands[0]
		if c.Lanes {
			band = bands[i]
		}
		for j := 1; j < len(s.Points); j++ {
			a, b := s.Points[j-1], s.Points[j]
			if s.Steps {
				line(img, x(a.At), y(band, a.Value), x(b.At), y(band, a.Value), col, 0)
				line(img, x(b.At), y(band, a.Value), x(b.At), y(band, b.Value), col, 0)
				continue
			}
			line(img, x(a.At), y(band, a.Value), x(b.At), y(band, b.Value), col, 0)
		}
		if len(s.Points) == 1 {
			p := s.Points[0]
			line(img, x(p.At)-2, y(band, p.Value), x(p.At)+2, y(band, p.Value), col, 0)
		}
		ly := marginTop + 32 + 18*i
		if c.Lanes {
			ly = band.Min.Y + band.Dy()/2
		}
		draw.Draw(img, image.Rect(plot.Max.X+8, ly-8, plot.Max.X+20, ly+2), &image.Uniform{col}, image.Point{}, draw.Src)
		label(img, plot.Max.X+26, ly+1, s.Name)
	}
	return img, nil
}

// lanes splits plot into n bands, top to bottom, with a gap between them.
func lanes(plot image.Rectangle, n int) []image.Rectangle {
	const gap = 18
	h := (plot.Dy() - gap*(n-1)) / n
	out := make([]image.Rectangle, n)
	for i := range out {
		top := plot.Min.Y + i*(h+gap)
		out[i] = image.Rect(plot.Min.X, top, plot.Max.X, top+h)
	}
	return out
}

// secondsLabel is t in seconds, with a decimal when the axis is short enough for whole
// seconds to repeat or mislead.
func secondsLabel(t, axis time.Duration) string {
	if axis < 20*time.Second {
		return fmt.Sprintf("%.1fs", t.Seconds())
	}
	return fmt.Sprintf("%.0fs", t.Seconds())
}

// niceCeil is the smallest of 1, 2, 5 x 10^k at or above v (1 for v <= 0), so that the y
// axis ends on a round number.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*exp >= v {
			return m * exp
		}
	}
	return 10 * exp
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// line draws from (x0, y0) to (x1, y1); dash > 0 leaves every other run of dash pixels blank.
func line(img *image.RGBA, x0, y0, x1, y1 int, col color.RGBA, dash int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for i := 0; ; i++ {
		if dash == 0 || (i/dash)%2 == 0 {
			img.SetRGBA(x0, y0, col)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func label(img *image.RGBA, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(black), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
