package ec2emu

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// params is the EC2 Query form as a tree: the key "Filter.1.Value.2" is the node
// Filter → 1 → Value → 2. Lists are nodes whose children are named 1, 2, ...
type params struct {
	val  string
	set  bool
	kids map[string]*params
}

func parseParams(form url.Values) *params {
	root := &params{}
	for k, vs := range form {
		n := root
		for _, part := range strings.Split(k, ".") {
			if n.kids == nil {
				n.kids = map[string]*params{}
			}
			c := n.kids[part]
			if c == nil {
				c = &params{}
				n.kids[part] = c
			}
			n = c
		}
		if len(vs) > 0 {
			n.val, n.set = vs[0], true
		}
	}
	return root
}

// child returns the named child, nil (which every method accepts) when absent.
func (p *params) child(name string) *params {
	if p == nil {
		return nil
	}
	return p.kids[name]
}

// has tells whether the named parameter was sent, possibly with an empty value.
func (p *params) has(name string) bool {
	c := p.child(name)
	return c != nil && c.set
}

// str returns the named parameter's value, "" when absent.
func (p *params) str(name string) string {
	if c := p.child(name); c != nil {
		return c.val
	}
	return ""
}

// present tells whether anything was sent under name: a value or members.
func (p *params) present(name string) bool {
	c := p.child(name)
	return c != nil && (c.set || len(c.kids) > 0)
}

// list returns the members name.1, name.2, ... in index order.
func (p *params) list(name string) []*params {
	c := p.child(name)
	if c == nil {
		return nil
	}
	type member struct {
		i int
		p *params
	}
	var ms []member
	for k, v := range c.kids {
		if i, err := strconv.Atoi(k); err == nil && i > 0 {
			ms = append(ms, member{i, v})
		}
	}
	sort.Slice(ms, func(a, b int) bool { return ms[a].i < ms[b].i })
	out := make([]*params, len(ms))
	for i, m := range ms {
		out[i] = m.p
	}
	return out
}

// strList returns the values of name.1, name.2, ...
func (p *params) strList(name string) []string {
	var out []string
	for _, m := range p.list(name) {
		if m.set {
			out = append(out, m.val)
		}
	}
	return out
}

// int32 parses the named integer parameter; ok is false when it is absent.
func (p *params) int32(name string) (v int32, ok bool, err *apiError) {
	if !p.has(name) {
		return 0, false, nil
	}
	s := p.str(name)
	n, perr := strconv.ParseInt(s, 10, 32)
	if perr != nil {
		return 0, false, errInvalidValue(s, name)
	}
	return int32(n), true, nil
}

// dryRun tells whether DryRun=true was sent.
func (p *params) dryRun() bool {
	return strings.EqualFold(p.str("DryRun"), "true")
}

// filter is one Filter.N: a name and the values any of which may match.
type filter struct {
	name   string
	values []string
}

// filters parses Filter.N.Name / Filter.N.Value.M and checks each name against
// known (tag:KEY, tag-key and tag-value are always allowed).
func (p *params) filters(known ...string) ([]filter, *apiError) {
	var out []filter
	for _, f := range p.list("Filter") {
		name := f.str("Name")
		if name == "" {
			return nil, errMissing("Filter.N.Name")
		}
		ok := strings.HasPrefix(name, "tag:") || name == "tag-key" || name == "tag-value"
		for _, k := range known {
			ok = ok || k == name
		}
		if !ok {
			return nil, newErr(400, "InvalidParameterValue", "The filter '%s' is invalid", name)
		}
		out = append(out, filter{name: name, values: f.strList("Value")})
	}
	return out, nil
}

// matchFilters ANDs the filters; each matches when any of the resource's values for
// that filter matches any of its values (with EC2's * and ? wildcards). values
// returns the resource's values for a filter name other than the tag ones.
func matchFilters(fs []filter, tags map[string]string, values func(name string) []string) bool {
	for _, f := range fs {
		var have []string
		switch {
		case strings.HasPrefix(f.name, "tag:"):
			if v, ok := tags[strings.TrimPrefix(f.name, "tag:")]; ok {
				have = []string{v}
			}
		case f.name == "tag-key":
			for k := range tags {
				have = append(have, k)
			}
		case f.name == "tag-value":
			for _, v := range tags {
				have = append(have, v)
			}
		default:
			have = values(f.name)
		}
		if !anyMatch(f.values, have) {
			return false
		}
	}
	return true
}

func anyMatch(patterns, have []string) bool {
	for _, p := range patterns {
		for _, h := range have {
			if globMatch(p, h) {
				return true
			}
		}
	}
	return false
}

// globMatch matches s against an EC2 filter value: * is any run of characters, ?
// any one character, and \ escapes the next one.
func globMatch(pattern, s string) bool {
	if !strings.ContainsAny(pattern, `*?\`) {
		return pattern == s
	}
	p, t := []rune(pattern), []rune(s)
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for i < len(p) {
			switch p[i] {
			case '*':
				for i < len(p) && p[i] == '*' {
					i++
				}
				if i == len(p) {
					return true
				}
				for k := j; k <= len(t); k++ {
					if match(i, k) {
						return true
					}
				}
				return false
			case '?':
				if j >= len(t) {
					return false
				}
			case '\\':
				if i+1 < len(p) {
					i++
				}
				if j >= len(t) || t[j] != p[i] {
					return false
				}
			default:
				if j >= len(t) || t[j] != p[i] {
					return false
				}
			}
			i++
			j++
		}
		return j == len(t)
	}
	return match(0, 0)
}
