package verdict

import (
	"math"
	"slices"

	"github.com/microseg/microseg/model"
)

// noGrant is the rank of "nothing permits it": worse than every real grant.
const noGrant = math.MaxInt32

// portGrant is one service port one allow grants on a pair; rank orders grants by
// (allow name, service name), so the smallest rank is the one a verdict names.
type portGrant struct {
	port model.ServicePort
	rank int32
}

// portRange is one protocol's ports [first, last] and the best grant covering them,
// by rank and by name: the names sit next to the ports, so that the verdict does not
// take another cache miss to fetch them.
type portRange struct {
	proto       model.Protocol
	first, last uint16
	rank        int32
	grant       grant
}

// portTable is what one (from, to) pair of peers permits: disjoint ranges sorted by
// protocol and port, each with the best grant that covers it, and the best grant of
// protocol "all", which covers every protocol and port. The engine keeps the ranges
// of every table in one flat slice.
type portTable struct {
	all    int32
	ranges []portRange
}

func newPortTable(grants []portGrant) portTable {
	t := portTable{all: noGrant}
	byProto := map[model.Protocol][]portGrant{}
	for _, g := range grants {
		if g.port.Protocol == model.ProtocolAll {
			t.all = min(t.all, g.rank)
			continue
		}
		byProto[g.port.Protocol] = append(byProto[g.port.Protocol], g)
	}
	protos := make([]model.Protocol, 0, len(byProto))
	for p := range byProto {
		protos = append(protos, p)
	}
	slices.Sort(protos)
	for _, proto := range protos {
		gs := byProto[proto]
		// Cut the protocol's ports at every grant's edges; each piece then lies wholly
		// inside or outside each grant, and takes the best rank of those it is inside.
		bounds := make([]int, 0, 2*len(gs))
		for _, g := range gs {
			bounds = append(bounds, int(g.port.Ports.First), int(g.port.Ports.Last)+1)
		}
		slices.Sort(bounds)
		bounds = slices.Compact(bounds)
		ranks := make([]int32, len(bounds))
		for k := range ranks {
			ranks[k] = noGrant
		}
		for _, g := range gs {
			if g.port.Ports.First > g.port.Ports.Last {
				continue // a reversed range holds no port
			}
			from, _ := slices.BinarySearch(bounds, int(g.port.Ports.First))
			to, _ := slices.BinarySearch(bounds, int(g.port.Ports.Last)+1)
			for k := from; k < to; k++ {
				ranks[k] = min(ranks[k], g.rank)
			}
		}
		for k, rank := range ranks {
			// A covered piece always ends before a later bound (its grant's last+1).
			if rank == noGrant || rank >= t.all {
				continue // "all" already answers better for these ports
			}
			first, last := uint16(bounds[k]), uint16(bounds[k+1]-1)
			if n := len(t.ranges); n > 0 {
				prev := &t.ranges[n-1]
				if prev.proto == proto && prev.rank == rank && int(prev.last)+1 == int(first) {
					prev.last = last
					continue
				}
			}
			t.ranges = append(t.ranges, portRange{proto: proto, first: first, last: last, rank: rank})
		}
	}
	return t
}

// lookupRanges returns the index of the range of ranges (one table's, sorted and
// disjoint) that permits port of proto, or -1.
func lookupRanges(r []portRange, proto model.Protocol, port uint16) int {
	if len(r) <= 8 {
		// Most pairs have a range or two: a scan beats a search.
		for i := range r {
			x := &r[i]
			if x.proto > proto || x.proto == proto && x.first > port {
				break
			}
			if x.proto == proto && port <= x.last {
				return i
			}
		}
		return -1
	}
	// Find the first range that starts after (proto, port); the one before it is the
	// only one that can hold the port.
	lo, hi := 0, len(r)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r[m].proto < proto || r[m].proto == proto && r[m].first <= port {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo > 0 {
		if x := &r[lo-1]; x.proto == proto && port <= x.last {
			return lo - 1
		}
	}
	return -1
}
