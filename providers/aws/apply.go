package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// permissionsPerCall bounds one authorize call; AWS refuses very large requests.
const permissionsPerCall = 100

// Apply carries out the plan in its make-before-break order: create groups (and
// take off the rules AWS adds to a new group), add rules (all of a group and
// direction in one call), update descriptions, set each interface's groups in one
// call, revoke rules, delete groups; last, the groups it changed are tagged with
// this policy bundle. Every change is read from its typed Content, never from its
// key. Already-done steps (a retry after a reply that was lost) are success.
func (prov *Provider) Apply(ctx context.Context, obs providers.Observation, _ providers.Desired, plan *model.Plan) error {
	o, err := observedState(obs)
	if err != nil {
		return err
	}
	return (&applyRun{Provider: prov, observed: o.clone()}).apply(ctx, plan)
}

// applyRun is one Apply: the provider, and its copy of the observation, which it
// keeps up to date as it creates groups and sets interfaces' groups.
type applyRun struct {
	*Provider
	*observed
}

func (p *applyRun) apply(ctx context.Context, plan *model.Plan) error {
	adds := map[batch][]types.IpPermission{}
	descriptions := map[batch][]types.SecurityGroupRuleDescription{}
	revokes := map[batch][]string{}
	eniChanges := map[string]map[string]bool{} // interface -> group ID -> wanted
	touched := map[string]bool{}               // segments whose group's rules change
	var deletes, created []string
	for _, c := range plan.Changes {
		switch {
		case c.Kind == model.ObjectSegment && c.Action == model.ActionAdd:
			made, err := p.createGroup(ctx, c.Key)
			if err != nil {
				return err
			}
			if made {
				created = append(created, c.Key)
			}
		case c.Kind == model.ObjectSegment && c.Action == model.ActionRemove:
			deletes = append(deletes, c.Key)
		case c.Kind == model.ObjectRule:
			if err := p.ruleChange(c, adds, descriptions, revokes); err != nil {
				return err
			}
		case c.Kind == model.ObjectMembership:
			if err := p.membershipChange(c, eniChanges); err != nil {
				return err
			}
		}
	}
	// Before any rule is added: the new groups are on no interface yet.
	if err := p.clearNewGroups(ctx, created); err != nil {
		return err
	}
	for _, b := range sortedBatches(adds) {
		touched[b.segment] = true
		if err := p.authorize(ctx, b.segment, b.egress, adds[b]); err != nil {
			return err
		}
	}
	for _, b := range sortedBatches(descriptions) {
		touched[b.segment] = true
		if err := p.updateDescriptions(ctx, b.segment, b.egress, descriptions[b]); err != nil {
			return err
		}
	}
	for _, eni := range model.SortedKeys(eniChanges) {
		if err := p.setGroups(ctx, eni, eniChanges[eni]); err != nil {
			return err
		}
	}
	for _, b := range sortedBatches(revokes) {
		touched[b.segment] = true
		if err := p.revoke(ctx, b.segment, b.egress, revokes[b]); err != nil {
			return err
		}
	}
	for _, seg := range deletes {
		delete(touched, seg)
		if err := p.deleteGroup(ctx, seg); err != nil {
			return err
		}
	}
	return p.tagPolicy(ctx, touched)
}

// contentOf returns a change's Content as T: the desired one, or the observed
// one for a remove. A plan not made by this provider has none.
func contentOf[T any](c model.Change) (*T, error) {
	content := c.AfterContent
	if c.Action == model.ActionRemove {
		content = c.BeforeContent
	}
	v, ok := content.(*T)
	if !ok || v == nil {
		return nil, fmt.Errorf("the plan's change %s %s %s was not made by the aws provider: plan again", c.Action.Symbol(), c.Kind, c.Key)
	}
	return v, nil
}

// ruleChange files a rule change into its batch: a permission to authorize, a
// description to update, or a rule ID to revoke.
func (p *applyRun) ruleChange(c model.Change, adds map[batch][]types.IpPermission,
	descriptions map[batch][]types.SecurityGroupRuleDescription, revokes map[batch][]string) error {
	if c.Action == model.ActionRemove {
		live, err := contentOf[liveRule](c)
		if err != nil {
			return err
		}
		b := batch{live.segment, live.egress}
		revokes[b] = append(revokes[b], live.id)
		return nil
	}
	spec, err := contentOf[ruleSpec](c)
	if err != nil {
		return err
	}
	b := batch{spec.rule.Segment, spec.rule.Direction == model.Egress}
	if c.Action == model.ActionChange { // only the description differs
		live, ok := c.BeforeContent.(*liveRule)
		if !ok {
			return fmt.Errorf("the plan's change ~ rule %s has no observed rule: plan again", c.Key)
		}
		descriptions[b] = append(descriptions[b], types.SecurityGroupRuleDescription{
			SecurityGroupRuleId: aws.String(live.id), Description: aws.String(spec.description)})
		return nil
	}
	perm, err := p.permission(spec)
	if err != nil {
		return err
	}
	adds[b] = append(adds[b], perm)
	return nil
}

// clearNewGroups revokes the rules AWS puts on a group it creates: all traffic out
// to 0.0.0.0/0, and to ::/0 in a VPC with an IPv6 block, with no description. The
// plan was made before the groups existed, so it adds every rule the policy wants,
// those too (with their descriptions). Only AWS's own defaults are revoked, so that
// finding an existing group after a retry does not take its rules away. The new
// groups' rules are read in one paged call per 200 groups.
func (p *applyRun) clearNewGroups(ctx context.Context, segments []string) error {
	segmentOf := map[string]string{}
	ids := make([]string, 0, len(segments))
	for _, seg := range segments {
		segmentOf[p.groups[seg]] = seg
		ids = append(ids, p.groups[seg])
	}
	defaults := map[string][]string{} // segment -> rule IDs
	for start := 0; start < len(ids); start += 200 {
		pages := ec2.NewDescribeSecurityGroupRulesPaginator(p.client, &ec2.DescribeSecurityGroupRulesInput{
			Filters:    []types.Filter{{Name: aws.String("group-id"), Values: ids[start:min(start+200, len(ids))]}},
			MaxResults: aws.Int32(1000),
		})
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("describe the default rules of new security groups in %s: %w", p.target.AWS.VPCID, err)
			}
			for _, r := range out.SecurityGroupRules {
				everywhere := aws.ToString(r.CidrIpv4) == "0.0.0.0/0" || aws.ToString(r.CidrIpv6) == "::/0"
				if aws.ToBool(r.IsEgress) && aws.ToString(r.IpProtocol) == "-1" && everywhere && aws.ToString(r.Description) == "" {
					seg := segmentOf[aws.ToString(r.GroupId)]
					defaults[seg] = append(defaults[seg], aws.ToString(r.SecurityGroupRuleId))
				}
			}
		}
	}
	for _, seg := range segments {
		if ids := defaults[seg]; len(ids) > 0 {
			if err := p.revoke(ctx, seg, true, ids); err != nil {
				return fmt.Errorf("revoke the default egress of segment %s: %w", seg, err)
			}
		}
	}
	return nil
}

// updateDescriptions updates the descriptions of rules whose allows changed.
func (p *applyRun) updateDescriptions(ctx context.Context, segment string, egress bool, descs []types.SecurityGroupRuleDescription) error {
	gid := p.groups[segment]
	for start := 0; start < len(descs); start += permissionsPerCall {
		chunk := descs[start:min(start+permissionsPerCall, len(descs))]
		var err error
		if egress {
			_, err = p.client.UpdateSecurityGroupRuleDescriptionsEgress(ctx, &ec2.UpdateSecurityGroupRuleDescriptionsEgressInput{GroupId: aws.String(gid), SecurityGroupRuleDescriptions: chunk})
		} else {
			_, err = p.client.UpdateSecurityGroupRuleDescriptionsIngress(ctx, &ec2.UpdateSecurityGroupRuleDescriptionsIngressInput{GroupId: aws.String(gid), SecurityGroupRuleDescriptions: chunk})
		}
		if err != nil {
			return fmt.Errorf("update rule descriptions of security group %s (segment %s): %w", gid, segment, err)
		}
	}
	return nil
}

// tagPolicy marks the groups whose rules an apply changed with the policy bundle
// it applied, so that microseg:policy names the bundle that last changed them.
func (p *applyRun) tagPolicy(ctx context.Context, segments map[string]bool) error {
	var ids []string
	for _, seg := range model.SortedKeys(segments) {
		if gid, ok := p.groups[seg]; ok {
			ids = append(ids, gid)
		}
	}
	for start := 0; start < len(ids); start += 1000 {
		if _, err := p.client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids[start:min(start+1000, len(ids))],
			Tags: []types.Tag{{Key: aws.String(TagPolicy), Value: aws.String(p.policy)}}}); err != nil {
			return fmt.Errorf("tag security groups with policy %s: %w", p.policy, err)
		}
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

// createGroup creates a segment's group, or finds the one an attempt whose reply
// was lost created; made says that it did either, so that its defaults are cleared.
func (p *applyRun) createGroup(ctx context.Context, segment string) (made bool, err error) {
	if _, ok := p.groups[segment]; ok {
		return false, nil
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
			return false, fmt.Errorf("create security group %s in %s: %w", name, p.target.AWS.VPCID, err)
		}
		if _, managed := managedSegment(got.SecurityGroups[0].Tags); !managed {
			return false, fmt.Errorf("create security group %s in %s: a group of that name exists and microseg does not manage it", name, p.target.AWS.VPCID)
		}
		p.groups[segment] = aws.ToString(got.SecurityGroups[0].GroupId)
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("create security group %s in %s: %w", name, p.target.AWS.VPCID, err)
	}
	p.groups[segment] = aws.ToString(out.GroupId)
	return true, nil
}

func (p *applyRun) authorize(ctx context.Context, segment string, egress bool, perms []types.IpPermission) error {
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

func (p *applyRun) authorizeOne(ctx context.Context, gid string, egress bool, perm types.IpPermission) error {
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

func (p *applyRun) revoke(ctx context.Context, segment string, egress bool, ids []string) error {
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
func (p *applyRun) membershipChange(c model.Change, changes map[string]map[string]bool) error {
	m, err := contentOf[memberSpec](c)
	if err != nil {
		return err
	}
	gid := m.groupID
	if m.segment != "" {
		gid = p.groups[m.segment]
	} else if !p.exclude || c.Action != model.ActionRemove {
		return nil // a foreign group is only ever taken off, with exclusive_membership
	}
	if changes[m.eni] == nil {
		changes[m.eni] = map[string]bool{}
	}
	changes[m.eni][gid] = c.Action != model.ActionRemove
	return nil
}

// setGroups sets an interface's groups in one call: the groups it has, with the
// changes applied. An interface left with none gets the VPC's default group.
func (p *applyRun) setGroups(ctx context.Context, eni string, change map[string]bool) error {
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
func (p *applyRun) deleteGroup(ctx context.Context, segment string) error {
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
func (p *applyRun) defaultGroup(ctx context.Context) (string, error) {
	out, err := p.client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		p.vpcFilter(), {Name: aws.String("group-name"), Values: []string{"default"}}}})
	if err != nil || len(out.SecurityGroups) != 1 {
		return "", fmt.Errorf("find the default security group of %s: %v", p.target.AWS.VPCID, err)
	}
	return aws.ToString(out.SecurityGroups[0].GroupId), nil
}
