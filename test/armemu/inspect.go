package armemu

import "sort"

// Read-only views for tests. IDs in them carry the resource group as it was
// created (not upper-cased as in HTTP responses); compare them with
// strings.EqualFold, as Azure IDs are case-insensitive.

// NSG is a snapshot of a network security group.
type NSG struct {
	ID, Name, Location, Etag string
	Tags                     map[string]string
	// Rules are the custom rules in the order they were sent; DefaultRules the
	// six Azure adds.
	Rules, DefaultRules []Rule
}

// Rule is a snapshot of a security rule. Each list holds the singular field's
// value or the plural field's values, whichever the rule was sent with.
type Rule struct {
	Name, Description, Protocol, Access, Direction string
	Priority                                       int32
	SourcePorts, DestinationPorts                  []string
	SourcePrefixes, DestinationPrefixes            []string
	// SourceASGs and DestinationASGs are application security group IDs.
	SourceASGs, DestinationASGs []string
}

func (e *Emulator) ruleOf(r *rule) Rule {
	ids := func(refs []ref) []string {
		var out []string
		for _, x := range refs {
			out = append(out, e.id(e.rgs[x.rg], typeASG, e.rgs[x.rg].asgs[x.name].name))
		}
		return out
	}
	return Rule{
		Name: r.name, Description: r.description, Protocol: r.protocol, Access: r.access, Direction: r.direction,
		Priority: r.priority, SourcePorts: append([]string(nil), r.srcPorts...), DestinationPorts: append([]string(nil), r.dstPorts...),
		SourcePrefixes: append([]string(nil), r.srcPrefixes...), DestinationPrefixes: append([]string(nil), r.dstPrefixes...),
		SourceASGs: ids(r.srcASGs), DestinationASGs: ids(r.dstASGs),
	}
}

// NSG returns a network security group; ok is false when it does not exist.
func (e *Emulator) NSG(rg, name string) (nsg NSG, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.rgs[key(rg)]
	if g == nil || g.nsgs[key(name)] == nil {
		return NSG{}, false
	}
	n := g.nsgs[key(name)]
	out := NSG{ID: e.id(g, typeNSG, n.name), Name: n.name, Location: n.location, Etag: n.etag, Tags: copyTags(n.tags)}
	for _, r := range n.rules {
		out.Rules = append(out.Rules, e.ruleOf(r))
	}
	for i := range defaultRules {
		out.DefaultRules = append(out.DefaultRules, e.ruleOf(&defaultRules[i]))
	}
	return out, true
}

// NSGs returns the names of a resource group's network security groups, sorted.
func (e *Emulator) NSGs(rg string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.rgs[key(rg)]
	if g == nil {
		return nil
	}
	var out []string
	for _, n := range g.nsgs {
		out = append(out, n.name)
	}
	sort.Strings(out)
	return out
}

// NICASGs returns the IDs of the application security groups a network
// interface's IP configurations reference, sorted and without duplicates; nil
// for an unknown interface.
func (e *Emulator) NICASGs(rg, nicName string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.rgs[key(rg)]
	if g == nil || g.nics[key(nicName)] == nil {
		return nil
	}
	seen := map[string]bool{}
	out := []string{}
	for _, ic := range g.nics[key(nicName)].ipconfigs {
		for _, r := range ic.asgs {
			id := e.id(e.rgs[r.rg], typeASG, e.rgs[r.rg].asgs[r.name].name)
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// NICNSG returns the ID of the network security group on a network interface,
// "" for none.
func (e *Emulator) NICNSG(rg, nicName string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.rgs[key(rg)]
	if g == nil || g.nics[key(nicName)] == nil || g.nics[key(nicName)].nsg.zero() {
		return ""
	}
	r := g.nics[key(nicName)].nsg
	return e.id(e.rgs[r.rg], typeNSG, e.rgs[r.rg].nsgs[r.name].name)
}

// SubnetNSG returns the ID of the network security group on a subnet, "" for
// none or an unknown subnet.
func (e *Emulator) SubnetNSG(rg, vnetName, subnetName string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.subnetOf(ref{rg: key(rg), parent: key(vnetName), name: key(subnetName)})
	if s == nil || s.nsg.zero() {
		return ""
	}
	return e.id(e.rgs[s.nsg.rg], typeNSG, e.rgs[s.nsg.rg].nsgs[s.nsg.name].name)
}

// ASGs returns the IDs of a resource group's application security groups,
// sorted.
func (e *Emulator) ASGs(rg string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.rgs[key(rg)]
	if g == nil {
		return nil
	}
	out := []string{}
	for _, a := range g.asgs {
		out = append(out, e.id(g, typeASG, a.name))
	}
	sort.Strings(out)
	return out
}
