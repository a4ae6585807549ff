package gcp

import (
	"context"
	"maps"
	"net/netip"
)

// Inventory returns the labels of the workloads behind the network's addresses,
// for discovery to group them by (discover.Options.Labels): every internal IPv4
// and IPv6 address of every instance with an interface in the target's network
// maps to the instance's labels. An address two instances claim goes to the one
// whose zone/name sorts first (instances are read in that order).
func (p *Provider) Inventory(ctx context.Context) (map[netip.Addr]map[string]string, error) {
	o := &observed{}
	if err := p.observeInstances(ctx, o); err != nil {
		return nil, err
	}
	labels := map[netip.Addr]map[string]string{}
	for _, in := range o.instances {
		for _, a := range in.addresses {
			if _, taken := labels[a]; !taken {
				l := maps.Clone(in.labels)
				if l == nil {
					l = map[string]string{}
				}
				labels[a] = l
			}
		}
	}
	return labels, nil
}
