package aws

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/microseg/microseg/model"
)

// permissionsPerCall bounds one authorize call; AWS refuses very large requests.
const permissionsPerCall = 100

// parsedRule is a rule key read back into its parts.
type parsedRule struct {
	segment string
	egress  bool
	rule    model.Rule
}

// parseRuleKey reads "web ingress from segment.app tcp/8080" (the model's rule key).
func parseRuleKey(key string) (parsedRule, error) {
	f := strings.Fields(key)
	if len(f) != 5 || (f[1] != "ingress" && f[1] != "egress") {
		return parsedRule{}, fmt.Errorf("not a rule key: %q", key)
	}
	pr := parsedRule{segment: f[0], egress: f[1] == "egress"}
	pr.rule.Segment = f[0]
	if seg, ok := strings.CutPrefix(f[3], "segment."); ok {
		pr.rule.Peer.Segment = seg
	} else {
		pfx, err := netip.ParsePrefix(f[3])
		if err != nil {
			return parsedRule{}, fmt.Errorf("rule %q: peer %q is not managed by microseg", key, f[3])
		}
		pr.rule.Peer.Prefix = pfx
	}
	port, err := model.ParsePort(f[4])
	if err != nil {
		return parsedRule{}, fmt.Errorf("rule %q: %w", key, err)
	}
	pr.rule.Port = port
	return pr, nil
}

// Apply carries out the plan in its make-before-break order: create groups, add
// rules (all of a group and direction in one call), set each interface's groups in
// one call, revoke rules, delete groups. Already-done steps (a retry after a reply
// that was lost) are success.
func (p *Provider) Apply(ctx context.Context, plan *model.Plan) error {
	if p.groups == nil {
		if _, err := p.Observe(ctx); err != nil {
			return err
		}
	}
	adds := map[batch][]types.IpPermission{}
	revokes := map[batch][]string{}
	eniChanges := map[string]map[string]bool{} // interface -> group ID -> wanted
	var deletes []string
	for _, c := range plan.Changes {
		switch {
		case c.Kind == model.ObjectSegment && c.Action == model.ActionAdd:
			if err := p.createGroup(ctx, c.Key); err != nil {
				return err
			}
			// AWS gives a new group an allow-all egress rule; the policy decides
			// whether it stays.
			if !planAdds(plan, c.Key+" egress to 0.0.0.0/0 all") {
				if err := p.revokeDefaultEgress(ctx, c.Key); err != nil {
					return err
				}
			}
		case c.Kind == model.ObjectSegment && c.Action == model.ActionRemove:
			deletes = append(deletes, c.Key)
		case c.Kind == model.ObjectRule && c.Action == model.ActionAdd:
			pr, err := parseRuleKey(c.Key)
			if err != nil {
				return err
			}
			perm, err := p.permission(&pr.rule)
			if err != nil {
				return err
			}
			b := batch{pr.segment, pr.egress}
			adds[b] = append(adds[b], perm)
		case c.Kind == model.ObjectRule && c.Action == model.ActionRemove:
			f := strings.Fields(c.Key)
			if id, ok := p.rules[c.Key]; ok && len(f) > 1 {
				b := batch{f[0], f[1] == "egress"}
				revokes[b] = append(revokes[b], id)
			}
		case c.Kind == model.ObjectMembership:
			if err := p.membershipChange(c, eniChanges); err != nil {
				return err
			}
		}
	}
	for _, b := range sortedBatches(adds) {
		if err := p.authorize(ctx, b.segment, b.egress, adds[b]); err != nil {
			return err
		}
	}
	for _, eni := range model.SortedKeys(eniChanges) {
		if err := p.setGroups(ctx, eni, eniChanges[eni]); err != nil {
			return err
		}
	}
	for _, b := range sortedBatches(revokes) {
		if err := p.revoke(ctx, b.segment, b.egress, revokes[b]); err != nil {
			return err
		}
	}
	for _, seg := range deletes {
		if err := p.deleteGroup(ctx, seg); err != nil {
			return err
		}
	}
	_, err := p.Observe(ctx) // what Apply knows must match the target again
	return err
}

func planAdds(plan *model.Plan, key string) bool {
	for _, c := range plan.Changes {
		if c.Kind == model.ObjectRule && c.Action == model.ActionAdd && c.Key == key {
			return true
		}
	}
	return false
}

func (p *Provider) revokeDefaultEgress(ctx context.Context, segment string) error {
	_, err := p.client.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{
		GroupId:       aws.String(p.groups[segment]),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}},
	})
	if err != nil && apiCode(err) != "InvalidPermission.NotFound" {
		return fmt.Errorf("revoke the default egress rule of segment %s: %w", segment, err)
	}
	return nil
}

// batch is the rules of one group in one direction.
type batch struct {
	segment string
	egress  bool
}

func sortedBatches[V any](m map[batch]V) []batch {
	keys := make([]batch, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b batch) int {
		switch {
		case a.segment != b.segment:
			return strings.Compare(a.segment, b.segment)
		case a.egress == b.egress:
			return 0
		case !a.egress:
			return -1
		}
		return 1
	})
	return keys
}

func (p *Provider) createGroup(ctx context.Context, segment string) error {
	if _, ok := p.groups[segment]; ok {
		return nil
	}
	name := groupPrefix + segment
	out, err := p.client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(name), VpcId: aws.String(p.target.AWS.VPCID),
		Description: aws.String("microseg segment " + segment + " of policy " + p.policy),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: []types.Tag{
			{Key: aws.String(TagManaged), Value: aws.String("true")},
			{Key: aws.String(TagSegment), Value: aws.String(segment)},
			{Key: aws.String(TagPolicy), Value: aws.String(p.policy)},
		}}},
	})
	if apiCode(err) == "InvalidGroup.Duplicate" {
		// Created by an attempt whose reply was lost: find it.
		got, derr := p.client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
			p.vpcFilter(), {Name: aws.String("group-name"), Values: []string{name}}}})
		if derr != nil || len(got.SecurityGroups) != 1 {
			return fmt.Errorf("create security group %s in %s: %w", name, p.target.AWS.VPCID, err)
		}
		if _, managed := managedSegment(got.SecurityGroups[0].Tags); !managed {
			return fmt.Errorf("create security group %s in %s: a group of that name exists and microseg does not manage it", name, p.target.AWS.VPCID)
		}
		p.groups[segment] = aws.ToString(got.SecurityGroups[0].GroupId)
		return nil
	}
	if err != nil {
		return fmt.Errorf("create security group %s in %s: %w", name, p.target.AWS.VPCID, err)
	}
	p.groups[segment] = aws.ToString(out.GroupId)
	return nil
}

func (p *Provider) authorize(ctx context.Context, segment string, egress bool, perms []types.IpPermission) error {
	gid := p.groups[segment]
	for start := 0; start < len(perms); start += permissionsPerCall {
		chunk := perms[start:min(start+permissionsPerCall, len(perms))]
		var err error
		if egress {
			_, err = p.client.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(gid), IpPermissions: chunk})
		} else {
			_, err = p.client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(gid), IpPermissions: chunk})
		}
		if apiCode(err) == "InvalidPermission.Duplicate" {
			// Some already exist (a retried call): add the rest one by one.
			for _, perm := range chunk {
				if e := p.authorizeOne(ctx, gid, egress, perm); e != nil {
					return e
				}
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("authorize rules of security group %s (segment %s): %w", gid, segment, err)
		}
	}
	return nil
}

func (p *Provider) authorizeOne(ctx context.Context, gid string, egress bool, perm types.IpPermission) error {
	var err error
	one := []types.IpPermission{perm}
	if egress {
		_, err = p.client.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(gid), IpPermissions: one})
	} else {
		_, err = p.client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(gid), IpPermissions: one})
	}
	if err != nil && apiCode(err) != "InvalidPermission.Duplicate" {
		return fmt.Errorf("authorize a rule of security group %s: %w", gid, err)
	}
	return nil
}

func (p *Provider) revoke(ctx context.Context, segment string, egress bool, ids []string) error {
	gid := p.groups[segment]
	for start := 0; start < len(ids); start += permissionsPerCall {
		chunk := ids[start:min(start+permissionsPerCall, len(ids))]
		var err error
		if egress {
			_, err = p.client.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(gid), SecurityGroupRuleIds: chunk})
		} else {
			_, err = p.client.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(gid), SecurityGroupRuleIds: chunk})
		}
		switch code := apiCode(err); {
		case code == "InvalidSecurityGroupRuleId.NotFound" || code == "InvalidPermission.NotFound":
			// Some are gone already (a retried call): revoke the rest one by one.
			for _, id := range chunk {
				if e := p.revoke(ctx, segment, egress, []string{id}); e != nil && len(chunk) > 1 {
					return e
				}
			}
		case err != nil:
			return fmt.Errorf("revoke rules of security group %s (segment %s): %w", gid, segment, err)
		}
	}
	return nil
}

// membershipChange records what a membership change does to an interface's groups.
func (p *Provider) membershipChange(c model.Change, changes map[string]map[string]bool) error {
	f := strings.Fields(c.Key)
	var eni, gid string
	switch {
	case len(f) == 3 && f[1] == "foreign":
		if !p.exclude || c.Action != model.ActionRemove {
			return nil // reported as drift; removed only with exclusive_membership
		}
		eni, gid = f[0], f[2]
	case len(f) == 2:
		eni, gid = f[1], p.groups[f[0]]
	default:
		return fmt.Errorf("not a membership key: %q", c.Key)
	}
	if changes[eni] == nil {
		changes[eni] = map[string]bool{}
	}
	changes[eni][gid] = c.Action != model.ActionRemove
	return nil
}

// setGroups sets an interface's groups in one call: the groups it has, with the
// changes applied. An interface left with none gets the VPC's default group.
func (p *Provider) setGroups(ctx context.Context, eni string, change map[string]bool) error {
	var groups []string
	for _, gid := range p.enis[eni] {
		if want, changed := change[gid]; !changed || want {
			groups = append(groups, gid)
		}
	}
	for gid, want := range change {
		if want && !slices.Contains(groups, gid) {
			groups = append(groups, gid)
		}
	}
	// With exclusive_membership a member carries microseg's groups only.
	if p.exclude && slices.ContainsFunc(groups, func(g string) bool { return !p.foreign[g] }) {
		groups = slices.DeleteFunc(groups, func(g string) bool { return p.foreign[g] })
	}
	if len(groups) == 0 {
		// No longer a member of any segment: AWS needs a group, and the VPC's
		// default is what an interface gets when nobody chooses.
		def, err := p.defaultGroup(ctx)
		if err != nil {
			return err
		}
		groups = []string{def}
	}
	slices.Sort(groups)
	if _, err := p.client.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(eni), Groups: groups,
	}); err != nil {
		return fmt.Errorf("set the security groups of interface %s: %w", eni, err)
	}
	p.enis[eni] = groups
	return nil
}

// deleteGroup deletes a segment's group after taking it off every interface that
// still carries it (one attached by hand, say); an interface left with no group gets
// its VPC's default group, as AWS requires one.
func (p *Provider) deleteGroup(ctx context.Context, segment string) error {
	gid, ok := p.groups[segment]
	if !ok {
		return nil
	}
	for _, eni := range model.SortedKeys(p.enis) {
		if !slices.Contains(p.enis[eni], gid) {
			continue
		}
		change := map[string]bool{gid: false}
		if len(p.enis[eni]) == 1 {
			def, err := p.defaultGroup(ctx)
			if err != nil {
				return err
			}
			change[def] = true
		}
		if err := p.setGroups(ctx, eni, change); err != nil {
			return err
		}
	}
	_, err := p.client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(gid)})
	if err != nil && apiCode(err) != "InvalidGroup.NotFound" {
		return fmt.Errorf("delete security group %s (segment %s): %w", gid, segment, err)
	}
	delete(p.groups, segment)
	return nil
}

// defaultGroup is the ID of the VPC's default security group.
func (p *Provider) defaultGroup(ctx context.Context) (string, error) {
	out, err := p.client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		p.vpcFilter(), {Name: aws.String("group-name"), Values: []string{"default"}}}})
	if err != nil || len(out.SecurityGroups) != 1 {
		return "", fmt.Errorf("find the default security group of %s: %v", p.target.AWS.VPCID, err)
	}
	return aws.ToString(out.SecurityGroups[0].GroupId), nil
}
