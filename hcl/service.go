package hclload

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/microseg/microseg/model"
)

var serviceSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "ports", Required: true}}}

func (l *loader) decodeService(block *hcl.Block) {
	s := &model.Service{Name: block.Labels[0], Pos: posOf(block.DefRange)}
	content := l.content(block.Body, serviceSchema)
	if attr, ok := content.Attributes["ports"]; ok {
		var good bool
		s.Ports, good = l.portList(attr)
		if good && len(s.Ports) == 0 {
			l.errorf(attr.Expr.Range().Ptr(), "Service without ports", "Service %q must name at least one port, like \"tcp/443\".", s.Name)
		}
	}
	l.loaded.Policy.Services[s.Name] = s
}
