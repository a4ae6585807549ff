package armemu

import (
	"net/http"
	"sort"
)

// nsgJSON renders an NSG. Its rules share its etag, as in Azure, and it lists
// the subnets and network interfaces that use it.
func (e *Emulator) nsgJSON(g *resourceGroup, n *nsg, state string) nsgJSON {
	id := e.id(g, typeNSG, n.name)
	out := nsgJSON{ID: id, Name: n.name, Type: typeNSG, Location: n.location, Etag: n.etag, Tags: tagsOrNil(n.tags)}
	out.Properties = nsgProps{SecurityRules: []ruleJSON{}, ResourceGUID: n.guid, ProvisioningState: state}
	for _, r := range n.rules {
		out.Properties.SecurityRules = append(out.Properties.SecurityRules, ruleJSON{
			ID: id + "/securityRules/" + r.name, Name: r.name, Type: typeRule, Etag: n.etag, Properties: e.ruleProps(r, state),
		})
	}
	for i := range defaultRules {
		r := &defaultRules[i]
		out.Properties.DefaultSecurityRules = append(out.Properties.DefaultSecurityRules, ruleJSON{
			ID: id + "/defaultSecurityRules/" + r.name, Name: r.name, Type: typeDefRul, Etag: n.etag, Properties: e.ruleProps(r, "Succeeded"),
		})
	}
	me := ref{rg: key(g.name), name: key(n.name)}
	out.Properties.Subnets, out.Properties.NetworkInterfaces = e.nsgUsers(me)
	return out
}

// nsgUsers lists the subnets and NICs that reference an NSG, by ID.
func (e *Emulator) nsgUsers(me ref) (subnets, nics []subRes) {
	for _, rk := range sortedKeys(e.rgs) {
		g := e.rgs[rk]
		for _, vk := range sortedKeys(g.vnets) {
			for _, s := range g.vnets[vk].subnets {
				if s.nsg == me {
					subnets = append(subnets, subRes{ID: e.refID(typeSubnet, ref{rg: rk, parent: vk, name: key(s.name)})})
				}
			}
		}
		for _, nk := range sortedKeys(g.nics) {
			if g.nics[nk].nsg == me {
				nics = append(nics, subRes{ID: e.refID(typeNIC, ref{rg: rk, name: nk})})
			}
		}
	}
	return subnets, nics
}

func (e *Emulator) findNSG(req *armRequest) (*resourceGroup, *nsg, *apiError) {
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return nil, nil, aerr
	}
	n := g.nsgs[key(req.t.name)]
	if n == nil {
		return g, nil, errNotFound(typeNSG, req.t.rg, req.t.name)
	}
	return g, n, nil
}

func (e *Emulator) listNSGs(req *armRequest) *response {
	if req.t.rg == "" {
		keys := e.allKeys(func(g *resourceGroup) []string { return sortedKeys(g.nsgs) })
		return e.listResp(req, keys, func(k string) any {
			rk, nk := splitKey(k)
			return e.nsgJSON(e.rgs[rk], e.rgs[rk].nsgs[nk], "Succeeded")
		})
	}
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	return e.listResp(req, sortedKeys(g.nsgs), func(k string) any { return e.nsgJSON(g, g.nsgs[k], "Succeeded") })
}

func (e *Emulator) getNSG(req *armRequest) *response {
	g, n, aerr := e.findNSG(req)
	if aerr != nil {
		return errResp(aerr)
	}
	return okResp(http.StatusOK, e.nsgJSON(g, n, "Succeeded"))
}

// putNSG replaces an NSG whole: its tags and its custom rules. The default
// rules, subnets and interfaces in the body are read-only and ignored.
func (e *Emulator) putNSG(req *armRequest) *response {
	g, aerr := e.rgFor(req)
	if aerr != nil {
		return errResp(aerr)
	}
	if !validName(req.t.name) {
		return errResp(errName(req.t.name))
	}
	var in nsgJSON
	if aerr := decode(req.body, &in); aerr != nil {
		return errResp(aerr)
	}
	old := g.nsgs[key(req.t.name)]
	name, existingLoc, etag := req.t.name, "", ""
	if old != nil {
		name, existingLoc, etag = old.name, old.location, old.etag
	}
	if aerr := preconditions(req.header, old != nil, etag); aerr != nil {
		return errResp(aerr)
	}
	loc, aerr := checkLocation(in.Location, existingLoc, typeNSG, name, g.name)
	if aerr != nil {
		return errResp(aerr)
	}
	c := ruleCtx{nsgID: e.id(g, typeNSG, name), location: loc}
	rules := make([]*rule, 0, len(in.Properties.SecurityRules))
	for _, rj := range in.Properties.SecurityRules {
		r, aerr := e.parseRule(c, rj)
		if aerr != nil {
			return errResp(aerr)
		}
		rules = append(rules, r)
	}
	if aerr := e.checkRuleSet(c.nsgID, rules); aerr != nil {
		return errResp(aerr)
	}
	n := old
	if n == nil {
		n = &nsg{meta: e.newMeta(name, loc, nil)}
		g.nsgs[key(name)] = n
	} else {
		n.etag = e.newEtag()
	}
	n.tags, n.rules = copyTags(in.Tags), rules
	return e.accepted(req, old == nil, loc, e.nsgJSON(g, n, "Updating"))
}

func (e *Emulator) deleteNSG(req *armRequest) *response {
	g, n, aerr := e.findNSG(req)
	if n == nil {
		if aerr.code == CodeResourceGroupNotFound {
			return errResp(aerr)
		}
		return noContent()
	}
	if aerr := preconditions(req.header, true, n.etag); aerr != nil {
		return errResp(aerr)
	}
	subnets, nics := e.nsgUsers(ref{rg: key(g.name), name: key(n.name)})
	if users := append(subnets, nics...); len(users) > 0 {
		ids := ""
		for i, u := range users {
			if i > 0 {
				ids += ", "
			}
			ids += u.ID
		}
		return errResp(badRequest(CodeNSGInUse,
			"Network security group %s cannot be deleted because it is in use by the following resources: %s.", e.id(g, typeNSG, n.name), ids))
	}
	delete(g.nsgs, key(n.name))
	return e.deleted(req, n.location)
}

func ruleIndex(n *nsg, name string) int {
	for i, r := range n.rules {
		if key(r.name) == key(name) {
			return i
		}
	}
	return -1
}

func (e *Emulator) ruleJSON(g *resourceGroup, n *nsg, r *rule, state string) ruleJSON {
	return ruleJSON{ID: e.id(g, typeNSG, n.name) + "/securityRules/" + r.name, Name: r.name, Type: typeRule,
		Etag: n.etag, Properties: e.ruleProps(r, state)}
}

func (e *Emulator) listRules(req *armRequest) *response {
	g, n, aerr := e.findNSG(req)
	if aerr != nil {
		return errResp(aerr)
	}
	byKey := map[string]*rule{}
	for _, r := range n.rules {
		byKey[key(r.name)] = r
	}
	return e.listResp(req, sortedKeys(byKey), func(k string) any { return e.ruleJSON(g, n, byKey[k], "Succeeded") })
}

func (e *Emulator) getRule(req *armRequest) *response {
	g, n, aerr := e.findNSG(req)
	if aerr != nil {
		return errResp(aerr)
	}
	i := ruleIndex(n, req.t.childName)
	if i < 0 {
		return errResp(errChildNotFound(e.id(g, typeNSG, n.name) + "/securityRules/" + req.t.childName))
	}
	return okResp(http.StatusOK, e.ruleJSON(g, n, n.rules[i], "Succeeded"))
}

// putRule creates or replaces one rule, checked against the NSG's others as a
// PUT of the whole NSG would be. The rule's etag is its NSG's.
func (e *Emulator) putRule(req *armRequest) *response {
	g, n, aerr := e.findNSG(req)
	if aerr != nil {
		return errResp(aerr)
	}
	var in ruleJSON
	if aerr := decode(req.body, &in); aerr != nil {
		return errResp(aerr)
	}
	i := ruleIndex(n, req.t.childName)
	in.Name = req.t.childName
	if i >= 0 {
		in.Name = n.rules[i].name
	}
	if aerr := preconditions(req.header, i >= 0, n.etag); aerr != nil {
		return errResp(aerr)
	}
	c := ruleCtx{nsgID: e.id(g, typeNSG, n.name), location: n.location}
	r, aerr := e.parseRule(c, in)
	if aerr != nil {
		return errResp(aerr)
	}
	rules := append([]*rule(nil), n.rules...)
	if i >= 0 {
		rules[i] = r
	} else {
		rules = append(rules, r)
	}
	if aerr := e.checkRuleSet(c.nsgID, rules); aerr != nil {
		return errResp(aerr)
	}
	n.rules, n.etag = rules, e.newEtag()
	return e.accepted(req, i < 0, n.location, e.ruleJSON(g, n, r, "Updating"))
}

func (e *Emulator) deleteRule(req *armRequest) *response {
	_, n, aerr := e.findNSG(req)
	if aerr != nil {
		return errResp(aerr)
	}
	i := ruleIndex(n, req.t.childName)
	if i < 0 {
		return noContent()
	}
	if aerr := preconditions(req.header, true, n.etag); aerr != nil {
		return errResp(aerr)
	}
	n.rules = append(n.rules[:i:i], n.rules[i+1:]...)
	n.etag = e.newEtag()
	return e.deleted(req, n.location)
}

func (e *Emulator) defaultRuleJSON(g *resourceGroup, n *nsg, r *rule) ruleJSON {
	return ruleJSON{ID: e.id(g, typeNSG, n.name) + "/defaultSecurityRules/" + r.name, Name: r.name, Type: typeDefRul,
		Etag: n.etag, Properties: e.ruleProps(r, "Succeeded")}
}

func (e *Emulator) listDefaultRules(req *armRequest) *response {
	g, n, aerr := e.findNSG(req)
	if aerr != nil {
		return errResp(aerr)
	}
	names := make([]string, 0, len(defaultRules))
	byKey := map[string]*rule{}
	for i := range defaultRules {
		names = append(names, key(defaultRules[i].name))
		byKey[key(defaultRules[i].name)] = &defaultRules[i]
	}
	sort.Strings(names)
	return e.listResp(req, names, func(k string) any { return e.defaultRuleJSON(g, n, byKey[k]) })
}

func (e *Emulator) getDefaultRule(req *armRequest) *response {
	g, n, aerr := e.findNSG(req)
	if aerr != nil {
		return errResp(aerr)
	}
	for i := range defaultRules {
		if key(defaultRules[i].name) == key(req.t.childName) {
			return okResp(http.StatusOK, e.defaultRuleJSON(g, n, &defaultRules[i]))
		}
	}
	return errResp(errChildNotFound(e.id(g, typeNSG, n.name) + "/defaultSecurityRules/" + req.t.childName))
}
