package armemu

import (
	"net/http"
	"strings"
)

// Application security groups.

func (e *Emulator) asgJSON(g *resourceGroup, a *asg, state string) asgJSON {
	out := asgJSON{ID: e.id(g, typeASG, a.name), Name: a.name, Type: typeASG, Location: a.location, Etag: a.etag, Tags: tagsOrNil(a.tags)}
	out.Properties.ResourceGUID, out.Properties.ProvisioningState = a.guid, state
	return out
}

func (e *Emulator) listASGs(req *armRequest) *response {
	if req.t.rg == "" {
		keys := e.allKeys(func(g *resourceGroup) []string { return sortedKeys(g.asgs) })
		return e.listResp(req, keys, func(k string) any {
			rk, ak := splitKey(k)
			return e.asgJSON(e.rgs[rk], e.rgs[rk].asgs[ak], "Succeeded")
		})
	}
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	return e.listResp(req, sortedKeys(g.asgs), func(k string) any { return e.asgJSON(g, g.asgs[k], "Succeeded") })
}

func (e *Emulator) getASG(req *armRequest) *response {
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	a := g.asgs[key(req.t.name)]
	if a == nil {
		return errResp(errNotFound(typeASG, req.t.rg, req.t.name))
	}
	return okResp(http.StatusOK, e.asgJSON(g, a, "Succeeded"))
}

func (e *Emulator) putASG(req *armRequest) *response {
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	if !validName(req.t.name) {
		return errResp(errName(req.t.name))
	}
	var in asgJSON
	if aerr := decode(req.body, &in); aerr != nil {
		return errResp(aerr)
	}
	old := g.asgs[key(req.t.name)]
	name, existingLoc, etag := req.t.name, "", ""
	if old != nil {
		name, existingLoc, etag = old.name, old.location, old.etag
	}
	if aerr := preconditions(req.header, old != nil, etag); aerr != nil {
		return errResp(aerr)
	}
	loc, aerr := checkLocation(in.Location, existingLoc, typeASG, name, g.name)
	if aerr != nil {
		return errResp(aerr)
	}
	a := old
	if a == nil {
		a = &asg{meta: e.newMeta(name, loc, nil)}
		g.asgs[key(name)] = a
	} else {
		a.etag = e.newEtag()
	}
	a.tags = copyTags(in.Tags)
	return e.accepted(req, old == nil, loc, e.asgJSON(g, a, "Updating"))
}

// deleteASG refuses while an IP configuration or a security rule references
// the group, with Azure's message.
func (e *Emulator) deleteASG(req *armRequest) *response {
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	a := g.asgs[key(req.t.name)]
	if a == nil {
		return noContent()
	}
	if aerr := preconditions(req.header, true, a.etag); aerr != nil {
		return errResp(aerr)
	}
	me := ref{rg: key(g.name), name: key(a.name)}
	if ipconfigs, rules := e.asgUsers(me); len(ipconfigs)+len(rules) > 0 {
		var by []string
		if len(ipconfigs) > 0 {
			by = append(by, "IpConfiguration(s) "+strings.Join(ipconfigs, ", "))
		}
		if len(rules) > 0 {
			by = append(by, "SecurityRule(s) "+strings.Join(rules, ", "))
		}
		return errResp(badRequest(CodeASGInUse, "Application Security Group %s cannot be deleted because it is referenced by %s.",
			a.name, strings.Join(by, " and ")))
	}
	delete(g.asgs, key(a.name))
	return e.deleted(req, a.location)
}

// asgUsers names the IP configurations and security rules that reference an
// application security group.
func (e *Emulator) asgUsers(me ref) (ipconfigs, rules []string) {
	has := func(refs []ref) bool {
		for _, r := range refs {
			if r == me {
				return true
			}
		}
		return false
	}
	for _, rk := range sortedKeys(e.rgs) {
		g := e.rgs[rk]
		for _, nk := range sortedKeys(g.nics) {
			for _, ic := range g.nics[nk].ipconfigs {
				if has(ic.asgs) {
					ipconfigs = append(ipconfigs, ic.name)
				}
			}
		}
		for _, sk := range sortedKeys(g.nsgs) {
			for _, r := range g.nsgs[sk].rules {
				if has(r.srcASGs) || has(r.dstASGs) {
					rules = append(rules, r.name)
				}
			}
		}
	}
	return ipconfigs, rules
}

// Virtual networks and subnets. A subnet's etag is its network's, as child
// resources share their parent's in Azure.

func (e *Emulator) subnetJSON(g *resourceGroup, v *vnet, s *subnet) subnetJSON {
	me := ref{rg: key(g.name), parent: key(v.name), name: key(s.name)}
	out := subnetJSON{ID: e.subnetID(me, false), Name: s.name, Type: typeSubnet, Etag: v.etag}
	out.Properties = subnetProps{AddressPrefix: s.prefix, ProvisioningState: "Succeeded"}
	if !s.nsg.zero() {
		out.Properties.NetworkSecurityGroup = &subRes{ID: e.refID(typeNSG, s.nsg)}
	}
	for _, rk := range sortedKeys(e.rgs) {
		for _, nk := range sortedKeys(e.rgs[rk].nics) {
			n := e.rgs[rk].nics[nk]
			for _, ic := range n.ipconfigs {
				if ic.subnet == me {
					out.Properties.IPConfigurations = append(out.Properties.IPConfigurations,
						subRes{ID: e.refID(typeNIC, ref{rg: rk, name: nk}) + "/ipConfigurations/" + ic.name})
				}
			}
		}
	}
	return out
}

func (e *Emulator) vnetJSON(g *resourceGroup, v *vnet) vnetJSON {
	out := vnetJSON{ID: e.id(g, typeVNet, v.name), Name: v.name, Type: typeVNet, Location: v.location, Etag: v.etag, Tags: tagsOrNil(v.tags)}
	out.Properties.AddressSpace.AddressPrefixes = append([]string{}, v.prefixes...)
	out.Properties.Subnets = []subnetJSON{}
	for _, s := range v.subnets {
		out.Properties.Subnets = append(out.Properties.Subnets, e.subnetJSON(g, v, s))
	}
	out.Properties.ResourceGUID, out.Properties.ProvisioningState = v.guid, "Succeeded"
	return out
}

func (e *Emulator) findVNet(req *armRequest) (*resourceGroup, *vnet, *apiError) {
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return nil, nil, aerr
	}
	v := g.vnets[key(req.t.name)]
	if v == nil {
		return g, nil, errNotFound(typeVNet, req.t.rg, req.t.name)
	}
	return g, v, nil
}

func (e *Emulator) listVNets(req *armRequest) *response {
	if req.t.rg == "" {
		keys := e.allKeys(func(g *resourceGroup) []string { return sortedKeys(g.vnets) })
		return e.listResp(req, keys, func(k string) any {
			rk, vk := splitKey(k)
			return e.vnetJSON(e.rgs[rk], e.rgs[rk].vnets[vk])
		})
	}
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	return e.listResp(req, sortedKeys(g.vnets), func(k string) any { return e.vnetJSON(g, g.vnets[k]) })
}

func (e *Emulator) getVNet(req *armRequest) *response {
	g, v, aerr := e.findVNet(req)
	if aerr != nil {
		return errResp(aerr)
	}
	return okResp(http.StatusOK, e.vnetJSON(g, v))
}

func (e *Emulator) listSubnets(req *armRequest) *response {
	g, v, aerr := e.findVNet(req)
	if aerr != nil {
		return errResp(aerr)
	}
	byKey := map[string]*subnet{}
	for _, s := range v.subnets {
		byKey[key(s.name)] = s
	}
	return e.listResp(req, sortedKeys(byKey), func(k string) any { return e.subnetJSON(g, v, byKey[k]) })
}

func (e *Emulator) getSubnet(req *armRequest) *response {
	g, v, aerr := e.findVNet(req)
	if aerr != nil {
		return errResp(aerr)
	}
	s := v.subnet(req.t.childName)
	if s == nil {
		return errResp(errChildNotFound(e.id(g, typeVNet, v.name) + "/subnets/" + req.t.childName))
	}
	return okResp(http.StatusOK, e.subnetJSON(g, v, s))
}

// putSubnet creates or replaces a subnet: its address prefix and its NSG,
// which must exist in the network's region.
func (e *Emulator) putSubnet(req *armRequest) *response {
	g, v, aerr := e.findVNet(req)
	if aerr != nil {
		return errResp(aerr)
	}
	if !validName(req.t.childName) {
		return errResp(errName(req.t.childName))
	}
	var in subnetJSON
	if aerr := decode(req.body, &in); aerr != nil {
		return errResp(aerr)
	}
	old := v.subnet(req.t.childName)
	if aerr := preconditions(req.header, old != nil, v.etag); aerr != nil {
		return errResp(aerr)
	}
	name := req.t.childName
	if old != nil {
		name = old.name
	}
	self := e.id(g, typeVNet, v.name) + "/subnets/" + name
	if in.Properties.AddressPrefix == "" {
		return errResp(errFormat("MissingJsonProperty", "Subnet %s has no addressPrefix.", self))
	}
	var nsgRef ref
	if in.Properties.NetworkSecurityGroup != nil && in.Properties.NetworkSecurityGroup.ID != "" {
		id := in.Properties.NetworkSecurityGroup.ID
		r, aerr := e.resolve(id, typeNSG, "properties.networkSecurityGroup.id", self)
		if aerr == nil && e.locationOf(typeNSG, r) != v.location {
			aerr = errReference(id, self)
		}
		if aerr != nil {
			return errResp(aerr)
		}
		nsgRef = r
	}
	s := old
	if s == nil {
		s = &subnet{name: name}
		v.subnets = append(v.subnets, s)
	}
	s.prefix, s.nsg = in.Properties.AddressPrefix, nsgRef
	v.etag = e.newEtag()
	out := e.subnetJSON(g, v, s)
	out.Properties.ProvisioningState = "Updating"
	return e.accepted(req, old == nil, v.location, out)
}

// Virtual machines, read-only.

func (e *Emulator) vmJSON(g *resourceGroup, v *vm) vmJSON {
	out := vmJSON{ID: e.id(g, typeVM, v.name), Name: v.name, Type: typeVM, Location: v.location, Tags: tagsOrNil(v.tags)}
	out.Properties.VMID, out.Properties.ProvisioningState = v.vmID, "Succeeded"
	out.Properties.NetworkProfile.NetworkInterfaces = []subRes{}
	for _, r := range v.nics {
		if id := e.refID(typeNIC, r); id != "" {
			out.Properties.NetworkProfile.NetworkInterfaces = append(out.Properties.NetworkProfile.NetworkInterfaces, subRes{ID: id})
		}
	}
	return out
}

func (e *Emulator) listVMs(req *armRequest) *response {
	if req.t.rg == "" {
		keys := e.allKeys(func(g *resourceGroup) []string { return sortedKeys(g.vms) })
		return e.listResp(req, keys, func(k string) any {
			rk, vk := splitKey(k)
			return e.vmJSON(e.rgs[rk], e.rgs[rk].vms[vk])
		})
	}
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	return e.listResp(req, sortedKeys(g.vms), func(k string) any { return e.vmJSON(g, g.vms[k]) })
}

func (e *Emulator) getVM(req *armRequest) *response {
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	v := g.vms[key(req.t.name)]
	if v == nil {
		return errResp(errNotFound(typeVM, req.t.rg, req.t.name))
	}
	return okResp(http.StatusOK, e.vmJSON(g, v))
}
