package aws

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestQuotaExceededFailsBeforeAnyCall(t *testing.T) {
	var ports []string
	for i := range 61 {
		ports = append(ports, fmt.Sprintf("%q", fmt.Sprintf("tcp/%d", 1000+i)))
	}
	src := strings.Replace(policy, `service "https" { ports = ["tcp/443"] }`, `service "https" { ports = [`+strings.Join(ports, ", ")+`] }`, 1)
	emu, client := emulated(t)
	target, state := compile(t, src)
	p, _ := New(client, target, "test", DefaultQuotas)
	obs, err := p.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	emu.ResetCalls()
	_, err = p.Desired(context.Background(), state, obs)
	if err == nil || !strings.Contains(err.Error(), `segment "web" needs 61 ingress rules for IPv4`) || !strings.Contains(err.Error(), "quota of 60") {
		t.Fatalf("error = %v", err)
	}
	if len(emu.Calls()) != 0 {
		t.Errorf("calls made after the quota check: %v", emu.Calls())
	}
}

// scalePolicy is one VPC with n segments of one instance each and m allows between
// random segments: 2m rules (egress at the source, ingress at the destination).
func scalePolicy(n, m int) string {
	var b strings.Builder
	b.WriteString(`target "aws" "prod" {
  region = "us-east-1"
  vpc_id = "vpc-1"
  exclusive_membership = true
}
`)
	for i := range 10 {
		fmt.Fprintf(&b, "service \"s%d\" { ports = [\"tcp/%d\"] }\n", i, 2000+i)
	}
	for i := range n {
		fmt.Fprintf(&b, "segment \"seg%d\" {\n  target = target.aws.prod\n  members { tags = { segment = \"seg%d\" } }\n}\n", i, i)
	}
	r := rand.New(rand.NewPCG(7, 7))
	for i := range m {
		fmt.Fprintf(&b, "allow \"a%d\" {\n  from = [segment.seg%d]\n  to = [segment.seg%d]\n  services = [service.s%d]\n}\n", i, r.IntN(n), r.IntN(n), r.IntN(10))
	}
	return b.String()
}

func sum(calls map[string]int) int {
	n := 0
	for _, c := range calls {
		n += c
	}
	return n
}

// TestAPICallsAtScale plans and applies 500 segments and 5,000 rules, counting the
// calls the emulator answers: they grow with pages and groups, not with rules
// (Terraform makes one call per rule). Then it applies again with 30% of calls
// throttled: it converges.
func TestAPICallsAtScale(t *testing.T) {
	emu, client := emulated(t)
	const n, m = 500, 2500
	for i := range n {
		emu.AddInstance("vpc-1", map[string]string{"segment": fmt.Sprintf("seg%d", i)}, fmt.Sprintf("10.%d.%d.10", i/256, i%256))
	}
	target, state := compile(t, scalePolicy(n, m))
	if len(state.Rules) < 4900 {
		t.Fatalf("only %d rules", len(state.Rules))
	}
	p, _ := New(client, target, "scale", DefaultQuotas)
	ctx := context.Background()

	emu.ResetCalls()
	began := time.Now()
	pl := planned(t, p, state)
	plan := pl.Plan
	planCalls, planTime := sum(emu.Calls()), time.Since(began)

	emu.ResetCalls()
	if err := pl.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	applyCalls := emu.Calls()
	add, _, _ := plan.Counts()
	t.Logf("%d rules: plan %d calls in %v (fresh VPC); apply of %d objects %d calls %v; Terraform would make one call per rule (%d)",
		len(state.Rules), planCalls, planTime.Round(time.Millisecond), add, sum(applyCalls), applyCalls, len(state.Rules))

	// A second plan on the populated VPC, and its calls.
	emu.ResetCalls()
	began = time.Now()
	if again := planned(t, p, state).Plan; !again.Empty() {
		t.Fatalf("after apply %d changes remain", len(again.Changes))
	}
	t.Logf("plan of the populated VPC: %d calls %v in %v", sum(emu.Calls()), emu.Calls(), time.Since(began).Round(time.Millisecond))

	// Half the rules go, applied with 30% of calls throttled.
	emu.SetFaults(0.3, 0)
	emu.ResetCalls()
	state.Rules = state.Rules[:len(state.Rules)/2] // half the rules go: revokes
	pl = planned(t, p, state)
	plan = pl.Plan
	if err := pl.Apply(ctx, p); err != nil {
		t.Fatalf("apply with 30%% of calls throttled: %v", err)
	}
	emu.SetFaults(0, 0)
	if again := planned(t, p, state).Plan; !again.Empty() {
		t.Fatalf("after the throttled apply %d changes remain", len(again.Changes))
	}
	t.Logf("apply removing %d rules with 30%% of calls throttled converged", len(plan.Changes))
}
