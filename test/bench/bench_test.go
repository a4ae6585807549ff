package bench

import (
	"testing"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/internal/peakrss"
	"github.com/microseg/microseg/internal/policycache"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/test/policygen"
)

var size = policygen.Params{Segments: 10_000, Allows: 100_000, Seed: 1}

// policyFiles is the generated policy as a team would keep it: ten files of 10,000
// allows, beside the targets and segments.
func policyFiles() (map[string][]byte, int64) {
	files := policygen.HCLFiles(policygen.Generate(size), 10_000)
	var n int64
	for _, src := range files {
		n += int64(len(src))
	}
	return files, n
}

func BenchmarkLoad(b *testing.B) {
	files, n := policyFiles()
	b.SetBytes(n)
	peakrss.Reset()
	b.ResetTimer()
	for b.Loop() {
		loaded, diags := hclload.LoadSources(files)
		if diags.HasErrors() || len(loaded.Policy.Allows) != size.Allows {
			b.Fatalf("load: %d allows, %v", len(loaded.Policy.Allows), diags)
		}
	}
	peakrss.Report(b)
}

func BenchmarkCompile(b *testing.B) {
	p := policygen.Generate(size)
	peakrss.Reset()
	b.ResetTimer()
	for b.Loop() {
		if _, err := model.Compile(p); err != nil {
			b.Fatal(err)
		}
	}
	peakrss.Report(b)
}

// observedFrom makes an observed state that differs from desired the way a live
// target does: 1% of rules missing, 1% changed, and 1% extra rules added by hand.
func observedFrom(desired []model.Object) []model.Object {
	observed := make([]model.Object, 0, len(desired)+len(desired)/100)
	for i, o := range desired {
		switch {
		case o.Kind == model.ObjectRule && i%100 == 1:
			continue
		case o.Kind == model.ObjectRule && i%100 == 2:
			o.Fields = []model.Field{{Name: "allows", Value: "changed-by-hand"}}
		case o.Kind == model.ObjectRule && i%100 == 3:
			observed = append(observed, model.Object{Kind: model.ObjectRule, Key: o.Key + " (manual)"})
		}
		observed = append(observed, o)
	}
	return observed
}

func BenchmarkDiff(b *testing.B) {
	states, err := model.Compile(policygen.Generate(size))
	if err != nil {
		b.Fatal(err)
	}
	desired := map[string][]model.Object{}
	observed := map[string][]model.Object{}
	for name, st := range states {
		desired[name] = st.Objects()
		observed[name] = observedFrom(desired[name])
	}
	peakrss.Reset()
	b.ResetTimer()
	for b.Loop() {
		for name := range states {
			if model.Diff(name, desired[name], observed[name]).Empty() {
				b.Fatal("empty plan")
			}
		}
	}
	peakrss.Report(b)
}

// BenchmarkCompileAndDiff is the figure the foundation issue sets a target for
// (under 1 s and 1 GiB): compile the policy, put every target's desired state in
// canonical form, and diff it against an observed state.
func BenchmarkCompileAndDiff(b *testing.B) {
	p := policygen.Generate(size)
	first, err := model.Compile(p)
	if err != nil {
		b.Fatal(err)
	}
	observed := map[string][]model.Object{}
	rules := 0
	for name, st := range first {
		observed[name] = observedFrom(st.Objects())
		rules += len(st.Rules)
	}
	first = nil
	b.ReportMetric(float64(rules), "rules")
	peakrss.Reset()
	b.ResetTimer()
	for b.Loop() {
		states, err := model.Compile(p)
		if err != nil {
			b.Fatal(err)
		}
		for name, st := range states {
			if model.Diff(name, st.Objects(), observed[name]).Empty() {
				b.Fatal("empty plan")
			}
		}
	}
	peakrss.Report(b)
}

// BenchmarkLoadCompileDiff is the whole pipeline from HCL text to plans.
func BenchmarkLoadCompileDiff(b *testing.B) {
	files, _ := policyFiles()
	peakrss.Reset()
	b.ResetTimer()
	for b.Loop() {
		loaded, diags := hclload.LoadSources(files)
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		states, err := model.Compile(loaded.Policy)
		if err != nil {
			b.Fatal(err)
		}
		for name, st := range states {
			model.Diff(name, st.Objects(), nil)
		}
	}
	peakrss.Report(b)
}

// BenchmarkLoadCached is what a command run again on the unchanged policy pays
// to have it loaded: hash the files, read, verify and decode the cache entry.
func BenchmarkLoadCached(b *testing.B) {
	files, n := policyFiles()
	loaded, diags := hclload.LoadSources(files)
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	c := &policycache.Cache{Dir: b.TempDir(), Version: "bench"}
	if err := c.Put(c.Key(files), loaded.Policy); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n)
	peakrss.Reset()
	b.ResetTimer()
	for b.Loop() {
		p, ok := c.Get(c.Key(files))
		if !ok || len(p.Allows) != size.Allows {
			b.Fatal("no cache entry")
		}
	}
	peakrss.Report(b)
}
