package azure

import (
	"fmt"
	"strings"
)

// allocatePriorities gives every wanted rule a name and a priority, per direction.
// A rule the NSG already holds (same key) keeps its name and priority when that
// priority is in its class's band and no other wanted rule took it first: adding or
// removing one allow never renumbers the others, and removals leave gaps. Every other
// rule gets, in key order, the lowest number of its band that no rule of the NSG
// holds in its direction, preferring numbers that no rule about to be removed holds
// either, so that the old and the new rules can stand side by side while an apply
// swaps them (make before break) without a SecurityRuleConflict. want must be in
// key order.
func allocatePriorities(target string, want []*ruleSpec, held map[string]*ruleSpec, live []*ruleSpec) error {
	type dirPrio struct {
		inbound bool
		p       int32
	}
	taken := map[dirPrio]bool{} // by a wanted rule
	names := map[string]bool{}
	var fresh []*ruleSpec
	for _, r := range want {
		first, last := r.class.band()
		h := held[r.key()]
		if h != nil && h.priority >= first && h.priority <= last && !taken[dirPrio{r.inbound, h.priority}] && !names[strings.ToLower(h.name)] {
			r.priority, r.name = h.priority, h.name
			taken[dirPrio{r.inbound, r.priority}] = true
			names[strings.ToLower(r.name)] = true
			continue
		}
		fresh = append(fresh, r)
	}
	occupied := map[dirPrio]bool{}
	for _, l := range live {
		occupied[dirPrio{l.inbound, l.priority}] = true
	}
	next := map[dirPrio]int32{} // per direction and band start: where to look next
	for _, r := range fresh {
		first, last := r.class.band()
		r.name = ruleName(r)
		for names[strings.ToLower(r.name)] { // a name a kept rule made by hand holds
			r.name += "x"
		}
		names[strings.ToLower(r.name)] = true
		at := max(first, next[dirPrio{r.inbound, first}])
		for at <= last && (taken[dirPrio{r.inbound, at}] || occupied[dirPrio{r.inbound, at}]) {
			at++
		}
		if at > last { // the band is full of rules to remove: they go first
			at = first
			for at <= last && taken[dirPrio{r.inbound, at}] {
				at++
			}
		}
		if at > last {
			dir := "outbound"
			if r.inbound {
				dir = "inbound"
			}
			return fmt.Errorf("target %s: no free %s priority between %d and %d for rule %s: the NSG would hold too many rules of that kind", target, dir, first, last, r.key())
		}
		r.priority = at
		taken[dirPrio{r.inbound, at}] = true
		next[dirPrio{r.inbound, first}] = at + 1
	}
	return nil
}
