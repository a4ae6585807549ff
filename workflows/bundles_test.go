package workflows

import (
	"errors"
	"fmt"
	"testing"
)

// TestBundleMemo: a bundle is read, parsed and compiled once however often it is
// asked for; a failed read is tried again; the memo keeps the last bundles only.
func TestBundleMemo(t *testing.T) {
	m := &bundleMemo{entries: map[string]*compiledBundle{}}
	reads := 0
	fail := true
	sources := func() (map[string][]byte, error) {
		reads++
		if fail {
			return nil, errors.New("store unreachable")
		}
		return map[string][]byte{"p.hcl": []byte(`target "hosts" "dc" {
  management_cidrs = ["10.0.0.0/24"]
  host "a" { address = "10.0.1.1" }
}`)}, nil
	}
	if _, err := m.entry("h1").compiled(sources); err == nil {
		t.Fatal("a failed read gave a policy")
	}
	fail = false
	for range 3 {
		states, err := m.entry("h1").compiled(sources)
		if err != nil || states["dc"] == nil {
			t.Fatalf("compiled: %v %v", states, err)
		}
		if p, err := m.entry("h1").parsed(sources); err != nil || p.Targets["dc"] == nil {
			t.Fatalf("parsed: %v", err)
		}
	}
	if reads != 2 {
		t.Errorf("%d reads, want 2 (the failed one, then one)", reads)
	}
	for i := range bundleMemoSize {
		m.entry(fmt.Sprint("other", i))
	}
	if _, kept := m.entries["h1"]; kept || len(m.entries) != bundleMemoSize {
		t.Errorf("the memo holds %d bundles, h1 kept %v", len(m.entries), kept)
	}
}
