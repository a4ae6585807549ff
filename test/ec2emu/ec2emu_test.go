package ec2emu_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/microseg/microseg/test/ec2emu"
)

// serve starts an httptest server for emu and returns its URL.
func serve(t testing.TB, emu *ec2emu.Emulator) string {
	t.Helper()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return srv.URL
}

// client returns a real EC2 client for emu; maxAttempts 1 turns retries off.
func client(t testing.TB, emu *ec2emu.Emulator, maxAttempts int) *ec2.Client {
	t.Helper()
	return ec2.New(ec2.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(serve(t, emu)),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: maxAttempts,
		HTTPClient:       ec2emu.HTTPClient(),
	})
}

// wantCode fails unless err is an smithy.APIError with the given code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want API error %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want error code %s, got %s (%s)", code, ae.ErrorCode(), ae.ErrorMessage())
	}
}

// must(f())(t) returns f's result, failing t if f failed.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func tcp(port int32) (*string, *int32, *int32) {
	return aws.String("tcp"), aws.Int32(port), aws.Int32(port)
}

func createGroup(t *testing.T, c *ec2.Client, vpc, name string, tags map[string]string) string {
	t.Helper()
	in := &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(name), Description: aws.String(name + " tier"), VpcId: aws.String(vpc),
	}
	if len(tags) > 0 {
		spec := types.TagSpecification{ResourceType: types.ResourceTypeSecurityGroup}
		for _, k := range sortedKeys(tags) {
			spec.Tags = append(spec.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
		in.TagSpecifications = []types.TagSpecification{spec}
	}
	out := must(c.CreateSecurityGroup(context.Background(), in))(t)
	return aws.ToString(out.GroupId)
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func tagMap(ts []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func describeGroup(t *testing.T, c *ec2.Client, id string) types.SecurityGroup {
	t.Helper()
	out := must(c.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}}))(t)
	if len(out.SecurityGroups) != 1 {
		t.Fatalf("DescribeSecurityGroups(%s): %d groups", id, len(out.SecurityGroups))
	}
	return out.SecurityGroups[0]
}

// allRules lists a group's rules through the SDK's paginator, pageSize at a time.
func allRules(t testing.TB, c *ec2.Client, groupID string, pageSize int32) ([]types.SecurityGroupRule, int) {
	t.Helper()
	pager := ec2.NewDescribeSecurityGroupRulesPaginator(c, &ec2.DescribeSecurityGroupRulesInput{
		Filters:    []types.Filter{{Name: aws.String("group-id"), Values: []string{groupID}}},
		MaxResults: aws.Int32(pageSize),
	})
	var rules []types.SecurityGroupRule
	pages := 0
	for pager.HasMorePages() {
		out, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(out.SecurityGroupRules) > int(pageSize) {
			t.Fatalf("page of %d rules, more than MaxResults %d", len(out.SecurityGroupRules), pageSize)
		}
		rules = append(rules, out.SecurityGroupRules...)
		pages++
	}
	return rules, pages
}

// ruleString renders a rule the same way whichever API it came from.
func ruleString(r types.SecurityGroupRule) string {
	peer := aws.ToString(r.CidrIpv4) + aws.ToString(r.CidrIpv6)
	if r.ReferencedGroupInfo != nil {
		peer = aws.ToString(r.ReferencedGroupInfo.GroupId)
	}
	dir := "in"
	if aws.ToBool(r.IsEgress) {
		dir = "out"
	}
	return fmt.Sprintf("%s %s %d-%d %s %q", dir, aws.ToString(r.IpProtocol), aws.ToInt32(r.FromPort), aws.ToInt32(r.ToPort), peer, aws.ToString(r.Description))
}

func ruleStrings(rs []types.SecurityGroupRule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, ruleString(r))
	}
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSecurityGroupLifecycle(t *testing.T) {
	ctx := context.Background()
	emu := ec2emu.New(ec2emu.Options{Seed: 1})
	emu.AddVPC("vpc-1")
	c := client(t, emu, 1)

	// Create, with tags; the new group has AWS's default egress rule.
	out := must(c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("web"), Description: aws.String("web tier"), VpcId: aws.String("vpc-1"),
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeSecurityGroup,
			Tags:         []types.Tag{{Key: aws.String("microseg:segment"), Value: aws.String("web")}, {Key: aws.String("Name"), Value: aws.String("web")}},
		}},
	}))(t)
	web := aws.ToString(out.GroupId)
	if !strings.HasPrefix(web, "sg-") {
		t.Fatalf("group ID %q", web)
	}
	if got := tagMap(out.Tags); got["microseg:segment"] != "web" || got["Name"] != "web" || len(got) != 2 {
		t.Fatalf("CreateSecurityGroup tags: %v", got)
	}
	db := createGroup(t, c, "vpc-1", "db", nil)
	_, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("web"), Description: aws.String("again"), VpcId: aws.String("vpc-1"),
	})
	wantCode(t, err, "InvalidGroup.Duplicate")

	g := describeGroup(t, c, web)
	if aws.ToString(g.GroupName) != "web" || aws.ToString(g.VpcId) != "vpc-1" || aws.ToString(g.Description) != "web tier" ||
		tagMap(g.Tags)["microseg:segment"] != "web" {
		t.Fatalf("described group: %+v", g)
	}
	if len(g.IpPermissions) != 0 || len(g.IpPermissionsEgress) != 1 {
		t.Fatalf("new group: %d ingress, %d egress permissions", len(g.IpPermissions), len(g.IpPermissionsEgress))
	}
	if p := g.IpPermissionsEgress[0]; aws.ToString(p.IpProtocol) != "-1" || p.FromPort != nil || p.ToPort != nil ||
		len(p.IpRanges) != 1 || aws.ToString(p.IpRanges[0].CidrIp) != "0.0.0.0/0" {
		t.Fatalf("default egress: %+v", p)
	}

	// Ingress with IPv4, IPv6 and a group reference in one call, and egress.
	proto, from, to := tcp(443)
	in := must(c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{
			{
				IpProtocol: proto, FromPort: from, ToPort: to,
				IpRanges:         []types.IpRange{{CidrIp: aws.String("10.0.0.0/8"), Description: aws.String("corp")}, {CidrIp: aws.String("192.168.0.0/16")}},
				Ipv6Ranges:       []types.Ipv6Range{{CidrIpv6: aws.String("2001:DB8::/32"), Description: aws.String("v6")}},
				UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(db), Description: aws.String("from db")}},
			},
			{IpProtocol: aws.String("udp"), FromPort: aws.Int32(53), ToPort: aws.Int32(53), IpRanges: []types.IpRange{{CidrIp: aws.String("10.1.0.0/16")}}},
			{IpProtocol: aws.String("icmp"), FromPort: aws.Int32(-1), ToPort: aws.Int32(-1), IpRanges: []types.IpRange{{CidrIp: aws.String("10.2.0.0/16")}}},
		},
	}))(t)
	if len(in.SecurityGroupRules) != 6 || !aws.ToBool(in.Return) {
		t.Fatalf("AuthorizeSecurityGroupIngress returned %d rules", len(in.SecurityGroupRules))
	}
	for _, r := range in.SecurityGroupRules {
		if !strings.HasPrefix(aws.ToString(r.SecurityGroupRuleId), "sgr-") || aws.ToString(r.GroupId) != web || aws.ToBool(r.IsEgress) {
			t.Fatalf("created rule: %s %+v", ruleString(r), r)
		}
	}
	eg := must(c.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{
		GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{
			{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(db)}}},
			{IpProtocol: aws.String("-1"), Ipv6Ranges: []types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}},
		},
	}))(t)
	if len(eg.SecurityGroupRules) != 2 || !aws.ToBool(eg.SecurityGroupRules[0].IsEgress) {
		t.Fatalf("AuthorizeSecurityGroupEgress: %+v", eg.SecurityGroupRules)
	}

	// DescribeSecurityGroups groups rules by protocol and ports, as AWS does.
	g = describeGroup(t, c, web)
	if len(g.IpPermissions) != 3 || len(g.IpPermissionsEgress) != 2 { // egress -1 holds 0.0.0.0/0 and ::/0
		t.Fatalf("described: %d ingress and %d egress permissions", len(g.IpPermissions), len(g.IpPermissionsEgress))
	}
	var https types.IpPermission
	for _, p := range g.IpPermissions {
		if aws.ToString(p.IpProtocol) == "tcp" {
			https = p
		}
	}
	if aws.ToInt32(https.FromPort) != 443 || aws.ToInt32(https.ToPort) != 443 || len(https.IpRanges) != 2 ||
		aws.ToString(https.IpRanges[0].Description) != "corp" || len(https.Ipv6Ranges) != 1 ||
		aws.ToString(https.Ipv6Ranges[0].CidrIpv6) != "2001:db8::/32" || len(https.UserIdGroupPairs) != 1 ||
		aws.ToString(https.UserIdGroupPairs[0].GroupId) != db || aws.ToString(https.UserIdGroupPairs[0].Description) != "from db" {
		t.Fatalf("tcp/443 permission: %+v", https)
	}

	// DescribeSecurityGroupRules: one rule per source, over pages of 5.
	rules, pages := allRules(t, c, web, 5)
	want := []string{
		`in icmp -1--1 10.2.0.0/16 ""`,
		`in tcp 443-443 10.0.0.0/8 "corp"`,
		`in tcp 443-443 192.168.0.0/16 ""`,
		`in tcp 443-443 2001:db8::/32 "v6"`,
		`in tcp 443-443 ` + db + ` "from db"`,
		`in udp 53-53 10.1.0.0/16 ""`,
		`out -1 -1--1 0.0.0.0/0 ""`,
		`out -1 -1--1 ::/0 ""`,
		`out tcp 5432-5432 ` + db + ` ""`,
	}
	sort.Strings(want)
	if got := ruleStrings(rules); !equalStrings(got, want) || pages != 2 {
		t.Fatalf("rules over %d pages:\n%s\nwant\n%s", pages, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(emu.Rules(web)); n != 9 {
		t.Fatalf("emu.Rules: %d", n)
	}

	// A call with one new and one existing permission adds nothing.
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{
			{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080), IpRanges: []types.IpRange{{CidrIp: aws.String("10.9.0.0/16")}}},
			{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8"), Description: aws.String("other text")}}},
		},
	})
	wantCode(t, err, "InvalidPermission.Duplicate")
	if rules, _ := allRules(t, c, web, 5); len(rules) != 9 {
		t.Fatalf("after a duplicate: %d rules", len(rules))
	}

	// Revoke by rule ID.
	var udpID string
	for _, r := range rules {
		if aws.ToString(r.IpProtocol) == "udp" {
			udpID = aws.ToString(r.SecurityGroupRuleId)
		}
	}
	rv := must(c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
		GroupId: aws.String(web), SecurityGroupRuleIds: []string{udpID},
	}))(t)
	if len(rv.RevokedSecurityGroupRules) != 1 || aws.ToString(rv.RevokedSecurityGroupRules[0].SecurityGroupRuleId) != udpID {
		t.Fatalf("revoked: %+v", rv.RevokedSecurityGroupRules)
	}
	_, err = c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
		GroupId: aws.String(web), SecurityGroupRuleIds: []string{udpID},
	})
	wantCode(t, err, "InvalidSecurityGroupRuleId.NotFound")

	// Revoke by permission: exact match, description not needed.
	must(c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
		GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{{
			IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443),
			Ipv6Ranges:       []types.Ipv6Range{{CidrIpv6: aws.String("2001:db8::/32")}},
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(db)}},
		}},
	}))(t)
	// A permission that matches nothing (wrong port) revokes nothing, even with a
	// matching one beside it.
	_, err = c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
		GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{
			{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}},
			{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(444), ToPort: aws.Int32(444), IpRanges: []types.IpRange{{CidrIp: aws.String("192.168.0.0/16")}}},
		},
	})
	wantCode(t, err, "InvalidPermission.NotFound")
	rules, _ = allRules(t, c, web, 5)
	want = []string{
		`in icmp -1--1 10.2.0.0/16 ""`,
		`in tcp 443-443 10.0.0.0/8 "corp"`,
		`in tcp 443-443 192.168.0.0/16 ""`,
		`out -1 -1--1 0.0.0.0/0 ""`,
		`out -1 -1--1 ::/0 ""`,
		`out tcp 5432-5432 ` + db + ` ""`,
	}
	if got := ruleStrings(rules); !equalStrings(got, want) {
		t.Fatalf("after revokes:\n%s", strings.Join(got, "\n"))
	}

	// db is referenced by web's egress rule: it cannot go until that rule does.
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(db)})
	wantCode(t, err, "DependencyViolation")
	must(c.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{
		GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{{
			IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432),
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(db)}},
		}},
	}))(t)
	must(c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(db)}))(t)
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(db)})
	wantCode(t, err, "InvalidGroup.NotFound")
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(emu.DefaultSecurityGroup("vpc-1"))})
	wantCode(t, err, "CannotDelete")

	// A group on a network interface cannot be deleted either.
	eni := emu.AddNetworkInterface("vpc-1", "10.0.9.9", web)
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(web)})
	wantCode(t, err, "DependencyViolation")
	must(c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(eni), Groups: []string{emu.DefaultSecurityGroup("vpc-1")},
	}))(t)
	must(c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(web)}))(t)
	if _, ok := emu.SecurityGroup(web); ok || emu.RuleCount() != 2 {
		t.Fatalf("after deleting: group still there or %d rules left", emu.RuleCount())
	}
}

func TestDescribeSecurityGroupsFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	emu := ec2emu.New(ec2emu.Options{Seed: 2})
	emu.AddVPC("vpc-1")
	emu.AddVPC("vpc-2")
	c := client(t, emu, 1)
	for i := range 7 {
		createGroup(t, c, "vpc-1", fmt.Sprintf("seg-%d", i), map[string]string{"microseg:managed": "true", "tier": fmt.Sprint(i % 2)})
	}
	createGroup(t, c, "vpc-2", "seg-0", map[string]string{"microseg:managed": "true"})
	createGroup(t, c, "vpc-1", "hand-made", map[string]string{"owner": "ops"})

	var names []string
	pager := ec2.NewDescribeSecurityGroupsPaginator(c, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{"vpc-1"}},
			{Name: aws.String("tag-key"), Values: []string{"microseg:managed"}},
		},
		MaxResults: aws.Int32(5),
	})
	pages := 0
	for pager.HasMorePages() {
		out := must(pager.NextPage(ctx))(t)
		for _, g := range out.SecurityGroups {
			names = append(names, aws.ToString(g.GroupName))
		}
		pages++
	}
	sort.Strings(names)
	if len(names) != 7 || pages != 2 || names[0] != "seg-0" || names[6] != "seg-6" {
		t.Fatalf("managed groups in vpc-1 over %d pages: %v", pages, names)
	}

	out := must(c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("tag:tier"), Values: []string{"1"}},
		{Name: aws.String("group-name"), Values: []string{"seg-*"}},
	}}))(t)
	if len(out.SecurityGroups) != 3 {
		t.Fatalf("tag:tier=1: %d groups", len(out.SecurityGroups))
	}
	out = must(c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("group-name"), Values: []string{"default"}},
	}}))(t)
	if len(out.SecurityGroups) != 2 {
		t.Fatalf("default groups: %d", len(out.SecurityGroups))
	}
	def := emu.DefaultSecurityGroup("vpc-1")
	if d := describeGroup(t, c, def); len(d.IpPermissions) != 1 || aws.ToString(d.IpPermissions[0].UserIdGroupPairs[0].GroupId) != def {
		t.Fatalf("default group's self rule: %+v", d.IpPermissions)
	}

	_, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0000000000000000f"}})
	wantCode(t, err, "InvalidGroup.NotFound")
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{def}, MaxResults: aws.Int32(5)})
	wantCode(t, err, "InvalidParameterCombination")
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{MaxResults: aws.Int32(4)})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("nope"), Values: []string{"x"}}}})
	wantCode(t, err, "InvalidParameterValue")
}

func TestInstancesAndNetworkInterfaces(t *testing.T) {
	ctx := context.Background()
	emu := ec2emu.New(ec2emu.Options{Seed: 3})
	def1 := emu.AddVPC("vpc-1")
	emu.AddVPC("vpc-2")
	c := client(t, emu, 1)

	webI, webENI := emu.AddInstance("vpc-1", map[string]string{"env": "prod", "role": "web"}, "10.0.0.10")
	dbI, dbENI := emu.AddInstance("vpc-1", map[string]string{"env": "prod", "role": "db"}, "10.0.0.20")
	emu.AddInstance("vpc-1", map[string]string{"env": "dev", "role": "web"}, "10.0.0.30")
	emu.AddInstance("vpc-2", map[string]string{"env": "prod", "role": "web"}, "10.1.0.10")
	for i := range 4 {
		emu.AddInstance("vpc-2", map[string]string{"env": "test"}, fmt.Sprintf("10.1.1.%d", i))
	}

	out := must(c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{"vpc-1"}},
		{Name: aws.String("tag:env"), Values: []string{"prod"}},
		{Name: aws.String("tag:role"), Values: []string{"web"}},
	}}))(t)
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("prod web in vpc-1: %+v", out.Reservations)
	}
	inst := out.Reservations[0].Instances[0]
	if aws.ToString(inst.InstanceId) != webI || aws.ToString(inst.PrivateIpAddress) != "10.0.0.10" ||
		tagMap(inst.Tags)["role"] != "web" || inst.State == nil || inst.State.Name != types.InstanceStateNameRunning ||
		len(inst.NetworkInterfaces) != 1 || aws.ToString(inst.NetworkInterfaces[0].NetworkInterfaceId) != webENI ||
		len(inst.NetworkInterfaces[0].Groups) != 1 || aws.ToString(inst.NetworkInterfaces[0].Groups[0].GroupId) != def1 {
		t.Fatalf("instance: %+v", inst)
	}

	// Pages of 5 over 8 instances.
	var ids []string
	pager := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	for pager.HasMorePages() {
		for _, r := range must(pager.NextPage(ctx))(t).Reservations {
			for _, i := range r.Instances {
				ids = append(ids, aws.ToString(i.InstanceId))
			}
		}
	}
	if len(ids) != 8 {
		t.Fatalf("paged instances: %d", len(ids))
	}

	if err := emu.SetInstanceState(dbI, "stopped"); err != nil {
		t.Fatal(err)
	}
	out = must(c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("instance-state-name"), Values: []string{"stopped"}},
	}}))(t)
	if len(out.Reservations) != 1 || aws.ToString(out.Reservations[0].Instances[0].InstanceId) != dbI {
		t.Fatalf("stopped: %+v", out.Reservations)
	}
	out = must(c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{webI, dbI}}))(t)
	if len(out.Reservations) != 2 {
		t.Fatalf("by ID: %d", len(out.Reservations))
	}
	_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000000f"}})
	wantCode(t, err, "InvalidInstanceID.NotFound")

	// Network interfaces.
	enis := must(c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{webI}},
	}}))(t)
	if len(enis.NetworkInterfaces) != 1 {
		t.Fatalf("ENIs of %s: %d", webI, len(enis.NetworkInterfaces))
	}
	ni := enis.NetworkInterfaces[0]
	if aws.ToString(ni.NetworkInterfaceId) != webENI || aws.ToString(ni.PrivateIpAddress) != "10.0.0.10" ||
		ni.Attachment == nil || aws.ToString(ni.Attachment.InstanceId) != webI || aws.ToString(ni.VpcId) != "vpc-1" ||
		len(ni.Groups) != 1 || aws.ToString(ni.Groups[0].GroupId) != def1 || aws.ToString(ni.Groups[0].GroupName) != "default" {
		t.Fatalf("ENI: %+v", ni)
	}
	enis = must(c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{"vpc-1"}},
		{Name: aws.String("group-id"), Values: []string{def1}},
	}}))(t)
	if len(enis.NetworkInterfaces) != 3 {
		t.Fatalf("vpc-1 ENIs in the default group: %d", len(enis.NetworkInterfaces))
	}

	// Tags on instances, interfaces and groups.
	web := createGroup(t, c, "vpc-1", "web", nil)
	must(c.CreateTags(ctx, &ec2.CreateTagsInput{
		Resources: []string{webI, webENI, web},
		Tags:      []types.Tag{{Key: aws.String("microseg:segment"), Value: aws.String("web")}, {Key: aws.String("tmp"), Value: aws.String("1")}},
	}))(t)
	enis = must(c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
		{Name: aws.String("tag:microseg:segment"), Values: []string{"web"}},
	}}))(t)
	if len(enis.NetworkInterfaces) != 1 || tagMap(enis.NetworkInterfaces[0].TagSet)["tmp"] != "1" {
		t.Fatalf("tagged ENIs: %+v", enis.NetworkInterfaces)
	}
	must(c.DeleteTags(ctx, &ec2.DeleteTagsInput{
		Resources: []string{webI, webENI, web},
		Tags:      []types.Tag{{Key: aws.String("tmp")}, {Key: aws.String("microseg:segment"), Value: aws.String("not-this")}},
	}))(t)
	if g := describeGroup(t, c, web); len(g.Tags) != 1 || tagMap(g.Tags)["microseg:segment"] != "web" {
		t.Fatalf("after DeleteTags: %v", tagMap(g.Tags))
	}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{
		Resources: []string{webI, "eni-0000000000000000f"}, Tags: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}},
	})
	wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
	if emu.Instances()[0].Tags["x"] != "" {
		t.Fatal("a failed CreateTags tagged something")
	}

	// Security groups on an interface: replaced whole, at most 5.
	var groups []string
	for i := range 6 {
		groups = append(groups, createGroup(t, c, "vpc-1", fmt.Sprintf("g%d", i), nil))
	}
	must(c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(dbENI), Groups: groups[:2],
	}))(t)
	enis = must(c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{dbENI}}))(t)
	if gs := enis.NetworkInterfaces[0].Groups; len(gs) != 2 || aws.ToString(gs[0].GroupId) != groups[0] || aws.ToString(gs[1].GroupName) != "g1" {
		t.Fatalf("ENI groups: %+v", gs)
	}
	_, err = c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(dbENI), Groups: groups,
	})
	wantCode(t, err, "SecurityGroupsPerInterfaceLimitExceeded")
	for _, n := range emu.NetworkInterfaces() {
		if n.ID == dbENI && len(n.Groups) != 2 {
			t.Fatalf("a refused modify changed the ENI: %v", n.Groups)
		}
	}
	out = must(c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{dbI}}))(t)
	if gs := out.Reservations[0].Instances[0].NetworkInterfaces[0].Groups; len(gs) != 2 {
		t.Fatalf("instance's interface groups: %+v", gs)
	}
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(groups[0])})
	wantCode(t, err, "DependencyViolation")
	// Terminating the instance deletes its interface and frees the group.
	if err := emu.SetInstanceState(dbI, "terminated"); err != nil {
		t.Fatal(err)
	}
	must(c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(groups[0])}))(t)
}

func TestRulesPerGroupLimit(t *testing.T) {
	ctx := context.Background()
	emu := ec2emu.New(ec2emu.Options{RulesPerGroup: 3})
	emu.AddVPC("vpc-1")
	c := client(t, emu, 1)
	sg := createGroup(t, c, "vpc-1", "small", nil)
	peer := createGroup(t, c, "vpc-1", "peer", nil)
	perm := func(cidrs ...string) types.IpPermission {
		p := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22)}
		for _, c := range cidrs {
			if strings.Contains(c, ":") {
				p.Ipv6Ranges = append(p.Ipv6Ranges, types.Ipv6Range{CidrIpv6: aws.String(c)})
			} else {
				p.IpRanges = append(p.IpRanges, types.IpRange{CidrIp: aws.String(c)})
			}
		}
		return p
	}
	ingress := func(p types.IpPermission) error {
		_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []types.IpPermission{p}})
		return err
	}
	mustOK(t, ingress(perm("10.0.0.0/24", "10.0.1.0/24")))
	wantCode(t, ingress(perm("10.0.2.0/24", "10.0.3.0/24")), "RulesPerSecurityGroupLimitExceeded")
	mustOK(t, ingress(perm("10.0.2.0/24")))              // the third IPv4 rule
	mustOK(t, ingress(perm("fd00::/64", "fd00:1::/64"))) // IPv6 is counted apart
	withPeer := perm()
	withPeer.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(peer)}}
	wantCode(t, ingress(withPeer), "RulesPerSecurityGroupLimitExceeded") // counts in both families
	// Outbound has its own quota (the default egress rule is one of its three).
	_, err := c.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(sg), IpPermissions: []types.IpPermission{perm("10.0.0.0/24", "10.0.1.0/24")}})
	mustOK(t, err)
	if n := len(emu.Rules(sg)); n != 8 {
		t.Fatalf("rules: %d", n)
	}
}

func TestProtocolErrorsAndRawRequests(t *testing.T) {
	ctx := context.Background()
	emu := ec2emu.New(ec2emu.Options{})
	emu.AddVPC("vpc-1")
	url0 := serve(t, emu)
	c := client(t, emu, 1)
	sg := createGroup(t, c, "vpc-1", "x", nil)

	post := func(form url.Values) (int, string) {
		t.Helper()
		resp, err := http.PostForm(url0, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := post(url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}})
	if status != 400 || !strings.Contains(body, "<Code>InvalidAction</Code>") || !strings.Contains(body, "<RequestID>") {
		t.Fatalf("unknown action: %d %s", status, body)
	}
	status, body = post(url.Values{"Action": {"CreateSecurityGroup"}, "GroupName": {"y"}, "VpcId": {"vpc-1"}})
	if status != 400 || !strings.Contains(body, "<Code>MissingParameter</Code>") {
		t.Fatalf("missing description: %d %s", status, body)
	}
	status, body = post(url.Values{"Action": {"DescribeSecurityGroups"}, "Filter.1.Name": {"group-id"}, "Filter.1.Value.1": {sg}})
	if status != 200 || !strings.Contains(body, `<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`) ||
		!strings.Contains(body, "<securityGroupInfo><item>") {
		t.Fatalf("describe: %d %s", status, body)
	}

	bad := []struct {
		perm types.IpPermission
		code string
	}{
		{types.IpPermission{IpProtocol: aws.String("tcp"), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}, "MissingParameter"},
		{types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(1), ToPort: aws.Int32(2)}, "MissingParameter"},
		{types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(9), ToPort: aws.Int32(2), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}, "InvalidParameterValue"},
		{types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(1), ToPort: aws.Int32(2), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.1/8")}}}, "InvalidParameterValue"},
		{types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(1), ToPort: aws.Int32(2), IpRanges: []types.IpRange{{CidrIp: aws.String("2001:db8::/32")}}}, "InvalidParameterValue"},
		{types.IpPermission{IpProtocol: aws.String("bogus"), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}, "InvalidParameterValue"},
		{types.IpPermission{IpProtocol: aws.String("-1"), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String("sg-0000000000000000f")}}}, "InvalidGroup.NotFound"},
	}
	for i, b := range bad {
		_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []types.IpPermission{b.perm}})
		t.Run(fmt.Sprint(i), func(t *testing.T) { wantCode(t, err, b.code) })
	}
	// Protocol numbers are stored by name; DryRun validates and changes nothing.
	out := must(c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []types.IpPermission{
		{IpProtocol: aws.String("6"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}},
	}}))(t)
	if aws.ToString(out.SecurityGroupRules[0].IpProtocol) != "tcp" {
		t.Fatalf("protocol 6 stored as %s", aws.ToString(out.SecurityGroupRules[0].IpProtocol))
	}
	_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{DryRun: aws.Bool(true), GroupId: aws.String(sg), IpPermissions: []types.IpPermission{
		{IpProtocol: aws.String("udp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}},
	}})
	wantCode(t, err, "DryRunOperation")
	if n := len(emu.Rules(sg)); n != 2 {
		t.Fatalf("rules after a dry run: %d", n)
	}
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation")
	_, err = c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("z"), Description: aws.String("z"), VpcId: aws.String("vpc-9")})
	wantCode(t, err, "InvalidVpcID.NotFound")
	_, err = c.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{NextToken: aws.String("garbage!")})
	wantCode(t, err, "InvalidPaginationToken")
}

func TestFaultsWithRetries(t *testing.T) {
	ctx := context.Background()
	emu := ec2emu.New(ec2emu.Options{Seed: 42})
	emu.AddVPC("vpc-1")
	emu.SetFaults(0.3, 0.1)
	// The SDK's standard retryer with 10 attempts; only its back-off is cut to a
	// millisecond, so that the test does not sleep for seconds.
	c := ec2.New(ec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(serve(t, emu)),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		HTTPClient:   ec2emu.HTTPClient(),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 10
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		}),
	})
	var sgs []string
	for i := range 25 {
		out, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName: aws.String(fmt.Sprintf("g%d", i)), Description: aws.String("g"), VpcId: aws.String("vpc-1"),
		})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		sgs = append(sgs, aws.ToString(out.GroupId))
	}
	for i, sg := range sgs {
		_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []types.IpPermission{
			{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}},
		}})
		if err != nil {
			t.Fatalf("call %d: %v", 25+i, err)
		}
	}
	calls := emu.Calls()
	total := calls["CreateSecurityGroup"] + calls["AuthorizeSecurityGroupIngress"]
	if total <= 50 {
		t.Fatalf("50 calls with 40%% faults reached the emulator only %d times", total)
	}
	t.Logf("50 calls took %d requests", total)
	// Faults fail before doing anything: exactly one group per name, one rule each.
	if n := len(emu.SecurityGroups()); n != 26 {
		t.Fatalf("groups: %d", n)
	}
	for _, sg := range sgs {
		if n := len(emu.Rules(sg)); n != 2 {
			t.Fatalf("%s: %d rules", sg, n)
		}
	}

	// Without retries, the faults surface with their codes and statuses.
	emu.ResetCalls()
	if len(emu.Calls()) != 0 {
		t.Fatal("ResetCalls left counts")
	}
	c1 := client(t, emu, 1)
	seen := map[string]int{}
	for range 60 {
		_, err := c1.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
		if err == nil {
			continue
		}
		var ae smithy.APIError
		var re *awshttp.ResponseError
		if !errors.As(err, &ae) || !errors.As(err, &re) {
			t.Fatalf("fault: %v", err)
		}
		switch code, status := ae.ErrorCode(), re.HTTPStatusCode(); {
		case code == "RequestLimitExceeded" && status == 503, code == "InternalError" && status == 500:
			seen[code]++
		default:
			t.Fatalf("fault %s with HTTP %d", code, status)
		}
	}
	if seen["RequestLimitExceeded"] == 0 || seen["InternalError"] == 0 {
		t.Fatalf("faults seen without retries: %v", seen)
	}
	if n := emu.Calls()["DescribeSecurityGroups"]; n != 60 {
		t.Fatalf("Calls counted %d DescribeSecurityGroups, want 60", n)
	}
}

func TestConcurrentClients(t *testing.T) {
	ctx := context.Background()
	emu := ec2emu.New(ec2emu.Options{RulesPerGroup: 1000})
	emu.AddVPC("vpc-1")
	c := client(t, emu, 1)
	sg := createGroup(t, c, "vpc-1", "shared", nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []types.IpPermission{
					{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(int32(1000 + w)), ToPort: aws.Int32(int32(1000 + w)), IpRanges: []types.IpRange{{CidrIp: aws.String(fmt.Sprintf("10.%d.%d.0/24", w, i))}}},
				}})
				if err != nil {
					errs <- err
					return
				}
				if _, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{sg}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(emu.Rules(sg)); n != 161 {
		t.Fatalf("rules: %d", n)
	}
}

// authorizeMany adds n /32 rules to a group, 1,000 per call.
func authorizeMany(t testing.TB, c *ec2.Client, sg string, n int) {
	t.Helper()
	for start := 0; start < n; start += 1000 {
		p := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443)}
		for i := start; i < n && i < start+1000; i++ {
			p.IpRanges = append(p.IpRanges, types.IpRange{CidrIp: aws.String(fmt.Sprintf("10.%d.%d.%d/32", i>>16&255, i>>8&255, i&255))})
		}
		if _, err := c.AuthorizeSecurityGroupIngress(context.Background(), &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId: aws.String(sg), IpPermissions: []types.IpPermission{p},
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFiveThousandRules(t *testing.T) {
	ctx := context.Background()
	emu := ec2emu.New(ec2emu.Options{RulesPerGroup: 5000})
	emu.AddVPC("vpc-1")
	c := client(t, emu, 1)
	sg := createGroup(t, c, "vpc-1", "big", nil)
	start := time.Now()
	authorizeMany(t, c, sg, 5000)
	g := describeGroup(t, c, sg)
	if len(g.IpPermissions) != 1 || len(g.IpPermissions[0].IpRanges) != 5000 {
		t.Fatalf("described %d permissions", len(g.IpPermissions))
	}
	rules, pages := allRules(t, c, sg, 1000)
	if len(rules) != 5001 || pages != 6 {
		t.Fatalf("%d rules in %d pages", len(rules), pages)
	}
	// One more is over the quota; then revoke them all by ID, 1,000 per call.
	_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []types.IpPermission{
		{IpProtocol: aws.String("udp"), FromPort: aws.Int32(1), ToPort: aws.Int32(1), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}},
	}})
	wantCode(t, err, "RulesPerSecurityGroupLimitExceeded")
	var ids []string
	for _, r := range rules {
		if !aws.ToBool(r.IsEgress) {
			ids = append(ids, aws.ToString(r.SecurityGroupRuleId))
		}
	}
	for len(ids) > 0 {
		n := min(1000, len(ids))
		must(c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(sg), SecurityGroupRuleIds: ids[:n]}))(t)
		ids = ids[n:]
	}
	if n := len(emu.Rules(sg)); n != 1 {
		t.Fatalf("left: %d rules", n)
	}
	t.Logf("5,000 rules added, described, paged and revoked in %v", time.Since(start))
}

func BenchmarkDescribeFiveThousandRules(b *testing.B) {
	emu := ec2emu.New(ec2emu.Options{RulesPerGroup: 5000})
	emu.AddVPC("vpc-1")
	c := client(b, emu, 1)
	out, err := c.CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("big"), Description: aws.String("big"), VpcId: aws.String("vpc-1"),
	})
	if err != nil {
		b.Fatal(err)
	}
	sg := aws.ToString(out.GroupId)
	authorizeMany(b, c, sg, 5000)
	b.ResetTimer()
	for range b.N {
		if rules, _ := allRules(b, c, sg, 1000); len(rules) != 5001 {
			b.Fatalf("%d rules", len(rules))
		}
	}
}

// TestInterfaceAddresses: secondary private IPv4 and IPv6 addresses reach the SDK's
// types in DescribeInstances and DescribeNetworkInterfaces, the primary first.
func TestInterfaceAddresses(t *testing.T) {
	ctx := context.Background()
	emu := ec2emu.New(ec2emu.Options{Seed: 3})
	emu.AddVPC("vpc-1")
	c := client(t, emu, 1)
	_, eni := emu.AddInstance("vpc-1", map[string]string{"app": "shop"}, "10.0.0.10")
	if err := emu.AddAddresses(eni, "10.0.0.11", "2600:1f18::10", "10.0.0.12"); err != nil {
		t.Fatal(err)
	}
	if err := emu.AddAddresses("eni-nope", "10.0.0.13"); err == nil {
		t.Error("AddAddresses on an unknown interface succeeded")
	}
	out := must(c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}))(t)
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 || len(out.Reservations[0].Instances[0].NetworkInterfaces) != 1 {
		t.Fatalf("reservations: %+v", out.Reservations)
	}
	check := func(what string, private []types.NetworkInterfacePrivateIpAddress, v6 []types.NetworkInterfaceIpv6Address) {
		t.Helper()
		var got []string
		for _, p := range private {
			got = append(got, fmt.Sprintf("%s primary=%v", aws.ToString(p.PrivateIpAddress), aws.ToBool(p.Primary)))
		}
		for _, a := range v6 {
			got = append(got, aws.ToString(a.Ipv6Address))
		}
		want := []string{"10.0.0.10 primary=true", "10.0.0.11 primary=false", "10.0.0.12 primary=false", "2600:1f18::10"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: addresses %q, want %q", what, got, want)
		}
	}
	ni := out.Reservations[0].Instances[0].NetworkInterfaces[0]
	var private []types.NetworkInterfacePrivateIpAddress
	for _, p := range ni.PrivateIpAddresses {
		private = append(private, types.NetworkInterfacePrivateIpAddress{PrivateIpAddress: p.PrivateIpAddress, Primary: p.Primary})
	}
	var v6 []types.NetworkInterfaceIpv6Address
	for _, a := range ni.Ipv6Addresses {
		v6 = append(v6, types.NetworkInterfaceIpv6Address{Ipv6Address: a.Ipv6Address})
	}
	check("DescribeInstances", private, v6)
	enis := must(c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}}))(t)
	if len(enis.NetworkInterfaces) != 1 {
		t.Fatalf("network interfaces: %+v", enis.NetworkInterfaces)
	}
	check("DescribeNetworkInterfaces", enis.NetworkInterfaces[0].PrivateIpAddresses, enis.NetworkInterfaces[0].Ipv6Addresses)
}
