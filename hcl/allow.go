package hclload

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/microseg/microseg/model"
)

var allowSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "from", Required: true},
	{Name: "to", Required: true},
	{Name: "services", Required: true},
	{Name: "owner"},
	{Name: "ticket"},
	{Name: "expires"},
	{Name: "description"},
}}

// allowRef is one end of an allow that names a segment, kept for the cross-target check.
type allowRef struct {
	allow  string
	side   string // "from" or "to"
	ref    model.PeerRef
	rng    hcl.Range
	others []model.PeerRef // the other side of the allow
}

func (l *loader) decodeAllow(block *hcl.Block) {
	a := &model.Allow{Name: block.Labels[0], Pos: posOf(block.DefRange)}
	content := l.content(block.Body, allowSchema)
	var fromRanges, toRanges []hcl.Range
	if attr, ok := content.Attributes["from"]; ok {
		a.From, fromRanges = l.peerList(attr)
	}
	if attr, ok := content.Attributes["to"]; ok {
		a.To, toRanges = l.peerList(attr)
	}
	if attr, ok := content.Attributes["services"]; ok {
		refs, _ := l.refList(attr, "service")
		for _, r := range refs {
			a.Services = append(a.Services, r.name)
		}
		if len(refs) == 0 && len(l.listExprs(attr)) == 0 {
			l.errorf(attr.Expr.Range().Ptr(), "Allow without services", "Allow %q names no service, so it would permit nothing. Name at least one, like services = [service.https].", a.Name)
		}
	}
	l.stringAttrs(content, map[string]*string{"owner": &a.Owner, "ticket": &a.Ticket, "description": &a.Description})
	if attr, ok := content.Attributes["expires"]; ok {
		if text, ok := l.stringValue(attr); ok {
			t, err := time.Parse(time.DateOnly, text)
			if err != nil {
				l.errorf(attr.Expr.Range().Ptr(), "Invalid expiry date", "expires = %q is not a date: write YYYY-MM-DD, like \"2027-06-30\".", text)
			} else {
				a.Expires = t
			}
		}
	}
	// An allow between two networks has no enforcement point: report each pair at the
	// destination element, which is where the author most likely slipped.
	for i, to := range a.To {
		if to.Kind != model.PeerNetwork {
			continue
		}
		for _, from := range a.From {
			if from.Kind == model.PeerNetwork {
				l.errorf(toRanges[i].Ptr(), "Allow between two networks",
					"Allow %q goes from %s to %s. Networks are peers, never enforcement points, so nothing could enforce it: one end must be a segment.", a.Name, from, to)
				break
			}
		}
	}
	for i, ref := range a.From {
		if ref.Kind == model.PeerSegment {
			l.refs = append(l.refs, allowRef{a.Name, "from", ref, fromRanges[i], a.To})
		}
	}
	for i, ref := range a.To {
		if ref.Kind == model.PeerSegment {
			l.refs = append(l.refs, allowRef{a.Name, "to", ref, toRanges[i], a.From})
		}
	}
	l.loaded.Policy.Allows[a.Name] = a
}

type namedRef struct {
	kind string
	name string
	rng  hcl.Range
}

// listExprs returns the elements of a list expression, or the expression itself when
// it is a single reference (from = segment.web reads as from = [segment.web]).
func (l *loader) listExprs(attr *hcl.Attribute) []hcl.Expression {
	if exprs, diags := hcl.ExprList(attr.Expr); !diags.HasErrors() {
		return exprs
	}
	return []hcl.Expression{attr.Expr}
}

// refList reads a list of references of the given kinds ("segment", "network",
// "service"), checking that each names something declared.
func (l *loader) refList(attr *hcl.Attribute, kinds ...string) ([]namedRef, bool) {
	var refs []namedRef
	ok := true
	for _, expr := range l.listExprs(attr) {
		ref, good := l.reference(expr, attr.Name, kinds)
		if !good {
			ok = false
			continue
		}
		refs = append(refs, ref)
	}
	return refs, ok
}

func (l *loader) reference(expr hcl.Expression, attrName string, kinds []string) (namedRef, bool) {
	example := kinds[0] + ".NAME"
	for _, k := range kinds[1:] {
		example += " or " + k + ".NAME"
	}
	trav, diags := hcl.AbsTraversalForExpr(expr)
	if diags.HasErrors() || len(trav) != 2 {
		what := "a reference"
		if v, d := expr.Value(nil); !d.HasErrors() && v.Type().FriendlyName() == "string" && v.IsKnown() && !v.IsNull() {
			what = fmt.Sprintf("the string %q; references are written without quotes", v.AsString())
		}
		l.errorf(expr.Range().Ptr(), "Invalid reference", "Each element of %q must be %s, but this is %s.", attrName, example, what)
		return namedRef{}, false
	}
	kind := trav.RootName()
	attr, _ := trav[1].(hcl.TraverseAttr)
	if attr.Name == "" {
		l.errorf(expr.Range().Ptr(), "Invalid reference", "Each element of %q must be %s.", attrName, example)
		return namedRef{}, false
	}
	allowed := false
	for _, k := range kinds {
		allowed = allowed || k == kind
	}
	if !allowed {
		l.errorf(expr.Range().Ptr(), "Wrong kind of reference", "%q takes %s, not %s.%s.%s", attrName, example, kind, attr.Name, suggest(kind, kinds))
		return namedRef{}, false
	}
	if _, declared := l.decls[kind][attr.Name]; !declared {
		var candidates []string
		for _, k := range kinds {
			for name := range l.decls[k] {
				candidates = append(candidates, k+"."+name)
			}
		}
		l.errorf(expr.Range().Ptr(), "Unknown "+kind, "No %s named %q is declared.%s", kind, attr.Name, suggest(kind+"."+attr.Name, candidates))
		return namedRef{}, false
	}
	return namedRef{kind, attr.Name, expr.Range()}, true
}

// peerList reads from or to: segments and networks.
func (l *loader) peerList(attr *hcl.Attribute) ([]model.PeerRef, []hcl.Range) {
	refs, ok := l.refList(attr, "segment", "network")
	if ok && len(refs) == 0 {
		l.errorf(attr.Expr.Range().Ptr(), "Empty "+attr.Name, "%q must name at least one segment or network.", attr.Name)
	}
	peers := make([]model.PeerRef, len(refs))
	ranges := make([]hcl.Range, len(refs))
	for i, r := range refs {
		peers[i] = model.PeerRef{Kind: model.PeerSegment, Name: r.name}
		if r.kind == "network" {
			peers[i].Kind = model.PeerNetwork
		}
		ranges[i] = r.rng
	}
	return peers, ranges
}

// checkCrossTargetReferences reports allows whose segment peers live in different
// targets when the one addressed from afar has no cidrs: the other target could only
// name its members by address, and it declares none.
func (l *loader) checkCrossTargetReferences() {
	segs := l.loaded.Policy.Segments
	for _, r := range l.refs {
		seg, ok := segs[r.ref.Name]
		if !ok || seg.Target == "" {
			continue
		}
		for _, other := range r.others {
			peer, ok := segs[other.Name]
			if other.Kind != model.PeerSegment || !ok || peer.Target == "" {
				continue
			}
			if problem := model.CrossTargetProblem(seg, peer.Target); problem != "" {
				l.errorf(r.rng.Ptr(), "Cross-target reference to a segment without cidrs",
					"Allow %q connects segment %q with segment %q (target %q): %s (segment %q is declared at %s:%d).",
					r.allow, seg.Name, peer.Name, peer.Target, problem, seg.Name, seg.Pos.File, seg.Pos.Line)
				break
			}
		}
	}
}
