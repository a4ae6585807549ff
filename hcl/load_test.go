package hclload

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	goldenfile "github.com/microseg/microseg/internal/golden"
	"github.com/microseg/microseg/model"
)

var netipEqual = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, name, []byte(got))
}

// TestDesignExampleLoads keeps the contract: the design example of the language (docs/architecture.md §2), copied
// unchanged into testdata/design, loads without a single diagnostic and means what
// the document says.
func TestDesignExampleLoads(t *testing.T) {
	loaded, diags := LoadDir("testdata/design")
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %s", diags.Error())
	}
	p := loaded.Policy
	if got := model.SortedKeys(p.Targets); strings.Join(got, ",") != "dc1,prod,prod-use1,prod-weu" {
		t.Errorf("targets = %v", got)
	}
	aws := p.Targets["prod-use1"]
	if aws.Kind != model.KindAWS || aws.AWS.Region != "us-east-1" || aws.AWS.Endpoint != "http://127.0.0.1:4566" || aws.FlowLogs.S3URI == "" {
		t.Errorf("aws target = %+v %+v", aws.AWS, aws.FlowLogs)
	}
	dc1 := p.Targets["dc1"].Hosts
	if dc1.Hosts["db-02"].Addresses[0] != netip.MustParseAddr("10.20.0.12") || dc1.ManagementCIDRs[0] != netip.MustParsePrefix("10.0.0.0/24") {
		t.Errorf("hosts target = %+v", dc1)
	}
	if got := dc1.ManagementPorts[0].String(); got != "tcp/22" {
		t.Errorf("management ports default = %s, want tcp/22", got)
	}
	web := p.Segments["web"]
	wantWeb := &model.Segment{
		Name: "web", Target: "prod-use1",
		Members: model.Members{Tags: map[string]string{"tier": "web"}},
		CIDRs:   []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")},
		Labels:  map[string]string{"env": "prod", "scope": "pci"},
		Mode:    model.ModeEnforce,
		Pos:     web.Pos,
	}
	if diff := cmp.Diff(wantWeb, web, netipEqual); diff != "" {
		t.Errorf("segment web (-want +got):\n%s", diff)
	}
	if web.Pos.Line == 0 || !strings.HasSuffix(web.Pos.File, "design.hcl") {
		t.Errorf("segment web position = %+v", web.Pos)
	}
	allow := p.Allows["web-to-db"]
	wantAllow := &model.Allow{
		Name: "web-to-db", From: []model.PeerRef{{Kind: model.PeerSegment, Name: "web"}},
		To: []model.PeerRef{{Kind: model.PeerSegment, Name: "db"}}, Services: []string{"postgres"},
		Owner: "team-payments", Ticket: "SEC-142", Expires: time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC),
		Pos: allow.Pos,
	}
	if diff := cmp.Diff(wantAllow, allow); diff != "" {
		t.Errorf("allow web-to-db (-want +got):\n%s", diff)
	}
	if got := p.Services["dns"].Ports; len(got) != 2 || got[0].String() != "tcp/53" || got[1].String() != "udp/53" {
		t.Errorf("dns ports = %v, want sorted tcp/53 udp/53", got)
	}
	if _, err := model.Compile(p); err != nil {
		t.Errorf("compile: %v", err)
	}
}

func TestExamplesLoadAndCompile(t *testing.T) {
	dirs, _ := filepath.Glob("../examples/*")
	if len(dirs) == 0 {
		t.Fatal("no examples")
	}
	for _, dir := range dirs {
		if files, _ := filepath.Glob(filepath.Join(dir, "*.hcl")); len(files) == 0 {
			continue // examples/flowlogs: sample logs, not a policy
		}
		loaded, diags := LoadDir(dir)
		if len(diags) > 0 {
			t.Errorf("%s: %s", dir, diags.Error())
			continue
		}
		if _, err := model.Compile(loaded.Policy); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
}

func TestReferencesResolveAcrossFilesInAnyOrder(t *testing.T) {
	files := map[string][]byte{
		"a-allows.hcl":   []byte("allow \"x\" {\n  from = segment.web\n  to = [segment.web]\n  services = [service.s]\n}\n"),
		"b-segments.hcl": []byte("segment \"web\" {\n  target = target.gcp.g\n  members { labels = { app = \"web\" } }\n}\n"),
		"c-rest.hcl":     []byte("target \"gcp\" \"g\" {\n  project = \"p\"\n  network = \"n\"\n}\nservice \"s\" { ports = [\"tcp/1-1024\"] }\n"),
	}
	loaded, diags := LoadSources(files)
	if len(diags) > 0 {
		t.Fatal(diags.Error())
	}
	if got := loaded.Policy.Allows["x"].From; len(got) != 1 || got[0].Name != "web" {
		t.Errorf("from = %v", got)
	}
}

func TestLoadDirErrors(t *testing.T) {
	_, diags := LoadDir(t.TempDir())
	if !diags.HasErrors() || diags[0].Summary != "No policy files" {
		t.Errorf("empty dir: %v", diags)
	}
	_, diags = LoadDir(filepath.Join(t.TempDir(), "missing"))
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "Cannot read the policy directory") {
		t.Errorf("missing dir: %v", diags)
	}
}

// FuzzLoad feeds arbitrary files to the loader. It must never panic, and a policy
// that loads without errors must compile: every semantic problem is caught, with a
// location, by the loader.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/malformed/*.hcl")
	seeds = append(seeds, "testdata/design/design.hcl", "testdata/malformed-base.hcl")
	for _, path := range seeds {
		if src, err := os.ReadFile(path); err == nil {
			f.Add(src)
		}
	}
	base, _ := os.ReadFile("testdata/malformed-base.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, files := range []map[string][]byte{
			{"fuzz.hcl": src},
			{"base.hcl": base, "fuzz.hcl": src},
		} {
			loaded, diags := LoadSources(files)
			var sink strings.Builder
			_ = WriteDiagnostics(&sink, loaded.Files, diags)
			if diags.HasErrors() {
				continue
			}
			if _, err := model.Compile(loaded.Policy); err != nil {
				t.Fatalf("loaded without errors but does not compile: %v", err)
			}
		}
	})
}
