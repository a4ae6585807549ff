package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/microseg/microseg/internal/golden"
)

const example = "../../examples/three-tier"

// TestCommands runs each command as a user would and compares what it prints and
// its exit code with testdata/NAME.golden.
func TestCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{"validate", []string{"validate", example}, exitOK},
		{"validate-next", []string{"validate", example + "-next"}, exitOK},
		{"lint-clean", []string{"lint", "-now", "2026-11-22", example}, exitOK},
		{"lint-expiring", []string{"lint", "-now", "2027-06-15", example}, exitOK},
		{"lint-expiring-severity-warning", []string{"lint", "-severity", "warning", "-now", "2027-06-15", example}, exitFindings},
		{"lint-expired", []string{"lint", "-now", "2027-07-01", example}, exitFindings},
		{"lint-expired-json", []string{"lint", "-json", "-now", "2027-07-01", example}, exitFindings},
		{"lint-expired-sarif", []string{"lint", "-sarif", "-now", "2027-07-01", example}, exitFindings},
		{"lint-pci-ports", []string{"lint", "-now", "2026-11-22", "-pci-public-ports", "tcp/80", example}, exitFindings},
		{"check-allowed", []string{"check", "-from", "segment.app", "-to", "segment.db", "-port", "tcp/5432", example}, exitOK},
		{"check-flags-after-dir", []string{"check", example, "-from", "network.internet", "-to", "segment.lb", "-port", "tcp/443"}, exitOK},
		{"check-denied", []string{"check", "-from", "segment.web", "-to", "segment.db", "-port", "tcp/5432", example}, exitFindings},
		{"check-audit", []string{"check", "-from", "segment.batch", "-to", "segment.app", "-port", "tcp/8080", example}, exitFindings},
		{"check-typo", []string{"check", "-from", "segment.wbe", "-to", "segment.db", "-port", "tcp/5432", example}, exitError},
		{"check-bad-port", []string{"check", "-from", "segment.web", "-to", "segment.db", "-port", "tcp/70000", example}, exitError},
		{"blast-radius", []string{"blast-radius", "segment.lb", example}, exitOK},
		{"blast-radius-monitoring", []string{"blast-radius", "segment.monitoring", example}, exitOK},
		{"diff-policy", []string{"diff-policy", example, example + "-next"}, exitOK},
		{"diff-policy-detailed", []string{"diff-policy", "-detailed-exitcode", example, example + "-next"}, exitFindings},
		{"diff-policy-same", []string{"diff-policy", "-detailed-exitcode", example, example}, exitOK},
		{"compile", []string{"compile", example}, exitOK},
		{"compile-unknown-target", []string{"compile", "-target", "dc2", example}, exitError},
		{"fmt-check", []string{"fmt", "-check", example}, exitOK},
		{"validate-broken", []string{"validate", "testdata/broken"}, exitError},
		{"unknown-command", []string{"aply"}, exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			got := "$ microseg " + strings.Join(tt.args, " ") + "\n" + stdout.String()
			if stderr.Len() > 0 {
				got += "--- stderr\n" + stderr.String()
			}
			golden(t, tt.name+".golden", got)
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, name, []byte(got))
}

// TestLintSARIFIsValidJSON checks the SARIF shape code-scanning UIs need.
func TestLintSARIFIsValidJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	run([]string{"lint", "-sarif", "-now", "2027-07-01", example}, &stdout, &stderr)
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &log); err != nil {
		t.Fatalf("SARIF is not JSON: %v\n%s", err, stdout.String())
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "microseg" || len(log.Runs[0].Tool.Driver.Rules) == 0 {
		t.Fatalf("SARIF header = %+v", log)
	}
	results := log.Runs[0].Results
	if len(results) != 1 || results[0].RuleID != "expired-allow" || results[0].Level != "error" ||
		!strings.HasSuffix(results[0].Locations[0].PhysicalLocation.ArtifactLocation.URI, "allows.hcl") ||
		results[0].Locations[0].PhysicalLocation.Region.StartLine != 34 {
		t.Errorf("SARIF results = %+v", results)
	}
}

func TestFmtRewrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	os.WriteFile(path, []byte("network \"n\" {\ncidrs=[\"10.0.0.0/8\"]\n}\n"), 0o644)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"fmt", "-check", dir}, &stdout, &stderr); code != exitFindings || !strings.Contains(stdout.String(), "p.hcl") {
		t.Fatalf("fmt -check = %d, %q", code, stdout.String())
	}
	if code := run([]string{"fmt", dir}, &stdout, &stderr); code != exitOK {
		t.Fatalf("fmt = %d: %s", code, stderr.String())
	}
	if code := run([]string{"fmt", "-check", dir}, &bytes.Buffer{}, &stderr); code != exitOK {
		t.Errorf("after fmt, fmt -check = %d", code)
	}
}
