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
	// edges is an open-addressing hash table of every (from peer, to peer) pair
	// that has permissions, found by one probe or two: a binary search over a
	// peer's edges (a network like the internet has thousands) touched a cache
	// line per step.
	edges    []edge
	edgeMask uint64
	// networks is the number of the first network; peers from it on are networks,
	// and no edge joins two networks.
	networks int32
	ranges   []portRange // every edge's port ranges, an edge's together
	grants   []grant     // by rank
}

// peer is a segment or a network. Peers are numbered segments first, then
// networks, each kind by name: the order the most-specific choice breaks ties in.
type peer struct {
	label    string // "segment.NAME" or "network.NAME", as verdicts name it
	segment  bool
	enforced bool // a segment in enforce mode
	out, in  bool // the peer has edges from it, to it
}

// edge says that the pair key (from peer << 32 | to peer) has permissions: every
// protocol and port with the grant of rank all (noGrant for none), and
// ranges[first:end]. An empty slot has key emptyEdge.
type edge struct {
	key        uint64
	all        int32
	first, end int32
}

const emptyEdge = ^uint64(0)

func edgeKey(from, to int32) uint64 { return uint64(uint32(from))<<32 | uint64(uint32(to)) }

// edgeSlot is where the probe for key starts: a multiplicative hash, whose high bits
// mix every bit of both peers.
func edgeSlot(key, mask uint64) uint64 { return (key * 0x9e3779b97f4a7c15 >> 32) & mask }

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
	e.networks = int32(len(e.peers))
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
	// What a verdict needs of a set's peers, copied into the set: one cache line.
	for i := range e.sets {
		set := &e.sets[i]
		set.id = uint32(i)
		if set.best >= 0 {
			set.label = e.peers[set.best].label
		}
		for _, id := range e.setPeers[set.first:set.end] {
			set.out = set.out || e.peers[id].out
			set.in = set.in || e.peers[id].in
		}
	}
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
		if !okFrom || !okTo || from >= e.networks && to >= e.networks {
			continue // analysis.Flows leaves out two networks already; permits relies on it
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
	type pending struct {
		key        uint64
		all        int32
		first, end int32
	}
	var found []pending
	for _, k := range pairs {
		t := newPortTable(byPair[k])
		if t.all == noGrant && len(t.ranges) == 0 {
			continue
		}
		first := int32(len(e.ranges))
		for _, r := range t.ranges {
			r.grant = e.grants[r.rank]
			e.ranges = append(e.ranges, r)
		}
		found = append(found, pending{edgeKey(k.from, k.to), t.all, first, int32(len(e.ranges))})
		e.peers[k.from].out = true
		e.peers[k.to].in = true
	}
	// At most half full, so that a probe rarely goes past its first slot.
	size := 4
	for size < 2*len(found) {
		size *= 2
	}
	e.edges = make([]edge, size)
	for i := range e.edges {
		e.edges[i].key = emptyEdge
	}
	e.edgeMask = uint64(size - 1)
	for _, f := range found {
		i := edgeSlot(f.key, e.edgeMask)
		for e.edges[i].key != emptyEdge {
			i = (i + 1) & e.edgeMask
		}
		e.edges[i] = edge{key: f.key, all: f.all, first: f.first, end: f.end}
	}
}

// Classify gives the verdict on one flow record. It allocates nothing: the strings
// of the verdict are the engine's own.
func (e *Engine) Classify(r *model.FlowRecord) Verdict {
	src, dst := &e.sets[e.lookup(r.Src)], &e.sets[e.lookup(r.Dst)]
	v := Verdict{Src: src.label, Dst: dst.label}
	if !src.segment && !dst.segment {
		v.Class = Unknown
		return v
	}
	v.Enforced = src.enforced || dst.enforced
	rank, g := e.permits(src, dst, r.Protocol, r.DstPort)
	if rank == noGrant {
		// The reply of a connection the policy allows the other way.
		if rank, g = e.permits(dst, src, r.Protocol, reversePort(r)); rank != noGrant {
			v.Return = true
		}
	}
	if rank != noGrant {
		v.Allow, v.Service = g.allow, g.service
	}
	v.Class = judge(rank != noGrant, r.Action, v.Enforced)
	return v
}

// judge is the class of a flow the policy allows or not, by its observed action
// and whether a segment on its path enforces: the table of the package doc.
func judge(allowed bool, action model.FlowAction, enforced bool) Class {
	switch {
	case allowed && action == model.FlowDrop:
		return WantedButBlocked
	case allowed:
		return Allowed
	case action == model.FlowDrop:
		return Blocked
	case action == model.FlowWouldDrop, !enforced:
		return WouldBlock
	}
	return Violation
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
// of to on port of proto, and the grant, or noGrant and nil.
func (e *Engine) permits(from, to *addrSet, proto model.Protocol, port uint16) (int32, *grant) {
	if !from.out || !to.in {
		return noGrant, nil
	}
	best, bestGrant := int32(noGrant), (*grant)(nil)
	toPeers := e.setPeers[to.first:to.end]
	for _, f := range e.setPeers[from.first:from.end] {
		for _, t := range toPeers {
			if f >= e.networks && t >= e.networks {
				continue // two networks: never an edge, so no probe
			}
			if ed := e.findEdge(f, t); ed != nil {
				best, bestGrant = e.edgePermits(ed, proto, port, best, bestGrant)
			}
		}
	}
	return best, bestGrant
}

// edgePermits returns the better of (best, bestGrant) and what ed grants on port
// of proto.
func (e *Engine) edgePermits(ed *edge, proto model.Protocol, port uint16, best int32, bestGrant *grant) (int32, *grant) {
	if ed.first < ed.end {
		if i := lookupRanges(e.ranges[ed.first:ed.end], proto, port); i >= 0 {
			// A range holds only ranks better than the pair's "all".
			if r := &e.ranges[int(ed.first)+i]; r.rank < best {
				return r.rank, &r.grant
			}
			return best, bestGrant
		}
	}
	if ed.all < best {
		return ed.all, &e.grants[ed.all]
	}
	return best, bestGrant
}

// findEdge returns the edge from f to t, or nil.
func (e *Engine) findEdge(f, t int32) *edge {
	if i := e.edgeIndex(f, t); i >= 0 {
		return &e.edges[i]
	}
	return nil
}

// edgeIndex returns the index in e.edges of the edge from f to t, or -1.
func (e *Engine) edgeIndex(f, t int32) int32 {
	key := edgeKey(f, t)
	for i := edgeSlot(key, e.edgeMask); ; i = (i + 1) & e.edgeMask {
		switch e.edges[i].key {
		case key:
			return int32(i)
		case emptyEdge:
			return -1
		}
	}
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
