package gcp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// Limits are the per-rule limits of VPC firewall rules a plan is checked and split
// against, and the tags an instance may carry. GCP documents them on its VPC quotas
// and limits page; a target may lower or raise them (firewall_limits).
type Limits struct {
	RangesPerRule int // source or destination ranges per rule: 5000
	TagsPerRule   int // source tags per rule: 30
	PortsPerRule  int // port entries across one rule's protocols
	TagsPerVM     int // network tags per instance: 64
}

// DefaultLimits are GCP's.
var DefaultLimits = Limits{RangesPerRule: 5000, TagsPerRule: 30, PortsPerRule: 5000, TagsPerVM: 64}

// Clients are the Compute Engine REST clients the provider calls, built by the
// caller with its credentials and endpoint.
type Clients struct {
	Firewalls *compute.FirewallsClient
	Instances *compute.InstancesClient
	Projects  *compute.ProjectsClient
}

// Provider is one GCP target: the VPC firewall rules of one network whose names
// start ms-<target>- and whose descriptions carry microseg's mark, and the network
// tags microseg-<segment> on the network's instances. It keeps nothing between
// calls: what Desired and Apply need travels in the Observation.
type Provider struct {
	c       *Clients
	target  *model.Target
	cfg     *model.GCPTarget
	policy  string
	limits  Limits
	backoff time.Duration // first pause of a retried call
}

var _ providers.Provider = (*Provider)(nil)

// New returns the provider of target t, which must be a gcp target. backoff is the
// first pause before a call GCP throttled is tried again (doubling, 8 tries).
func New(c *Clients, t *model.Target, policy string, l Limits, backoff time.Duration) (*Provider, error) {
	if t == nil || t.Kind != model.KindGCP || t.GCP == nil {
		return nil, errors.New("gcp provider: not a gcp target")
	}
	return &Provider{c: c, target: t, cfg: t.GCP, policy: policy, limits: l, backoff: backoff}, nil
}

// namePrefix starts the name of every firewall rule of the target.
func (p *Provider) namePrefix() string { return ruleName(p.target.Name, "") + "-" }

// networkPath is the target's network as the API takes it.
func (p *Provider) networkPath() string {
	return "projects/" + p.cfg.Project + "/global/networks/" + p.cfg.Network
}

// onNetwork reports whether a network URL or path is the target's.
func (p *Provider) onNetwork(url string) bool {
	return strings.HasSuffix(url, "/global/networks/"+p.cfg.Network) && strings.Contains(url, "projects/"+p.cfg.Project+"/")
}

// observed is the provider's reading of the target, Observation.State.
type observed struct {
	rules     map[string]*fwSpec // microseg's rules, by name
	foreign   map[string]bool    // names of other rules that start with its prefix
	findings  []model.Finding    // other rules that widen what members may do
	instances []instance         // the network's instances
	quota     firewallQuota
}

type firewallQuota struct {
	known        bool
	limit, usage int
}

// instance is one instance with an interface in the target's network.
type instance struct {
	name, zone  string
	labels      map[string]string
	tags        []string
	fingerprint string
	addresses   []netip.Addr
}

func (in instance) where() string { return in.zone + "/" + in.name }

func observedState(obs providers.Observation) (*observed, error) {
	o, ok := obs.State.(*observed)
	if !ok || o == nil {
		return nil, errors.New("gcp provider: the observation was not made by the gcp provider: observe again")
	}
	return o, nil
}

// Observe reads the target's firewall rules (one paged list, filtered to its
// names), the instances of its network (one paged aggregated list) and the
// project's firewall quota.
func (p *Provider) Observe(ctx context.Context) (providers.Observation, error) {
	o := &observed{rules: map[string]*fwSpec{}, foreign: map[string]bool{}}
	if err := p.observeRules(ctx, o); err != nil {
		return providers.Observation{}, err
	}
	if err := p.observeInstances(ctx, o); err != nil {
		return providers.Observation{}, err
	}
	if err := p.observeQuota(ctx, o); err != nil {
		return providers.Observation{}, err
	}
	obs := providers.Observation{State: o, Objects: ruleObjects(o.rules), Findings: o.findings}
	slices.SortFunc(obs.Findings, func(a, b model.Finding) int {
		return cmp.Or(strings.Compare(a.Subject, b.Subject), strings.Compare(a.Message, b.Message))
	})
	for _, in := range o.instances {
		for _, t := range in.tags {
			if seg, ok := strings.CutPrefix(t, tagPrefix); ok {
				obs.Objects = append(obs.Objects, model.Object{Kind: model.ObjectMembership, Key: seg + " " + in.where(),
					Content: &memberSpec{zone: in.zone, instance: in.name, segment: seg}})
			}
		}
	}
	return obs, nil
}

// observeRules lists the network's firewall rules: microseg's (by name and mark)
// are read; another rule that allows traffic to every instance or to a segment's
// tag ahead of microseg's denies is a finding, since it widens what members of
// enforce-mode segments may do and microseg never changes it.
func (p *Provider) observeRules(ctx context.Context, o *observed) error {
	filter := fmt.Sprintf(`network eq ".*/projects/%s/global/networks/%s"`, p.cfg.Project, p.cfg.Network)
	it := p.c.Firewalls.List(ctx, &computepb.ListFirewallsRequest{Project: p.cfg.Project, Filter: ptr(filter)}, p.callOptions()...)
	for {
		fw, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list firewall rules of network %s in project %s: %w", p.cfg.Network, p.cfg.Project, err)
		}
		if !p.onNetwork(fw.GetNetwork()) {
			continue
		}
		ours := strings.HasPrefix(fw.GetName(), p.namePrefix())
		if ours && strings.HasSuffix(fw.GetDescription(), markOf(p.target.Name)) {
			o.rules[fw.GetName()] = specFromFirewall(fw)
			continue
		}
		if ours {
			o.foreign[fw.GetName()] = true
		}
		if f := widening(fw); f != "" && !strings.Contains(fw.GetDescription(), markStart) { // not another target's
			o.findings = append(o.findings, model.Finding{Subject: "firewall rule " + fw.GetName(), Message: f})
		}
	}
}

// widening says how a rule microseg does not manage widens what segments' members
// may do, or "" when it does not: an enabled allow, ahead of the denies, aimed at
// every instance or at a segment's tag.
func widening(fw *computepb.Firewall) string {
	if fw.GetDisabled() || len(fw.GetAllowed()) == 0 || (fw.Priority != nil && fw.GetPriority() >= denyPriority) {
		return ""
	}
	var segments []string
	for _, t := range fw.GetTargetTags() {
		if seg, ok := strings.CutPrefix(t, tagPrefix); ok {
			segments = append(segments, seg)
		}
	}
	to := "members of " + strings.Join(segments, ", ")
	switch {
	case len(fw.GetTargetTags()) == 0 && len(fw.GetTargetServiceAccounts()) == 0:
		to = "every instance of the network"
	case len(segments) == 0:
		return ""
	}
	dir := "receive"
	if fw.GetDirection() == "EGRESS" {
		dir = "send"
	}
	prio := int32(1000)
	if fw.Priority != nil {
		prio = fw.GetPriority()
	}
	return fmt.Sprintf("allows traffic for %s at priority %d, ahead of microseg's deny rules (%d): members of enforce-mode segments may %s more than their allows (microseg does not change rules it does not manage)",
		to, prio, denyPriority, dir)
}

func (p *Provider) observeInstances(ctx context.Context, o *observed) error {
	it := p.c.Instances.AggregatedList(ctx, &computepb.AggregatedListInstancesRequest{Project: p.cfg.Project}, p.callOptions()...)
	for {
		pair, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return fmt.Errorf("list instances of project %s: %w", p.cfg.Project, err)
		}
		for _, vm := range pair.Value.GetInstances() {
			in := instance{name: vm.GetName(), zone: lastPart(vm.GetZone()), labels: vm.GetLabels(),
				tags: sortedCopy(vm.GetTags().GetItems()), fingerprint: vm.GetTags().GetFingerprint()}
			ours := false
			for _, nic := range vm.GetNetworkInterfaces() {
				if !p.onNetwork(nic.GetNetwork()) {
					continue
				}
				ours = true
				for _, a := range []string{nic.GetNetworkIP(), nic.GetIpv6Address()} {
					if addr, err := netip.ParseAddr(a); err == nil {
						in.addresses = append(in.addresses, addr)
					}
				}
			}
			if ours {
				o.instances = append(o.instances, in)
			}
		}
	}
	slices.SortFunc(o.instances, func(a, b instance) int { return cmp.Compare(a.where(), b.where()) })
	return nil
}

func (p *Provider) observeQuota(ctx context.Context, o *observed) error {
	if p.c.Projects == nil {
		return nil
	}
	proj, err := p.c.Projects.Get(ctx, &computepb.GetProjectRequest{Project: p.cfg.Project}, p.callOptions()...)
	if err != nil {
		return fmt.Errorf("get project %s: %w", p.cfg.Project, err)
	}
	for _, q := range proj.GetQuotas() {
		if q.GetMetric() == "FIREWALLS" {
			o.quota = firewallQuota{known: true, limit: int(q.GetLimit()), usage: int(q.GetUsage())}
		}
	}
	return nil
}

func lastPart(url string) string { return url[strings.LastIndex(url, "/")+1:] }

// ruleObjects are the canonical objects of a set of firewall rules: one per model
// rule they enforce, whose fields name the rules that hold it (a rule can be in two
// when two allows grant it), their descriptions and priority.
func ruleObjects(rules map[string]*fwSpec) []model.Object {
	type holders struct {
		names, descriptions []string
		priority            int32
		disabled            bool
		specs               []*fwSpec
	}
	byKey := map[string]*holders{}
	for _, name := range model.SortedKeys(rules) {
		f := rules[name]
		for _, k := range f.keys() {
			h := byKey[k]
			if h == nil {
				h = &holders{priority: f.priority}
				byKey[k] = h
			}
			h.names = append(h.names, f.name)
			h.descriptions = append(h.descriptions, f.description)
			h.specs = append(h.specs, f)
			h.disabled = h.disabled || f.disabled
		}
	}
	objs := make([]model.Object, 0, len(byKey))
	for _, k := range model.SortedKeys(byKey) {
		h := byKey[k]
		fields := []model.Field{
			{Name: "description", Value: strings.Join(slices.Compact(h.descriptions), " | ")},
			{Name: "firewall", Value: strings.Join(h.names, ",")},
			{Name: "priority", Value: fmt.Sprint(h.priority)},
		}
		if h.disabled { // a rule switched off by hand
			fields = append(fields, model.Field{Name: "state", Value: "disabled"})
		}
		objs = append(objs, model.Object{Kind: model.ObjectRule, Key: k, Content: &ruleHolders{specs: h.specs}, Fields: fields})
	}
	return objs
}

// The typed Content of the provider's objects.
type (
	// ruleHolders are the firewall rules that hold one model rule.
	ruleHolders struct{ specs []*fwSpec }
	// memberSpec is a segment's tag on an instance.
	memberSpec struct{ zone, instance, segment string }
)
