package timechart

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"time"
)

// Interval is one bar of a waterfall: a span of a trace, from Start to End since the
// waterfall's start, drawn Depth steps in under its parent.
type Interval struct {
	Name string
	// Group colours the bar (a trace's service); bars of one group share a colour.
	Group      string
	Depth      int
	Start, End time.Duration
}

// Waterfall draws intervals one per row, in order, against a shared time axis: a trace the
// way trace viewers show it, each span's name indented by its depth, its bar where it ran.
type Waterfall struct {
	Title     string
	Intervals []Interval
	// Width in pixels; 0 means 1200. The height follows from the rows.
	Width int
}

// waterfall layout, in pixels.
const (
	waterfallRow    = 18
	waterfallNames  = 330
	waterfallTop    = 40
	waterfallBottom = 40
	waterfallIndent = 12
)

// PNG writes the waterfall. No interval, an interval that ends before it starts, or more
// groups than colours is an error.
func (wf Waterfall) PNG(w io.Writer) error {
	if len(wf.Intervals) == 0 {
		return errors.New("timechart: no interval to draw")
	}
	groups := map[string]int{}
	var order []string
	end := time.Duration(0)
	for _, iv := range wf.Intervals {
		if iv.End < iv.Start || iv.Start < 0 {
			return fmt.Errorf("timechart: interval %s runs from %s to %s", iv.Name, iv.Start, iv.End)
		}
		if _, ok := groups[iv.Group]; !ok {
			groups[iv.Group] = len(order)
			order = append(order, iv.Group)
		}
		end = max(end, iv.End)
	}
	if len(order) > len(palette) {
		return fmt.Errorf("timechart: %d groups, at most %d", len(order), len(palette))
	}
	width := wf.Width
	if width == 0 {
		width = 1200
	}
	height := waterfallTop + waterfallRow*len(wf.Intervals) + waterfallBottom
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)
	plot := image.Rect(waterfallNames, waterfallTop, width-20, height-waterfallBottom)
	if plot.Dx() < 100 {
		return fmt.Errorf("timechart: width %d leaves no room for bars", width)
	}
	axis := max(end, time.Millisecond)
	x := func(t time.Duration) int { return plot.Min.X + int(float64(plot.Dx())*float64(t)/float64(axis)) }
	for i := 0; i <= 5; i++ {
		t := axis * time.Duration(i) / 5
		line(img, x(t), plot.Min.Y, x(t), plot.Max.Y, grey, 0)
		label(img, x(t)-12, plot.Max.Y+16, secondsLabel(t, axis))
	}
	label(img, 8, 16, wf.Title)
	for i, iv := range wf.Intervals {
		top := plot.Min.Y + i*waterfallRow
		col := palette[groups[iv.Group]]
		bar := image.Rect(x(iv.Start), top+3, max(x(iv.End), x(iv.Start)+2), top+waterfallRow-3)
		draw.Draw(img, bar, &image.Uniform{col}, image.Point{}, draw.Src)
		label(img, 8+waterfallIndent*min(iv.Depth, 12), top+13, iv.Name)
		label(img, min(bar.Max.X+4, plot.Max.X-60), top+13, durationLabel(iv.End-iv.Start))
	}
	for i, g := range order {
		lx := plot.Min.X + i*150
		draw.Draw(img, image.Rect(lx, height-16, lx+12, height-6), &image.Uniform{palette[i]}, image.Point{}, draw.Src)
		label(img, lx+16, height-6, g)
	}
	return png.Encode(w, img)
}

// durationLabel is d rounded for a bar's label: milliseconds under a second.
func durationLabel(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return d.Round(10 * time.Millisecond).String()
}
