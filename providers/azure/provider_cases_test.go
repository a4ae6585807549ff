package azure

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
	"github.com/microseg/microseg/test/armemu"
)

func planOf(t *testing.T, p *Provider, st *model.DesiredState) *providers.Planned {
	t.Helper()
	pl, err := providers.Plan(context.Background(), p, st, "prod")
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return pl
}

func rendered(p *model.Plan) string {
	var b strings.Builder
	p.Render(&b)
	return b.String()
}

func applyAll(t *testing.T, p *Provider, st *model.DesiredState) {
	t.Helper()
	pl := planOf(t, p, st)
	if err := pl.Apply(context.Background(), p); err != nil {
		t.Fatalf("apply: %v\n%s", err, rendered(pl.Plan))
	}
	if again := planOf(t, p, st); !again.Plan.Empty() {
		t.Fatalf("not converged:\n%s", rendered(again.Plan))
	}
}

// TestForeignASGIsAFinding: without exclusive_membership an ASG microseg does not
// manage on a member stays, and is a finding, not a change: the plan is empty.
func TestForeignASGIsAFinding(t *testing.T) {
	srv, subnet, clients, f := emulated(t, armemu.Options{Seed: 2})
	emu := srv.Emulator
	emu.AddNIC(rg, "nic-web-1", armemu.NICSpec{Tags: map[string]string{"tier": "web"}, Subnet: subnet, Addresses: []string{"10.0.1.10"}})
	ctx := context.Background()
	poller, err := f.NewApplicationSecurityGroupsClient().BeginCreateOrUpdate(ctx, rg, "legacy-asg", armnetwork.ApplicationSecurityGroup{Location: to.Ptr(location)}, nil)
	must(t, err)
	legacy, err := poller.PollUntilDone(ctx, &runtimePoll)
	must(t, err)
	nics := f.NewInterfacesClient()
	got, err := nics.Get(ctx, rg, "nic-web-1", nil)
	must(t, err)
	got.Properties.IPConfigurations[0].Properties.ApplicationSecurityGroups = []*armnetwork.ApplicationSecurityGroup{{ID: legacy.ID}}
	np, err := nics.BeginCreateOrUpdate(ctx, rg, "nic-web-1", got.Interface, nil)
	must(t, err)
	_, err = np.PollUntilDone(ctx, &runtimePoll)
	must(t, err)

	target, st := compile(t, subnet, false, "")
	p, _ := New(clients, target, "test", DefaultLimits)
	applyAll(t, p, st)
	pl := planOf(t, p, st)
	if len(pl.Observed.Findings) != 1 || !strings.Contains(pl.Observed.Findings[0].String(), "nic nic-web-1/ipconfig1: member of web also is in application security group legacy-asg") {
		t.Errorf("findings %v", pl.Observed.Findings)
	}
	if asgs := emu.NICASGs(rg, "nic-web-1"); len(asgs) != 2 {
		t.Errorf("nic-web-1 is in %v, want legacy-asg and microseg-web", asgs)
	}
}

// TestRefusesWhatIsNotOurs: an NSG or ASG with microseg's name but not its tags,
// and a subnet carrying another NSG, stop the plan with an error naming them, and
// nothing is changed.
func TestRefusesWhatIsNotOurs(t *testing.T) {
	for name, make := range map[string]func(t *testing.T, f *armnetwork.ClientFactory, subnet string) string{
		"NSG of microseg's name": func(t *testing.T, f *armnetwork.ClientFactory, _ string) string {
			putNSG(t, f, "microseg-prod", nil)
			return "network security group microseg-prod exists in rg-prod without the tag microseg-managed=true"
		},
		"ASG of microseg's name": func(t *testing.T, f *armnetwork.ClientFactory, _ string) string {
			p, err := f.NewApplicationSecurityGroupsClient().BeginCreateOrUpdate(context.Background(), rg, "microseg-web", armnetwork.ApplicationSecurityGroup{Location: to.Ptr(location)}, nil)
			must(t, err)
			_, err = p.PollUntilDone(context.Background(), &runtimePoll)
			must(t, err)
			return `segment "web": application security group microseg-web`
		},
		"subnet with another NSG": func(t *testing.T, f *armnetwork.ClientFactory, subnet string) string {
			id := putNSG(t, f, "team-nsg", nil)
			sc := f.NewSubnetsClient()
			got, err := sc.Get(context.Background(), rg, "vnet-prod", "app", nil)
			must(t, err)
			got.Properties.NetworkSecurityGroup = &armnetwork.SecurityGroup{ID: to.Ptr(id)}
			p, err := sc.BeginCreateOrUpdate(context.Background(), rg, "vnet-prod", "app", got.Subnet, nil)
			must(t, err)
			_, err = p.PollUntilDone(context.Background(), &runtimePoll)
			must(t, err)
			return "subnet " + subnet + " already carries network security group"
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv, subnet, clients, f := emulated(t, armemu.Options{Seed: 3})
			want := make(t, f, subnet)
			target, st := compile(t, subnet, false, "")
			p, _ := New(clients, target, "test", DefaultLimits)
			srv.Emulator.ResetCalls()
			_, err := providers.Plan(context.Background(), p, st, "prod")
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("plan: %v, want an error saying %q", err, want)
			}
			for call := range srv.Emulator.Calls() {
				if strings.HasPrefix(call, "PUT") || strings.HasPrefix(call, "DELETE") {
					t.Errorf("the refused plan made the call %s", call)
				}
			}
		})
	}
}

// putNSG creates an NSG microseg does not manage and returns its ID.
func putNSG(t *testing.T, f *armnetwork.ClientFactory, name string, rules []*armnetwork.SecurityRule) string {
	t.Helper()
	p, err := f.NewSecurityGroupsClient().BeginCreateOrUpdate(context.Background(), rg, name, armnetwork.SecurityGroup{Location: to.Ptr(location),
		Properties: &armnetwork.SecurityGroupPropertiesFormat{SecurityRules: rules}}, nil)
	must(t, err)
	res, err := p.PollUntilDone(context.Background(), &runtimePoll)
	must(t, err)
	return *res.ID
}

// TestSubnetDetached: a subnet taken out of subnet_ids loses the NSG; the other
// keeps it.
func TestSubnetDetached(t *testing.T) {
	srv, subnet, clients, _ := emulated(t, armemu.Options{Seed: 4})
	emu := srv.Emulator
	other := emu.AddSubnet(rg, "vnet-prod", "data", "10.0.16.0/24")
	target, st := compile(t, subnet, false, "")
	target.Azure.SubnetIDs = append(target.Azure.SubnetIDs, other)
	p, _ := New(clients, target, "test", DefaultLimits)
	applyAll(t, p, st)
	if emu.SubnetNSG(rg, "vnet-prod", "data") == "" || emu.SubnetNSG(rg, "vnet-prod", "app") == "" {
		t.Fatal("the NSG is not on both subnets")
	}
	target.Azure.SubnetIDs = target.Azure.SubnetIDs[:1]
	pl := planOf(t, p, st)
	if got := rendered(pl.Plan); !strings.Contains(got, "- member subnet vnet-prod/data") {
		t.Fatalf("plan:\n%s", got)
	}
	applyAll(t, p, st)
	if emu.SubnetNSG(rg, "vnet-prod", "data") != "" || emu.SubnetNSG(rg, "vnet-prod", "app") == "" {
		t.Errorf("data carries %q, app %q", emu.SubnetNSG(rg, "vnet-prod", "data"), emu.SubnetNSG(rg, "vnet-prod", "app"))
	}
}

// TestLimitsCheckedAtPlan: a policy over Azure's limits fails before any call that
// changes anything, naming the numbers.
func TestLimitsCheckedAtPlan(t *testing.T) {
	srv, subnet, clients, _ := emulated(t, armemu.Options{Seed: 5})
	for i := 0; i < 3; i++ {
		srv.Emulator.AddNIC(rg, fmt.Sprintf("nic-%d", i), armemu.NICSpec{Tags: map[string]string{"tier": "web", "role": "batch"}, Subnet: subnet, Addresses: []string{fmt.Sprintf("10.0.4.%d", 10+i)}})
	}
	target, st := compile(t, subnet, false, batchToApp)
	for _, c := range []struct {
		limits Limits
		want   string
	}{
		{Limits{RulesPerNSG: 10, ASGsPerNSG: 100, ASGsPerIPConfg: 20, AddressesPerSide: 4000}, "its NSG needs 15 security rules"},
		{Limits{RulesPerNSG: 1000, ASGsPerNSG: 2, ASGsPerIPConfg: 20, AddressesPerSide: 4000}, "its NSG's rules name 3 application security groups (one per segment), over Azure's limit of 2"},
		{Limits{RulesPerNSG: 1000, ASGsPerNSG: 100, ASGsPerIPConfg: 1, AddressesPerSide: 4000}, "ip configuration nic-0/ipconfig1 would be in 2 application security groups, over Azure's limit of 1"},
		{Limits{RulesPerNSG: 1000, ASGsPerNSG: 100, ASGsPerIPConfg: 20, AddressesPerSide: 1}, "its NSG's rules name 2 source address prefixes, over Azure's limit of 1"},
	} {
		p, _ := New(clients, target, "test", c.limits)
		_, err := providers.Plan(context.Background(), p, st, "prod")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("limits %+v: %v, want %q", c.limits, err, c.want)
		}
	}
}

// TestApplyUnderFaults applies with 30% of calls throttled, 10% of writes refused
// with AnotherOperationInProgress and 5% failing with 5xx: the retries converge.
func TestApplyUnderFaults(t *testing.T) {
	srv, subnet, clients, _ := emulated(t, armemu.Options{Seed: 6})
	emu := srv.Emulator
	for i := 0; i < 20; i++ {
		tier := []string{"web", "app"}[i%2]
		emu.AddNIC(rg, fmt.Sprintf("nic-%02d", i), armemu.NICSpec{Tags: map[string]string{"tier": tier}, Subnet: subnet, Addresses: []string{fmt.Sprintf("10.0.5.%d", 10+i)}})
	}
	target, st := compile(t, subnet, true, batchToApp)
	p, _ := New(clients, target, "test", DefaultLimits)
	emu.SetFaults(0.3, 0.1, 0.05)
	applyAll(t, p, st)
	calls := emu.Calls()
	t.Logf("apply of 20 members with faults: %d calls %v", sumCalls(calls), calls)
	emu.SetFaults(0, 0, 0)
	if n := len(emu.NICASGs(rg, "nic-07")); n != 1 {
		t.Errorf("nic-07 in %d ASGs", n)
	}
}

func sumCalls(calls map[string]int) int {
	n := 0
	for _, c := range calls {
		n += c
	}
	return n
}
