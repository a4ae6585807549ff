package azure

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// endpoint is one side of an NSG rule: a segment's application security group, or
// an address prefix (a CIDR, "*", or a service tag such as VirtualNetwork).
type endpoint struct {
	segment string // the ASG of this segment, when set
	prefix  string // otherwise
}

func (e endpoint) String() string {
	if e.segment != "" {
		return "segment." + e.segment
	}
	if e.prefix == "*" {
		return "any"
	}
	return e.prefix
}

// ruleSpec is one NSG security rule in microseg's typed form: the Content of
// the provider's rule objects, and what Apply writes. One ruleSpec holds one
// source, one destination and one port range, so that its key is one model rule's.
type ruleSpec struct {
	name        string
	inbound     bool
	allow       bool
	protocol    armnetwork.SecurityRuleProtocol
	ports       string // destination port range: "*", "443" or "8080-8081"
	sourcePorts string // "*" for every rule microseg writes
	source      endpoint
	destination endpoint
	priority    int32
	description string
	class       ruleClass
}

// ruleClass places a rule in its band of priorities: every allow of the policy is
// evaluated before every segment's deny, and both before the catch-all.
type ruleClass uint8

const (
	classAllow    ruleClass = iota // an allow of the policy
	classDeny                      // a deny-all of an enforce-mode segment
	classCatchAll                  // the allow-all that leaves unsegmented workloads as they were
)

// Priority bands, per direction. Azure's user priorities are 100-4096, unique per
// direction, lower numbers first; the six default rules sit at 65000 and above.
const (
	allowFirst int32 = 100
	allowLast  int32 = 3095
	denyFirst  int32 = 3096
	denyLast   int32 = 4095
	catchAll   int32 = 4096
)

func (c ruleClass) band() (first, last int32) {
	switch c {
	case classAllow:
		return allowFirst, allowLast
	case classDeny:
		return denyFirst, denyLast
	}
	return catchAll, catchAll
}

// segmentOf is the segment a rule enforces at: the destination's for an inbound
// rule, the source's for an outbound one ("" for the catch-all and for rules not
// made by microseg).
func (r *ruleSpec) segmentOf() string {
	if r.inbound {
		return r.destination.segment
	}
	return r.source.segment
}

// key is the rule's identity in plans, the model's key for the rules microseg
// writes: "web ingress from segment.app tcp/8080", "web egress deny all", and
// "* ingress allow all" for the catch-all. It is built from the Azure form, the
// same way for what the policy wants and what the NSG holds, so that the two compare.
func (r *ruleSpec) key() string {
	var b strings.Builder
	local, peer := r.destination, r.source
	dir, word := "ingress", " from "
	if !r.inbound {
		local, peer, dir, word = r.source, r.destination, "egress", " to "
	}
	switch {
	case local.segment != "":
		b.WriteString(local.segment)
	case local.prefix == "*" && r.class == classCatchAll:
		b.WriteString("*")
	default: // a rule not made by microseg: say where it applies
		b.WriteString("[" + local.String() + "]")
	}
	b.WriteString(" " + dir)
	if r.class == classDeny {
		b.WriteString(" deny")
		if peer.prefix == "*" && r.protocol == armnetwork.SecurityRuleProtocolAsterisk && r.ports == "*" {
			b.WriteString(" all")
			return b.String()
		}
	}
	if r.class == classCatchAll {
		b.WriteString(" allow all")
		return b.String()
	}
	b.WriteString(word + peer.String() + " " + portText(r.protocol, r.ports))
	if r.sourcePorts != "*" && r.sourcePorts != "" {
		b.WriteString(" from port " + r.sourcePorts)
	}
	return b.String()
}

// fields are the compared attributes of a rule besides its key.
func (r *ruleSpec) fields() []model.Field {
	return []model.Field{{Name: "description", Value: r.description}, {Name: "priority", Value: strconv.Itoa(int(r.priority))}}
}

// portText prints an NSG protocol and destination port range as the model's port
// spec: "tcp/443", "udp", "icmp", "all".
func portText(p armnetwork.SecurityRuleProtocol, ports string) string {
	name := strings.ToLower(string(p))
	switch p {
	case armnetwork.SecurityRuleProtocolAsterisk:
		if ports == "*" {
			return "all"
		}
		return "any/" + ports
	case armnetwork.SecurityRuleProtocolTCP, armnetwork.SecurityRuleProtocolUDP:
		if ports == "*" || ports == "0-65535" {
			return name
		}
		return name + "/" + ports
	}
	return name // Icmp, Esp, Ah: NSGs match them whole
}

// specFromRule is the NSG form of one compiled rule of segment r.Segment. ICMP
// types and codes have no NSG form: an icmp/8 allow is enforced as all of ICMP
// (NSGs' Icmp also covers ICMPv6). SCTP has none at all.
func specFromRule(r *model.Rule) (*ruleSpec, error) {
	s := &ruleSpec{inbound: r.Direction == model.Ingress, allow: true, sourcePorts: "*", ports: "*", class: classAllow}
	switch pr := r.Port.Protocol; {
	case pr == model.ProtocolAll:
		s.protocol = armnetwork.SecurityRuleProtocolAsterisk
	case pr == model.ProtocolTCP || pr == model.ProtocolUDP:
		s.protocol = armnetwork.SecurityRuleProtocolTCP
		if pr == model.ProtocolUDP {
			s.protocol = armnetwork.SecurityRuleProtocolUDP
		}
		if !r.Port.AllPorts() {
			s.ports = strconv.Itoa(int(r.Port.Ports.First))
			if r.Port.Ports.Last != r.Port.Ports.First {
				s.ports += "-" + strconv.Itoa(int(r.Port.Ports.Last))
			}
		}
	case pr.IsICMP():
		s.protocol = armnetwork.SecurityRuleProtocolIcmp
	default:
		return nil, fmt.Errorf("segment %q: protocol %s has no NSG form (Azure's NSGs match tcp, udp, icmp and all)", r.Segment, pr)
	}
	local := endpoint{segment: r.Segment}
	peer := endpoint{segment: r.Peer.Segment}
	if r.Peer.Segment == "" {
		peer = endpoint{prefix: r.Peer.Prefix.Masked().String()}
	}
	s.source, s.destination = peer, local
	if !s.inbound {
		s.source, s.destination = local, peer
	}
	return s, nil
}

// denySpec is the deny-all of an enforce-mode segment in one direction.
func denySpec(segment string, inbound bool) *ruleSpec {
	s := &ruleSpec{inbound: inbound, protocol: armnetwork.SecurityRuleProtocolAsterisk, ports: "*", sourcePorts: "*",
		class: classDeny, description: "microseg: deny the rest of segment " + segment}
	s.source, s.destination = endpoint{prefix: "*"}, endpoint{segment: segment}
	if !inbound {
		s.source, s.destination = s.destination, s.source
	}
	return s
}

// catchAllSpec lets workloads in no segment keep the traffic they had before the
// NSG was attached to their subnet (none, or Azure's defaults would deny the
// internet inbound): microseg does not touch what it does not segment.
func catchAllSpec(inbound bool) *ruleSpec {
	return &ruleSpec{inbound: inbound, allow: true, protocol: armnetwork.SecurityRuleProtocolAsterisk, ports: "*", sourcePorts: "*",
		source: endpoint{prefix: "*"}, destination: endpoint{prefix: "*"}, class: classCatchAll, priority: catchAll,
		description: "microseg: workloads in no segment are not filtered"}
}

// ruleName is a rule's name in the NSG: "ms-<segment>-in-<hash of the key>",
// at most 80 characters, of the characters Azure accepts; the hash keeps names
// of different rules apart when a long segment name is shortened.
func ruleName(r *ruleSpec) string {
	dir := "out"
	if r.inbound {
		dir = "in"
	}
	seg := r.segmentOf()
	switch r.class {
	case classCatchAll:
		return "ms-unsegmented-" + dir
	case classDeny:
		sum := sha256.Sum256([]byte(r.key()))
		return "ms-" + nameSafe(seg, 60) + "-deny-" + dir + "-" + hex.EncodeToString(sum[:3])
	}
	sum := sha256.Sum256([]byte(r.key()))
	return "ms-" + nameSafe(seg, 60) + "-" + dir + "-" + hex.EncodeToString(sum[:6])
}

// nameSafe keeps letters, digits, '-', '_' and '.' of s, at most n of them.
func nameSafe(s string, n int) string {
	out := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			return c
		}
		return '-'
	}, s)
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// maxDescription is Azure's limit on a security rule's description.
const maxDescription = 140

// ruleDescription names a rule's allows in Azure's 140 characters.
func ruleDescription(allows []string, byName map[string]*model.Allow) string {
	return providers.DescribeAllows(allows, byName, maxDescription, nil)
}

// securityRule is the ARM form of r; asgID gives the ID of a segment's ASG.
func securityRule(r *ruleSpec, asgID func(segment string) string) *armnetwork.SecurityRule {
	access, dir := armnetwork.SecurityRuleAccessDeny, armnetwork.SecurityRuleDirectionOutbound
	if r.allow {
		access = armnetwork.SecurityRuleAccessAllow
	}
	if r.inbound {
		dir = armnetwork.SecurityRuleDirectionInbound
	}
	p := &armnetwork.SecurityRulePropertiesFormat{
		Access: &access, Direction: &dir, Priority: to.Ptr(r.priority), Protocol: to.Ptr(r.protocol),
		Description: to.Ptr(r.description), SourcePortRange: to.Ptr(cmp.Or(r.sourcePorts, "*")),
		DestinationPortRange: to.Ptr(r.ports),
	}
	if r.source.segment != "" {
		p.SourceApplicationSecurityGroups = []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(asgID(r.source.segment))}}
	} else {
		p.SourceAddressPrefix = to.Ptr(r.source.prefix)
	}
	if r.destination.segment != "" {
		p.DestinationApplicationSecurityGroups = []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(asgID(r.destination.segment))}}
	} else {
		p.DestinationAddressPrefix = to.Ptr(r.destination.prefix)
	}
	return &armnetwork.SecurityRule{Name: to.Ptr(r.name), Properties: p}
}

// specsFromRule reads an NSG rule as microseg's rules: one per source, destination
// and port range, since Azure takes singular and plural fields alike and a rule made
// by hand may list several. segmentOfASG maps a lower-cased ASG ID to its segment
// ("" for an ASG microseg does not manage).
func specsFromRule(sr *armnetwork.SecurityRule, segmentOfASG func(id string) string) []*ruleSpec {
	p := sr.Properties
	if p == nil {
		return nil
	}
	base := ruleSpec{
		name:        deref(sr.Name),
		inbound:     p.Direction != nil && *p.Direction == armnetwork.SecurityRuleDirectionInbound,
		allow:       p.Access != nil && *p.Access == armnetwork.SecurityRuleAccessAllow,
		protocol:    armnetwork.SecurityRuleProtocolAsterisk,
		sourcePorts: strings.Join(oneOrMany(p.SourcePortRange, p.SourcePortRanges), ","),
		priority:    deref(p.Priority),
		description: deref(p.Description),
	}
	if p.Protocol != nil {
		base.protocol = *p.Protocol
	}
	if base.sourcePorts == "" {
		base.sourcePorts = "*"
	}
	sources := endpoints(p.SourceAddressPrefix, p.SourceAddressPrefixes, p.SourceApplicationSecurityGroups, segmentOfASG)
	dests := endpoints(p.DestinationAddressPrefix, p.DestinationAddressPrefixes, p.DestinationApplicationSecurityGroups, segmentOfASG)
	ports := oneOrMany(p.DestinationPortRange, p.DestinationPortRanges)
	if len(ports) == 0 {
		ports = []string{"*"}
	}
	var out []*ruleSpec
	for _, src := range sources {
		for _, dst := range dests {
			for _, port := range ports {
				s := base
				s.source, s.destination, s.ports = src, dst, normalizePorts(port)
				s.class = classify(&s)
				out = append(out, &s)
			}
		}
	}
	return out
}

// classify tells what an observed rule is to microseg: a deny of a segment, the
// catch-all, or an allow (including any rule made by hand).
func classify(s *ruleSpec) ruleClass {
	local := s.destination
	if !s.inbound {
		local = s.source
	}
	switch {
	case !s.allow:
		return classDeny
	case local.segment == "" && local.prefix == "*" && s.source.prefix == "*" && s.destination.prefix == "*" &&
		s.protocol == armnetwork.SecurityRuleProtocolAsterisk && s.ports == "*":
		return classCatchAll
	}
	return classAllow
}

// endpoints lists a rule side: its prefix or prefixes (normalized) or its ASGs.
func endpoints(one *string, many []*string, asgs []*armnetwork.ApplicationSecurityGroup, segmentOfASG func(string) string) []endpoint {
	var out []endpoint
	for _, p := range oneOrMany(one, many) {
		out = append(out, endpoint{prefix: normalizePrefix(p)})
	}
	for _, g := range asgs {
		if g == nil || g.ID == nil {
			continue
		}
		if seg := segmentOfASG(strings.ToLower(*g.ID)); seg != "" {
			out = append(out, endpoint{segment: seg})
		} else {
			out = append(out, endpoint{prefix: "asg:" + strings.ToLower(*g.ID)})
		}
	}
	if len(out) == 0 {
		out = append(out, endpoint{prefix: "*"})
	}
	return out
}

// oneOrMany is the values of a singular field, or else of its plural twin.
func oneOrMany(one *string, many []*string) []string {
	if one != nil && *one != "" {
		return []string{*one}
	}
	var out []string
	for _, v := range many {
		if v != nil && *v != "" {
			out = append(out, *v)
		}
	}
	return out
}

// normalizePrefix writes an address prefix as the model does: masked, with a
// length ("10.0.0.5" is 10.0.0.5/32); "*", "0.0.0.0/0" and service tags stay.
func normalizePrefix(p string) string {
	if pfx, err := netip.ParsePrefix(p); err == nil {
		return pfx.Masked().String()
	}
	if a, err := netip.ParseAddr(p); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String()
	}
	return p
}

// normalizePorts writes "0-65535" as "*" and "443-443" as "443".
func normalizePorts(p string) string {
	if p == "0-65535" || p == "" {
		return "*"
	}
	if a, b, ok := strings.Cut(p, "-"); ok && a == b {
		return a
	}
	return p
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// sortSpecs orders rules by direction (inbound first), then priority, then name.
func sortSpecs(specs []*ruleSpec) {
	slices.SortFunc(specs, func(a, b *ruleSpec) int {
		if a.inbound != b.inbound {
			if a.inbound {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.priority, b.priority), strings.Compare(a.name, b.name))
	})
}
