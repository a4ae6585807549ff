package azure

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/test/armemu"
)

// scalePolicy is one azure target with n enforce-mode segments of one NIC each and
// m allows between random segments: up to 2m rules (egress at the source, ingress
// at the destination), plus 2 denies per segment and the 2 catch-alls.
func scalePolicy(t testing.TB, subnet string, n, m int) *model.DesiredState {
	var b strings.Builder
	fmt.Fprintf(&b, "target \"azure\" \"prod\" {\n  subscription_id = %q\n  resource_group = %q\n  location = %q\n  subnet_ids = [%q]\n}\n", sub, rg, location, subnet)
	for i := range 10 {
		fmt.Fprintf(&b, "service \"s%d\" { ports = [\"tcp/%d\"] }\n", i, 2000+i)
	}
	for i := range n {
		fmt.Fprintf(&b, "segment \"seg%d\" {\n  target = target.azure.prod\n  members { tags = { segment = \"seg%d\" } }\n}\n", i, i)
	}
	r := rand.New(rand.NewPCG(7, 7))
	for i := range m {
		fmt.Fprintf(&b, "allow \"a%d\" {\n  from = [segment.seg%d]\n  to = [segment.seg%d]\n  services = [service.s%d]\n}\n", i, r.IntN(n), r.IntN(n), r.IntN(10))
	}
	loaded, diags := hclload.LoadSources(map[string][]byte{"p.hcl": []byte(b.String())})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	states, err := model.Compile(loaded.Policy)
	if err != nil {
		t.Fatal(err)
	}
	return states["prod"]
}

// TestAPICallsAtScale plans and applies n segments and about 2m rules, counting the
// calls the emulator answers: they grow with pages, segments and members, never
// with rules (the NSG is read and written whole), against one call per rule for a
// rule-by-rule tool. Then one allow is added and applied with 30% of calls
// throttled: one rule changes, and it converges. The 500-segment case is beyond
// Azure's limits (1000 rules, 100 ASGs per NSG), which both the provider and the
// emulator are told to lift, to show how calls grow.
func TestAPICallsAtScale(t *testing.T) {
	for _, c := range []struct{ n, m int }{{100, 390}, {500, 2500}} {
		t.Run(fmt.Sprintf("%d segments", c.n), func(t *testing.T) { callsAtScale(t, c.n, c.m) })
	}
}

func callsAtScale(t *testing.T, n, m int) {
	srv, subnet, clients, _ := emulated(t, armemu.Options{Seed: 7, RulesPerNSG: 20000})
	emu := srv.Emulator
	for i := range n {
		emu.AddNIC(rg, fmt.Sprintf("nic-%d", i), armemu.NICSpec{Tags: map[string]string{"segment": fmt.Sprintf("seg%d", i)}, Subnet: subnet,
			Addresses: []string{fmt.Sprintf("10.0.%d.%d", i/250, 4+i%250)}})
	}
	state := scalePolicy(t, subnet, n, m)
	target := state.Target
	limits := DefaultLimits
	if n > 100 {
		limits = Limits{RulesPerNSG: 20000, ASGsPerNSG: 1000, ASGsPerIPConfg: 20, AddressesPerSide: 4000}
	}
	p, _ := New(clients, target, "scale", limits)
	ctx := context.Background()

	emu.ResetCalls()
	began := time.Now()
	pl := planOf(t, p, state)
	planCalls, planTime := sumCalls(emu.Calls()), time.Since(began)
	emu.ResetCalls()
	began = time.Now()
	if err := pl.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	applyCalls, applyTime := emu.Calls(), time.Since(began)
	add, _, _ := pl.Plan.Counts()
	t.Logf("%d segments, %d rules: plan %d calls in %v (fresh target); apply of %d objects %d calls in %v %v; one call per rule would be %d",
		n, len(state.Rules), planCalls, planTime.Round(time.Millisecond), add, sumCalls(applyCalls), applyTime.Round(time.Millisecond), applyCalls, len(state.Rules))
	if applyCalls["PUT networkSecurityGroups"] != 1 {
		t.Errorf("%d NSG writes, want 1", applyCalls["PUT networkSecurityGroups"])
	}

	emu.ResetCalls()
	again := planOf(t, p, state)
	if !again.Plan.Empty() {
		t.Fatalf("after apply %d changes remain", len(again.Plan.Changes))
	}
	t.Logf("plan of the populated target: %d calls %v", sumCalls(emu.Calls()), emu.Calls())

	// One allow more, applied with 30% of calls throttled.
	more := scalePolicy(t, subnet, n, m+1)
	emu.SetFaults(0.3, 0, 0)
	emu.ResetCalls()
	pl = planOf(t, p, more)
	rules := 0
	for _, ch := range pl.Plan.Changes {
		if ch.Kind == model.ObjectRule {
			rules++
			if ch.Action != model.ActionAdd {
				t.Errorf("adding an allow changes %s", ch.Key)
			}
		}
	}
	if err := pl.Apply(ctx, p); err != nil {
		t.Fatalf("apply with 30%% of calls throttled: %v", err)
	}
	calls := emu.Calls()
	emu.SetFaults(0, 0, 0)
	if again := planOf(t, p, more).Plan; !again.Empty() {
		t.Fatalf("after the throttled apply %d changes remain", len(again.Changes))
	}
	t.Logf("one allow added: %d rules added, none renumbered; plan and apply with 30%% of calls throttled converged in %d calls %v", rules, sumCalls(calls), calls)
}
