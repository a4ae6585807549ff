package policygen

import (
	"testing"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
)

// TestGeneratedHCLLoadsBack checks that the generated HCL is a valid policy equal in
// size to the generated model, and that both compile to the same number of rules.
func TestGeneratedHCLLoadsBack(t *testing.T) {
	p := Generate(Params{Segments: 200, Allows: 2000, Seed: 1})
	loaded, diags := hclload.LoadSources(map[string][]byte{"gen.hcl": HCL(p)})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	got := loaded.Policy
	if len(got.Segments) != 200 || len(got.Allows) != 2000 || len(got.Targets) != 4 {
		t.Fatalf("loaded %d segments, %d allows, %d targets", len(got.Segments), len(got.Allows), len(got.Targets))
	}
	want, err := model.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	have, err := model.Compile(got)
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if len(want[name].Rules) != len(have[name].Rules) {
			t.Errorf("target %s: %d rules from the model, %d from its HCL", name, len(want[name].Rules), len(have[name].Rules))
		}
	}
}

// TestCompiledRulesAreInKeyOrder checks what Compile relies on to skip building keys:
// sorting by the rank of each part of a rule gives the order of the rule keys, and
// equal rules are merged, so Objects come out sorted and unique.
func TestCompiledRulesAreInKeyOrder(t *testing.T) {
	for seed := range uint64(5) {
		states, err := model.Compile(Generate(Params{Segments: 300, Allows: 3000, Services: 30, Seed: seed}))
		if err != nil {
			t.Fatal(err)
		}
		for name, st := range states {
			objs := st.Objects()
			for i := 1; i < len(objs); i++ {
				a, b := objs[i-1], objs[i]
				if a.Kind > b.Kind || (a.Kind == b.Kind && a.Key >= b.Key) {
					t.Fatalf("seed %d target %s: %q (%v) before %q (%v)", seed, name, a.Key, a.Kind, b.Key, b.Kind)
				}
			}
		}
	}
}
