package aws

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
	"github.com/microseg/microseg/providers/conformance"
	"github.com/microseg/microseg/test/ec2emu"
)

const policy = `
target "aws" "prod" {
  region               = "us-east-1"
  vpc_id               = "vpc-1"
  exclusive_membership = true
}
target "hosts" "dc1" {
  management_cidrs = ["10.0.0.0/24"]
  host "db-01" { address = "10.20.0.11" }
}
network "internet" { cidrs = ["0.0.0.0/0", "::/0"] }
service "https" { ports = ["tcp/443"] }
service "app" { ports = ["tcp/8080-8081"] }
service "postgres" { ports = ["tcp/5432"] }
service "ping" { ports = ["icmp/8"] }
segment "web" {
  target = target.aws.prod
  members { tags = { tier = "web" } }
  cidrs  = ["10.0.1.0/24"]
}
segment "app" {
  target = target.aws.prod
  members { tags = { tier = "app" } }
  cidrs  = ["10.0.2.0/24"]
}
segment "batch" {
  target = target.aws.prod
  members { tags = { role = "batch" } }
  mode   = "audit"
}
segment "db" {
  target = target.hosts.dc1
  members { hosts = ["db-01"] }
  cidrs  = ["10.20.0.0/24"]
}
allow "internet-to-web" {
  from     = [network.internet]
  to       = [segment.web]
  services = [service.https]
}
allow "web-to-app" {
  from     = [segment.web]
  to       = [segment.app]
  services = [service.app, service.ping]
}
allow "app-to-db" {
  from     = [segment.app]
  to       = [segment.db]
  services = [service.postgres]
}
allow "batch-to-app" {
  from     = [segment.batch]
  to       = [segment.app]
  services = [service.app]
}
`

func compile(t testing.TB, src string) (*model.Target, *model.DesiredState) {
	t.Helper()
	loaded, diags := hclload.LoadSources(map[string][]byte{"p.hcl": []byte(src)})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	states, err := model.Compile(loaded.Policy)
	if err != nil {
		t.Fatal(err)
	}
	return loaded.Policy.Targets["prod"], states["prod"]
}

// emulated starts an EC2 emulator and returns it with a real SDK client for it.
func emulated(t testing.TB) (*ec2emu.Emulator, *ec2.Client) {
	emu := ec2emu.New(ec2emu.Options{Seed: 1})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	emu.AddVPC("vpc-1")
	client := ec2.New(ec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		HTTPClient:   ec2emu.HTTPClient(),
		// AWS's standard retryer (throttling and 5xx, jittered backoff), bounded,
		// with short pauses for tests.
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 10
			o.MaxBackoff = 20 * time.Millisecond
		}),
	})
	return emu, client
}

func TestConformance(t *testing.T) {
	emu, client := emulated(t)
	webA, webENI := emu.AddInstance("vpc-1", map[string]string{"tier": "web"}, "10.0.1.10")
	_, _ = emu.AddInstance("vpc-1", map[string]string{"tier": "web"}, "10.0.1.11")
	_, appENI := emu.AddInstance("vpc-1", map[string]string{"tier": "app"}, "10.0.2.10")
	emu.AddInstance("vpc-1", map[string]string{"role": "batch"}, "10.0.3.10")
	_, otherENI := emu.AddInstance("vpc-1", map[string]string{"tier": "legacy"}, "10.0.9.10")
	_ = webA
	target, state := compile(t, policy)
	p, err := New(client, target, "test", DefaultQuotas)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	group := func(seg string) string { return groupsOf(t, p)[seg] }
	var legacy string
	conformance.Run(t, conformance.Harness{
		Provider: p,
		State:    state,
		Drifts: map[string]func(t *testing.T) string{
			"rule revoked by hand": func(t *testing.T) string {
				must(t, revokeIngress(ctx, client, group("web"), "tcp", 443, 443, "0.0.0.0/0"))
				return "+ rule web ingress from 0.0.0.0/0 tcp/443"
			},
			"rule added by hand": func(t *testing.T) string {
				_, err := client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(group("web")),
					IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
				must(t, err)
				return "- rule web ingress from 0.0.0.0/0 tcp/22"
			},
			"default egress back": func(t *testing.T) string {
				_, err := client.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(group("app")),
					IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
				must(t, err)
				return "- rule app egress to 0.0.0.0/0 all"
			},
			"group detached from a member": func(t *testing.T) string {
				_, err := client.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(webENI),
					Groups: []string{emu.DefaultSecurityGroup("vpc-1")}})
				must(t, err)
				return "+ member web " + webENI
			},
			"foreign group on a member": func(t *testing.T) string {
				_, err := client.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(appENI),
					Groups: []string{group("app"), emu.DefaultSecurityGroup("vpc-1")}})
				must(t, err)
				return "- member " + appENI + " foreign " + emu.DefaultSecurityGroup("vpc-1")
			},
		},
		Unmanaged: func(t *testing.T) {
			out, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("legacy"), Description: aws.String("not ours"), VpcId: aws.String("vpc-1")})
			must(t, err)
			legacy = aws.ToString(out.GroupId)
			_, err = client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: out.GroupId,
				IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(3389), ToPort: aws.Int32(3389), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
			must(t, err)
			_, err = client.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(otherENI), Groups: []string{legacy}})
			must(t, err)
		},
		Next: nextState(t),
		Kept: func() bool { return keptInForce(emu, webENI, appENI) },
		Untouched: func(t *testing.T) {
			sg, ok := emu.SecurityGroup(legacy)
			if !ok || len(sg.Ingress) != 1 || len(sg.Egress) != 1 {
				t.Errorf("the unmanaged group changed: %+v", sg)
			}
			for _, eni := range emu.NetworkInterfaces() {
				if eni.ID == otherENI && (len(eni.Groups) != 1 || eni.Groups[0] != legacy) {
					t.Errorf("the unmanaged instance's groups changed: %v", eni.Groups)
				}
			}
		},
	})
	// What the first apply built, as AWS holds it.
	web, _ := emu.SecurityGroup(group("web"))
	if web.Name != "microseg-web" || web.Tags[TagManaged] != "true" || web.Tags[TagSegment] != "web" || web.Tags[TagPolicy] != "test" {
		t.Errorf("web group = %+v", web)
	}
	for _, r := range web.Egress {
		if r.CIDRv4 == "0.0.0.0/0" && r.Protocol == "-1" {
			t.Error("the default allow-all egress is still on an enforce-mode group")
		}
	}
}

// nextState is the test policy's next version: web is reached on 8443 instead of
// 443, segment batch (and its allow) is gone, and segment api is new.
func nextState(t testing.TB) *model.DesiredState {
	next := strings.Replace(policy, `service "https" { ports = ["tcp/443"] }`, `service "https" { ports = ["tcp/8443"] }`, 1)
	next = strings.Replace(next, `allow "batch-to-app" {
  from     = [segment.batch]
  to       = [segment.app]
  services = [service.app]
}`, "", 1)
	next = strings.Replace(next, `segment "batch" {
  target = target.aws.prod
  members { tags = { role = "batch" } }
  mode   = "audit"
}`, `segment "api" {
  target = target.aws.prod
  members { tags = { tier = "web" } }
}`, 1)
	_, st := compile(t, next)
	return st
}

// keptInForce reports whether web -> app on tcp/8080, which both versions allow, is
// in force in the emulated VPC now: the web member carries microseg-web, the app
// member microseg-app, whose ingress admits microseg-web on 8080, and microseg-web's
// egress lets it out.
func keptInForce(emu *ec2emu.Emulator, webENI, appENI string) bool {
	groups := map[string]ec2emu.SecurityGroup{}
	for _, sg := range emu.SecurityGroups() {
		groups[sg.Name] = sg
	}
	web, app := groups["microseg-web"], groups["microseg-app"]
	carries := map[string]bool{}
	for _, eni := range emu.NetworkInterfaces() {
		for _, g := range eni.Groups {
			carries[eni.ID+" "+g] = true
		}
	}
	rule := func(rules []ec2emu.Rule, peer string) bool {
		for _, r := range rules {
			if r.Protocol == "tcp" && r.FromPort <= 8080 && 8080 <= r.ToPort && r.ReferencedGroupID == peer {
				return true
			}
		}
		return false
	}
	return web.ID != "" && app.ID != "" && carries[webENI+" "+web.ID] && carries[appENI+" "+app.ID] &&
		rule(app.Ingress, web.ID) && rule(web.Egress, app.ID)
}

// planned plans st on p, failing t if it cannot.
func planned(t testing.TB, p *Provider, st *model.DesiredState) *providers.Planned {
	t.Helper()
	pl, err := providers.Plan(context.Background(), p, st, "prod")
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// groupsOf is the group of each segment, as p observes it now.
func groupsOf(t testing.TB, p *Provider) map[string]string {
	t.Helper()
	obs, err := p.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return obs.State.(*observed).groups
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func revokeIngress(ctx context.Context, c *ec2.Client, gid, proto string, from, to int32, cidr string) error {
	_, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(gid),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String(proto), FromPort: aws.Int32(from), ToPort: aws.Int32(to), IpRanges: []types.IpRange{{CidrIp: aws.String(cidr)}}}}})
	return err
}

// TestSegmentRemovedDeletesItsGroupAfterDetaching removes a segment from the policy:
// its group comes off every interface (one attached by hand too) and is deleted.
func TestSegmentRemovedDeletesItsGroupAfterDetaching(t *testing.T) {
	emu, client := emulated(t)
	emu.AddInstance("vpc-1", map[string]string{"tier": "web"}, "10.0.1.10")
	_, appENI := emu.AddInstance("vpc-1", map[string]string{"tier": "app"}, "10.0.2.10")
	strayENI := emu.AddNetworkInterface("vpc-1", "10.0.9.9", emu.DefaultSecurityGroup("vpc-1"))
	target, state := compile(t, policy)
	p, _ := New(client, target, "test", DefaultQuotas)
	ctx := context.Background()
	applyAll := func(st *model.DesiredState) {
		t.Helper()
		must(t, planned(t, p, st).Apply(ctx, p))
	}
	applyAll(state)
	appGroup := groupsOf(t, p)["app"]
	// Someone attaches the app group to an interface microseg does not manage.
	_, err := client.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(strayENI), Groups: []string{appGroup}})
	must(t, err)

	// The next version of the policy has no app segment (and nothing refers to it).
	_, next := compile(t, strings.NewReplacer(
		`segment "app" {
  target = target.aws.prod
  members { tags = { tier = "app" } }
  cidrs  = ["10.0.2.0/24"]
}`, "",
		`allow "web-to-app" {
  from     = [segment.web]
  to       = [segment.app]
  services = [service.app, service.ping]
}`, "",
		`allow "app-to-db" {
  from     = [segment.app]
  to       = [segment.db]
  services = [service.postgres]
}`, "",
		`allow "batch-to-app" {
  from     = [segment.batch]
  to       = [segment.app]
  services = [service.app]
}`, "").Replace(policy))
	applyAll(next)
	if _, ok := emu.SecurityGroup(appGroup); ok {
		t.Error("the app group still exists")
	}
	for _, eni := range emu.NetworkInterfaces() {
		if slices.Contains(eni.Groups, appGroup) || len(eni.Groups) == 0 {
			t.Errorf("interface %s has groups %v", eni.ID, eni.Groups)
		}
		if eni.ID == appENI && !slices.Equal(eni.Groups, []string{emu.DefaultSecurityGroup("vpc-1")}) {
			t.Errorf("the former app member has %v, want the VPC's default group", eni.Groups)
		}
	}
}
