package discover

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/microseg/microseg/model"
)

// Proposal is what discovery proposes: segments, the networks and services they need,
// and the allows that permit the observed dependencies. Every list is sorted by name.
type Proposal struct {
	Segments []Segment
	Networks []Network
	Services []Service
	Allows   []Allow
	Coverage Coverage
	// First and Last are the times of the earliest and latest accepted flow observed.
	First, Last time.Time

	policy *model.Policy // Options.Policy, for WriteHCL
	// target and targetKind are Options.Target and the kind it gave, if any.
	target     string
	targetKind model.TargetKind
}

// Segment is a proposed segment.
type Segment struct {
	Name string
	// Target is the target it lives in: Options.Target, or the target whose logs
	// mention its addresses most; "" when neither said.
	Target string
	// CIDRs are its member addresses aggregated into the fewest prefixes that hold
	// exactly them.
	CIDRs []netip.Prefix
	// Labels are the inventory labels it was grouped by (nil for a subnet group).
	Labels map[string]string
	// Subnets are the first-grouping subnets merged into it (nil for a label group).
	Subnets []netip.Prefix
	// Addresses is the number of member addresses.
	Addresses int
}

// Network is a proposed peer network. Existing is set when Options.Policy already
// declares it (with every CIDR needed): it is referred to, not declared again.
type Network struct {
	Name     string
	CIDRs    []netip.Prefix
	Existing bool
}

// Service is a service the allows use. Existing is set when Options.Policy already
// declares one with exactly these ports: the allows use it and it is not declared again.
type Service struct {
	Name     string
	Ports    []model.ServicePort
	Existing bool
}

// Allow is a proposed allow: From's members reached To's on Services.
type Allow struct {
	Name     string
	From, To model.PeerRef
	Services []string
	// Flows, Bytes and Packets sum the flows it permits; First and Last are the
	// earliest and latest of them.
	Flows, Bytes, Packets uint64
	First, Last           time.Time
}

// Description says in words what an allow was proposed from.
func (a Allow) Description() string {
	s := fmt.Sprintf("Discovered: %s, %s", plural(int(a.Flows), "flow"), plural(int(a.Bytes), "byte"))
	if !a.First.IsZero() {
		s += fmt.Sprintf(", first %s, last %s", a.First.UTC().Format(time.RFC3339), a.Last.UTC().Format(time.RFC3339))
	}
	return s
}

// Coverage says how much of the observed traffic the proposal allows. Observed =
// Allowed + BelowMinFlows + Unsupported.
type Coverage struct {
	// Observed counts accepted flows with at least one internal end.
	Observed uint64
	// Allowed counts the observed flows the proposed allows permit.
	Allowed uint64
	// BelowMinFlows counts flows on edges seen fewer than Options.MinFlows times.
	BelowMinFlows uint64
	// BelowMinFlowsEdges counts those edges.
	BelowMinFlowsEdges int
	// Unsupported counts flows of protocols a service cannot name (GRE, ESP...).
	Unsupported uint64
	// Not observed: dropped flows (not dependencies), flows between two public
	// addresses (no segment to allow them at), and flows touching loopback,
	// link-local, multicast or unspecified addresses.
	Dropped, PublicOnly, Skipped uint64
	// Share is Allowed / Observed (1 when nothing was observed).
	Share float64
}

// group is a set of candidates that becomes one segment (or the public network).
type group struct {
	root    int32
	cands   []int32
	kind    candKind
	target  string
	name    string
	subnets []netip.Prefix
	labels  map[string]string
	addrs   []netip.Addr
}

// Propose computes the proposal from what was added. It does not change the
// Discoverer: more records can be added and Propose called again.
func (d *Discoverer) Propose() *Proposal {
	p := &Proposal{policy: d.opts.Policy, target: d.opts.Target, targetKind: d.targetKind, First: d.first, Last: d.last}
	edges := d.resolvedEdges()
	cov := Coverage{
		Observed: d.counts.observed, Unsupported: d.counts.unsupported,
		Dropped: d.counts.rejected, PublicOnly: d.counts.publicOnly, Skipped: d.counts.skipped,
	}
	// Noise first, so that it weighs neither on grouping nor on the allows.
	kept := edges[:0]
	for _, e := range edges {
		if d.opts.MinFlows > 1 && e.stats.flows < d.opts.MinFlows {
			cov.BelowMinFlows += e.stats.flows
			cov.BelowMinFlowsEdges++
			continue
		}
		cov.Allowed += e.stats.flows
		kept = append(kept, e)
	}
	cov.Share = 1
	if cov.Observed > 0 {
		cov.Share = float64(cov.Allowed) / float64(cov.Observed)
	}
	p.Coverage = cov

	targets := d.candidateTargets()
	uf := newUnionFind(len(d.cands))
	d.mergeSimilar(kept, targets, uf)
	groups := d.buildGroups(kept, targets, uf)
	p.build(d, kept, groups, uf)
	return p
}

// edge is one resolved candidate edge.
type edge struct {
	key   edgeKey
	stats flowStats
}

// resolvedEdges returns the candidate edges with the pending flows decided, sorted by
// key so that everything downstream is deterministic.
func (d *Discoverer) resolvedEdges() []edge {
	all := make(map[edgeKey]*flowStats, len(d.edges))
	for k, s := range d.edges {
		c := *s
		all[k] = &c
	}
	for k, s := range d.pending {
		sa, sb := socket{k.a, k.proto, k.pa}, socket{k.b, k.proto, k.pb}
		aServes := d.serves(sa)
		if aServes == d.serves(sb) { // neither or both: fan-in, then the lower port
			aServes = d.srcServes(sa, sb)
		}
		var key edgeKey
		if aServes {
			key = edgeKey{d.addrs[k.b], d.addrs[k.a], k.proto, k.pa}
		} else {
			key = edgeKey{d.addrs[k.a], d.addrs[k.b], k.proto, k.pb}
		}
		if e, ok := all[key]; ok {
			e.merge(s)
		} else {
			c := *s
			all[key] = &c
		}
	}
	out := make([]edge, 0, len(all))
	for k, s := range all {
		out = append(out, edge{k, *s})
	}
	slices.SortFunc(out, func(a, b edge) int { return compareEdgeKey(a.key, b.key) })
	return out
}

func compareEdgeKey(a, b edgeKey) int {
	return cmp.Or(cmp.Compare(a.client, b.client), cmp.Compare(a.server, b.server),
		cmp.Compare(a.proto, b.proto), cmp.Compare(a.port, b.port))
}

// candidateTargets decides each candidate's target.
func (d *Discoverer) candidateTargets() []string {
	out := make([]string, len(d.cands))
	for i, c := range d.cands {
		if d.opts.Target != "" {
			out[i] = d.opts.Target
			continue
		}
		var best string
		var n uint64
		for _, t := range model.SortedKeys(c.targets) {
			if c.targets[t] > n {
				best, n = t, c.targets[t]
			}
		}
		out[i] = best
	}
	return out
}

// buildGroups collects the groups that take part in a kept edge, with their members,
// sorted by kind then first subnet or labels, and names them.
func (d *Discoverer) buildGroups(kept []edge, targets []string, uf *unionFind) map[int32]*group {
	used := make([]bool, len(d.cands))
	for _, e := range kept {
		used[e.key.client], used[e.key.server] = true, true
	}
	groups := map[int32]*group{}
	for id, c := range d.cands {
		if !used[id] {
			continue
		}
		root := uf.find(int32(id))
		g := groups[root]
		if g == nil {
			g = &group{root: root, kind: c.key.kind, target: targets[root], labels: c.labels}
			groups[root] = g
		}
		g.cands = append(g.cands, int32(id))
		if c.key.kind == candSubnet {
			g.subnets = append(g.subnets, c.key.subnet)
		}
	}
	for a, id := range d.addrs {
		if !used[id] {
			continue
		}
		g := groups[uf.find(id)]
		if g.kind != candPublic {
			g.addrs = append(g.addrs, a)
		}
	}
	for _, g := range groups {
		slices.SortFunc(g.subnets, comparePrefix)
		slices.SortFunc(g.addrs, netip.Addr.Compare)
	}
	return groups
}

// build names everything and fills the proposal.
func (p *Proposal) build(d *Discoverer, kept []edge, groups map[int32]*group, uf *unionFind) {
	pol := d.opts.Policy
	// Segments, named in a deterministic order: label groups, then subnet groups by
	// lowest subnet, so that a clash suffix always goes to the same group.
	var segs []*group
	var public *group
	for _, g := range groups {
		if g.kind == candPublic {
			public = g
			continue
		}
		segs = append(segs, g)
	}
	for _, g := range segs {
		g.name = baseName(g, d.opts.LabelKeys)
	}
	slices.SortFunc(segs, func(a, b *group) int {
		if c := cmp.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		if len(a.subnets) > 0 && len(b.subnets) > 0 {
			return comparePrefix(a.subnets[0], b.subnets[0])
		}
		return cmp.Compare(d.cands[a.cands[0]].key.labels, d.cands[b.cands[0]].key.labels)
	})
	taken := names{}
	if pol != nil {
		taken.reserve(model.SortedKeys(pol.Segments))
	}
	for _, g := range segs {
		g.name = taken.claim(g.name)
		p.Segments = append(p.Segments, Segment{
			Name: g.name, Target: g.target, CIDRs: aggregate(g.addrs), Labels: maps.Clone(g.labels),
			Subnets: g.subnets, Addresses: len(g.addrs),
		})
	}
	slices.SortFunc(p.Segments, func(a, b Segment) int { return cmp.Compare(a.Name, b.Name) })

	// The public peers: one network for every public address seen.
	if public != nil {
		c := d.cands[public.root]
		var cidrs []netip.Prefix
		if c.v4 {
			cidrs = append(cidrs, netip.MustParsePrefix("0.0.0.0/0"))
		}
		if c.v6 {
			cidrs = append(cidrs, netip.MustParsePrefix("::/0"))
		}
		p.Networks = append(p.Networks, reuseNetwork(pol, "internet", cidrs))
		public.name = p.Networks[0].Name
	}

	// Services, reusing the user's where the ports are the same.
	svcNames := names{}
	var existing map[string]string // ports key -> existing service name
	if pol != nil {
		svcNames.reserve(model.SortedKeys(pol.Services))
		existing = map[string]string{}
		for _, name := range model.SortedKeys(pol.Services) {
			k := portsKey(pol.Services[name].Ports)
			if _, ok := existing[k]; !ok {
				existing[k] = name
			}
		}
	}
	byKey := map[string]string{} // ports key -> proposed name
	serviceName := func(proto model.Protocol, port uint16) string {
		base, ports := serviceFor(proto, port)
		k := portsKey(ports)
		if name, ok := byKey[k]; ok {
			return name
		}
		svc := Service{Ports: ports}
		if name, ok := existing[k]; ok {
			svc.Name, svc.Existing = name, true
		} else {
			svc.Name = svcNames.claim(base)
		}
		byKey[k] = svc.Name
		p.Services = append(p.Services, svc)
		return svc.Name
	}

	// Allows, one per pair of groups.
	type pairKey struct{ from, to int32 }
	type pairAllow struct {
		stats    flowStats
		services map[string]bool
	}
	pairs := map[pairKey]*pairAllow{}
	var order []pairKey
	for _, e := range kept {
		k := pairKey{uf.find(e.key.client), uf.find(e.key.server)}
		pa := pairs[k]
		if pa == nil {
			pa = &pairAllow{services: map[string]bool{}}
			pairs[k] = pa
			order = append(order, k)
		}
		pa.stats.merge(&e.stats)
		pa.services[serviceName(e.key.proto, e.key.port)] = true
	}
	allowNames := names{}
	if pol != nil {
		allowNames.reserve(model.SortedKeys(pol.Allows))
	}
	peer := func(g *group) model.PeerRef {
		if g.kind == candPublic {
			return model.PeerRef{Kind: model.PeerNetwork, Name: g.name}
		}
		return model.PeerRef{Kind: model.PeerSegment, Name: g.name}
	}
	var allows []Allow
	for _, k := range order {
		pa := pairs[k]
		from, to := groups[k.from], groups[k.to]
		allows = append(allows, Allow{
			Name: from.name + "-to-" + to.name, From: peer(from), To: peer(to),
			Services: model.SortedKeys(pa.services),
			Flows:    pa.stats.flows, Bytes: pa.stats.bytes, Packets: pa.stats.packets,
			First: pa.stats.first, Last: pa.stats.last,
		})
	}
	slices.SortFunc(allows, func(a, b Allow) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.From.Name, b.From.Name),
			cmp.Compare(a.From.Kind, b.From.Kind), cmp.Compare(a.To.Kind, b.To.Kind))
	})
	for i := range allows {
		allows[i].Name = allowNames.claim(allows[i].Name)
	}
	slices.SortFunc(allows, func(a, b Allow) int { return cmp.Compare(a.Name, b.Name) })
	p.Allows = allows
	slices.SortFunc(p.Services, func(a, b Service) int { return cmp.Compare(a.Name, b.Name) })
}

// reuseNetwork returns the network of public peers: the user's own when it already
// holds every CIDR needed, else a new one with a free name.
func reuseNetwork(pol *model.Policy, name string, cidrs []netip.Prefix) Network {
	if pol == nil {
		return Network{Name: name, CIDRs: cidrs}
	}
	for _, n := range model.SortedKeys(pol.Networks) {
		if holdsAll(pol.Networks[n].CIDRs, cidrs) && n == name {
			return Network{Name: n, CIDRs: cidrs, Existing: true}
		}
	}
	for _, n := range model.SortedKeys(pol.Networks) {
		if holdsAll(pol.Networks[n].CIDRs, cidrs) {
			return Network{Name: n, CIDRs: cidrs, Existing: true}
		}
	}
	taken := names{}
	taken.reserve(model.SortedKeys(pol.Networks))
	return Network{Name: taken.claim(name), CIDRs: cidrs}
}

func holdsAll(have, want []netip.Prefix) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// portsKey is a canonical text for a list of service ports.
func portsKey(ports []model.ServicePort) string {
	s := slices.Clone(ports)
	sortPorts(s)
	parts := make([]string, len(s))
	for i, p := range s {
		parts[i] = p.String()
	}
	return strings.Join(slices.Compact(parts), ",")
}

func sortPorts(ports []model.ServicePort) { slices.SortFunc(ports, model.ServicePort.Compare) }

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// names hands out unique names: the base, else base-2, base-3...
type names map[string]bool

func (n names) reserve(list []string) {
	for _, s := range list {
		n[s] = true
	}
}

func (n names) claim(base string) string {
	name := base
	for i := 2; n[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	n[name] = true
	return name
}

// baseName is a group's name before clashes are resolved.
func baseName(g *group, keys []string) string {
	if g.kind == candLabels {
		var parts []string
		for _, k := range keys {
			if v, ok := g.labels[k]; ok {
				parts = append(parts, v)
			}
		}
		return identifier(strings.Join(parts, "-"), "seg-")
	}
	return "net-" + prefixName(g.subnets[0])
}

// prefixName spells a prefix with dashes: 10.0.2.0/24 is 10-0-2-0-24, fd00:1::/64 is
// fd00-1-64.
func prefixName(p netip.Prefix) string {
	parts := strings.FieldsFunc(p.Addr().String(), func(r rune) bool { return r == '.' || r == ':' })
	return strings.Join(append(parts, fmt.Sprint(p.Bits())), "-")
}

// identifier turns text into an HCL identifier (ASCII letters, digits, '_' and '-',
// starting with a letter or '_'), lower-cased; prefix is put in front when the text
// does not start with a letter.
func identifier(text, prefix string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(text) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_'
		if ok {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '_') {
		s = prefix + s
	}
	return strings.TrimRight(s, "-")
}
