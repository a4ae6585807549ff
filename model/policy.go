package model

import (
	"net/netip"
	"sort"
	"time"
)

// Pos is where an object was declared, for findings that point back at the source.
// The zero Pos means "not from a file" (a policy built in code).
type Pos struct {
	File   string
	Line   int
	Column int
}

// Policy is one segmentation model: everything declared in a policy directory.
// Names are unique per kind; target names are unique across kinds so that a
// target can be named on the command line by its name alone.
type Policy struct {
	Targets  map[string]*Target
	Networks map[string]*Network
	Services map[string]*Service
	Segments map[string]*Segment
	Allows   map[string]*Allow
}

// NewPolicy returns an empty policy ready to be filled.
func NewPolicy() *Policy {
	return &Policy{
		Targets:  map[string]*Target{},
		Networks: map[string]*Network{},
		Services: map[string]*Service{},
		Segments: map[string]*Segment{},
		Allows:   map[string]*Allow{},
	}
}

// SortedKeys returns the keys of m in ascending order; iteration over the policy
// always goes through it so that output is deterministic.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TargetKind is the kind of enforcement point a target is.
type TargetKind string

// The target kinds microseg enforces on.
const (
	KindAWS   TargetKind = "aws"
	KindAzure TargetKind = "azure"
	KindGCP   TargetKind = "gcp"
	KindHosts TargetKind = "hosts"
)

// TargetKinds lists every kind, in the order documentation shows them.
var TargetKinds = []TargetKind{KindAWS, KindAzure, KindGCP, KindHosts}

// Target is one enforcement point: a VPC, a resource group's NSG, a GCP network or
// a set of Linux hosts. Exactly one of the kind-specific fields is set.
type Target struct {
	Kind     TargetKind
	Name     string
	AWS      *AWSTarget
	Azure    *AzureTarget
	GCP      *GCPTarget
	Hosts    *HostsTarget
	FlowLogs *FlowLogs
	Pos      Pos
}

// AWSTarget is the configuration of an AWS VPC target.
type AWSTarget struct {
	Region              string
	VPCID               string
	Endpoint            string // optional: a LocalStack-compatible or test endpoint
	AssumeRoleARN       string
	ExclusiveMembership bool // remove foreign security groups from member ENIs on apply
	RulesPerGroup       int  // quota override; 0 means AWS's default (60)
	GroupsPerENI        int  // quota override; 0 means AWS's default (5)
}

// AzureTarget is the configuration of an Azure target (one NSG per target).
type AzureTarget struct {
	SubscriptionID string
	ResourceGroup  string
	Location       string
	SubnetIDs      []string
	Endpoint       string // optional: the ARM endpoint of a sovereign cloud, Azure Stack or an emulator
	// ExclusiveMembership takes ASGs microseg does not manage off members' ip
	// configurations on apply.
	ExclusiveMembership bool
}

// GCPTarget is the configuration of a GCP VPC network target.
type GCPTarget struct {
	Project  string
	Network  string
	Endpoint string // optional: a Compute Engine API endpoint (a private one, an emulator)
	// Per-rule limits overrides; 0 means GCP's documented limit.
	RangesPerRule, TagsPerRule, PortsPerRule int
}

// HostsTarget is a set of Linux hosts enforced with nftables.
type HostsTarget struct {
	// ManagementCIDRs are always reachable on ManagementPorts (anti-lockout).
	ManagementCIDRs []netip.Prefix
	ManagementPorts []ServicePort
	Hosts           map[string]*Host
}

// Host is one Linux host of a hosts target.
type Host struct {
	Name      string
	Addresses []netip.Addr
	Pos       Pos
}

// FlowLogs says where a target's flow logs can be read.
type FlowLogs struct {
	S3URI          string // aws
	LogGroup       string // aws: CloudWatch Logs group
	StorageAccount string // azure
	Container      string // azure
	GCSURI         string // gcp
	NFLOGGroup     uint16 // hosts
}

// Network is a named set of addresses that is a peer only, never an enforcement point.
type Network struct {
	Name  string
	CIDRs []netip.Prefix
	Pos   Pos
}

// Service is a named set of protocol/port ranges.
type Service struct {
	Name  string
	Ports []ServicePort
	Pos   Pos
}

// Mode says whether a segment's policy is enforced or only audited.
type Mode uint8

// Segment modes. Enforce is the zero value: a segment that says nothing enforces.
const (
	ModeEnforce Mode = iota
	ModeAudit
)

func (m Mode) String() string {
	if m == ModeAudit {
		return "audit"
	}
	return "enforce"
}

// Segment is a group of workloads in one target that share a policy.
type Segment struct {
	Name    string
	Target  string // name of the target it lives in
	Members Members
	// CIDRs is how peers in other targets address this segment's members.
	CIDRs  []netip.Prefix
	Labels map[string]string
	Mode   Mode
	Pos    Pos
}

// Members selects which workloads belong to a segment.
type Members struct {
	Tags   map[string]string // cloud resource tags (AWS, Azure)
	Labels map[string]string // cloud labels (GCP)
	Hosts  []string          // host names of a hosts target
}

// Empty reports whether the selector selects nothing.
func (m Members) Empty() bool {
	return len(m.Tags) == 0 && len(m.Labels) == 0 && len(m.Hosts) == 0
}

// PeerKind says what an allow's endpoint refers to.
type PeerKind uint8

// Peer kinds.
const (
	PeerSegment PeerKind = iota
	PeerNetwork
)

// PeerRef names a segment or a network as one end of an allow.
type PeerRef struct {
	Kind PeerKind
	Name string
}

func (p PeerRef) String() string {
	if p.Kind == PeerNetwork {
		return "network." + p.Name
	}
	return "segment." + p.Name
}

// Allow permits flows from every peer in From to every peer in To on Services.
type Allow struct {
	Name        string
	From        []PeerRef
	To          []PeerRef
	Services    []string
	Owner       string
	Ticket      string
	Expires     time.Time // zero: never
	Description string
	Pos         Pos
}
