package verdict

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
)

// Engine is a policy compiled for classifying flows. It is immutable once New
// returns, so any number of goroutines may call Classify at once.
//
// Its tables are flat slices indexed by int32, laid out so that one record touches
// few cache lines: a policy of thousands of segments does not fit in a core's cache,
// and pointer-chasing would cost a memory access per step.
type Engine struct {
	peers    []peer
	sets     []addrSet // index 0: no peer
	setPeers []int32   // the peers of every set, as addrSet.first and end delimit them
	v4       table4
	v6       table6
	// The edges of from peer f, sorted by to peer, are edges[edgeStart[f]:edgeStart[f+1]];
	// the edges into peer t, sorted by from peer, are inEdges[inStart[t]:inStart[t+1]].
	// A network like the internet has an edge to half the segments, and a lookup
	// searches whichever of the two lists is shorter.
	edgeStart []int32
	edges     []edge
	inStart   []int32
	inEdges   []inEdge
	ranges    []portRange // every edge's port ranges, an edge's together
	grants    []grant     // by rank
}

// peer is a segment or a network. Peers are numbered segments first, then
// networks, each kind by name: the order the most-specific choice breaks ties in.
type peer struct {
	label    string // "segment.NAME" or "network.NAME", as verdicts name it
	segment  bool
	enforced bool // a segment in enforce mode
}

// edge says that the pair (its from peer, to) has permissions: every protocol and
// port with the grant of rank all (noGrant for none), and ranges[first:end].
type edge struct {
	to, all    int32
	first, end int32
}

// inEdge is edges[edge] seen from its to peer.
type inEdge struct {
	from, edge int32
}

// grant names an allow and one of its services; grants are ranked by these names.
type grant struct {
	allow, service string
}

// New compiles p for Classify. It never fails: references to segments, networks or
// services that do not exist (which validation reports) permit nothing, and a nil
// policy classifies every flow as Unknown.
func New(p *model.Policy) *Engine {
	if p == nil {
		p = model.NewPolicy()
	}
	e := &Engine{}
	index := map[model.PeerRef]int32{}
	var v4, v6 []peerPrefix
	addPrefix := func(id int32, pfx netip.Prefix) {
		if !pfx.IsValid() {
			return
		}
		first, last, bits, is4 := prefixSpan(pfx)
		pp := peerPrefix{peer: id, bits: bits, first: first, last: last}
		if is4 {
			v4 = append(v4, pp)
		} else {
			v6 = append(v6, pp)
		}
	}
	for _, name := range model.SortedKeys(p.Segments) {
		s := p.Segments[name]
		id := int32(len(e.peers))
		index[model.PeerRef{Kind: model.PeerSegment, Name: name}] = id
		e.peers = append(e.peers, peer{label: "segment." + name, segment: true, enforced: s.Mode == model.ModeEnforce})
		for _, c := range s.CIDRs {
			addPrefix(id, c)
		}
		for _, a := range memberHostAddrs(p, s) {
			a = a.Unmap()
			addPrefix(id, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	for _, name := range model.SortedKeys(p.Networks) {
		id := int32(len(e.peers))
		index[model.PeerRef{Kind: model.PeerNetwork, Name: name}] = id
		e.peers = append(e.peers, peer{label: "network." + name})
		for _, c := range p.Networks[name].CIDRs {
			addPrefix(id, c)
		}
	}
	sets := newSetInterner(e.peers)
	e.v4 = newTable4(v4, sets)
	e.v6 = newTable6(v6, sets)
	e.sets, e.setPeers = sets.sets, sets.setPeers
	e.compileGrants(analysis.Flows(p), index)
	return e
}

// memberHostAddrs lists the addresses of a segment's member hosts, when it lives in a
// hosts target; hosts the target does not declare contribute nothing.
func memberHostAddrs(p *model.Policy, s *model.Segment) []netip.Addr {
	t, ok := p.Targets[s.Target]
	if !ok || t.Hosts == nil {
		return nil
	}
	var addrs []netip.Addr
	for _, name := range s.Members.Hosts {
		if h, ok := t.Hosts.Hosts[name]; ok && h != nil {
			addrs = append(addrs, h.Addresses...)
		}
	}
	return addrs
}

// compileGrants ranks every (allow, service) by name and builds one port table per
// pair of peers that some allow connects. analysis.Flows has already expanded
// allows into pairs × service ports and left out pairs of two networks.
func (e *Engine) compileGrants(flows []analysis.Flow, index map[model.PeerRef]int32) {
	for _, f := range flows {
		e.grants = append(e.grants, grant{f.Allow, f.Service})
	}
	slices.SortFunc(e.grants, func(a, b grant) int {
		if c := strings.Compare(a.allow, b.allow); c != 0 {
			return c
		}
		return strings.Compare(a.service, b.service)
	})
	e.grants = slices.Compact(e.grants)
	rank := make(map[grant]int32, len(e.grants))
	for i, g := range e.grants {
		rank[g] = int32(i)
	}
	type pairKey struct{ from, to int32 }
	byPair := map[pairKey][]portGrant{}
	for _, f := range flows {
		from, okFrom := index[f.From]
		to, okTo := index[f.To]
		if !okFrom || !okTo {
			continue
		}
		k := pairKey{from, to}
		byPair[k] = append(byPair[k], portGrant{f.Port, rank[grant{f.Allow, f.Service}]})
	}
	pairs := make([]pairKey, 0, len(byPair))
	for k := range byPair {
		pairs = append(pairs, k)
	}
	slices.SortFunc(pairs, func(a, b pairKey) int {
		if a.from != b.from {
			return int(a.from - b.from)
		}
		return int(a.to - b.to)
	})
	e.edgeStart = make([]int32, len(e.peers)+1)
	next := 0
	for from := range e.peers {
		e.edgeStart[from] = int32(len(e.edges))
		for ; next < len(pairs) && pairs[next].from == int32(from); next++ {
			k := pairs[next]
			t := newPortTable(byPair[k])
			if t.all == noGrant && len(t.ranges) == 0 {
				continue
			}
			first := int32(len(e.ranges))
			e.ranges = append(e.ranges, t.ranges...)
			e.edges = append(e.edges, edge{to: k.to, all: t.all, first: first, end: int32(len(e.ranges))})
		}
	}
	e.edgeStart[len(e.peers)] = int32(len(e.edges))

	// The same edges by to peer: count, place, and they come out sorted by from
	// peer because the edges are.
	e.inStart = make([]int32, len(e.peers)+1)
	for _, ed := range e.edges {
		e.inStart[ed.to+1]++
	}
	for t := range e.peers {
		e.inStart[t+1] += e.inStart[t]
	}
	e.inEdges = make([]inEdge, len(e.edges))
	fill := slices.Clone(e.inStart[:len(e.peers)])
	for from := range e.peers {
		for i := e.edgeStart[from]; i < e.edgeStart[from+1]; i++ {
			to := e.edges[i].to
			e.inEdges[fill[to]] = inEdge{from: int32(from), edge: i}
			fill[to]++
		}
	}
}

// Classify gives the verdict on one flow record. It allocates nothing: the strings
// of the verdict are the engine's own.
func (e *Engine) Classify(r *model.FlowRecord) Verdict {
	src := &e.sets[e.lookup(r.Src)]
	dst := &e.sets[e.lookup(r.Dst)]
	var v Verdict
	if src.best >= 0 {
		v.Src = e.peers[src.best].label
	}
	if dst.best >= 0 {
		v.Dst = e.peers[dst.best].label
	}
	if !src.segment && !dst.segment {
		v.Class = Unknown
		return v
	}
	v.Enforced = src.enforced || dst.enforced
	rank := e.permits(src, dst, r.Protocol, r.DstPort)
	if rank == noGrant {
		// The reply of a connection the policy allows the other way.
		if rank = e.permits(dst, src, r.Protocol, reversePort(r)); rank != noGrant {
			v.Return = true
		}
	}
	if rank != noGrant {
		g := &e.grants[rank]
		v.Allow, v.Service = g.allow, g.service
		if r.Action == model.FlowDrop {
			v.Class = WantedButBlocked
		} else {
			v.Class = Allowed
		}
		return v
	}
	switch {
	case r.Action == model.FlowDrop:
		v.Class = Blocked
	case r.Action == model.FlowWouldDrop, !v.Enforced:
		v.Class = WouldBlock
	default:
		v.Class = Violation
	}
	return v
}

// lookup returns the index of the set of peers containing a.
func (e *Engine) lookup(a netip.Addr) int32 {
	if a.Is4In6() {
		a = a.Unmap()
	}
	switch {
	case a.Is4():
		b := a.As4()
		return e.v4.lookup(binary.BigEndian.Uint32(b[:]))
	case a.Is6():
		b := a.As16()
		return e.v6.lookup(addr128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])})
	}
	return 0 // the zero Addr: in no peer
}

// permits returns the best rank of a grant that lets any peer of from reach any peer
// of to on port of proto, or noGrant.
func (e *Engine) permits(from, to *addrSet, proto model.Protocol, port uint16) int32 {
	best := int32(noGrant)
	toPeers := e.setPeers[to.first:to.end]
	for _, f := range e.setPeers[from.first:from.end] {
		out := e.edges[e.edgeStart[f]:e.edgeStart[f+1]]
		if len(out) == 0 {
			continue
		}
		for _, t := range toPeers {
			ed := e.findEdge(out, f, t)
			if ed == nil {
				continue
			}
			r := ed.all
			if ed.first < ed.end {
				r = min(r, lookupRanges(e.ranges[ed.first:ed.end], proto, port))
			}
			best = min(best, r)
		}
	}
	return best
}

// findEdge returns the edge from f to t, or nil, searching out (f's edges) or the
// edges into t, whichever is shorter.
func (e *Engine) findEdge(out []edge, f, t int32) *edge {
	in := e.inEdges[e.inStart[t]:e.inStart[t+1]]
	if len(in) < len(out) {
		lo, hi := 0, len(in)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if in[m].from < f {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < len(in) && in[lo].from == f {
			return &e.edges[in[lo].edge]
		}
		return nil
	}
	lo, hi := 0, len(out)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if out[m].to < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(out) && out[lo].to == t {
		return &out[lo]
	}
	return nil
}

// reversePort is the destination port of the flow a record would be the reply to:
// its source port, or for an ICMP echo, timestamp, information or address-mask reply
// the type of the request it answers (RFC 792, RFC 950, RFC 4443 §4). Flow logs put
// the type of an ICMP message where a port would be and nothing in the source port,
// so without this a ping reply would never match the allow that permits the ping.
func reversePort(r *model.FlowRecord) uint16 {
	switch {
	case r.Protocol == model.ProtocolICMP:
		switch r.DstPort {
		case 0: // echo reply
			return 8
		case 14, 16, 18: // timestamp, information, address-mask reply
			return r.DstPort - 1
		}
	case r.Protocol == model.ProtocolICMPv6 && r.DstPort == 129: // echo reply
		return 128
	}
	return r.SrcPort
}
