package onprem

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// Observe reads table inet microseg back from the kernel into a Ruleset: what is
// really enforced, whoever changed it. Sets are recognised by name; a set microseg
// does not write, or an element it cannot decode, still appears, so that drift shows.
func (e *Enforcer) Observe() (*Ruleset, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.observe()
}

func (e *Enforcer) observe() (*Ruleset, error) {
	c, err := e.conn()
	if err != nil {
		return nil, err
	}
	t, err := c.ListTableOfFamily(TableName, nftables.TableFamilyINet)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), "no such file") {
			return &Ruleset{}, nil
		}
		return nil, fmt.Errorf("read table inet %s%s: %w", TableName, e.where(), err)
	}
	rs := &Ruleset{Present: true}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("read chains of table inet %s%s: %w", TableName, e.where(), err)
	}
	var ours []*nftables.Chain
	for _, ch := range chains {
		if ch.Table.Name != TableName {
			continue
		}
		policy := "none"
		if ch.Policy != nil {
			policy = map[nftables.ChainPolicy]string{nftables.ChainPolicyDrop: "drop", nftables.ChainPolicyAccept: "accept"}[*ch.Policy]
		}
		rs.Chains = append(rs.Chains, Chain{Name: ch.Name, Policy: policy})
		ours = append(ours, ch)
	}
	// input before output, as Build writes them; other chains after, by name.
	order := func(name string) string {
		switch name {
		case "input":
			return "0"
		case "output":
			return "1"
		}
		return "2" + name
	}
	slices.SortFunc(rs.Chains, func(a, b Chain) int { return strings.Compare(order(a.Name), order(b.Name)) })
	slices.SortFunc(ours, func(a, b *nftables.Chain) int { return strings.Compare(order(a.Name), order(b.Name)) })
	for _, ch := range ours {
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return nil, fmt.Errorf("read rules of chain %s%s: %w", ch.Name, e.where(), err)
		}
		for _, r := range rules {
			rs.Rules = append(rs.Rules, Rule{Chain: ch.Name, Key: string(r.UserData), Exprs: r.Exprs})
		}
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return nil, fmt.Errorf("read sets of table inet %s%s: %w", TableName, e.where(), err)
	}
	for _, s := range sets {
		spec := specOf(s)
		elems, err := c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("read elements of set %s%s: %w", s.Name, e.where(), err)
		}
		set := &Set{Spec: spec}
		for _, el := range elems {
			if el.IntervalEnd {
				continue
			}
			set.Elements = append(set.Elements, Element{Text: decodeElement(spec, el.Key, el.KeyEnd), Key: el.Key, KeyEnd: el.KeyEnd})
		}
		slices.SortFunc(set.Elements, func(a, b Element) int { return strings.Compare(a.Text, b.Text) })
		rs.Sets = append(rs.Sets, set)
	}
	slices.SortFunc(rs.Sets, func(a, b *Set) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	return rs, nil
}

// specOf recognises a set read back by its name and checks its key type against the
// name: a set whose type does not fit its name is reported as drift through Describe.
func specOf(s *nftables.Set) SetSpec {
	spec := SetSpec{Name: s.Name}
	name := strings.TrimSuffix(s.Name, revokedSuffix)
	for _, prefix := range []string{"mgmtout", "mgmt", "in", "out"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok && rest != "" {
			spec.IPv6 = rest[0] == '6'
			switch {
			case prefix == "mgmt":
				spec.Layout = LayoutRange
			case prefix == "mgmtout":
				spec.Layout = LayoutAll
			default:
				for _, l := range layouts {
					if strings.HasSuffix(rest, "_"+l.String()) {
						spec.Layout = l
					}
				}
			}
			break
		}
	}
	if spec.keyType().Bytes != s.KeyType.Bytes || spec.interval() != s.Interval {
		// Not a set microseg wrote as it is: keep what the kernel says in the name,
		// so that the comparison with the desired set fails visibly.
		spec.Name = fmt.Sprintf("%s (type %s, interval %v)", s.Name, s.KeyType.Name, s.Interval)
	}
	return spec
}
