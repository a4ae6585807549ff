package gcp

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
	"github.com/microseg/microseg/providers/conformance"
	"github.com/microseg/microseg/test/gceemu"
)

const project = gceemu.DefaultProject

const policyText = `
target "gcp" "prod" {
  project = %q
  network = "prod-vpc"
}
target "hosts" "dc1" {
  management_cidrs = ["10.0.0.0/24"]
  host "db-01" { address = "10.20.0.11" }
}
network "internet" { cidrs = ["0.0.0.0/0", "::/0"] }
service "https" { ports = ["tcp/443"] }
service "app" { ports = ["tcp/8080-8081"] }
service "alt" { ports = ["tcp/8443"] }
service "postgres" { ports = ["tcp/5432"] }
service "ping" { ports = ["icmp/8"] }
segment "web" {
  target = target.gcp.prod
  members { labels = { tier = "web" } }
  cidrs  = ["10.0.1.0/24"]
}
segment "app" {
  target = target.gcp.prod
  members { labels = { tier = "app" } }
}
segment "batch" {
  target = target.gcp.prod
  members { labels = { role = "batch" } }
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
  owner    = "team-payments"
  ticket   = "SEC-142"
}
allow "web-to-db" {
  from     = [segment.web]
  to       = [segment.db]
  services = [service.postgres]
}
%s
`

const batchToApp = `
allow "batch-to-app" {
  from     = [segment.batch]
  to       = [segment.app]
  services = [service.app]
}
`

const internetToApp = `
allow "internet-to-app" {
  from     = [network.internet]
  to       = [segment.app]
  services = [service.alt]
}
`

func compile(t testing.TB, extra string) (*model.Target, *model.DesiredState) {
	t.Helper()
	loaded, diags := hclload.LoadSources(map[string][]byte{"p.hcl": []byte(fmt.Sprintf(policyText, project, extra))})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	states, err := model.Compile(loaded.Policy)
	if err != nil {
		t.Fatal(err)
	}
	return loaded.Policy.Targets["prod"], states["prod"]
}

type clients struct {
	*Clients
	emu *gceemu.Emulator
}

// emulated starts a Compute Engine emulator with network prod-vpc and returns it
// with real REST clients for it, authenticated by a service-account key as
// Application Default Credentials would be.
func emulated(t testing.TB, opts gceemu.Options) clients {
	srv, err := gceemu.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.Emulator.AddNetwork("prod-vpc"); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "key.json")
	if err := srv.WriteServiceAccountKey(key); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fw, err := compute.NewFirewallsRESTClient(ctx, srv.ClientOptions(key)...)
	if err != nil {
		t.Fatal(err)
	}
	in, err := compute.NewInstancesRESTClient(ctx, srv.ClientOptions(key)...)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := compute.NewProjectsRESTClient(ctx, srv.ClientOptions(key)...)
	if err != nil {
		t.Fatal(err)
	}
	return clients{&Clients{Firewalls: fw, Instances: in, Projects: pr}, srv.Emulator}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitOp waits for an operation the test started by hand.
func waitOp(t *testing.T, op *compute.Operation, err error) {
	t.Helper()
	must(t, err)
	if !op.Done() {
		must(t, op.Wait(context.Background()))
	}
}

func addInstances(t testing.TB, emu *gceemu.Emulator) {
	for _, in := range []struct {
		zone, name string
		spec       gceemu.InstanceSpec
	}{
		{"us-central1-a", "web-1", gceemu.InstanceSpec{Labels: map[string]string{"tier": "web"}, Network: "prod-vpc", IP: "10.0.1.10", Tags: []string{"http-server"}}},
		{"us-central1-b", "web-2", gceemu.InstanceSpec{Labels: map[string]string{"tier": "web"}, Network: "prod-vpc", IP: "10.0.1.11"}},
		{"us-central1-a", "app-1", gceemu.InstanceSpec{Labels: map[string]string{"tier": "app"}, Network: "prod-vpc", IP: "10.0.2.10", IPv6: "fd20:1::10"}},
		{"us-central1-a", "batch-1", gceemu.InstanceSpec{Labels: map[string]string{"role": "batch"}, Network: "prod-vpc", IP: "10.0.3.10"}},
		{"us-central1-a", "legacy-1", gceemu.InstanceSpec{Labels: map[string]string{"tier": "legacy"}, Network: "prod-vpc", IP: "10.0.9.10", Tags: []string{"legacy"}}},
	} {
		if err := emu.AddInstance(in.zone, in.name, in.spec); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConformance runs the shared suite on the emulator.
func TestConformance(t *testing.T) {
	c := emulated(t, gceemu.Options{Seed: 1})
	addInstances(t, c.emu)
	target, state := compile(t, batchToApp)
	_, next := compile(t, internetToApp)
	p, err := New(c.Clients, target, "test", DefaultLimits, time.Millisecond)
	must(t, err)
	ctx := context.Background()
	webHTTPS := func(t *testing.T) string {
		for _, f := range c.emu.Firewalls() {
			if strings.HasPrefix(f.Name, "ms-prod-web-internet-to-web-i4") {
				return f.Name
			}
		}
		t.Fatal("no rule for internet-to-web")
		return ""
	}
	conformance.Run(t, conformance.Harness{
		Provider: p,
		State:    state,
		Drifts: map[string]func(t *testing.T) string{
			"rule deleted by hand": func(t *testing.T) string {
				op, err := c.Firewalls.Delete(ctx, &computepb.DeleteFirewallRequest{Project: project, Firewall: webHTTPS(t)})
				waitOp(t, op, err)
				return "+ rule web ingress from 0.0.0.0/0 tcp/443"
			},
			"rule edited by hand": func(t *testing.T) string {
				fw, err := c.Firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: project, Firewall: webHTTPS(t)})
				must(t, err)
				fw.SourceRanges = append(fw.SourceRanges, "198.51.100.0/24")
				op, err := c.Firewalls.Update(ctx, &computepb.UpdateFirewallRequest{Project: project, Firewall: fw.GetName(), FirewallResource: fw})
				waitOp(t, op, err)
				return "- rule web ingress from 198.51.100.0/24 tcp/443"
			},
			"rule disabled by hand": func(t *testing.T) string {
				fw, err := c.Firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: project, Firewall: webHTTPS(t)})
				must(t, err)
				fw.Disabled = ptr(true)
				op, err := c.Firewalls.Update(ctx, &computepb.UpdateFirewallRequest{Project: project, Firewall: fw.GetName(), FirewallResource: fw})
				waitOp(t, op, err)
				return "~ rule web ingress from 0.0.0.0/0 tcp/443"
			},
			"tag removed from an instance": func(t *testing.T) string {
				vm, err := c.Instances.Get(ctx, &computepb.GetInstanceRequest{Project: project, Zone: "us-central1-b", Instance: "web-2"})
				must(t, err)
				op, err := c.Instances.SetTags(ctx, &computepb.SetTagsInstanceRequest{Project: project, Zone: "us-central1-b", Instance: "web-2",
					TagsResource: &computepb.Tags{Items: nil, Fingerprint: vm.GetTags().Fingerprint}})
				waitOp(t, op, err)
				return "+ member web us-central1-b/web-2"
			},
		},
		Unmanaged: func(t *testing.T) {
			op, err := c.Firewalls.Insert(ctx, &computepb.InsertFirewallRequest{Project: project, FirewallResource: &computepb.Firewall{
				Name: ptr("allow-ssh-legacy"), Network: ptr("projects/" + project + "/global/networks/prod-vpc"), Direction: ptr("INGRESS"),
				Priority: ptr(int32(65100)), SourceRanges: []string{"10.0.0.0/8"}, TargetTags: []string{"legacy"},
				Allowed: []*computepb.Allowed{{IPProtocol: ptr("tcp"), Ports: []string{"22"}}},
			}})
			waitOp(t, op, err)
		},
		Untouched: func(t *testing.T) {
			f, ok := c.emu.Firewall("allow-ssh-legacy")
			if !ok || f.Priority != 65100 || !slices.Equal(f.SourceRanges, []string{"10.0.0.0/8"}) {
				t.Errorf("allow-ssh-legacy changed: %+v", f)
			}
			if tags := c.emu.InstanceTags("us-central1-a", "legacy-1"); !slices.Equal(tags, []string{"legacy"}) {
				t.Errorf("legacy-1's tags: %v", tags)
			}
			if tags := c.emu.InstanceTags("us-central1-a", "web-1"); !slices.Contains(tags, "http-server") || !slices.Contains(tags, "microseg-web") {
				t.Errorf("web-1's tags: %v, want its own kept beside microseg-web", tags)
			}
		},
		Next: next,
		Kept: func() bool { // web may reach app on 8080-8081: the ingress rule, and both tags
			rule := slices.ContainsFunc(c.emu.Firewalls(), func(f gceemu.Firewall) bool {
				return f.Direction == "INGRESS" && slices.Equal(f.TargetTags, []string{"microseg-app"}) && slices.Contains(f.SourceTags, "microseg-web") &&
					len(f.Allowed) > 0 && slices.ContainsFunc(f.Allowed, func(r gceemu.Rule) bool { return slices.Contains(r.Ports, "8080-8081") })
			})
			return rule && slices.Contains(c.emu.InstanceTags("us-central1-a", "web-1"), "microseg-web") &&
				slices.Contains(c.emu.InstanceTags("us-central1-a", "app-1"), "microseg-app")
		},
	})
}

func rendered(p *model.Plan) string {
	var b strings.Builder
	p.Render(&b)
	return b.String()
}

func planOf(t *testing.T, p *Provider, st *model.DesiredState) *providers.Planned {
	t.Helper()
	pl, err := providers.Plan(context.Background(), p, st, "prod")
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return pl
}
