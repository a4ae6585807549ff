package gcp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/test/gceemu"
)

// scalePolicy is one gcp target with n enforce-mode segments of one instance each
// and m allows between random segments: up to 2m compiled rules (egress at the
// source, ingress at the destination).
func scalePolicy(t *testing.T, n, m int) *model.DesiredState {
	var b strings.Builder
	fmt.Fprintf(&b, "target \"gcp\" \"prod\" {\n  project = %q\n  network = \"prod-vpc\"\n}\n", project)
	for i := range 10 {
		fmt.Fprintf(&b, "service \"s%d\" { ports = [\"tcp/%d\"] }\n", i, 2000+i)
	}
	for i := range n {
		fmt.Fprintf(&b, "segment \"seg%d\" {\n  target = target.gcp.prod\n  members { labels = { segment = \"seg%d\" } }\n}\n", i, i)
	}
	r := rand.New(rand.NewPCG(7, 7))
	for i := range m {
		fmt.Fprintf(&b, "allow \"a%d\" {\n  from = [segment.seg%d]\n  to = [segment.seg%d]\n  services = [service.s%d]\n}\n", i, r.IntN(n), r.IntN(n), r.IntN(10))
	}
	return compileText(t, b.String())
}

// TestAPICallsAtScale plans and applies 500 segments and about 5,000 rules,
// counting the calls the emulator answers: a plan's grow with pages, not rules; an
// apply writes one firewall rule per allow and direction (and 4 denies per
// segment) and sets each instance's tags once. Then one allow is added, applied
// with 30% of calls rate-limited: two rules change, and it converges.
func TestAPICallsAtScale(t *testing.T) {
	const n, m = 500, 2500
	c := emulated(t, gceemu.Options{Seed: 8, FirewallQuota: 20000})
	for i := range n {
		if err := c.emu.AddInstance("us-central1-a", fmt.Sprintf("vm-%d", i), gceemu.InstanceSpec{Network: "prod-vpc",
			Labels: map[string]string{"segment": fmt.Sprintf("seg%d", i)}, IP: fmt.Sprintf("10.0.%d.%d", i/250, 4+i%250)}); err != nil {
			t.Fatal(err)
		}
	}
	state := scalePolicy(t, n, m)
	p, _ := New(c.Clients, state.Target, "scale", DefaultLimits, time.Millisecond)
	ctx := context.Background()

	c.emu.ResetCalls()
	began := time.Now()
	pl := planOf(t, p, state)
	planCalls, planTime := sumCalls(c.emu.Calls()), time.Since(began)
	c.emu.ResetCalls()
	began = time.Now()
	if err := pl.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	applyCalls, applyTime := c.emu.Calls(), time.Since(began)
	add, _, _ := pl.Plan.Counts()
	t.Logf("%d segments, %d rules: plan %d calls in %v (fresh network); apply of %d objects %d calls in %v %v",
		n, len(state.Rules), planCalls, planTime.Round(time.Millisecond), add, sumCalls(applyCalls), applyTime.Round(time.Millisecond), applyCalls)

	c.emu.ResetCalls()
	if again := planOf(t, p, state); !again.Plan.Empty() {
		t.Fatalf("after apply %d changes remain", len(again.Plan.Changes))
	}
	t.Logf("plan of the populated network: %d calls %v", sumCalls(c.emu.Calls()), c.emu.Calls())

	more := scalePolicy(t, n, m+1)
	c.emu.SetFaults(0.2, 0.1, 0)
	c.emu.ResetCalls()
	pl = planOf(t, p, more)
	if err := pl.Apply(ctx, p); err != nil {
		t.Fatalf("apply with 30%% of calls rate-limited: %v", err)
	}
	calls := c.emu.Calls()
	c.emu.SetFaults(0, 0, 0)
	if again := planOf(t, p, more).Plan; !again.Empty() {
		t.Fatalf("after the rate-limited apply %d changes remain", len(again.Changes))
	}
	add, change, remove := pl.Plan.Counts()
	t.Logf("one allow added: %d rules added, %d changed, %d removed; plan and apply with 30%% of calls rate-limited converged in %d calls %v",
		add, change, remove, sumCalls(calls), calls)
	if change != 0 || remove != 0 {
		t.Errorf("adding an allow changed or removed rules:\n%s", rendered(pl.Plan))
	}
}
