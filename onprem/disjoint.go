package onprem

import (
	"cmp"
	"net/netip"
	"slices"
)

// disjoint returns boxes that cover exactly what the given boxes cover, none
// overlapping another: the kernel refuses a whole transaction if two elements of an
// interval set overlap, and policies overlap all the time (the internet on tcp/443
// and a partner's /24 on tcp/443-444 into the same host). Boxes of different
// protocols never overlap. The result is sorted and, where neighbouring address
// ranges allow the same ports, merged.
//
// It sweeps the address axis: between two consecutive box boundaries the set of
// covering boxes is constant, and so is the union of their port ranges.
func disjoint(boxes []box) []box {
	byProto := map[uint8][]box{}
	for _, b := range boxes {
		byProto[uint8(b.proto)] = append(byProto[uint8(b.proto)], b)
	}
	var out []box
	for _, proto := range sortedProtos(byProto) {
		out = append(out, sweep(byProto[proto])...)
	}
	return out
}

func sortedProtos(m map[uint8][]box) []uint8 {
	keys := make([]uint8, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type portSpan struct{ lo, hi uint16 }

func sweep(boxes []box) []box {
	if len(boxes) == 1 {
		return boxes
	}
	slices.SortFunc(boxes, func(a, b box) int { return a.lo.Compare(b.lo) })
	// Boundaries: every start, and the address after every end.
	var bounds []netip.Addr
	for _, b := range boxes {
		bounds = append(bounds, b.lo)
		if next := b.hi.Next(); next.IsValid() {
			bounds = append(bounds, next)
		}
	}
	slices.SortFunc(bounds, func(a, b netip.Addr) int { return a.Compare(b) })
	bounds = slices.Compact(bounds)

	var out []box
	var active []box
	var open []portSpan // the ports of the run being built
	var runLo, runHi netip.Addr
	flush := func() {
		for _, p := range open {
			out = append(out, box{proto: boxes[0].proto, lo: runLo, hi: runHi, plo: p.lo, phi: p.hi})
		}
		open = nil
	}
	next := 0
	for i, at := range bounds {
		// The elementary range [at, end].
		end := lastOf(at)
		if i+1 < len(bounds) {
			end = bounds[i+1].Prev()
		}
		for next < len(boxes) && boxes[next].lo.Compare(at) <= 0 {
			active = append(active, boxes[next])
			next++
		}
		active = slices.DeleteFunc(active, func(b box) bool { return b.hi.Compare(at) < 0 })
		spans := union(active)
		if len(spans) > 0 && len(open) > 0 && slices.Equal(spans, open) && runHi.Next() == at {
			runHi = end
			continue
		}
		flush()
		if len(spans) > 0 {
			open, runLo, runHi = spans, at, end
		}
	}
	flush()
	return out
}

// union merges the port ranges of the active boxes into sorted disjoint spans.
func union(active []box) []portSpan {
	spans := make([]portSpan, 0, len(active))
	for _, b := range active {
		spans = append(spans, portSpan{b.plo, b.phi})
	}
	slices.SortFunc(spans, func(a, b portSpan) int { return cmp.Compare(a.lo, b.lo) })
	merged := spans[:0]
	for _, s := range spans {
		if n := len(merged); n > 0 && uint32(s.lo) <= uint32(merged[n-1].hi)+1 {
			merged[n-1].hi = max(merged[n-1].hi, s.hi)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// lastOf is the highest address of a's family.
func lastOf(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	return netip.AddrFrom16(b)
}
