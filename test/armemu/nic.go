package armemu

import (
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
)

// nicJSON renders a network interface. References (subnets, application
// security groups, VM, NSG) carry the upper-cased resource group.
func (e *Emulator) nicJSON(g *resourceGroup, n *nic, state string) nicJSON {
	id := e.id(g, typeNIC, n.name)
	out := nicJSON{ID: id, Name: n.name, Type: typeNIC, Location: n.location, Etag: n.etag, Tags: tagsOrNil(n.tags)}
	out.Properties = nicProps{IPConfigurations: []ipConfigJSON{}, MacAddress: n.mac, ResourceGUID: n.guid,
		ProvisioningState: state}
	if !n.vm.zero() {
		out.Properties.VirtualMachine = &subRes{ID: e.refID(typeVM, n.vm)}
		out.Properties.Primary = boolPtr(true)
	}
	if !n.nsg.zero() {
		out.Properties.NetworkSecurityGroup = &subRes{ID: e.refID(typeNSG, n.nsg)}
	}
	for _, ic := range n.ipconfigs {
		p := ipConfigProps{PrivateIPAddress: ic.address, PrivateIPAddressVersion: ic.version,
			PrivateIPAllocationMethod: ic.allocation, Primary: boolPtr(ic.primary), ProvisioningState: state,
			ApplicationSecurityGroups: e.asgRefs(ic.asgs)}
		if !ic.subnet.zero() {
			p.Subnet = &subRes{ID: e.refID(typeSubnet, ic.subnet)}
		}
		out.Properties.IPConfigurations = append(out.Properties.IPConfigurations, ipConfigJSON{
			ID: id + "/ipConfigurations/" + ic.name, Name: ic.name, Type: typeIPConf, Etag: n.etag, Properties: p,
		})
	}
	return out
}

func (e *Emulator) listNICs(req *armRequest) *response {
	if req.t.rg == "" {
		keys := e.allKeys(func(g *resourceGroup) []string { return sortedKeys(g.nics) })
		return e.listResp(req, keys, func(k string) any {
			rk, nk := splitKey(k)
			return e.nicJSON(e.rgs[rk], e.rgs[rk].nics[nk], "Succeeded")
		})
	}
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	return e.listResp(req, sortedKeys(g.nics), func(k string) any { return e.nicJSON(g, g.nics[k], "Succeeded") })
}

func (e *Emulator) getNIC(req *armRequest) *response {
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	n := g.nics[key(req.t.name)]
	if n == nil {
		return errResp(errNotFound(typeNIC, req.t.rg, req.t.name))
	}
	return okResp(http.StatusOK, e.nicJSON(g, n, "Succeeded"))
}

// putNIC replaces a network interface's tags, NSG and IP configurations whole.
// Its VM and MAC address are read-only. A dynamic configuration keeps the
// address it had, or gets the subnet's next free one.
func (e *Emulator) putNIC(req *armRequest) *response {
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	if !validName(req.t.name) {
		return errResp(errName(req.t.name))
	}
	var in nicJSON
	if aerr := decode(req.body, &in); aerr != nil {
		return errResp(aerr)
	}
	old := g.nics[key(req.t.name)]
	name, existingLoc, etag := req.t.name, "", ""
	if old != nil {
		name, existingLoc, etag = old.name, old.location, old.etag
	}
	if aerr := preconditions(req.header, old != nil, etag); aerr != nil {
		return errResp(aerr)
	}
	loc, aerr := checkLocation(in.Location, existingLoc, typeNIC, name, g.name)
	if aerr != nil {
		return errResp(aerr)
	}
	self := e.id(g, typeNIC, name)
	var nsgRef ref
	if in.Properties.NetworkSecurityGroup != nil && in.Properties.NetworkSecurityGroup.ID != "" {
		if nsgRef, aerr = e.resolveIn(in.Properties.NetworkSecurityGroup.ID, typeNSG, "properties.networkSecurityGroup.id", self, loc); aerr != nil {
			return errResp(aerr)
		}
	}
	ipconfigs, aerr := e.parseIPConfigs(self, loc, in.Properties.IPConfigurations, old)
	if aerr != nil {
		return errResp(aerr)
	}
	n := old
	if n == nil {
		n = &nic{meta: e.newMeta(name, loc, nil), mac: e.newMAC()}
		g.nics[key(name)] = n
	} else {
		n.etag = e.newEtag()
	}
	n.tags, n.nsg, n.ipconfigs = copyTags(in.Tags), nsgRef, ipconfigs
	return e.accepted(req, old == nil, loc, e.nicJSON(g, n, "Updating"))
}

// resolveIn resolves a reference that must also be in the given region.
func (e *Emulator) resolveIn(id, typ, path, by, location string) (ref, *apiError) {
	r, aerr := e.resolve(id, typ, path, by)
	if aerr == nil && e.locationOf(typ, r) != location {
		aerr = errReference(id, by)
	}
	return r, aerr
}

// parseIPConfigs validates a NIC's IP configurations: unique names, existing
// subnets and application security groups in the NIC's region, at most 20
// groups each, and the same groups on every IPv4 configuration.
func (e *Emulator) parseIPConfigs(self, loc string, in []ipConfigJSON, old *nic) ([]*ipconfig, *apiError) {
	out := make([]*ipconfig, 0, len(in))
	names := map[string]bool{}
	for i, icj := range in {
		p := icj.Properties
		if !validName(icj.Name) {
			return nil, errName(icj.Name)
		}
		if names[key(icj.Name)] {
			return nil, errDuplicateName(typeIPConf, icj.Name)
		}
		names[key(icj.Name)] = true
		icID := self + "/ipConfigurations/" + icj.Name
		ic := &ipconfig{name: icj.Name, address: p.PrivateIPAddress, version: "IPv4", allocation: "Dynamic",
			primary: p.Primary != nil && *p.Primary}
		if v, ok := canonical(p.PrivateIPAddressVersion, []string{"IPv4", "IPv6"}); ok {
			ic.version = v
		}
		if a, ok := canonical(p.PrivateIPAllocationMethod, []string{"Static", "Dynamic"}); ok {
			ic.allocation = a
		}
		if p.Subnet != nil && p.Subnet.ID != "" {
			r, aerr := e.resolveIn(p.Subnet.ID, typeSubnet, fmt.Sprintf("properties.ipConfigurations[%d].properties.subnet.id", i), icID, loc)
			if aerr != nil {
				return nil, aerr
			}
			ic.subnet = r
		}
		if len(p.ApplicationSecurityGroups) > maxASGsPerIPConfig {
			return nil, badRequest(CodeASGsPerIPConfigLimit,
				"IP configuration %s references %d Application Security Groups. An IP configuration may reference up to %d.",
				icID, len(p.ApplicationSecurityGroups), maxASGsPerIPConfig)
		}
		for j, a := range p.ApplicationSecurityGroups {
			path := fmt.Sprintf("properties.ipConfigurations[%d].properties.applicationSecurityGroups[%d].id", i, j)
			r, aerr := e.resolveIn(a.ID, typeASG, path, icID, loc)
			if aerr != nil {
				return nil, aerr
			}
			ic.asgs = append(ic.asgs, r)
		}
		out = append(out, ic)
	}
	if aerr := e.sameASGs(self, out); aerr != nil {
		return nil, aerr
	}
	e.settleIPConfigs(out, old)
	return out, nil
}

// sameASGs is NRP's rule that every IPv4 IP configuration of a NIC references
// the same set of application security groups.
func (e *Emulator) sameASGs(self string, ics []*ipconfig) *apiError {
	var first *ipconfig
	var firstSet string
	for _, ic := range ics {
		if ic.version != "IPv4" {
			continue
		}
		set := e.asgSet(ic.asgs)
		if first == nil {
			first, firstSet = ic, set
			continue
		}
		if set != firstSet {
			return badRequest(CodeASGsDifferPerIPConfig,
				"All IPConfigurations on a Network Interface should reference the same set of Application Security Groups. IPConfiguration %s/ipConfigurations/%s references ASG(s) %s, wheras IPConfiguration %s/ipConfigurations/%s references ASG(s) %s.",
				self, first.name, firstSet, self, ic.name, set)
		}
	}
	return nil
}

func (e *Emulator) asgSet(refs []ref) string {
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		ids = append(ids, e.refID(typeASG, r))
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// settleIPConfigs makes the first configuration primary when none is, and
// gives dynamic ones without an address the one they had or a free one.
func (e *Emulator) settleIPConfigs(ics []*ipconfig, old *nic) {
	primary := false
	for _, ic := range ics {
		primary = primary || ic.primary
	}
	if !primary && len(ics) > 0 {
		ics[0].primary = true
	}
	taken := map[string]bool{}
	for _, ic := range ics {
		if ic.address != "" && ic.allocation == "Static" {
			taken[ic.address] = true
			continue
		}
		if old != nil {
			for _, o := range old.ipconfigs {
				if key(o.name) == key(ic.name) && o.subnet == ic.subnet && o.address != "" {
					ic.address = o.address
				}
			}
		}
		if ic.address == "" && !ic.subnet.zero() {
			ic.address = e.freeAddress(ic.subnet, taken)
		}
		taken[ic.address] = true
	}
}

// freeAddress is the subnet's lowest IPv4 address neither in use nor taken by
// the request, past the four Azure reserves at its start; "" when the subnet
// is full or not IPv4.
func (e *Emulator) freeAddress(sn ref, taken map[string]bool) string {
	s := e.subnetOf(sn)
	p, err := netip.ParsePrefix(s.prefix)
	if err != nil || !p.Addr().Is4() {
		return ""
	}
	used := map[string]bool{}
	for _, g := range e.rgs {
		for _, n := range g.nics {
			for _, ic := range n.ipconfigs {
				if ic.subnet == sn {
					used[ic.address] = true
				}
			}
		}
	}
	a := p.Masked().Addr()
	for i := 0; i < 4; i++ {
		a = a.Next()
	}
	for ; p.Contains(a) && p.Contains(a.Next()); a = a.Next() { // the last address is reserved too
		if !used[a.String()] && !taken[a.String()] {
			return a.String()
		}
	}
	return ""
}

// deleteNIC refuses while the NIC is attached to a VM, as Azure does.
func (e *Emulator) deleteNIC(req *armRequest) *response {
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	n := g.nics[key(req.t.name)]
	if n == nil {
		return noContent()
	}
	if aerr := preconditions(req.header, true, n.etag); aerr != nil {
		return errResp(aerr)
	}
	if !n.vm.zero() {
		return errResp(badRequest(CodeNICInUse,
			"Network Interface %s is used by existing resource %s. In order to delete the network interface, it must be dissociated from the resource.",
			e.id(g, typeNIC, n.name), e.refID(typeVM, n.vm)))
	}
	delete(g.nics, key(n.name))
	return e.deleted(req, n.location)
}
