package aws

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// Tags that mark what microseg manages.
const (
	TagManaged  = "microseg:managed"
	TagSegment  = "microseg:segment"
	TagPolicy   = "microseg:policy"
	groupPrefix = "microseg-"
)

// Quotas are the AWS limits a plan is checked against before any call is made.
type Quotas struct {
	RulesPerGroup int // per direction and address family (AWS default 60)
	GroupsPerENI  int // AWS default 5
}

// DefaultQuotas are AWS's defaults.
var DefaultQuotas = Quotas{RulesPerGroup: 60, GroupsPerENI: 5}

// Provider is one AWS VPC target. It keeps nothing between calls: what Desired and
// Apply need of the VPC travels in the Observation (observed).
type Provider struct {
	client  *ec2.Client
	target  *model.Target
	policy  string
	quotas  Quotas
	exclude bool // exclusive_membership
}

// observed is the provider's own reading of the VPC, Observation.State.
type observed struct {
	groups  map[string]string   // segment -> group ID
	enis    map[string][]string // interface -> its groups
	foreign map[string]bool     // group IDs not managed by microseg
	members []instance          // running instances of the VPC
}

// observedState is obs's reading of the VPC, or an error for an observation this
// provider did not make.
func observedState(obs providers.Observation) (*observed, error) {
	o, ok := obs.State.(*observed)
	if !ok || o == nil {
		return nil, errors.New("aws provider: the observation was not made by the aws provider: observe again")
	}
	return o, nil
}

// clone copies what Apply changes as it goes, so that the observation it was given
// stays as observed.
func (o *observed) clone() *observed {
	c := &observed{groups: maps.Clone(o.groups), enis: make(map[string][]string, len(o.enis)), foreign: o.foreign, members: o.members}
	for k, v := range o.enis {
		c.enis[k] = slices.Clone(v)
	}
	return c
}

type instance struct {
	id   string
	tags map[string]string
	enis []string
}

var _ providers.Provider = (*Provider)(nil)

// The typed Content of the provider's objects, which Apply reads instead of keys.
type (
	// ruleSpec is a rule as the policy wants it: the Content of desired rules.
	ruleSpec struct {
		rule        model.Rule // Segment, Direction, Peer and Port
		description string
	}
	// liveRule is a rule as AWS holds it: the Content of observed rules.
	liveRule struct {
		id      string // security group rule ID
		segment string
		egress  bool
	}
	// memberSpec is a group on an interface: a segment's, or with exclusive
	// membership a foreign one (groupID) to take off.
	memberSpec struct {
		eni, segment, groupID string
	}
)

// descriptionField is the compared field of a rule: its description, which names
// the allows behind it.
func descriptionField(desc string) []model.Field {
	return []model.Field{{Name: "description", Value: desc}}
}

// New returns the provider of target t, which must be an aws target, with the EC2
// client the caller built (credentials, region, endpoint and retries are the
// caller's: cmd wires the SDK's default chain).
func New(client *ec2.Client, t *model.Target, policy string, q Quotas) (*Provider, error) {
	if t == nil || t.Kind != model.KindAWS || t.AWS == nil {
		return nil, errors.New("aws provider: not an aws target")
	}
	return &Provider{client: client, target: t, policy: policy, quotas: q, exclude: t.AWS.ExclusiveMembership}, nil
}

func (p *Provider) vpcFilter() types.Filter {
	return types.Filter{Name: aws.String("vpc-id"), Values: []string{p.target.AWS.VPCID}}
}

// Observe reads the managed groups and their rules, and which groups the VPC's
// interfaces carry. Another group on a member's interface is a change to remove
// with exclusive_membership, and a finding (kept by design) without it.
func (p *Provider) Observe(ctx context.Context) (providers.Observation, error) {
	o := &observed{groups: map[string]string{}, enis: map[string][]string{}, foreign: map[string]bool{}}
	segmentOf := map[string]string{} // group ID -> segment
	obs := providers.Observation{State: o}
	pages := ec2.NewDescribeSecurityGroupsPaginator(p.client, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{p.vpcFilter()}, MaxResults: aws.Int32(1000),
	})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return providers.Observation{}, fmt.Errorf("describe security groups in %s: %w", p.target.AWS.VPCID, err)
		}
		for _, g := range out.SecurityGroups {
			seg, managed := managedSegment(g.Tags)
			if !managed {
				o.foreign[aws.ToString(g.GroupId)] = true
				continue
			}
			o.groups[seg] = aws.ToString(g.GroupId)
			segmentOf[aws.ToString(g.GroupId)] = seg
			obs.Objects = append(obs.Objects, model.Object{Kind: model.ObjectSegment, Key: seg})
		}
	}
	rules, err := p.observeRules(ctx, segmentOf)
	if err != nil {
		return providers.Observation{}, err
	}
	obs.Objects = append(obs.Objects, rules...)
	if err := p.observeInterfaces(ctx, segmentOf, o, &obs); err != nil {
		return providers.Observation{}, err
	}
	err = p.eachRunningInstance(ctx, func(in *types.Instance) {
		m := instance{id: aws.ToString(in.InstanceId), tags: tagMap(in.Tags)}
		for _, ni := range in.NetworkInterfaces {
			m.enis = append(m.enis, aws.ToString(ni.NetworkInterfaceId))
		}
		o.members = append(o.members, m)
	})
	if err != nil {
		return providers.Observation{}, err
	}
	slices.SortFunc(obs.Findings, func(a, b model.Finding) int {
		return cmp.Or(strings.Compare(a.Subject, b.Subject), strings.Compare(a.Message, b.Message))
	})
	return obs, nil
}

// observeRules reads the rules of the managed groups, each as an object keyed as
// the model keys it, whose Content is the rule's identity in AWS.
func (p *Provider) observeRules(ctx context.Context, segmentOf map[string]string) ([]model.Object, error) {
	var objs []model.Object
	ids := model.SortedKeys(segmentOf)
	for start := 0; start < len(ids); start += 200 { // filter values per call
		rpages := ec2.NewDescribeSecurityGroupRulesPaginator(p.client, &ec2.DescribeSecurityGroupRulesInput{
			Filters:    []types.Filter{{Name: aws.String("group-id"), Values: ids[start:min(start+200, len(ids))]}},
			MaxResults: aws.Int32(1000),
		})
		for rpages.HasMorePages() {
			out, err := rpages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describe security group rules in %s: %w", p.target.AWS.VPCID, err)
			}
			for _, r := range out.SecurityGroupRules {
				live := &liveRule{id: aws.ToString(r.SecurityGroupRuleId), segment: segmentOf[aws.ToString(r.GroupId)], egress: aws.ToBool(r.IsEgress)}
				objs = append(objs, model.Object{Kind: model.ObjectRule, Key: ruleKey(r, segmentOf),
					Fields: descriptionField(aws.ToString(r.Description)), Content: live})
			}
		}
	}
	return objs, nil
}

// observeInterfaces reads which groups the VPC's interfaces carry: memberships of
// segments, and the other groups on members' interfaces.
func (p *Provider) observeInterfaces(ctx context.Context, segmentOf map[string]string, o *observed, obs *providers.Observation) error {
	epages := ec2.NewDescribeNetworkInterfacesPaginator(p.client, &ec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{p.vpcFilter()}, MaxResults: aws.Int32(1000),
	})
	for epages.HasMorePages() {
		out, err := epages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describe network interfaces in %s: %w", p.target.AWS.VPCID, err)
		}
		for _, eni := range out.NetworkInterfaces {
			id := aws.ToString(eni.NetworkInterfaceId)
			var segments []string
			for _, g := range eni.Groups {
				gid := aws.ToString(g.GroupId)
				o.enis[id] = append(o.enis[id], gid)
				if seg, ok := segmentOf[gid]; ok {
					segments = append(segments, seg)
					obs.Objects = append(obs.Objects, model.Object{Kind: model.ObjectMembership, Key: seg + " " + id,
						Content: &memberSpec{eni: id, segment: seg}})
				}
			}
			if len(segments) == 0 {
				continue
			}
			// Other groups on a member's interface widen its envelope.
			for _, g := range eni.Groups {
				gid := aws.ToString(g.GroupId)
				if segmentOf[gid] != "" {
					continue
				}
				if p.exclude {
					obs.Objects = append(obs.Objects, model.Object{Kind: model.ObjectMembership, Key: id + " foreign " + gid,
						Content: &memberSpec{eni: id, groupID: gid}})
					continue
				}
				obs.Findings = append(obs.Findings, model.Finding{Subject: "interface " + id,
					Message: fmt.Sprintf("member of %s also carries security group %s (%s), which microseg does not manage: it widens what the member may send and receive (exclusive_membership = true removes it)",
						strings.Join(segments, ", "), gid, aws.ToString(g.GroupName))})
			}
		}
	}
	return nil
}

// eachRunningInstance pages DescribeInstances over the running instances of the
// target's VPC and calls fn on each, in the order the API returns them.
func (p *Provider) eachRunningInstance(ctx context.Context, fn func(*types.Instance)) error {
	pages := ec2.NewDescribeInstancesPaginator(p.client, &ec2.DescribeInstancesInput{
		Filters:    []types.Filter{p.vpcFilter(), {Name: aws.String("instance-state-name"), Values: []string{"running"}}},
		MaxResults: aws.Int32(1000),
	})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describe instances in %s: %w", p.target.AWS.VPCID, err)
		}
		for i := range out.Reservations {
			for j := range out.Reservations[i].Instances {
				fn(&out.Reservations[i].Instances[j])
			}
		}
	}
	return nil
}

// tagMap returns EC2 tags as a map, a fresh one (never nil).
func tagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func managedSegment(tags []types.Tag) (string, bool) {
	seg, managed := "", false
	for _, t := range tags {
		switch aws.ToString(t.Key) {
		case TagManaged:
			managed = aws.ToString(t.Value) == "true"
		case TagSegment:
			seg = aws.ToString(t.Value)
		}
	}
	return seg, managed && seg != ""
}

// ruleKey gives an AWS rule the key the model gives the same permission, so that
// the two compare: "web ingress from segment.app tcp/8080".
func ruleKey(r types.SecurityGroupRule, segmentOf map[string]string) string {
	var peer string
	switch {
	case r.CidrIpv4 != nil:
		peer = aws.ToString(r.CidrIpv4)
	case r.CidrIpv6 != nil:
		peer = aws.ToString(r.CidrIpv6)
	case r.ReferencedGroupInfo != nil:
		gid := aws.ToString(r.ReferencedGroupInfo.GroupId)
		if seg, ok := segmentOf[gid]; ok {
			peer = "segment." + seg
		} else {
			peer = "group." + gid
		}
	default:
		peer = "prefix-list." + aws.ToString(r.PrefixListId)
	}
	if pfx, err := netip.ParsePrefix(peer); err == nil {
		peer = pfx.Masked().String()
	}
	dir, word := "ingress", " from "
	if aws.ToBool(r.IsEgress) {
		dir, word = "egress", " to "
	}
	return segmentOf[aws.ToString(r.GroupId)] + " " + dir + word + peer + " " + portText(aws.ToString(r.IpProtocol), aws.ToInt32(r.FromPort), aws.ToInt32(r.ToPort))
}

// portText prints an AWS protocol and port range as the model's port spec.
func portText(proto string, from, to int32) string {
	switch proto {
	case "-1":
		return "all"
	case "tcp", "6", "udp", "17":
		name := map[string]string{"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp"}[proto]
		if from == 0 && to == 65535 {
			return name
		}
		if from == to {
			return fmt.Sprintf("%s/%d", name, from)
		}
		return fmt.Sprintf("%s/%d-%d", name, from, to)
	case "icmp", "1", "icmpv6", "58":
		name := map[string]string{"icmp": "icmp", "1": "icmp", "icmpv6": "icmpv6", "58": "icmpv6"}[proto]
		if from == -1 {
			return name
		}
		return fmt.Sprintf("%s/%d", name, from)
	}
	return "proto-" + proto
}

// permission is the AWS form of a desired rule.
func (p *applyRun) permission(spec *ruleSpec) (types.IpPermission, error) {
	r := &spec.rule
	perm := types.IpPermission{}
	switch pr := r.Port.Protocol; {
	case pr == model.ProtocolAll:
		perm.IpProtocol = aws.String("-1")
	case pr.HasPorts():
		perm.IpProtocol = aws.String(pr.String())
		perm.FromPort, perm.ToPort = aws.Int32(int32(r.Port.Ports.First)), aws.Int32(int32(r.Port.Ports.Last))
	case pr.IsICMP():
		perm.IpProtocol = aws.String(pr.String())
		if r.Port.AllPorts() {
			perm.FromPort, perm.ToPort = aws.Int32(-1), aws.Int32(-1)
		} else {
			perm.FromPort, perm.ToPort = aws.Int32(int32(r.Port.Ports.First)), aws.Int32(-1)
		}
	default:
		return perm, fmt.Errorf("protocol %s has no security group form", pr)
	}
	desc := aws.String(spec.description)
	switch {
	case r.Peer.Segment != "":
		gid, ok := p.groups[r.Peer.Segment]
		if !ok {
			return perm, fmt.Errorf("segment %s has no security group yet", r.Peer.Segment)
		}
		perm.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(gid), Description: desc}}
	case r.Peer.Prefix.Addr().Is4():
		perm.IpRanges = []types.IpRange{{CidrIp: aws.String(r.Peer.Prefix.String()), Description: desc}}
	default:
		perm.Ipv6Ranges = []types.Ipv6Range{{CidrIpv6: aws.String(r.Peer.Prefix.String()), Description: desc}}
	}
	return perm, nil
}

// apiCode is the AWS error code of err, or "".
func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}
