package ec2emu_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/microseg/microseg/test/ec2emu"
)

// TestDualStackDefaults: in a VPC with an IPv6 block, the default group and every
// new group send all traffic to 0.0.0.0/0 and to ::/0, as AWS documents for
// default and new security groups; in an IPv4-only VPC only to 0.0.0.0/0. An
// instance added without groups carries the VPC's default group.
func TestDualStackDefaults(t *testing.T) {
	emu := ec2emu.New(ec2emu.Options{Seed: 7})
	c := client(t, emu, 1)
	def6 := emu.AddDualStackVPC("vpc-6", "2600:1f18:1234:5600::/56")
	def4 := emu.AddVPC("vpc-4")
	for _, tc := range []struct {
		name, group string
		want        []string
	}{
		{"default group, dual stack", def6, []string{`in -1 -1--1 ` + def6 + ` ""`, `out -1 -1--1 0.0.0.0/0 ""`, `out -1 -1--1 ::/0 ""`}},
		{"new group, dual stack", createGroup(t, c, "vpc-6", "app", nil), []string{`out -1 -1--1 0.0.0.0/0 ""`, `out -1 -1--1 ::/0 ""`}},
		{"default group, IPv4 only", def4, []string{`in -1 -1--1 ` + def4 + ` ""`, `out -1 -1--1 0.0.0.0/0 ""`}},
		{"new group, IPv4 only", createGroup(t, c, "vpc-4", "app", nil), []string{`out -1 -1--1 0.0.0.0/0 ""`}},
	} {
		rules, _ := allRules(t, c, tc.group, 100)
		if got := ruleStrings(rules); !equalStrings(got, tc.want) {
			t.Errorf("%s: rules %q, want %q", tc.name, got, tc.want)
		}
	}
	_, eni := emu.AddInstance("vpc-6", map[string]string{"tier": "web"}, "10.0.1.10")
	out := must(c.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}}))(t)
	if len(out.NetworkInterfaces) != 1 || len(out.NetworkInterfaces[0].Groups) != 1 || aws.ToString(out.NetworkInterfaces[0].Groups[0].GroupId) != def6 {
		t.Errorf("an instance launched without groups has %+v, want the VPC's default group %s", out.NetworkInterfaces, def6)
	}
}

// TestRuleDescriptions: descriptions are stored and returned, AWS's character set
// and length are enforced, and UpdateSecurityGroupRuleDescriptions* change them
// in place by rule ID or by the rule's properties, atomically.
func TestRuleDescriptions(t *testing.T) {
	emu := ec2emu.New(ec2emu.Options{Seed: 8})
	c := client(t, emu, 1)
	ctx := context.Background()
	emu.AddVPC("vpc-1")
	sg := createGroup(t, c, "vpc-1", "web", nil)
	proto, from, to := tcp(443)
	perm := func(desc string) []types.IpPermission {
		return []types.IpPermission{{IpProtocol: proto, FromPort: from, ToPort: to, IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8"), Description: aws.String(desc)}}}}
	}
	for _, bad := range []string{"caf\u00e9", "a<b>", string(make([]byte, 256))} {
		_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: perm(bad)})
		wantCode(t, err, "InvalidParameterValue")
	}
	added := must(c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg),
		IpPermissions: perm("microseg: internet-to-web (owner team-a, ticket SEC-1); b")}))(t)
	id := aws.ToString(added.SecurityGroupRules[0].SecurityGroupRuleId)
	describe := func() string {
		rules, _ := allRules(t, c, sg, 100)
		for _, r := range rules {
			if aws.ToString(r.SecurityGroupRuleId) == id {
				return aws.ToString(r.Description)
			}
		}
		t.Fatalf("rule %s is gone", id)
		return ""
	}
	if got := describe(); got != "microseg: internet-to-web (owner team-a, ticket SEC-1); b" {
		t.Errorf("description = %q", got)
	}
	updated := must(c.UpdateSecurityGroupRuleDescriptionsIngress(ctx, &ec2.UpdateSecurityGroupRuleDescriptionsIngressInput{GroupId: aws.String(sg),
		SecurityGroupRuleDescriptions: []types.SecurityGroupRuleDescription{{SecurityGroupRuleId: aws.String(id), Description: aws.String("by id")}}}))(t)
	if !aws.ToBool(updated.Return) {
		t.Error("UpdateSecurityGroupRuleDescriptionsIngress did not return true")
	}
	if got := describe(); got != "by id" {
		t.Errorf("after the update by ID: %q", got)
	}
	_, err := c.UpdateSecurityGroupRuleDescriptionsIngress(ctx, &ec2.UpdateSecurityGroupRuleDescriptionsIngressInput{GroupId: aws.String(sg), IpPermissions: perm("by properties")})
	mustOK(t, err)
	if got := describe(); got != "by properties" {
		t.Errorf("after the update by properties: %q", got)
	}
	// One unknown rule: nothing changes.
	_, err = c.UpdateSecurityGroupRuleDescriptionsIngress(ctx, &ec2.UpdateSecurityGroupRuleDescriptionsIngressInput{GroupId: aws.String(sg),
		SecurityGroupRuleDescriptions: []types.SecurityGroupRuleDescription{
			{SecurityGroupRuleId: aws.String(id), Description: aws.String("not kept")},
			{SecurityGroupRuleId: aws.String("sgr-0000000000000000"), Description: aws.String("x")}}})
	wantCode(t, err, "InvalidSecurityGroupRuleId.NotFound")
	// An ingress rule is not an egress rule.
	_, err = c.UpdateSecurityGroupRuleDescriptionsEgress(ctx, &ec2.UpdateSecurityGroupRuleDescriptionsEgressInput{GroupId: aws.String(sg),
		SecurityGroupRuleDescriptions: []types.SecurityGroupRuleDescription{{SecurityGroupRuleId: aws.String(id), Description: aws.String("x")}}})
	wantCode(t, err, "InvalidSecurityGroupRuleId.NotFound")
	if got := describe(); got != "by properties" {
		t.Errorf("after failed updates: %q", got)
	}
}
