package onprem

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
)

// Removing an element from a large interval set is slow in the kernel: measured here,
// 60-70 ms per element deep in a 100,000-element pipapo set, over a minute for 1,000,
// while adding one costs about 1.5 ms. So a removal does not delete the element: it
// adds it to the set's companion of revoked elements, a small interval set that the
// same rule looks up inverted (accept if in the set and not revoked). Revoking is as
// cheap as adding, and packets see the change in the same atomic transaction. The
// revoked elements are dropped for good when the table is next written whole: when
// more than tombstoneLimit accumulate, when an added element would overlap one (the
// kernel refuses overlapping interval elements), or on any change of structure.

const (
	revokedSuffix = "_revoked"
	// tombstoneLimit bounds the revoked elements of one set; past it the table is
	// rewritten whole (about 0.6 s for 100,000 elements).
	tombstoneLimit = 1024
	// freshLimit bounds the new elements an incremental apply checks for overlap with
	// a set's revoked ones, one by one; more go the whole-table way.
	freshLimit = 256
)

func revokedName(set string) string { return set + revokedSuffix }

// setChange is what one transaction adds to and deletes from one set.
type setChange struct {
	spec     SetSpec
	add, del []Element
}

// planElementChanges works out the element changes that take the kernel from current
// to desired when their structure is the same, and the ruleset the kernel will then
// hold. It reports false when the change must be a whole-table write instead.
func planElementChanges(current, desired *Ruleset) ([]setChange, *Ruleset, ApplyStats, bool) {
	var stats ApplyStats
	cur := map[string]*Set{}
	for _, s := range current.Sets {
		cur[s.Spec.Name] = s
	}
	want := map[string]*Set{}
	for _, s := range desired.Sets {
		want[s.Spec.Name] = s
	}
	result := &Ruleset{Present: true, Chains: desired.Chains, Rules: desired.Rules}
	var changes []setChange
	for _, d := range desired.Sets {
		if strings.HasSuffix(d.Spec.Name, revokedSuffix) {
			continue // handled with the set it revokes from
		}
		have := cur[d.Spec.Name]
		if !d.Spec.interval() {
			add, del := elementDelta(have.Elements, d.Elements)
			changes = append(changes, setChange{d.Spec, add, del})
			stats.ElementsAdded += len(add)
			stats.ElementsRemoved += len(del)
			result.Sets = append(result.Sets, d)
			continue
		}
		revName := revokedName(d.Spec.Name)
		if len(want[revName].Elements) > 0 {
			return nil, nil, stats, false // a desired ruleset with revocations: write it as it is
		}
		rev := cur[revName]
		// One pass over the large lists; the revoked ones are few.
		fresh, del := elementDelta(have.Elements, d.Elements)
		revoked := map[string]bool{}
		var revive, nowRevoked []Element
		for _, e := range rev.Elements {
			revoked[e.Text] = true
			if _, wanted := slices.BinarySearchFunc(d.Elements, e.Text, compareText); wanted {
				revive = append(revive, e) // still in the set: un-revoke it
			} else {
				nowRevoked = append(nowRevoked, e)
			}
		}
		del = slices.DeleteFunc(del, func(e Element) bool { return revoked[e.Text] })
		if len(fresh) > freshLimit {
			return nil, nil, stats, false
		}
		for _, e := range fresh {
			if overlapsAny(d.Spec, e, have.Elements) {
				return nil, nil, stats, false
			}
		}
		nowRevoked = append(nowRevoked, del...)
		if len(nowRevoked) > tombstoneLimit {
			return nil, nil, stats, false
		}
		sortElements(nowRevoked)
		elems := mergeElements(have.Elements, fresh)
		add := len(fresh) + len(revive)
		changes = append(changes,
			setChange{d.Spec, fresh, nil},
			setChange{rev.Spec, del, revive},
		)
		stats.ElementsAdded += add
		stats.ElementsRemoved += len(del)
		result.Sets = append(result.Sets, &Set{Spec: d.Spec, Elements: elems}, &Set{Spec: rev.Spec, Elements: nowRevoked})
	}
	slices.SortFunc(result.Sets, func(a, b *Set) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	return changes, result, stats, true
}

func compareText(e Element, text string) int { return strings.Compare(e.Text, text) }

// mergeElements returns the sorted union of a sorted list and a few sorted additions,
// sharing the list when there is nothing to add.
func mergeElements(list, add []Element) []Element {
	if len(add) == 0 {
		return list
	}
	out := make([]Element, 0, len(list)+len(add))
	i := 0
	for _, a := range add {
		j, _ := slices.BinarySearchFunc(list[i:], a.Text, compareText)
		out = append(out, list[i:i+j]...)
		out = append(out, a)
		i += j
	}
	return append(out, list[i:]...)
}

func sortElements(elems []Element) {
	slices.SortFunc(elems, func(a, b Element) int { return strings.Compare(a.Text, b.Text) })
}

// overlapsAny reports whether e overlaps an element of the set (the kernel would
// refuse it). Elements are read back from their bytes, whoever wrote them.
func overlapsAny(spec SetSpec, e Element, elems []Element) bool {
	nb, ok := elementBox(spec, e)
	if !ok {
		return true
	}
	for _, other := range elems {
		ob, ok := elementBox(spec, other)
		if !ok || (ob.proto == nb.proto && ob.lo.Compare(nb.hi) <= 0 && nb.lo.Compare(ob.hi) <= 0 && ob.plo <= nb.phi && nb.plo <= ob.phi) {
			return true
		}
	}
	return false
}

// elementBox reads an interval element's box from its key bytes.
func elementBox(spec SetSpec, e Element) (box, bool) {
	alen := 4
	if spec.IPv6 {
		alen = 16
	}
	if len(e.Key) < alen+4 || len(e.KeyEnd) != len(e.Key) {
		return box{}, false
	}
	lo, _ := netip.AddrFromSlice(e.Key[:alen])
	hi, _ := netip.AddrFromSlice(e.KeyEnd[:alen])
	b := box{lo: lo, hi: hi, plo: uint16(e.Key[alen]), phi: uint16(e.KeyEnd[alen])}
	if spec.Layout == LayoutRange {
		if len(e.Key) < alen+8 {
			return box{}, false
		}
		b.proto = model.Protocol(e.Key[alen])
		b.plo, b.phi = binary.BigEndian.Uint16(e.Key[alen+4:]), binary.BigEndian.Uint16(e.KeyEnd[alen+4:])
	}
	return b, true
}
