package dashboard

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"
)

//go:embed page.html.tmpl
var pageSource string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"num":       formatNum,
	"pct":       func(share float64) string { return strconv.FormatFloat(100*share, 'f', 1, 64) + "%" },
	"ratio":     ratio,
	"hours":     formatHours,
	"when":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"chart":     func(s string) template.HTML { return template.HTML(s) }, // SVG that vgsvg escaped
	"lastIndex": func(ws []week) int { return len(ws) - 1 },
	"groupTable": func(title string, gs []Group, invalid bool) groupTable {
		return groupTable{Title: title, Groups: gs, Invalid: invalid}
	},
}).Parse(pageSource))

// pageData is what the template sees.
type pageData struct {
	*Figures
	Charts   Charts
	Weeks    []week
	Accepted int
	Found    int
}

// groupTable is the data of the "groups" template.
type groupTable struct {
	Title   string
	Groups  []Group
	Invalid bool
}

// week sums the days of one ISO week, for the timeline's table.
type week struct {
	Start                        string
	Sent, Reminders              int
	Accepted, Declined           int
	CumSent, CumAcc, CumDeclined int
}

// WriteHTML writes the figures as one self-contained HTML page: inline CSS
// and SVG, no script, no external font, image or link other than the
// pending CSV beside it (f.Pending.CSV, relative).
func WriteHTML(w io.Writer, f *Figures) error {
	charts, err := renderCharts(f)
	if err != nil {
		return fmt.Errorf("dashboard charts: %w", err)
	}
	d := pageData{Figures: f, Charts: charts, Weeks: weeks(f.Daily),
		Accepted: f.Funnel.Count(StageAccepted), Found: f.Funnel.Count(StageFound)}
	return page.Execute(w, d)
}

func weeks(days []Day) []week {
	var out []week
	for _, d := range days {
		t, _ := time.Parse(time.DateOnly, d.Date)
		monday := t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7)).Format(time.DateOnly)
		if len(out) == 0 || out[len(out)-1].Start != monday {
			out = append(out, week{Start: monday})
		}
		wk := &out[len(out)-1]
		wk.Sent += d.Sent
		wk.Reminders += d.Reminders
		wk.Accepted += d.Accepted
		wk.Declined += d.Declined
		wk.CumSent, wk.CumAcc, wk.CumDeclined = d.CumulativeSent, d.CumulativeAccepted, d.CumulativeDeclined
	}
	return out
}

// formatNum writes n with thin thousands separators: 12 345.
func formatNum(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func ratio(n, of int) string {
	if of == 0 {
		return "–"
	}
	return strconv.FormatFloat(100*float64(n)/float64(of), 'f', 1, 64) + "%"
}

func formatHours(h float64) string {
	if h < 48 {
		return strconv.FormatFloat(h, 'f', 1, 64) + " h"
	}
	return strconv.FormatFloat(h/24, 'f', 1, 64) + " days"
}
