package discover

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// unionFind joins candidates into groups. The root of a group is always its candidate
// that sorts first (see Discoverer.candLess), so that the result does not depend on the
// order records arrived in.
type unionFind struct{ parent []int32 }

func newUnionFind(n int) *unionFind {
	uf := &unionFind{parent: make([]int32, n)}
	for i := range uf.parent {
		uf.parent[i] = int32(i)
	}
	return uf
}

func (uf *unionFind) find(x int32) int32 {
	for uf.parent[x] != x {
		uf.parent[x] = uf.parent[uf.parent[x]]
		x = uf.parent[x]
	}
	return x
}

// candLess orders candidates by what they are, never by when they were first seen.
func (d *Discoverer) candCompare(a, b int32) int {
	ka, kb := d.cands[a].key, d.cands[b].key
	return cmp.Or(cmp.Compare(ka.kind, kb.kind), comparePrefix(ka.subnet, kb.subnet), cmp.Compare(ka.labels, kb.labels))
}

func (d *Discoverer) union(uf *unionFind, a, b int32) {
	ra, rb := uf.find(a), uf.find(b)
	if ra == rb {
		return
	}
	if d.candCompare(rb, ra) < 0 {
		ra, rb = rb, ra
	}
	uf.parent[rb] = ra
}

// feature packs one element of a group's traffic profile: the peer group (0 for the
// group itself, so that two subnets that each talk among themselves look alike),
// protocol, direction and port.
func feature(peer, self int32, proto uint8, out bool, port uint16) uint64 {
	code := uint64(0)
	if peer != self {
		code = uint64(peer) + 1
	}
	dir := uint64(0)
	if out {
		dir = 1
	}
	return code<<32 | uint64(proto)<<24 | dir<<16 | uint64(port)
}

// mergeSimilar merges subnet candidates of one target whose traffic profiles are
// similar enough, until nothing more merges: a merge changes the peers in other
// groups' profiles, which can make them similar in turn. Each round merges identical
// profiles first (cheap, by hashing), then near ones found by prefix filtering
// (Chaudhuri et al., "A primitive operator for similarity joins", 2006): two sets
// with Jaccard similarity at least t share an element among the first
// n - ceil(t*n) + 1 of each, in one global order (rarest first), so only pairs sharing
// such an element are compared. In a round a group merges at most once, best pair
// first, so that A~B and B~C never drag A and C together when they are unlike.
func (d *Discoverer) mergeSimilar(kept []edge, targets []string, uf *unionFind) {
	t := d.opts.Similarity
	if t > 1 {
		return
	}
	mergeable := func(id int32) bool { return d.cands[id].key.kind == candSubnet }
	for {
		profiles := map[int32][]uint64{}
		for _, e := range kept {
			rc, rs := uf.find(e.key.client), uf.find(e.key.server)
			if mergeable(rc) {
				profiles[rc] = append(profiles[rc], feature(rs, rc, uint8(e.key.proto), true, e.key.port))
			}
			if mergeable(rs) {
				profiles[rs] = append(profiles[rs], feature(rc, rs, uint8(e.key.proto), false, e.key.port))
			}
		}
		roots := make([]int32, 0, len(profiles))
		for r, f := range profiles {
			slices.Sort(f)
			profiles[r] = slices.Compact(f)
			roots = append(roots, r)
		}
		slices.SortFunc(roots, d.candCompare)

		// Identical profiles in one target.
		merged := false
		first := map[string]int32{}
		var key strings.Builder
		for _, r := range roots {
			key.Reset()
			key.WriteString(targets[r])
			key.WriteByte(0)
			for _, f := range profiles[r] {
				for i := range 8 {
					key.WriteByte(byte(f >> (8 * i)))
				}
			}
			if other, ok := first[key.String()]; ok {
				d.union(uf, other, r)
				merged = true
			} else {
				first[key.String()] = r
			}
		}
		if merged {
			continue
		}
		if !d.mergeNear(roots, profiles, targets, uf, t) {
			return
		}
	}
}

// mergeNear merges the best non-overlapping pairs with similarity at least t; it
// reports whether it merged any.
func (d *Discoverer) mergeNear(roots []int32, profiles map[int32][]uint64, targets []string, uf *unionFind, t float64) bool {
	df := map[uint64]int{}
	for _, r := range roots {
		for _, f := range profiles[r] {
			df[f]++
		}
	}
	rarest := func(a, b uint64) int { return cmp.Or(cmp.Compare(df[a], df[b]), cmp.Compare(a, b)) }
	type pair struct {
		a, b int // indices into roots
		sim  float64
	}
	var pairs []pair
	index := map[uint64][]int{}
	seen := map[int]bool{}
	for i, r := range roots {
		ordered := slices.Clone(profiles[r])
		slices.SortFunc(ordered, rarest)
		n := len(ordered)
		prefix := n - int(math.Ceil(t*float64(n)-1e-9)) + 1
		prefix = max(1, min(prefix, n))
		clear(seen)
		for _, f := range ordered[:prefix] {
			for _, j := range index[f] {
				if seen[j] || targets[roots[j]] != targets[r] {
					continue
				}
				seen[j] = true
				if sim := jaccard(profiles[roots[j]], profiles[r]); sim >= t-1e-12 {
					pairs = append(pairs, pair{j, i, sim})
				}
			}
			index[f] = append(index[f], i)
		}
	}
	if len(pairs) == 0 {
		return false
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		return cmp.Or(cmp.Compare(y.sim, x.sim), cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b))
	})
	done := map[int]bool{}
	for _, p := range pairs {
		if done[p.a] || done[p.b] {
			continue
		}
		done[p.a], done[p.b] = true, true
		d.union(uf, roots[p.a], roots[p.b])
	}
	return true
}

// jaccard is |a ∩ b| / |a ∪ b| of two sorted sets.
func jaccard(a, b []uint64) float64 {
	inter, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			inter++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	union := len(a) + len(b) - inter
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// aggregate covers exactly the given sorted, distinct addresses with the fewest
// prefixes: runs of consecutive addresses are cut into the largest aligned blocks.
func aggregate(addrs []netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for i := 0; i < len(addrs); {
		lo := addrs[i]
		j := i
		for j+1 < len(addrs) && addrs[j].Next() == addrs[j+1] {
			j++
		}
		hi := addrs[j]
		for {
			bits := lo.BitLen()
			for bits > 0 {
				wider := netip.PrefixFrom(lo, bits-1).Masked()
				if wider.Addr() != lo || lastAddr(wider).Compare(hi) > 0 {
					break
				}
				bits--
			}
			p := netip.PrefixFrom(lo, bits)
			out = append(out, p)
			last := lastAddr(p)
			if last == hi {
				break
			}
			lo = last.Next()
		}
		i = j + 1
	}
	return out
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	if p.Addr().Is4() {
		b := p.Addr().As4()
		for i := p.Bits(); i < 32; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		return netip.AddrFrom4(b)
	}
	b := p.Addr().As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}
