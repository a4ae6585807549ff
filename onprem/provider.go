package onprem

import (
	"context"
	"errors"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// HostProvider is one host behind the providers contract: it observes the host's
// table inet microseg, derives the host's share of its target's desired state, and
// converges whole, writing the table in one nftables transaction, so that the order
// of the plan's changes never matters.
type HostProvider struct {
	Enforcer *Enforcer
	Host     string
}

var _ providers.Provider = (*HostProvider)(nil)

// Observe reads the host's table; the observation's State is the ruleset read.
func (p *HostProvider) Observe(ctx context.Context) (providers.Observation, error) {
	rs, err := p.Enforcer.Observe()
	if err != nil {
		return providers.Observation{}, err
	}
	return providers.Observation{Objects: rs.Objects(), State: rs}, nil
}

// Desired is the host's ruleset for its target's state (ForHost, then Build), whole
// in State.
func (p *HostProvider) Desired(ctx context.Context, st *model.DesiredState, _ providers.Observation) (providers.Desired, error) {
	hp, err := ForHost(st, p.Host)
	if err != nil {
		return providers.Desired{}, err
	}
	rs := Build(hp)
	return providers.Desired{Objects: rs.Objects(), State: rs}, nil
}

// Apply writes want's ruleset whole when the plan changes anything.
func (p *HostProvider) Apply(ctx context.Context, _ providers.Observation, want providers.Desired, plan *model.Plan) error {
	if plan.Empty() {
		return nil
	}
	rs, ok := want.State.(*Ruleset)
	if !ok || rs == nil {
		return errors.New("onprem: the desired state was not made by the host provider: plan again")
	}
	_, err := p.Enforcer.Apply(rs)
	return err
}
