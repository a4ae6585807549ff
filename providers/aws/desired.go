package aws

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// everywhere is what an audit-mode group allows, in and out, so that traffic flows
// while flow logs show what enforcement would drop.
var everywhere = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// Desired is the target's groups, rules and memberships for the compiled state. It
// checks AWS's quotas first.
func (p *Provider) Desired(ctx context.Context, st *model.DesiredState, obs providers.Observation) ([]model.Object, error) {
	var objs []model.Object
	count := map[string]int{} // "segment direction family" -> rules
	add := func(seg, key string, dir model.Direction, peer model.Peer) {
		objs = append(objs, model.Object{Kind: model.ObjectRule, Key: key})
		for _, fam := range families(peer) {
			count[seg+" "+dir.String()+" "+fam]++
		}
	}
	for _, seg := range st.Segments {
		objs = append(objs, model.Object{Kind: model.ObjectSegment, Key: seg.Name})
		if seg.Mode == model.ModeAudit {
			for _, dir := range []model.Direction{model.Ingress, model.Egress} {
				for _, pfx := range everywhere {
					r := model.Rule{Segment: seg.Name, Direction: dir, Peer: model.Peer{Prefix: pfx}, Port: model.ServicePort{Protocol: model.ProtocolAll}}
					add(seg.Name, r.Key(), dir, r.Peer)
				}
			}
		}
	}
	for _, r := range st.Rules {
		add(r.Segment, r.Key(), r.Direction, r.Peer)
	}
	for _, key := range model.SortedKeys(count) { // the same error every time
		if n := count[key]; n > p.quotas.RulesPerGroup {
			parts := strings.Fields(key)
			return nil, fmt.Errorf("segment %q needs %d %s rules for %s in its security group, over the quota of %d (raise it for target %s, or split the segment)",
				parts[0], n, parts[1], parts[2], p.quotas.RulesPerGroup, p.target.Name)
		}
	}
	if p.quotas.RulesPerGroup*p.quotas.GroupsPerENI > 1000 {
		return nil, fmt.Errorf("target %s: %d rules per group times %d groups per interface exceeds AWS's limit of 1000", p.target.Name, p.quotas.RulesPerGroup, p.quotas.GroupsPerENI)
	}
	// Membership: the interfaces of running instances whose tags the segment selects.
	groupsOn := map[string]int{}
	for _, seg := range st.Segments {
		if len(seg.Members.Tags) == 0 {
			continue
		}
		for _, in := range p.members {
			if !selects(seg.Members.Tags, in.tags) {
				continue
			}
			for _, eni := range in.enis {
				objs = append(objs, model.Object{Kind: model.ObjectMembership, Key: seg.Name + " " + eni})
				groupsOn[eni]++
			}
		}
	}
	for _, eni := range model.SortedKeys(groupsOn) {
		n := groupsOn[eni]
		if !p.exclude {
			for _, gid := range p.enis[eni] {
				if p.foreign[gid] {
					n++
				}
			}
		}
		if n > p.quotas.GroupsPerENI {
			return nil, fmt.Errorf("interface %s would carry %d security groups, over the quota of %d (it is a member of %d segments)", eni, n, p.quotas.GroupsPerENI, groupsOn[eni])
		}
	}
	return objs, nil
}

// families is the address families a rule counts against: a group reference counts
// in both, as AWS counts it.
func families(peer model.Peer) []string {
	switch {
	case peer.Segment != "":
		return []string{"IPv4", "IPv6"}
	case peer.Prefix.Addr().Is4():
		return []string{"IPv4"}
	default:
		return []string{"IPv6"}
	}
}

func selects(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
