package hclload

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/microseg/microseg/model"
)

// targetSchemas says which attributes each kind of target takes; flow_logs is a
// block of every kind, with the attributes in flowLogSchemas.
var targetSchemas = map[model.TargetKind]*hcl.BodySchema{
	model.KindAWS: {
		Attributes: []hcl.AttributeSchema{
			{Name: "region", Required: true},
			{Name: "vpc_id", Required: true},
			{Name: "endpoint"},
			{Name: "assume_role_arn"},
			{Name: "exclusive_membership"},
			{Name: "rules_per_group"},
			{Name: "groups_per_eni"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "flow_logs"}},
	},
	model.KindAzure: {
		Attributes: []hcl.AttributeSchema{
			{Name: "subscription_id", Required: true},
			{Name: "resource_group", Required: true},
			{Name: "location", Required: true},
			{Name: "subnet_ids"},
			{Name: "endpoint"},
			{Name: "exclusive_membership"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "flow_logs"}},
	},
	model.KindGCP: {
		Attributes: []hcl.AttributeSchema{
			{Name: "project", Required: true},
			{Name: "network", Required: true},
			{Name: "endpoint"},
			{Name: "ranges_per_rule"},
			{Name: "tags_per_rule"},
			{Name: "ports_per_rule"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "flow_logs"}},
	},
	model.KindHosts: {
		Attributes: []hcl.AttributeSchema{
			{Name: "management_cidrs", Required: true},
			{Name: "management_ports"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "flow_logs"}, {Type: "host", LabelNames: []string{"name"}}},
	},
}

var flowLogSchemas = map[model.TargetKind]*hcl.BodySchema{
	model.KindAWS:   {Attributes: []hcl.AttributeSchema{{Name: "s3_uri"}, {Name: "log_group"}}},
	model.KindAzure: {Attributes: []hcl.AttributeSchema{{Name: "storage_account", Required: true}, {Name: "container"}}},
	model.KindGCP:   {Attributes: []hcl.AttributeSchema{{Name: "gcs_uri", Required: true}}},
	model.KindHosts: {Attributes: []hcl.AttributeSchema{{Name: "nflog_group", Required: true}}},
}

var hostSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "address"}, {Name: "addresses"}}}

func (l *loader) content(body hcl.Body, schema *hcl.BodySchema) *hcl.BodyContent {
	content, diags := body.Content(schema)
	l.diags = append(l.diags, diags...)
	return content
}

// stringAttrs reads the named string attributes into the given destinations.
func (l *loader) stringAttrs(content *hcl.BodyContent, dest map[string]*string) {
	for name, ptr := range dest {
		if attr, ok := content.Attributes[name]; ok {
			if v, ok := l.stringValue(attr); ok {
				*ptr = v
			}
		}
	}
}

func (l *loader) decodeTarget(block *hcl.Block) {
	kind := model.TargetKind(block.Labels[0])
	t := &model.Target{Kind: kind, Name: block.Labels[1], Pos: posOf(block.DefRange)}
	content := l.content(block.Body, targetSchemas[kind])
	switch kind {
	case model.KindAWS:
		t.AWS = &model.AWSTarget{}
		l.stringAttrs(content, map[string]*string{"region": &t.AWS.Region, "vpc_id": &t.AWS.VPCID, "endpoint": &t.AWS.Endpoint, "assume_role_arn": &t.AWS.AssumeRoleARN})
		if attr, ok := content.Attributes["exclusive_membership"]; ok {
			t.AWS.ExclusiveMembership, _ = l.boolValue(attr)
		}
		if attr, ok := content.Attributes["rules_per_group"]; ok {
			t.AWS.RulesPerGroup, _ = l.numberValue(attr, 1, 1000)
		}
		if attr, ok := content.Attributes["groups_per_eni"]; ok {
			t.AWS.GroupsPerENI, _ = l.numberValue(attr, 1, 16)
		}
	case model.KindAzure:
		t.Azure = &model.AzureTarget{}
		l.stringAttrs(content, map[string]*string{"subscription_id": &t.Azure.SubscriptionID, "resource_group": &t.Azure.ResourceGroup, "location": &t.Azure.Location, "endpoint": &t.Azure.Endpoint})
		if attr, ok := content.Attributes["subnet_ids"]; ok {
			items, _ := l.stringList(attr)
			seen := map[string]bool{}
			for _, item := range items {
				switch {
				case !isSubnetID(item.value):
					l.errorf(item.rng.Ptr(), "Invalid subnet ID", "%q is not the ARM ID of a subnet: /subscriptions/SUBSCRIPTION/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/VNET/subnets/NAME (az network vnet subnet show --query id prints it).", item.value)
				case seen[strings.ToLower(item.value)]:
					l.errorf(item.rng.Ptr(), "Duplicate subnet", "Subnet %q is listed twice.", item.value)
				}
				seen[strings.ToLower(item.value)] = true
				t.Azure.SubnetIDs = append(t.Azure.SubnetIDs, item.value)
			}
		}
		if attr, ok := content.Attributes["exclusive_membership"]; ok {
			t.Azure.ExclusiveMembership, _ = l.boolValue(attr)
		}
	case model.KindGCP:
		t.GCP = &model.GCPTarget{}
		l.stringAttrs(content, map[string]*string{"project": &t.GCP.Project, "network": &t.GCP.Network, "endpoint": &t.GCP.Endpoint})
		for name, dest := range map[string]*int{"ranges_per_rule": &t.GCP.RangesPerRule, "tags_per_rule": &t.GCP.TagsPerRule, "ports_per_rule": &t.GCP.PortsPerRule} {
			if attr, ok := content.Attributes[name]; ok {
				*dest, _ = l.numberValue(attr, 1, 100000)
			}
		}
	case model.KindHosts:
		t.Hosts = l.decodeHosts(content)
	}
	for i, fl := range content.Blocks.OfType("flow_logs") {
		if i > 0 {
			l.errorf(fl.DefRange.Ptr(), "Duplicate flow_logs block", "A target has at most one flow_logs block; the first is at %s.", content.Blocks.OfType("flow_logs")[0].DefRange)
			continue
		}
		t.FlowLogs = l.decodeFlowLogs(kind, fl)
	}
	l.loaded.Policy.Targets[t.Name] = t
}

// isSubnetID reports whether id has the shape of a subnet's ARM ID (whose parts
// compare without case, as ARM compares them).
func isSubnetID(id string) bool {
	parts := strings.Split(id, "/")
	if len(parts) != 11 || parts[0] != "" {
		return false
	}
	for i, want := range map[int]string{1: "subscriptions", 3: "resourceGroups", 5: "providers", 6: "Microsoft.Network", 7: "virtualNetworks", 9: "subnets"} {
		if !strings.EqualFold(parts[i], want) {
			return false
		}
	}
	for _, i := range []int{2, 4, 8, 10} {
		if parts[i] == "" {
			return false
		}
	}
	return true
}

func (l *loader) decodeFlowLogs(kind model.TargetKind, block *hcl.Block) *model.FlowLogs {
	fl := &model.FlowLogs{}
	content := l.content(block.Body, flowLogSchemas[kind])
	l.stringAttrs(content, map[string]*string{"s3_uri": &fl.S3URI, "log_group": &fl.LogGroup, "storage_account": &fl.StorageAccount, "container": &fl.Container, "gcs_uri": &fl.GCSURI})
	if attr, ok := content.Attributes["nflog_group"]; ok {
		n, _ := l.numberValue(attr, 0, 65535)
		fl.NFLOGGroup = uint16(n)
	}
	if kind == model.KindAWS && len(content.Attributes) == 0 {
		l.errorf(block.DefRange.Ptr(), "Empty flow_logs block", "An aws flow_logs block names s3_uri, log_group or both.")
	}
	return fl
}

func (l *loader) decodeHosts(content *hcl.BodyContent) *model.HostsTarget {
	ht := &model.HostsTarget{Hosts: map[string]*model.Host{}}
	if attr, ok := content.Attributes["management_cidrs"]; ok {
		var ok bool
		ht.ManagementCIDRs, ok = l.prefixList(attr)
		if ok && len(ht.ManagementCIDRs) == 0 {
			l.errorf(attr.Expr.Range().Ptr(), "No management CIDRs",
				"management_cidrs keeps the hosts reachable for administration whatever the policy says (anti-lockout); name at least one CIDR.")
		}
	}
	ht.ManagementPorts = []model.ServicePort{{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 22, Last: 22}}}
	if attr, ok := content.Attributes["management_ports"]; ok {
		ht.ManagementPorts, _ = l.portList(attr)
	}
	for _, block := range content.Blocks.OfType("host") {
		name := block.Labels[0]
		if prev, ok := ht.Hosts[name]; ok {
			l.errorf(block.LabelRanges[0].Ptr(), "Duplicate host", "A host %q was already declared at %s:%d.", name, prev.Pos.File, prev.Pos.Line)
			continue
		}
		h := &model.Host{Name: name, Pos: posOf(block.DefRange)}
		hc := l.content(block.Body, hostSchema)
		var items []listItem
		if attr, ok := hc.Attributes["address"]; ok {
			if v, ok := l.stringValue(attr); ok {
				items = append(items, listItem{v, attr.Expr.Range()})
			}
		}
		if attr, ok := hc.Attributes["addresses"]; ok {
			more, _ := l.stringList(attr)
			items = append(items, more...)
		}
		if len(hc.Attributes) == 0 {
			l.errorf(block.DefRange.Ptr(), "Host without address", "Host %q needs address = \"...\" (or addresses = [...]) so that rules can name it.", name)
		}
		for _, item := range items {
			addr, err := netip.ParseAddr(item.value)
			if err != nil || addr.Zone() != "" {
				l.errorf(item.rng.Ptr(), "Invalid address", "%q is not an IP address.", item.value)
				continue
			}
			h.Addresses = append(h.Addresses, addr.Unmap())
		}
		ht.Hosts[name] = h
	}
	return ht
}

// targetRef resolves target.KIND.NAME.
func (l *loader) targetRef(expr hcl.Expression) (*model.Target, bool) {
	trav, diags := hcl.AbsTraversalForExpr(expr)
	if diags.HasErrors() || len(trav) != 3 || trav.RootName() != "target" {
		l.errorf(expr.Range().Ptr(), "Invalid target reference", "Refer to a target as target.KIND.NAME, for example target.aws.prod-use1.")
		return nil, false
	}
	kind, _ := trav[1].(hcl.TraverseAttr)
	name, _ := trav[2].(hcl.TraverseAttr)
	if kind.Name == "" || name.Name == "" {
		l.errorf(expr.Range().Ptr(), "Invalid target reference", "Refer to a target as target.KIND.NAME, for example target.aws.prod-use1.")
		return nil, false
	}
	t, ok := l.loaded.Policy.Targets[name.Name]
	if !ok || string(t.Kind) != kind.Name {
		var known []string
		for _, t := range l.loaded.Policy.Targets {
			known = append(known, fmt.Sprintf("target.%s.%s", t.Kind, t.Name))
		}
		if _, declared := l.decls["target"][name.Name]; declared && !ok {
			return nil, false // declared but broken: already reported
		}
		l.errorf(expr.Range().Ptr(), "Unknown target",
			"No target target.%s.%s is declared.%s", kind.Name, name.Name, suggest(fmt.Sprintf("target.%s.%s", kind.Name, name.Name), known))
		return nil, false
	}
	return t, true
}
