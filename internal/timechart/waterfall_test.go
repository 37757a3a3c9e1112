package timechart

import (
	"bytes"
	"image"
	"image/png"
	"io"
	"strings"
	"testing"
	"time"
)

// TestWaterfallDrawsEachIntervalInItsRowWhereItRan: each bar is in its own row, spans the
// columns of its start and end on the shared axis, in its group's colour.
func TestWaterfallDrawsEachIntervalInItsRowWhereItRan(t *testing.T) {
	wf := Waterfall{Width: 1330, Intervals: []Interval{
		{Name: "root", Group: "a", Start: 0, End: 10 * time.Second},
		{Name: "child", Group: "b", Depth: 1, Start: 5 * time.Second, End: 10 * time.Second},
	}}
	img := decode(t, wf.PNG)
	if b := img.Bounds(); b.Dx() != 1330 || b.Dy() != waterfallTop+2*waterfallRow+waterfallBottom {
		t.Fatalf("size %v", b)
	}
	// The plot is 1330 px less the names' column and the right margin: 98 px per second.
	plotW := 1330 - waterfallNames - 20
	col := func(d time.Duration) int { return waterfallNames + int(float64(plotW)*d.Seconds()/10) }
	mid := func(row int) int { return waterfallTop + row*waterfallRow + waterfallRow/2 }
	for _, tc := range []struct {
		row, group int
		at         time.Duration
		drawn      bool
	}{
		{0, 0, time.Second, true}, {0, 0, 9 * time.Second, true},
		{1, 1, 2 * time.Second, false}, {1, 1, 6 * time.Second, true}, {1, 1, 9 * time.Second, true},
	} {
		if got := hasColour(img, col(tc.at), mid(tc.row), tc.group); got != tc.drawn {
			t.Errorf("row %d at %s: bar drawn %v, want %v", tc.row, tc.at, got, tc.drawn)
		}
	}
}

func TestWaterfallRefusesWhatCannotBeDrawn(t *testing.T) {
	many := make([]Interval, MaxSeries+1)
	for i := range many {
		many[i] = Interval{Name: "s", Group: string(rune('a' + i)), End: time.Second}
	}
	for name, tc := range map[string]struct {
		wf   Waterfall
		want string
	}{
		"none":       {Waterfall{}, "no interval"},
		"backwards":  {Waterfall{Intervals: []Interval{{Name: "x", Start: 2 * time.Second, End: time.Second}}}, "interval x"},
		"groups":     {Waterfall{Intervals: many}, "at most"},
		"too narrow": {Waterfall{Width: 400, Intervals: []Interval{{Name: "x", End: time.Second}}}, "no room"},
	} {
		if err := tc.wf.PNG(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}

// TestGridPlacesChartsInRows: three 600x300 charts in two columns make a 1200-wide picture of
// two rows under the title, the third chart's series at the start of the second row.
func TestGridPlacesChartsInRows(t *testing.T) {
	chart := func(series int) Chart {
		s := make([]Series, series+1)
		for i := range s {
			s[i] = Series{Name: "s", Points: []Point{{0, 1}, {10 * time.Second, 1}}}
		}
		return Chart{Width: 600, Height: 300, Series: s}
	}
	img := decode(t, func(w io.Writer) error { return Grid(w, "dashboard", 2, chart(0), chart(1), chart(2)) })
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != gridTitleHeight+600 {
		t.Fatalf("size %v, want 1200x%d", b, gridTitleHeight+600)
	}
	// Each chart's last series, at value 1 of 1: the top of the plot.
	midX := marginLeft + (600-marginLeft-marginRight)/2
	for i, at := range []image.Point{{0, 0}, {600, 0}, {0, 300}} {
		if !hasColour(img, at.X+midX, gridTitleHeight+at.Y+marginTop, i) {
			t.Errorf("chart %d: series %d not drawn at %v", i, i, at)
		}
	}
	if err := Grid(&bytes.Buffer{}, "x", 2, Chart{Title: "empty"}); err == nil || !strings.Contains(err.Error(), `"empty"`) {
		t.Errorf("grid with an empty chart: %v, want an error naming it", err)
	}
}

// decode runs draw and decodes the PNG it wrote.
func decode(t *testing.T, draw func(io.Writer) error) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := draw(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
