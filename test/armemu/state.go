package armemu

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// ref names a resource by lower-case keys: its resource group, its parent (the
// virtual network of a subnet, "" otherwise) and its name.
type ref struct{ rg, parent, name string }

func (r ref) zero() bool { return r == ref{} }

// meta is what every top-level resource has. name keeps the case it was
// created with; Azure keeps it too, and matches names case-insensitively.
type meta struct {
	name, location, etag, guid string
	tags                       map[string]string
}

type resourceGroup struct {
	name, location string
	asgs           map[string]*asg
	nsgs           map[string]*nsg
	nics           map[string]*nic
	vnets          map[string]*vnet
	vms            map[string]*vm
}

type asg struct{ meta }

type nsg struct {
	meta
	rules []*rule // custom rules in the order they were sent
}

// rule is a security rule. Ports and prefixes are kept as one list each: a
// single value sent in the singular field and a one-element plural list are
// the same rule to Azure, which returns both in the singular field.
type rule struct {
	name, description, protocol, access, direction string
	priority                                       int32
	srcPorts, dstPorts                             []string
	srcPrefixes, dstPrefixes                       []string
	srcASGs, dstASGs                               []ref
}

type nic struct {
	meta
	vm        ref // zero when attached to no VM
	mac       string
	nsg       ref // zero when none
	ipconfigs []*ipconfig
}

type ipconfig struct {
	name, address, version, allocation string
	primary                            bool
	subnet                             ref // zero when none
	asgs                               []ref
}

type vnet struct {
	meta
	prefixes []string
	subnets  []*subnet // in the order they were added
}

type subnet struct {
	name, prefix string
	nsg          ref
}

type vm struct {
	meta
	vmID string
	nics []ref
}

func key(s string) string { return strings.ToLower(s) }

// AddResourceGroup adds a resource group in a location ("westeurope"), where
// resources added later go. Adding one twice changes nothing.
func (e *Emulator) AddResourceGroup(name, location string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rgs[key(name)] != nil {
		return
	}
	e.rgs[key(name)] = &resourceGroup{
		name: name, location: normLocation(location),
		asgs: map[string]*asg{}, nsgs: map[string]*nsg{}, nics: map[string]*nic{},
		vnets: map[string]*vnet{}, vms: map[string]*vm{},
	}
}

// mustRG returns a resource group for a seeding method, which panics on a
// test's mistake as ec2emu's do.
func (e *Emulator) mustRG(method, rg string) *resourceGroup {
	g := e.rgs[key(rg)]
	if g == nil {
		panic(fmt.Sprintf("armemu: %s in unknown resource group %q: AddResourceGroup it first", method, rg))
	}
	return g
}

// AddVNet adds a virtual network with its address prefixes in the resource
// group's location and returns its ID.
func (e *Emulator) AddVNet(rg, name string, prefixes []string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.mustRG("AddVNet", rg)
	if g.vnets[key(name)] == nil {
		g.vnets[key(name)] = &vnet{meta: e.newMeta(name, g.location, nil), prefixes: append([]string(nil), prefixes...)}
	}
	return e.id(g, typeVNet, g.vnets[key(name)].name)
}

// AddSubnet adds a subnet, without a network security group, to a virtual
// network added before and returns its ID.
func (e *Emulator) AddSubnet(rg, vnetName, name, prefix string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.mustRG("AddSubnet", rg)
	v := g.vnets[key(vnetName)]
	if v == nil {
		panic(fmt.Sprintf("armemu: AddSubnet in unknown virtual network %q", vnetName))
	}
	if v.subnet(name) == nil {
		v.subnets = append(v.subnets, &subnet{name: name, prefix: prefix})
		v.etag = e.newEtag()
	}
	return e.subnetID(ref{rg: key(rg), parent: key(vnetName), name: key(name)}, false)
}

// AddVM adds a virtual machine with tags, and no network interface until
// AddNIC attaches one, and returns its ID.
func (e *Emulator) AddVM(rg, name string, tags map[string]string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.mustRG("AddVM", rg)
	if g.vms[key(name)] == nil {
		g.vms[key(name)] = &vm{meta: e.newMeta(name, g.location, tags), vmID: e.newUUID()}
	}
	return e.id(g, typeVM, g.vms[key(name)].name)
}

// NICSpec describes a network interface for AddNIC.
type NICSpec struct {
	Tags map[string]string
	// VM is the name of a VM of the same resource group the interface is
	// attached to, "" for none.
	VM string
	// Subnet is the ID AddSubnet returned.
	Subnet string
	// Addresses are the private addresses, one IP configuration each
	// (ipconfig1, ipconfig2...), the first primary. One with a colon is IPv6.
	Addresses []string
	// MAC is the MAC address, generated when "".
	MAC string
}

// AddNIC adds a network interface in the resource group's location, without
// application security groups, and returns its ID. It panics on an unknown
// VM or subnet.
func (e *Emulator) AddNIC(rg, name string, spec NICSpec) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.mustRG("AddNIC", rg)
	n := &nic{meta: e.newMeta(name, g.location, spec.Tags), mac: spec.MAC}
	if n.mac == "" {
		n.mac = e.newMAC()
	}
	sn := e.mustSubnet(spec.Subnet)
	for i, a := range spec.Addresses {
		version := "IPv4"
		if strings.Contains(a, ":") {
			version = "IPv6"
		}
		n.ipconfigs = append(n.ipconfigs, &ipconfig{name: fmt.Sprintf("ipconfig%d", i+1), address: a,
			version: version, allocation: "Dynamic", primary: i == 0, subnet: sn})
	}
	if spec.VM != "" {
		v := g.vms[key(spec.VM)]
		if v == nil {
			panic(fmt.Sprintf("armemu: AddNIC with unknown VM %q: AddVM it first", spec.VM))
		}
		n.vm = ref{rg: key(rg), name: key(spec.VM)}
		v.nics = append(v.nics, ref{rg: key(rg), name: key(name)})
	}
	g.nics[key(name)] = n
	return e.id(g, typeNIC, n.name)
}

func (e *Emulator) mustSubnet(id string) ref {
	if id == "" {
		return ref{}
	}
	a, ok := parseID(id)
	if !ok || !a.is(e.opts.SubscriptionID, typeSubnet) {
		panic(fmt.Sprintf("armemu: %q is not a subnet ID", id))
	}
	r := ref{rg: key(a.rg), parent: key(a.name), name: key(a.childName)}
	if e.subnetOf(r) == nil {
		panic(fmt.Sprintf("armemu: no subnet %q: AddSubnet it first", id))
	}
	return r
}

func (v *vnet) subnet(name string) *subnet {
	for _, s := range v.subnets {
		if key(s.name) == key(name) {
			return s
		}
	}
	return nil
}

func (e *Emulator) newMeta(name, location string, tags map[string]string) meta {
	return meta{name: name, location: location, etag: e.newEtag(), guid: e.newUUID(), tags: copyTags(tags)}
}

// newUUID draws a version-4 UUID from the ID PRNG.
func (e *Emulator) newUUID() string {
	hi, lo := e.ids.Uint64(), e.ids.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xfff,
		0x8000|lo>>48&0x3fff, lo&0xffffffffffff)
}

// newEtag is a weak etag, as NRP returns them.
func (e *Emulator) newEtag() string { return `W/"` + e.newUUID() + `"` }

// newMAC uses Microsoft's 00-0D-3A prefix and Azure's dashed upper-case form.
func (e *Emulator) newMAC() string {
	x := e.ids.Uint32()
	return fmt.Sprintf("00-0D-3A-%02X-%02X-%02X", x>>16&0xff, x>>8&0xff, x&0xff)
}

// id is a resource's own ID, with its resource group as created.
func (e *Emulator) id(g *resourceGroup, typ, name string) string {
	return "/subscriptions/" + e.opts.SubscriptionID + "/resourceGroups/" + g.name + "/providers/" + typ + "/" + name
}

// refID is the ID of a referenced resource as Azure returns it inside another
// resource: with the resource group upper-cased, which a client that compares
// IDs case-sensitively gets wrong. "" when the resource no longer exists.
func (e *Emulator) refID(typ string, r ref) string {
	g := e.rgs[r.rg]
	if g == nil {
		return ""
	}
	var name string
	switch typ {
	case typeASG:
		if x := g.asgs[r.name]; x != nil {
			name = x.name
		}
	case typeNSG:
		if x := g.nsgs[r.name]; x != nil {
			name = x.name
		}
	case typeNIC:
		if x := g.nics[r.name]; x != nil {
			name = x.name
		}
	case typeVM:
		if x := g.vms[r.name]; x != nil {
			name = x.name
		}
	case typeSubnet:
		return e.subnetID(r, true)
	}
	if name == "" {
		return ""
	}
	return "/subscriptions/" + e.opts.SubscriptionID + "/resourceGroups/" + strings.ToUpper(g.name) + "/providers/" + typ + "/" + name
}

func (e *Emulator) subnetID(r ref, upper bool) string {
	g := e.rgs[r.rg]
	if g == nil || g.vnets[r.parent] == nil || g.vnets[r.parent].subnet(r.name) == nil {
		return ""
	}
	v := g.vnets[r.parent]
	rg := g.name
	if upper {
		rg = strings.ToUpper(rg)
	}
	return "/subscriptions/" + e.opts.SubscriptionID + "/resourceGroups/" + rg + "/providers/" + typeVNet + "/" +
		v.name + "/subnets/" + v.subnet(r.name).name
}

func (e *Emulator) subnetOf(r ref) *subnet {
	if g := e.rgs[r.rg]; g != nil && g.vnets[r.parent] != nil {
		return g.vnets[r.parent].subnet(r.name)
	}
	return nil
}

func (e *Emulator) vnetOf(r ref) *vnet {
	if g := e.rgs[r.rg]; g != nil {
		return g.vnets[r.parent]
	}
	return nil
}

// resolve finds the resource an ID in a request body names, of the given type,
// in the subscription. path names the property, for the error.
func (e *Emulator) resolve(id, typ, path, by string) (ref, *apiError) {
	a, ok := parseID(id)
	if !ok {
		return ref{}, errLinkedID(id, path)
	}
	if !a.is(e.opts.SubscriptionID, typ) {
		return ref{}, errReference(id, by)
	}
	r := ref{rg: key(a.rg), name: key(a.name)}
	if a.child != "" {
		r = ref{rg: key(a.rg), parent: key(a.name), name: key(a.childName)}
	}
	g := e.rgs[r.rg]
	found := false
	if g != nil {
		switch typ {
		case typeASG:
			found = g.asgs[r.name] != nil
		case typeNSG:
			found = g.nsgs[r.name] != nil
		case typeSubnet:
			found = e.subnetOf(r) != nil
		}
	}
	if !found {
		return ref{}, errReference(id, by)
	}
	return r, nil
}

// locationOf is the location of a referenced ASG, NSG or (its network's) subnet.
func (e *Emulator) locationOf(typ string, r ref) string {
	g := e.rgs[r.rg]
	switch typ {
	case typeASG:
		return g.asgs[r.name].location
	case typeNSG:
		return g.nsgs[r.name].location
	case typeSubnet:
		return g.vnets[r.parent].location
	}
	return ""
}

func copyTags(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// validAddress is an IP address or a CIDR without host bits, as Azure wants.
func validAddress(s string) bool {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Zone() == ""
	}
	p, err := netip.ParsePrefix(s)
	return err == nil && p.Masked() == p
}
