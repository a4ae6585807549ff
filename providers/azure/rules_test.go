package azure

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	"github.com/microseg/microseg/model"
)

// TestReadBackNormalizes checks that the forms Azure may return a rule in (plural
// fields with one value, a port range of one port, an address without a length,
// an ASG ID in other case) key as the rule microseg wrote.
func TestReadBackNormalizes(t *testing.T) {
	p, _ := New(&Clients{}, testTarget(), "test", DefaultLimits)
	segmentOf := (&observed{asgs: map[string]string{"web": p.asgID("web"), "app": p.asgID("app")}}).segmentOfASG()
	written := []*model.Rule{
		{Segment: "web", Direction: model.Ingress, Peer: model.Peer{Prefix: netip.MustParsePrefix("10.0.0.5/32")},
			Port: model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 443, Last: 443}}},
		{Segment: "web", Direction: model.Egress, Peer: model.Peer{Segment: "app"},
			Port: model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 0, Last: 65535}}},
	}
	upper := strings.Replace(p.asgID("app"), "/resourceGroups/rg/", "/resourceGroups/RG/", 1)
	read := []*armnetwork.SecurityRule{
		{Name: to.Ptr("a"), Properties: &armnetwork.SecurityRulePropertiesFormat{
			Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound), Access: to.Ptr(armnetwork.SecurityRuleAccessAllow),
			Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP), Priority: to.Ptr[int32](100),
			SourceAddressPrefixes: []*string{to.Ptr("10.0.0.5")}, DestinationPortRanges: []*string{to.Ptr("443-443")},
			DestinationApplicationSecurityGroups: []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(strings.ToUpper(p.asgID("web")))}},
		}},
		{Name: to.Ptr("b"), Properties: &armnetwork.SecurityRulePropertiesFormat{
			Direction: to.Ptr(armnetwork.SecurityRuleDirectionOutbound), Access: to.Ptr(armnetwork.SecurityRuleAccessAllow),
			Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP), Priority: to.Ptr[int32](100), SourcePortRanges: []*string{},
			DestinationPortRange: to.Ptr("0-65535"), DestinationApplicationSecurityGroups: []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(upper)}},
			SourceApplicationSecurityGroups: []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(p.asgID("web"))}},
		}},
	}
	for i, r := range written {
		want, err := specFromRule(r)
		if err != nil {
			t.Fatal(err)
		}
		got := specsFromRule(read[i], segmentOf)
		if len(got) != 1 || got[0].key() != want.key() || want.key() != r.Key() {
			t.Errorf("rule %d: read back as %v, want the key %q (model %q)", i, keys(got), want.key(), r.Key())
		}
	}
	// A rule made by hand with two prefixes and two ports is four rules.
	multi := &armnetwork.SecurityRule{Name: to.Ptr("hand"), Properties: &armnetwork.SecurityRulePropertiesFormat{
		Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound), Access: to.Ptr(armnetwork.SecurityRuleAccessAllow),
		Protocol: to.Ptr(armnetwork.SecurityRuleProtocolUDP), Priority: to.Ptr[int32](200),
		SourceAddressPrefixes: []*string{to.Ptr("192.0.2.0/24"), to.Ptr("198.51.100.0/24")}, DestinationPortRanges: []*string{to.Ptr("53"), to.Ptr("123")},
		DestinationAddressPrefix: to.Ptr("*"),
	}}
	if got := keys(specsFromRule(multi, segmentOf)); len(got) != 4 || got[0] != "[any] ingress from 192.0.2.0/24 udp/53" {
		t.Errorf("multi-valued rule read as %q", got)
	}
}

func keys(specs []*ruleSpec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.key())
	}
	return out
}

// TestRuleNames checks names are valid for Azure, unique, and stable.
func TestRuleNames(t *testing.T) {
	long := strings.Repeat("segment-with-a-very-long-name", 4)
	a, _ := specFromRule(&model.Rule{Segment: long, Peer: model.Peer{Prefix: netip.MustParsePrefix("10.0.0.0/8")}, Port: model.ServicePort{Protocol: model.ProtocolAll}})
	b, _ := specFromRule(&model.Rule{Segment: long, Peer: model.Peer{Prefix: netip.MustParsePrefix("10.0.0.0/9")}, Port: model.ServicePort{Protocol: model.ProtocolAll}})
	for _, n := range []string{ruleName(a), ruleName(b), ruleName(denySpec(long, true))} {
		if len(n) > 80 || strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Errorf("name %q is not a valid NSG rule name", n)
		}
	}
	if ruleName(a) == ruleName(b) || ruleName(a) != ruleName(a) {
		t.Errorf("names %q and %q", ruleName(a), ruleName(b))
	}
	if _, err := specFromRule(&model.Rule{Segment: "x", Port: model.ServicePort{Protocol: model.ProtocolSCTP}}); err == nil || !strings.Contains(err.Error(), `segment "x"`) {
		t.Errorf("sctp: %v", err)
	}
}

// TestReadsNSGAsDocumented reads an NSG in the shape Azure's REST reference
// documents a GET of one (rules inline with read-only fields, empty plural
// fields beside singular ones, the six default rules apart, IDs in other case):
// the default rules are never rules of microseg's, a rule made by hand keys as
// such, and microseg's rule keys as the policy keys it.
func TestReadsNSGAsDocumented(t *testing.T) {
	raw, err := os.ReadFile("testdata/nsg-as-documented.json")
	if err != nil {
		t.Fatal(err)
	}
	var nsg armnetwork.SecurityGroup
	if err := json.Unmarshal(raw, &nsg); err != nil {
		t.Fatal(err)
	}
	p, _ := New(&Clients{}, &model.Target{Kind: model.KindAzure, Name: "prod", Azure: &model.AzureTarget{SubscriptionID: "subid", ResourceGroup: "rg1"}}, "t", DefaultLimits)
	segmentOf := (&observed{asgs: map[string]string{"web": p.asgID("web")}}).segmentOfASG()
	var got []string
	for _, sr := range nsg.Properties.SecurityRules {
		for _, s := range specsFromRule(sr, segmentOf) {
			got = append(got, fmt.Sprintf("%s @%d %v", s.key(), s.priority, s.class))
		}
	}
	want := []string{"[any] ingress from any any/80 @130 0", "web ingress from 0.0.0.0/0 tcp/443 @100 0"}
	if !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	if len(nsg.Properties.DefaultSecurityRules) != 6 {
		t.Errorf("%d default rules", len(nsg.Properties.DefaultSecurityRules))
	}
}
