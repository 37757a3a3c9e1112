package timechart

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"
)

func limit(v float64) *float64 { return &v }

// TestPNGDrawsEachSeriesWhereItsValuesAre: the series' colours appear in the plot at the
// heights their values put them, the limit line is drawn, and the picture has the asked size.
func TestPNGDrawsEachSeriesWhereItsValuesAre(t *testing.T) {
	c := Chart{
		Title: "pods", YLabel: "pods",
		Series: []Series{
			{Name: "low", Points: []Point{{0, 1}, {10 * time.Second, 1}}},
			{Name: "high", Steps: true, Points: []Point{{0, 0}, {2 * time.Second, 8}, {10 * time.Second, 8}}},
		},
		Limit: limit(10), LimitLabel: "max-scale 10",
		Width: 600, Height: 300,
	}
	img := render(t, c)
	if b := img.Bounds(); b.Dx() != 600 || b.Dy() != 300 {
		t.Fatalf("size %v, want 600x300", b)
	}
	plotH := 300 - marginTop - marginBottom
	rowOf := func(v float64) int { return 300 - marginBottom - int(float64(plotH)*v/10) }
	midX := marginLeft + (600-marginLeft-marginRight)/2
	for i, v := range []float64{1, 8} {
		if !hasColour(img, midX, rowOf(v), i) {
			t.Errorf("series %s (value %v) not drawn at row %d", c.Series[i].Name, v, rowOf(v))
		}
		if hasColour(img, midX, rowOf(v+3), i) {
			t.Errorf("series %s drawn where its value is not", c.Series[i].Name)
		}
	}
}

func hasColour(img image.Image, x, y, series int) bool {
	want := palette[series]
	for dy := -1; dy <= 1; dy++ {
		r, g, b, _ := img.At(x, y+dy).RGBA()
		if uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(b>>8) == want.B {
			return true
		}
	}
	return false
}

func TestPNGRefusesWhatCannotBeDrawn(t *testing.T) {
	for name, tc := range map[string]struct {
		c    Chart
		want string
	}{
		"no point":    {Chart{Series: []Series{{Name: "a"}}}, "no point"},
		"NaN":         {Chart{Series: []Series{{Name: "a", Points: []Point{{0, math.NaN()}}}}}, "series a"},
		"negative":    {Chart{Series: []Series{{Name: "a", Points: []Point{{-time.Second, 1}}}}}, "series a"},
		"too small":   {Chart{Width: 100, Height: 100, Series: []Series{{Name: "a", Points: []Point{{0, 1}}}}}, "no room"},
		"many series": {Chart{Series: make([]Series, len(palette)+1)}, "at most"},
	} {
		if err := tc.c.PNG(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 7: 10, 10: 10, 11: 20, 120: 200, 450: 500} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

// TestLanesKeepEqualSeriesApart: two series at the same value are drawn in different bands,
// the first above the second.
func TestLanesKeepEqualSeriesApart(t *testing.T) {
	c := Chart{Lanes: true, Width: 600, Height: 300, Series: []Series{
		{Name: "a", Points: []Point{{0, 1}, {10 * time.Second, 1}}},
		{Name: "b", Points: []Point{{0, 1}, {10 * time.Second, 1}}},
	}}
	img := render(t, c)
	midX := marginLeft + (600-marginLeft-marginRight)/2
	rows := map[int]int{}
	for series := range 2 {
		for y := marginTop; y < 300-marginBottom; y++ {
			if hasColour(img, midX, y, series) {
				rows[series] = y
				break
			}
		}
	}
	if len(rows) != 2 || rows[0] >= rows[1] {
		t.Errorf("series drawn at rows %v, want a above b in its own band", rows)
	}
}

// render draws c and decodes the PNG back.
func render(t *testing.T, c Chart) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := c.PNG(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
