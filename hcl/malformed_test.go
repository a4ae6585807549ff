package hclload

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMalformedCorpus loads every testdata/malformed/*.hcl next to a valid base and
// checks that the diagnostic named by the case's "# want:" line is reported, located
// in the case's own file, and that no case panics. All diagnostics, rendered as a user
// sees them, are compared with testdata/malformed.golden.
func TestMalformedCorpus(t *testing.T) {
	base, err := os.ReadFile("testdata/malformed-base.hcl")
	if err != nil {
		t.Fatal(err)
	}
	cases, err := filepath.Glob("testdata/malformed/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 40 {
		t.Fatalf("the corpus has %d cases, want at least 40", len(cases))
	}
	var rendered bytes.Buffer
	for _, path := range cases {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := wantLine(src)
		if want == "" {
			t.Fatalf("%s has no '# want:' line", path)
		}
		name := filepath.Base(path)
		loaded, diags := LoadSources(map[string][]byte{"base.hcl": base, name: src})
		found := false
		for _, d := range diags {
			if d.Summary == want && d.Subject != nil && d.Subject.Filename == name && d.Subject.Start.Line > 1 {
				found = true
			}
			if d.Subject != nil && d.Subject.Filename == "base.hcl" {
				t.Errorf("%s: a diagnostic points at the valid base: %s", name, d.Error())
			}
		}
		if !found {
			t.Errorf("%s: want a diagnostic %q located in the file, got:\n%s", name, want, diags.Error())
		}
		// Only host bits set is a warning: the policy stays usable, masked.
		if wantErrors := want != "Host bits set in CIDR"; diags.HasErrors() != wantErrors {
			t.Errorf("%s: HasErrors = %v, want %v", name, diags.HasErrors(), wantErrors)
		}
		rendered.WriteString("=== " + name + "\n")
		if err := WriteDiagnostics(&rendered, loaded.Files, diags); err != nil {
			t.Fatal(err)
		}
	}
	golden(t, "malformed.golden", rendered.String())
}

func wantLine(src []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			return rest
		}
	}
	return ""
}

// TestDiagnosticsAreCollected checks that one load reports every problem, not the first.
func TestDiagnosticsAreCollected(t *testing.T) {
	src := `
service "a" { ports = ["tcp/0", "udp/70000"] }
network "n" { cidrs = ["10.0.0.0/33"] }
segment "s" {
  target = target.aws.nowhere
  members {}
  mode = "off"
}
`
	_, diags := LoadSources(map[string][]byte{"many.hcl": []byte(src)})
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary)
	}
	want := []string{"Invalid port spec", "Invalid port spec", "Invalid CIDR", "Unknown target", "Empty members", "Invalid mode"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("diagnostics = %q, want %q", got, want)
	}
}
