package gceemu

// The JSON of Compute Engine resources, with the names protojson gives the
// computepb messages (json_name: sourceRanges, IPProtocol, nextPageToken...).
// uint64 fields are strings, as protojson writes and GCP answers them. The
// same types read request bodies, where output-only fields are ignored.

type firewallJSON struct {
	Kind                  string         `json:"kind,omitempty"`
	ID                    uint64         `json:"id,omitempty,string"`
	CreationTimestamp     string         `json:"creationTimestamp,omitempty"`
	Name                  string         `json:"name,omitempty"`
	Description           string         `json:"description,omitempty"`
	Network               string         `json:"network,omitempty"`
	Priority              *int64         `json:"priority,omitempty"`
	SourceRanges          []string       `json:"sourceRanges,omitempty"`
	DestinationRanges     []string       `json:"destinationRanges,omitempty"`
	SourceTags            []string       `json:"sourceTags,omitempty"`
	TargetTags            []string       `json:"targetTags,omitempty"`
	SourceServiceAccounts []string       `json:"sourceServiceAccounts,omitempty"`
	TargetServiceAccounts []string       `json:"targetServiceAccounts,omitempty"`
	Allowed               []ruleJSON     `json:"allowed,omitempty"`
	Denied                []ruleJSON     `json:"denied,omitempty"`
	Direction             string         `json:"direction,omitempty"`
	LogConfig             *logConfigJSON `json:"logConfig,omitempty"`
	Disabled              *bool          `json:"disabled,omitempty"`
	SelfLink              string         `json:"selfLink,omitempty"`
}

type ruleJSON struct {
	IPProtocol string   `json:"IPProtocol"`
	Ports      []string `json:"ports,omitempty"`
}

type logConfigJSON struct {
	Enable   bool   `json:"enable"`
	Metadata string `json:"metadata,omitempty"`
}

// clone copies a rule deeply, so that a response never shares slices with
// the state.
func (f *firewallJSON) clone() *firewallJSON {
	c := *f
	cp := func(s []string) []string {
		if s == nil {
			return nil
		}
		return append([]string{}, s...)
	}
	rules := func(rs []ruleJSON) []ruleJSON {
		if rs == nil {
			return nil
		}
		out := make([]ruleJSON, len(rs))
		for i, r := range rs {
			out[i] = ruleJSON{IPProtocol: r.IPProtocol, Ports: cp(r.Ports)}
		}
		return out
	}
	c.SourceRanges, c.DestinationRanges = cp(f.SourceRanges), cp(f.DestinationRanges)
	c.SourceTags, c.TargetTags = cp(f.SourceTags), cp(f.TargetTags)
	c.SourceServiceAccounts, c.TargetServiceAccounts = cp(f.SourceServiceAccounts), cp(f.TargetServiceAccounts)
	c.Allowed, c.Denied = rules(f.Allowed), rules(f.Denied)
	if f.Priority != nil {
		p := *f.Priority
		c.Priority = &p
	}
	if f.LogConfig != nil {
		l := *f.LogConfig
		c.LogConfig = &l
	}
	if f.Disabled != nil {
		d := *f.Disabled
		c.Disabled = &d
	}
	return &c
}

type listJSON struct {
	Kind          string       `json:"kind"`
	ID            string       `json:"id"`
	Items         []any        `json:"items,omitempty"`
	NextPageToken string       `json:"nextPageToken,omitempty"`
	SelfLink      string       `json:"selfLink"`
	Warning       *warningJSON `json:"warning,omitempty"`
}

type aggregatedJSON struct {
	Kind          string                `json:"kind"`
	ID            string                `json:"id"`
	Items         map[string]scopedJSON `json:"items"`
	NextPageToken string                `json:"nextPageToken,omitempty"`
	SelfLink      string                `json:"selfLink"`
}

type scopedJSON struct {
	Instances []any        `json:"instances,omitempty"`
	Warning   *warningJSON `json:"warning,omitempty"`
}

type warningJSON struct {
	Code    string     `json:"code"`
	Message string     `json:"message"`
	Data    []dataJSON `json:"data,omitempty"`
}

type dataJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type networkJSON struct {
	Kind                  string   `json:"kind"`
	ID                    uint64   `json:"id,string"`
	CreationTimestamp     string   `json:"creationTimestamp"`
	Name                  string   `json:"name"`
	SelfLink              string   `json:"selfLink"`
	SelfLinkWithID        string   `json:"selfLinkWithId"`
	AutoCreateSubnetworks bool     `json:"autoCreateSubnetworks"`
	Subnetworks           []string `json:"subnetworks,omitempty"`
	RoutingConfig         struct {
		RoutingMode string `json:"routingMode"`
	} `json:"routingConfig"`
	NetworkFirewallPolicyEnforcementOrder string `json:"networkFirewallPolicyEnforcementOrder"`
}

type quotaJSON struct {
	Metric string  `json:"metric"`
	Limit  float64 `json:"limit"`
	Usage  float64 `json:"usage"`
}

type projectJSON struct {
	Kind                  string      `json:"kind"`
	ID                    uint64      `json:"id,string"`
	CreationTimestamp     string      `json:"creationTimestamp"`
	Name                  string      `json:"name"`
	Quotas                []quotaJSON `json:"quotas"`
	SelfLink              string      `json:"selfLink"`
	DefaultServiceAccount string      `json:"defaultServiceAccount"`
	XpnProjectStatus      string      `json:"xpnProjectStatus"`
	DefaultNetworkTier    string      `json:"defaultNetworkTier"`
}

type tagsJSON struct {
	Items       []string `json:"items,omitempty"`
	Fingerprint string   `json:"fingerprint,omitempty"`
}

type nicJSON struct {
	Kind        string `json:"kind"`
	Name        string `json:"name"`
	Network     string `json:"network"`
	Subnetwork  string `json:"subnetwork"`
	NetworkIP   string `json:"networkIP"`
	IPv6Address string `json:"ipv6Address,omitempty"`
	StackType   string `json:"stackType"`
	Fingerprint string `json:"fingerprint"`
}

type serviceAccountJSON struct {
	Email  string   `json:"email"`
	Scopes []string `json:"scopes"`
}

type instanceJSON struct {
	Kind              string               `json:"kind"`
	ID                uint64               `json:"id,string"`
	CreationTimestamp string               `json:"creationTimestamp"`
	Name              string               `json:"name"`
	Tags              tagsJSON             `json:"tags"`
	MachineType       string               `json:"machineType"`
	Status            string               `json:"status"`
	Zone              string               `json:"zone"`
	NetworkInterfaces []nicJSON            `json:"networkInterfaces"`
	ServiceAccounts   []serviceAccountJSON `json:"serviceAccounts,omitempty"`
	Labels            map[string]string    `json:"labels,omitempty"`
	LabelFingerprint  string               `json:"labelFingerprint"`
	Fingerprint       string               `json:"fingerprint"`
	SelfLink          string               `json:"selfLink"`
}

type operationErrorJSON struct {
	Errors []operationErrorItem `json:"errors"`
}

type operationErrorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type operationJSON struct {
	Kind                string              `json:"kind"`
	ID                  uint64              `json:"id,string"`
	Name                string              `json:"name"`
	Zone                string              `json:"zone,omitempty"`
	OperationType       string              `json:"operationType"`
	TargetLink          string              `json:"targetLink"`
	TargetID            uint64              `json:"targetId,string"`
	Status              string              `json:"status"`
	User                string              `json:"user"`
	Progress            int                 `json:"progress"`
	InsertTime          string              `json:"insertTime"`
	StartTime           string              `json:"startTime"`
	EndTime             string              `json:"endTime,omitempty"`
	Error               *operationErrorJSON `json:"error,omitempty"`
	HTTPErrorStatusCode int                 `json:"httpErrorStatusCode,omitempty"`
	HTTPErrorMessage    string              `json:"httpErrorMessage,omitempty"`
	SelfLink            string              `json:"selfLink"`
}
