package aws

import (
	"context"
	"net/netip"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Inventory returns the tags of the workloads behind the VPC's addresses, for
// discovery to group them by (discover.Options.Labels). It pages DescribeInstances
// over the running instances of the target's VPC, as Observe does, and maps every
// address of each instance to the instance's tags:
//   - the instance's primary private IPv4 address;
//   - the primary and secondary private IPv4 addresses of each of its network
//     interfaces;
//   - the IPv6 addresses of each of its network interfaces.
//
// Every tag is kept (Name, app, aws:autoscaling:groupName, ...): the caller chooses
// the keys it groups by. The instance ID is not added as a label: discovery turns
// the grouping labels into a segment's `members { tags = ... }` selector, and a
// selector on a key that is not a tag would match nothing.
//
// An untagged instance's addresses map to an empty, non-nil map: they are still
// workloads of the VPC, which tells discovery that its IPv6 addresses (global
// unicast on AWS) are not public peers. Each address gets its own copy of the
// tags, so a caller may change one without changing the others. Public IPv4
// addresses are left out: flow logs record an interface's private address.
// Interfaces of no instance (load balancers, Lambda functions, NAT gateways) are
// not in DescribeInstances and so not in the inventory.
//
// An address that does not parse is skipped. An address two instances claim (never
// at once on AWS, but pages are read at different moments) goes to the instance
// whose ID sorts first, so that the result does not depend on the order of pages.
func (p *Provider) Inventory(ctx context.Context) (map[netip.Addr]map[string]string, error) {
	labels := map[netip.Addr]map[string]string{}
	owner := map[netip.Addr]string{} // address -> instance ID, for the tie rule
	err := p.eachRunningInstance(ctx, func(in *types.Instance) {
		id := aws.ToString(in.InstanceId)
		tags := tagMap(in.Tags)
		add := func(text *string) {
			a, err := netip.ParseAddr(aws.ToString(text))
			if err != nil {
				return
			}
			// Flow records carry plain addresses: no zone, IPv4 not mapped into IPv6.
			a = a.WithZone("").Unmap()
			if prev, ok := owner[a]; ok && prev <= id {
				return
			}
			owner[a] = id
			l := make(map[string]string, len(tags))
			for k, v := range tags {
				l[k] = v
			}
			labels[a] = l
		}
		add(in.PrivateIpAddress)
		for i := range in.NetworkInterfaces {
			ni := &in.NetworkInterfaces[i]
			add(ni.PrivateIpAddress)
			for j := range ni.PrivateIpAddresses {
				add(ni.PrivateIpAddresses[j].PrivateIpAddress)
			}
			for j := range ni.Ipv6Addresses {
				add(ni.Ipv6Addresses[j].Ipv6Address)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return labels, nil
}
