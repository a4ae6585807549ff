package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// xmlEscaper escapes text for SVG and XML attribute values and content alike.
var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }

const fontStack = `system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif`

// legendItem is one entry of the graph's legend.
type legendItem struct {
	edgeKind string // a line of that kind's colour, or "" for a box
	dashed   bool
	box      string // for boxes: "enforce", "audit", "cde", "network", "untrusted"
	label    string
}

func legendItems() []legendItem {
	var items []legendItem
	for _, l := range edgeLegend {
		items = append(items, legendItem{edgeKind: l.kind, label: l.label})
	}
	return append(items,
		legendItem{edgeKind: EdgeObserved, dashed: true, label: "observed, not in policy"},
		legendItem{box: "enforce", label: "segment, enforced"},
		legendItem{box: "audit", label: "segment, audit mode"},
		legendItem{box: "cde", label: "PCI (cardholder data)"},
		legendItem{box: "untrusted", label: "untrusted network"},
		legendItem{box: "network", label: "network"},
	)
}

const legendItemW = 178

// legendRows is how many rows the legend takes at a width.
func legendRows(width int) int {
	per := max(1, (width-2*marginX)/legendItemW)
	return (len(legendItems()) + per - 1) / per
}

// WriteSVG draws the segment graph as a standalone SVG document.
func (r *Report) WriteSVG(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	writeGraphSVG(&b, r.Graph, r.Header.Policy)
	_, err := io.WriteString(w, b.String())
	return err
}

// edgeDrawOrder puts the most serious kinds last, so that they are drawn on top.
var edgeDrawOrder = []string{EdgeAllow, EdgeBlocked, EdgeObserved, EdgeWouldBlock, EdgeOutage, EdgeViolation}

func writeGraphSVG(b *strings.Builder, g Graph, title string) {
	height := g.Height
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="segment graph" font-family="%s">`+"\n",
		g.Width, height, g.Width, height, fontStack)
	name := "segment graph"
	if title != "" {
		name = "segment graph of " + title
	}
	fmt.Fprintf(b, "<title>%s</title>\n", xmlEscape(name))
	b.WriteString("<defs>\n")
	for _, kind := range edgeDrawOrder {
		fmt.Fprintf(b, `<marker id="ms-arrow-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,1 L10,5 L0,9 z" fill="%s"/></marker>`+"\n", kind, edgeColors[kind])
	}
	b.WriteString("</defs>\n")
	fmt.Fprintf(b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", g.Width, height)

	nodeByID := make(map[string]GraphNode, len(g.Nodes))
	for _, n := range g.Nodes {
		nodeByID[n.ID] = n
	}
	// Edges first, so boxes sit on top of their ends; the serious kinds last.
	b.WriteString(`<g class="edges" fill="none">` + "\n")
	for _, kind := range edgeDrawOrder {
		for _, e := range g.Edges {
			if e.Kind != kind || len(e.Points) < 2 {
				continue
			}
			width := "2.5"
			if kind == EdgeAllow {
				width = "1.5"
			}
			dash := ""
			if !e.Policy {
				dash = ` stroke-dasharray="6 4"`
			}
			fmt.Fprintf(b, `<path d="%s" stroke="%s" stroke-width="%s"%s marker-end="url(#ms-arrow-%s)"><title>%s</title></path>`+"\n",
				pathData(e), edgeColors[kind], width, dash, kind, xmlEscape(edgeTooltip(e)))
		}
	}
	b.WriteString("</g>\n")

	b.WriteString(`<g class="nodes">` + "\n")
	for _, n := range g.Nodes {
		writeNodeSVG(b, n)
	}
	b.WriteString("</g>\n")
	writeLegendSVG(b, g)
	b.WriteString("</svg>\n")
}

// pathData joins the route's points with curves that leave and enter horizontally;
// the straight runs through a column (two points at one height) are lines.
func pathData(e GraphEdge) string {
	p := e.Points
	var d strings.Builder
	fmt.Fprintf(&d, "M%d,%d", p[0][0], p[0][1])
	if e.From == e.To && len(p) == 3 {
		fmt.Fprintf(&d, " C%d,%d %d,%d %d,%d", p[0][0]-14, p[0][1]-34, p[2][0]+14, p[2][1]-34, p[2][0], p[2][1])
		return d.String()
	}
	for i := 1; i < len(p); i++ {
		a, c := p[i-1], p[i]
		if a[1] == c[1] {
			fmt.Fprintf(&d, " L%d,%d", c[0], c[1])
			continue
		}
		dx := (c[0] - a[0]) / 2
		fmt.Fprintf(&d, " C%d,%d %d,%d %d,%d", a[0]+dx, a[1], c[0]-dx, c[1], c[0], c[1])
	}
	return d.String()
}

// edgeTooltip says in words what an edge carries.
func edgeTooltip(e GraphEdge) string {
	var parts []string
	if e.Policy {
		parts = append(parts, fmt.Sprintf("allowed by %s on %s", strings.Join(e.Allows, ", "), strings.Join(e.Ports, ", ")))
	} else {
		parts = append(parts, "not allowed by the policy")
	}
	o := e.Observed
	var seen []string
	for _, c := range []struct {
		n    uint64
		what string
	}{{o.Allowed, "allowed"}, {o.Blocked, "blocked"}, {o.WouldBlock, "would be blocked"}, {o.Violation, "violations"}, {o.WantedButBlocked, "allowed but blocked"}} {
		if c.n > 0 {
			seen = append(seen, thousands(c.n)+" "+c.what)
		}
	}
	if len(seen) > 0 {
		parts = append(parts, "observed flows: "+strings.Join(seen, ", "))
	}
	return e.From + " → " + e.To + ": " + strings.Join(parts, "; ")
}

func nodeTooltip(n GraphNode) string {
	switch n.Kind {
	case "segment":
		s := fmt.Sprintf("%s: segment in %s target %s, %s mode", n.ID, n.TargetKind, n.Target, n.Mode)
		if n.CDE {
			s += ", in the cardholder data environment"
		}
		return s
	case "network":
		if n.Untrusted {
			return n.ID + ": untrusted network (public address space)"
		}
		return n.ID + ": network"
	default:
		return "addresses in no segment or network"
	}
}

// nodeStyle gives a box's fill, stroke, dash and corner radius.
func nodeStyle(n GraphNode) (fill, stroke, dash string, rx int) {
	switch {
	case n.Kind == "network" && n.Untrusted:
		return "#ffebe9", "#cf222e", "", n.H / 2
	case n.Kind == "network":
		return "#f6f8fa", "#8c959f", "", n.H / 2
	case n.Kind == "unknown":
		return "#ffffff", "#8c959f", "4 3", 6
	case n.Mode == "audit":
		return "#fff4e5", "#e36209", "5 3", 6
	default:
		return "#ffffff", "#24292f", "", 6
	}
}

func writeNodeSVG(b *strings.Builder, n GraphNode) {
	fill, stroke, dash, rx := nodeStyle(n)
	if dash != "" {
		dash = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	fmt.Fprintf(b, `<g class="node"><title>%s</title>`, xmlEscape(nodeTooltip(n)))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" rx="%d" fill="%s" stroke="%s" stroke-width="1.5"%s/>`, n.X, n.Y, n.W, n.H, rx, fill, stroke, dash)
	if n.CDE {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="6" height="%d" rx="2" fill="#8250df"/>`, n.X+2, n.Y+4, n.H-8)
	}
	cx := n.X + n.W/2
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" font-size="13" font-weight="600" fill="#1f2328">%s</text>`, cx, n.Y+19, xmlEscape(shorten(n.Name)))
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" font-size="11" fill="#57606a">%s</text>`, cx, n.Y+35, xmlEscape(nodeSubtitle(n)))
	b.WriteString("</g>\n")
}

func writeLegendSVG(b *strings.Builder, g Graph) {
	items := legendItems()
	per := max(1, (g.Width-2*marginX)/legendItemW)
	top := g.Height - legendHeightFor(g.Width) + 8
	fmt.Fprintf(b, `<g class="legend" font-size="12" fill="#1f2328"><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#d0d7de"/>`+"\n", marginX, top-4, g.Width-marginX, top-4)
	for i, it := range items {
		x := marginX + (i%per)*legendItemW
		y := top + 10 + (i/per)*22
		switch {
		case it.edgeKind != "":
			dash := ""
			if it.dashed {
				dash = ` stroke-dasharray="6 4"`
			}
			width := "2.5"
			if it.edgeKind == EdgeAllow {
				width = "1.5"
			}
			fmt.Fprintf(b, `<path d="M%d,%d L%d,%d" stroke="%s" stroke-width="%s"%s marker-end="url(#ms-arrow-%s)"/>`, x, y, x+30, y, edgeColors[it.edgeKind], width, dash, it.edgeKind)
		default:
			n := GraphNode{Kind: "segment", Mode: "enforce", H: 14}
			switch it.box {
			case "audit":
				n.Mode = "audit"
			case "network":
				n.Kind = "network"
			case "untrusted":
				n.Kind, n.Untrusted = "network", true
			}
			fill, stroke, dash, rx := nodeStyle(n)
			if dash != "" {
				dash = fmt.Sprintf(` stroke-dasharray="%s"`, "3 2")
			}
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="30" height="14" rx="%d" fill="%s" stroke="%s" stroke-width="1.2"%s/>`, x, y-7, min(rx, 7), fill, stroke, dash)
			if it.box == "cde" {
				fmt.Fprintf(b, `<rect x="%d" y="%d" width="5" height="10" rx="1" fill="#8250df"/>`, x+2, y-5)
			}
		}
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", x+38, y+4, xmlEscape(it.label))
	}
	b.WriteString("</g>\n")
}

func legendHeightFor(width int) int { return 20 + legendRows(width)*22 }

// dotEscape quotes a string for a DOT ID or attribute: backslashes and quotes
// escaped, newlines as the \n escape Graphviz reads in labels.
func dotEscape(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", `\n`).Replace(s)
	return `"` + s + `"`
}

// WriteDOT writes the segment graph for Graphviz (`dot -Tsvg`): nodes styled as in
// the SVG, the same columns as rank=same groups, and edges coloured by kind with
// their details as tooltips. Every ID is quoted.
func (r *Report) WriteDOT(w io.Writer) error {
	g := r.Graph
	var b strings.Builder
	name := "microseg"
	if r.Header.Policy != "" {
		name = r.Header.Policy
	}
	fmt.Fprintf(&b, "digraph %s {\n", dotEscape(name))
	b.WriteString("  graph [rankdir=LR, nodesep=0.35, ranksep=1.1, fontname=\"Helvetica\"];\n")
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=9, arrowsize=0.7];\n")
	for _, n := range g.Nodes {
		fill, stroke, dash, _ := nodeStyle(n)
		style := "rounded,filled"
		if dash != "" {
			style += ",dashed"
		}
		penwidth := "1.2"
		if n.CDE {
			penwidth = "2.5"
			stroke = "#8250df"
		}
		fmt.Fprintf(&b, "  %s [label=%s, fillcolor=%s, color=%s, style=%s, penwidth=%s, tooltip=%s];\n",
			dotEscape(n.ID), dotEscape(n.Name+"\n"+nodeSubtitle(n)), dotEscape(fill), dotEscape(stroke), dotEscape(style), penwidth, dotEscape(nodeTooltip(n)))
	}
	layers := map[int][]string{}
	for _, n := range g.Nodes {
		layers[n.Layer] = append(layers[n.Layer], n.ID)
	}
	keys := make([]int, 0, len(layers))
	for l := range layers {
		keys = append(keys, l)
	}
	slices.Sort(keys)
	for _, l := range keys {
		ids := make([]string, len(layers[l]))
		for i, id := range layers[l] {
			ids[i] = dotEscape(id)
		}
		fmt.Fprintf(&b, "  { rank=same; %s; }\n", strings.Join(ids, "; "))
	}
	for _, e := range g.Edges {
		attrs := []string{"color=" + dotEscape(edgeColors[e.Kind])}
		if e.Kind == EdgeAllow {
			attrs = append(attrs, "penwidth=1.2")
		} else {
			attrs = append(attrs, "penwidth=2.2")
		}
		if !e.Policy {
			attrs = append(attrs, `style="dashed"`)
		}
		if len(e.Ports) > 0 {
			attrs = append(attrs, "label="+dotEscape(strings.Join(e.Ports, ", ")))
		}
		attrs = append(attrs, "tooltip="+dotEscape(edgeTooltip(e)))
		fmt.Fprintf(&b, "  %s -> %s [%s];\n", dotEscape(e.From), dotEscape(e.To), strings.Join(attrs, ", "))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
