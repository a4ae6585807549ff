package ec2emu

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// hasPorts tells whether a protocol's rules carry a port (or ICMP type/code) range.
func hasPorts(protocol string) bool {
	switch protocol {
	case "tcp", "udp", "icmp", "icmpv6":
		return true
	}
	return false
}

// normProtocol turns a protocol as sent into the form AWS stores and returns:
// tcp, udp, icmp, icmpv6 (also for 6, 17, 1 and 58), -1 for all, or a number.
func normProtocol(s string) (string, *apiError) {
	switch l := strings.ToLower(s); l {
	case "tcp", "6":
		return "tcp", nil
	case "udp", "17":
		return "udp", nil
	case "icmp", "1":
		return "icmp", nil
	case "icmpv6", "58":
		return "icmpv6", nil
	case "-1", "all":
		return "-1", nil
	default:
		if n, err := strconv.Atoi(l); err == nil && n >= 0 && n <= 255 {
			return strconv.Itoa(n), nil
		}
	}
	return "", newErr(400, "InvalidParameterValue", "Invalid value '%s' for IP protocol. Unknown protocol.", s)
}

// permission is one rule as asked for in an authorize or revoke call.
type permission struct {
	ruleKey
	desc string
}

// parsePermission reads one IpPermissions.N member (or the legacy top-level
// parameters) into one permission per source.
func (e *Emulator) parsePermission(p *params, g *group, egress, revoke bool, where string) ([]permission, *apiError) {
	if !p.has("IpProtocol") || p.str("IpProtocol") == "" {
		return nil, errMissing(where + "IpProtocol")
	}
	proto, err := normProtocol(p.str("IpProtocol"))
	if err != nil {
		return nil, err
	}
	from, hasFrom, err := p.int32("FromPort")
	if err != nil {
		return nil, err
	}
	to, hasTo, err := p.int32("ToPort")
	if err != nil {
		return nil, err
	}
	switch proto {
	case "tcp", "udp":
		if !hasFrom || !hasTo {
			return nil, newErr(400, "MissingParameter", "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange")
		}
		if from < 0 || from > 65535 || to < 0 || to > 65535 || from > to {
			return nil, newErr(400, "InvalidParameterValue", "Invalid port range %d-%d for protocol %s", from, to, proto)
		}
	case "icmp", "icmpv6":
		if !hasFrom {
			from = -1
		}
		if !hasTo {
			to = -1
		}
		if from < -1 || from > 255 || to < -1 || to > 255 {
			return nil, newErr(400, "InvalidParameterValue", "Invalid ICMP type %d or code %d", from, to)
		}
	default:
		from, to = -1, -1 // AWS ignores ports for all other protocols
	}
	base := ruleKey{egress: egress, protocol: proto, from: from, to: to}
	var out []permission
	add := func(kind ruleKind, peer, desc string) *apiError {
		if err := checkDescription(desc); err != nil {
			return err
		}
		k := base
		k.kind, k.peer = kind, peer
		out = append(out, permission{ruleKey: k, desc: desc})
		return nil
	}
	for _, r := range p.list("IpRanges") {
		c, err := parseCIDR(r.str("CidrIp"), false, where+"IpRanges.N.CidrIp")
		if err != nil {
			return nil, err
		}
		if err := add(kindIPv4, c, r.str("Description")); err != nil {
			return nil, err
		}
	}
	for _, r := range p.list("Ipv6Ranges") {
		c, err := parseCIDR(r.str("CidrIpv6"), true, where+"Ipv6Ranges.N.CidrIpv6")
		if err != nil {
			return nil, err
		}
		if err := add(kindIPv6, c, r.str("Description")); err != nil {
			return nil, err
		}
	}
	for _, r := range p.list("Groups") {
		id, err := e.referencedGroup(r.str("GroupId"), r.str("GroupName"), g, revoke, where)
		if err != nil {
			return nil, err
		}
		if err := add(kindGroup, id, r.str("Description")); err != nil {
			return nil, err
		}
	}
	if p.present("PrefixListIds") {
		return nil, newErr(400, "InvalidParameterValue", "ec2emu does not support prefix list rules")
	}
	// The legacy single-permission form of AuthorizeSecurityGroupIngress.
	if where == "" {
		if c := p.str("CidrIp"); c != "" {
			c, err := parseCIDR(c, false, "CidrIp")
			if err != nil {
				return nil, err
			}
			_ = add(kindIPv4, c, "")
		}
		if n := p.str("SourceSecurityGroupName"); n != "" {
			id, err := e.referencedGroup("", n, g, revoke, where)
			if err != nil {
				return nil, err
			}
			_ = add(kindGroup, id, "")
		}
	}
	if len(out) == 0 {
		return nil, newErr(400, "MissingParameter",
			"%s: a permission must name at least one IPv4 range, IPv6 range or security group", strings.TrimSuffix(where, "."))
	}
	return out, nil
}

// referencedGroup resolves a Groups.N peer. On revoke an unknown group is left for
// the rule lookup to report as InvalidPermission.NotFound.
func (e *Emulator) referencedGroup(id, name string, g *group, revoke bool, where string) (string, *apiError) {
	if id == "" && name == "" {
		return "", errMissing(where + "Groups.N.GroupId")
	}
	if id == "" {
		for _, o := range e.groups {
			if o.vpc == g.vpc && o.name == name {
				return o.id, nil
			}
		}
		if revoke {
			return "name:" + name, nil
		}
		return "", newErr(400, "InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", name, g.vpc)
	}
	o, ok := e.groups[id]
	if revoke {
		return id, nil
	}
	if !ok {
		return "", newErr(400, "InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	}
	if o.vpc != g.vpc {
		return "", newErr(400, "InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", id, g.vpc)
	}
	return id, nil
}

// parseCIDR checks a rule's CIDR block and returns it as AWS shows it.
func parseCIDR(s string, v6 bool, param string) (string, *apiError) {
	if s == "" {
		return "", errMissing(param)
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil || pfx.Addr().Is4In6() || pfx.Addr().Zone() != "" {
		return "", newErr(400, "InvalidParameterValue", "Value (%s) for parameter cidrIp is invalid. This is not a valid CIDR block.", s)
	}
	if pfx.Addr().Is4() == v6 {
		if v6 {
			return "", newErr(400, "InvalidParameterValue", "Value (%s) for parameter cidrIpv6 is invalid. This is not a valid IPv6 CIDR block.", s)
		}
		return "", newErr(400, "InvalidParameterValue", "Value (%s) for parameter cidrIp is invalid. This is not a valid IPv4 CIDR block.", s)
	}
	if pfx != pfx.Masked() {
		return "", newErr(400, "InvalidParameterValue", "CIDR block %s is malformed", s)
	}
	return pfx.String(), nil
}

// permissions reads every permission of an authorize or revoke call.
func (e *Emulator) permissions(p *params, g *group, egress, revoke bool) ([]permission, *apiError) {
	var out []permission
	for i, m := range p.list("IpPermissions") {
		ps, err := e.parsePermission(m, g, egress, revoke, "IpPermissions."+strconv.Itoa(i+1)+".")
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	if len(out) == 0 && !egress && (p.has("IpProtocol") || p.has("CidrIp") || p.has("SourceSecurityGroupName")) {
		return e.parsePermission(p, g, egress, revoke, "")
	}
	return out, nil
}

// lookupGroup finds the group a call names by GroupId or, failing that, GroupName.
func (e *Emulator) lookupGroup(p *params) (*group, *apiError) {
	if id := p.str("GroupId"); id != "" {
		g, ok := e.groups[id]
		if !ok {
			return nil, newErr(400, "InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
		return g, nil
	}
	if name := p.str("GroupName"); name != "" {
		var found *group
		for _, id := range sortedKeys(e.groups) {
			if g := e.groups[id]; g.name == name {
				if found != nil {
					return nil, newErr(400, "InvalidParameterValue",
						"Security group name '%s' is ambiguous: use GroupId", name)
				}
				found = g
			}
		}
		if found == nil {
			return nil, newErr(400, "InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", name, e.defaultVPC)
		}
		return found, nil
	}
	return nil, errMissing("GroupId")
}

func ruleText(k ruleKey) string {
	var b strings.Builder
	b.WriteString(`"peer: `)
	b.WriteString(k.peer)
	b.WriteString(", ")
	if k.protocol == "-1" {
		b.WriteString("ALL")
	} else {
		b.WriteString(strings.ToUpper(k.protocol))
	}
	if hasPorts(k.protocol) {
		b.WriteString(", from port: " + strconv.Itoa(int(k.from)) + ", to port: " + strconv.Itoa(int(k.to)))
	}
	b.WriteString(`, ALLOW"`)
	return b.String()
}

// countRules counts a group's rules in one direction per address family; a group
// reference counts in both.
func countRules(g *group, egress bool) (v4, v6 int) {
	for _, r := range g.rules {
		if r.egress != egress {
			continue
		}
		switch r.kind {
		case kindIPv4:
			v4++
		case kindIPv6:
			v6++
		default:
			v4++
			v6++
		}
	}
	return v4, v6
}

func (e *Emulator) authorize(p *params, egress bool) (any, *apiError) {
	g, err := e.lookupGroup(p)
	if err != nil {
		return nil, err
	}
	perms, err := e.permissions(p, g, egress, false)
	if err != nil {
		return nil, err
	}
	if len(perms) == 0 {
		return nil, errMissing("IpPermissions")
	}
	ruleTags, err := parseTagSpecs(p, "security-group-rule")
	if err != nil {
		return nil, err
	}
	seen := map[ruleKey]bool{}
	for _, pm := range perms {
		if g.byKey[pm.ruleKey] != nil || seen[pm.ruleKey] {
			return nil, newErr(400, "InvalidPermission.Duplicate",
				"the specified rule %s already exists", ruleText(pm.ruleKey))
		}
		seen[pm.ruleKey] = true
	}
	v4, v6 := countRules(g, egress)
	for _, pm := range perms {
		switch pm.kind {
		case kindIPv4:
			v4++
		case kindIPv6:
			v6++
		default:
			v4++
			v6++
		}
	}
	if v4 > e.opts.RulesPerGroup || v6 > e.opts.RulesPerGroup {
		return nil, newErr(400, "RulesPerSecurityGroupLimitExceeded",
			"The maximum number of rules per security group has been reached.")
	}
	if p.dryRun() {
		return nil, errDryRun
	}
	resp := &authorizeResponse{Return: true}
	for _, pm := range perms {
		r := e.addRule(g, pm.ruleKey, pm.desc)
		r.tags = copyTags(ruleTags)
		resp.SecurityGroupRuleSet = append(resp.SecurityGroupRuleSet, xmlRuleOf(r))
	}
	return resp, nil
}

func (e *Emulator) addRule(g *group, k ruleKey, desc string) *rule {
	r := &rule{id: e.newID("sgr"), group: g.id, ruleKey: k, desc: desc, tags: map[string]string{}}
	g.rules = append(g.rules, r)
	g.byKey[k] = r
	e.rules[r.id] = r
	return r
}

func (e *Emulator) revoke(p *params, egress bool) (any, *apiError) {
	g, err := e.lookupGroup(p)
	if err != nil {
		return nil, err
	}
	ids := p.strList("SecurityGroupRuleId")
	perms, err := e.permissions(p, g, egress, true)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 && len(perms) > 0 {
		return nil, newErr(400, "InvalidParameterCombination",
			"You may specify either IpPermissions or SecurityGroupRuleIds, not both")
	}
	if len(ids) == 0 && len(perms) == 0 {
		return nil, errMissing("IpPermissions or SecurityGroupRuleId")
	}
	gone := map[*rule]bool{}
	var revoked []*rule
	for _, id := range ids {
		r := e.rules[id]
		if r == nil || r.group != g.id || r.egress != egress {
			return nil, newErr(400, "InvalidSecurityGroupRuleId.NotFound",
				"The security group rule ID '%s' does not exist in security group '%s'", id, g.id)
		}
		if !gone[r] {
			gone[r] = true
			revoked = append(revoked, r)
		}
	}
	for _, pm := range perms {
		r := g.byKey[pm.ruleKey]
		if r == nil {
			return nil, newErr(400, "InvalidPermission.NotFound",
				"The specified rule does not exist in this security group.")
		}
		if !gone[r] {
			gone[r] = true
			revoked = append(revoked, r)
		}
	}
	if p.dryRun() {
		return nil, errDryRun
	}
	resp := &revokeResponse{Return: true}
	for _, r := range revoked {
		x := xmlRevokedRule{
			SecurityGroupRuleID: r.id, GroupID: r.group, IsEgress: r.egress, IPProtocol: r.protocol,
			FromPort: r.from, ToPort: r.to, Description: r.desc,
		}
		switch r.kind {
		case kindIPv4:
			x.CidrIPv4 = r.peer
		case kindIPv6:
			x.CidrIPv6 = r.peer
		default:
			x.ReferencedGroupID = r.peer
		}
		resp.RevokedSecurityGroupRuleSet = append(resp.RevokedSecurityGroupRuleSet, x)
	}
	e.removeRules(g, gone)
	return resp, nil
}

func (e *Emulator) removeRules(g *group, gone map[*rule]bool) {
	kept := g.rules[:0]
	for _, r := range g.rules {
		if gone[r] {
			delete(g.byKey, r.ruleKey)
			delete(e.rules, r.id)
			continue
		}
		kept = append(kept, r)
	}
	for i := len(kept); i < len(g.rules); i++ {
		g.rules[i] = nil
	}
	g.rules = kept
}

func (e *Emulator) createSecurityGroup(p *params) (any, *apiError) {
	name, desc := p.str("GroupName"), p.str("GroupDescription")
	if name == "" {
		return nil, errMissing("GroupName")
	}
	if desc == "" {
		return nil, errMissing("GroupDescription")
	}
	if len(name) > 255 || len(desc) > 255 {
		return nil, newErr(400, "InvalidParameterValue", "Group name and description are limited to 255 characters")
	}
	if strings.EqualFold(name, "default") {
		return nil, newErr(400, "InvalidGroup.Reserved", "The security group 'default' is reserved")
	}
	if strings.HasPrefix(strings.ToLower(name), "sg-") {
		return nil, newErr(400, "InvalidParameterValue", "Group names may not be in the format sg-*")
	}
	vpcID := p.str("VpcId")
	if vpcID == "" {
		if e.defaultVPC == "" {
			return nil, newErr(400, "VPCIdNotSpecified", "No default VPC for this user")
		}
		vpcID = e.defaultVPC
	}
	if e.vpcs[vpcID] == nil {
		return nil, newErr(400, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
	}
	for _, g := range e.groups {
		if g.vpc == vpcID && g.name == name {
			return nil, newErr(400, "InvalidGroup.Duplicate",
				"The security group '%s' already exists for VPC '%s'", name, vpcID)
		}
	}
	tags, err := parseTagSpecs(p, "security-group")
	if err != nil {
		return nil, err
	}
	if p.dryRun() {
		return nil, errDryRun
	}
	g := e.newGroup(vpcID, name, desc, false)
	g.tags = tags
	return &createSecurityGroupResponse{GroupID: g.id, TagSet: xmlTags(g.tags)}, nil
}

// newGroup creates a group with AWS's default outbound rules (all traffic to
// 0.0.0.0/0, and to ::/0 when the VPC has an IPv6 block); a VPC's default group
// also admits all traffic from itself.
func (e *Emulator) newGroup(vpcID, name, desc string, isDefault bool) *group {
	g := &group{
		id: e.newID("sg"), name: name, desc: desc, vpc: vpcID, isDefault: isDefault,
		tags: map[string]string{}, byKey: map[ruleKey]*rule{},
	}
	e.groups[g.id] = g
	if isDefault {
		e.addRule(g, ruleKey{protocol: "-1", from: -1, to: -1, kind: kindGroup, peer: g.id}, "")
	}
	e.addRule(g, ruleKey{egress: true, protocol: "-1", from: -1, to: -1, kind: kindIPv4, peer: "0.0.0.0/0"}, "")
	if v := e.vpcs[vpcID]; v != nil && len(v.ipv6Blocks) > 0 {
		e.addRule(g, ruleKey{egress: true, protocol: "-1", from: -1, to: -1, kind: kindIPv6, peer: "::/0"}, "")
	}
	return g
}

func (e *Emulator) deleteSecurityGroup(p *params) (any, *apiError) {
	g, err := e.lookupGroup(p)
	if err != nil {
		return nil, err
	}
	if g.isDefault {
		return nil, newErr(400, "CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", g.id)
	}
	for _, id := range sortedKeys(e.enis) {
		for _, gid := range e.enis[id].groups {
			if gid == g.id {
				return nil, newErr(400, "DependencyViolation", "resource %s has a dependent object", g.id)
			}
		}
	}
	for _, o := range e.groups {
		if o == g {
			continue
		}
		for _, r := range o.rules {
			if r.kind == kindGroup && r.peer == g.id {
				return nil, newErr(400, "DependencyViolation", "resource %s has a dependent object", g.id)
			}
		}
	}
	if p.dryRun() {
		return nil, errDryRun
	}
	for _, r := range g.rules {
		delete(e.rules, r.id)
	}
	delete(e.groups, g.id)
	return &deleteSecurityGroupResponse{Return: true, GroupID: g.id}, nil
}

// xmlPermissions groups a direction's rules by (protocol, from, to) as
// DescribeSecurityGroups does, in the order the groups' first rules were added.
func xmlPermissions(g *group, egress bool) []xmlPermission {
	type pk struct {
		protocol string
		from, to int32
	}
	idx := map[pk]int{}
	var out []xmlPermission
	for _, r := range g.rules {
		if r.egress != egress {
			continue
		}
		k := pk{r.protocol, r.from, r.to}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			x := xmlPermission{IPProtocol: r.protocol}
			if hasPorts(r.protocol) {
				from, to := r.from, r.to
				x.FromPort, x.ToPort = &from, &to
			}
			out = append(out, x)
		}
		switch r.kind {
		case kindIPv4:
			out[i].IPRanges = append(out[i].IPRanges, xmlIPRange{CidrIP: r.peer, Description: r.desc})
		case kindIPv6:
			out[i].IPv6Ranges = append(out[i].IPv6Ranges, xmlIPv6Range{CidrIPv6: r.peer, Description: r.desc})
		default:
			out[i].Groups = append(out[i].Groups, xmlGroupPair{UserID: AccountID, GroupID: r.peer, Description: r.desc})
		}
	}
	return out
}

func xmlSecurityGroupOf(g *group) xmlSecurityGroup {
	return xmlSecurityGroup{
		OwnerID: AccountID, GroupID: g.id, GroupName: g.name, GroupDescription: g.desc, VpcID: g.vpc,
		IPPermissions:       xmlPermissions(g, false),
		IPPermissionsEgress: xmlPermissions(g, true),
		TagSet:              xmlTags(g.tags),
	}
}

func xmlRuleOf(r *rule) xmlRule {
	x := xmlRule{
		SecurityGroupRuleID: r.id, GroupID: r.group, GroupOwnerID: AccountID, IsEgress: r.egress,
		IPProtocol: r.protocol, FromPort: r.from, ToPort: r.to, Description: r.desc, TagSet: xmlTags(r.tags),
	}
	switch r.kind {
	case kindIPv4:
		x.CidrIPv4 = r.peer
	case kindIPv6:
		x.CidrIPv6 = r.peer
	default:
		x.ReferencedGroupInfo = &xmlReferencedGroup{GroupID: r.peer, UserID: AccountID}
	}
	return x
}

func (e *Emulator) describeSecurityGroups(p *params) (any, *apiError) {
	fs, err := p.filters("vpc-id", "group-id", "group-name", "description", "owner-id")
	if err != nil {
		return nil, err
	}
	pg, err := parsePaging(p, "GroupId")
	if err != nil {
		return nil, err
	}
	wantIDs, wantNames := map[string]bool{}, map[string]bool{}
	for _, id := range p.strList("GroupId") {
		if e.groups[id] == nil {
			return nil, newErr(400, "InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
		wantIDs[id] = true
	}
	for _, n := range p.strList("GroupName") {
		found := false
		for _, g := range e.groups {
			found = found || g.name == n
		}
		if !found {
			return nil, newErr(400, "InvalidGroup.NotFound", "The security group '%s' does not exist", n)
		}
		wantNames[n] = true
	}
	var ids []string
	for _, id := range sortedKeys(e.groups) {
		g := e.groups[id]
		if len(wantIDs) > 0 && !wantIDs[id] || len(wantNames) > 0 && !wantNames[g.name] {
			continue
		}
		if !matchFilters(fs, g.tags, func(name string) []string {
			switch name {
			case "vpc-id":
				return []string{g.vpc}
			case "group-id":
				return []string{g.id}
			case "group-name":
				return []string{g.name}
			case "description":
				return []string{g.desc}
			case "owner-id":
				return []string{AccountID}
			}
			return nil
		}) {
			continue
		}
		ids = append(ids, id)
	}
	if p.dryRun() {
		return nil, errDryRun
	}
	ids, next := pg.page(ids)
	resp := &describeSecurityGroupsResponse{NextToken: next}
	for _, id := range ids {
		resp.SecurityGroupInfo = append(resp.SecurityGroupInfo, xmlSecurityGroupOf(e.groups[id]))
	}
	return resp, nil
}

func (e *Emulator) describeSecurityGroupRules(p *params) (any, *apiError) {
	fs, err := p.filters("group-id", "security-group-rule-id")
	if err != nil {
		return nil, err
	}
	pg, err := parsePaging(p, "")
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range p.strList("SecurityGroupRuleId") {
		if e.rules[id] == nil {
			return nil, newErr(400, "InvalidSecurityGroupRuleId.NotFound",
				"The security group rule ID '%s' does not exist", id)
		}
		want[id] = true
	}
	var ids []string
	for id, r := range e.rules {
		if len(want) > 0 && !want[id] {
			continue
		}
		if !matchFilters(fs, r.tags, func(name string) []string {
			switch name {
			case "group-id":
				return []string{r.group}
			case "security-group-rule-id":
				return []string{r.id}
			}
			return nil
		}) {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if p.dryRun() {
		return nil, errDryRun
	}
	ids, next := pg.page(ids)
	resp := &describeSecurityGroupRulesResponse{NextToken: next}
	for _, id := range ids {
		resp.SecurityGroupRuleSet = append(resp.SecurityGroupRuleSet, xmlRuleOf(e.rules[id]))
	}
	return resp, nil
}

// checkDescription holds a rule description to AWS's constraints: at most 255
// characters of a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*
// (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html).
func checkDescription(desc string) *apiError {
	if len(desc) > 255 {
		return newErr(400, "InvalidParameterValue", "Rule description exceeds 255 characters")
	}
	for _, c := range desc {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(" ._-:/()#,@[]+=&;{}!$*", c)
		if !ok {
			return newErr(400, "InvalidParameterValue",
				"Invalid rule description. Valid descriptions are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
		}
	}
	return nil
}

// updateRuleDescriptions is UpdateSecurityGroupRuleDescriptionsIngress and
// ...Egress: new descriptions for existing rules, named by rule ID
// (SecurityGroupRuleDescription.N, as the SDKs send the list) or by their properties (IpPermissions.N, whose
// ranges carry the new descriptions). Nothing changes unless every rule is found.
func (e *Emulator) updateRuleDescriptions(p *params, egress bool) (any, *apiError) {
	g, err := e.lookupGroup(p)
	if err != nil {
		return nil, err
	}
	byID := p.list("SecurityGroupRuleDescription")
	perms, err := e.permissions(p, g, egress, true)
	if err != nil {
		return nil, err
	}
	if len(byID) > 0 && len(perms) > 0 {
		return nil, newErr(400, "InvalidParameterCombination",
			"You may specify either IpPermissions or SecurityGroupRuleDescriptions, not both")
	}
	if len(byID) == 0 && len(perms) == 0 {
		return nil, errMissing("IpPermissions or SecurityGroupRuleDescriptions")
	}
	updates := map[*rule]string{}
	for i, d := range byID {
		id := d.str("SecurityGroupRuleId")
		if id == "" {
			return nil, errMissing("SecurityGroupRuleDescription." + strconv.Itoa(i+1) + ".SecurityGroupRuleId")
		}
		r := e.rules[id]
		if r == nil || r.group != g.id || r.egress != egress {
			return nil, newErr(400, "InvalidSecurityGroupRuleId.NotFound",
				"The security group rule ID '%s' does not exist in security group '%s'", id, g.id)
		}
		if err := checkDescription(d.str("Description")); err != nil {
			return nil, err
		}
		updates[r] = d.str("Description")
	}
	for _, pm := range perms {
		r := g.byKey[pm.ruleKey]
		if r == nil {
			return nil, newErr(400, "InvalidPermission.NotFound",
				"The specified rule does not exist in this security group.")
		}
		updates[r] = pm.desc
	}
	if p.dryRun() {
		return nil, errDryRun
	}
	for r, desc := range updates {
		r.desc = desc
	}
	return &updateRuleDescriptionsResponse{Return: true}, nil
}
