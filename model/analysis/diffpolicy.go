package analysis

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
)

// FlowChange is one contiguous range of flows between two peers that one policy
// version permits and the other does not.
type FlowChange struct {
	From, To model.PeerRef
	Port     model.ServicePort
	// Except is set when Port is "all": the flows of every protocol except these
	// changed. "all" minus tcp/443 has no other exact spelling.
	Except []model.ServicePort
	// Allows names the allows that permit the change in the version that has it.
	Allows []string
}

// String gives the change without its sign: "segment.web -> segment.db tcp/5432 (allow web-to-db)".
func (c FlowChange) String() string {
	port := c.Port.String()
	if len(c.Except) > 0 {
		port += " except " + joinPorts(c.Except)
	}
	word := "allow"
	if len(c.Allows) > 1 {
		word = "allows"
	}
	return fmt.Sprintf("%s -> %s %s (%s %s)", c.From, c.To, port, word, strings.Join(c.Allows, ", "))
}

// Delta is how reachability differs between two policy versions.
type Delta struct {
	Added   []FlowChange // permitted by the new version only, sorted
	Removed []FlowChange // permitted by the old version only, sorted
}

// Empty reports whether both versions permit exactly the same flows.
func (d Delta) Empty() bool { return len(d.Added) == 0 && len(d.Removed) == 0 }

// DiffReachability compares what two policy versions permit, pair by pair, as the
// union of ports per protocol, so that the answer is about flows rather than text:
// an allow widened from tcp/443 to tcp/443-444 adds only tcp/444, an allow split in
// two or renamed changes nothing, and moving a port from one allow to another
// between the same peers is no change.
func DiffReachability(old, new *model.Policy) Delta {
	oldIx, newIx := indexPolicy(old), indexPolicy(new)
	pairs := oldIx.sortedPairs()
	for _, pr := range newIx.sortedPairs() {
		if _, ok := oldIx.pairs[pr]; !ok {
			pairs = append(pairs, pr)
		}
	}
	slices.SortFunc(pairs, comparePair)

	var d Delta
	for _, pr := range pairs {
		before, after := oldIx.union(pr), newIx.union(pr)
		d.Added = append(d.Added, changes(pr, after.Subtract(before), newIx)...)
		d.Removed = append(d.Removed, changes(pr, before.Subtract(after), oldIx)...)
	}
	return d
}

// changes splits a changed set into one FlowChange per contiguous range, naming the
// allows of ix that permit each.
func changes(pr pair, changed PortSet, ix *reachIndex) []FlowChange {
	if changed.Empty() {
		return nil
	}
	if except := changed.Except(); except != nil {
		return []FlowChange{{From: pr.from, To: pr.to, Port: model.ServicePort{Protocol: model.ProtocolAll}, Except: except,
			Allows: ix.allowsOverlapping(pr, changed)}}
	}
	var out []FlowChange
	for _, port := range changed.Ports() {
		out = append(out, FlowChange{From: pr.from, To: pr.to, Port: port, Allows: ix.allowsOverlapping(pr, NewPortSet(port))})
	}
	return out
}

// WriteText writes one line per change, removals and additions of a pair together so
// that a reviewer sees a port move as one edit, then a summary:
//
//   - segment.web -> segment.db tcp/5432 (allow web-to-db)
//   - segment.web -> segment.db tcp/5433 (allow web-to-db)
//     1 flow range added, 1 removed
//
// An empty delta prints "no reachability changes".
func (d Delta) WriteText(w io.Writer) error {
	if d.Empty() {
		_, err := io.WriteString(w, "no reachability changes\n")
		return err
	}
	type line struct {
		sign string
		c    FlowChange
	}
	lines := make([]line, 0, len(d.Added)+len(d.Removed))
	for _, c := range d.Removed {
		lines = append(lines, line{"-", c})
	}
	for _, c := range d.Added {
		lines = append(lines, line{"+", c})
	}
	slices.SortStableFunc(lines, func(a, b line) int {
		if c := comparePair(pair{a.c.From, a.c.To}, pair{b.c.From, b.c.To}); c != 0 {
			return c
		}
		return a.c.Port.Compare(b.c.Port)
	})
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s %s\n", l.sign, l.c)
	}
	fmt.Fprintf(&b, "%s added, %d removed\n", plural(len(d.Added), "flow range", "flow ranges"), len(d.Removed))
	_, err := io.WriteString(w, b.String())
	return err
}
