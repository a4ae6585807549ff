package azure

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// stateWithAllows is a target with segments web (enforce) and batch (audit) and n
// allows into web from 10.i.j.0/24, leaving out the allows in skip.
func stateWithAllows(t *model.Target, n int, skip map[int]bool) *model.DesiredState {
	st := &model.DesiredState{Target: t, Segments: []model.SegmentState{
		{Name: "batch", Mode: model.ModeAudit}, {Name: "web", Mode: model.ModeEnforce},
	}, Allows: map[string]*model.Allow{}}
	for i := 0; i < n; i++ {
		if skip[i] {
			continue
		}
		name := fmt.Sprintf("allow-%04d", i)
		st.Rules = append(st.Rules, &model.Rule{Segment: "web", Direction: model.Ingress,
			Peer: model.Peer{Prefix: netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", i/256, i%256))},
			Port: model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 443, Last: 443}}, Allows: []string{name}})
	}
	return st
}

func testTarget() *model.Target {
	return &model.Target{Kind: model.KindAzure, Name: "prod", Azure: &model.AzureTarget{SubscriptionID: "sub", ResourceGroup: "rg", Location: "westeurope"}}
}

// applied is the observation of an NSG that holds exactly want's rules, as Azure
// returns them (through their ARM form, so that reading them back is tested too).
func applied(t *testing.T, p *Provider, want providers.Desired) providers.Observation {
	t.Helper()
	o := &observed{asgs: map[string]string{"web": p.asgID("web"), "batch": p.asgID("batch")}, foreign: map[string]string{},
		nsg: &armnetwork.SecurityGroup{Etag: to.Ptr("1")}}
	obs := providers.Observation{State: o}
	segmentOf := o.segmentOfASG()
	for _, r := range want.State.(*desiredNSG).rules {
		for _, s := range specsFromRule(securityRule(r, p.asgID), segmentOf) {
			o.live = append(o.live, s)
			obs.Objects = append(obs.Objects, model.Object{Kind: model.ObjectRule, Key: s.key(), Fields: s.fields(), Content: s})
		}
	}
	return obs
}

// TestPrioritiesStable adds and removes one allow in the middle of a 500-rule NSG:
// exactly one rule changes, and no other rule's priority moves.
func TestPrioritiesStable(t *testing.T) {
	p, err := New(&Clients{}, testTarget(), "test", DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	without := stateWithAllows(p.target, 500, map[int]bool{250: true})
	first, err := p.Desired(ctx, without, providers.Observation{State: &observed{asgs: map[string]string{}}})
	if err != nil {
		t.Fatal(err)
	}
	obs := applied(t, p, first)
	priorities := func(d providers.Desired) map[string]int32 {
		m := map[string]int32{}
		for _, r := range d.State.(*desiredNSG).rules {
			m[r.key()] = r.priority
		}
		return m
	}
	before := priorities(first)
	for name, st := range map[string]*model.DesiredState{
		"add one":    stateWithAllows(p.target, 500, nil),
		"remove one": stateWithAllows(p.target, 500, map[int]bool{250: true, 100: true}),
	} {
		next, err := p.Desired(ctx, st, obs)
		if err != nil {
			t.Fatal(err)
		}
		plan := model.Diff("prod", next.Objects, obs.Objects)
		var rules, moved int
		for _, c := range plan.Changes {
			if c.Kind == model.ObjectRule {
				rules++
			}
		}
		for key, p := range priorities(next) {
			if old, ok := before[key]; ok && old != p {
				moved++
			}
		}
		if rules != 1 || moved != 0 {
			var b strings.Builder
			plan.Render(&b)
			t.Errorf("%s: %d rules change, %d priorities move, want 1 and 0:\n%s", name, rules, moved, b.String())
		}
		t.Logf("%s allow in a 500-rule NSG: %d rule changes, %d other rules renumbered", name, rules, moved)
	}
}

// TestPriorityBands checks the order that makes the NSG mean the policy: allows
// before denies before the catch-all, no two rules of a direction at one number,
// and a rule moved by hand under the denies is drift, given its old band back.
func TestPriorityBands(t *testing.T) {
	p, _ := New(&Clients{}, testTarget(), "test", DefaultLimits)
	st := stateWithAllows(p.target, 3, nil)
	st.Rules = append(st.Rules, &model.Rule{Segment: "web", Direction: model.Egress, Peer: model.Peer{Segment: "batch"},
		Port: model.ServicePort{Protocol: model.ProtocolUDP, Ports: model.PortRange{First: 53, Last: 53}}, Allows: []string{"dns"}})
	want, err := p.Desired(context.Background(), st, providers.Observation{State: &observed{asgs: map[string]string{}}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range want.State.(*desiredNSG).rules {
		slot := fmt.Sprint(r.inbound, r.priority)
		if seen[slot] {
			t.Errorf("two rules at %s", slot)
		}
		seen[slot] = true
		first, last := r.class.band()
		if r.priority < first || r.priority > last {
			t.Errorf("%s at %d, outside %d-%d", r.key(), r.priority, first, last)
		}
	}
	if !seen["true 3096"] || !seen["false 3096"] || !seen["true 4096"] || seen["true 3097"] {
		t.Errorf("want one deny (web) per direction at 3096 and the catch-all at 4096: %v", seen)
	}
	// An allow moved by hand under the denies.
	obs := applied(t, p, want)
	for i, obj := range obs.Objects {
		if s := obj.Content.(*ruleSpec); s.class == classAllow && s.inbound && s.priority == 100 {
			s.priority = 4000
			obs.Objects[i].Fields = s.fields()
		}
	}
	again, _ := p.Desired(context.Background(), st, obs)
	plan := model.Diff("prod", again.Objects, obs.Objects)
	var b strings.Builder
	plan.Render(&b)
	var changes []model.Change
	for _, c := range plan.Changes {
		if c.Kind == model.ObjectRule {
			changes = append(changes, c)
		}
	}
	if len(changes) != 1 || changes[0].Action != model.ActionChange || !strings.Contains(b.String(), `priority: "4000" -> "100"`) {
		t.Fatalf("an allow moved under the denies: want one change of its priority:\n%s", b.String())
	}
}
