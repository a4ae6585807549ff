package armemu

import (
	"fmt"
	"strconv"
	"strings"
)

// Azure's limits on security rules
// (https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#networking-limits).
const (
	minPriority        = 100
	maxPriority        = 4096
	maxASGsPerRuleSide = 10
	maxPrefixesPerSide = 4000 // per NSG, sources and destinations counted apart
	maxASGsPerIPConfig = 20
)

// enums are the values NRP accepts, matched case-insensitively as JSON.NET
// does, and stored in the canonical case Azure returns.
var (
	protocols  = []string{"Tcp", "Udp", "Icmp", "Esp", "Ah", "*"}
	accesses   = []string{"Allow", "Deny"}
	directions = []string{"Inbound", "Outbound"}
)

func canonical(v string, values []string) (string, bool) {
	for _, c := range values {
		if strings.EqualFold(v, c) {
			return c, true
		}
	}
	return "", false
}

// serviceTags are the tags a singular address prefix accepts, each also with a
// ".Region" suffix. Azure knows more; these are the common ones.
var serviceTags = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`VirtualNetwork Internet AzureLoadBalancer AzureCloud Storage Sql
		SqlManagement AzureActiveDirectory AzureMonitor AzureKeyVault EventHub ServiceBus AzureContainerRegistry
		AzureFrontDoor GatewayManager AzureTrafficManager ApiManagement AppService AppServiceManagement
		AzureCosmosDB AzureBackup BatchNodeManagement AzureResourceManager AzureSiteRecovery DataFactory
		HDInsight MicrosoftContainerRegistry PowerBI GuestAndHybridManagement ActionGroup AzureDatabricks
		AzureDevOps AzureEventGrid AzureIoTHub AzurePlatformDNS AzurePlatformIMDS AzurePlatformLKM
		LogicApps AzureUpdateDelivery AzureArcInfrastructure WindowsVirtualDesktop AzureBotService`) {
		serviceTags[strings.ToLower(t)] = true
	}
}

func isServiceTag(s string) bool {
	base, _, _ := strings.Cut(s, ".")
	return serviceTags[strings.ToLower(base)]
}

// ruleCtx is what validating a rule needs to know of its NSG.
type ruleCtx struct {
	nsgID, location string
}

// parseRule validates one security rule of a request and returns it stored.
func (e *Emulator) parseRule(c ruleCtx, in ruleJSON) (*rule, *apiError) {
	if in.Name == "" {
		return nil, errFormat("MissingJsonProperty", "Required property 'name' not found in a security rule.")
	}
	if !validName(in.Name) {
		return nil, errName(in.Name)
	}
	id := c.nsgID + "/securityRules/" + in.Name
	p := in.Properties
	r := &rule{name: in.Name, description: p.Description}
	var ok bool
	if r.protocol, ok = canonical(p.Protocol, protocols); !ok {
		return nil, errEnum("protocol", p.Protocol, "SecurityRuleProtocol")
	}
	if r.access, ok = canonical(p.Access, accesses); !ok {
		return nil, errEnum("access", p.Access, "SecurityRuleAccess")
	}
	if r.direction, ok = canonical(p.Direction, directions); !ok {
		return nil, errEnum("direction", p.Direction, "SecurityRuleDirection")
	}
	if p.Priority == nil || *p.Priority < minPriority || *p.Priority > maxPriority {
		var v int32
		if p.Priority != nil {
			v = *p.Priority
		}
		return nil, badRequest(CodeSecurityRuleInvalidPriority,
			"Security rule has invalid Priority. Value provided: %d Allowed range %d-%d.", v, minPriority, maxPriority)
	}
	r.priority = *p.Priority
	var aerr *apiError
	if r.srcPorts, aerr = parsePorts(id, "SourcePortRange", p.SourcePortRange, p.SourcePortRanges); aerr != nil {
		return nil, aerr
	}
	if r.dstPorts, aerr = parsePorts(id, "DestinationPortRange", p.DestinationPortRange, p.DestinationPortRanges); aerr != nil {
		return nil, aerr
	}
	if r.srcPrefixes, r.srcASGs, aerr = e.parseSide(c, id, "Source", p.SourceAddressPrefix, p.SourceAddressPrefixes, p.SourceApplicationSecurityGroups); aerr != nil {
		return nil, aerr
	}
	if r.dstPrefixes, r.dstASGs, aerr = e.parseSide(c, id, "Destination", p.DestinationAddressPrefix, p.DestinationAddressPrefixes, p.DestinationApplicationSecurityGroups); aerr != nil {
		return nil, aerr
	}
	return r, nil
}

func errEnum(prop, value, typ string) *apiError {
	if value == "" {
		return errFormat("MissingJsonProperty", "Required property '%s' not found in JSON. Path 'properties'.", prop)
	}
	return errFormat("InvalidJson", "Error converting value %q to type '%s'. Path 'properties.%s'.", value, typ, prop)
}

// parsePorts reads one side's ports: "*", "N" or "N-M" in the singular field,
// or a list of "N" and "N-M" in the plural one.
func parsePorts(ruleID, field, single string, plural []string) ([]string, *apiError) {
	if single != "" && len(plural) > 0 {
		return nil, errFormat("InvalidJson", "Security rule %s specifies both %s and %ss; only one may be set.", ruleID, field, field)
	}
	if single != "" {
		if single != "*" && !validPortRange(single) {
			return nil, errPortRange(single)
		}
		return []string{single}, nil
	}
	if len(plural) == 0 {
		return nil, errFormat("MissingJsonProperty", "Security rule %s specifies neither %s nor %ss.", ruleID, field, field)
	}
	for _, pr := range plural {
		if pr == "*" {
			return nil, badRequest(CodeInvalidPortRangesInPlural,
				"Security rule parameter %ss for rule with Id %s cannot specify '*'. Use %s for any port.", field, ruleID, field)
		}
		if !validPortRange(pr) {
			return nil, errPortRange(pr)
		}
	}
	return append([]string(nil), plural...), nil
}

func errPortRange(v string) *apiError {
	return badRequest(CodeSecurityRuleInvalidPortRange,
		"Security rule has invalid Port range. Value provided: %s. Value should be an integer OR integer range with '-' delimiter. Valid range 0-65535.", v)
}

func validPortRange(s string) bool {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || strconv.FormatUint(a, 10) != lo {
		return false
	}
	if !isRange {
		return true
	}
	b, err := strconv.ParseUint(hi, 10, 16)
	return err == nil && strconv.FormatUint(b, 10) == hi && a <= b
}

// parseSide reads one side's addresses: exactly one of the singular prefix
// (an address, a CIDR, "*" or a service tag), the plural prefixes (addresses
// and CIDRs only) and the application security groups.
func (e *Emulator) parseSide(c ruleCtx, ruleID, side, single string, plural []string, asgs []subRes) ([]string, []ref, *apiError) {
	set := 0
	for _, b := range []bool{single != "", len(plural) > 0, len(asgs) > 0} {
		if b {
			set++
		}
	}
	if set != 1 {
		return nil, nil, errFormat("InvalidJson",
			"Security rule %s must specify exactly one of %sAddressPrefix, %sAddressPrefixes and %sApplicationSecurityGroups; it specifies %d.",
			ruleID, side, side, side, set)
	}
	switch {
	case single != "":
		if single != "*" && !isServiceTag(single) && !validAddress(single) {
			return nil, nil, errPrefix(single)
		}
		return []string{single}, nil, nil
	case len(plural) > 0:
		for _, p := range plural {
			if p == "*" || isServiceTag(p) {
				return nil, nil, badRequest(CodeUnsupportedValue,
					"Security rule parameter %sAddressPrefixes for rule with Id %s cannot specify existing VIRTUALNETWORK, INTERNET, AZURELOADBALANCER, '*' or system tags. Unsupported value used: %s.",
					side, ruleID, p)
			}
			if !validAddress(p) {
				return nil, nil, errPrefix(p)
			}
		}
		return append([]string(nil), plural...), nil, nil
	}
	if len(asgs) > maxASGsPerRuleSide {
		return nil, nil, badRequest(CodeASGsPerRuleLimit,
			"A security rule may have up to %d Application Security Group in the source or destination fields. The requested configuration has %d in the %sApplicationSecurityGroups field.",
			maxASGsPerRuleSide, len(asgs), side)
	}
	refs := make([]ref, 0, len(asgs))
	for i, a := range asgs {
		path := fmt.Sprintf("properties.%sApplicationSecurityGroups[%d].id", strings.ToLower(side[:1])+side[1:], i)
		r, aerr := e.resolve(a.ID, typeASG, path, ruleID)
		if aerr == nil && e.locationOf(typeASG, r) != c.location {
			aerr = errReference(a.ID, ruleID)
		}
		if aerr != nil {
			return nil, nil, aerr
		}
		refs = append(refs, r)
	}
	return nil, refs, nil
}

func errPrefix(v string) *apiError {
	return badRequest(CodeInvalidAddressPrefix, "Security rule has invalid Address prefix. Value provided: %s.", v)
}

// checkRuleSet applies the NSG-wide checks to the rules an NSG would hold
// after a change: unique names, the rule quota, one priority per direction,
// and the address prefixes per side.
func (e *Emulator) checkRuleSet(nsgID string, rules []*rule) *apiError {
	names := map[string]bool{}
	for _, r := range rules {
		if names[key(r.name)] {
			return errDuplicateName(typeRule, r.name)
		}
		names[key(r.name)] = true
	}
	if len(rules) > e.opts.RulesPerNSG {
		return badRequest(CodeRuleCountLimit, "A security group cannot have more than %d security rules.", e.opts.RulesPerNSG)
	}
	type slot struct {
		dir string
		pri int32
	}
	seen := map[slot]*rule{}
	for _, r := range rules {
		s := slot{r.direction, r.priority}
		if o := seen[s]; o != nil {
			return badRequest(CodeSecurityRuleConflict,
				"Security rule %s conflicts with rule %s. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules.", o.name, r.name)
		}
		seen[s] = r
	}
	var src, dst int
	for _, r := range rules {
		src += countAddresses(r.srcPrefixes)
		dst += countAddresses(r.dstPrefixes)
	}
	for _, c := range []struct {
		n    int
		side string
	}{{src, "Source"}, {dst, "Destination"}} {
		if c.n > maxPrefixesPerSide {
			return badRequest(CodePrefixesPerNSGLimit,
				"Network security group %s has %d %sAddressPrefixes. A security group cannot have more than %d %sAddressPrefixes as per the limit MaxSecurityRuleAddressesOrPortsPerSecurityGroup.",
				nsgID, c.n, c.side, maxPrefixesPerSide, c.side)
		}
	}
	return nil
}

func countAddresses(prefixes []string) int {
	n := 0
	for _, p := range prefixes {
		if validAddress(p) {
			n++
		}
	}
	return n
}

// ruleProps renders a rule. A one-element list goes to the singular field and
// the plural one is [], as Azure stores a one-element plural list.
func (e *Emulator) ruleProps(r *rule, state string) ruleProps {
	p := ruleProps{
		Description: r.description, Protocol: r.protocol, Access: r.access, Direction: r.direction,
		Priority: &r.priority, ProvisioningState: state,
	}
	p.SourcePortRange, p.SourcePortRanges = singularOrPlural(r.srcPorts)
	p.DestinationPortRange, p.DestinationPortRanges = singularOrPlural(r.dstPorts)
	p.SourceAddressPrefix, p.SourceAddressPrefixes = singularOrPlural(r.srcPrefixes)
	p.DestinationAddressPrefix, p.DestinationAddressPrefixes = singularOrPlural(r.dstPrefixes)
	p.SourceApplicationSecurityGroups = e.asgRefs(r.srcASGs)
	p.DestinationApplicationSecurityGroups = e.asgRefs(r.dstASGs)
	return p
}

func singularOrPlural(v []string) (string, []string) {
	if len(v) == 1 {
		return v[0], []string{}
	}
	return "", append([]string{}, v...)
}

func (e *Emulator) asgRefs(refs []ref) []subRes {
	var out []subRes
	for _, r := range refs {
		out = append(out, subRes{ID: e.refID(typeASG, r)})
	}
	return out
}

// defaultRules are the six rules Azure adds to every NSG, as its REST API
// reference shows them (NetworkSecurityGroupCreateWithRule.json).
var defaultRules = []rule{
	{name: "AllowVnetInBound", description: "Allow inbound traffic from all VMs in VNET", direction: "Inbound", access: "Allow", priority: 65000,
		srcPrefixes: []string{"VirtualNetwork"}, dstPrefixes: []string{"VirtualNetwork"}},
	{name: "AllowAzureLoadBalancerInBound", description: "Allow inbound traffic from azure load balancer", direction: "Inbound", access: "Allow", priority: 65001,
		srcPrefixes: []string{"AzureLoadBalancer"}, dstPrefixes: []string{"*"}},
	{name: "DenyAllInBound", description: "Deny all inbound traffic", direction: "Inbound", access: "Deny", priority: 65500,
		srcPrefixes: []string{"*"}, dstPrefixes: []string{"*"}},
	{name: "AllowVnetOutBound", description: "Allow outbound traffic from all VMs to all VMs in VNET", direction: "Outbound", access: "Allow", priority: 65000,
		srcPrefixes: []string{"VirtualNetwork"}, dstPrefixes: []string{"VirtualNetwork"}},
	{name: "AllowInternetOutBound", description: "Allow outbound traffic from all VMs to Internet", direction: "Outbound", access: "Allow", priority: 65001,
		srcPrefixes: []string{"*"}, dstPrefixes: []string{"Internet"}},
	{name: "DenyAllOutBound", description: "Deny all outbound traffic", direction: "Outbound", access: "Deny", priority: 65500,
		srcPrefixes: []string{"*"}, dstPrefixes: []string{"*"}},
}

func init() {
	for i := range defaultRules {
		defaultRules[i].protocol = "*"
		defaultRules[i].srcPorts = []string{"*"}
		defaultRules[i].dstPorts = []string{"*"}
	}
}
