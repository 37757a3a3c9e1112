package timechart

import (
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
)

// gridTitleHeight is the band above a grid's charts that holds its title.
const gridTitleHeight = 28

// Grid writes charts as one PNG, cols to a row, in order, under title: a dashboard's panels
// drawn from what its queries returned. Each chart keeps its own size (0 means the default);
// a chart that cannot be drawn is an error naming it.
func Grid(w io.Writer, title string, cols int, charts ...Chart) error {
	if cols < 1 || len(charts) == 0 {
		return fmt.Errorf("timechart: grid of %d charts in %d columns", len(charts), cols)
	}
	images := make([]*image.RGBA, len(charts))
	cellW, cellH := 0, 0
	for i, c := range charts {
		img, err := c.Image()
		if err != nil {
			return fmt.Errorf("chart %q: %w", c.Title, err)
		}
		images[i] = img
		cellW, cellH = max(cellW, img.Bounds().Dx()), max(cellH, img.Bounds().Dy())
	}
	rows := (len(charts) + cols - 1) / cols
	out := image.NewRGBA(image.Rect(0, 0, cellW*min(cols, len(charts)), gridTitleHeight+cellH*rows))
	draw.Draw(out, out.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)
	label(out, 8, 19, title)
	for i, img := range images {
		at := image.Pt((i%cols)*cellW, gridTitleHeight+(i/cols)*cellH)
		draw.Draw(out, img.Bounds().Add(at), img, image.Point{}, draw.Src)
	}
	return png.Encode(w, out)
}
