package analysis

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// WriteText writes findings the way compilers do, one per line, so that editors can
// jump to them, then a count:
//
//	main.hcl:40:1: error: [expired-allow] allow "web-to-db" expired on 2026-01-31
//	1 error, 0 warnings, 0 info
func WriteText(w io.Writer, findings []Finding) error {
	var b strings.Builder
	for _, f := range findings {
		if loc := location(f); loc != "" {
			b.WriteString(loc + ": ")
		}
		fmt.Fprintf(&b, "%s: [%s] %s\n", f.Severity, f.Rule, f.Message)
	}
	c := countFindings(findings)
	fmt.Fprintf(&b, "%s, %s, %d info\n", plural(c.Error, "error", "errors"), plural(c.Warning, "warning", "warnings"), c.Info)
	_, err := io.WriteString(w, b.String())
	return err
}

func location(f Finding) string {
	switch {
	case f.Pos.File == "":
		return ""
	case f.Pos.Line == 0:
		return f.Pos.File
	case f.Pos.Column == 0:
		return fmt.Sprintf("%s:%d", f.Pos.File, f.Pos.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", f.Pos.File, f.Pos.Line, f.Pos.Column)
	}
}

// findingCounts counts findings per severity; it is also the "counts" object of the
// JSON output.
type findingCounts struct {
	Error   int `json:"error"`
	Warning int `json:"warning"`
	Info    int `json:"info"`
}

func countFindings(findings []Finding) findingCounts {
	var c findingCounts
	for _, f := range findings {
		switch f.Severity {
		case SeverityError:
			c.Error++
		case SeverityWarning:
			c.Warning++
		default:
			c.Info++
		}
	}
	return c
}

// jsonReport is the JSON output. It is a stable interface for scripts: fields are
// only ever added, every field of a finding is always present (file "" and line 0
// for a policy built in code), and findings is [] rather than null when empty.
//
//	{
//	  "findings": [
//	    {"rule": "expired-allow", "severity": "error", "message": "...", "file": "main.hcl", "line": 40, "column": 1}
//	  ],
//	  "counts": {"error": 1, "warning": 0, "info": 0}
//	}
type jsonReport struct {
	Findings []jsonFinding `json:"findings"`
	Counts   findingCounts `json:"counts"`
}

type jsonFinding struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
}

// WriteJSON writes findings as an indented JSON object: {"findings": [...], "counts": {...}}.
// See jsonReport for the stability promise.
func WriteJSON(w io.Writer, findings []Finding) error {
	report := jsonReport{Findings: make([]jsonFinding, len(findings)), Counts: countFindings(findings)}
	for i, f := range findings {
		report.Findings[i] = jsonFinding{f.Rule, f.Severity.String(), f.Message, f.Pos.File, f.Pos.Line, f.Pos.Column}
	}
	return writeIndented(w, report)
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Messages quote HCL like `scope = "pci"` and ports like "a -> b": keep them
	// readable rather than \u003e.
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// SARIF 2.1.0, the subset code-scanning services read. Field order follows the
// specification's examples; see
// https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/sarif-v2.1.0-errata01-os-complete.html
const sarifSchema = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string             `json:"id"`
	ShortDescription     sarifMessage       `json:"shortDescription"`
	DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysicalLocation `json:"physicalLocation"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           *sarifRegion          `json:"region,omitempty"`
}

type sarifArtifactLocation struct {
	URI string `json:"uri"`
}

// sarifRegion positions are 1-based; SARIF forbids 0, so unknown ones are left out.
type sarifRegion struct {
	StartLine   int `json:"startLine,omitempty"`
	StartColumn int `json:"startColumn,omitempty"`
}

// sarifLevel maps a severity to SARIF's level, which calls info "note".
func sarifLevel(s Severity) string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	default:
		return "note"
	}
}

// WriteSARIF writes findings as a SARIF 2.1.0 log with one run, for code-scanning
// services. The driver lists every rule, found or not, so that ruleIndex refers into
// Rules. A finding without a file has no location.
func WriteSARIF(w io.Writer, findings []Finding, toolVersion string) error {
	driver := sarifDriver{
		Name:           "microseg",
		Version:        toolVersion,
		InformationURI: "https://github.com/microseg/microseg",
		Rules:          make([]sarifRule, len(Rules)),
	}
	index := make(map[string]int, len(Rules))
	for i, r := range Rules {
		index[r.ID] = i
		driver.Rules[i] = sarifRule{r.ID, sarifMessage{r.Description}, sarifConfiguration{sarifLevel(r.Severity)}}
	}
	results := make([]sarifResult, len(findings))
	for i, f := range findings {
		res := sarifResult{RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity), Message: sarifMessage{f.Message}}
		if f.Pos.File != "" {
			loc := sarifPhysicalLocation{ArtifactLocation: sarifArtifactLocation{URI: fileURI(f.Pos.File)}}
			if f.Pos.Line > 0 {
				loc.Region = &sarifRegion{StartLine: f.Pos.Line, StartColumn: f.Pos.Column}
			}
			res.Locations = []sarifLocation{{loc}}
		}
		results[i] = res
	}
	return writeIndented(w, sarifLog{
		Schema:  sarifSchema,
		Version: "2.1.0",
		Runs:    []sarifRun{{Tool: sarifTool{driver}, Results: results}},
	})
}

// fileURI turns a policy file path into the URI reference SARIF wants: a relative
// path stays relative (resolved against the checkout by code-scanning services), an
// absolute one becomes a file URI, and both are percent-encoded.
func fileURI(path string) string {
	slashed := filepath.ToSlash(path)
	if !filepath.IsAbs(path) {
		return (&url.URL{Path: slashed}).String()
	}
	if !strings.HasPrefix(slashed, "/") {
		slashed = "/" + slashed // a Windows drive path: file:///C:/...
	}
	return (&url.URL{Scheme: "file", Path: slashed}).String()
}
