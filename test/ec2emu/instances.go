package ec2emu

import (
	"sort"
	"strings"
)

// stateCodes are EC2's instance state codes.
var stateCodes = map[string]int32{
	"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80,
}

// tagsOf returns the tag map of a taggable resource: sg-, sgr-, eni- or i-.
func (e *Emulator) tagsOf(id string) (map[string]string, *apiError) {
	switch {
	case strings.HasPrefix(id, "sg-"):
		if g := e.groups[id]; g != nil {
			return g.tags, nil
		}
		return nil, newErr(400, "InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	case strings.HasPrefix(id, "sgr-"):
		if r := e.rules[id]; r != nil {
			return r.tags, nil
		}
		return nil, newErr(400, "InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", id)
	case strings.HasPrefix(id, "eni-"):
		if n := e.enis[id]; n != nil {
			return n.tags, nil
		}
		return nil, newErr(400, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
	case strings.HasPrefix(id, "i-"):
		if in := e.instances[id]; in != nil {
			return in.tags, nil
		}
		return nil, newErr(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	return nil, newErr(400, "InvalidID", "The ID '%s' is not valid", id)
}

func (e *Emulator) createTags(p *params) (any, *apiError) {
	ids := p.strList("ResourceId")
	if len(ids) == 0 {
		return nil, errMissing("ResourceId")
	}
	tags, _, order, err := parseTags(p)
	if err != nil {
		return nil, err
	}
	if len(order) == 0 {
		return nil, errMissing("Tag")
	}
	var targets []map[string]string
	for _, id := range ids {
		m, err := e.tagsOf(id)
		if err != nil {
			return nil, err
		}
		n := len(m)
		for k := range tags {
			if _, ok := m[k]; !ok {
				n++
			}
		}
		if n > maxTags {
			return nil, newErr(400, "TagLimitExceeded", "The maximum number of tags per resource (%d) has been reached.", maxTags)
		}
		targets = append(targets, m)
	}
	if p.dryRun() {
		return nil, errDryRun
	}
	for _, m := range targets {
		for k, v := range tags {
			m[k] = v
		}
	}
	return &returnResponse{Return: true}, nil
}

// deleteTags removes the named tags (those sent with a Value only if it matches),
// or every tag when no Tag.N is sent, as AWS does.
func (e *Emulator) deleteTags(p *params) (any, *apiError) {
	ids := p.strList("ResourceId")
	if len(ids) == 0 {
		return nil, errMissing("ResourceId")
	}
	tags, withValue, order, err := parseTags(p)
	if err != nil {
		return nil, err
	}
	var targets []map[string]string
	for _, id := range ids {
		m, err := e.tagsOf(id)
		if err != nil {
			return nil, err
		}
		targets = append(targets, m)
	}
	if p.dryRun() {
		return nil, errDryRun
	}
	for _, m := range targets {
		if len(order) == 0 {
			for k := range m {
				delete(m, k)
			}
			continue
		}
		for k, v := range tags {
			if cur, ok := m[k]; ok && (!withValue[k] || cur == v) {
				delete(m, k)
			}
		}
	}
	return &returnResponse{Return: true}, nil
}

func (e *Emulator) groupIdentifiers(ids []string) []xmlGroupIdentifier {
	out := make([]xmlGroupIdentifier, 0, len(ids))
	for _, id := range ids {
		x := xmlGroupIdentifier{GroupID: id}
		if g := e.groups[id]; g != nil {
			x.GroupName = g.name
		}
		out = append(out, x)
	}
	return out
}

func attachmentID(eniID string) string {
	return "eni-attach-" + strings.TrimPrefix(eniID, "eni-")
}

// privateIPs lists an interface's private IPv4 addresses as AWS does: the primary
// one (flagged) first, then the secondary ones in the order they were added.
func privateIPs(n *eni) []xmlPrivateIP {
	var out []xmlPrivateIP
	if n.ip != "" {
		out = append(out, xmlPrivateIP{PrivateIPAddress: n.ip, Primary: true})
	}
	for _, ip := range n.secondary {
		out = append(out, xmlPrivateIP{PrivateIPAddress: ip})
	}
	return out
}

func ipv6Addresses(n *eni) []xmlIPv6Address {
	out := make([]xmlIPv6Address, 0, len(n.ipv6))
	for _, ip := range n.ipv6 {
		out = append(out, xmlIPv6Address{IPv6Address: ip})
	}
	return out
}

func (e *Emulator) xmlNetworkInterfaceOf(n *eni) xmlNetworkInterface {
	x := xmlNetworkInterface{
		NetworkInterfaceID: n.id, VpcID: n.vpc, OwnerID: AccountID, Status: "available",
		InterfaceType: "interface", PrivateIPAddress: n.ip, SourceDestCheck: true,
		PrivateIPAddresses: privateIPs(n), IPv6Addresses: ipv6Addresses(n),
		GroupSet: e.groupIdentifiers(n.groups), TagSet: xmlTags(n.tags),
	}
	if n.instance != "" {
		x.Status = "in-use"
		x.Attachment = &xmlAttachment{
			AttachmentID: attachmentID(n.id), InstanceID: n.instance, InstanceOwnerID: AccountID,
			Status: "attached", DeleteOnTermination: true,
		}
	}
	return x
}

func (e *Emulator) describeNetworkInterfaces(p *params) (any, *apiError) {
	fs, err := p.filters("vpc-id", "attachment.instance-id", "group-id", "network-interface-id",
		"private-ip-address", "status")
	if err != nil {
		return nil, err
	}
	pg, err := parsePaging(p, "NetworkInterfaceId")
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range p.strList("NetworkInterfaceId") {
		if e.enis[id] == nil {
			return nil, newErr(400, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
		}
		want[id] = true
	}
	var ids []string
	for _, id := range sortedKeys(e.enis) {
		n := e.enis[id]
		if len(want) > 0 && !want[id] {
			continue
		}
		if !matchFilters(fs, n.tags, func(name string) []string {
			switch name {
			case "vpc-id":
				return []string{n.vpc}
			case "attachment.instance-id":
				if n.instance != "" {
					return []string{n.instance}
				}
			case "group-id":
				return n.groups
			case "network-interface-id":
				return []string{n.id}
			case "private-ip-address":
				return []string{n.ip}
			case "status":
				if n.instance != "" {
					return []string{"in-use"}
				}
				return []string{"available"}
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
	resp := &describeNetworkInterfacesResponse{NextToken: next}
	for _, id := range ids {
		resp.NetworkInterfaceSet = append(resp.NetworkInterfaceSet, e.xmlNetworkInterfaceOf(e.enis[id]))
	}
	return resp, nil
}

func (e *Emulator) modifyNetworkInterfaceAttribute(p *params) (any, *apiError) {
	id := p.str("NetworkInterfaceId")
	if id == "" {
		return nil, errMissing("NetworkInterfaceId")
	}
	n := e.enis[id]
	if n == nil {
		return nil, newErr(400, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
	}
	if !p.present("SecurityGroupId") {
		// Other attributes (Description, SourceDestCheck, ...) are accepted and
		// ignored; a call that changes nothing is an error, as on AWS.
		for k := range p.kids {
			switch k {
			case "Action", "Version", "NetworkInterfaceId", "DryRun":
			default:
				if p.dryRun() {
					return nil, errDryRun
				}
				return &returnResponse{Return: true}, nil
			}
		}
		return nil, errMissing("SecurityGroupId")
	}
	var groups []string
	seen := map[string]bool{}
	for _, gid := range p.strList("SecurityGroupId") {
		g := e.groups[gid]
		if g == nil || g.vpc != n.vpc {
			return nil, newErr(400, "InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", gid, n.vpc)
		}
		if !seen[gid] {
			seen[gid] = true
			groups = append(groups, gid)
		}
	}
	if len(groups) == 0 {
		return nil, errMissing("SecurityGroupId")
	}
	if len(groups) > e.opts.GroupsPerENI {
		return nil, newErr(400, "SecurityGroupsPerInterfaceLimitExceeded",
			"The maximum number of security groups per interface (%d) has been reached.", e.opts.GroupsPerENI)
	}
	if p.dryRun() {
		return nil, errDryRun
	}
	n.groups = groups
	return &returnResponse{Return: true}, nil
}

func (e *Emulator) xmlInstanceOf(in *instance) xmlInstance {
	x := xmlInstance{
		InstanceID: in.id, ImageID: "ami-0123456789abcdef0", InstanceType: "t3.micro",
		InstanceState:    xmlInstanceState{Code: stateCodes[in.state], Name: in.state},
		PrivateIPAddress: in.ip, VpcID: in.vpc, TagSet: xmlTags(in.tags),
	}
	if n := e.enis[in.eni]; n != nil {
		x.GroupSet = e.groupIdentifiers(n.groups)
		x.NetworkInterfaceSet = []xmlInstanceNetworkInterface{{
			NetworkInterfaceID: n.id, VpcID: n.vpc, OwnerID: AccountID, Status: "in-use",
			InterfaceType: "interface", PrivateIPAddress: n.ip, SourceDestCheck: true,
			PrivateIPAddresses: privateIPs(n), IPv6Addresses: ipv6Addresses(n),
			GroupSet: e.groupIdentifiers(n.groups),
			Attachment: &xmlAttachment{
				AttachmentID: attachmentID(n.id), Status: "attached", DeleteOnTermination: true,
			},
		}}
	}
	return x
}

func (e *Emulator) describeInstances(p *params) (any, *apiError) {
	fs, err := p.filters("vpc-id", "instance-id", "instance-state-name", "private-ip-address",
		"instance.group-id", "network-interface.network-interface-id")
	if err != nil {
		return nil, err
	}
	pg, err := parsePaging(p, "InstanceId")
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range p.strList("InstanceId") {
		if e.instances[id] == nil {
			return nil, newErr(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
		want[id] = true
	}
	var ids []string
	for id, in := range e.instances {
		if len(want) > 0 && !want[id] {
			continue
		}
		if !matchFilters(fs, in.tags, func(name string) []string {
			switch name {
			case "vpc-id":
				return []string{in.vpc}
			case "instance-id":
				return []string{in.id}
			case "instance-state-name":
				return []string{in.state}
			case "private-ip-address":
				return []string{in.ip}
			case "instance.group-id":
				if n := e.enis[in.eni]; n != nil {
					return n.groups
				}
			case "network-interface.network-interface-id":
				if e.enis[in.eni] != nil {
					return []string{in.eni}
				}
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
	resp := &describeInstancesResponse{NextToken: next}
	for _, id := range ids {
		in := e.instances[id]
		resp.ReservationSet = append(resp.ReservationSet, xmlReservation{
			ReservationID: in.reservation, OwnerID: AccountID, InstancesSet: []xmlInstance{e.xmlInstanceOf(in)},
		})
	}
	return resp, nil
}
