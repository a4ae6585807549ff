package analysis

import (
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
)

// Flow is one permission at its finest grain: one allow lets From reach To on Port,
// through one of its services.
type Flow struct {
	From, To model.PeerRef
	Port     model.ServicePort
	Allow    string
	Service  string
}

// Flows expands every allow into from × to × service port, sorted by from, to, port,
// allow and service. Pairs of two networks are left out: such an allow is invalid
// and enforces nothing.
func Flows(p *model.Policy) []Flow {
	var flows []Flow
	for _, name := range model.SortedKeys(p.Allows) {
		a := p.Allows[name]
		for _, pr := range allowPairs(a) {
			for _, svcName := range a.Services {
				svc, ok := p.Services[svcName]
				if !ok {
					continue
				}
				for _, port := range svc.Ports {
					flows = append(flows, Flow{From: pr.from, To: pr.to, Port: port, Allow: name, Service: svcName})
				}
			}
		}
	}
	slices.SortFunc(flows, compareFlow)
	// An allow that names a service twice, or a service that lists a port twice,
	// permits nothing more.
	return slices.Compact(flows)
}

func compareFlow(a, b Flow) int {
	if c := comparePair(pair{a.From, a.To}, pair{b.From, b.To}); c != 0 {
		return c
	}
	if c := a.Port.Compare(b.Port); c != 0 {
		return c
	}
	if c := strings.Compare(a.Allow, b.Allow); c != 0 {
		return c
	}
	return strings.Compare(a.Service, b.Service)
}

// pair is a directed (from, to) pair of peers: the key permissions are grouped by.
type pair struct {
	from, to model.PeerRef
}

func comparePair(a, b pair) int {
	if c := comparePeer(a.from, b.from); c != 0 {
		return c
	}
	return comparePeer(a.to, b.to)
}

// allowPairs lists the distinct (from, to) pairs an allow connects, sorted, without
// pairs of two networks.
func allowPairs(a *model.Allow) []pair {
	pairs := make([]pair, 0, len(a.From)*len(a.To))
	for _, from := range a.From {
		for _, to := range a.To {
			if from.Kind == model.PeerNetwork && to.Kind == model.PeerNetwork {
				continue
			}
			pairs = append(pairs, pair{from, to})
		}
	}
	slices.SortFunc(pairs, comparePair)
	return slices.Compact(pairs)
}

// allowPorts is the union of the ports of an allow's services.
func allowPorts(p *model.Policy, a *model.Allow) PortSet {
	var ports []model.ServicePort
	for _, svcName := range a.Services {
		if svc, ok := p.Services[svcName]; ok {
			ports = append(ports, svc.Ports...)
		}
	}
	return NewPortSet(ports...)
}

// grant is what one allow permits on one pair.
type grant struct {
	allow string
	ports PortSet
}

// reachIndex groups every allow's permissions by pair, so that questions about a pair
// never scan all allows: blast radius, reachability diff and lint read it. What it
// derives from each allow is computed once, since lint passes over 100,000 allows
// several times.
type reachIndex struct {
	names      []string           // allow names, sorted
	ports      map[string]PortSet // each allow's ports
	allowPairs map[string][]pair  // each allow's pairs, as allowPairs gives them
	pairs      map[pair][]grant   // each list in allow-name order
}

func indexPolicy(p *model.Policy) *reachIndex {
	ix := &reachIndex{
		names:      model.SortedKeys(p.Allows),
		ports:      make(map[string]PortSet, len(p.Allows)),
		allowPairs: make(map[string][]pair, len(p.Allows)),
		pairs:      make(map[pair][]grant),
	}
	for _, name := range ix.names {
		a := p.Allows[name]
		ports := allowPorts(p, a)
		pairs := allowPairs(a)
		ix.ports[name] = ports
		ix.allowPairs[name] = pairs
		if ports.Empty() {
			continue
		}
		for _, pr := range pairs {
			ix.pairs[pr] = append(ix.pairs[pr], grant{name, ports})
		}
	}
	return ix
}

// sortedPairs lists the pairs that have any permission, sorted.
func (ix *reachIndex) sortedPairs() []pair {
	pairs := make([]pair, 0, len(ix.pairs))
	for pr := range ix.pairs {
		pairs = append(pairs, pr)
	}
	slices.SortFunc(pairs, comparePair)
	return pairs
}

// union is everything a pair is permitted, by any allow.
func (ix *reachIndex) union(pr pair) PortSet {
	grants := ix.pairs[pr]
	sets := make([]PortSet, len(grants))
	for i, g := range grants {
		sets[i] = g.ports
	}
	return unionAll(sets)
}

// allowsOverlapping names the allows of a pair that permit any flow of ports.
func (ix *reachIndex) allowsOverlapping(pr pair, ports PortSet) []string {
	var names []string
	for _, g := range ix.pairs[pr] {
		if g.ports.Overlaps(ports) {
			names = append(names, g.allow)
		}
	}
	return names
}
