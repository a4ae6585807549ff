package aws

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// everywhere is what an audit-mode group allows, in and out, so that traffic flows
// while flow logs show what enforcement would drop.
var everywhere = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// Desired is the target's groups, rules and memberships for the compiled state. It
// checks AWS's quotas first.
func (p *Provider) Desired(ctx context.Context, st *model.DesiredState, obs providers.Observation) (providers.Desired, error) {
	o, err := observedState(obs)
	if err != nil {
		return providers.Desired{}, err
	}
	objs, err := p.desired(st, o)
	return providers.Desired{Objects: objs}, err
}

func (p *Provider) desired(st *model.DesiredState, o *observed) ([]model.Object, error) {
	var objs []model.Object
	count := map[quotaKey]int{}
	add := func(r model.Rule, desc string) {
		objs = append(objs, model.Object{Kind: model.ObjectRule, Key: r.Key(), Fields: descriptionField(desc),
			Content: &ruleSpec{rule: r, description: desc}})
		for _, fam := range families(r.Peer) {
			count[quotaKey{r.Segment, r.Direction, fam}]++
		}
	}
	for _, seg := range st.Segments {
		objs = append(objs, model.Object{Kind: model.ObjectSegment, Key: seg.Name})
		if seg.Mode == model.ModeAudit {
			for _, dir := range []model.Direction{model.Ingress, model.Egress} {
				for _, pfx := range everywhere {
					add(model.Rule{Segment: seg.Name, Direction: dir, Peer: model.Peer{Prefix: pfx}, Port: model.ServicePort{Protocol: model.ProtocolAll}},
						"microseg: audit mode of segment "+sanitizeDescription(seg.Name))
				}
			}
		}
	}
	for _, r := range st.Rules {
		add(model.Rule{Segment: r.Segment, Direction: r.Direction, Peer: r.Peer, Port: r.Port}, ruleDescription(r.Allows, st.Allows))
	}
	keys := make([]quotaKey, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b quotaKey) int { // the same error every time
		return cmp.Or(strings.Compare(a.segment, b.segment), cmp.Compare(a.dir, b.dir), strings.Compare(a.family, b.family))
	})
	for _, k := range keys {
		if n := count[k]; n > p.quotas.RulesPerGroup {
			return nil, fmt.Errorf("segment %q needs %d %s rules for %s in its security group, over the quota of %d (raise it for target %s, or split the segment)",
				k.segment, n, k.dir, k.family, p.quotas.RulesPerGroup, p.target.Name)
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
		for _, in := range o.members {
			if !providers.TagsSelect(seg.Members.Tags, in.tags) {
				continue
			}
			for _, eni := range in.enis {
				objs = append(objs, model.Object{Kind: model.ObjectMembership, Key: seg.Name + " " + eni,
					Content: &memberSpec{eni: eni, segment: seg.Name}})
				groupsOn[eni]++
			}
		}
	}
	for _, eni := range model.SortedKeys(groupsOn) {
		n := groupsOn[eni]
		if !p.exclude {
			for _, gid := range o.enis[eni] {
				if o.foreign[gid] {
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

// quotaKey counts rules against AWS's quota: per group, direction and family.
type quotaKey struct {
	segment string
	dir     model.Direction
	family  string
}

// maxDescription is AWS's limit on a rule description.
const maxDescription = 255

// ruleDescription names a rule's allows in AWS's 255 characters and character set.
func ruleDescription(allows []string, byName map[string]*model.Allow) string {
	return providers.DescribeAllows(allows, byName, maxDescription, sanitizeDescription)
}

// sanitizeDescription keeps the characters AWS accepts in a rule description
// (a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*) and writes "_" for others.
func sanitizeDescription(s string) string {
	return strings.Map(func(c rune) rune {
		if descriptionChar(c) {
			return c
		}
		return '_'
	}, s)
}

func descriptionChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(" ._-:/()#,@[]+=&;{}!$*", c)
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
