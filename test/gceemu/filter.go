package gceemu

import (
	"regexp"
	"strconv"
	"strings"
)

// List filters, as far as the emulator understands them. Compute Engine takes
// two syntaxes, and the emulator both:
//
//   - comparisons FIELD OP VALUE with OP one of =, !=, :, <, <=, >, >=; a
//     VALUE may be quoted ("..." or '...') and may hold * as a wildcard;
//     "FIELD:*" holds when the field has a value;
//   - the older FIELD eq REGEXP and FIELD ne REGEXP, the expression matching
//     the whole value (RE2), e.g. "name eq 'microseg-.*'" or
//     "network eq .*/networks/default".
//
// Comparisons may be parenthesised and are joined by AND or by juxtaposition:
// "(name = a*) (direction = INGRESS)". OR and NOT are refused, as is a field
// the resource does not have. A comparison on a repeated field (sourceRanges,
// tags.items...) holds when any element matches (for != and ne, when none
// does). network and zone compare against the full URL GCP stores.

type comparison struct {
	field, op, value string
	re               *regexp.Regexp
}

// filter is a conjunction of comparisons; the empty filter matches everything.
type filter struct {
	text  string
	terms []comparison
}

func errFilter(text string) *apiError {
	return errInvalidValue("filter", text, "Invalid list filter expression.")
}

func parseFilter(text string) (*filter, *apiError) {
	f := &filter{text: text}
	p := &filterParser{s: text}
	for {
		p.space()
		if p.done() {
			return f, nil
		}
		switch w := p.peekWord(); w {
		case "AND":
			p.i += len(w)
			continue
		case "OR", "NOT":
			return nil, errFilter(text)
		}
		open := p.s[p.i] == '('
		if open {
			p.i++
		}
		c, ok := p.comparison(open)
		if !ok {
			return nil, errFilter(text)
		}
		if open {
			if p.space(); p.done() || p.s[p.i] != ')' {
				return nil, errFilter(text)
			}
			p.i++
		}
		f.terms = append(f.terms, c)
	}
}

type filterParser struct {
	s string
	i int
}

func (p *filterParser) done() bool { return p.i >= len(p.s) }

func (p *filterParser) space() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *filterParser) peekWord() string {
	j := p.i
	for j < len(p.s) && p.s[j] >= 'A' && p.s[j] <= 'Z' {
		j++
	}
	if j < len(p.s) && p.s[j] != ' ' && p.s[j] != '(' {
		return ""
	}
	return p.s[p.i:j]
}

// comparison reads FIELD OP VALUE.
func (p *filterParser) comparison(inParens bool) (comparison, bool) {
	p.space()
	start := p.i
	for !p.done() && (isIdent(p.s[p.i]) || p.s[p.i] == '.') {
		p.i++
	}
	c := comparison{field: p.s[start:p.i]}
	p.space()
	for _, op := range []string{"!=", ">=", "<=", "=", ":", ">", "<", "eq ", "ne "} {
		if strings.HasPrefix(p.s[p.i:], op) {
			c.op = strings.TrimSpace(op)
			p.i += len(op)
			break
		}
	}
	if c.field == "" || c.op == "" {
		return c, false
	}
	p.space()
	v, ok := p.value(inParens)
	if !ok {
		return c, false
	}
	c.value = v
	var err error
	switch c.op {
	case "eq", "ne":
		c.re, err = regexp.Compile("^(?:" + v + ")$")
	case "=", "!=", ":":
		c.re, err = regexp.Compile("^" + strings.ReplaceAll(regexp.QuoteMeta(v), `\*`, ".*") + "$")
	}
	return c, err == nil
}

func isIdent(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// value reads a quoted string, or a bare word that ends at a space or at a
// closing parenthesis it did not open.
func (p *filterParser) value(inParens bool) (string, bool) {
	if p.done() {
		return "", false
	}
	if q := p.s[p.i]; q == '"' || q == '\'' {
		var b strings.Builder
		for p.i++; !p.done(); p.i++ {
			switch ch := p.s[p.i]; {
			case ch == q:
				p.i++
				return b.String(), true
			case ch == '\\' && p.i+1 < len(p.s):
				p.i++
				b.WriteByte(p.s[p.i])
			default:
				b.WriteByte(ch)
			}
		}
		return "", false
	}
	start, depth := p.i, 0
	for ; !p.done() && p.s[p.i] != ' '; p.i++ {
		switch p.s[p.i] {
		case '(':
			depth++
		case ')':
			if depth == 0 && inParens {
				return p.s[start:p.i], p.i > start
			}
			depth--
		}
	}
	return p.s[start:p.i], p.i > start
}

// match tells whether a resource passes, given its fields: get returns a
// field's values and false for a field the resource does not have.
func (f *filter) match(get func(field string) ([]string, bool)) (bool, *apiError) {
	for _, c := range f.terms {
		vals, ok := get(c.field)
		if !ok {
			return false, errFilter(f.text)
		}
		if !c.holds(vals) {
			return false, nil
		}
	}
	return true, nil
}

func (c comparison) holds(vals []string) bool {
	if c.op == ":" && c.value == "*" {
		return len(vals) > 0
	}
	hit := false
	for _, v := range vals {
		switch c.op {
		case "=", "!=", ":", "eq", "ne":
			hit = hit || c.re.MatchString(v)
		default:
			hit = hit || ordered(v, c.op, c.value)
		}
	}
	if c.op == "!=" || c.op == "ne" {
		return !hit
	}
	return hit
}

// ordered compares numbers as numbers, anything else as strings.
func ordered(v, op, w string) bool {
	cmp := strings.Compare(v, w)
	a, err1 := strconv.ParseFloat(v, 64)
	b, err2 := strconv.ParseFloat(w, 64)
	if err1 == nil && err2 == nil {
		switch {
		case a < b:
			cmp = -1
		case a > b:
			cmp = 1
		default:
			cmp = 0
		}
	}
	switch op {
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	}
	return cmp >= 0
}

// firewallField is a firewall rule's value of a filter field.
func firewallField(f *firewallJSON, field string) ([]string, bool) {
	one := func(s string) []string { return []string{s} }
	switch field {
	case "name":
		return one(f.Name), true
	case "network":
		return one(f.Network), true
	case "direction":
		return one(f.Direction), true
	case "priority":
		return one(strconv.FormatInt(*f.Priority, 10)), true
	case "disabled":
		return one(strconv.FormatBool(*f.Disabled)), true
	case "description":
		return one(f.Description), true
	case "id":
		return one(strconv.FormatUint(f.ID, 10)), true
	case "selfLink":
		return one(f.SelfLink), true
	case "sourceRanges":
		return f.SourceRanges, true
	case "destinationRanges":
		return f.DestinationRanges, true
	case "sourceTags":
		return f.SourceTags, true
	case "targetTags":
		return f.TargetTags, true
	case "sourceServiceAccounts":
		return f.SourceServiceAccounts, true
	case "targetServiceAccounts":
		return f.TargetServiceAccounts, true
	}
	return nil, false
}
