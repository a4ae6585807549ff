package aws

import (
	"context"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers/conformance"
	"github.com/microseg/microseg/test/ec2emu"
)

// What a real VPC does that an IPv4-only emulator with exclusive membership hid:
// IPv6 default egress on new groups, the VPC's default group on every instance
// launched without groups, and rule descriptions.

// dualStack starts an emulator whose VPC has an IPv6 block, with a client for it.
func dualStack(t testing.TB) (*ec2emu.Emulator, *ec2.Client) {
	emu := ec2emu.New(ec2emu.Options{Seed: 2})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	emu.AddDualStackVPC("vpc-1", "2600:1f18:1234:5600::/56")
	client := ec2.New(ec2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		HTTPClient:  ec2emu.HTTPClient(),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 10
			o.MaxBackoff = 20 * time.Millisecond
		}),
	})
	return emu, client
}

// sharedPolicy is the test policy without exclusive_membership (AWS's default),
// with an owner and a ticket on one allow.
var sharedPolicy = strings.NewReplacer(
	"  exclusive_membership = true\n", "",
	`  services = [service.app, service.ping]
}`, `  services = [service.app, service.ping]
  owner    = "team-payments"
  ticket   = "SEC-142"
}`).Replace(policy)

func planOf(t *testing.T, p *Provider, st *model.DesiredState) (*model.Plan, []model.Finding) {
	t.Helper()
	pl := planned(t, p, st)
	return pl.Plan, pl.Observed.Findings
}

func rendered(p *model.Plan) string {
	var b strings.Builder
	p.Render(&b)
	return b.String()
}

// TestDualStackVPCFirstApplyConverges: in a VPC with an IPv6 block AWS gives each
// new group all-traffic egress to 0.0.0.0/0 and to ::/0; the first apply takes both
// off enforce-mode groups, so that the verifying plan is empty.
func TestDualStackVPCFirstApplyConverges(t *testing.T) {
	emu, client := dualStack(t)
	emu.AddInstance("vpc-1", map[string]string{"tier": "web"}, "10.0.1.10")
	emu.AddInstance("vpc-1", map[string]string{"tier": "app"}, "10.0.2.10")
	emu.AddInstance("vpc-1", map[string]string{"role": "batch"}, "10.0.3.10")
	target, state := compile(t, policy)
	p, err := New(client, target, "test", DefaultQuotas)
	must(t, err)
	must(t, planned(t, p, state).Apply(context.Background(), p))
	if again, _ := planOf(t, p, state); !again.Empty() {
		t.Fatalf("the plan after the first apply is not empty:\n%s", rendered(again))
	}
	for seg, enforce := range map[string]bool{"web": true, "app": true, "batch": false} {
		sg, ok := emu.SecurityGroup(groupsOf(t, p)[seg])
		if !ok {
			t.Fatalf("no group for %s", seg)
		}
		var allOut []string
		for _, r := range sg.Egress {
			if r.Protocol == "-1" {
				allOut = append(allOut, r.CIDRv4+r.CIDRv6)
			}
		}
		slices.Sort(allOut)
		if enforce && len(allOut) > 0 {
			t.Errorf("enforce-mode group %s still allows all traffic out to %v", seg, allOut)
		}
		if !enforce && !slices.Equal(allOut, []string{"0.0.0.0/0", "::/0"}) {
			t.Errorf("audit-mode group %s allows all traffic out to %v, want 0.0.0.0/0 and ::/0", seg, allOut)
		}
	}
}

// TestConformanceSharedMembership runs the conformance suite without
// exclusive_membership in a dual-stack VPC whose instances carry the VPC's default
// group, as instances launched without naming groups do: the default group stays
// on them, is reported as a finding, and never shows as a change.
func TestConformanceSharedMembership(t *testing.T) {
	emu, client := dualStack(t)
	_, webENI := emu.AddInstance("vpc-1", map[string]string{"tier": "web"}, "10.0.1.10")
	_, appENI := emu.AddInstance("vpc-1", map[string]string{"tier": "app"}, "10.0.2.10")
	emu.AddInstance("vpc-1", map[string]string{"role": "batch"}, "10.0.3.10")
	def := emu.DefaultSecurityGroup("vpc-1")
	target, state := compile(t, sharedPolicy)
	if target.AWS.ExclusiveMembership {
		t.Fatal("the shared policy has exclusive_membership")
	}
	p, err := New(client, target, "test", DefaultQuotas)
	must(t, err)
	ctx := context.Background()
	group := func(seg string) string { return groupsOf(t, p)[seg] }
	conformance.Run(t, conformance.Harness{
		Provider: p,
		State:    state,
		Drifts: map[string]func(t *testing.T) string{
			"IPv6 default egress back": func(t *testing.T) string {
				_, err := client.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(group("web")),
					IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), Ipv6Ranges: []types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}}}})
				must(t, err)
				return "- rule web egress to ::/0 all"
			},
			"description changed by hand": func(t *testing.T) string {
				id := ruleID(t, emu, group("app"), func(r ec2emu.Rule) bool { return !r.Egress && r.FromPort == 8080 })
				_, err := client.UpdateSecurityGroupRuleDescriptionsIngress(ctx, &ec2.UpdateSecurityGroupRuleDescriptionsIngressInput{GroupId: aws.String(group("app")),
					SecurityGroupRuleDescriptions: []types.SecurityGroupRuleDescription{{SecurityGroupRuleId: aws.String(id), Description: aws.String("temporary")}}})
				must(t, err)
				return `~ rule app ingress from segment.batch tcp/8080-8081  description: "temporary" -> "microseg: batch-to-app"`
			},
			"group detached from a member": func(t *testing.T) string {
				_, err := client.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(webENI),
					Groups: []string{def}})
				must(t, err)
				return "+ member web " + webENI
			},
		},
	})
	for _, eni := range emu.NetworkInterfaces() {
		if (eni.ID == webENI || eni.ID == appENI) && !slices.Contains(eni.Groups, def) {
			t.Errorf("interface %s lost the VPC's default group without exclusive_membership: %v", eni.ID, eni.Groups)
		}
	}
	plan, findings := planOf(t, p, state)
	if !plan.Empty() {
		t.Fatalf("plan not empty:\n%s", rendered(plan))
	}
	var subjects []string
	for _, f := range findings {
		subjects = append(subjects, f.Subject)
		if !strings.Contains(f.Message, def) || !strings.Contains(f.Message, "exclusive_membership") {
			t.Errorf("finding %q does not name the group %s and how to remove it", f, def)
		}
	}
	if !slices.Contains(subjects, "interface "+webENI) || !slices.Contains(subjects, "interface "+appENI) || !slices.IsSorted(subjects) {
		t.Errorf("findings = %v, want the default group on %s and %s, sorted", findings, webENI, appENI)
	}
}

func ruleID(t *testing.T, emu *ec2emu.Emulator, gid string, match func(ec2emu.Rule) bool) string {
	t.Helper()
	for _, r := range emu.Rules(gid) {
		if match(r) {
			return r.ID
		}
	}
	t.Fatalf("no such rule in %s: %+v", gid, emu.Rules(gid))
	return ""
}

// TestRuleDescriptionsNameAllows: every rule microseg writes names its allows,
// with owner and ticket, and a new allow behind an existing rule updates the
// description in place (a change, not a revoke and re-add).
func TestRuleDescriptionsNameAllows(t *testing.T) {
	emu, client := dualStack(t)
	emu.AddInstance("vpc-1", map[string]string{"tier": "web"}, "10.0.1.10")
	emu.AddInstance("vpc-1", map[string]string{"tier": "app"}, "10.0.2.10")
	target, state := compile(t, sharedPolicy)
	p, _ := New(client, target, "bundle-1", DefaultQuotas)
	ctx := context.Background()
	must(t, planned(t, p, state).Apply(ctx, p))
	groups := groupsOf(t, p)
	want := map[string]string{ // rule -> description
		"app ingress tcp 8080 " + groups["web"]: "microseg: web-to-app (owner team-payments, ticket SEC-142)",
		"web ingress tcp 443 ::/0":              "microseg: internet-to-web",
		"web egress tcp 8080 " + groups["app"]:  "microseg: web-to-app (owner team-payments, ticket SEC-142)",
		"app egress tcp 5432 10.20.0.0/24":      "microseg: app-to-db",
		"batch egress -1 0.0.0.0/0":             "microseg: audit mode of segment batch",
	}
	got := map[string]string{}
	for _, sg := range emu.SecurityGroups() {
		for _, r := range append(sg.Ingress, sg.Egress...) {
			if r.Description == "" || !strings.HasPrefix(sg.Name, "microseg-") {
				continue
			}
			dir := "ingress"
			if r.Egress {
				dir = "egress"
			}
			key := strings.TrimPrefix(sg.Name, "microseg-") + " " + dir + " " + r.Protocol
			if r.FromPort >= 0 {
				key += " " + strconv.Itoa(int(r.FromPort))
			}
			got[key+" "+r.CIDRv4+r.CIDRv6+r.ReferencedGroupID] = r.Description
		}
		for _, r := range append(sg.Ingress, sg.Egress...) {
			if strings.HasPrefix(sg.Name, "microseg-") && !strings.HasPrefix(r.Description, "microseg: ") {
				t.Errorf("rule %+v of %s has description %q", r, sg.Name, r.Description)
			}
		}
	}
	for k, d := range want {
		if got[k] != d {
			t.Errorf("description of %s = %q, want %q", k, got[k], d)
		}
	}

	// A second allow behind the internet-to-web rule: the description changes,
	// the rule keeps its ID, and the group's policy tag names the new bundle.
	webRule := ruleID(t, emu, groups["web"], func(r ec2emu.Rule) bool { return !r.Egress && r.FromPort == 443 })
	next := sharedPolicy + `
allow "partners-to-web" {
  from     = [network.internet]
  to       = [segment.web]
  services = [service.https]
  ticket   = "SEC-200"
}
`
	_, nextState := compile(t, next)
	p2, _ := New(client, target, "bundle-2", DefaultQuotas)
	pl := planned(t, p2, nextState)
	plan := pl.Plan
	text := rendered(plan)
	if add, change, remove := plan.Counts(); add+remove != 0 || change != 2 || // 0.0.0.0/0 and ::/0
		!strings.Contains(text, `~ rule web ingress from ::/0 tcp/443  description: "microseg: internet-to-web" -> "microseg: internet-to-web; partners-to-web (ticket SEC-200)"`) ||
		!strings.Contains(text, `~ rule web ingress from 0.0.0.0/0 tcp/443  description: "microseg: internet-to-web" -> "microseg: internet-to-web; partners-to-web (ticket SEC-200)"`) {
		t.Fatalf("plan of a second allow behind a rule:\n%s", text)
	}
	must(t, pl.Apply(ctx, p2))
	if again, _ := planOf(t, p2, nextState); !again.Empty() {
		t.Fatalf("after updating the description:\n%s", rendered(again))
	}
	if id := ruleID(t, emu, groups["web"], func(r ec2emu.Rule) bool { return !r.Egress && r.FromPort == 443 }); id != webRule {
		t.Errorf("the rule was replaced (%s, was %s) instead of described again", id, webRule)
	}
	web, _ := emu.SecurityGroup(groups["web"])
	app, _ := emu.SecurityGroup(groups["app"])
	if web.Tags[TagPolicy] != "bundle-2" || app.Tags[TagPolicy] != "bundle-1" {
		t.Errorf("policy tags: web %q (changed by bundle-2), app %q (unchanged since bundle-1)", web.Tags[TagPolicy], app.Tags[TagPolicy])
	}
}

func TestRuleDescription(t *testing.T) {
	allows := map[string]*model.Allow{
		"a":    {Name: "a", Owner: "team <x>", Ticket: "SEC-1"},
		"long": {Name: "long", Owner: strings.Repeat("o", 300)},
	}
	many := make([]string, 40)
	for i := range many {
		many[i] = "allow-number-" + strconv.Itoa(i+10)
	}
	for _, tc := range []struct {
		name   string
		allows []string
		want   string
	}{
		{"one", []string{"b"}, "microseg: b"},
		{"owner sanitized", []string{"a", "b"}, "microseg: a (owner team _x_, ticket SEC-1); b"},
		{"counted past 255", many, ""},
		{"one too long", []string{"long"}, ("microseg: long (owner " + strings.Repeat("o", 300))[:255]},
	} {
		got := ruleDescription(tc.allows, allows)
		if len(got) > maxDescription || sanitizeDescription(got) != got {
			t.Errorf("%s: %q is not a valid AWS description", tc.name, got)
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		if tc.name == "counted past 255" && (!strings.HasSuffix(got, " more") || !strings.Contains(got, "allow-number-10;") || strings.Contains(got, "allow-number-49")) {
			t.Errorf("%s: got %q", tc.name, got)
		}
	}
}
