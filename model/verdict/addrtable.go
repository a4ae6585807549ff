package verdict

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Addresses are resolved to peers through sorted tables of disjoint intervals, one
// per family: the boundaries of every prefix cut the address space into intervals,
// and each interval records the set of peers whose prefixes contain it. A lookup is
// one binary search over a flat slice, which allocates nothing and touches a few
// cache lines, where a pointer-chasing trie would touch one node per bit.

// addr128 is an address as a 128-bit number; IPv4 addresses use lo only.
type addr128 struct{ hi, lo uint64 }

func (a addr128) compare(b addr128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

// next returns a+1, or false when a is the family's last address.
func (a addr128) next(last addr128) (addr128, bool) {
	if a == last {
		return addr128{}, false
	}
	a.lo++
	if a.lo == 0 {
		a.hi++
	}
	return a, true
}

var (
	last4 = addr128{lo: 1<<32 - 1}
	last6 = addr128{hi: ^uint64(0), lo: ^uint64(0)}
)

// prefixSpan is the first and last address of a prefix, and its family.
func prefixSpan(p netip.Prefix) (first, last addr128, bits int, is4 bool) {
	p = p.Masked()
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() && bits >= 96 {
		// Records carry IPv4 addresses unmapped; so must the table.
		a, bits = a.Unmap(), bits-96
	}
	if a.Is4() {
		b := a.As4()
		v := uint64(binary.BigEndian.Uint32(b[:]))
		host := uint(32 - bits)
		return addr128{lo: v}, addr128{lo: v | (1<<host - 1)}, bits, true
	}
	b := a.As16()
	first = addr128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
	last = first
	host := uint(128 - bits)
	if host >= 64 {
		last.lo = ^uint64(0)
		// A shift by 64 gives 0 in Go, so /0 sets every bit of hi.
		last.hi |= 1<<(host-64) - 1
	} else {
		last.lo |= 1<<host - 1
	}
	return first, last, bits, false
}

// peerPrefix is one prefix of one peer.
type peerPrefix struct {
	peer        int32
	bits        int
	first, last addr128
}

// peerHit is a peer containing an interval, with the longest of its prefixes that does.
type peerHit struct {
	peer int32
	bits int
}

// addrSet is the set of peers that contain an interval, with what every verdict
// needs of it computed once.
type addrSet struct {
	// The set's peers, ascending, are setPeers[first:end]: one flat slice for all
	// sets keeps them together in memory.
	first, end int32
	best       int32 // the most specific peer, or -1 for none
	segment    bool  // a segment contains the addresses
	enforced   bool  // an enforce-mode segment contains them
	// out and in say whether any peer of the set has edges from it or to it; a set
	// without them permits nothing, found without a probe.
	out, in bool
	id      uint32 // the set's own index, which a Classifier remembers tuples by
	label   string // the label of best, or "": what Verdict.Src and Dst take
}

// setInterner gives each distinct set of peer hits one index, shared by both
// families; index 0 is the empty set.
type setInterner struct {
	peers    []peer
	sets     []addrSet
	setPeers []int32
	index    map[string]int32
}

func newSetInterner(peers []peer) *setInterner {
	return &setInterner{peers: peers, sets: []addrSet{{best: -1}}, index: map[string]int32{"": 0}}
}

// intern returns the index of the set of hits, which it sorts and dedupes (a peer
// with several prefixes around an interval keeps its longest).
func (s *setInterner) intern(hits []peerHit) int32 {
	slices.SortFunc(hits, func(a, b peerHit) int {
		if a.peer != b.peer {
			return int(a.peer - b.peer)
		}
		return b.bits - a.bits
	})
	hits = slices.CompactFunc(hits, func(a, b peerHit) bool { return a.peer == b.peer })
	var key strings.Builder
	for _, h := range hits {
		key.WriteString(strconv.Itoa(int(h.peer)))
		key.WriteByte('/')
		key.WriteString(strconv.Itoa(h.bits))
		key.WriteByte(',')
	}
	if i, ok := s.index[key.String()]; ok {
		return i
	}
	set := addrSet{best: -1, first: int32(len(s.setPeers)), end: int32(len(s.setPeers) + len(hits))}
	bestBits := -1
	for _, h := range hits {
		s.setPeers = append(s.setPeers, h.peer)
		p := &s.peers[h.peer]
		if p.segment {
			set.segment = true
			set.enforced = set.enforced || p.enforced
		}
		// Peers are numbered segments first, each kind by name, and hits are in that
		// order: a later hit wins only by being a segment where the best is not, or,
		// of the same kind, by a longer prefix.
		switch {
		case set.best < 0,
			p.segment && !s.peers[set.best].segment,
			p.segment == s.peers[set.best].segment && h.bits > bestBits:
			set.best, bestBits = h.peer, h.bits
		}
	}
	i := int32(len(s.sets))
	s.sets = append(s.sets, set)
	s.index[key.String()] = i
	return i
}

// intervals cuts one family's address space at the boundaries of prefixes and gives
// the set index of each interval: starts[i] is the first address of interval i,
// which runs up to starts[i+1]. starts[0] is always address zero, and neighbouring
// intervals have different sets.
func intervals(prefixes []peerPrefix, last addr128, sets *setInterner) (starts []addr128, setOf []int32) {
	bounds := []addr128{{}}
	for _, p := range prefixes {
		bounds = append(bounds, p.first)
		if n, ok := p.last.next(last); ok {
			bounds = append(bounds, n)
		}
	}
	slices.SortFunc(bounds, addr128.compare)
	bounds = slices.Compact(bounds)
	find := func(a addr128) int {
		i, _ := slices.BinarySearchFunc(bounds, a, addr128.compare)
		return i
	}
	// Prefixes nest or are disjoint, so the work is the number of intervals times
	// the nesting depth, not times the number of prefixes.
	cover := make([][]peerHit, len(bounds))
	for _, p := range prefixes {
		end := len(bounds)
		if n, ok := p.last.next(last); ok {
			end = find(n)
		}
		for k := find(p.first); k < end; k++ {
			cover[k] = append(cover[k], peerHit{p.peer, p.bits})
		}
	}
	for k, b := range bounds {
		id := sets.intern(cover[k])
		if n := len(setOf); n > 0 && setOf[n-1] == id {
			continue
		}
		starts = append(starts, b)
		setOf = append(setOf, id)
	}
	return starts, setOf
}

// table4 and table6 are the lookup forms of intervals: IPv4 starts as uint32 so
// that a search compares machine words.
type table4 struct {
	starts []uint32
	sets   []int32
	// bucket, for a large table, narrows the search by the address's top 16 bits:
	// the interval holding a is among bucket[a>>16] ..= bucket[a>>16+1]. Policies put
	// most of their prefixes in a few /16s, so the buckets that flows use stay in
	// cache, and the search within one is a step or three instead of a dozen.
	bucket []int32
}

// bucketMin is the size of table from which a table4 has buckets: below it the
// whole search fits in a cache line or two.
const bucketMin = 64

type table6 struct {
	starts []addr128
	sets   []int32
}

func newTable4(prefixes []peerPrefix, sets *setInterner) table4 {
	starts, setOf := intervals(prefixes, last4, sets)
	t := table4{starts: make([]uint32, len(starts)), sets: setOf}
	for i, s := range starts {
		t.starts[i] = uint32(s.lo)
	}
	if len(starts) >= bucketMin {
		t.bucket = make([]int32, 1<<16+1)
		i := 0
		for b := range 1 << 16 {
			// The interval holding the bucket's first address.
			for i+1 < len(t.starts) && t.starts[i+1] <= uint32(b)<<16 {
				i++
			}
			t.bucket[b] = int32(i)
		}
		t.bucket[1<<16] = int32(len(t.starts) - 1)
	}
	return t
}

func newTable6(prefixes []peerPrefix, sets *setInterner) table6 {
	starts, setOf := intervals(prefixes, last6, sets)
	return table6{starts: starts, sets: setOf}
}

// lookup returns the set index of the interval holding a.
func (t *table4) lookup(a uint32) int32 {
	lo, hi := 0, len(t.starts)
	if t.bucket != nil {
		lo, hi = int(t.bucket[a>>16]), int(t.bucket[a>>16+1])+1
	}
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if t.starts[m] <= a {
			lo = m
		} else {
			hi = m
		}
	}
	return t.sets[lo]
}

func (t *table6) lookup(a addr128) int32 {
	lo, hi := 0, len(t.starts)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		s := t.starts[m]
		if s.hi < a.hi || s.hi == a.hi && s.lo <= a.lo {
			lo = m
		} else {
			hi = m
		}
	}
	return t.sets[lo]
}
