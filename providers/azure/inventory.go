package azure

import (
	"context"
	"maps"
	"net/netip"
	"strings"
)

// Inventory returns the tags of the workloads behind the resource group's private
// addresses, for discovery to group them by (discover.Options.Labels): every
// private address of every ip configuration of every NIC maps to the NIC's tags
// over its VM's, as membership selects them. An address two NICs claim goes to the
// NIC whose name sorts first, so that the result does not depend on page order.
func (p *Provider) Inventory(ctx context.Context) (map[netip.Addr]map[string]string, error) {
	o := &observed{}
	if err := p.observeNICs(ctx, o, nil); err != nil {
		return nil, err
	}
	labels := map[netip.Addr]map[string]string{}
	owner := map[netip.Addr]string{}
	for _, in := range o.nics {
		for _, ipc := range in.raw.Properties.IPConfigurations {
			if ipc == nil || ipc.Properties == nil {
				continue
			}
			a, err := netip.ParseAddr(deref(ipc.Properties.PrivateIPAddress))
			if err != nil {
				continue
			}
			if prev, ok := owner[a]; ok && strings.Compare(prev, in.name) < 0 {
				continue
			}
			owner[a] = in.name
			labels[a] = maps.Clone(in.tags)
		}
	}
	return labels, nil
}
