package armemu_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	"github.com/microseg/microseg/test/armemu"
)

// webRules are an inbound rule from a one-element prefix list to an ASG, one
// between ASGs, and an outbound rule at the same priority as the first.
func webRules(web, db string) []*armnetwork.SecurityRule {
	return []*armnetwork.SecurityRule{
		{Name: to.Ptr("allow-web"), Properties: &armnetwork.SecurityRulePropertiesFormat{
			Priority: to.Ptr[int32](100), Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound),
			Access: to.Ptr(armnetwork.SecurityRuleAccessAllow), Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP),
			SourceAddressPrefixes: []*string{to.Ptr("10.0.0.0/24")}, SourcePortRange: to.Ptr("*"),
			DestinationApplicationSecurityGroups: []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(web)}},
			DestinationPortRanges:                []*string{to.Ptr("80"), to.Ptr("443")},
		}},
		{Name: to.Ptr("allow-db"), Properties: &armnetwork.SecurityRulePropertiesFormat{
			Priority: to.Ptr[int32](110), Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound),
			Access: to.Ptr(armnetwork.SecurityRuleAccessAllow), Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP),
			SourceApplicationSecurityGroups:      []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(web)}},
			DestinationApplicationSecurityGroups: []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(db)}},
			SourcePortRange:                      to.Ptr("*"), DestinationPortRange: to.Ptr("5432"),
		}},
		{Name: to.Ptr("deny-internet"), Properties: &armnetwork.SecurityRulePropertiesFormat{
			Priority: to.Ptr[int32](100), Direction: to.Ptr(armnetwork.SecurityRuleDirectionOutbound),
			Access: to.Ptr(armnetwork.SecurityRuleAccessDeny), Protocol: to.Ptr(armnetwork.SecurityRuleProtocolAsterisk),
			SourceAddressPrefix: to.Ptr("*"), SourcePortRange: to.Ptr("*"),
			DestinationAddressPrefix: to.Ptr("Internet"), DestinationPortRange: to.Ptr("*"),
		}},
	}
}

func TestNSGCreate(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	web, db := e.createASG(t, "asg-web"), e.createASG(t, "asg-db")
	got, err := e.putNSG(ctx(t), "nsg-app", webRules(web, db)...)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Properties.ProvisioningState != armnetwork.ProvisioningStateSucceeded || !strings.HasPrefix(*got.Etag, `W/"`) {
		t.Errorf("state %s etag %s", *got.Properties.ProvisioningState, *got.Etag)
	}
	if len(got.Properties.SecurityRules) != 3 {
		t.Fatalf("got %d rules, want 3", len(got.Properties.SecurityRules))
	}
	for _, r := range got.Properties.SecurityRules {
		if *r.ID != *got.ID+"/securityRules/"+*r.Name || *r.Etag != *got.Etag || *r.Properties.ProvisioningState != "Succeeded" {
			t.Errorf("rule %s: id %s etag %s", *r.Name, *r.ID, *r.Etag)
		}
	}
	// A one-element plural list comes back in the singular field; real lists stay.
	web0 := got.Properties.SecurityRules[0].Properties
	if str(web0.SourceAddressPrefix) != "10.0.0.0/24" || len(web0.SourceAddressPrefixes) != 0 || len(web0.DestinationPortRanges) != 2 {
		t.Errorf("allow-web: prefix %v prefixes %v ports %v", str(web0.SourceAddressPrefix), web0.SourceAddressPrefixes, web0.DestinationPortRanges)
	}
	// References carry the resource group upper-cased, the ASG's own ID does not.
	ref := *web0.DestinationApplicationSecurityGroups[0].ID
	if !upperRG(ref) || !strings.EqualFold(ref, web) || upperRG(web) {
		t.Errorf("ASG reference %s, ASG ID %s", ref, web)
	}
	checkDefaultRules(t, got)
	snap, ok := e.emu.NSG(rg, "nsg-app")
	if !ok || len(snap.Rules) != 3 || snap.Tags["owner"] != "microseg" || snap.Rules[1].SourceASGs[0] != web {
		t.Errorf("emulator state: %+v", snap)
	}
	if c := e.emu.Calls(); c["PUT networkSecurityGroups"] != 1 || c["POLL operations"] != 3 || c["GET networkSecurityGroups"] != 1 {
		t.Errorf("calls %v", c)
	}
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func checkDefaultRules(t *testing.T, nsg armnetwork.SecurityGroup) {
	t.Helper()
	want := []struct {
		name, dir, access, src, dst string
		pri                         int32
	}{
		{"AllowVnetInBound", "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork", 65000},
		{"AllowAzureLoadBalancerInBound", "Inbound", "Allow", "AzureLoadBalancer", "*", 65001},
		{"DenyAllInBound", "Inbound", "Deny", "*", "*", 65500},
		{"AllowVnetOutBound", "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork", 65000},
		{"AllowInternetOutBound", "Outbound", "Allow", "*", "Internet", 65001},
		{"DenyAllOutBound", "Outbound", "Deny", "*", "*", 65500},
	}
	got := nsg.Properties.DefaultSecurityRules
	if len(got) != len(want) {
		t.Fatalf("got %d default rules, want 6", len(got))
	}
	for i, w := range want {
		p := got[i].Properties
		if *got[i].Name != w.name || string(*p.Direction) != w.dir || string(*p.Access) != w.access || *p.Priority != w.pri ||
			*p.SourceAddressPrefix != w.src || *p.DestinationAddressPrefix != w.dst || *p.Protocol != "*" ||
			*got[i].ID != *nsg.ID+"/defaultSecurityRules/"+w.name {
			t.Errorf("default rule %d: %s %s %s %d %s -> %s", i, *got[i].Name, *p.Direction, *p.Access, *p.Priority, *p.SourceAddressPrefix, *p.DestinationAddressPrefix)
		}
	}
}

// A clashing priority in one direction is refused and changes nothing; a PUT
// honours If-Match and If-None-Match.
func TestNSGConflictAndPreconditions(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	first, err := e.putNSG(ctx(t), "nsg-app", tcpRule("ssh", 200, "10.0.0.0/8", "22"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.putNSG(ctx(t), "nsg-app", tcpRule("ssh", 200, "10.0.0.0/8", "22"), tcpRule("https", 200, "10.0.0.0/8", "443"))
	wantCode(t, err, http.StatusBadRequest, armemu.CodeSecurityRuleConflict)
	if snap, _ := e.emu.NSG(rg, "nsg-app"); len(snap.Rules) != 1 || snap.Etag != *first.Etag {
		t.Errorf("a refused PUT changed the NSG: %+v", snap)
	}

	stale := policy.WithHTTPHeader(ctx(t), http.Header{"If-Match": {`W/"00000000-0000-4000-8000-000000000000"`}})
	_, err = e.putNSG(stale, "nsg-app", tcpRule("https", 210, "10.0.0.0/8", "443"))
	wantCode(t, err, http.StatusPreconditionFailed, armemu.CodePreconditionFailed)
	current := policy.WithHTTPHeader(ctx(t), http.Header{"If-Match": {*first.Etag}})
	second, err := e.putNSG(current, "nsg-app", tcpRule("https", 210, "10.0.0.0/8", "443"))
	if err != nil {
		t.Fatal(err)
	}
	if *second.Etag == *first.Etag || *second.Properties.SecurityRules[0].Name != "https" {
		t.Errorf("update: etag %s (was %s), rules %v", *second.Etag, *first.Etag, *second.Properties.SecurityRules[0].Name)
	}
	absent := policy.WithHTTPHeader(ctx(t), http.Header{"If-None-Match": {"*"}})
	_, err = e.putNSG(absent, "nsg-app")
	wantCode(t, err, http.StatusPreconditionFailed, armemu.CodePreconditionFailed)
	if _, err := e.putNSG(absent, "nsg-new"); err != nil {
		t.Errorf("If-None-Match: * on a new NSG: %v", err)
	}
}

// Every validation failure has Azure's code and changes nothing.
func TestNSGValidation(t *testing.T) {
	e := newEnv(t, armemu.Options{RulesPerNSG: 3})
	web := e.createASG(t, "asg-web")
	if _, err := e.putNSG(ctx(t), "nsg-app"); err != nil {
		t.Fatal(err)
	}
	missing := strings.Replace(web, "asg-web", "asg-none", 1)
	asgs := func(n int) []*armnetwork.ApplicationSecurityGroup {
		var out []*armnetwork.ApplicationSecurityGroup
		for i := 0; i < n; i++ {
			out = append(out, &armnetwork.ApplicationSecurityGroup{ID: to.Ptr(web)})
		}
		return out
	}
	for _, c := range []struct {
		name  string
		edit  func(p *armnetwork.SecurityRulePropertiesFormat)
		code  string
		rules int // how many copies of the rule to send
	}{
		{"priority 50", func(p *armnetwork.SecurityRulePropertiesFormat) { p.Priority = to.Ptr[int32](50) }, armemu.CodeSecurityRuleInvalidPriority, 1},
		{"priority 4097", func(p *armnetwork.SecurityRulePropertiesFormat) { p.Priority = to.Ptr[int32](4097) }, armemu.CodeSecurityRuleInvalidPriority, 1},
		{"comma ports", func(p *armnetwork.SecurityRulePropertiesFormat) { p.DestinationPortRange = to.Ptr("80,443") }, armemu.CodeSecurityRuleInvalidPortRange, 1},
		{"port 70000", func(p *armnetwork.SecurityRulePropertiesFormat) { p.DestinationPortRange = to.Ptr("1-70000") }, armemu.CodeSecurityRuleInvalidPortRange, 1},
		{"star in port list", func(p *armnetwork.SecurityRulePropertiesFormat) {
			p.DestinationPortRange, p.DestinationPortRanges = nil, []*string{to.Ptr("*")}
		}, armemu.CodeInvalidPortRangesInPlural, 1},
		{"host bits", func(p *armnetwork.SecurityRulePropertiesFormat) { p.SourceAddressPrefix = to.Ptr("10.0.0.1/24") }, armemu.CodeInvalidAddressPrefix, 1},
		{"unknown tag", func(p *armnetwork.SecurityRulePropertiesFormat) { p.SourceAddressPrefix = to.Ptr("AzureBastionSubnet") }, armemu.CodeInvalidAddressPrefix, 1},
		{"tag in prefix list", func(p *armnetwork.SecurityRulePropertiesFormat) {
			p.SourceAddressPrefix, p.SourceAddressPrefixes = nil, []*string{to.Ptr("10.0.0.0/8"), to.Ptr("Internet")}
		}, armemu.CodeUnsupportedValue, 1},
		{"prefix and ASG", func(p *armnetwork.SecurityRulePropertiesFormat) { p.SourceApplicationSecurityGroups = asgs(1) }, armemu.CodeInvalidRequestFormat, 1},
		{"unknown ASG", func(p *armnetwork.SecurityRulePropertiesFormat) {
			p.SourceAddressPrefix, p.SourceApplicationSecurityGroups = nil, []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(missing)}}
		}, armemu.CodeInvalidResourceReference, 1},
		{"malformed ASG ID", func(p *armnetwork.SecurityRulePropertiesFormat) {
			p.SourceAddressPrefix, p.SourceApplicationSecurityGroups = nil, []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr("asg-web")}}
		}, armemu.CodeLinkedInvalidPropertyID, 1},
		{"11 ASGs", func(p *armnetwork.SecurityRulePropertiesFormat) {
			p.SourceAddressPrefix, p.SourceApplicationSecurityGroups = nil, asgs(11)
		}, armemu.CodeASGsPerRuleLimit, 1},
		{"bad protocol", func(p *armnetwork.SecurityRulePropertiesFormat) {
			p.Protocol = to.Ptr(armnetwork.SecurityRuleProtocol("Sctp"))
		}, armemu.CodeInvalidRequestFormat, 1},
		{"duplicate names", func(p *armnetwork.SecurityRulePropertiesFormat) {}, armemu.CodeInvalidRequestFormat, 2},
		{"over the quota", func(p *armnetwork.SecurityRulePropertiesFormat) {}, armemu.CodeRuleCountLimit, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rules []*armnetwork.SecurityRule
			for i := 0; i < c.rules; i++ {
				r := tcpRule("r", int32(300+i), "10.0.0.0/8", "22")
				if c.code == armemu.CodeRuleCountLimit {
					r.Name = to.Ptr("r" + string(rune('a'+i)))
				}
				c.edit(r.Properties)
				rules = append(rules, r)
			}
			_, err := e.putNSG(ctx(t), "nsg-app", rules...)
			wantCode(t, err, http.StatusBadRequest, c.code)
			if snap, _ := e.emu.NSG(rg, "nsg-app"); len(snap.Rules) != 0 {
				t.Errorf("a refused PUT changed the NSG: %+v", snap.Rules)
			}
		})
	}
}

// Operators change single rules through the securityRules child resource.
func TestSecurityRulesClient(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	nsg, err := e.putNSG(ctx(t), "nsg-app", tcpRule("ssh", 200, "10.0.0.0/8", "22"))
	if err != nil {
		t.Fatal(err)
	}
	put := func(r *armnetwork.SecurityRule) (armnetwork.SecurityRule, error) {
		p, err := e.rules.BeginCreateOrUpdate(ctx(t), rg, "nsg-app", *r.Name, *r, nil)
		if err != nil {
			return armnetwork.SecurityRule{}, err
		}
		res, err := p.PollUntilDone(ctx(t), frequent)
		return res.SecurityRule, err
	}
	_, err = put(tcpRule("https", 200, "10.0.0.0/8", "443"))
	wantCode(t, err, http.StatusBadRequest, armemu.CodeSecurityRuleConflict)
	added, err := put(tcpRule("https", 210, "10.0.0.0/8", "443"))
	if err != nil {
		t.Fatal(err)
	}
	if *added.ID != *nsg.ID+"/securityRules/https" || *added.Etag == *nsg.Etag {
		t.Errorf("added rule: id %s etag %s (NSG's was %s)", *added.ID, *added.Etag, *nsg.Etag)
	}
	var names []string
	pager := e.rules.NewListPager(rg, "nsg-app", nil)
	for pager.More() {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Value {
			names = append(names, *r.Name)
		}
	}
	if strings.Join(names, ",") != "https,ssh" {
		t.Errorf("listed rules %v", names)
	}
	del, err := e.rules.BeginDelete(ctx(t), rg, "nsg-app", "ssh", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := del.PollUntilDone(ctx(t), frequent); err != nil {
		t.Fatal(err)
	}
	if snap, _ := e.emu.NSG(rg, "nsg-app"); len(snap.Rules) != 1 || snap.Rules[0].Name != "https" || snap.Rules[0].DestinationPorts[0] != "443" {
		t.Errorf("after delete: %+v", snap.Rules)
	}
	_, err = e.rules.Get(ctx(t), rg, "nsg-app", "ssh", nil)
	wantCode(t, err, http.StatusNotFound, armemu.CodeChildNotFound)
}

// The SDK's read-modify-write round trip: an NSG read back, with its default
// rules, empty plural fields and upper-cased references, is accepted whole.
func TestNSGReadModifyWrite(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	web, db := e.createASG(t, "asg-web"), e.createASG(t, "asg-db")
	if _, err := e.putNSG(ctx(t), "nsg-app", webRules(web, db)...); err != nil {
		t.Fatal(err)
	}
	read, err := e.nsgs.Get(ctx(t), rg, "nsg-app", nil)
	if err != nil {
		t.Fatal(err)
	}
	read.Properties.SecurityRules = append(read.Properties.SecurityRules, tcpRule("ssh", 120, "10.1.0.0/16", "22"))
	p, err := e.nsgs.BeginCreateOrUpdate(ctx(t), rg, "nsg-app", read.SecurityGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.PollUntilDone(ctx(t), frequent)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Properties.SecurityRules); n != 4 || len(res.Properties.DefaultSecurityRules) != 6 {
		t.Errorf("%d rules and %d default rules, want 4 and 6", n, len(res.Properties.DefaultSecurityRules))
	}
	snap, _ := e.emu.NSG(rg, "nsg-app")
	if snap.Rules[1].SourceASGs[0] != web || snap.Rules[0].SourcePrefixes[0] != "10.0.0.0/24" {
		t.Errorf("round trip changed the rules: %+v", snap.Rules[:2])
	}
	var all []string
	pager := e.nsgs.NewListAllPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range page.Value {
			all = append(all, *n.Name)
		}
	}
	if strings.Join(all, ",") != "nsg-app" {
		t.Errorf("subscription-wide list: %v", all)
	}
}
