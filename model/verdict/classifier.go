package verdict

import (
	"encoding/binary"
	"net/netip"

	"github.com/microseg/microseg/model"
)

// Flow logs repeat themselves: the same few thousand addresses talk to each other
// on the same service ports all day. A Classifier remembers, in small direct-mapped
// tables, the peer sets of the addresses it saw last and the edges between the pairs
// of sets it saw last, so that a repeated flow costs a few lookups in memory it
// touched recently instead of binary searches and hash probes over tables of
// megabytes. The tables hold only what the immutable Engine computes
// from the same inputs, so a Classifier's verdicts are the Engine's, always.

const (
	addr4CacheBits = 13 // 8,192 IPv4 addresses, 64 KiB
	addr6CacheBits = 10 // 1,024 IPv6 addresses, 24 KiB
	pairsCacheBits = 13 // 8,192 pairs of sets, 256 KiB
	// pairEdges is how many edges a remembered pair of sets may have; a pair with
	// more (a set of many peers) goes to the engine every time.
	pairEdges = 4
)

// Classifier classifies flow records like its Engine's Classify, faster on the
// repetitive input of flow logs. It is not safe for concurrent use: each goroutine
// that classifies makes its own with Engine.NewClassifier (the Engine itself is
// shared). Its memory is fixed, about 350 KiB, whatever it sees.
type Classifier struct {
	e      *Engine
	addrs4 [1 << addr4CacheBits]uint64 // address << 32 | set + 1; 0 is empty
	addrs6 [1 << addr6CacheBits]addr6Entry
	pairs  [1 << pairsCacheBits]pairEntry
}

// pairEntry remembers the edges between the peers of two sets (from << 32 | to):
// n of them in edges, as indexes of Engine.edges, or n < 0 for more than fit. The
// pair rather than the (pair, protocol, port) tuple is remembered because a return
// flow's port is ephemeral: a tuple table filled with those and missed (measured).
// sets is never 0 in a filled entry: set 0 holds no peer, so it has no edges and
// permits answers without asking.
type pairEntry struct {
	sets  uint64
	n     int32
	edges [pairEdges]int32
}

// addr6Entry remembers the set of an IPv6 address: set is the set index plus one,
// so that the zero entry is empty.
type addr6Entry struct {
	hi, lo uint64
	set    int32
}

// NewClassifier returns an empty Classifier of e's verdicts for one goroutine.
func (e *Engine) NewClassifier() *Classifier {
	return &Classifier{e: e}
}

// Classify gives the verdict on one flow record: exactly what Engine.Classify gives.
// It allocates nothing.
func (c *Classifier) Classify(r *model.FlowRecord) Verdict {
	e := c.e
	src, dst := &e.sets[c.lookup(r.Src)], &e.sets[c.lookup(r.Dst)]
	v := Verdict{Src: src.label, Dst: dst.label}
	if !src.segment && !dst.segment {
		v.Class = Unknown
		return v
	}
	v.Enforced = src.enforced || dst.enforced
	rank := c.permits(src, dst, r.Protocol, r.DstPort)
	if rank == noGrant {
		if rank = c.permits(dst, src, r.Protocol, reversePort(r)); rank != noGrant {
			v.Return = true
		}
	}
	if rank != noGrant {
		g := &e.grants[rank]
		v.Allow, v.Service = g.allow, g.service
	}
	v.Class = judge(rank != noGrant, r.Action, v.Enforced)
	return v
}

// lookup is Engine.lookup through the address tables.
func (c *Classifier) lookup(a netip.Addr) int32 {
	if a.Is4In6() {
		a = a.Unmap()
	}
	switch {
	case a.Is4():
		b := a.As4()
		v := binary.BigEndian.Uint32(b[:])
		ent := &c.addrs4[(uint64(v)*0x9e3779b97f4a7c15)>>(64-addr4CacheBits)]
		if uint32(*ent>>32) == v && *ent != 0 {
			return int32(uint32(*ent)) - 1
		}
		set := c.e.v4.lookup(v)
		*ent = uint64(v)<<32 | uint64(uint32(set+1))
		return set
	case a.Is6():
		b := a.As16()
		hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
		ent := &c.addrs6[((hi^lo*0x9e3779b97f4a7c15)*0x9e3779b97f4a7c15)>>(64-addr6CacheBits)]
		if ent.set != 0 && ent.lo == lo && ent.hi == hi {
			return ent.set - 1
		}
		set := c.e.v6.lookup(addr128{hi: hi, lo: lo})
		*ent = addr6Entry{hi: hi, lo: lo, set: set + 1}
		return set
	}
	return 0 // the zero Addr: in no peer
}

// permits is Engine.permits through the edges remembered for the pair of sets.
func (c *Classifier) permits(from, to *addrSet, proto model.Protocol, port uint16) int32 {
	if !from.out || !to.in {
		return noGrant
	}
	return c.pairPermits(uint64(from.id)<<32|uint64(to.id), from, to, proto, port)
}

// pairPermits is permits once the sets are known to have edges; sets is their key.
func (c *Classifier) pairPermits(sets uint64, from, to *addrSet, proto model.Protocol, port uint16) int32 {
	e := c.e
	ent := &c.pairs[(sets*0x9e3779b97f4a7c15)>>(64-pairsCacheBits)]
	if ent.sets != sets {
		*ent = pairEntry{sets: sets}
		toPeers := e.setPeers[to.first:to.end]
	find:
		for _, f := range e.setPeers[from.first:from.end] {
			for _, t := range toPeers {
				if f >= e.networks && t >= e.networks {
					continue
				}
				if i := e.edgeIndex(f, t); i >= 0 {
					if ent.n == pairEdges {
						ent.n = -1
						break find
					}
					ent.edges[ent.n] = i
					ent.n++
				}
			}
		}
	}
	if ent.n < 0 {
		rank, _ := e.permits(from, to, proto, port)
		return rank
	}
	best := int32(noGrant)
	for _, i := range ent.edges[:ent.n] {
		best, _ = e.edgePermits(&e.edges[i], proto, port, best, nil)
	}
	return best
}
