package hclload

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/microseg/microseg/model"
)

// Policies are literal: values are evaluated without variables or functions, so
// an expression that needs them gets HCL's own "variables not allowed" diagnostic.

// value evaluates expr to a known, non-null value of type want.
func (l *loader) value(expr hcl.Expression, want cty.Type, what string) (cty.Value, bool) {
	v, diags := expr.Value(nil)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		l.errorf(expr.Range().Ptr(), "Missing value", "%s must not be null.", what)
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		l.errorf(expr.Range().Ptr(), "Unknown value", "%s must be a literal value.", what)
		return cty.NilVal, false
	}
	converted, err := convert.Convert(v, want)
	if err != nil { // cty's own message repeats the type; ours names both
		l.errorf(expr.Range().Ptr(), "Wrong type", "%s must be %s, not %s.", what, want.FriendlyName(), v.Type().FriendlyName())
		return cty.NilVal, false
	}
	return converted, true
}

func (l *loader) stringValue(attr *hcl.Attribute) (string, bool) {
	v, ok := l.value(attr.Expr, cty.String, fmt.Sprintf("%q", attr.Name))
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

func (l *loader) boolValue(attr *hcl.Attribute) (bool, bool) {
	v, ok := l.value(attr.Expr, cty.Bool, fmt.Sprintf("%q", attr.Name))
	if !ok {
		return false, false
	}
	return v.True(), true
}

func (l *loader) numberValue(attr *hcl.Attribute, min, max int) (int, bool) {
	v, ok := l.value(attr.Expr, cty.Number, fmt.Sprintf("%q", attr.Name))
	if !ok {
		return 0, false
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != 0 || n < int64(min) || n > int64(max) {
		l.errorf(attr.Expr.Range().Ptr(), "Invalid number", "%q must be a whole number from %d to %d.", attr.Name, min, max)
		return 0, false
	}
	return int(n), true
}

// listItem is one element of a literal list with where it was written.
type listItem struct {
	value string
	rng   hcl.Range
}

// stringList reads a list of strings, keeping each element's range so that a bad
// element is reported where it is, not at the start of the list.
func (l *loader) stringList(attr *hcl.Attribute) ([]listItem, bool) {
	exprs, diags := hcl.ExprList(attr.Expr)
	if diags.HasErrors() {
		l.errorf(attr.Expr.Range().Ptr(), "Expected a list", "%q must be a list of strings, like [\"a\", \"b\"].", attr.Name)
		return nil, false
	}
	items := make([]listItem, 0, len(exprs))
	ok := true
	for _, e := range exprs {
		v, good := l.value(e, cty.String, fmt.Sprintf("each element of %q", attr.Name))
		if !good {
			ok = false
			continue
		}
		items = append(items, listItem{v.AsString(), e.Range()})
	}
	return items, ok
}

// stringMap reads a map of strings such as { tier = "web" }.
func (l *loader) stringMap(attr *hcl.Attribute) (map[string]string, bool) {
	v, ok := l.value(attr.Expr, cty.Map(cty.String), fmt.Sprintf("%q", attr.Name))
	if !ok {
		return nil, false
	}
	m := make(map[string]string, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		m[k.AsString()] = e.AsString()
	}
	return m, true
}

// prefixList reads a list of CIDRs. Host bits set is a warning and the prefix is
// masked; anything unparsable is an error at the element.
// It reports false when an element could not be read (already diagnosed), so that
// callers complain about an empty list only when it was written empty.
func (l *loader) prefixList(attr *hcl.Attribute) ([]netip.Prefix, bool) {
	items, ok := l.stringList(attr)
	prefixes := make([]netip.Prefix, 0, len(items))
	for _, item := range items {
		p, err := model.ParsePrefix(item.value)
		switch {
		case errors.Is(err, model.ErrHostBitsSet):
			l.warnf(item.rng.Ptr(), "Host bits set in CIDR", "%s. Write %s to silence this warning.", err.Error(), p)
		case err != nil:
			l.errorf(item.rng.Ptr(), "Invalid CIDR", "%s.", err.Error())
			ok = false
			continue
		}
		prefixes = append(prefixes, p)
	}
	slices.SortFunc(prefixes, comparePrefix)
	return slices.Compact(prefixes), ok
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// portList reads a list of port specs ("tcp/443", "udp/53", "icmp").
// Like prefixList, it reports false when an element could not be read.
func (l *loader) portList(attr *hcl.Attribute) ([]model.ServicePort, bool) {
	items, ok := l.stringList(attr)
	ports := make([]model.ServicePort, 0, len(items))
	for _, item := range items {
		p, err := model.ParsePort(item.value)
		if err != nil {
			l.errorf(item.rng.Ptr(), "Invalid port spec", "%q: %s.", item.value, err.Error())
			ok = false
			continue
		}
		ports = append(ports, p)
	}
	slices.SortFunc(ports, model.ServicePort.Compare)
	return slices.Compact(ports), ok
}
