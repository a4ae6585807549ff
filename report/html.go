package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var htmlSource string

// htmlTemplate is parsed once; html/template escapes every value from the policy
// and the logs for its context. The SVG pieces are built here with xmlEscape on
// every text and passed in as trusted HTML.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"num": func(n any) string {
		switch v := n.(type) {
		case uint64:
			return thousands(v)
		case int:
			if v < 0 {
				return "-" + thousands(uint64(-v))
			}
			return thousands(uint64(v))
		case int64:
			if v < 0 {
				return "-" + thousands(uint64(-v))
			}
			return thousands(uint64(v))
		}
		return fmt.Sprint(n)
	},
	"pct":  func(f float64) string { return fmt.Sprintf("%.1f%%", f) },
	"dur":  Duration,
	"when": readable,
	"whenp": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return readable(*t)
	},
	"peer":   peerWords,
	"port":   portWords,
	"upper":  strings.ToUpper,
	"join":   strings.Join,
	"cap":    capitalize,
	"dash":   orDash,
	"status": func(s string) string { return "st-" + strings.ReplaceAll(s, " ", "-") },
	"graph": func(r *Report) template.HTML {
		var b strings.Builder
		writeGraphSVG(&b, r.Graph, r.Header.Policy)
		return template.HTML(b.String()) // #nosec: every text in it went through xmlEscape
	},
	"weeklyChart":   func(r *Report) template.HTML { return template.HTML(weeklySVG(r.Weekly)) },
	"coverageChart": func(c Coverage) template.HTML { return template.HTML(coverageSVG(c)) },
	"figures":       keyFigures,
	"add":           func(a, b int) int { return a + b },
}).Parse(htmlSource))

// WriteHTML writes the report as one self-contained HTML page: inline CSS, charts
// and the segment graph as inline SVG, no script, font, image or link to fetch, so
// that it opens offline and can be attached to an audit as is.
func (r *Report) WriteHTML(w io.Writer) error {
	var b strings.Builder
	if err := htmlTemplate.Execute(&b, r); err != nil {
		return fmt.Errorf("render HTML report: %w", err)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// figure is one key figure at the top of the HTML report.
type figure struct {
	Value, Label, Tone string // tone: good, warn, bad, neutral
}

func keyFigures(r *Report) []figure {
	tone := func(bad bool, warn bool) string {
		switch {
		case bad:
			return "bad"
		case warn:
			return "warn"
		}
		return "good"
	}
	c := r.Coverage
	noGo := 0
	for _, s := range r.WouldBlock {
		if s.Decision == DecisionNoGo {
			noGo++
		}
	}
	expired, expiring := 0, 0
	for _, a := range r.Allows {
		switch a.ExpiryStatus {
		case ExpiryExpired:
			expired++
		case ExpiryExpiring:
			expiring++
		}
	}
	notMet, attention := 0, 0
	for _, req := range r.PCI.Requirements {
		switch req.Status {
		case StatusNotMet:
			notMet++
		case StatusAttention:
			attention++
		}
	}
	h := r.Header
	figs := []figure{
		{pctText(c.Percent), fmt.Sprintf("of workloads under enforcement (%d of %d)", c.Enforced, c.Workloads), tone(c.Workloads > 0 && c.Enforced == 0, c.Enforced < c.Workloads)},
		{thousands(h.Totals.Violation), "flows let through that the policy denies (violations)", tone(h.Totals.Violation > 0, false)},
		{fmt.Sprintf("%d of %d", noGo, len(r.WouldBlock)), "audit-mode segments not ready to enforce", tone(false, noGo > 0)},
		{thousands(h.Totals.WantedButBlocked), "allowed flows that were blocked (outages)", tone(h.Totals.WantedButBlocked > 0, false)},
		{fmt.Sprint(r.Drift.Open), fmt.Sprintf("drift events still open (of %d in the window)", len(r.Drift.Events)), tone(r.Drift.Open > 0, len(r.Drift.Events) > 0)},
		{fmt.Sprint(expired + expiring), fmt.Sprintf("allows expired (%d) or expiring within 30 days (%d)", expired, expiring), tone(expired > 0, expiring > 0)},
		{fmt.Sprint(notMet), fmt.Sprintf("PCI DSS 1.x requirements not met (%d need attention)", attention), tone(notMet > 0, attention > 0)},
	}
	if !h.HasFlowData {
		figs[1].Tone, figs[3].Tone = "neutral", "neutral"
		figs[1].Label += ": no flow data"
		figs[3].Label += ": no flow data"
	}
	return figs
}

func pctText(f float64) string { return fmt.Sprintf("%.1f%%", f) }

// niceCeiling is the smallest 1, 2 or 5 times a power of ten at or above n.
func niceCeiling(n uint64) uint64 {
	if n <= 1 {
		return 1
	}
	for step := uint64(1); ; step *= 10 {
		for _, m := range []uint64{1, 2, 5} {
			if m*step >= n {
				return m * step
			}
		}
	}
}

// weeklySVG draws violations and would-block flows per ISO week as grouped bars.
func weeklySVG(weeks []Week) string {
	const (
		w, h               = 1150, 260
		left, right        = 64, 16
		top, bottom        = 36, 44
		plotW, plotH       = w - left - right, h - top - bottom
		violation, blocked = "#cf222e", "#e36209"
	)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="violations and would-block flows per week" font-family="%s" font-size="12">`, w, h, w, h, fontStack)
	b.WriteString(`<title>Violations and would-block flows per ISO week</title>`)
	var peak uint64
	for _, wk := range weeks {
		peak = max(peak, wk.Flows.Violation, wk.Flows.WouldBlock)
	}
	ceiling := niceCeiling(peak)
	// Legend.
	fmt.Fprintf(&b, `<rect x="%d" y="10" width="12" height="12" fill="%s"/><text x="%d" y="20" fill="#1f2328">violations</text>`, left, violation, left+18)
	fmt.Fprintf(&b, `<rect x="%d" y="10" width="12" height="12" fill="%s"/><text x="%d" y="20" fill="#1f2328">would be blocked (audit mode)</text>`, left+110, blocked, left+128)
	// Grid and axis labels: five lines from 0 to the ceiling.
	for i := 0; i <= 4; i++ {
		y := top + plotH - plotH*i/4
		val := ceiling * uint64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, left, y, left+plotW, y, map[bool]string{true: "#8c959f", false: "#eaeef2"}[i == 0])
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#57606a">%s</text>`, left-8, y+4, thousands(val))
	}
	if len(weeks) == 0 {
		b.WriteString("</svg>")
		return b.String()
	}
	slot := plotW / len(weeks)
	barW := max(1, min(22, (slot-6)/2))
	labelEvery := 1 + (len(weeks)-1)/20 // at most about 20 labels
	for i, wk := range weeks {
		x0 := left + i*slot + (slot-2*barW)/2
		for j, v := range []struct {
			n     uint64
			color string
			what  string
		}{{wk.Flows.Violation, violation, "violations"}, {wk.Flows.WouldBlock, blocked, "would be blocked"}} {
			bh := int(uint64(plotH) * v.n / ceiling)
			if v.n > 0 && bh < 2 {
				bh = 2 // a non-zero week stays visible
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s: %s %s</title></rect>`,
				x0+j*barW, top+plotH-bh, barW, bh, v.color, wk.ISOWeek, thousands(v.n), v.what)
		}
		if i%labelEvery == 0 {
			cx := left + i*slot + slot/2
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#57606a">%s</text>`, cx, top+plotH+16, xmlEscape(strings.TrimPrefix(wk.ISOWeek[4:], "-")))
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#8c959f" font-size="10">%s</text>`, cx, top+plotH+30, wk.Start.Format("Jan 2"))
		}
	}
	if peak == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#57606a" font-size="14">No violations and nothing that would be blocked in the window.</text>`, left+plotW/2, top+plotH/2)
	}
	b.WriteString("</svg>")
	return b.String()
}

// coverageSVG draws the share of workloads enforced, in audit and uncovered.
func coverageSVG(c Coverage) string {
	const w, h, barH = 1150, 62, 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="segmentation coverage" font-family="%s" font-size="12">`, w, h, w, h, fontStack)
	b.WriteString(`<title>Segmentation coverage: workloads enforced, in audit mode, in no segment</title>`)
	if c.Workloads == 0 {
		fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" rx="4" fill="#eaeef2"/><text x="%d" y="20" text-anchor="middle" fill="#57606a">No workloads in the policy</text></svg>`, w, barH, w/2)
		return b.String()
	}
	parts := []struct {
		n           int
		color, text string
		label       string
	}{
		{c.Enforced, "#1a7f37", "#ffffff", "enforced"},
		{c.Audit, "#e36209", "#ffffff", "audit mode"},
		{c.Uncovered, "#afb8c1", "#1f2328", "in no segment"},
	}
	x := 0
	for i, p := range parts {
		pw := w * p.n / c.Workloads
		if i == len(parts)-1 {
			pw = w - x
		}
		if p.n == 0 {
			continue
		}
		fmt.Fprintf(&b, `<rect x="%d" y="0" width="%d" height="%d" fill="%s"><title>%d %s</title></rect>`, x, pw, barH, p.color, p.n, p.label)
		if pw > 90 {
			fmt.Fprintf(&b, `<text x="%d" y="20" fill="%s" font-weight="600">%d %s</text>`, x+8, p.text, p.n, p.label)
		}
		x += pw
	}
	lx := 0
	for _, p := range parts {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" fill="#1f2328">%s: %d</text>`, lx, barH+16, p.color, lx+18, barH+26, p.label, p.n)
		lx += 170
	}
	b.WriteString("</svg>")
	return b.String()
}
