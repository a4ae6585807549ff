package analysis

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
)

// Hop is one step of a path: the allows that let From reach To, and on which ports.
type Hop struct {
	From, To model.PeerRef
	Allows   []string            // sorted
	Ports    []model.ServicePort // the union over Allows, sorted
}

// Reach is one peer a compromised member of the start segment can reach, with the
// shortest path there.
type Reach struct {
	Node model.PeerRef
	Hops int
	Path []Hop
}

// BlastRadius lists every segment and network a compromised member of start can
// reach through the allows, directly or by compromising what it reaches in turn,
// sorted by hops, then kind (segments first), then name. There is an edge from A to B
// when an allow has A in From and B in To, whatever the port: an attacker needs one
// open port to move on.
//
// Networks are reached but never traversed: they are peers, address ranges microseg
// does not control, so what a host in one could reach next is outside the policy.
// Allows from a network therefore add nothing to a segment's blast radius.
//
// The radius is the policy as written, as if every segment enforced. A segment in
// audit mode blocks nothing yet, so today's real radius through it is wider.
//
// Breadth-first search over neighbours in sorted order gives each peer its shortest
// path, and the same path every run.
func BlastRadius(p *model.Policy, start model.PeerRef) ([]Reach, error) {
	if start.Kind != model.PeerSegment {
		return nil, fmt.Errorf("blast radius of %s: start at a segment; a network is a peer, not a workload microseg controls, so it has no blast radius in the policy", start)
	}
	if err := resolvePeer(p, start); err != nil {
		return nil, fmt.Errorf("blast radius: %w", err)
	}
	ix := indexPolicy(p)
	next := make(map[model.PeerRef][]model.PeerRef)
	for _, pr := range ix.sortedPairs() {
		if pr.from.Kind == model.PeerSegment {
			next[pr.from] = append(next[pr.from], pr.to)
		}
	}

	paths := map[model.PeerRef][]Hop{start: nil}
	var reaches []Reach
	queue := []model.PeerRef{start}
	for len(queue) > 0 {
		node := queue[0]
		queue = queue[1:]
		for _, to := range next[node] {
			if _, seen := paths[to]; seen {
				continue
			}
			pr := pair{node, to}
			grants := ix.pairs[pr]
			allows := make([]string, len(grants))
			for i, g := range grants {
				allows[i] = g.allow
			}
			hop := Hop{From: node, To: to, Allows: allows, Ports: ix.union(pr).Ports()}
			path := append(slices.Clone(paths[node]), hop)
			paths[to] = path
			reaches = append(reaches, Reach{Node: to, Hops: len(path), Path: path})
			if to.Kind == model.PeerSegment {
				queue = append(queue, to)
			}
		}
	}
	slices.SortFunc(reaches, func(a, b Reach) int {
		if c := cmp.Compare(a.Hops, b.Hops); c != 0 {
			return c
		}
		return comparePeer(a.Node, b.Node)
	})
	return reaches, nil
}

// WriteBlastRadius writes one line per reached peer, in the order BlastRadius gives:
//
//	segment.db  (2 hops)  segment.web -[tcp/8080 via web-to-app]-> segment.app -[tcp/5432 via app-to-db]-> segment.db
//
// after a summary line that names the start.
func WriteBlastRadius(w io.Writer, start model.PeerRef, reaches []Reach) error {
	var b strings.Builder
	segments := 0
	for _, r := range reaches {
		if r.Node.Kind == model.PeerSegment {
			segments++
		}
	}
	fmt.Fprintf(&b, "blast radius of %s: %s, %s\n", start,
		plural(segments, "segment", "segments"), plural(len(reaches)-segments, "network", "networks"))
	for _, r := range reaches {
		fmt.Fprintf(&b, "%s  (%s)  %s", r.Node, plural(r.Hops, "hop", "hops"), start)
		for _, h := range r.Path {
			fmt.Fprintf(&b, " -[%s via %s]-> %s", joinPorts(h.Ports), strings.Join(h.Allows, ", "), h.To)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
