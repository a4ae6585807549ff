package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/internal/golden"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/verdict"
	"github.com/microseg/microseg/report"
	"github.com/microseg/microseg/report/reporttest"
)

func threeTier(t *testing.T) *model.Policy {
	t.Helper()
	l, diags := hclload.LoadDir("../examples/three-tier")
	if diags.HasErrors() {
		t.Fatalf("load example: %v", diags)
	}
	return l.Policy
}

// renderers are every output format, by golden file extension.
var renderers = []struct {
	ext   string
	write func(*report.Report, io.Writer) error
}{
	{"json", (*report.Report).WriteJSON},
	{"csv", (*report.Report).WriteCSV},
	{"md", (*report.Report).WriteMarkdown},
	{"html", (*report.Report).WriteHTML},
	{"svg", (*report.Report).WriteSVG},
	{"dot", (*report.Report).WriteDOT},
}

func render(t *testing.T, r *report.Report, write func(*report.Report, io.Writer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := write(r, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGoldenThreeTier(t *testing.T) {
	r := report.Build(threeTier(t), reporttest.ThreeTier())
	for _, f := range renderers {
		t.Run(f.ext, func(t *testing.T) {
			golden.Check(t, "three-tier."+f.ext, render(t, r, f.write))
		})
	}
}

func TestGoldenEmpty(t *testing.T) {
	in := reporttest.ThreeTier()
	in.Runs, in.Drift, in.Updates = nil, nil, nil
	r := report.Build(threeTier(t), in)
	for _, f := range renderers {
		t.Run(f.ext, func(t *testing.T) {
			golden.Check(t, "empty."+f.ext, render(t, r, f.write))
		})
	}
	if r.Header.HasFlowData || len(r.Violations) != 0 || len(r.Weekly) != 9 {
		t.Errorf("empty inputs: has_flow_data %v, %d violations, %d weeks; want false, 0, 9", r.Header.HasFlowData, len(r.Violations), len(r.Weekly))
	}
	for _, a := range r.Allows {
		if a.Unused {
			t.Errorf("allow %s marked unused without any flow data", a.Name)
		}
	}
	if !strings.Contains(r.Summary[0], "No flow logs were read") {
		t.Errorf("summary does not say there is no flow data: %q", r.Summary[0])
	}
	// An empty policy renders too.
	empty := report.Build(model.NewPolicy(), report.Inputs{Now: reporttest.Now})
	for _, f := range renderers {
		render(t, empty, f.write)
	}
}

// TestDeterministic builds twice, the second time from inputs in another order, and
// wants every format byte-identical.
func TestDeterministic(t *testing.T) {
	p := threeTier(t)
	first := report.Build(p, reporttest.ThreeTier())
	in := reporttest.ThreeTier()
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(in.Runs), func(i, j int) { in.Runs[i], in.Runs[j] = in.Runs[j], in.Runs[i] })
	for _, run := range in.Runs {
		rng.Shuffle(len(run.Rows), func(i, j int) { run.Rows[i], run.Rows[j] = run.Rows[j], run.Rows[i] })
	}
	slices.Reverse(in.Drift)
	slices.Reverse(in.Updates)
	second := report.Build(p, in)
	for _, f := range renderers {
		if a, b := render(t, first, f.write), render(t, second, f.write); !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds of the same inputs", f.ext)
		}
	}
}

func TestHostileNamesAreEscaped(t *testing.T) {
	p, in := reporttest.Hostile()
	r := report.Build(p, in)
	html := string(render(t, r, (*report.Report).WriteHTML))
	for _, raw := range []string{"<script>alert", "<img src=x", "</td></tr><img", "<b>bold</b>", `<policy "x"`, "<run>"} {
		if strings.Contains(html, raw) {
			t.Errorf("HTML contains unescaped %q", raw)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("HTML does not show the hostile segment name as text")
	}
	if strings.Contains(strings.ToLower(html), "<script") {
		t.Error("HTML contains a script element")
	}

	svg := render(t, r, (*report.Report).WriteSVG)
	if bytes.Contains(svg, []byte("<script")) {
		t.Error("SVG contains a script element")
	}
	if err := wellFormed(svg); err != nil {
		t.Errorf("SVG is not well-formed XML: %v", err)
	}
	// The HTML's inline SVG is the same drawing, so it must be well-formed too.
	start, end := strings.Index(html, `<svg xmlns="http://www.w3.org/2000/svg" class="graph"`), strings.LastIndex(html, "</svg>")
	if start < 0 || end < start {
		t.Fatal("no graph SVG in the HTML")
	}
	if err := wellFormed([]byte(html[start : strings.Index(html[start:], "</svg>")+start+6])); err != nil {
		t.Errorf("inline graph SVG is not well-formed: %v", err)
	}

	dot := string(render(t, r, (*report.Report).WriteDOT))
	if !strings.Contains(dot, `"segment.<script>alert(1)</script>" [label="<script>alert(1)</script>\n`) {
		t.Errorf("DOT does not quote the hostile node:\n%s", dot)
	}
	if !strings.Contains(dot, `digraph "<policy \"x\" & y>" {`) {
		t.Errorf("DOT does not escape quotes in the graph name:\n%s", dot)
	}
	for i, line := range strings.Split(dot, "\n") {
		if strings.Count(strings.ReplaceAll(line, `\"`, ""), `"`)%2 != 0 {
			t.Errorf("DOT line %d has an unbalanced quote: %s", i+1, line)
		}
	}

	rd := csv.NewReader(bytes.NewReader(render(t, r, (*report.Report).WriteCSV)))
	rd.FieldsPerRecord = -1
	records, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	var sawOwner, sawTicket, sawDescription bool
	for _, rec := range records {
		if rec[0] != "allows" || rec[1] == "header" {
			continue
		}
		sawOwner = rec[7] == "<script>alert('owner')</script>"
		sawTicket = rec[8] == `'=HYPERLINK("http://x","&")`
		sawDescription = rec[9] == p.Allows[`a"&'<x>`].Description
	}
	if !sawOwner || !sawTicket || !sawDescription {
		t.Errorf("CSV allows row does not carry owner, defused ticket and description intact (%v %v %v)", sawOwner, sawTicket, sawDescription)
	}

	md := string(render(t, r, (*report.Report).WriteMarkdown))
	if strings.Contains(md, "<script") || strings.Contains(md, "<img") {
		t.Error("Markdown contains raw HTML")
	}
	rows := 0
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, `| a"`) {
			rows++
			if strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") != 10 {
				t.Errorf("Markdown allows row breaks the table: %s", line)
			}
		}
	}
	if rows != 1 {
		t.Errorf("Markdown has %d rows for the hostile allow, want 1", rows)
	}
}

func wellFormed(doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		if _, err := d.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// TestSchemaMatchesJSON walks the JSON of a full report beside report.schema.json:
// every object must have exactly the properties its schema declares, and every
// definition of the schema must be met at least once, so the schema stays true.
func TestSchemaMatchesJSON(t *testing.T) {
	raw, err := os.ReadFile("report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("report.schema.json: %v", err)
	}
	if schema["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema is %v, want draft 2020-12", schema["$schema"])
	}
	var doc any
	if err := json.Unmarshal(render(t, report.Build(threeTier(t), reporttest.ThreeTier()), (*report.Report).WriteJSON), &doc); err != nil {
		t.Fatal(err)
	}
	defs := schema["$defs"].(map[string]any)
	used := map[string]bool{}
	var walk func(path string, value any, s map[string]any)
	walk = func(path string, value any, s map[string]any) {
		if ref, ok := s["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/$defs/")
			used[name] = true
			s = defs[name].(map[string]any)
		}
		switch v := value.(type) {
		case map[string]any:
			props, _ := s["properties"].(map[string]any)
			if s["additionalProperties"] != false {
				t.Errorf("%s: schema allows additional properties", path)
			}
			for k := range v {
				if _, ok := props[k]; !ok {
					t.Errorf("%s.%s: in the JSON, not in the schema", path, k)
				}
			}
			for k, ps := range props {
				if _, ok := v[k]; !ok {
					t.Errorf("%s.%s: in the schema, not in the JSON", path, k)
				}
				if d, _ := ps.(map[string]any)["description"].(string); d == "" {
					t.Errorf("%s.%s: the schema does not describe it", path, k)
				}
			}
			required, _ := s["required"].([]any)
			if len(required) != len(props) {
				t.Errorf("%s: schema requires %d of %d properties; the report always writes them all", path, len(required), len(props))
			}
			for k, pv := range v {
				if ps, ok := props[k].(map[string]any); ok {
					walk(path+"."+k, pv, ps)
				}
			}
		case []any:
			items, ok := s["items"].(map[string]any)
			if !ok {
				t.Errorf("%s: an array in the JSON, schema type %v", path, s["type"])
				return
			}
			for i, it := range v {
				if inner, ok := it.([]any); ok { // points: arrays of integers
					if len(inner) != 2 {
						t.Errorf("%s[%d]: %d numbers, want 2", path, i, len(inner))
					}
					continue
				}
				walk(path+"[]", it, items)
			}
		default:
			typ := s["type"]
			want := map[bool]string{}[false]
			switch value.(type) {
			case string:
				want = "string"
			case float64:
				want = "number"
			case bool:
				want = "boolean"
			case nil:
				want = "null"
			}
			if !schemaAllows(typ, want) {
				t.Errorf("%s: JSON %s, schema type %v", path, want, typ)
			}
		}
	}
	walk("$", doc, schema)
	for name := range defs {
		if !used[name] {
			t.Errorf("schema definition %s never met in the JSON of the full report", name)
		}
	}
}

func schemaAllows(typ any, want string) bool {
	match := func(s string) bool { return s == want || (want == "number" && s == "integer") }
	switch v := typ.(type) {
	case string:
		return match(v)
	case []any:
		for _, x := range v {
			if s, _ := x.(string); match(s) {
				return true
			}
		}
	}
	return false
}

func hostsPolicy() *model.Policy {
	p := model.NewPolicy()
	p.Targets["dc"] = &model.Target{Kind: model.KindHosts, Name: "dc", Hosts: &model.HostsTarget{Hosts: map[string]*model.Host{
		"h1": {Name: "h1"}, "h2": {Name: "h2"}, "h3": {Name: "h3"},
	}}}
	p.Targets["cloud"] = &model.Target{Kind: model.KindAWS, Name: "cloud", AWS: &model.AWSTarget{}}
	p.Segments["a"] = &model.Segment{Name: "a", Target: "dc", Members: model.Members{Hosts: []string{"h1", "h2"}}}
	p.Segments["b"] = &model.Segment{Name: "b", Target: "dc", Members: model.Members{Hosts: []string{"h2"}}, Mode: model.ModeAudit}
	p.Segments["c"] = &model.Segment{Name: "c", Target: "cloud", Mode: model.ModeAudit}
	p.Segments["d"] = &model.Segment{Name: "d", Target: "cloud"}
	p.Segments["e"] = &model.Segment{Name: "e", Target: "cloud", Mode: model.ModeAudit}
	p.Networks["ext"] = &model.Network{Name: "ext", CIDRs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}
	p.Networks["lan"] = &model.Network{Name: "lan", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	p.Services["https"] = &model.Service{Name: "https", Ports: []model.ServicePort{{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 443, Last: 443}}}}
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	for name, exp := range map[string]time.Time{"expired": now.AddDate(0, 0, -1), "expiring": now.AddDate(0, 0, 30), "ok": now.AddDate(0, 0, 31), "never": {}} {
		p.Allows[name] = &model.Allow{Name: name, From: []model.PeerRef{{Kind: model.PeerSegment, Name: "a"}}, To: []model.PeerRef{{Kind: model.PeerSegment, Name: "d"}}, Services: []string{"https"}, Expires: exp}
	}
	return p
}

func TestCoverageHostsAndSegments(t *testing.T) {
	r := report.Build(hostsPolicy(), report.Inputs{Now: time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)})
	states := map[string]string{}
	for _, tc := range r.Coverage.Targets {
		for _, it := range tc.Items {
			states[tc.Target+"/"+it.Name] = it.State
		}
	}
	want := map[string]string{"dc/h1": "enforce", "dc/h2": "audit", "dc/h3": "uncovered", "cloud/c": "audit", "cloud/d": "enforce", "cloud/e": "audit"}
	for k, v := range want {
		if states[k] != v {
			t.Errorf("%s: state %q, want %q", k, states[k], v)
		}
	}
	c := r.Coverage
	if c.Workloads != 6 || c.Enforced != 2 || c.Audit != 3 || c.Uncovered != 1 || c.Percent != 33.3 {
		t.Errorf("coverage %+v; want 6 workloads, 2 enforced, 3 audit, 1 uncovered, 33.3%%", c)
	}
}

func TestAllowExpiry(t *testing.T) {
	r := report.Build(hostsPolicy(), report.Inputs{Now: time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)})
	got := map[string]string{}
	for _, a := range r.Allows {
		got[a.Name] = a.ExpiryStatus
	}
	want := map[string]string{"expired": report.ExpiryExpired, "expiring": report.ExpiryExpiring, "ok": report.ExpiryOK, "never": report.ExpiryNone}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("allow %s: %q, want %q", k, got[k], v)
		}
	}
	for _, req := range r.PCI.Requirements {
		if req.ID == "1.2.7" && req.Status != report.StatusNotMet {
			t.Errorf("1.2.7 with an expired allow: %s, want not met", req.Status)
		}
		if req.ID == "1.3.1" && req.Status != report.StatusNotApplicable {
			t.Errorf("1.3.1 without a CDE: %s, want not applicable", req.Status)
		}
		if req.ID == "1.4.1" && req.Status != report.StatusMet {
			t.Errorf("1.4.1 with an untrusted network no allow names: %s, want met", req.Status)
		}
	}
}

func TestWeeksAcrossTheYear(t *testing.T) {
	now := time.Date(2027, 1, 5, 12, 0, 0, 0, time.UTC)
	day := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	in := report.Inputs{Now: now, Since: time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC), Runs: []report.AuditRun{{ID: "r", Since: day, Until: now, Rows: []verdict.Row{
		{Key: verdict.Key{Day: day, Class: verdict.Violation, Src: "segment.a", Dst: "segment.d", Protocol: model.ProtocolTCP, Port: 22}, Flows: 7, First: day, Last: day},
		{Key: verdict.Key{Day: day.AddDate(0, 0, -40), Class: verdict.Violation}, Flows: 1000}, // before the window
	}}}}
	r := report.Build(hostsPolicy(), in)
	var got []string
	for _, w := range r.Weekly {
		got = append(got, w.ISOWeek+" "+w.Start.Format(time.DateOnly))
	}
	want := []string{"2026-W53 2026-12-28", "2027-W01 2027-01-04"}
	if !slices.Equal(got, want) {
		t.Errorf("weeks %v, want %v", got, want)
	}
	if r.Weekly[0].Flows.Violation != 7 || r.Header.Totals.Violation != 7 {
		t.Errorf("violations: week %d, total %d; want 7 and 7 (the row before the window left out)", r.Weekly[0].Flows.Violation, r.Header.Totals.Violation)
	}
}

func TestDriftAndUpdateTimes(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	now := t0.Add(48 * time.Hour)
	var events []report.DriftEvent
	for i, minutes := range []int{10, 30, 50, 70} {
		events = append(events, report.DriftEvent{ID: string(rune('a' + i)), Target: "t", Detected: t0, Remediated: t0.Add(time.Duration(minutes) * time.Minute)})
	}
	events = append(events,
		report.DriftEvent{ID: "open", Target: "t", Detected: now.Add(-time.Hour)},
		report.DriftEvent{ID: "old", Target: "t", Detected: t0.AddDate(-1, 0, 0), Remediated: t0.AddDate(-1, 0, 1)}) // outside the window
	updates := []report.PolicyUpdate{
		{PolicyHash: "h1", Target: "x", Submitted: t0, Enforced: t0.Add(5 * time.Minute)},
		{PolicyHash: "h1", Target: "y", Submitted: t0.Add(time.Minute), Enforced: t0.Add(20 * time.Minute)},
		{PolicyHash: "h2", Target: "x", Submitted: t0.Add(time.Hour)},
	}
	r := report.Build(model.NewPolicy(), report.Inputs{Now: now, Since: t0.AddDate(0, 0, -7), Drift: events, Updates: updates})
	d := r.Drift
	if len(d.Events) != 5 || d.Open != 1 || d.Remediated != 4 || d.MedianSeconds != 40*60 || d.MaxSeconds != 70*60 {
		t.Errorf("drift: %d events, %d open, %d remediated, median %ds, max %ds; want 5, 1, 4, 2400, 4200", len(d.Events), d.Open, d.Remediated, d.MedianSeconds, d.MaxSeconds)
	}
	if last := d.Events[len(d.Events)-1]; !last.Open || last.Remediated != nil || last.Seconds != 3600 {
		t.Errorf("open event: %+v; want open, no remediation, open for 3600s", last)
	}
	u := r.PolicyUpdates
	if u.Complete != 1 || u.Pending != 1 || u.MedianSeconds != 20*60 || u.Rollouts[0].Seconds != 20*60 || !u.Rollouts[1].Pending {
		t.Errorf("updates: %+v; want h1 complete in 20m (submitted to last target enforced), h2 pending", u)
	}
}

func TestWouldBlockGoNoGo(t *testing.T) {
	p := hostsPolicy()
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	day := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	rows := []verdict.Row{
		{Key: verdict.Key{Day: day, Class: verdict.WouldBlock, Src: "network.ext", Dst: "segment.c", Protocol: model.ProtocolTCP, Port: 22}, Flows: 3, First: day.Add(time.Hour), Last: day.Add(2 * time.Hour), SampleSrc: "203.0.113.5", SampleDst: "10.1.0.4"},
		{Key: verdict.Key{Day: day, Class: verdict.WouldBlock, Src: "segment.c", Dst: "", Protocol: model.ProtocolUDP, Port: 123}, Flows: 9, First: day, Last: day, SampleSrc: "10.1.0.4", SampleDst: "192.0.2.1"},
		{Key: verdict.Key{Day: day, Class: verdict.Allowed, Src: "segment.a", Dst: "segment.b", Protocol: model.ProtocolTCP, Port: 443}, Flows: 5, First: day, Last: day},
	}
	r := report.Build(p, report.Inputs{Now: now, Runs: []report.AuditRun{{ID: "r", Since: day, Until: now, Rows: rows}}})
	got := map[string]report.WouldBlockSegment{}
	for _, s := range r.WouldBlock {
		got[s.Segment] = s
	}
	if len(got) != 3 {
		t.Fatalf("would-block lists %d segments, want the 3 audit-mode ones (b, c, e)", len(got))
	}
	c := got["c"]
	if c.Decision != report.DecisionNoGo || c.Flows != 12 || len(c.Items) != 2 {
		t.Fatalf("segment c: %+v; want no-go with 12 flows in 2 items", c)
	}
	if it := c.Items[0]; it.Direction != "outbound" || it.Peer != "" || !strings.Contains(it.Suggestion, "a network for 192.0.2.1") {
		t.Errorf("largest item of c: %+v; want outbound to an unknown address, suggesting a network for 192.0.2.1", it)
	}
	if it := c.Items[1]; it.Direction != "inbound" || it.Suggestion != "allow network.ext -> segment.c on tcp/22, or stop this traffic" {
		t.Errorf("second item of c: %+v", it)
	}
	if b := got["b"]; b.Decision != report.DecisionGo || b.Observed != 5 {
		t.Errorf("segment b: %+v; want go with 5 flows observed", b)
	}
	if e := got["e"]; e.Decision != report.DecisionGo || !strings.Contains(e.Reason, "no flow of this segment was seen") {
		t.Errorf("segment e: %+v; want go, saying nothing was seen", e)
	}
	// The unknown peer shows on the graph as its own node.
	if !slices.ContainsFunc(r.Graph.Nodes, func(n report.GraphNode) bool { return n.ID == "unknown" }) {
		t.Error("graph has no unknown node for flows to an address in no segment")
	}
}

func TestGraphLayout(t *testing.T) {
	r := report.Build(threeTier(t), reporttest.ThreeTier())
	layer := map[string]int{}
	for _, n := range r.Graph.Nodes {
		layer[n.ID] = n.Layer
	}
	// Networks traffic comes from on the left; each tier right of the one before.
	chain := []string{"network.internet", "segment.lb", "segment.web", "segment.app", "segment.db"}
	for i := 1; i < len(chain); i++ {
		if layer[chain[i]] <= layer[chain[i-1]] {
			t.Errorf("%s in column %d, not right of %s in column %d", chain[i], layer[chain[i]], chain[i-1], layer[chain[i-1]])
		}
	}
	if layer["network.internet"] != 0 || layer["segment.monitoring"] != 0 {
		t.Errorf("internet in column %d, monitoring in %d; want both in the first", layer["network.internet"], layer["segment.monitoring"])
	}
	// No two boxes overlap, and every edge has a route.
	for i, a := range r.Graph.Nodes {
		for _, b := range r.Graph.Nodes[i+1:] {
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("boxes of %s and %s overlap", a.ID, b.ID)
			}
		}
		if a.X+a.W > r.Graph.Width {
			t.Errorf("box of %s ends at %d, beyond the width %d", a.ID, a.X+a.W, r.Graph.Width)
		}
	}
	kinds := map[string]string{}
	for _, e := range r.Graph.Edges {
		if len(e.Points) < 2 {
			t.Errorf("edge %s -> %s has no route", e.From, e.To)
		}
		kinds[e.From+">"+e.To] = e.Kind
	}
	for edge, kind := range map[string]string{
		"segment.web>segment.db": report.EdgeViolation, "segment.batch>network.internet": report.EdgeWouldBlock,
		"network.internet>segment.lb": report.EdgeObserved, "segment.web>segment.app": report.EdgeAllow,
		"network.internet>segment.db": report.EdgeBlocked, "segment.app>segment.db": report.EdgeOutage,
	} {
		if kinds[edge] != kind {
			t.Errorf("edge %s drawn as %q, want %q", edge, kinds[edge], kind)
		}
	}
}

// BenchmarkBuildAndRender builds the three-tier report (nine weeks, 27 runs) and
// renders it in every format.
func BenchmarkBuildAndRender(b *testing.B) {
	l, diags := hclload.LoadDir("../examples/three-tier")
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	in := reporttest.ThreeTier()
	for b.Loop() {
		r := report.Build(l.Policy, in)
		for _, f := range renderers {
			if err := f.write(r, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	}
}
