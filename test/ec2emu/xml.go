package ec2emu

import (
	"encoding/xml"
	"sort"
)

// Every response type starts with the fields XMLName, Xmlns and RequestID, which
// ServeHTTP fills in. (They are not in an embedded struct: encoding/xml cannot
// marshal an embedded struct of an unexported type.)

type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func xmlTags(m map[string]string) []xmlTag {
	out := make([]xmlTag, 0, len(m))
	for k, v := range m {
		out = append(out, xmlTag{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

type xmlIPRange struct {
	CidrIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type xmlIPv6Range struct {
	CidrIPv6    string `xml:"cidrIpv6"`
	Description string `xml:"description,omitempty"`
}

type xmlGroupPair struct {
	UserID      string `xml:"userId"`
	GroupID     string `xml:"groupId"`
	VpcID       string `xml:"vpcId,omitempty"`
	Description string `xml:"description,omitempty"`
}

type xmlPermission struct {
	IPProtocol string         `xml:"ipProtocol"`
	FromPort   *int32         `xml:"fromPort,omitempty"`
	ToPort     *int32         `xml:"toPort,omitempty"`
	Groups     []xmlGroupPair `xml:"groups>item"`
	IPRanges   []xmlIPRange   `xml:"ipRanges>item"`
	IPv6Ranges []xmlIPv6Range `xml:"ipv6Ranges>item"`
}

type xmlSecurityGroup struct {
	OwnerID             string          `xml:"ownerId"`
	GroupID             string          `xml:"groupId"`
	GroupName           string          `xml:"groupName"`
	GroupDescription    string          `xml:"groupDescription"`
	VpcID               string          `xml:"vpcId"`
	IPPermissions       []xmlPermission `xml:"ipPermissions>item"`
	IPPermissionsEgress []xmlPermission `xml:"ipPermissionsEgress>item"`
	TagSet              []xmlTag        `xml:"tagSet>item"`
}

type xmlReferencedGroup struct {
	GroupID string `xml:"groupId"`
	UserID  string `xml:"userId"`
}

type xmlRule struct {
	SecurityGroupRuleID string              `xml:"securityGroupRuleId"`
	GroupID             string              `xml:"groupId"`
	GroupOwnerID        string              `xml:"groupOwnerId"`
	IsEgress            bool                `xml:"isEgress"`
	IPProtocol          string              `xml:"ipProtocol"`
	FromPort            int32               `xml:"fromPort"`
	ToPort              int32               `xml:"toPort"`
	CidrIPv4            string              `xml:"cidrIpv4,omitempty"`
	CidrIPv6            string              `xml:"cidrIpv6,omitempty"`
	ReferencedGroupInfo *xmlReferencedGroup `xml:"referencedGroupInfo,omitempty"`
	Description         string              `xml:"description,omitempty"`
	TagSet              []xmlTag            `xml:"tagSet>item"`
}

type xmlRevokedRule struct {
	SecurityGroupRuleID string `xml:"securityGroupRuleId"`
	GroupID             string `xml:"groupId"`
	IsEgress            bool   `xml:"isEgress"`
	IPProtocol          string `xml:"ipProtocol"`
	FromPort            int32  `xml:"fromPort"`
	ToPort              int32  `xml:"toPort"`
	CidrIPv4            string `xml:"cidrIpv4,omitempty"`
	CidrIPv6            string `xml:"cidrIpv6,omitempty"`
	ReferencedGroupID   string `xml:"referencedGroupId,omitempty"`
	Description         string `xml:"description,omitempty"`
}

type xmlGroupIdentifier struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type xmlAttachment struct {
	AttachmentID        string `xml:"attachmentId"`
	InstanceID          string `xml:"instanceId,omitempty"`
	InstanceOwnerID     string `xml:"instanceOwnerId,omitempty"`
	DeviceIndex         int32  `xml:"deviceIndex"`
	Status              string `xml:"status"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type xmlNetworkInterface struct {
	NetworkInterfaceID string               `xml:"networkInterfaceId"`
	VpcID              string               `xml:"vpcId"`
	OwnerID            string               `xml:"ownerId"`
	Status             string               `xml:"status"`
	InterfaceType      string               `xml:"interfaceType"`
	PrivateIPAddress   string               `xml:"privateIpAddress,omitempty"`
	PrivateIPAddresses []xmlPrivateIP       `xml:"privateIpAddressesSet>item"`
	IPv6Addresses      []xmlIPv6Address     `xml:"ipv6AddressesSet>item"`
	SourceDestCheck    bool                 `xml:"sourceDestCheck"`
	GroupSet           []xmlGroupIdentifier `xml:"groupSet>item"`
	Attachment         *xmlAttachment       `xml:"attachment,omitempty"`
	TagSet             []xmlTag             `xml:"tagSet>item"`
}

// xmlPrivateIP is an item of a network interface's privateIpAddressesSet: its
// primary private IPv4 address first, then its secondary ones.
type xmlPrivateIP struct {
	PrivateIPAddress string `xml:"privateIpAddress"`
	Primary          bool   `xml:"primary"`
}

// xmlIPv6Address is an item of a network interface's ipv6AddressesSet.
type xmlIPv6Address struct {
	IPv6Address string `xml:"ipv6Address"`
}

type xmlInstanceNetworkInterface struct {
	NetworkInterfaceID string               `xml:"networkInterfaceId"`
	VpcID              string               `xml:"vpcId"`
	OwnerID            string               `xml:"ownerId"`
	Status             string               `xml:"status"`
	InterfaceType      string               `xml:"interfaceType"`
	PrivateIPAddress   string               `xml:"privateIpAddress,omitempty"`
	PrivateIPAddresses []xmlPrivateIP       `xml:"privateIpAddressesSet>item"`
	IPv6Addresses      []xmlIPv6Address     `xml:"ipv6AddressesSet>item"`
	SourceDestCheck    bool                 `xml:"sourceDestCheck"`
	GroupSet           []xmlGroupIdentifier `xml:"groupSet>item"`
	Attachment         *xmlAttachment       `xml:"attachment,omitempty"`
}

type xmlInstanceState struct {
	Code int32  `xml:"code"`
	Name string `xml:"name"`
}

type xmlInstance struct {
	InstanceID          string                        `xml:"instanceId"`
	ImageID             string                        `xml:"imageId"`
	InstanceState       xmlInstanceState              `xml:"instanceState"`
	InstanceType        string                        `xml:"instanceType"`
	PrivateIPAddress    string                        `xml:"privateIpAddress,omitempty"`
	VpcID               string                        `xml:"vpcId"`
	GroupSet            []xmlGroupIdentifier          `xml:"groupSet>item"`
	TagSet              []xmlTag                      `xml:"tagSet>item"`
	NetworkInterfaceSet []xmlInstanceNetworkInterface `xml:"networkInterfaceSet>item"`
}

type xmlReservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	InstancesSet  []xmlInstance `xml:"instancesSet>item"`
}

type returnResponse struct {
	XMLName   xml.Name
	Xmlns     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
	Return    bool   `xml:"return"`
}

type describeSecurityGroupsResponse struct {
	XMLName           xml.Name
	Xmlns             string             `xml:"xmlns,attr"`
	RequestID         string             `xml:"requestId"`
	SecurityGroupInfo []xmlSecurityGroup `xml:"securityGroupInfo>item"`
	NextToken         string             `xml:"nextToken,omitempty"`
}

type describeSecurityGroupRulesResponse struct {
	XMLName              xml.Name
	Xmlns                string    `xml:"xmlns,attr"`
	RequestID            string    `xml:"requestId"`
	SecurityGroupRuleSet []xmlRule `xml:"securityGroupRuleSet>item"`
	NextToken            string    `xml:"nextToken,omitempty"`
}

type createSecurityGroupResponse struct {
	XMLName   xml.Name
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"requestId"`
	GroupID   string   `xml:"groupId"`
	TagSet    []xmlTag `xml:"tagSet>item"`
}

type deleteSecurityGroupResponse struct {
	XMLName   xml.Name
	Xmlns     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
	Return    bool   `xml:"return"`
	GroupID   string `xml:"groupId"`
}

type authorizeResponse struct {
	XMLName              xml.Name
	Xmlns                string    `xml:"xmlns,attr"`
	RequestID            string    `xml:"requestId"`
	Return               bool      `xml:"return"`
	SecurityGroupRuleSet []xmlRule `xml:"securityGroupRuleSet>item"`
}

type updateRuleDescriptionsResponse struct {
	XMLName   xml.Name
	Xmlns     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
	Return    bool   `xml:"return"`
}

type revokeResponse struct {
	XMLName                     xml.Name
	Xmlns                       string           `xml:"xmlns,attr"`
	RequestID                   string           `xml:"requestId"`
	Return                      bool             `xml:"return"`
	RevokedSecurityGroupRuleSet []xmlRevokedRule `xml:"revokedSecurityGroupRuleSet>item"`
}

type describeNetworkInterfacesResponse struct {
	XMLName             xml.Name
	Xmlns               string                `xml:"xmlns,attr"`
	RequestID           string                `xml:"requestId"`
	NetworkInterfaceSet []xmlNetworkInterface `xml:"networkInterfaceSet>item"`
	NextToken           string                `xml:"nextToken,omitempty"`
}

type describeInstancesResponse struct {
	XMLName        xml.Name
	Xmlns          string           `xml:"xmlns,attr"`
	RequestID      string           `xml:"requestId"`
	ReservationSet []xmlReservation `xml:"reservationSet>item"`
	NextToken      string           `xml:"nextToken,omitempty"`
}
