package azure

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// Tags that mark what microseg manages. Azure tag names may not hold ':'.
const (
	TagManaged  = "microseg-managed"
	TagSegment  = "microseg-segment"
	TagPolicy   = "microseg-policy"
	TagTarget   = "microseg-target"
	namePrefix  = "microseg-"
	managedTrue = "true"
)

// Limits are Azure's networking limits a plan is checked against before any call.
// Azure documents them as fixed (they cannot be raised by a support request), so
// they are not target settings; tests lower them.
type Limits struct {
	RulesPerNSG    int // security rules per NSG: 1000
	ASGsPerNSG     int // ASGs across all of one NSG's rules: 100
	ASGsPerIPConfg int // ASGs per NIC ip configuration: 20
	// AddressesPerSide is the address prefixes across one NSG's rules, sources
	// and destinations counted apart: 4000.
	AddressesPerSide int
}

// DefaultLimits are Azure's. (microseg's rules name one ASG or prefix per side,
// under Azure's 10 ASGs per rule side.)
var DefaultLimits = Limits{RulesPerNSG: 1000, ASGsPerNSG: 100, ASGsPerIPConfg: 20, AddressesPerSide: 4000}

// Clients are the ARM clients the provider calls, all for the target's
// subscription, built by the caller with its credential, cloud and retries.
type Clients struct {
	ASGs    *armnetwork.ApplicationSecurityGroupsClient
	NSGs    *armnetwork.SecurityGroupsClient
	NICs    *armnetwork.InterfacesClient
	Subnets *armnetwork.SubnetsClient
	// VMs lists the resource group's virtual machines, for their tags.
	VMs VMLister
}

// NewClients builds the network clients of one subscription.
func NewClients(subscription string, cred azcore.TokenCredential, opts *arm.ClientOptions, vms VMLister) (*Clients, error) {
	f, err := armnetwork.NewClientFactory(subscription, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("azure network clients: %w", err)
	}
	return &Clients{ASGs: f.NewApplicationSecurityGroupsClient(), NSGs: f.NewSecurityGroupsClient(),
		NICs: f.NewInterfacesClient(), Subnets: f.NewSubnetsClient(), VMs: vms}, nil
}

// VMLister reads the tags of a resource group's virtual machines by lower-cased
// VM ID (armcompute's VirtualMachinesClient, wrapped by the caller).
type VMLister interface {
	VMTags(ctx context.Context, resourceGroup string) (map[string]map[string]string, error)
}

// Provider is one Azure target: the NSG microseg-<target> on the target's subnets,
// one ASG per segment, and the membership of NIC ip configurations. It keeps
// nothing between calls: what Desired and Apply need travels in the Observation.
type Provider struct {
	c       *Clients
	target  *model.Target
	cfg     *model.AzureTarget
	policy  string
	limits  Limits
	exclude bool // exclusive_membership
}

var _ providers.Provider = (*Provider)(nil)

// New returns the provider of target t, which must be an azure target.
func New(c *Clients, t *model.Target, policy string, l Limits) (*Provider, error) {
	if t == nil || t.Kind != model.KindAzure || t.Azure == nil {
		return nil, errors.New("azure provider: not an azure target")
	}
	return &Provider{c: c, target: t, cfg: t.Azure, policy: policy, limits: l, exclude: t.Azure.ExclusiveMembership}, nil
}

// nsgName is the name of the target's NSG.
func (p *Provider) nsgName() string { return namePrefix + p.target.Name }

// asgID is the ARM ID of a segment's ASG, which is known before it exists.
func (p *Provider) asgID(segment string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/applicationSecurityGroups/%s%s",
		p.cfg.SubscriptionID, p.cfg.ResourceGroup, namePrefix, segment)
}

// observed is the provider's reading of the target, Observation.State.
type observed struct {
	asgs    map[string]string // segment -> ASG ID, of managed ASGs
	foreign map[string]string // lower-cased ID -> name, of ASGs microseg does not manage
	// nsg is the target's NSG as read (nil when it does not exist); notOurs is
	// set when an NSG of that name exists without the ownership tag.
	nsg     *armnetwork.SecurityGroup
	notOurs bool
	live    []*ruleSpec // the NSG's rules, one per key
	subnets []subnet
	nics    []nic
}

// subnet is one of the target's subnets as read.
type subnet struct {
	id, rg, vnet, name string
	nsgID              string // the NSG it carries, "" for none
}

// nic is one network interface of the resource group as read, with the tags it
// is selected by (its VM's, overlaid by its own).
type nic struct {
	raw  *armnetwork.Interface
	name string
	tags map[string]string
}

// observedState is obs's reading, or an error for one this provider did not make.
func observedState(obs providers.Observation) (*observed, error) {
	o, ok := obs.State.(*observed)
	if !ok || o == nil {
		return nil, errors.New("azure provider: the observation was not made by the azure provider: observe again")
	}
	return o, nil
}

// Observe reads the resource group's ASGs and NICs, the target's NSG with its
// rules inline, its subnets and the VMs' tags: a handful of calls (lists follow
// nextLink), however many rules there are.
func (p *Provider) Observe(ctx context.Context) (providers.Observation, error) {
	o := &observed{asgs: map[string]string{}, foreign: map[string]string{}}
	obs := providers.Observation{State: o}
	if err := p.observeASGs(ctx, o, &obs); err != nil {
		return providers.Observation{}, err
	}
	if err := p.observeNSG(ctx, o, &obs); err != nil {
		return providers.Observation{}, err
	}
	if err := p.observeSubnets(ctx, o, &obs); err != nil {
		return providers.Observation{}, err
	}
	if err := p.observeNICs(ctx, o, &obs); err != nil {
		return providers.Observation{}, err
	}
	slices.SortFunc(obs.Findings, func(a, b model.Finding) int {
		return cmp.Or(strings.Compare(a.Subject, b.Subject), strings.Compare(a.Message, b.Message))
	})
	return obs, nil
}

func (p *Provider) observeASGs(ctx context.Context, o *observed, obs *providers.Observation) error {
	pages := p.c.ASGs.NewListPager(p.cfg.ResourceGroup, nil)
	for pages.More() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list application security groups in %s: %w", p.cfg.ResourceGroup, err)
		}
		for _, g := range page.Value {
			if g == nil || g.ID == nil {
				continue
			}
			seg, ok := managedSegment(g.Tags)
			if !ok || !strings.EqualFold(deref(g.Name), namePrefix+seg) {
				o.foreign[strings.ToLower(*g.ID)] = deref(g.Name)
				continue
			}
			o.asgs[seg] = *g.ID
			obs.Objects = append(obs.Objects, model.Object{Kind: model.ObjectSegment, Key: seg, Content: &asgSpec{segment: seg}})
		}
	}
	return nil
}

// observeNSG reads the target's NSG; its rules become objects keyed as the policy
// keys them. A rule repeated under another name shows as a rule of its own, to remove.
func (p *Provider) observeNSG(ctx context.Context, o *observed, obs *providers.Observation) error {
	resp, err := p.c.NSGs.Get(ctx, p.cfg.ResourceGroup, p.nsgName(), nil)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get network security group %s in %s: %w", p.nsgName(), p.cfg.ResourceGroup, err)
	}
	nsg := resp.SecurityGroup
	if deref(nsg.Tags[TagManaged]) != managedTrue {
		o.notOurs = true
		return nil
	}
	o.nsg = &nsg
	segmentOf := o.segmentOfASG()
	seen := map[string]bool{}
	if nsg.Properties == nil {
		return nil
	}
	// Subnets the NSG is on that subnet_ids no longer lists: to detach.
	for _, s := range nsg.Properties.Subnets {
		ref, err := parseSubnetID(deref(s.ID))
		if err != nil || slices.ContainsFunc(p.cfg.SubnetIDs, func(id string) bool { return strings.EqualFold(id, ref.id) }) {
			continue
		}
		ref.nsgID = p.nsgID()
		obs.Objects = append(obs.Objects, model.Object{Kind: model.ObjectMembership, Key: subnetKey(ref), Content: &subnetSpec{subnet: ref}})
	}
	for _, sr := range nsg.Properties.SecurityRules {
		for _, s := range specsFromRule(sr, segmentOf) {
			key := s.key()
			if seen[key] {
				key += " (again, as rule " + s.name + ")"
			}
			seen[key] = true
			o.live = append(o.live, s)
			obs.Objects = append(obs.Objects, model.Object{Kind: model.ObjectRule, Key: key, Fields: s.fields(), Content: s})
		}
	}
	return nil
}

// segmentOfASG maps a lower-cased ASG ID to its segment, "" for others.
func (o *observed) segmentOfASG() func(string) string {
	bySegment := make(map[string]string, len(o.asgs))
	for seg, id := range o.asgs {
		bySegment[strings.ToLower(id)] = seg
	}
	return func(id string) string { return bySegment[id] }
}

// observeSubnets reads the target's subnets and which NSG each carries.
func (p *Provider) observeSubnets(ctx context.Context, o *observed, obs *providers.Observation) error {
	for _, id := range p.cfg.SubnetIDs {
		ref, err := parseSubnetID(id)
		if err != nil {
			return fmt.Errorf("target %s: %w", p.target.Name, err)
		}
		resp, err := p.c.Subnets.Get(ctx, ref.rg, ref.vnet, ref.name, nil)
		if err != nil {
			return fmt.Errorf("get subnet %s: %w", id, err)
		}
		if pr := resp.Properties; pr != nil && pr.NetworkSecurityGroup != nil {
			ref.nsgID = deref(pr.NetworkSecurityGroup.ID)
		}
		o.subnets = append(o.subnets, ref)
		if p.isOurNSG(ref.nsgID) {
			obs.Objects = append(obs.Objects, model.Object{Kind: model.ObjectMembership, Key: subnetKey(ref), Content: &subnetSpec{subnet: ref}})
		}
	}
	return nil
}

// isOurNSG reports whether an NSG ID is the target's NSG (ARM IDs compare without case).
func (p *Provider) isOurNSG(id string) bool {
	want := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkSecurityGroups/%s",
		p.cfg.SubscriptionID, p.cfg.ResourceGroup, p.nsgName())
	return id != "" && strings.EqualFold(id, want)
}

func subnetKey(s subnet) string { return "subnet " + s.vnet + "/" + s.name }

// parseSubnetID splits /subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/V/subnets/N.
func parseSubnetID(id string) (subnet, error) {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	if len(parts) != 10 || !strings.EqualFold(parts[0], "subscriptions") || !strings.EqualFold(parts[2], "resourceGroups") ||
		!strings.EqualFold(parts[5], "Microsoft.Network") || !strings.EqualFold(parts[6], "virtualNetworks") || !strings.EqualFold(parts[8], "subnets") {
		return subnet{}, fmt.Errorf("subnet ID %q is not /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/VNET/subnets/NAME", id)
	}
	return subnet{id: id, rg: parts[3], vnet: parts[7], name: parts[9]}, nil
}

// observeNICs reads the resource group's NICs with their VMs' tags; each ip
// configuration in a managed ASG is a membership, and another ASG on a member's ip
// configuration a change (exclusive_membership) or a finding (with obs nil, it
// only reads the NICs).
func (p *Provider) observeNICs(ctx context.Context, o *observed, obs *providers.Observation) error {
	var vmTags map[string]map[string]string
	if p.c.VMs != nil {
		var err error
		if vmTags, err = p.c.VMs.VMTags(ctx, p.cfg.ResourceGroup); err != nil {
			return fmt.Errorf("list virtual machines in %s: %w", p.cfg.ResourceGroup, err)
		}
	}
	segmentOf := o.segmentOfASG()
	pages := p.c.NICs.NewListPager(p.cfg.ResourceGroup, nil)
	for pages.More() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list network interfaces in %s: %w", p.cfg.ResourceGroup, err)
		}
		for _, n := range page.Value {
			if n == nil || n.Properties == nil {
				continue
			}
			in := nic{raw: n, name: deref(n.Name), tags: map[string]string{}}
			if vm := n.Properties.VirtualMachine; vm != nil && vm.ID != nil {
				for k, v := range vmTags[strings.ToLower(*vm.ID)] {
					in.tags[k] = v
				}
			}
			for k, v := range n.Tags {
				in.tags[k] = deref(v)
			}
			o.nics = append(o.nics, in)
			if obs != nil {
				p.observeIPConfigs(in, segmentOf, o, obs)
			}
		}
	}
	return nil
}

func (p *Provider) observeIPConfigs(in nic, segmentOf func(string) string, o *observed, obs *providers.Observation) {
	for _, ipc := range in.raw.Properties.IPConfigurations {
		if ipc == nil || ipc.Properties == nil {
			continue
		}
		where := in.name + "/" + deref(ipc.Name)
		var segments, others []string
		for _, g := range ipc.Properties.ApplicationSecurityGroups {
			id := strings.ToLower(deref(g.ID))
			if seg := segmentOf(id); seg != "" {
				segments = append(segments, seg)
				obs.Objects = append(obs.Objects, model.Object{Kind: model.ObjectMembership, Key: seg + " " + where,
					Content: &memberSpec{nic: in.name, ipConfig: deref(ipc.Name), segment: seg}})
			} else {
				others = append(others, deref(g.ID))
			}
		}
		if len(segments) == 0 {
			continue
		}
		for _, id := range others {
			if p.exclude {
				obs.Objects = append(obs.Objects, model.Object{Kind: model.ObjectMembership, Key: where + " foreign " + lastSegment(id),
					Content: &memberSpec{nic: in.name, ipConfig: deref(ipc.Name), foreignID: id}})
				continue
			}
			obs.Findings = append(obs.Findings, model.Finding{Subject: "nic " + where,
				Message: fmt.Sprintf("member of %s also is in application security group %s, which microseg does not manage: rules naming it may widen what the member may send and receive (exclusive_membership = true removes it)",
					strings.Join(segments, ", "), lastSegment(id))})
		}
	}
}

// lastSegment is the name at the end of an ARM ID.
func lastSegment(id string) string { return id[strings.LastIndex(id, "/")+1:] }

// managedSegment reads the ownership tags of an ASG.
func managedSegment(tags map[string]*string) (string, bool) {
	seg := deref(tags[TagSegment])
	return seg, deref(tags[TagManaged]) == managedTrue && seg != ""
}

// isNotFound reports an ARM 404.
func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// The typed Content of the provider's objects besides rules (ruleSpec).
type (
	// asgSpec is a segment's application security group.
	asgSpec struct{ segment string }
	// memberSpec is an ASG on a NIC's ip configuration: a segment's, or with
	// exclusive membership a foreign one (foreignID) to take off.
	memberSpec struct {
		nic, ipConfig, segment, foreignID string
	}
	// subnetSpec is the target's NSG on one of its subnets.
	subnetSpec struct{ subnet subnet }
)
