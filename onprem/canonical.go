package onprem

import (
	"fmt"
	"strings"

	"github.com/google/nftables/expr"

	"github.com/microseg/microseg/model"
)

// Objects puts the ruleset in the canonical keyed form the model diffs, so that drift
// on a host is a model.Diff like on any other target: the table, chains and sets are
// containers (compared by policy and type), rules and set elements are rules.
func (rs *Ruleset) Objects() []model.Object {
	if !rs.Present {
		return nil
	}
	objs := []model.Object{{Kind: model.ObjectSegment, Key: "table inet " + TableName}}
	for _, c := range rs.Chains {
		objs = append(objs, model.Object{Kind: model.ObjectSegment, Key: "chain " + c.Name, Fields: []model.Field{{Name: "policy", Value: c.Policy}}})
	}
	revoked := map[string]map[string]bool{} // set name -> revoked element texts
	for _, s := range rs.Sets {
		if base, ok := strings.CutSuffix(s.Spec.Name, revokedSuffix); ok {
			revoked[base] = map[string]bool{}
			for _, e := range s.Elements {
				revoked[base][e.Text] = true
			}
		}
	}
	for _, s := range rs.Sets {
		objs = append(objs, model.Object{Kind: model.ObjectSegment, Key: "set " + s.Spec.Name, Fields: []model.Field{{Name: "type", Value: s.Spec.Describe()}}})
		if strings.HasSuffix(s.Spec.Name, revokedSuffix) {
			continue // its elements count through the set they revoke from
		}
		// What a set enforces is its elements less the revoked ones.
		for _, e := range s.Elements {
			if !revoked[s.Spec.Name][e.Text] {
				objs = append(objs, model.Object{Kind: model.ObjectRule, Key: "element " + s.Spec.Name + " " + e.Text})
			}
		}
	}
	// A rule's position counts among microseg's own rules of its chain, so that a rule
	// inserted by hand shows as one added rule rather than every later rule moved.
	position := map[string]int{}
	for _, r := range rs.Rules {
		text, digest := ruleText(r.Exprs), ruleDigest(r.Exprs)
		if r.Key == "" {
			objs = append(objs, model.Object{Kind: model.ObjectRule, Key: r.Chain + " manual: " + text + " (" + digest + ")"})
			continue
		}
		objs = append(objs, model.Object{Kind: model.ObjectRule, Key: r.Chain + " " + r.Key,
			Fields: []model.Field{{Name: "digest", Value: digest}, {Name: "position", Value: fmt.Sprint(position[r.Chain])}, {Name: "rule", Value: text}}})
		position[r.Chain]++
	}
	return objs
}

// exprsText is a rule's expressions as canonical text: what the rule does, without
// what the kernel adds on read-back (counter values, set IDs, handles).
func exprsText(exprs []expr.Any) string {
	parts := make([]string, len(exprs))
	for i, e := range exprs {
		parts[i] = exprText(e)
	}
	return strings.Join(parts, "; ")
}

// reg names a register the way the kernel dumps it: a 4-byte register that starts a
// 16-byte one (NFT_REG32_04 is where NFT_REG_2 starts) comes back as the 16-byte one.
func reg(r uint32) uint32 {
	if r >= reg32_0 && (r-reg32_0)%4 == 0 {
		return 1 + (r-reg32_0)/4
	}
	return r
}

func exprText(e expr.Any) string {
	switch e := e.(type) {
	case *expr.Meta:
		return fmt.Sprintf("meta %d->r%d", e.Key, reg(e.Register))
	case *expr.Cmp:
		return fmt.Sprintf("cmp %d r%d %x", e.Op, reg(e.Register), e.Data)
	case *expr.Payload:
		return fmt.Sprintf("payload %d+%d/%d->r%d", e.Base, e.Offset, e.Len, reg(e.DestRegister))
	case *expr.Lookup:
		return fmt.Sprintf("lookup r%d @%s inv=%v", reg(e.SourceRegister), e.SetName, e.Invert)
	case *expr.Verdict:
		return fmt.Sprintf("verdict %d %s", e.Kind, e.Chain)
	case *expr.Ct:
		return fmt.Sprintf("ct %d->r%d", e.Key, reg(e.Register))
	case *expr.Bitwise:
		return fmt.Sprintf("bitwise r%d->r%d &%x ^%x", reg(e.SourceRegister), reg(e.DestRegister), e.Mask, e.Xor)
	case *expr.Range:
		return fmt.Sprintf("range %d r%d %x-%x", e.Op, reg(e.Register), e.FromData, e.ToData)
	case *expr.Counter:
		return "counter"
	case *expr.Limit:
		return fmt.Sprintf("limit %d/%d burst %d over=%v type %d", e.Rate, e.Unit, e.Burst, e.Over, e.Type)
	case *expr.Log:
		return fmt.Sprintf("log group %d prefix %q", e.Group, e.Data)
	default:
		return fmt.Sprintf("%T%+v", e, e)
	}
}
