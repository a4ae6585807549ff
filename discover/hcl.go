package discover

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/microseg/microseg/model"
)

// MemberTag is the tag (or GCP label) key a proposed subnet segment selects its members
// by: discovery knows their addresses, not their tags, so someone tags them (or
// replaces the selector) before enforcing.
const MemberTag = "microseg-segment"

// WriteHCL writes the proposal as one policy file that `microseg validate` accepts
// next to the user's policy: the networks and services it does not already declare,
// the segments in audit mode, and the allows, each kind sorted by name and laid out as
// `microseg fmt` (hclwrite) lays it out, under a comment header with the coverage and
// the time window.
//
// targetName is the target the segments are written in, as target references spell
// it without the "target." prefix: "aws.prod-use1" ("target.aws.prod-use1" is read
// too). A bare name ("prod-use1") works when Options.Policy declares it. Segments
// whose Target is another target are written in that one, whose kind Options.Policy
// must give. Members are selected by tags on aws and azure targets, by labels on gcp
// (the grouping labels, or MemberTag = the segment's name), and on hosts targets by the
// hosts Options.Policy declares at the members' addresses.
func (p *Proposal) WriteHCL(w io.Writer, targetName string) error {
	kind, name, err := p.parseTarget(targetName)
	if err != nil {
		return err
	}
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	var header strings.Builder
	p.writeHeader(&header)
	body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(header.String())}})
	block := func(typ, label string) *hclwrite.Body {
		body.AppendNewline()
		return body.AppendNewBlock(typ, []string{label}).Body()
	}
	for _, n := range p.Networks {
		if !n.Existing {
			setAttrs(block("network", n.Name), []attr{{"cidrs", prefixList(n.CIDRs)}})
		}
	}
	for _, s := range p.Services {
		if s.Existing {
			continue
		}
		ports := make([]string, len(s.Ports))
		for i, port := range s.Ports {
			ports[i] = quote(port.String())
		}
		setAttrs(block("service", s.Name), []attr{{"ports", "[" + strings.Join(ports, ", ") + "]"}})
	}
	for _, s := range p.Segments {
		if err := p.writeSegment(block, s, kind, name); err != nil {
			return err
		}
	}
	for _, a := range p.Allows {
		svcs := make([]string, len(a.Services))
		for i, s := range a.Services {
			svcs[i] = "service." + s
		}
		setAttrs(block("allow", a.Name), []attr{
			{"from", "[" + a.From.String() + "]"},
			{"to", "[" + a.To.String() + "]"},
			{"services", "[" + strings.Join(svcs, ", ") + "]"},
			{"description", quote(a.Description())},
		})
	}
	bw := bufio.NewWriter(w)
	if _, err := bw.Write(hclwrite.Format(f.Bytes())); err != nil {
		return fmt.Errorf("write proposal: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write proposal: %w", err)
	}
	return nil
}

// writeSegment adds a segment block, in target kind.name unless the segment was
// observed in another target of the policy.
func (p *Proposal) writeSegment(block func(typ, label string) *hclwrite.Body, s Segment, kind model.TargetKind, name string) error {
	segKind, segTarget := kind, name
	if s.Target != "" && s.Target != name {
		t, ok := p.policyTarget(s.Target)
		if !ok {
			return fmt.Errorf("write segment %q: it was observed in target %q, whose kind is unknown: give the policy that declares it (Options.Policy)", s.Name, s.Target)
		}
		segKind, segTarget = t.Kind, t.Name
	}
	members, err := p.members(s, segKind, segTarget)
	if err != nil {
		return err
	}
	seg := block("segment", s.Name)
	setAttrs(seg, []attr{{"target", "target." + string(segKind) + "." + segTarget}})
	setAttrs(seg.AppendNewBlock("members", nil).Body(), []attr{members})
	attrs := []attr{{"cidrs", prefixList(s.CIDRs)}}
	if len(s.Labels) > 0 {
		attrs = append(attrs, attr{"labels", stringMap(s.Labels)})
	}
	attrs = append(attrs, attr{"mode", quote("audit")})
	setAttrs(seg, attrs)
	return nil
}

// parseTarget reads WriteHCL's target name.
func (p *Proposal) parseTarget(ref string) (model.TargetKind, string, error) {
	kind, name, err := splitTarget(ref)
	switch {
	case err != nil:
		return "", "", err
	case name == "":
		return "", "", fmt.Errorf("no target to write the segments in: give KIND.NAME, like aws.prod-use1")
	}
	t, known := p.policyTarget(name)
	switch {
	case kind != "" && known && t.Kind != kind:
		return "", "", fmt.Errorf("target %q: the policy declares it as target.%s.%s", ref, t.Kind, name)
	case kind != "":
		return kind, name, nil
	case known:
		return t.Kind, name, nil
	}
	return "", "", fmt.Errorf("target %q: its kind is unknown; write KIND.NAME, like aws.%s, or give the policy that declares it", ref, name)
}

// policyTarget returns what is known of a target: from Options.Policy, else the kind
// Options.Target gave.
func (p *Proposal) policyTarget(name string) (*model.Target, bool) {
	if p.policy != nil {
		if t, ok := p.policy.Targets[name]; ok && t != nil {
			return t, true
		}
	}
	if name == p.target && p.targetKind != "" {
		return &model.Target{Name: name, Kind: p.targetKind}, true
	}
	return nil, false
}

// members returns the members attribute of a segment in a target of the given kind.
func (p *Proposal) members(s Segment, kind model.TargetKind, target string) (attr, error) {
	selector := s.Labels
	if len(selector) == 0 {
		selector = map[string]string{MemberTag: s.Name}
	}
	switch kind {
	case model.KindGCP:
		return attr{"labels", stringMap(selector)}, nil
	case model.KindHosts:
		t, ok := p.policyTarget(target)
		if !ok || t.Hosts == nil {
			return attr{}, fmt.Errorf("write segment %q: hosts target %q names its members by host, and no policy declaring its hosts was given (Options.Policy)", s.Name, target)
		}
		var hosts []string
		for _, hn := range model.SortedKeys(t.Hosts.Hosts) {
			h := t.Hosts.Hosts[hn]
			for _, a := range h.Addresses {
				if containsAddr(s.CIDRs, a) {
					hosts = append(hosts, quote(hn))
					break
				}
			}
		}
		if len(hosts) == 0 {
			return attr{}, fmt.Errorf("write segment %q: none of its addresses (%s) is a host of hosts target %q; declare the hosts, or discover into a cloud target", s.Name, joinPrefixes(s.CIDRs, 4), target)
		}
		return attr{"hosts", "[" + strings.Join(hosts, ", ") + "]"}, nil
	default:
		return attr{"tags", stringMap(selector)}, nil
	}
}

func containsAddr(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

func joinPrefixes(prefixes []netip.Prefix, limit int) string {
	var parts []string
	for i, p := range prefixes {
		if i == limit {
			parts = append(parts, fmt.Sprintf("and %d more", len(prefixes)-limit))
			break
		}
		parts = append(parts, p.String())
	}
	return strings.Join(parts, ", ")
}

func (p *Proposal) writeHeader(b *strings.Builder) {
	c := p.Coverage
	fmt.Fprintf(b, "# Proposed by microseg discover: %s, %s, %s, %s.\n",
		plural(len(p.Segments), "segment"), plural(len(p.Networks), "network"), plural(len(p.Services), "service"), plural(len(p.Allows), "allow"))
	if p.First.IsZero() {
		b.WriteString("# Flows observed: no timestamps.\n")
	} else {
		fmt.Fprintf(b, "# Flows observed from %s to %s.\n", p.First.UTC().Format(time.RFC3339), p.Last.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(b, "# Coverage: the allows permit %d of %d accepted flows observed (%s).\n", c.Allowed, c.Observed, percent(c.Share))
	if c.BelowMinFlows > 0 {
		fmt.Fprintf(b, "#   Left out as noise: %s on %s seen fewer times than the minimum.\n", plural(int(c.BelowMinFlows), "flow"), plural(c.BelowMinFlowsEdges, "edge"))
	}
	if c.Unsupported > 0 {
		fmt.Fprintf(b, "#   Not allowed: %s of protocols a service cannot name.\n", plural(int(c.Unsupported), "flow"))
	}
	if n := c.Dropped + c.PublicOnly + c.Skipped; n > 0 {
		fmt.Fprintf(b, "# Not dependencies, ignored: %s dropped, %d between public addresses, %d to or from loopback, link-local or multicast.\n", plural(int(c.Dropped), "flow"), c.PublicOnly, c.Skipped)
	}
	b.WriteString("# Every segment is in audit mode: review the proposal, tag the members, then set mode = \"enforce\".\n")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// percent formats a share with two decimals, never rounding a partial share up to 100%.
func percent(share float64) string {
	s := strconv.FormatFloat(share*100, 'f', 2, 64)
	if s == "100.00" && share < 1 {
		s = "99.99"
	}
	return s + "%"
}

// attr is one attribute: its name and its value as HCL source. The values are
// written by this package's own quoting (quote, stringMap) rather than cty's, which
// would normalize the text of tags from an inventory (NFC) and cannot carry invalid
// UTF-8; hclwrite lays the file out.
type attr struct{ name, value string }

// setAttrs appends the attributes to body, in order; hclwrite.Format aligns them.
func setAttrs(body *hclwrite.Body, attrs []attr) {
	for _, a := range attrs {
		body.SetAttributeRaw(a.name, hclwrite.Tokens{{Type: hclsyntax.TokenIdent, Bytes: []byte(a.value)}})
	}
}

func prefixList(prefixes []netip.Prefix) string {
	parts := make([]string, len(prefixes))
	for i, p := range prefixes {
		parts[i] = quote(p.String())
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// stringMap writes a one-line object, keys sorted, bare when they are identifiers.
func stringMap(m map[string]string) string {
	keys := model.SortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		key := k
		if !isIdentifier(k) {
			key = quote(k)
		}
		parts[i] = key + " = " + quote(m[k])
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// isIdentifier reports whether s is an ASCII HCL identifier, which an object key can
// be written as without quotes.
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '-')) {
			return false
		}
	}
	// Literal keywords would read as values, not names.
	return s != "true" && s != "false" && s != "null"
}

// quote writes s as an HCL string literal: JSON-like escapes, plus "${" and "%{"
// doubled so that no text from an inventory turns into a template.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\uFFFD`)
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case (r == '$' || r == '%') && strings.HasPrefix(s[i+size:], "{"):
			b.WriteRune(r)
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}
