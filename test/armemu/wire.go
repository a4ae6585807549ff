package armemu

import (
	"encoding/json"
	"strings"
)

// The JSON of ARM resources, used both to read request bodies (where read-only
// properties are ignored) and to write responses.

type subRes struct {
	ID string `json:"id"`
}

type listJSON struct {
	Value    []any  `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

type asgJSON struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Location   string            `json:"location,omitempty"`
	Etag       string            `json:"etag,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties struct {
		ResourceGUID      string `json:"resourceGuid,omitempty"`
		ProvisioningState string `json:"provisioningState,omitempty"`
	} `json:"properties"`
}

type nsgJSON struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Location   string            `json:"location,omitempty"`
	Etag       string            `json:"etag,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties nsgProps          `json:"properties"`
}

type nsgProps struct {
	SecurityRules        []ruleJSON `json:"securityRules"`
	DefaultSecurityRules []ruleJSON `json:"defaultSecurityRules,omitempty"`
	NetworkInterfaces    []subRes   `json:"networkInterfaces,omitempty"`
	Subnets              []subRes   `json:"subnets,omitempty"`
	ResourceGUID         string     `json:"resourceGuid,omitempty"`
	ProvisioningState    string     `json:"provisioningState,omitempty"`
}

type ruleJSON struct {
	ID         string    `json:"id,omitempty"`
	Name       string    `json:"name,omitempty"`
	Type       string    `json:"type,omitempty"`
	Etag       string    `json:"etag,omitempty"`
	Properties ruleProps `json:"properties"`
}

// ruleProps writes the plural fields as [] when empty, as Azure does beside
// the singular field that holds the value.
type ruleProps struct {
	Description                          string   `json:"description,omitempty"`
	Protocol                             string   `json:"protocol"`
	SourcePortRange                      string   `json:"sourcePortRange,omitempty"`
	DestinationPortRange                 string   `json:"destinationPortRange,omitempty"`
	SourceAddressPrefix                  string   `json:"sourceAddressPrefix,omitempty"`
	DestinationAddressPrefix             string   `json:"destinationAddressPrefix,omitempty"`
	SourcePortRanges                     []string `json:"sourcePortRanges"`
	DestinationPortRanges                []string `json:"destinationPortRanges"`
	SourceAddressPrefixes                []string `json:"sourceAddressPrefixes"`
	DestinationAddressPrefixes           []string `json:"destinationAddressPrefixes"`
	SourceApplicationSecurityGroups      []subRes `json:"sourceApplicationSecurityGroups,omitempty"`
	DestinationApplicationSecurityGroups []subRes `json:"destinationApplicationSecurityGroups,omitempty"`
	Access                               string   `json:"access"`
	Priority                             *int32   `json:"priority,omitempty"`
	Direction                            string   `json:"direction"`
	ProvisioningState                    string   `json:"provisioningState,omitempty"`
}

type nicJSON struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Location   string            `json:"location,omitempty"`
	Etag       string            `json:"etag,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties nicProps          `json:"properties"`
}

type nicProps struct {
	IPConfigurations     []ipConfigJSON `json:"ipConfigurations"`
	VirtualMachine       *subRes        `json:"virtualMachine,omitempty"`
	MacAddress           string         `json:"macAddress,omitempty"`
	NetworkSecurityGroup *subRes        `json:"networkSecurityGroup,omitempty"`
	Primary              *bool          `json:"primary,omitempty"`
	ResourceGUID         string         `json:"resourceGuid,omitempty"`
	ProvisioningState    string         `json:"provisioningState,omitempty"`
}

type ipConfigJSON struct {
	ID         string        `json:"id,omitempty"`
	Name       string        `json:"name,omitempty"`
	Type       string        `json:"type,omitempty"`
	Etag       string        `json:"etag,omitempty"`
	Properties ipConfigProps `json:"properties"`
}

type ipConfigProps struct {
	PrivateIPAddress          string   `json:"privateIPAddress,omitempty"`
	PrivateIPAddressVersion   string   `json:"privateIPAddressVersion,omitempty"`
	PrivateIPAllocationMethod string   `json:"privateIPAllocationMethod,omitempty"`
	Primary                   *bool    `json:"primary,omitempty"`
	Subnet                    *subRes  `json:"subnet,omitempty"`
	ApplicationSecurityGroups []subRes `json:"applicationSecurityGroups,omitempty"`
	ProvisioningState         string   `json:"provisioningState,omitempty"`
}

type vnetJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Etag       string            `json:"etag"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties struct {
		AddressSpace struct {
			AddressPrefixes []string `json:"addressPrefixes"`
		} `json:"addressSpace"`
		Subnets           []subnetJSON `json:"subnets"`
		ResourceGUID      string       `json:"resourceGuid"`
		ProvisioningState string       `json:"provisioningState"`
	} `json:"properties"`
}

type subnetJSON struct {
	ID         string      `json:"id,omitempty"`
	Name       string      `json:"name,omitempty"`
	Type       string      `json:"type,omitempty"`
	Etag       string      `json:"etag,omitempty"`
	Properties subnetProps `json:"properties"`
}

type subnetProps struct {
	AddressPrefix        string   `json:"addressPrefix,omitempty"`
	NetworkSecurityGroup *subRes  `json:"networkSecurityGroup,omitempty"`
	IPConfigurations     []subRes `json:"ipConfigurations,omitempty"`
	ProvisioningState    string   `json:"provisioningState,omitempty"`
}

type vmJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties struct {
		VMID           string `json:"vmId"`
		NetworkProfile struct {
			NetworkInterfaces []subRes `json:"networkInterfaces"`
		} `json:"networkProfile"`
		ProvisioningState string `json:"provisioningState"`
	} `json:"properties"`
}

// decode reads a request body. JSON.NET, behind NRP, matches property names
// case-insensitively, and so does encoding/json.
func decode(body []byte, v any) *apiError {
	if len(strings.TrimSpace(string(body))) == 0 {
		return errFormat("InvalidJson", "The request body is empty.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errFormat("InvalidJson", "%v", err)
	}
	return nil
}

func boolPtr(b bool) *bool { return &b }

func tagsOrNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return copyTags(m)
}
