package providers

import (
	"fmt"
	"strings"

	"github.com/microseg/microseg/model"
)

// DescribeAllows is what an operator reads next to a rule in a cloud's console:
// the allows it enforces, with their owners and tickets, as
// "microseg: web-to-db (owner team-payments, ticket SEC-142); lb-to-web". It is at
// most limit bytes: allows past it are counted ("; +3 more"), never cut mid-name
// (one allow with a very long owner or ticket is cut). clean maps each name, owner
// and ticket into the characters the cloud accepts (nil keeps them).
func DescribeAllows(allows []string, byName map[string]*model.Allow, limit int, clean func(string) string) string {
	if clean == nil {
		clean = func(s string) string { return s }
	}
	desc := "microseg:"
	for i, name := range allows {
		part := " " + clean(name)
		if a := byName[name]; a != nil {
			var notes []string
			if a.Owner != "" {
				notes = append(notes, "owner "+clean(a.Owner))
			}
			if a.Ticket != "" {
				notes = append(notes, "ticket "+clean(a.Ticket))
			}
			if len(notes) > 0 {
				part += " (" + strings.Join(notes, ", ") + ")"
			}
		}
		if i > 0 {
			part = ";" + part
		}
		rest := ""
		if left := len(allows) - i - 1; left > 0 {
			rest = fmt.Sprintf("; +%d more", left)
		}
		if len(desc)+len(part)+len(rest) > limit {
			if i == 0 {
				return (desc + part)[:limit]
			}
			// The previous part left room for this count.
			return desc + fmt.Sprintf("; +%d more", len(allows)-i)
		}
		desc += part
	}
	return desc
}

// TagsSelect reports whether a workload's tags (or labels) have every tag a
// segment's members { tags = ... } want: how every cloud selects members.
func TagsSelect(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
