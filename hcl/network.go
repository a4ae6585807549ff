package hclload

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/microseg/microseg/model"
)

var networkSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "cidrs", Required: true}}}

func (l *loader) decodeNetwork(block *hcl.Block) {
	n := &model.Network{Name: block.Labels[0], Pos: posOf(block.DefRange)}
	content := l.content(block.Body, networkSchema)
	if attr, ok := content.Attributes["cidrs"]; ok {
		var good bool
		n.CIDRs, good = l.prefixList(attr)
		if good && len(n.CIDRs) == 0 {
			l.errorf(attr.Expr.Range().Ptr(), "Network without CIDRs", "Network %q must name at least one CIDR.", n.Name)
		}
	}
	l.loaded.Policy.Networks[n.Name] = n
}
