package policycache

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
)

func load(t *testing.T, dir string) (map[string][]byte, *model.Policy) {
	t.Helper()
	sources, diags := hclload.ReadDir(dir)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	loaded, diags := hclload.LoadSources(sources)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return sources, loaded.Policy
}

var samePolicy = []cmp.Option{cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })}

// TestRoundTripKeepsThePolicy: what Get returns is the policy Put stored, for the
// example policies and the design's.
func TestRoundTripKeepsThePolicy(t *testing.T) {
	c := &Cache{Dir: t.TempDir(), Version: "test"}
	for _, dir := range []string{"../../examples/three-tier", "../../examples/three-tier-next", "../../hcl/testdata/design"} {
		sources, p := load(t, dir)
		key := c.Key(sources)
		if err := c.Put(key, p); err != nil {
			t.Fatal(err)
		}
		got, ok := c.Get(key)
		if !ok {
			t.Fatalf("%s: no entry after Put", dir)
		}
		if d := cmp.Diff(p, got, samePolicy...); d != "" {
			t.Errorf("%s: the cached policy differs (-loaded +cached):\n%s", dir, d)
		}
		a, errA := model.Compile(p)
		b, errB := model.Compile(got)
		if errA != nil || errB != nil || len(a) != len(b) {
			t.Fatalf("%s: compile: %v, %v", dir, errA, errB)
		}
		for name := range a {
			if d := cmp.Diff(a[name].Objects(), b[name].Objects(), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("%s: target %s compiles differently from the cache:\n%s", dir, name, d)
			}
		}
	}
}

// TestKeyChanges: any change of any file, a file more or renamed, or another
// binary is another key; the same files are the same key.
func TestKeyChanges(t *testing.T) {
	c := &Cache{Version: "v1"}
	base := map[string][]byte{"a.hcl": []byte("x"), "b.hcl": []byte("yz")}
	k := c.Key(base)
	if c.Key(map[string][]byte{"b.hcl": []byte("yz"), "a.hcl": []byte("x")}) != k {
		t.Error("the same files give another key")
	}
	for name, other := range map[string]map[string][]byte{
		"a byte changed": {"a.hcl": []byte("y"), "b.hcl": []byte("yz")},
		"a file more":    {"a.hcl": []byte("x"), "b.hcl": []byte("yz"), "c.hcl": nil},
		"a file renamed": {"a2.hcl": []byte("x"), "b.hcl": []byte("yz")},
		"bytes moved":    {"a.hcl": []byte("xy"), "b.hcl": []byte("z")},
	} {
		if c.Key(other) == k {
			t.Errorf("%s: same key", name)
		}
	}
	if (&Cache{Version: "v2"}).Key(base) == k {
		t.Error("another binary: same key")
	}
}

// TestBrokenEntriesAreIgnored: a truncated, altered or foreign entry is a miss,
// and a Put rebuilds it.
func TestBrokenEntriesAreIgnored(t *testing.T) {
	c := &Cache{Dir: t.TempDir(), Version: "test"}
	sources, p := load(t, "../../examples/three-tier")
	key := c.Key(sources)
	for name, damage := range map[string]func([]byte) []byte{
		"truncated":   func(b []byte) []byte { return b[:len(b)/2] },
		"bit flipped": func(b []byte) []byte { b[len(b)-10] ^= 1; return b },
		"empty":       func([]byte) []byte { return nil },
		"not ours":    func(b []byte) []byte { return append([]byte("something else\n"), b...) },
	} {
		if err := c.Put(key, p); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(c.path(key))
		if err := os.WriteFile(c.path(key), damage(raw), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Get(key); ok {
			t.Errorf("%s entry was trusted", name)
		}
		if err := c.Put(key, p); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Get(key); !ok {
			t.Errorf("%s entry was not rebuilt", name)
		}
	}
}

// TestConcurrentFill: processes filling one entry at once all succeed, leave one
// whole entry and no temporary file.
func TestConcurrentFill(t *testing.T) {
	if dir := os.Getenv("POLICYCACHE_FILL"); dir != "" { // a child of this test
		sources, p := load(t, "../../examples/three-tier")
		c := &Cache{Dir: dir, Version: "test"}
		for range 20 {
			if err := c.Put(c.Key(sources), p); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentFill$")
			cmd.Env = append(os.Environ(), "POLICYCACHE_FILL="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = err
				t.Logf("%s", out)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sources, _ := load(t, "../../examples/three-tier")
	c := &Cache{Dir: dir, Version: "test"}
	if _, ok := c.Get(c.Key(sources)); !ok {
		t.Fatal("no whole entry after concurrent fills")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 1 || strings.HasSuffix(left[0], ".tmp") {
		t.Errorf("files left: %v", left)
	}
}
