package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteJSON writes the whole report as indented JSON, the shape report.schema.json
// documents. Times are RFC 3339 in UTC; nothing is omitted, so every field is there
// even when empty (an empty list is [], a missing time null).
func (r *Report) WriteJSON(w io.Writer) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report as JSON: %w", err)
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func rfc3339p(t *time.Time) string {
	if t == nil {
		return ""
	}
	return rfc3339(*t)
}

// readable writes a time as a report reader expects: "2026-03-02 14:05 UTC".
func readable(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

func u64(n uint64) string { return strconv.FormatUint(n, 10) }

// csvCell defuses spreadsheet formulas: a cell that starts with =, +, -, @, tab or
// carriage return and is not a number gets a leading apostrophe, so that a hostile
// owner or description cannot run as a formula when the CSV is opened (OWASP's
// advice on CSV injection). Quoting of commas, quotes and newlines is encoding/csv's.
func csvCell(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	return "'" + s
}

// csvTable is one section of the CSV.
type csvTable struct {
	section string
	columns []string
	rows    [][]string
}

// WriteCSV writes every section as one CSV file, for spreadsheets. The sections
// have different columns, so each row starts with two columns of its own: the
// section's name, and "header" for the row naming that section's columns or the
// row's number (1, 2, ...) within the section. Filter on the first column to get
// one table. A reader must accept a varying number of fields per record (in Go,
// csv.Reader.FieldsPerRecord = -1).
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	for _, t := range r.csvTables() {
		if err := cw.Write(append([]string{t.section, "header"}, t.columns...)); err != nil {
			return fmt.Errorf("write CSV: %w", err)
		}
		for i, row := range t.rows {
			rec := make([]string, 0, len(row)+2)
			rec = append(rec, t.section, strconv.Itoa(i+1))
			for _, cell := range row {
				rec = append(rec, csvCell(cell))
			}
			if err := cw.Write(rec); err != nil {
				return fmt.Errorf("write CSV: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	return nil
}

func countsCells(c ClassCounts) []string {
	return []string{u64(c.Allowed), u64(c.Blocked), u64(c.WouldBlock), u64(c.Violation), u64(c.WantedButBlocked), u64(c.Unknown)}
}

var countsColumns = []string{"allowed", "blocked", "would_block", "violation", "wanted_but_blocked", "unknown"}

func flowCells(e FlowEntry) []string {
	return []string{e.Target, e.Src, e.Dst, e.Protocol, strconv.Itoa(int(e.Port)), e.Allow, e.Service,
		u64(e.Flows), u64(e.Bytes), u64(e.Packets), strconv.Itoa(e.Days), rfc3339(e.First), rfc3339(e.Last), e.SampleSrc, e.SampleDst}
}

var flowColumns = []string{"target", "src", "dst", "protocol", "port", "allow", "service", "flows", "bytes", "packets", "days", "first", "last", "sample_src", "sample_dst"}

func (r *Report) csvTables() []csvTable {
	h := r.Header
	tables := []csvTable{}
	summary := csvTable{section: "summary", columns: []string{"text"}}
	for _, s := range r.Summary {
		summary.rows = append(summary.rows, []string{s})
	}
	header := csvTable{section: "header", columns: []string{"field", "value"}, rows: [][]string{
		{"policy", h.Policy}, {"generated", rfc3339(h.Generated)}, {"window_start", rfc3339(h.WindowStart)}, {"window_end", rfc3339(h.WindowEnd)},
		{"flows_read", strconv.Itoa(h.FlowsRead)}, {"malformed", strconv.Itoa(h.Malformed)}, {"no_data", strconv.Itoa(h.NoData)}, {"skip_data", strconv.Itoa(h.SkipData)},
		{"segments", strconv.Itoa(h.Segments)}, {"allows", strconv.Itoa(h.AllowsCount)}, {"targets", strings.Join(h.Targets, " ")},
		{"has_flow_data", strconv.FormatBool(h.HasFlowData)},
	}}
	for i, c := range countsCells(h.Totals) {
		header.rows = append(header.rows, []string{"totals." + countsColumns[i], c})
	}
	runs := csvTable{section: "audit_runs", columns: []string{"id", "target", "source", "policy_hash", "started", "window_start", "window_end", "records", "malformed"}}
	for _, run := range h.AuditRuns {
		runs.rows = append(runs.rows, []string{run.ID, run.Target, run.Source, run.PolicyHash, rfc3339(run.Started), rfc3339(run.WindowStart), rfc3339(run.WindowEnd), strconv.Itoa(run.Records), strconv.Itoa(run.Malformed)})
	}
	covTotals := csvTable{section: "coverage_totals", columns: []string{"target", "kind", "unit", "workloads", "enforced", "audit", "uncovered", "percent"}}
	cov := csvTable{section: "coverage", columns: []string{"target", "kind", "unit", "workload", "state", "segments"}}
	for _, t := range r.Coverage.Targets {
		covTotals.rows = append(covTotals.rows, []string{t.Target, t.Kind, t.Unit, strconv.Itoa(t.Workloads), strconv.Itoa(t.Enforced), strconv.Itoa(t.Audit), strconv.Itoa(t.Uncovered), strconv.FormatFloat(t.Percent, 'f', 1, 64)})
		for _, it := range t.Items {
			cov.rows = append(cov.rows, []string{t.Target, t.Kind, t.Unit, it.Name, it.State, strings.Join(it.Segments, " ")})
		}
	}
	c := r.Coverage
	covTotals.rows = append(covTotals.rows, []string{"(all)", "", "", strconv.Itoa(c.Workloads), strconv.Itoa(c.Enforced), strconv.Itoa(c.Audit), strconv.Itoa(c.Uncovered), strconv.FormatFloat(c.Percent, 'f', 1, 64)})
	weekly := csvTable{section: "weekly", columns: append([]string{"iso_week", "start"}, countsColumns...)}
	for _, wk := range r.Weekly {
		weekly.rows = append(weekly.rows, append([]string{wk.ISOWeek, rfc3339(wk.Start)}, countsCells(wk.Flows)...))
	}
	wb := csvTable{section: "would_block", columns: []string{"segment", "target", "decision", "reason", "direction", "peer", "protocol", "port", "flows", "bytes", "first", "last", "sample_src", "sample_dst", "suggestion"}}
	for _, s := range r.WouldBlock {
		if len(s.Items) == 0 {
			wb.rows = append(wb.rows, []string{s.Segment, s.Target, s.Decision, s.Reason, "", "", "", "", "0", "0", "", "", "", "", ""})
		}
		for _, it := range s.Items {
			wb.rows = append(wb.rows, []string{s.Segment, s.Target, s.Decision, s.Reason, it.Direction, it.Peer, it.Protocol, strconv.Itoa(int(it.Port)),
				u64(it.Flows), u64(it.Bytes), rfc3339(it.First), rfc3339(it.Last), it.SampleSrc, it.SampleDst, it.Suggestion})
		}
	}
	viol := csvTable{section: "violations", columns: flowColumns}
	for _, e := range r.Violations {
		viol.rows = append(viol.rows, flowCells(e))
	}
	out := csvTable{section: "outages", columns: flowColumns}
	for _, e := range r.Outages {
		out.rows = append(out.rows, flowCells(e))
	}
	drift := csvTable{section: "drift", columns: []string{"id", "target", "detected", "remediated", "open", "seconds", "changes", "summary"}}
	for _, e := range r.Drift.Events {
		drift.rows = append(drift.rows, []string{e.ID, e.Target, rfc3339(e.Detected), rfc3339p(e.Remediated), strconv.FormatBool(e.Open), strconv.FormatInt(e.Seconds, 10), strconv.Itoa(e.Changes), e.Summary})
	}
	findings := csvTable{section: "findings", columns: []string{"target", "subject", "message", "first_seen", "last_seen"}}
	for _, f := range r.Findings {
		findings.rows = append(findings.rows, []string{f.Target, f.Subject, f.Message, rfc3339(f.FirstSeen), rfc3339(f.LastSeen)})
	}
	upd := csvTable{section: "policy_updates", columns: []string{"policy_hash", "target", "submitted", "enforced", "seconds", "pending"}}
	for _, ro := range r.PolicyUpdates.Rollouts {
		upd.rows = append(upd.rows, []string{ro.PolicyHash, "(all)", rfc3339(ro.Submitted), rfc3339p(ro.Enforced), strconv.FormatInt(ro.Seconds, 10), strconv.FormatBool(ro.Pending)})
		for _, t := range ro.Targets {
			upd.rows = append(upd.rows, []string{ro.PolicyHash, t.Target, rfc3339(t.Submitted), rfc3339p(t.Enforced), strconv.FormatInt(t.Seconds, 10), strconv.FormatBool(t.Enforced == nil)})
		}
	}
	blast := csvTable{section: "blast_radius", columns: []string{"segment", "cde", "segments", "networks", "max_hops", "reached"}}
	for _, e := range r.BlastRadius {
		blast.rows = append(blast.rows, []string{e.Segment, strconv.FormatBool(e.CDE), strconv.Itoa(e.Segments), strconv.Itoa(e.Networks), strconv.Itoa(e.MaxHops), strings.Join(e.Reached, " ")})
	}
	allows := csvTable{section: "allows", columns: []string{"name", "from", "to", "services", "ports", "owner", "ticket", "description", "source", "expires", "expiry_status", "days_to_expiry", "observed_flows", "unused"}}
	for _, a := range r.Allows {
		allows.rows = append(allows.rows, []string{a.Name, strings.Join(a.From, " "), strings.Join(a.To, " "), strings.Join(a.Services, " "), strings.Join(a.Ports, " "),
			a.Owner, a.Ticket, a.Description, a.Source, a.Expires, a.ExpiryStatus, strconv.Itoa(a.DaysToExpiry), u64(a.ObservedFlows), strconv.FormatBool(a.Unused)})
	}
	nodes := csvTable{section: "graph_nodes", columns: []string{"id", "kind", "name", "target", "target_kind", "mode", "cde", "untrusted", "layer", "order"}}
	for _, n := range r.Graph.Nodes {
		nodes.rows = append(nodes.rows, []string{n.ID, n.Kind, n.Name, n.Target, n.TargetKind, n.Mode, strconv.FormatBool(n.CDE), strconv.FormatBool(n.Untrusted), strconv.Itoa(n.Layer), strconv.Itoa(n.Order)})
	}
	edges := csvTable{section: "graph_edges", columns: append([]string{"from", "to", "kind", "policy", "allows", "ports", "flags"}, countsColumns...)}
	for _, e := range r.Graph.Edges {
		edges.rows = append(edges.rows, append([]string{e.From, e.To, e.Kind, strconv.FormatBool(e.Policy), strings.Join(e.Allows, " "), strings.Join(e.Ports, " "), strings.Join(e.Flags, " ")}, countsCells(e.Observed)...))
	}
	pci := csvTable{section: "pci", columns: []string{"id", "title", "status", "evidence"}}
	for _, req := range r.PCI.Requirements {
		pci.rows = append(pci.rows, []string{req.ID, req.Title, req.Status, strings.Join(req.Evidence, "\n")})
	}
	return append(tables, summary, header, runs, covTotals, cov, weekly, wb, viol, out, drift, findings, upd, blast, allows, nodes, edges, pci)
}

// mdEscaper makes text safe in a Markdown table cell: no raw HTML, no emphasis or
// links by accident, no column break, no line break.
var mdEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", "|", `\|`, `\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`,
	"[", `\[`, "]", `\]`, "#", `\#`, "\r\n", " ", "\n", " ", "\r", " ",
)

func md(s string) string { return mdEscaper.Replace(s) }

func mdTable(b *strings.Builder, columns []string, rows [][]string) {
	if len(rows) == 0 {
		b.WriteString("_None._\n\n")
		return
	}
	b.WriteString("|")
	for _, c := range columns {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n|")
	for range columns {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, row := range rows {
		b.WriteString("|")
		for _, cell := range row {
			b.WriteString(" " + md(cell) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteMarkdown writes the report as Markdown: the summary, then one table per
// section, for a pull request, a wiki or a ticket. Every value from the policy or
// the logs is escaped, so it renders as text.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	h := r.Header
	title := "Segmentation compliance report"
	if h.Policy != "" {
		title += ": " + md(h.Policy)
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "Window %s to %s. Generated %s.\n\n", readable(h.WindowStart), readable(h.WindowEnd), readable(h.Generated))
	b.WriteString("## Summary\n\n")
	for _, s := range r.Summary {
		b.WriteString("- " + md(s) + "\n")
	}
	b.WriteString("\n")

	b.WriteString("## Flows in the window\n\n")
	mdTable(&b, []string{"allowed", "blocked", "would block", "violations", "allowed but blocked", "unknown", "flows read", "malformed"},
		[][]string{append(countsCells(h.Totals), strconv.Itoa(h.FlowsRead), strconv.Itoa(h.Malformed))})
	var runs [][]string
	for _, run := range h.AuditRuns {
		window := readable(run.WindowStart) + " to " + readable(run.WindowEnd)
		if run.WindowStart.Equal(run.WindowEnd) { // a source that held no flow: a quiet day
			window = "no flows (read " + readable(run.WindowStart) + ")"
		}
		runs = append(runs, []string{run.ID, run.Target, run.Source, window, strconv.Itoa(run.Records), strconv.Itoa(run.Malformed)})
	}
	b.WriteString("Audit runs read:\n\n")
	mdTable(&b, []string{"run", "target", "source", "window", "records", "malformed"}, runs)

	c := r.Coverage
	fmt.Fprintf(&b, "## Coverage\n\n%.1f%% of workloads are under enforcement (%d of %d; %d audit, %d in no segment).\n\n", c.Percent, c.Enforced, c.Workloads, c.Audit, c.Uncovered)
	var cov [][]string
	for _, t := range c.Targets {
		var items []string
		for _, it := range t.Items {
			items = append(items, it.Name+" ("+it.State+")")
		}
		cov = append(cov, []string{t.Target, t.Kind, fmt.Sprintf("%d of %d %ss", t.Enforced, t.Workloads, t.Unit), strconv.FormatFloat(t.Percent, 'f', 1, 64) + "%", strings.Join(items, ", ")})
	}
	mdTable(&b, []string{"target", "kind", "enforced", "coverage", "workloads"}, cov)

	b.WriteString("## Flows per week\n\n")
	var weeks [][]string
	for _, wk := range r.Weekly {
		weeks = append(weeks, append([]string{wk.ISOWeek, wk.Start.Format(time.DateOnly)}, countsCells(wk.Flows)[:5]...))
	}
	mdTable(&b, []string{"week", "from", "allowed", "blocked", "would block", "violations", "allowed but blocked"}, weeks)

	b.WriteString("## Enforcement readiness (audit-mode segments)\n\n")
	if len(r.WouldBlock) == 0 {
		b.WriteString("_No segment is in audit mode._\n\n")
	}
	for _, s := range r.WouldBlock {
		fmt.Fprintf(&b, "### %s: %s\n\n%s.\n\n", md(s.Segment), strings.ToUpper(s.Decision), md(capitalize(s.Reason)))
		if len(s.Items) > 0 {
			var rows [][]string
			for _, it := range s.Items {
				rows = append(rows, []string{it.Direction, peerWords(it.Peer), portWords(it.Protocol, it.Port), u64(it.Flows), u64(it.Bytes), readable(it.First), readable(it.Last), it.SampleSrc + " -> " + it.SampleDst, it.Suggestion})
			}
			mdTable(&b, []string{"direction", "peer", "port", "flows", "bytes", "first", "last", "sample", "to do"}, rows)
		}
	}

	for _, sec := range []struct {
		title, intro string
		entries      []FlowEntry
	}{
		{"Violations", "Flows that got through although the policy denies them.", r.Violations},
		{"Outages", "Flows the policy allows that were blocked.", r.Outages},
	} {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", sec.title, sec.intro)
		var rows [][]string
		for _, e := range sec.entries {
			rows = append(rows, []string{e.Target, peerWords(e.Src), peerWords(e.Dst), portWords(e.Protocol, e.Port), orDash(e.Allow), u64(e.Flows), strconv.Itoa(e.Days), readable(e.First), readable(e.Last), e.SampleSrc + " -> " + e.SampleDst})
		}
		mdTable(&b, []string{"target", "from", "to", "port", "allow", "flows", "days", "first", "last", "sample"}, rows)
	}

	d := r.Drift
	fmt.Fprintf(&b, "## Drift\n\n%d events, %d repaired (median %s, longest %s), %d open.\n\n", len(d.Events), d.Remediated, Duration(d.MedianSeconds), Duration(d.MaxSeconds), d.Open)
	var drift [][]string
	for _, e := range d.Events {
		state := "repaired in " + Duration(e.Seconds)
		if e.Open {
			state = "OPEN for " + Duration(e.Seconds)
		}
		drift = append(drift, []string{readable(e.Detected), e.Target, e.Summary, strconv.Itoa(e.Changes), state})
	}
	mdTable(&b, []string{"detected", "target", "summary", "changes", "state"}, drift)

	fmt.Fprintf(&b, "## Findings\n\nWhat targets keep by design but an operator should know (not drift): %d.\n\n", len(r.Findings))
	var findings [][]string
	for _, f := range r.Findings {
		findings = append(findings, []string{f.Target, f.Subject, f.Message, readable(f.FirstSeen), readable(f.LastSeen)})
	}
	mdTable(&b, []string{"target", "subject", "finding", "first seen", "last seen"}, findings)

	u := r.PolicyUpdates
	fmt.Fprintf(&b, "## Policy updates\n\n%d changes, %d enforced everywhere (median %s, longest %s), %d pending.\n\n", len(u.Rollouts), u.Complete, Duration(u.MedianSeconds), Duration(u.MaxSeconds), u.Pending)
	var upd [][]string
	for _, ro := range u.Rollouts {
		var targets []string
		for _, t := range ro.Targets {
			targets = append(targets, t.Target)
		}
		state := "enforced everywhere in " + Duration(ro.Seconds)
		if ro.Pending {
			state = "pending for " + Duration(ro.Seconds)
		}
		upd = append(upd, []string{ro.PolicyHash, readable(ro.Submitted), strings.Join(targets, ", "), state})
	}
	mdTable(&b, []string{"policy", "submitted", "targets", "state"}, upd)

	b.WriteString("## Blast radius\n\nWhat a compromised member of each segment can reach through the allows, directly or in several hops.\n\n")
	var blast [][]string
	for _, e := range r.BlastRadius {
		blast = append(blast, []string{e.Segment, strconv.FormatBool(e.CDE), strconv.Itoa(e.Segments), strconv.Itoa(e.Networks), strconv.Itoa(e.MaxHops), strings.Join(e.Reached, ", ")})
	}
	mdTable(&b, []string{"segment", "PCI", "segments", "networks", "max hops", "reached"}, blast)

	b.WriteString("## Allows\n\n")
	var allows [][]string
	for _, a := range r.Allows {
		expiry := a.ExpiryStatus
		if a.Expires != "" {
			expiry = a.Expires + " (" + a.ExpiryStatus + ")"
		}
		used := u64(a.ObservedFlows)
		if a.Unused {
			used += " (unused)"
		}
		allows = append(allows, []string{a.Name, strings.Join(a.From, ", "), strings.Join(a.To, ", "), strings.Join(a.Ports, ", "), orDash(a.Owner), orDash(a.Ticket), expiry, used, a.Description})
	}
	mdTable(&b, []string{"allow", "from", "to", "ports", "owner", "ticket", "expires", "flows", "description"}, allows)

	b.WriteString("## Segment graph\n\nThe HTML report and `microseg graph` draw it; its connections:\n\n")
	var edges [][]string
	for _, e := range r.Graph.Edges {
		edges = append(edges, []string{e.From, e.To, e.Kind, strings.Join(e.Allows, ", "), strings.Join(e.Ports, ", "), u64(e.Observed.Total())})
	}
	mdTable(&b, []string{"from", "to", "drawn as", "allows", "ports", "observed flows"}, edges)

	fmt.Fprintf(&b, "## %s\n\n", md(r.PCI.Standard))
	fmt.Fprintf(&b, "Cardholder data environment: %s. Untrusted networks: %s.\n\n", md(orDash(strings.Join(r.PCI.CDESegments, ", "))), md(orDash(strings.Join(r.PCI.UntrustedNetworks, ", "))))
	var pci [][]string
	for _, req := range r.PCI.Requirements {
		pci = append(pci, []string{req.ID, req.Title, strings.ToUpper(req.Status), strings.Join(req.Evidence, " ")})
	}
	mdTable(&b, []string{"requirement", "what it asks", "status", "evidence"}, pci)
	b.WriteString("Not covered by this report: " + md(r.PCI.NotCovered) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
