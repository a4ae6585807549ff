package gcp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
	"github.com/microseg/microseg/test/gceemu"
)

func applyAll(t *testing.T, p *Provider, st *model.DesiredState) *providers.Planned {
	t.Helper()
	pl := planOf(t, p, st)
	if err := pl.Apply(context.Background(), p); err != nil {
		t.Fatalf("apply: %v\n%s", err, rendered(pl.Plan))
	}
	if again := planOf(t, p, st); !again.Plan.Empty() {
		t.Fatalf("not converged:\n%s", rendered(again.Plan))
	}
	return pl
}

// manyCIDRs is a policy whose internet-to-web allow names n networks.
func manyCIDRs(t *testing.T, n int) *model.DesiredState {
	var cidrs []string
	for i := range n {
		cidrs = append(cidrs, fmt.Sprintf("%q", fmt.Sprintf("203.0.%d.0/24", i)))
	}
	src := strings.Replace(fmt.Sprintf(policyText, project, ""), `network "internet" { cidrs = ["0.0.0.0/0", "::/0"] }`,
		`network "internet" { cidrs = [`+strings.Join(cidrs, ", ")+`] }`, 1)
	return compileText(t, src)
}

// TestSplitAtTheLimit: an allow with more ranges than a rule holds becomes several
// rules, and adding one range changes one rule, never reshuffling the others.
func TestSplitAtTheLimit(t *testing.T) {
	c := emulated(t, gceemu.Options{Seed: 2})
	addInstances(t, c.emu)
	target, _ := compile(t, "")
	limits := DefaultLimits
	limits.RangesPerRule = 3
	p, _ := New(c.Clients, target, "test", limits, time.Millisecond)
	applyAll(t, p, manyCIDRs(t, 7))
	var chunks []string
	for _, f := range c.emu.Firewalls() {
		if strings.HasPrefix(f.Name, "ms-prod-web-internet-to-web-i4") {
			chunks = append(chunks, fmt.Sprintf("%s=%d", f.Name, len(f.SourceRanges)))
		}
	}
	if strings.Join(chunks, " ") != "ms-prod-web-internet-to-web-i4=3 ms-prod-web-internet-to-web-i4-2=3 ms-prod-web-internet-to-web-i4-3=1" {
		t.Fatalf("7 ranges split as %v", chunks)
	}
	c.emu.ResetCalls()
	pl := applyAll(t, p, manyCIDRs(t, 8))
	add, change, remove := pl.Plan.Counts()
	if calls := c.emu.Calls(); add != 1 || change != 0 || remove != 0 || calls["UPDATE firewalls"] != 1 || calls["INSERT firewalls"] != 0 {
		t.Errorf("adding one range: %d/%d/%d changes, calls %v; want one rule updated:\n%s", add, change, remove, calls, rendered(pl.Plan))
	}
}

func compileText(t *testing.T, src string) *model.DesiredState {
	t.Helper()
	loaded, diags := hclload.LoadSources(map[string][]byte{"p.hcl": []byte(src)})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	states, err := model.Compile(loaded.Policy)
	if err != nil {
		t.Fatal(err)
	}
	return states["prod"]
}

// TestQuotaAndNamesCheckedAtPlan: a plan over the project's firewall quota, or
// wanting a name a rule microseg does not manage holds, fails before any write.
func TestQuotaAndNamesCheckedAtPlan(t *testing.T) {
	c := emulated(t, gceemu.Options{Seed: 3, FirewallQuota: 10})
	addInstances(t, c.emu)
	target, st := compile(t, "")
	p, _ := New(c.Clients, target, "test", DefaultLimits, time.Millisecond)
	_, err := providers.Plan(context.Background(), p, st, "prod")
	if err == nil || !strings.Contains(err.Error(), "target prod needs 14 firewall rules, but project microseg-test has room for 10 (quota 10, 0 in use") {
		t.Fatalf("plan over quota: %v", err)
	}
	c2 := emulated(t, gceemu.Options{Seed: 4})
	op, err := c2.Firewalls.Insert(context.Background(), &computepb.InsertFirewallRequest{Project: project, FirewallResource: &computepb.Firewall{
		Name: ptr("ms-prod-web-deny-in4"), Network: ptr("projects/" + project + "/global/networks/prod-vpc"), SourceRanges: []string{"10.0.0.0/8"},
		Allowed: []*computepb.Allowed{{IPProtocol: ptr("tcp"), Ports: []string{"22"}}}}})
	waitOp(t, op, err)
	p2, _ := New(c2.Clients, target, "test", DefaultLimits, time.Millisecond)
	c2.emu.ResetCalls()
	_, err = providers.Plan(context.Background(), p2, st, "prod")
	if err == nil || !strings.Contains(err.Error(), "firewall rule ms-prod-web-deny-in4 exists in project microseg-test without microseg's mark") {
		t.Fatalf("plan with a foreign rule of microseg's name: %v", err)
	}
	for call := range c2.emu.Calls() {
		if !strings.HasPrefix(call, "LIST") && !strings.HasPrefix(call, "GET") && !strings.HasPrefix(call, "AGGREGATED") && call != "POST token" {
			t.Errorf("the refused plan made the call %s", call)
		}
	}
}

// TestWideningRuleIsAFinding: a rule microseg does not manage that allows traffic
// to every instance ahead of the denies is reported, and left alone.
func TestWideningRuleIsAFinding(t *testing.T) {
	c := emulated(t, gceemu.Options{Seed: 5})
	addInstances(t, c.emu)
	op, err := c.Firewalls.Insert(context.Background(), &computepb.InsertFirewallRequest{Project: project, FirewallResource: &computepb.Firewall{
		Name: ptr("default-allow-internal"), Network: ptr("projects/" + project + "/global/networks/prod-vpc"), Priority: ptr(int32(1000)),
		SourceRanges: []string{"10.0.0.0/8"}, Allowed: []*computepb.Allowed{{IPProtocol: ptr("all")}}}})
	waitOp(t, op, err)
	target, st := compile(t, "")
	p, _ := New(c.Clients, target, "test", DefaultLimits, time.Millisecond)
	applyAll(t, p, st)
	f := planOf(t, p, st).Observed.Findings
	if len(f) != 1 || !strings.Contains(f[0].String(), "firewall rule default-allow-internal: allows traffic for every instance of the network at priority 1000, ahead of microseg's deny rules (65000)") {
		t.Errorf("findings %v", f)
	}
	if _, ok := c.emu.Firewall("default-allow-internal"); !ok {
		t.Error("default-allow-internal deleted")
	}
}

// TestSetTagsRace: a setTags whose operation fails on a stale fingerprint is read
// again and retried.
func TestSetTagsRace(t *testing.T) {
	c := emulated(t, gceemu.Options{Seed: 6})
	addInstances(t, c.emu)
	if err := c.emu.FailNextSetTags("us-central1-a", "web-1"); err != nil {
		t.Fatal(err)
	}
	target, st := compile(t, "")
	p, _ := New(c.Clients, target, "test", DefaultLimits, time.Millisecond)
	applyAll(t, p, st)
	if n := c.emu.Calls()["SETTAGS instances"]; n != 5 {
		t.Errorf("%d setTags calls, want 5 (4 instances, one retried)", n)
	}
}

// TestApplyUnderRateLimits applies with 30% of calls rate-limited (403 and 429)
// and 5% failing with 5xx: the retries converge.
func TestApplyUnderRateLimits(t *testing.T) {
	c := emulated(t, gceemu.Options{Seed: 7})
	addInstances(t, c.emu)
	target, st := compile(t, batchToApp)
	p, _ := New(c.Clients, target, "test", DefaultLimits, time.Millisecond)
	c.emu.SetFaults(0.2, 0.1, 0.05)
	applyAll(t, p, st)
	t.Logf("plan, apply and check with 30%% of calls rate-limited: %d calls %v", sumCalls(c.emu.Calls()), c.emu.Calls())
}

func sumCalls(calls map[string]int) int {
	n := 0
	for _, c := range calls {
		n += c
	}
	return n
}
