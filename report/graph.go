package report

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
	"github.com/microseg/microseg/model/verdict"
)

// Graph is the segment graph: segments and networks as nodes, and for every
// directed pair the allows between them and the flows observed, like a dependency
// map. It carries its layout (layers, order, boxes and edge routes) so that the SVG
// in the HTML report and `microseg graph -format svg` draw the same picture, and a
// reader of the JSON can draw it too.
type Graph struct {
	Nodes  []GraphNode `json:"nodes"`
	Edges  []GraphEdge `json:"edges"`
	Width  int         `json:"width"`
	Height int         `json:"height"`
}

// GraphNode is a segment, a network, or "unknown" (addresses in neither, shown only
// when flows to or from them were observed).
type GraphNode struct {
	ID         string `json:"id"`   // "segment.web", "network.internet", "unknown"
	Kind       string `json:"kind"` // "segment", "network" or "unknown"
	Name       string `json:"name"`
	Target     string `json:"target"`      // segments: the target it lives in
	TargetKind string `json:"target_kind"` // segments: aws, azure, gcp or hosts
	Mode       string `json:"mode"`        // segments: enforce or audit
	CDE        bool   `json:"cde"`         // segments in the cardholder data environment
	Untrusted  bool   `json:"untrusted"`   // networks holding public address space
	Layer      int    `json:"layer"`       // column, left to right
	Order      int    `json:"order"`       // position in the column, top to bottom
	X          int    `json:"x"`
	Y          int    `json:"y"`
	W          int    `json:"w"`
	H          int    `json:"h"`
}

// GraphEdge is one directed pair of nodes: what the policy allows from one to the
// other, and what was observed.
type GraphEdge struct {
	From   string   `json:"from"`
	To     string   `json:"to"`
	Policy bool     `json:"policy"` // some allow permits From -> To
	Allows []string `json:"allows"`
	Ports  []string `json:"ports"` // the union of the allows' ports
	// Observed counts the flows of the window from From to To, per class.
	Observed ClassCounts `json:"observed"`
	// Flags name what the edge carries: "policy", then the observed classes
	// ("allowed", "blocked", "would-block", "violation", "wanted-but-blocked").
	Flags []string `json:"flags"`
	// Kind is what the edge is drawn as, the most serious flag: "violation",
	// "wanted-but-blocked", "would-block", "observed", "blocked" or "allow".
	Kind string `json:"kind"`
	// Points is the route, from the source box to the target box: x,y pairs,
	// joined by curves with horizontal tangents.
	Points [][2]int `json:"points"`
}

// Edge kinds, in the order of seriousness the drawing uses.
const (
	EdgeViolation  = "violation"
	EdgeOutage     = "wanted-but-blocked"
	EdgeWouldBlock = "would-block"
	EdgeObserved   = "observed"
	EdgeBlocked    = "blocked"
	EdgeAllow      = "allow"
)

// edgeColors are the stroke colours per kind, shared by SVG, DOT and the HTML legend.
var edgeColors = map[string]string{
	EdgeViolation:  "#cf222e",
	EdgeOutage:     "#8250df",
	EdgeWouldBlock: "#e36209",
	EdgeObserved:   "#1a7f37",
	EdgeBlocked:    "#3e5c9a",
	EdgeAllow:      "#8c959f",
}

// edgeLegend is the legend's order and wording.
var edgeLegend = []struct{ kind, label string }{
	{EdgeAllow, "allowed by policy"},
	{EdgeObserved, "observed, allowed"},
	{EdgeViolation, "violation"},
	{EdgeWouldBlock, "would be blocked"},
	{EdgeBlocked, "blocked as intended"},
	{EdgeOutage, "allowed but blocked"},
}

// isUntrusted reports whether a network holds public address space: any prefix that
// is not private, loopback, link-local or unspecified-only, such as 0.0.0.0/0.
func isUntrusted(n *model.Network) bool {
	for _, c := range n.CIDRs {
		if !privatePrefix(c) {
			return true
		}
	}
	return false
}

var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT, not routed publicly
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("::1/128"),
}

// privatePrefix reports whether every address of c is in a private range.
func privatePrefix(c netip.Prefix) bool {
	for _, r := range privateRanges {
		if r.Bits() <= c.Bits() && r.Contains(c.Addr()) {
			return true
		}
	}
	return false
}

func (b *builder) graph() Graph {
	g := Graph{Nodes: []GraphNode{}, Edges: []GraphEdge{}}
	index := make(map[string]int)
	addNode := func(n GraphNode) {
		index[n.ID] = len(g.Nodes)
		g.Nodes = append(g.Nodes, n)
	}
	for _, name := range model.SortedKeys(b.p.Networks) {
		addNode(GraphNode{ID: "network." + name, Kind: "network", Name: name, Untrusted: isUntrusted(b.p.Networks[name])})
	}
	for _, name := range model.SortedKeys(b.p.Segments) {
		s := b.p.Segments[name]
		n := GraphNode{ID: "segment." + name, Kind: "segment", Name: name, Target: s.Target, Mode: s.Mode.String(), CDE: isCDE(s)}
		if t, ok := b.p.Targets[s.Target]; ok {
			n.TargetKind = string(t.Kind)
		}
		addNode(n)
	}

	type pairKey struct{ from, to string }
	edges := make(map[pairKey]*GraphEdge)
	edge := func(from, to string) *GraphEdge {
		k := pairKey{from, to}
		e, ok := edges[k]
		if !ok {
			e = &GraphEdge{From: from, To: to, Allows: []string{}, Ports: []string{}, Flags: []string{}}
			edges[k] = e
		}
		return e
	}
	portsOf := make(map[pairKey][]model.ServicePort)
	for _, f := range analysis.Flows(b.p) {
		k := pairKey{f.From.String(), f.To.String()}
		e := edge(k.from, k.to)
		e.Policy = true
		if !slices.Contains(e.Allows, f.Allow) {
			e.Allows = append(e.Allows, f.Allow)
		}
		portsOf[k] = append(portsOf[k], f.Port)
	}
	for k, ports := range portsOf {
		for _, p := range analysis.NewPortSet(ports...).Ports() {
			edges[k].Ports = append(edges[k].Ports, p.String())
		}
	}
	needUnknown := false
	for _, row := range b.rows {
		if row.Class == verdict.Unknown || (row.Src == "" && row.Dst == "") {
			continue
		}
		from, to := row.Src, row.Dst
		for _, end := range []*string{&from, &to} {
			if *end == "" {
				*end = "unknown"
				needUnknown = true
			} else if _, ok := index[*end]; !ok {
				*end = "" // a peer the policy no longer has
			}
		}
		if from == "" || to == "" {
			continue
		}
		edge(from, to).Observed.add(row.Class, row.Flows)
	}
	if needUnknown {
		addNode(GraphNode{ID: "unknown", Kind: "unknown", Name: "unknown addresses"})
	}
	keys := make([]pairKey, 0, len(edges))
	for k := range edges {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, c pairKey) int { return cmp.Or(strings.Compare(a.from, c.from), strings.Compare(a.to, c.to)) })
	for _, k := range keys {
		e := edges[k]
		if _, ok := index[e.To]; !ok { // only "unknown" can be missing, and it was added
			continue
		}
		slices.Sort(e.Allows)
		e.Flags, e.Kind = edgeFlags(e)
		g.Edges = append(g.Edges, *e)
	}
	layout(&g)
	return g
}

// edgeFlags lists what an edge carries and picks the most serious as its kind.
func edgeFlags(e *GraphEdge) ([]string, string) {
	flags := []string{}
	if e.Policy {
		flags = append(flags, "policy")
	}
	o := e.Observed
	for _, f := range []struct {
		n    uint64
		name string
	}{{o.Allowed, "allowed"}, {o.Blocked, "blocked"}, {o.WouldBlock, "would-block"}, {o.Violation, "violation"}, {o.WantedButBlocked, "wanted-but-blocked"}} {
		if f.n > 0 {
			flags = append(flags, f.name)
		}
	}
	switch {
	case o.Violation > 0:
		return flags, EdgeViolation
	case o.WantedButBlocked > 0:
		return flags, EdgeOutage
	case o.WouldBlock > 0:
		return flags, EdgeWouldBlock
	case o.Allowed > 0:
		return flags, EdgeObserved
	case o.Blocked > 0:
		return flags, EdgeBlocked
	default:
		return flags, EdgeAllow
	}
}

// Layout constants, in SVG user units (pixels).
const (
	marginX     = 24
	marginTop   = 24
	layerGap    = 110 // horizontal room between columns, for the curves
	nodeGap     = 22  // vertical room between boxes in a column
	nodeHeight  = 44
	dummyHeight = 14 // the slot an edge passing through a column takes
	nameCharW   = 8  // average width of a 13px bold character
	subCharW    = 6  // average width of an 11px character
	maxLabel    = 28 // longer names are shortened in the box (the tooltip has all)
	minWidth    = 760
)

// vnode is a node of the layering: a real node or a point an edge passes through.
type vnode struct {
	real  int // index into g.Nodes, or -1
	edge  int // for a point: the edge it routes
	layer int
	order int
	y, h  int
	preds []int
	succs []int
}

// layout places the graph: longest-path layers from left to right (sources that are
// networks in the first column, segments from the second, other sources moved right
// next to their first successor), edges spanning several columns routed through
// points of their own in each column, order within columns by a few barycenter
// sweeps from name order, and columns stacked and centred. All of it is integer
// arithmetic in a fixed order, so the picture is the same on every platform.
func layout(g *Graph) {
	n := len(g.Nodes)
	if n == 0 {
		g.Width, g.Height = minWidth, marginTop+legendHeightFor(minWidth)
		return
	}
	id := make(map[string]int, n)
	for i, node := range g.Nodes {
		id[node.ID] = i
	}
	// Columns come from the policy's edges only: observed traffic is drawn over
	// the policy's picture rather than reshaping it (a would-block flow to the
	// internet must not drag the internet into the middle). Cycles are broken by a
	// depth-first search in node order: an edge to a node on the stack is reversed
	// for layering.
	adj := make([][]int, n) // policy edge indexes out of each node
	for ei, e := range g.Edges {
		if e.From != e.To && e.Policy {
			adj[id[e.From]] = append(adj[id[e.From]], ei)
		}
	}
	reversed := make([]bool, len(g.Edges))
	state := make([]uint8, n) // 0 new, 1 on stack, 2 done
	var visit func(int)
	visit = func(u int) {
		state[u] = 1
		for _, ei := range adj[u] {
			v := id[g.Edges[ei].To]
			switch state[v] {
			case 0:
				visit(v)
			case 1:
				reversed[ei] = true
			}
		}
		state[u] = 2
	}
	for u := range n {
		if state[u] == 0 {
			visit(u)
		}
	}
	type dagEdge struct{ from, to, edge int }
	var dag []dagEdge
	for ei, e := range g.Edges {
		if e.From == e.To || !e.Policy {
			continue
		}
		f, t := id[e.From], id[e.To]
		if reversed[ei] {
			f, t = t, f
		}
		dag = append(dag, dagEdge{f, t, ei})
	}
	preds := make([][]int, n)
	succs := make([][]int, n)
	for _, d := range dag {
		preds[d.to] = append(preds[d.to], d.from)
		succs[d.from] = append(succs[d.from], d.to)
	}
	// Longest path in topological order (Kahn's algorithm, smallest index first).
	layer := make([]int, n)
	indeg := make([]int, n)
	for _, d := range dag {
		indeg[d.to]++
	}
	var topo, ready []int
	for i := range n {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		slices.Sort(ready)
		u := ready[0]
		ready = ready[1:]
		topo = append(topo, u)
		for _, v := range succs[u] {
			layer[v] = max(layer[v], layer[u]+1)
			if indeg[v]--; indeg[v] == 0 {
				ready = append(ready, v)
			}
		}
	}
	// Sources other than networks sit next to their nearest successor rather than
	// far left, so that the first column is the networks traffic comes from and the
	// monitoring segment sits beside what it scrapes. Isolated nodes stay left.
	for _, u := range slices.Backward(topo) {
		if len(preds[u]) > 0 || len(succs[u]) == 0 || g.Nodes[u].Kind == "network" {
			continue
		}
		nearest := -1
		for _, v := range succs[u] {
			if nearest < 0 || layer[v] < nearest {
				nearest = layer[v]
			}
		}
		layer[u] = max(layer[u], nearest-1)
	}

	// Virtual nodes: the real ones, then a point per column an edge passes through.
	// Every edge, policy or observed, is routed from the lower column to the higher
	// one (and drawn backwards when its target is the lower); an edge within one
	// column is an arc on the column's right and has no chain.
	vs := make([]vnode, n)
	for i := range n {
		vs[i] = vnode{real: i, edge: -1, layer: layer[i], h: nodeHeight}
	}
	chains := make([][]int, len(g.Edges)) // per edge: vnodes from the lower column to the higher
	backward := make([]bool, len(g.Edges))
	for ei, e := range g.Edges {
		f, t := id[e.From], id[e.To]
		if f == t || layer[f] == layer[t] {
			continue
		}
		if layer[f] > layer[t] {
			f, t = t, f
			backward[ei] = true
		}
		chain := []int{f}
		for l := layer[f] + 1; l < layer[t]; l++ {
			vs = append(vs, vnode{real: -1, edge: ei, layer: l, h: dummyHeight})
			chain = append(chain, len(vs)-1)
		}
		chain = append(chain, t)
		for i := 0; i+1 < len(chain); i++ {
			vs[chain[i]].succs = append(vs[chain[i]].succs, chain[i+1])
			vs[chain[i+1]].preds = append(vs[chain[i+1]].preds, chain[i])
		}
		chains[ei] = chain
	}
	layers := 0
	for _, v := range vs {
		layers = max(layers, v.layer+1)
	}
	cols := make([][]int, layers)
	for i, v := range vs {
		cols[v.layer] = append(cols[v.layer], i)
	}
	nodeRank := func(i int) string { // the initial order: networks, segments, unknown, by name
		if r := vs[i].real; r >= 0 {
			kind := map[string]string{"network": "0", "segment": "1", "unknown": "2"}[g.Nodes[r].Kind]
			return kind + g.Nodes[r].Name
		}
		e := g.Edges[vs[i].edge]
		return "3" + e.From + "\x00" + e.To
	}
	for _, col := range cols {
		slices.SortStableFunc(col, func(a, b int) int { return strings.Compare(nodeRank(a), nodeRank(b)) })
		for o, v := range col {
			vs[v].order = o
		}
	}
	sweep := func(l int, down bool) {
		col := cols[l]
		type bary struct{ sum, cnt int }
		key := make(map[int]bary, len(col))
		for _, v := range col {
			nbrs := vs[v].preds
			if !down {
				nbrs = vs[v].succs
			}
			if len(nbrs) == 0 {
				key[v] = bary{vs[v].order * 2, 2} // stays put, on the same scale
				continue
			}
			s := 0
			for _, w := range nbrs {
				s += vs[w].order
			}
			key[v] = bary{s * 2, len(nbrs) * 2}
		}
		slices.SortStableFunc(col, func(a, b int) int {
			ka, kb := key[a], key[b]
			return cmp.Compare(ka.sum*kb.cnt, kb.sum*ka.cnt)
		})
		for o, v := range col {
			vs[v].order = o
		}
	}
	for range 3 {
		for l := 1; l < layers; l++ {
			sweep(l, true)
		}
		for l := layers - 2; l >= 0; l-- {
			sweep(l, false)
		}
	}

	// Boxes: width from the labels, columns as wide as their widest box.
	colX := make([]int, layers)
	colW := make([]int, layers)
	for i := range g.Nodes {
		node := &g.Nodes[i]
		node.W = max(120, len([]rune(shorten(node.Name)))*nameCharW+28, len([]rune(nodeSubtitle(*node)))*subCharW+28)
		node.H = nodeHeight
		colW[layer[i]] = max(colW[layer[i]], node.W)
	}
	x := marginX
	for l := range layers {
		colX[l] = x
		colW[l] = max(colW[l], 40)
		x += colW[l] + layerGap
	}
	width := max(minWidth, x-layerGap+marginX)
	colHeight := make([]int, layers)
	for l, col := range cols {
		for i, v := range col {
			if i > 0 {
				colHeight[l] += nodeGap
			}
			colHeight[l] += vs[v].h
		}
	}
	tallest := slices.Max(colHeight)
	for l, col := range cols {
		y := marginTop + (tallest-colHeight[l])/2
		for _, v := range col {
			vs[v].y = y
			y += vs[v].h + nodeGap
		}
	}
	for i := range g.Nodes {
		node := &g.Nodes[i]
		node.Layer, node.Order = layer[i], vs[i].order
		node.X = colX[layer[i]] + (colW[layer[i]]-node.W)/2
		node.Y = vs[i].y
	}

	// Routes. Edges leave a box's right side and enter the next box's left side,
	// spread over the side in the order of the other end's height so they do not
	// cross at the box.
	type attach struct{ edge, otherY int }
	outs := make([][]attach, n)
	ins := make([][]attach, n)
	for ei, chain := range chains {
		if chain == nil {
			continue
		}
		first, last := chain[0], chain[len(chain)-1]
		outs[first] = append(outs[first], attach{ei, vs[chain[1]].y + vs[chain[1]].h/2})
		ins[last] = append(ins[last], attach{ei, vs[chain[len(chain)-2]].y + vs[chain[len(chain)-2]].h/2})
	}
	outY := make(map[int]int)
	inY := make(map[int]int)
	spread := func(list []attach, node GraphNode, into map[int]int) {
		slices.SortStableFunc(list, func(a, b attach) int { return cmp.Or(cmp.Compare(a.otherY, b.otherY), cmp.Compare(a.edge, b.edge)) })
		for i, a := range list {
			into[a.edge] = node.Y + node.H*(i+1)/(len(list)+1)
		}
	}
	for i := range n {
		spread(outs[i], g.Nodes[i], outY)
		spread(ins[i], g.Nodes[i], inY)
	}
	for ei := range g.Edges {
		e := &g.Edges[ei]
		from, to := g.Nodes[id[e.From]], g.Nodes[id[e.To]]
		chain := chains[ei]
		switch {
		case e.From == e.To: // a loop above the box
			cx := from.X + from.W/2
			e.Points = [][2]int{{cx - 10, from.Y}, {cx, from.Y - 16}, {cx + 10, from.Y}}
			continue
		case chain == nil: // same column: an arc out of one right side into the other
			right := colX[from.Layer] + colW[from.Layer]
			e.Points = [][2]int{{from.X + from.W, from.Y + from.H/2 - 6}, {right + 36, (from.Y + to.Y + to.H) / 2}, {to.X + to.W, to.Y + to.H/2 + 6}}
			continue
		}
		first, last := g.Nodes[chain[0]], g.Nodes[chain[len(chain)-1]]
		pts := [][2]int{{first.X + first.W, outY[ei]}}
		for _, v := range chain[1 : len(chain)-1] {
			l := vs[v].layer
			cy := vs[v].y + vs[v].h/2
			pts = append(pts, [2]int{colX[l], cy}, [2]int{colX[l] + colW[l], cy})
		}
		pts = append(pts, [2]int{last.X, inY[ei]})
		if backward[ei] {
			slices.Reverse(pts)
		}
		e.Points = pts
	}
	g.Width = width
	g.Height = marginTop + tallest + 30 + legendHeightFor(width)
}

// shorten cuts a long name for a box; the full name is in the box's tooltip.
func shorten(s string) string {
	r := []rune(s)
	if len(r) <= maxLabel {
		return s
	}
	return string(r[:maxLabel-1]) + "…"
}

// nodeSubtitle is the second line of a box: where a segment lives and its mode.
func nodeSubtitle(n GraphNode) string {
	switch n.Kind {
	case "segment":
		return shorten(strings.TrimSpace(n.TargetKind+" "+n.Target) + " · " + n.Mode)
	case "network":
		if n.Untrusted {
			return "untrusted network"
		}
		return "network"
	default:
		return "in no segment or network"
	}
}
