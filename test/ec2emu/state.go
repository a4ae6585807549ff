package ec2emu

import (
	"fmt"
	"strings"
)

// AddVPC adds an IPv4-only VPC with its default security group, named "default",
// which admits all traffic from itself and sends all IPv4 traffic anywhere, as on
// AWS, and returns that group's ID. The first VPC added is the default VPC, where
// CreateSecurityGroup puts groups when it is sent no VpcId. Adding a VPC twice
// changes nothing.
func (e *Emulator) AddVPC(id string) (defaultGroupID string) {
	return e.addVPC(id, "")
}

// AddDualStackVPC adds a VPC with an IPv6 CIDR block associated, as AddVPC does
// otherwise. In such a VPC AWS gives the default group and every group created
// later two outbound rules: all traffic to 0.0.0.0/0 and all traffic to ::/0
// (https://docs.aws.amazon.com/vpc/latest/userguide/default-security-group.html).
func (e *Emulator) AddDualStackVPC(id, ipv6Block string) (defaultGroupID string) {
	return e.addVPC(id, ipv6Block)
}

func (e *Emulator) addVPC(id, ipv6Block string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if v := e.vpcs[id]; v != nil {
		return v.defaultGroup
	}
	v := &vpc{id: id}
	if ipv6Block != "" {
		v.ipv6Blocks = []string{ipv6Block}
	}
	e.vpcs[id] = v // before the group, whose default rules depend on the blocks
	v.defaultGroup = e.newGroup(id, "default", "default VPC security group", true).id
	if e.defaultVPC == "" {
		e.defaultVPC = id
	}
	return v.defaultGroup
}

// DefaultSecurityGroup returns the ID of a VPC's default security group, "" for
// an unknown VPC.
func (e *Emulator) DefaultSecurityGroup(vpcID string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if v := e.vpcs[vpcID]; v != nil {
		return v.defaultGroup
	}
	return ""
}

// AddInstance adds a running instance in a VPC added before, with the given tags
// and private IPv4 address, and its one network interface (attached, with the
// same address) in the VPC's default security group. It panics on an unknown VPC.
func (e *Emulator) AddInstance(vpcID string, tags map[string]string, ip string) (instanceID, eniID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.vpcs[vpcID]
	if v == nil {
		panic(fmt.Sprintf("ec2emu: AddInstance in unknown VPC %q: AddVPC it first", vpcID))
	}
	in := &instance{
		id: e.newID("i"), vpc: vpcID, ip: ip, state: "running", tags: copyTags(tags),
	}
	e.instances[in.id] = in // reserve the ID before drawing more
	in.reservation = e.newID("r")
	n := &eni{id: e.newID("eni"), vpc: vpcID, instance: in.id, ip: ip, groups: []string{v.defaultGroup}, tags: map[string]string{}}
	e.enis[n.id] = n
	in.eni = n.id
	return in.id, n.id
}

// AddAddresses gives a network interface more addresses, as AWS's
// AssignPrivateIpAddresses and AssignIpv6Addresses do: an address with a colon is
// an IPv6 address, any other a secondary private IPv4 address. DescribeInstances and
// DescribeNetworkInterfaces list them after the primary address, in the order they
// were added. The addresses are not checked, so that a test can hand a client the
// malformed ones a real API would not.
func (e *Emulator) AddAddresses(eniID string, addrs ...string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.enis[eniID]
	if n == nil {
		return fmt.Errorf("ec2emu: no network interface %q", eniID)
	}
	for _, a := range addrs {
		if strings.Contains(a, ":") {
			n.ipv6 = append(n.ipv6, a)
		} else {
			n.secondary = append(n.secondary, a)
		}
	}
	return nil
}

// AddNetworkInterface adds a network interface attached to no instance (as a load
// balancer's or a Lambda function's would be) in a VPC added before, with the
// given security groups, or the VPC's default group when none are given. It
// panics on an unknown VPC or group.
func (e *Emulator) AddNetworkInterface(vpcID, ip string, groupIDs ...string) (eniID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.vpcs[vpcID]
	if v == nil {
		panic(fmt.Sprintf("ec2emu: AddNetworkInterface in unknown VPC %q: AddVPC it first", vpcID))
	}
	if len(groupIDs) == 0 {
		groupIDs = []string{v.defaultGroup}
	}
	for _, g := range groupIDs {
		if e.groups[g] == nil || e.groups[g].vpc != vpcID {
			panic(fmt.Sprintf("ec2emu: AddNetworkInterface with group %q, not in VPC %q", g, vpcID))
		}
	}
	n := &eni{id: e.newID("eni"), vpc: vpcID, ip: ip, groups: append([]string(nil), groupIDs...), tags: map[string]string{}}
	e.enis[n.id] = n
	return n.id
}

// SetInstanceState sets an instance's state: pending, running, shutting-down,
// terminated, stopping or stopped. Terminating an instance deletes its network
// interface, and so its hold on its security groups, as AWS does.
func (e *Emulator) SetInstanceState(instanceID, state string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in := e.instances[instanceID]
	if in == nil {
		return fmt.Errorf("ec2emu: no instance %q", instanceID)
	}
	if _, ok := stateCodes[state]; !ok {
		return fmt.Errorf("ec2emu: unknown instance state %q", state)
	}
	in.state = state
	if state == "terminated" {
		delete(e.enis, in.eni)
	}
	return nil
}

// SecurityGroup is a snapshot of one security group.
type SecurityGroup struct {
	ID, Name, Description, VPCID string
	Tags                         map[string]string
	// Ingress and Egress are the group's rules in the order they were added.
	Ingress, Egress []Rule
}

// Rule is a snapshot of one security group rule. Exactly one of CIDRv4, CIDRv6
// and ReferencedGroupID is set. FromPort and ToPort are -1 for protocols without
// ports (and for ICMP's "all").
type Rule struct {
	ID, GroupID       string
	Egress            bool
	Protocol          string // tcp, udp, icmp, icmpv6, -1 (all) or a protocol number
	FromPort, ToPort  int32
	CIDRv4, CIDRv6    string
	ReferencedGroupID string
	Description       string
	Tags              map[string]string
}

// NetworkInterface is a snapshot of one network interface.
type NetworkInterface struct {
	ID, VPCID  string
	InstanceID string // "" when unattached
	PrivateIP  string
	Groups     []string
	Tags       map[string]string
}

// Instance is a snapshot of one instance.
type Instance struct {
	ID, VPCID, State, PrivateIP string
	NetworkInterfaceID          string // "" once terminated
	Tags                        map[string]string
}

func ruleOf(r *rule) Rule {
	x := Rule{
		ID: r.id, GroupID: r.group, Egress: r.egress, Protocol: r.protocol, FromPort: r.from, ToPort: r.to,
		Description: r.desc, Tags: copyTags(r.tags),
	}
	switch r.kind {
	case kindIPv4:
		x.CIDRv4 = r.peer
	case kindIPv6:
		x.CIDRv6 = r.peer
	default:
		x.ReferencedGroupID = r.peer
	}
	return x
}

func groupOf(g *group) SecurityGroup {
	x := SecurityGroup{ID: g.id, Name: g.name, Description: g.desc, VPCID: g.vpc, Tags: copyTags(g.tags)}
	for _, r := range g.rules {
		if r.egress {
			x.Egress = append(x.Egress, ruleOf(r))
		} else {
			x.Ingress = append(x.Ingress, ruleOf(r))
		}
	}
	return x
}

// SecurityGroups returns every security group, by ID.
func (e *Emulator) SecurityGroups() []SecurityGroup {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]SecurityGroup, 0, len(e.groups))
	for _, id := range sortedKeys(e.groups) {
		out = append(out, groupOf(e.groups[id]))
	}
	return out
}

// SecurityGroup returns one security group; ok is false when it does not exist.
func (e *Emulator) SecurityGroup(id string) (sg SecurityGroup, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.groups[id]
	if g == nil {
		return SecurityGroup{}, false
	}
	return groupOf(g), true
}

// Rules returns a security group's rules, inbound and outbound, in the order they
// were added; nil for an unknown group.
func (e *Emulator) Rules(groupID string) []Rule {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.groups[groupID]
	if g == nil {
		return nil
	}
	out := make([]Rule, 0, len(g.rules))
	for _, r := range g.rules {
		out = append(out, ruleOf(r))
	}
	return out
}

// NetworkInterfaces returns every network interface, by ID.
func (e *Emulator) NetworkInterfaces() []NetworkInterface {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]NetworkInterface, 0, len(e.enis))
	for _, id := range sortedKeys(e.enis) {
		n := e.enis[id]
		out = append(out, NetworkInterface{
			ID: n.id, VPCID: n.vpc, InstanceID: n.instance, PrivateIP: n.ip,
			Groups: append([]string(nil), n.groups...), Tags: copyTags(n.tags),
		})
	}
	return out
}

// Instances returns every instance, by ID.
func (e *Emulator) Instances() []Instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Instance, 0, len(e.instances))
	for _, id := range sortedKeys(e.instances) {
		in := e.instances[id]
		x := Instance{ID: in.id, VPCID: in.vpc, State: in.state, PrivateIP: in.ip, Tags: copyTags(in.tags)}
		if e.enis[in.eni] != nil {
			x.NetworkInterfaceID = in.eni
		}
		out = append(out, x)
	}
	return out
}

// RuleCount returns how many rules all security groups hold together.
func (e *Emulator) RuleCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.rules)
}
