package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// pollOptions say how often a long-running operation is polled when Azure's answer
// has no Retry-After; azcore allows no less than a second.
var pollOptions = &runtime.PollUntilDoneOptions{Frequency: time.Second}

// etagRetries bounds the re-reads after a write refused for a stale etag.
const etagRetries = 5

// Apply writes the plan make-before-break: new ASGs first; then the NSG in one
// PUT holding every wanted rule and, beside them, the rules on their way out (at
// priorities the new ones avoid); then the NSG on its subnets and the members'
// ip configurations in their ASGs; then the NSG again with the wanted rules only;
// last, subnets detached and ASGs deleted. Every write is whole-resource and
// guarded by the etag it was read with; one refused as stale is re-read and
// retried only when what changed under it is microseg's own earlier write.
func (p *Provider) Apply(ctx context.Context, obs providers.Observation, want providers.Desired, plan *model.Plan) error {
	o, err := observedState(obs)
	if err != nil {
		return err
	}
	w, ok := want.State.(*desiredNSG)
	if !ok || w == nil {
		return errors.New("azure provider: the desired state was not made by the azure provider: plan again")
	}
	steps, err := p.sortChanges(plan)
	if err != nil {
		return err
	}
	run := &applyRun{Provider: p, o: o}
	if o.nsg != nil {
		run.etag = deref(o.nsg.Etag)
	}
	return run.apply(ctx, w, steps)
}

// steps is a plan sorted by what Apply does with each change.
type steps struct {
	createASGs, deleteASGs []string
	rulesChange            bool
	leaving                []*ruleSpec // rules to remove, kept during the swap
	attach, detach         []subnet
	nics                   map[string]map[string]map[string]bool // NIC -> ip configuration -> ASG ID -> wanted
	touched                map[string]bool                       // segments whose rules change
}

func (p *Provider) sortChanges(plan *model.Plan) (*steps, error) {
	s := &steps{nics: map[string]map[string]map[string]bool{}, touched: map[string]bool{}}
	for _, c := range plan.Changes {
		switch content := changeContent(c).(type) {
		case *asgSpec:
			if c.Action == model.ActionAdd {
				s.createASGs = append(s.createASGs, content.segment)
			} else if c.Action == model.ActionRemove {
				s.deleteASGs = append(s.deleteASGs, content.segment)
			}
		case *ruleSpec:
			s.rulesChange = true
			s.touched[content.segmentOf()] = true
			if c.Action == model.ActionRemove {
				s.leaving = append(s.leaving, content)
			}
		case *subnetSpec:
			if c.Action == model.ActionRemove {
				s.detach = append(s.detach, content.subnet)
			} else {
				s.attach = append(s.attach, content.subnet)
			}
		case *memberSpec:
			id := content.foreignID
			if id == "" {
				id = p.asgID(content.segment)
			}
			if s.nics[content.nic] == nil {
				s.nics[content.nic] = map[string]map[string]bool{}
			}
			if s.nics[content.nic][content.ipConfig] == nil {
				s.nics[content.nic][content.ipConfig] = map[string]bool{}
			}
			s.nics[content.nic][content.ipConfig][id] = c.Action != model.ActionRemove
		default:
			return nil, fmt.Errorf("the plan's change %s %s %s was not made by the azure provider: plan again", c.Action.Symbol(), c.Kind, c.Key)
		}
	}
	delete(s.touched, "")
	return s, nil
}

// changeContent is a change's desired Content, or the observed one for a remove.
func changeContent(c model.Change) any {
	if c.Action == model.ActionRemove {
		return c.BeforeContent
	}
	return c.AfterContent
}

// applyRun is one Apply: the provider, what it observed, and the etag of the NSG
// as microseg last read or wrote it.
type applyRun struct {
	*Provider
	o    *observed
	etag string
}

func (r *applyRun) apply(ctx context.Context, w *desiredNSG, s *steps) error {
	for _, seg := range s.createASGs {
		if err := r.putASG(ctx, seg); err != nil {
			return err
		}
	}
	swap := r.swapRules(w.rules, s.leaving)
	if s.rulesChange || r.o.nsg == nil {
		if err := r.putNSG(ctx, swap); err != nil {
			return err
		}
	}
	for _, sub := range s.attach {
		if err := r.setSubnetNSG(ctx, sub, true); err != nil {
			return err
		}
	}
	for _, name := range model.SortedKeys(s.nics) {
		if err := r.setNICGroups(ctx, name, s.nics[name]); err != nil {
			return err
		}
	}
	if len(swap) != len(w.rules) {
		if err := r.putNSG(ctx, w.rules); err != nil {
			return err
		}
	}
	for _, sub := range s.detach {
		if err := r.setSubnetNSG(ctx, sub, false); err != nil {
			return err
		}
	}
	for _, seg := range s.deleteASGs {
		delete(s.touched, seg)
		if err := r.deleteASG(ctx, seg); err != nil {
			return err
		}
	}
	for _, seg := range model.SortedKeys(s.touched) {
		if slices.Contains(s.createASGs, seg) {
			continue // created with this policy's tag
		}
		if _, ok := r.o.asgs[seg]; ok {
			if err := r.putASG(ctx, seg); err != nil {
				return err
			}
		}
	}
	return nil
}

// swapRules is the wanted rules and, beside them, the leaving ones whose priority
// and name no wanted rule of their direction takes.
func (r *applyRun) swapRules(want, leaving []*ruleSpec) []*ruleSpec {
	type slot struct {
		inbound bool
		p       int32
	}
	taken, names := map[slot]bool{}, map[string]bool{}
	for _, w := range want {
		taken[slot{w.inbound, w.priority}] = true
		names[strings.ToLower(w.name)] = true
	}
	out := slices.Clone(want)
	for _, l := range leaving {
		if l.priority < allowFirst || l.priority > catchAll || taken[slot{l.inbound, l.priority}] || names[strings.ToLower(l.name)] {
			continue
		}
		taken[slot{l.inbound, l.priority}] = true
		names[strings.ToLower(l.name)] = true
		out = append(out, l)
	}
	sortSpecs(out)
	return out
}

// putASG creates or updates a segment's ASG with microseg's tags.
func (r *applyRun) putASG(ctx context.Context, seg string) error {
	asg := armnetwork.ApplicationSecurityGroup{Location: to.Ptr(r.cfg.Location), Tags: map[string]*string{
		TagManaged: to.Ptr(managedTrue), TagSegment: to.Ptr(seg), TagPolicy: to.Ptr(r.policy), TagTarget: to.Ptr(r.target.Name),
	}}
	poller, err := r.c.ASGs.BeginCreateOrUpdate(ctx, r.cfg.ResourceGroup, namePrefix+seg, asg, nil)
	if err == nil {
		_, err = poller.PollUntilDone(ctx, pollOptions)
	}
	if err != nil {
		return fmt.Errorf("create application security group %s%s in %s: %w", namePrefix, seg, r.cfg.ResourceGroup, err)
	}
	return nil
}

// deleteASG deletes a segment's ASG; one already gone is success.
func (r *applyRun) deleteASG(ctx context.Context, seg string) error {
	poller, err := r.c.ASGs.BeginDelete(ctx, r.cfg.ResourceGroup, namePrefix+seg, nil)
	if err == nil {
		_, err = poller.PollUntilDone(ctx, pollOptions)
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete application security group %s%s in %s: %w", namePrefix, seg, r.cfg.ResourceGroup, err)
	}
	return nil
}

// putNSG writes the target's NSG with exactly rules, in one long-running PUT,
// guarded by the etag microseg read it with (or, for a new one, by its absence).
func (r *applyRun) putNSG(ctx context.Context, rules []*ruleSpec) error {
	body := armnetwork.SecurityGroup{Location: to.Ptr(r.cfg.Location), Tags: map[string]*string{
		TagManaged: to.Ptr(managedTrue), TagPolicy: to.Ptr(r.policy), TagTarget: to.Ptr(r.target.Name),
	}, Properties: &armnetwork.SecurityGroupPropertiesFormat{SecurityRules: make([]*armnetwork.SecurityRule, 0, len(rules))}}
	if r.o.nsg != nil && r.o.nsg.Location != nil {
		body.Location = r.o.nsg.Location
	}
	for _, rule := range rules {
		body.Properties.SecurityRules = append(body.Properties.SecurityRules, securityRule(rule, r.asgID))
	}
	for try := 0; ; try++ {
		header := http.Header{"If-Match": {r.etag}}
		if r.etag == "" {
			header = http.Header{"If-None-Match": {"*"}}
		}
		poller, err := r.c.NSGs.BeginCreateOrUpdate(policy.WithHTTPHeader(ctx, header), r.cfg.ResourceGroup, r.nsgName(), body, nil)
		var resp armnetwork.SecurityGroupsClientCreateOrUpdateResponse
		if err == nil {
			resp, err = poller.PollUntilDone(ctx, pollOptions)
		}
		if err == nil {
			r.etag = deref(resp.Etag)
			return nil
		}
		if !isPreconditionFailed(err) || try == etagRetries {
			return fmt.Errorf("write network security group %s in %s (%d rules): %w", r.nsgName(), r.cfg.ResourceGroup, len(rules), err)
		}
		if err := r.rereadNSG(ctx, rules); err != nil {
			return err
		}
	}
}

// rereadNSG takes the etag of the NSG as it is now, after a write refused as stale:
// allowed only when its rules are what microseg observed, wrote, or is writing (the
// etag moved for another reason: a subnet attached, an earlier try of this write
// that succeeded unseen). Anything else is a change made by someone else since the
// plan, which must be planned again.
func (r *applyRun) rereadNSG(ctx context.Context, writing []*ruleSpec) error {
	resp, err := r.c.NSGs.Get(ctx, r.cfg.ResourceGroup, r.nsgName(), nil)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("get network security group %s in %s: %w", r.nsgName(), r.cfg.ResourceGroup, err)
	}
	if err != nil {
		r.etag = ""
		return nil
	}
	if deref(resp.Tags[TagManaged]) != managedTrue {
		return fmt.Errorf("network security group %s in %s was created by someone else since the plan, without the tag %s=true: microseg leaves it alone", r.nsgName(), r.cfg.ResourceGroup, TagManaged)
	}
	segmentOf := r.segmentOfAny()
	var now []*ruleSpec
	if resp.Properties != nil {
		for _, sr := range resp.Properties.SecurityRules {
			now = append(now, specsFromRule(sr, segmentOf)...)
		}
	}
	sig := signature(now)
	if sig != signature(writing) && sig != signature(r.o.live) {
		return fmt.Errorf("network security group %s in %s: its rules were changed by someone else since the plan: plan again", r.nsgName(), r.cfg.ResourceGroup)
	}
	r.etag = deref(resp.Etag)
	return nil
}

// segmentOfAny maps the lower-cased ID of any segment's ASG, observed or not, to it.
func (r *applyRun) segmentOfAny() func(string) string {
	prefix := strings.ToLower(r.asgID(""))
	return func(id string) string {
		if strings.HasPrefix(id, prefix) {
			return id[len(prefix):]
		}
		return ""
	}
}

// signature is a rule set in a comparable form: its rules' names, keys and priorities.
func signature(rules []*ruleSpec) string {
	lines := make([]string, 0, len(rules))
	for _, r := range rules {
		lines = append(lines, fmt.Sprintf("%s|%s|%d|%s", strings.ToLower(r.name), r.key(), r.priority, r.description))
	}
	slices.Sort(lines)
	return strings.Join(slices.Compact(lines), "\n")
}

func isPreconditionFailed(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusPreconditionFailed
}

// setSubnetNSG puts the target's NSG on a subnet (or takes it off), writing the
// subnet whole as read, every other property kept.
func (r *applyRun) setSubnetNSG(ctx context.Context, s subnet, on bool) error {
	for try := 0; ; try++ {
		got, err := r.c.Subnets.Get(ctx, s.rg, s.vnet, s.name, nil)
		if err != nil {
			return fmt.Errorf("get subnet %s: %w", s.id, err)
		}
		sub := got.Subnet
		if sub.Properties == nil {
			sub.Properties = &armnetwork.SubnetPropertiesFormat{}
		}
		cur := ""
		if sub.Properties.NetworkSecurityGroup != nil {
			cur = deref(sub.Properties.NetworkSecurityGroup.ID)
		}
		switch {
		case on && r.isOurNSG(cur), !on && cur == "":
			return nil
		case cur != "" && !r.isOurNSG(cur):
			return fmt.Errorf("subnet %s carries network security group %s, which microseg does not manage: it is left as it is", s.id, cur)
		case on:
			sub.Properties.NetworkSecurityGroup = &armnetwork.SecurityGroup{ID: to.Ptr(r.nsgID())}
		default:
			sub.Properties.NetworkSecurityGroup = nil
		}
		ctx := policy.WithHTTPHeader(ctx, http.Header{"If-Match": {deref(sub.Etag)}})
		poller, err := r.c.Subnets.BeginCreateOrUpdate(ctx, s.rg, s.vnet, s.name, sub, nil)
		if err == nil {
			_, err = poller.PollUntilDone(ctx, pollOptions)
		}
		if err == nil {
			return nil
		}
		if !isPreconditionFailed(err) || try == etagRetries {
			return fmt.Errorf("write subnet %s: %w", s.id, err)
		}
	}
}

// nsgID is the ARM ID of the target's NSG.
func (p *Provider) nsgID() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkSecurityGroups/%s",
		p.cfg.SubscriptionID, p.cfg.ResourceGroup, p.nsgName())
}

// setNICGroups changes the ASGs of one NIC's ip configurations in one PUT of the
// whole NIC as read (every other ip configuration and property kept). A PUT refused
// for a stale etag reads the NIC again and makes the same changes on it.
func (r *applyRun) setNICGroups(ctx context.Context, name string, changes map[string]map[string]bool) error {
	var in *armnetwork.Interface
	for _, n := range r.o.nics {
		if n.name == name {
			in = n.raw
		}
	}
	for try := 0; ; try++ {
		if in == nil || try > 0 {
			got, err := r.c.NICs.Get(ctx, r.cfg.ResourceGroup, name, nil)
			if err != nil {
				return fmt.Errorf("get network interface %s in %s: %w", name, r.cfg.ResourceGroup, err)
			}
			in = &got.Interface
		}
		next, changed := withGroups(in, changes)
		if !changed {
			return nil
		}
		ctx := policy.WithHTTPHeader(ctx, http.Header{"If-Match": {deref(in.Etag)}})
		poller, err := r.c.NICs.BeginCreateOrUpdate(ctx, r.cfg.ResourceGroup, name, *next, nil)
		if err == nil {
			_, err = poller.PollUntilDone(ctx, pollOptions)
		}
		if err == nil {
			return nil
		}
		if !isPreconditionFailed(err) || try == etagRetries {
			return fmt.Errorf("write network interface %s in %s: %w", name, r.cfg.ResourceGroup, err)
		}
	}
}

// withGroups is a copy of in whose ip configurations carry the wanted ASGs and not
// the unwanted ones, and whether that differs from in. IDs compare without case.
func withGroups(in *armnetwork.Interface, changes map[string]map[string]bool) (*armnetwork.Interface, bool) {
	out := *in
	props := *in.Properties
	out.Properties = &props
	props.IPConfigurations = make([]*armnetwork.InterfaceIPConfiguration, len(in.Properties.IPConfigurations))
	changed := false
	for i, ipc := range in.Properties.IPConfigurations {
		props.IPConfigurations[i] = ipc
		want := changes[deref(ipc.Name)]
		if ipc == nil || ipc.Properties == nil || len(want) == 0 {
			continue
		}
		c := *ipc
		cp := *ipc.Properties
		c.Properties = &cp
		cp.ApplicationSecurityGroups = nil
		has := map[string]bool{}
		for _, g := range ipc.Properties.ApplicationSecurityGroups {
			id := strings.ToLower(deref(g.ID))
			if wanted, ok := wantedFold(want, id); ok && !wanted {
				changed = true
				continue
			}
			has[id] = true
			cp.ApplicationSecurityGroups = append(cp.ApplicationSecurityGroups, &armnetwork.ApplicationSecurityGroup{ID: g.ID})
		}
		for _, id := range model.SortedKeys(want) {
			if want[id] && !has[strings.ToLower(id)] {
				cp.ApplicationSecurityGroups = append(cp.ApplicationSecurityGroups, &armnetwork.ApplicationSecurityGroup{ID: to.Ptr(id)})
				changed = true
			}
		}
		props.IPConfigurations[i] = &c
	}
	return &out, changed
}

// wantedFold looks an ASG ID up in want without case.
func wantedFold(want map[string]bool, lowerID string) (wanted, ok bool) {
	for id, w := range want {
		if strings.ToLower(id) == lowerID {
			return w, true
		}
	}
	return false, false
}
