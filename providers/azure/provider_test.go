package azure

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers/conformance"
	"github.com/microseg/microseg/test/armemu"
)

// trustEmulator makes this process trust the ARM emulator's TLS certificate, as
// a user trusts a private cloud's: through SSL_CERT_FILE, which Go reads once per
// process, so TestMain calls it before any test. It returns the clean-up.
func trustEmulator() func() {
	dir, err := os.MkdirTemp("", "azure-test")
	if err != nil {
		panic(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := armemu.WriteCACert(ca); err != nil {
		panic(err)
	}
	os.Setenv("SSL_CERT_FILE", ca)
	return func() { os.RemoveAll(dir) }
}

const (
	rg       = "rg-prod"
	sub      = armemu.DefaultSubscriptionID
	location = "westeurope"
)

const policyText = `
target "azure" "prod" {
  subscription_id      = %q
  resource_group       = "rg-prod"
  location             = "westeurope"
  subnet_ids           = [%q]
  exclusive_membership = %v
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
  target = target.azure.prod
  members { tags = { tier = "web" } }
  cidrs  = ["10.0.1.0/24"]
}
segment "app" {
  target = target.azure.prod
  members { tags = { tier = "app" } }
  cidrs  = ["10.0.2.0/24"]
}
segment "batch" {
  target = target.azure.prod
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
  owner    = "team-payments"
  ticket   = "SEC-142"
}
allow "app-to-db" {
  from     = [segment.app]
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

func compile(t testing.TB, subnet string, exclusive bool, extra string) (*model.Target, *model.DesiredState) {
	t.Helper()
	src := fmt.Sprintf(policyText, sub, subnet, exclusive, extra)
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

// emulated starts an ARM emulator with the example's network and returns it, the
// subnet's ID and real SDK clients for it, authenticated as a service principal.
func emulated(t testing.TB, opts armemu.Options) (*armemu.Server, string, *Clients, *armnetwork.ClientFactory) {
	srv, err := armemu.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	emu := srv.Emulator
	emu.AddResourceGroup(rg, location)
	emu.AddVNet(rg, "vnet-prod", []string{"10.0.0.0/16"})
	subnet := emu.AddSubnet(rg, "vnet-prod", "app", "10.0.0.0/20")
	cred, err := azidentity.NewClientSecretCredential(armemu.DefaultTenantID, armemu.DefaultClientID, armemu.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: srv.Cloud()}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	co := &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Cloud: srv.Cloud(),
		Retry:           policy.RetryOptions{MaxRetries: 10, RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond},
		PerCallPolicies: []policy.Policy{ConflictRetry(10, 5*time.Millisecond)}}}
	vms, err := armcompute.NewVirtualMachinesClient(sub, cred, co)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := NewClients(sub, cred, co, ComputeVMs{Client: vms})
	if err != nil {
		t.Fatal(err)
	}
	factory, err := armnetwork.NewClientFactory(sub, cred, co)
	if err != nil {
		t.Fatal(err)
	}
	return srv, subnet, clients, factory
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ruleNamed finds a rule of the emulated NSG by what it does.
func ruleNamed(t *testing.T, emu *armemu.Emulator, match func(armemu.Rule) bool) armemu.Rule {
	t.Helper()
	nsg, ok := emu.NSG(rg, "microseg-prod")
	if !ok {
		t.Fatal("no NSG microseg-prod")
	}
	for _, r := range nsg.Rules {
		if match(r) {
			return r
		}
	}
	t.Fatalf("no such rule in %+v", nsg.Rules)
	return armemu.Rule{}
}

func webHTTPS(r armemu.Rule) bool {
	return r.Direction == "Inbound" && slices.Equal(r.SourcePrefixes, []string{"0.0.0.0/0"}) && slices.Equal(r.DestinationPorts, []string{"443"})
}

// TestConformance runs the shared suite with and without exclusive_membership
// (without it, a foreign ASG on a member is a finding, no drift).
func TestConformance(t *testing.T) {
	for _, exclusive := range []bool{true, false} {
		t.Run(fmt.Sprintf("exclusive_membership=%v", exclusive), func(t *testing.T) { conformanceRun(t, exclusive) })
	}
}

func conformanceRun(t *testing.T, exclusive bool) {
	srv, subnet, clients, f := emulated(t, armemu.Options{Seed: 1})
	emu := srv.Emulator
	emu.AddVM(rg, "vm-web-1", map[string]string{"tier": "web"})
	emu.AddNIC(rg, "nic-web-1", armemu.NICSpec{VM: "vm-web-1", Subnet: subnet, Addresses: []string{"10.0.1.10"}})
	emu.AddNIC(rg, "nic-web-2", armemu.NICSpec{Tags: map[string]string{"tier": "web"}, Subnet: subnet, Addresses: []string{"10.0.1.11", "10.0.1.12"}})
	emu.AddNIC(rg, "nic-app-1", armemu.NICSpec{Tags: map[string]string{"tier": "app"}, Subnet: subnet, Addresses: []string{"10.0.2.10"}})
	emu.AddNIC(rg, "nic-batch-1", armemu.NICSpec{Tags: map[string]string{"role": "batch"}, Subnet: subnet, Addresses: []string{"10.0.3.10"}})
	emu.AddNIC(rg, "nic-legacy", armemu.NICSpec{Tags: map[string]string{"tier": "legacy"}, Subnet: subnet, Addresses: []string{"10.0.9.10"}})
	target, state := compile(t, subnet, exclusive, batchToApp)
	_, next := compile(t, subnet, exclusive, internetToApp)
	p, err := New(clients, target, "test", DefaultLimits)
	must(t, err)
	ctx := context.Background()
	rules := f.NewSecurityRulesClient()
	nics := f.NewInterfacesClient()
	asgs := f.NewApplicationSecurityGroupsClient()
	putRule := func(t *testing.T, name string, props *armnetwork.SecurityRulePropertiesFormat) {
		poller, err := rules.BeginCreateOrUpdate(ctx, rg, "microseg-prod", name, armnetwork.SecurityRule{Properties: props}, nil)
		must(t, err)
		_, err = poller.PollUntilDone(ctx, &runtimePoll)
		must(t, err)
	}
	setNICGroups := func(t *testing.T, nic string, ids ...string) {
		got, err := nics.Get(ctx, rg, nic, nil)
		must(t, err)
		for _, ipc := range got.Properties.IPConfigurations {
			ipc.Properties.ApplicationSecurityGroups = nil
			for _, id := range ids {
				ipc.Properties.ApplicationSecurityGroups = append(ipc.Properties.ApplicationSecurityGroups, &armnetwork.ApplicationSecurityGroup{ID: to.Ptr(id)})
			}
		}
		poller, err := nics.BeginCreateOrUpdate(ctx, rg, nic, got.Interface, nil)
		must(t, err)
		_, err = poller.PollUntilDone(ctx, &runtimePoll)
		must(t, err)
	}
	var legacyASG string
	drifts := map[string]func(t *testing.T) string{
		"rule removed by hand": func(t *testing.T) string {
			poller, err := rules.BeginDelete(ctx, rg, "microseg-prod", ruleNamed(t, emu, webHTTPS).Name, nil)
			must(t, err)
			_, err = poller.PollUntilDone(ctx, &runtimePoll)
			must(t, err)
			return "+ rule web ingress from 0.0.0.0/0 tcp/443"
		},
		"rule added by hand": func(t *testing.T) string {
			putRule(t, "allow-ssh", &armnetwork.SecurityRulePropertiesFormat{
				Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound), Access: to.Ptr(armnetwork.SecurityRuleAccessAllow),
				Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP), Priority: to.Ptr[int32](110), SourceAddressPrefix: to.Ptr("*"),
				SourcePortRange: to.Ptr("*"), DestinationPortRange: to.Ptr("22"),
				DestinationApplicationSecurityGroups: []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(p.asgID("web"))}},
			})
			return "- rule web ingress from any tcp/22"
		},
		"priority moved under the denies": func(t *testing.T) string {
			r := ruleNamed(t, emu, webHTTPS)
			got, err := rules.Get(ctx, rg, "microseg-prod", r.Name, nil)
			must(t, err)
			got.Properties.Priority = to.Ptr[int32](4000)
			putRule(t, r.Name, got.Properties)
			return `~ rule web ingress from 0.0.0.0/0 tcp/443  priority: "4000" ->`
		},
		"deny removed by hand": func(t *testing.T) string {
			r := ruleNamed(t, emu, func(r armemu.Rule) bool {
				return r.Access == "Deny" && r.Direction == "Outbound" && len(r.SourceASGs) == 1 && strings.HasSuffix(r.SourceASGs[0], "/microseg-app")
			})
			poller, err := rules.BeginDelete(ctx, rg, "microseg-prod", r.Name, nil)
			must(t, err)
			_, err = poller.PollUntilDone(ctx, &runtimePoll)
			must(t, err)
			return "+ rule app egress deny all"
		},
		"NSG taken off the subnet by hand": func(t *testing.T) string {
			subnets := f.NewSubnetsClient()
			got, err := subnets.Get(ctx, rg, "vnet-prod", "app", nil)
			must(t, err)
			got.Properties.NetworkSecurityGroup = nil
			poller, err := subnets.BeginCreateOrUpdate(ctx, rg, "vnet-prod", "app", got.Subnet, nil)
			must(t, err)
			_, err = poller.PollUntilDone(ctx, &runtimePoll)
			must(t, err)
			return "+ member subnet vnet-prod/app"
		},
		"NIC taken out of its ASG": func(t *testing.T) string {
			setNICGroups(t, "nic-web-1")
			return "+ member web nic-web-1/ipconfig1"
		},
	}
	if exclusive {
		drifts["foreign ASG on a member"] = func(t *testing.T) string {
			setNICGroups(t, "nic-app-1", p.asgID("app"), legacyASG)
			return "- member nic-app-1/ipconfig1 foreign legacy-asg"
		}
	}
	conformance.Run(t, conformance.Harness{
		Provider: p,
		State:    state,
		Drifts:   drifts,
		Unmanaged: func(t *testing.T) {
			poller, err := asgs.BeginCreateOrUpdate(ctx, rg, "legacy-asg", armnetwork.ApplicationSecurityGroup{Location: to.Ptr(location)}, nil)
			must(t, err)
			res, err := poller.PollUntilDone(ctx, &runtimePoll)
			must(t, err)
			legacyASG = *res.ID
			nsgs := f.NewSecurityGroupsClient()
			np, err := nsgs.BeginCreateOrUpdate(ctx, rg, "legacy-nsg", armnetwork.SecurityGroup{Location: to.Ptr(location), Properties: &armnetwork.SecurityGroupPropertiesFormat{
				SecurityRules: []*armnetwork.SecurityRule{{Name: to.Ptr("legacy-rdp"), Properties: &armnetwork.SecurityRulePropertiesFormat{
					Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound), Access: to.Ptr(armnetwork.SecurityRuleAccessAllow),
					Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP), Priority: to.Ptr[int32](100), SourceAddressPrefix: to.Ptr("*"),
					SourcePortRange: to.Ptr("*"), DestinationPortRange: to.Ptr("3389"), DestinationAddressPrefix: to.Ptr("*"),
				}}},
			}}, nil)
			must(t, err)
			_, err = np.PollUntilDone(ctx, &runtimePoll)
			must(t, err)
		},
		Untouched: func(t *testing.T) {
			nsg, ok := emu.NSG(rg, "legacy-nsg")
			if !ok || len(nsg.Rules) != 1 || nsg.Rules[0].Name != "legacy-rdp" || len(nsg.Tags) != 0 {
				t.Errorf("legacy-nsg changed: %+v", nsg)
			}
			if !slices.ContainsFunc(emu.ASGs(rg), func(id string) bool { return strings.EqualFold(id, legacyASG) }) {
				t.Error("legacy-asg deleted")
			}
			if len(emu.NICASGs(rg, "nic-legacy")) != 0 {
				t.Errorf("nic-legacy, in no segment, is in %v", emu.NICASGs(rg, "nic-legacy"))
			}
		},
		Next: next,
		Kept: func() bool { // web may reach app on 8080-8081: the rule, and both members in their ASGs
			nsg, _ := emu.NSG(rg, "microseg-prod")
			rule := slices.ContainsFunc(nsg.Rules, func(r armemu.Rule) bool {
				return r.Direction == "Inbound" && r.Access == "Allow" && slices.Equal(r.DestinationPorts, []string{"8080-8081"}) &&
					len(r.SourceASGs) == 1 && strings.HasSuffix(r.SourceASGs[0], "/microseg-web")
			})
			in := func(nic, seg string) bool {
				return slices.ContainsFunc(emu.NICASGs(rg, nic), func(id string) bool { return strings.HasSuffix(id, "/microseg-"+seg) })
			}
			return rule && in("nic-web-1", "web") && in("nic-app-1", "app")
		},
	})
	if emu.SubnetNSG(rg, "vnet-prod", "app") == "" {
		t.Error("the NSG is on no subnet")
	}
}

// runtimePoll polls the emulator's operations as the provider does.
var runtimePoll = *pollOptions
