package azure

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// desiredNSG is Desired.State: the whole rule set of the target's NSG, which Apply
// writes in one PUT.
type desiredNSG struct {
	rules []*ruleSpec // sorted by direction, priority
}

// Desired is the target's ASGs, NSG rules (the policy's allows, a deny-all for each
// enforce-mode segment, the catch-all), subnets and memberships for the compiled
// state. It refuses, before any call, an NSG or ASG of microseg's names that
// microseg does not manage, a subnet carrying another NSG, and anything over
// Azure's limits.
func (p *Provider) Desired(ctx context.Context, st *model.DesiredState, obs providers.Observation) (providers.Desired, error) {
	o, err := observedState(obs)
	if err != nil {
		return providers.Desired{}, err
	}
	if err := p.checkOwnership(st, o); err != nil {
		return providers.Desired{}, err
	}
	rules, err := p.desiredRules(st, o)
	if err != nil {
		return providers.Desired{}, err
	}
	var objs []model.Object
	for _, seg := range st.Segments {
		objs = append(objs, model.Object{Kind: model.ObjectSegment, Key: seg.Name, Content: &asgSpec{segment: seg.Name}})
	}
	for _, r := range rules {
		objs = append(objs, model.Object{Kind: model.ObjectRule, Key: r.key(), Fields: r.fields(), Content: r})
	}
	for _, s := range o.subnets {
		objs = append(objs, model.Object{Kind: model.ObjectMembership, Key: subnetKey(s), Content: &subnetSpec{subnet: s}})
	}
	members, err := p.desiredMembers(st, o)
	if err != nil {
		return providers.Desired{}, err
	}
	objs = append(objs, members...)
	sorted := slices.Clone(rules)
	sortSpecs(sorted)
	return providers.Desired{Objects: objs, State: &desiredNSG{rules: sorted}}, nil
}

// checkOwnership refuses to take over what has microseg's names but not its tags.
func (p *Provider) checkOwnership(st *model.DesiredState, o *observed) error {
	if o.notOurs {
		return fmt.Errorf("target %s: network security group %s exists in %s without the tag %s=true: microseg never changes an NSG it does not manage (rename it, or tag it if it is microseg's)",
			p.target.Name, p.nsgName(), p.cfg.ResourceGroup, TagManaged)
	}
	for _, seg := range st.Segments {
		for id, name := range o.foreign {
			if strings.EqualFold(name, namePrefix+seg.Name) {
				return fmt.Errorf("segment %q: application security group %s (%s) exists without the tags %s=true and %s=%s: microseg never changes an ASG it does not manage",
					seg.Name, name, id, TagManaged, TagSegment, seg.Name)
			}
		}
	}
	for _, s := range o.subnets {
		if s.nsgID != "" && !p.isOurNSG(s.nsgID) {
			return fmt.Errorf("target %s: subnet %s already carries network security group %s, which microseg does not manage; a subnet holds one NSG, and microseg never replaces one: detach it, or take the subnet out of subnet_ids",
				p.target.Name, s.id, s.nsgID)
		}
	}
	return nil
}

// desiredRules builds the NSG's rules and gives them priorities.
func (p *Provider) desiredRules(st *model.DesiredState, o *observed) ([]*ruleSpec, error) {
	byKey := map[string]*ruleSpec{}
	allowsOf := map[string][]string{}
	for _, r := range st.Rules {
		s, err := specFromRule(r)
		if err != nil {
			return nil, err
		}
		k := s.key()
		if byKey[k] == nil { // icmp/0 and icmp/8 are one NSG rule
			byKey[k] = s
		}
		allowsOf[k] = append(allowsOf[k], r.Allows...)
	}
	for k, s := range byKey {
		allows := slices.Compact(slices.Sorted(slices.Values(allowsOf[k])))
		s.description = ruleDescription(allows, st.Allows)
	}
	for _, seg := range st.Segments {
		if seg.Mode == model.ModeEnforce {
			for _, in := range []bool{true, false} {
				s := denySpec(seg.Name, in)
				byKey[s.key()] = s
			}
		}
	}
	for _, in := range []bool{true, false} {
		s := catchAllSpec(in)
		byKey[s.key()] = s
	}
	want := make([]*ruleSpec, 0, len(byKey))
	for _, k := range model.SortedKeys(byKey) {
		want = append(want, byKey[k])
	}
	if err := p.checkRuleLimits(want); err != nil {
		return nil, err
	}
	held := make(map[string]*ruleSpec, len(o.live))
	for _, l := range o.live {
		if held[l.key()] == nil {
			held[l.key()] = l
		}
	}
	if err := allocatePriorities(p.target.Name, want, held, o.live); err != nil {
		return nil, err
	}
	return want, nil
}

// checkRuleLimits checks the NSG's rule count and the ASGs its rules name.
func (p *Provider) checkRuleLimits(want []*ruleSpec) error {
	if n := len(want); n > p.limits.RulesPerNSG {
		return fmt.Errorf("target %s: its NSG needs %d security rules (the policy's allows, 2 deny rules per enforce-mode segment and 2 catch-all rules), over Azure's limit of %d per NSG: split the target",
			p.target.Name, n, p.limits.RulesPerNSG)
	}
	asgs := map[string]bool{}
	var sources, destinations int
	for _, r := range want {
		for _, e := range []endpoint{r.source, r.destination} {
			if e.segment != "" {
				asgs[e.segment] = true
			}
		}
		if r.source.prefix != "" && r.source.prefix != "*" {
			sources++
		}
		if r.destination.prefix != "" && r.destination.prefix != "*" {
			destinations++
		}
	}
	for _, side := range []struct {
		name string
		n    int
	}{{"source", sources}, {"destination", destinations}} {
		if side.n > p.limits.AddressesPerSide {
			return fmt.Errorf("target %s: its NSG's rules name %d %s address prefixes, over Azure's limit of %d per NSG: split the target, or give peers fewer cidrs",
				p.target.Name, side.n, side.name, p.limits.AddressesPerSide)
		}
	}
	if n := len(asgs); n > p.limits.ASGsPerNSG {
		return fmt.Errorf("target %s: its NSG's rules name %d application security groups (one per segment), over Azure's limit of %d per NSG: split the target",
			p.target.Name, n, p.limits.ASGsPerNSG)
	}
	return nil
}

// desiredMembers is every ip configuration of the NICs whose tags (their VM's,
// overlaid by their own) a segment selects, in that segment's ASG.
func (p *Provider) desiredMembers(st *model.DesiredState, o *observed) ([]model.Object, error) {
	var objs []model.Object
	count := map[string]int{} // ip configuration -> ASGs it will carry
	for _, seg := range st.Segments {
		if len(seg.Members.Tags) == 0 {
			continue
		}
		for _, in := range o.nics {
			if !providers.TagsSelect(seg.Members.Tags, in.tags) {
				continue
			}
			for _, ipc := range in.raw.Properties.IPConfigurations {
				if ipc == nil || ipc.Name == nil {
					continue
				}
				where := in.name + "/" + *ipc.Name
				objs = append(objs, model.Object{Kind: model.ObjectMembership, Key: seg.Name + " " + where,
					Content: &memberSpec{nic: in.name, ipConfig: *ipc.Name, segment: seg.Name}})
				if count[where] == 0 && !p.exclude && ipc.Properties != nil {
					for _, g := range ipc.Properties.ApplicationSecurityGroups {
						if _, foreign := o.foreign[strings.ToLower(deref(g.ID))]; foreign {
							count[where]++
						}
					}
				}
				count[where]++
			}
		}
	}
	for _, where := range model.SortedKeys(count) {
		if n := count[where]; n > p.limits.ASGsPerIPConfg {
			return nil, fmt.Errorf("ip configuration %s would be in %d application security groups, over Azure's limit of %d", where, n, p.limits.ASGsPerIPConfg)
		}
	}
	return objs, nil
}
