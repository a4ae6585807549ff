package azure

import (
	"context"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
)

// ComputeVMs reads virtual machines' tags through armcompute: the VMLister cmd
// wires, so that members { tags = ... } selects NICs by their VM's tags too.
type ComputeVMs struct {
	Client *armcompute.VirtualMachinesClient
}

// VMTags pages through the resource group's VMs: their tags by lower-cased VM ID.
func (v ComputeVMs) VMTags(ctx context.Context, resourceGroup string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	pages := v.Client.NewListPager(resourceGroup, nil)
	for pages.More() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, vm := range page.Value {
			if vm == nil || vm.ID == nil {
				continue
			}
			tags := make(map[string]string, len(vm.Tags))
			for k, val := range vm.Tags {
				tags[k] = deref(val)
			}
			out[strings.ToLower(*vm.ID)] = tags
		}
	}
	return out, nil
}
