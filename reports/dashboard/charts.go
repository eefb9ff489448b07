package dashboard

// The charts, drawn with gonum.org/v1/plot into SVG (vg/vgsvg). Every
// chart shows aggregates only; the page puts a table with the same numbers
// beside each.

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The Okabe-Ito palette: told apart with the common colour-vision
// deficiencies, and in grey print. Lines also differ by dash pattern.
var (
	colBlue       = color.RGBA{0x00, 0x72, 0xB2, 0xff}
	colOrange     = color.RGBA{0xE6, 0x9F, 0x00, 0xff}
	colGreen      = color.RGBA{0x00, 0x9E, 0x73, 0xff}
	colVermillion = color.RGBA{0xD5, 0x5E, 0x00, 0xff}
	colSky        = color.RGBA{0x56, 0xB4, 0xE9, 0xff}
	colPurple     = color.RGBA{0xCC, 0x79, 0xA7, 0xff}
	colGrey       = color.RGBA{0x99, 0x99, 0x99, 0xff}
)

// sansFont is the charts' font. The SVG names it (font-family "Liberation
// Sans"); the browser falls back to its own sans-serif: no font is
// embedded or fetched.
var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

const (
	chartWidth  = 16 * vg.Centimeter // fits A4 portrait with margins
	chartHeight = 7 * vg.Centimeter
)

// newPlot returns a plot with the dashboard's fonts and no title (the
// page's headings and captions name each chart).
func newPlot() *plot.Plot {
	p := plot.New()
	for _, s := range []*draw.TextStyle{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		s.Font = font.Font{Typeface: sansFont.Typeface, Variant: sansFont.Variant, Size: s.Font.Size}
	}
	p.X.Tick.Label.Font.Size = 9
	p.Y.Tick.Label.Font.Size = 9
	p.Legend.TextStyle.Font.Size = 9
	p.Legend.Top = true
	p.Legend.Padding = vg.Points(2)
	return p
}

// svg renders p as an SVG element for inlining into the page, labelled by
// the element whose id is labelledBy.
func svg(p *plot.Plot, w, h vg.Length, labelledBy string) (string, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	// Inline SVG takes no XML declaration or generator comment.
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	attrs := fmt.Sprintf(`<svg role="img" aria-labelledby=%q class="chart"`, labelledBy)
	return strings.Replace(s, "<svg", attrs, 1), nil
}

// countTicks marks a count axis with about five whole-number ticks at 1,
// 2 or 5 times a power of ten (gonum's default ticks print 2500.00).
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	raw := max(hi-lo, 1) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	step = max(step, 1)
	var ts []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step/1e6; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ts
}

// headroom leaves room above the data for the legend.
func headroom(top float64) float64 { return max(top, 1) * 1.35 }

// bars returns a bar chart of vs in colour c.
func bars(vs []float64, width vg.Length, c color.Color, horizontal bool) (*plotter.BarChart, error) {
	b, err := plotter.NewBarChart(plotter.Values(vs), width)
	if err != nil {
		return nil, err
	}
	b.Color = c
	b.LineStyle.Width = 0
	b.Horizontal = horizontal
	return b, nil
}

// Charts are the page's charts as inline SVG, keyed as the sections use
// them.
type Charts struct {
	Funnel, Timeline, TimeToAccept, Reminders, Pending, ByDomain, ByGroup string
}

func renderCharts(f *Figures) (Charts, error) {
	var c Charts
	var err error
	steps := []struct {
		out *string
		fn  func() (string, error)
	}{
		{&c.Funnel, func() (string, error) { return funnelChart(f) }},
		{&c.Timeline, func() (string, error) { return timelineChart(f) }},
		{&c.TimeToAccept, func() (string, error) { return bucketChart(f.TimeToAccept.Buckets, colGreen, "people", "cap-tta") }},
		{&c.Reminders, func() (string, error) {
			return bucketChart(f.TimeToAccept.ByEmails, colSky, "acceptances", "cap-reminders")
		}},
		{&c.Pending, func() (string, error) { return pendingChart(f) }},
		{&c.ByDomain, func() (string, error) { return groupChart(f.ByDomain, "cap-domain") }},
		{&c.ByGroup, func() (string, error) {
			if f.GroupBy == "" {
				return "", nil
			}
			return groupChart(f.ByGroup, "cap-group")
		}},
	}
	for _, s := range steps {
		if *s.out, err = s.fn(); err != nil {
			return c, err
		}
	}
	return c, nil
}

func funnelChart(f *Figures) (string, error) {
	p := newPlot()
	n := len(f.Funnel.Stages)
	vs := make([]float64, n)
	labels := make([]string, n)
	for i, s := range f.Funnel.Stages {
		// Top to bottom: the plot's y axis grows upwards.
		vs[n-1-i] = float64(s.Count)
		labels[n-1-i] = s.Label
	}
	b, err := bars(vs, 14, colBlue, true)
	if err != nil {
		return "", err
	}
	p.Add(b)
	p.NominalY(labels...)
	p.X.Label.Text = "accounts"
	p.X.Min = 0
	p.X.Tick.Marker = countTicks{}
	return svg(p, chartWidth, chartHeight, "cap-funnel")
}

func timelineChart(f *Figures) (string, error) {
	p := newPlot()
	series := []struct {
		name  string
		col   color.Color
		dash  []vg.Length
		value func(Day) int
	}{
		{"sent (first emails)", colBlue, nil, func(d Day) int { return d.CumulativeSent }},
		{"accepted", colGreen, []vg.Length{6, 3}, func(d Day) int { return d.CumulativeAccepted }},
		{"declined", colVermillion, []vg.Length{2, 2}, func(d Day) int { return d.CumulativeDeclined }},
	}
	for _, s := range series {
		xy := make(plotter.XYs, len(f.Daily))
		for i, d := range f.Daily {
			t, _ := time.Parse(time.DateOnly, d.Date)
			xy[i].X = float64(t.Unix() + day)
			xy[i].Y = float64(s.value(d))
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return "", err
		}
		l.Color = s.col
		l.Width = vg.Points(2)
		l.Dashes = s.dash
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	p.Legend.Left = true
	p.X.Tick.Marker = plot.TimeTicks{Format: "Jan 2"}
	p.Y.Label.Text = "cumulative"
	p.Y.Min = 0
	p.Y.Tick.Marker = countTicks{}
	if n := len(f.Daily); n > 0 {
		last := f.Daily[n-1]
		p.Y.Max = headroom(float64(max(last.CumulativeSent, last.CumulativeAccepted, last.CumulativeDeclined)))
	}
	p.Add(plotter.NewGrid())
	return svg(p, chartWidth, chartHeight, "cap-timeline")
}

func bucketChart(bs []Bucket, c color.Color, unit, caption string) (string, error) {
	p := newPlot()
	vs := make([]float64, len(bs))
	labels := make([]string, len(bs))
	for i, b := range bs {
		vs[i], labels[i] = float64(b.Count), b.Label
	}
	b, err := bars(vs, 22, c, false)
	if err != nil {
		return "", err
	}
	p.Add(b)
	p.NominalX(labels...)
	p.Y.Label.Text = unit
	p.Y.Min = 0
	p.Y.Tick.Marker = countTicks{}
	return svg(p, chartWidth, 6*vg.Centimeter, caption)
}

func pendingChart(f *Figures) (string, error) {
	p := newPlot()
	cols := []color.Color{colOrange, colPurple, colVermillion}
	var below *plotter.BarChart
	for m, name := range f.Pending.Mails {
		vs := make([]float64, len(f.Pending.Ages))
		for a := range f.Pending.Ages {
			vs[a] = float64(f.Pending.Counts[a][m])
		}
		b, err := bars(vs, 30, cols[m%len(cols)], false)
		if err != nil {
			return "", err
		}
		if below != nil {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		p.Legend.Add(name, b)
	}
	p.NominalX(f.Pending.Ages...)
	p.X.Label.Text = "time since the last email"
	p.Y.Label.Text = "pending invitations"
	p.Y.Min = 0
	p.Y.Tick.Marker = countTicks{}
	top := 0
	for _, row := range f.Pending.Counts {
		sum := 0
		for _, n := range row {
			sum += n
		}
		top = max(top, sum)
	}
	p.Y.Max = headroom(float64(top))
	return svg(p, chartWidth, 6*vg.Centimeter, "cap-pending")
}

// groupChart draws each group as one horizontal bar, split into accepted,
// declined, pending and not invited yet.
func groupChart(gs []Group, caption string) (string, error) {
	if len(gs) == 0 {
		return "", nil
	}
	p := newPlot()
	n := len(gs)
	parts := []struct {
		name  string
		col   color.Color
		value func(Group) int
	}{
		{"accepted", colGreen, func(g Group) int { return g.Accepted }},
		{"declined", colVermillion, func(g Group) int { return g.Declined }},
		{"pending", colOrange, func(g Group) int { return g.Pending }},
		{"not invited yet", colGrey, func(g Group) int { return g.NotYetInvited }},
	}
	labels := make([]string, n)
	for i, g := range gs {
		labels[n-1-i] = g.Name
		if r := []rune(g.Name); len(r) > 28 {
			labels[n-1-i] = string(r[:27]) + "…"
		}
	}
	var below *plotter.BarChart
	for _, part := range parts {
		vs := make([]float64, n)
		for i, g := range gs {
			vs[n-1-i] = float64(part.value(g))
		}
		b, err := bars(vs, 10, part.col, true)
		if err != nil {
			return "", err
		}
		if below != nil {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		p.Legend.Add(part.name, b)
	}
	p.NominalY(labels...)
	p.X.Label.Text = "accounts"
	p.X.Min = 0
	top := 0
	for _, g := range gs {
		top = max(top, g.Found)
	}
	p.X.Max = headroom(float64(top))
	p.X.Tick.Marker = countTicks{}
	h := max(5*vg.Centimeter, vg.Length(n)*0.6*vg.Centimeter+2*vg.Centimeter)
	return svg(p, chartWidth, h, caption)
}
