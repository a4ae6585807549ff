package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const exampleFlows = "../../examples/flowlogs/aws-three-tier.log"

// runIn runs a command with the state directory in a temporary one, and returns
// what it printed with the example's absolute path made relative, for golden files.
func runIn(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	abs, _ := filepath.Abs(exampleFlows)
	got := "$ microseg " + strings.Join(args, " ") + "\n" + stdout.String()
	if stderr.Len() > 0 {
		got += "--- stderr\n" + stderr.String()
	}
	return strings.ReplaceAll(got, abs, "examples/flowlogs/aws-three-tier.log"), code
}

// TestAuditCommands: the offline audit of an exported AWS log, discover on it, and the
// report and graph of what the audit stored; and their errors.
func TestAuditCommands(t *testing.T) {
	t.Setenv("MICROSEG_STATE", t.TempDir())
	t.Setenv("MICROSEG_RESULTS", "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{"audit-files", []string{"audit", "-flows", exampleFlows, "-format", "aws", "-target", "prod-use1", example}, exitOK},
		{"audit-files-detailed", []string{"audit", "-detailed-exitcode", "-no-store", "-flows", exampleFlows, "-format", "aws", "-target", "prod-use1", example}, exitFindings},
		{"audit-files-bad-format", []string{"audit", "-flows", exampleFlows, "-format", "aws-v9", example}, exitError},
		{"audit-files-no-format", []string{"audit", "-flows", exampleFlows, example}, exitError},
		{"audit-files-wrong-format", []string{"audit", "-flows", exampleFlows, "-format", "azure-vnet", example}, exitError},
		{"audit-files-missing", []string{"audit", "-flows", "no-such-dir", "-format", "aws", example}, exitError},
		{"audit-bad-since", []string{"audit", "-since", "yesterday", example}, exitError},
		{"discover", []string{"discover", "-flows", exampleFlows, "-format", "aws", "-since", "0", "-target", "prod-use1", example}, exitOK},
		{"discover-no-flows", []string{"discover", "-format", "aws", example}, exitError},
		{"report-bad-format", []string{"report", "-format", "pdf", example}, exitError},
		{"report-unknown-target", []string{"report", "-target", "prod-use2", example}, exitError},
		{"graph-bad-format", []string{"graph", "-format", "png", example}, exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, code := runIn(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\n%s", code, tt.wantCode, got)
			}
			golden(t, tt.name+".golden", got)
		})
	}

	// The stored run feeds the report (the example log's flows are from 2026-11-22;
	// a long window holds them whatever day the test runs).
	var stdout, stderr bytes.Buffer
	if code := run([]string{"report", "-format", "json", "-since", "36500d", example}, &stdout, &stderr); code != exitOK {
		t.Fatalf("report = %d: %s", code, stderr.String())
	}
	var rep struct {
		Header struct {
			Totals map[string]uint64 `json:"totals"`
		} `json:"header"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if want := map[string]uint64{"allowed": 36, "blocked": 2, "would_block": 4, "violation": 3, "wanted_but_blocked": 0, "unknown": 0}; !equalCounts(rep.Header.Totals, want) {
		t.Errorf("report totals %v, want %v", rep.Header.Totals, want)
	}
	// Auditing the same files again replaces the run: the totals do not double.
	runIn(t, "audit", "-flows", exampleFlows, "-format", "aws", "-target", "prod-use1", example)
	stdout.Reset()
	run([]string{"report", "-format", "json", "-since", "36500d", example}, &stdout, &stderr)
	json.Unmarshal(stdout.Bytes(), &rep)
	if rep.Header.Totals["allowed"] != 36 {
		t.Errorf("after a second audit of the same files: allowed %d, want 36", rep.Header.Totals["allowed"])
	}
	for _, format := range []string{"html", "csv", "md"} {
		stdout.Reset()
		if code := run([]string{"report", "-format", format, "-since", "36500d", example}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "segment.web") {
			t.Errorf("report -format %s = %d, %d bytes: %s", format, code, stdout.Len(), stderr.String())
		}
	}
	stdout.Reset()
	if code := run([]string{"graph", "-format", "dot", "-since", "36500d", example}, &stdout, &stderr); code != exitOK || !strings.HasPrefix(stdout.String(), "digraph") {
		t.Errorf("graph -format dot = %d:\n%.200s", code, stdout.String())
	}
}

func equalCounts(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// TestAuditFlowlessInputs: an exported log with no flow in it (empty, a header or
// an empty list only, or records that say there was no traffic) is a quiet day,
// not an error: every reader's audit succeeds, prints its counts, and stores a
// run with an empty window that the report lists.
func TestAuditFlowlessInputs(t *testing.T) {
	t.Setenv("MICROSEG_STATE", t.TempDir())
	t.Setenv("MICROSEG_RESULTS", "")
	const awsHeader = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
	tests := []struct {
		format, name, content, want string
	}{
		{"aws", "empty", "", "0 flows"},
		{"aws", "header", awsHeader, "0 flows"},
		{"aws", "nodata", awsHeader + "2 123456789012 eni-0a1b2c3d4e5f60001 - - - - - - - 1733580000 1733580060 - NODATA\n" +
			"2 123456789012 eni-0a1b2c3d4e5f60001 - - - - - - - 1733580000 1733580060 - SKIPDATA\n", "0 malformed, 1 no data, 1 skipped data"},
		{"azure-nsg", "empty", "", "0 flows"},
		{"azure-nsg", "no-records", `{"records":[]}`, "0 flows"},
		{"azure-nsg", "no-tuples", `{"records":[{"time":"2026-12-01T10:00:00Z","category":"NetworkSecurityGroupFlowEvent","properties":{"Version":2,"flows":[]}}]}`, "0 flows"},
		{"azure-vnet", "empty", "", "0 flows"},
		{"azure-vnet", "no-records", `{"records":[]}`, "0 flows"},
		{"azure-vnet", "no-tuples", `{"records":[{"time":"2026-12-01T10:00:00Z","category":"FlowLogFlowEvent","flowLogVersion":4,"flowRecords":{"flows":[]}}]}`, "0 flows"},
		{"gcp-vpc", "empty", "", "0 flows"},
		{"gcp-vpc", "empty-array", "[]", "0 flows"},
		{"gcp-firewall", "empty", "", "0 flows"},
		{"gcp-firewall", "empty-array", "[]\n", "0 flows"},
		{"nflog", "empty", "", "0 flows"},
		{"conntrack", "empty", "", "0 flows"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.name, func(t *testing.T) {
			file := filepath.Join(dir, tt.format+"-"+tt.name+".log")
			if err := os.WriteFile(file, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"audit", "-flows", file, "-format", tt.format, "-target", "prod-use1", example}, &stdout, &stderr)
			if code != exitOK || !strings.Contains(stdout.String(), tt.want) {
				t.Errorf("audit = %d, want 0 printing %q:\n%s%s", code, tt.want, stdout.String(), stderr.String())
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"report", "-format", "json", example}, &stdout, &stderr); code != exitOK {
		t.Fatalf("report = %d: %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "nodata.log"); n == 0 {
		t.Errorf("the report does not list the flowless runs:\n%.2000s", stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"report", "-format", "md", example}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "aws-nodata.log | no flows (read ") {
		t.Errorf("report -format md = %d does not show the flowless runs as such:\n%.3000s", code, stdout.String())
	}
}

// TestPolicyCache: a command on a clean policy fills the policy cache, the next
// reads it (and prints the same), and a change to a file is a new entry.
func TestPolicyCache(t *testing.T) {
	state := t.TempDir()
	t.Setenv("MICROSEG_STATE", state)
	dir := t.TempDir()
	srcs, _ := filepath.Glob(filepath.Join(example, "*.hcl"))
	for _, src := range srcs {
		raw, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	entries := func() []string {
		names, _ := filepath.Glob(filepath.Join(state, "cache", "policies", "*.gob"))
		return names
	}
	args := []string{"check", "-from", "segment.app", "-to", "segment.db", "-port", "tcp/5432", dir}
	var first, second bytes.Buffer
	if code := run(args, &first, &first); code != exitOK || len(entries()) != 1 {
		t.Fatalf("first check = %d, %d cache entries:\n%s", code, len(entries()), first.String())
	}
	if code := run(args, &second, &second); code != exitOK || second.String() != first.String() || len(entries()) != 1 {
		t.Fatalf("second check = %d, %d entries, output\n%s\nwant\n%s", code, len(entries()), second.String(), first.String())
	}
	f := filepath.Join(dir, filepath.Base(srcs[0]))
	raw, _ := os.ReadFile(f)
	if err := os.WriteFile(f, append(raw, []byte("\n# changed\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run(args, &second, &second); code != exitOK || len(entries()) != 2 {
		t.Fatalf("after a change: %d, %d entries", code, len(entries()))
	}
}
