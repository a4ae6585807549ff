package analysis_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
)

// reportFindings are the findings of every crafted lint case at once, plus one built
// in code (no file), so that the writers see every severity and both kinds of location.
func reportFindings(t *testing.T) []analysis.Finding {
	p := threeTier(t)
	for _, tt := range lintCases(t) {
		if tt.opts.PCIPublicPorts == nil && tt.opts.ExpiryWindow == 0 {
			tt.edit(p)
		}
	}
	findings := analysis.Lint(p, analysis.LintOptions{Now: lintNow})
	return append(findings, analysis.Finding{Rule: "unused-service", Severity: analysis.SeverityWarning, Message: `service "generated" is named by no allow`})
}

func TestWriteFindingsGolden(t *testing.T) {
	findings := reportFindings(t)
	writers := []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"lint_text", func(b *bytes.Buffer) error { return analysis.WriteText(b, findings) }},
		{"lint_json", func(b *bytes.Buffer) error { return analysis.WriteJSON(b, findings) }},
		{"lint_sarif", func(b *bytes.Buffer) error { return analysis.WriteSARIF(b, findings, "1.2.3") }},
		{"lint_text_empty", func(b *bytes.Buffer) error { return analysis.WriteText(b, nil) }},
		{"lint_json_empty", func(b *bytes.Buffer) error { return analysis.WriteJSON(b, nil) }},
	}
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			golden(t, w.name, []byte(writeString(t, w.write)))
		})
	}
}

func TestWriteJSON(t *testing.T) {
	findings := reportFindings(t)
	var got struct {
		Findings []struct {
			Rule, Severity, Message, File string
			Line, Column                  int
		}
		Counts map[string]int
	}
	if err := json.Unmarshal([]byte(writeString(t, func(b *bytes.Buffer) error { return analysis.WriteJSON(b, findings) })), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Findings) != len(findings) {
		t.Fatalf("%d findings in JSON, want %d", len(got.Findings), len(findings))
	}
	want := map[string]int{}
	for _, f := range findings {
		want[f.Severity.String()]++
	}
	if diff := cmp.Diff(want, got.Counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

// TestWriteSARIF decodes the log generically, as a code-scanning service would, and
// checks the fields SARIF 2.1.0 requires and that results point at the right rules.
func TestWriteSARIF(t *testing.T) {
	findings := reportFindings(t)
	out := writeString(t, func(b *bytes.Buffer) error { return analysis.WriteSARIF(b, findings, "1.2.3") })
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name, Version  string
					InformationURI string `json:"informationUri"`
					Rules          []struct {
						ID                   string `json:"id"`
						ShortDescription     struct{ Text string }
						DefaultConfiguration struct {
							Level string
						} `json:"defaultConfiguration"`
					}
				}
			}
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine, StartColumn int }
					} `json:"physicalLocation"`
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatalf("SARIF is not valid JSON: %v", err)
	}
	if log.Schema != "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json" || log.Version != "2.1.0" {
		t.Errorf("$schema %q, version %q", log.Schema, log.Version)
	}
	if len(log.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(log.Runs))
	}
	run := log.Runs[0]
	d := run.Tool.Driver
	if d.Name != "microseg" || d.Version != "1.2.3" || d.InformationURI != "https://github.com/microseg/microseg" {
		t.Errorf("driver = %q %q %q", d.Name, d.Version, d.InformationURI)
	}
	if len(d.Rules) != len(analysis.Rules) {
		t.Fatalf("%d rules in the driver, want %d", len(d.Rules), len(analysis.Rules))
	}
	levels := map[string]bool{"error": true, "warning": true, "note": true}
	for i, r := range d.Rules {
		if r.ID != analysis.Rules[i].ID || r.ShortDescription.Text == "" || !levels[r.DefaultConfiguration.Level] {
			t.Errorf("rule %d = %+v", i, r)
		}
	}
	if len(run.Results) != len(findings) {
		t.Fatalf("%d results, want %d", len(run.Results), len(findings))
	}
	for i, res := range run.Results {
		f := findings[i]
		if res.RuleID != f.Rule || d.Rules[res.RuleIndex].ID != f.Rule || !levels[res.Level] || res.Message.Text != f.Message {
			t.Errorf("result %d = %+v, finding %+v", i, res, f)
		}
		if f.Pos.File == "" {
			if len(res.Locations) != 0 {
				t.Errorf("result %d has a location but its finding has no file", i)
			}
			continue
		}
		if len(res.Locations) != 1 {
			t.Fatalf("result %d has %d locations, want 1", i, len(res.Locations))
		}
		loc := res.Locations[0].PhysicalLocation
		if loc.ArtifactLocation.URI != f.Pos.File || loc.Region.StartLine != f.Pos.Line || loc.Region.StartColumn != f.Pos.Column {
			t.Errorf("result %d location %+v, want %+v", i, loc, f.Pos)
		}
	}
	// Info is "note" in SARIF.
	for i, f := range findings {
		if f.Severity == analysis.SeverityInfo && run.Results[i].Level != "note" {
			t.Errorf("info finding has level %q, want note", run.Results[i].Level)
		}
	}
}

func TestWriteSARIFFileURI(t *testing.T) {
	findings := []analysis.Finding{
		{Rule: "unused-network", Message: "m", Pos: model.Pos{File: "policy dir/main.hcl", Line: 3, Column: 1}},
		{Rule: "unused-network", Message: "m", Pos: model.Pos{File: "/srv/policy/main.hcl", Line: 4}},
	}
	out := writeString(t, func(b *bytes.Buffer) error { return analysis.WriteSARIF(b, findings, "") })
	for _, want := range []string{`"uri": "policy%20dir/main.hcl"`, `"uri": "file:///srv/policy/main.hcl"`} {
		if !bytes.Contains([]byte(out), []byte(want)) {
			t.Errorf("SARIF lacks %s:\n%s", want, out)
		}
	}
	if bytes.Contains([]byte(out), []byte(`"startColumn": 0`)) || bytes.Contains([]byte(out), []byte(`"version": ""`)) {
		t.Errorf("SARIF has a zero column or empty version:\n%s", out)
	}
}
