package gceemu

import (
	"sort"
)

// Typed views and seeding for tests. Views are copies.

// Firewall is a VPC firewall rule as the emulator stores it: after GCP's
// defaults, with the network's full URL.
type Firewall struct {
	Name, Network, Direction, Description string
	Priority                              int
	// Allowed and Denied: exactly one is non-empty.
	Allowed, Denied                              []Rule
	SourceRanges, DestinationRanges              []string
	SourceTags, TargetTags                       []string
	SourceServiceAccounts, TargetServiceAccounts []string
	Disabled, LogEnabled                         bool
	ID                                           uint64
	SelfLink                                     string
}

// Rule is one allowed or denied entry: a protocol (lower case, or a number)
// and its ports ("22", "8000-8080"); no ports means all.
type Rule struct {
	Protocol string
	Ports    []string
}

func firewallView(f *firewallJSON) Firewall {
	c := f.clone()
	rules := func(rs []ruleJSON) []Rule {
		var out []Rule
		for _, r := range rs {
			out = append(out, Rule{Protocol: r.IPProtocol, Ports: r.Ports})
		}
		return out
	}
	return Firewall{
		Name: c.Name, Network: c.Network, Direction: c.Direction, Description: c.Description, Priority: int(*c.Priority),
		Allowed: rules(c.Allowed), Denied: rules(c.Denied), SourceRanges: c.SourceRanges, DestinationRanges: c.DestinationRanges,
		SourceTags: c.SourceTags, TargetTags: c.TargetTags,
		SourceServiceAccounts: c.SourceServiceAccounts, TargetServiceAccounts: c.TargetServiceAccounts,
		Disabled: *c.Disabled, LogEnabled: c.LogConfig.Enable, ID: c.ID, SelfLink: c.SelfLink,
	}
}

// Firewalls returns every firewall rule, by name.
func (e *Emulator) Firewalls() []Firewall {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.firewalls))
	for n := range e.firewalls {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Firewall, 0, len(names))
	for _, n := range names {
		out = append(out, firewallView(e.firewalls[n]))
	}
	return out
}

// Firewall returns one firewall rule; ok is false when it does not exist.
func (e *Emulator) Firewall(name string) (f Firewall, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if fw := e.firewalls[name]; fw != nil {
		return firewallView(fw), true
	}
	return Firewall{}, false
}

// AddFirewall inserts a rule as the API would (same validation, defaults and
// quota, whose breach is an error here), without a call: for rules a test needs to exist beforehand, such as
// another tool's. Network may be a name, a partial or a full URL, or empty
// for "default"; Priority zero means the default 1000 (seed priority 0
// through the API).
func (e *Emulator) AddFirewall(f Firewall) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	j := &firewallJSON{Name: f.Name, Description: f.Description, Network: f.Network, Direction: f.Direction,
		SourceRanges: f.SourceRanges, DestinationRanges: f.DestinationRanges, SourceTags: f.SourceTags, TargetTags: f.TargetTags,
		SourceServiceAccounts: f.SourceServiceAccounts, TargetServiceAccounts: f.TargetServiceAccounts,
		Disabled: &f.Disabled, LogConfig: &logConfigJSON{Enable: f.LogEnabled}}
	if f.Network != "" && nameRE.MatchString(f.Network) {
		j.Network = "global/networks/" + f.Network
	}
	if f.Priority != 0 {
		p := int64(f.Priority)
		j.Priority = &p
	}
	for _, r := range f.Allowed {
		j.Allowed = append(j.Allowed, ruleJSON{IPProtocol: r.Protocol, Ports: r.Ports})
	}
	for _, r := range f.Denied {
		j.Denied = append(j.Denied, ruleJSON{IPProtocol: r.Protocol, Ports: r.Ports})
	}
	if aerr := e.checkNew(j); aerr != nil {
		return errorf("%s", aerr.message)
	}
	if len(e.firewalls) >= e.opts.FirewallQuota {
		return errorf("%s", errQuota(e.opts.FirewallQuota).message)
	}
	e.store(j.clone())
	return nil
}

func (e *Emulator) instance(zone, name string) (*instance, error) {
	if in := e.zones[zone][name]; in != nil {
		return in, nil
	}
	return nil, errorf("no instance %s/%s", zone, name)
}

// InstanceTags returns an instance's network tags, nil when it does not exist.
func (e *Emulator) InstanceTags(zone, name string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, err := e.instance(zone, name)
	if err != nil {
		return nil
	}
	return append([]string{}, in.tags...)
}

// SetInstanceTags changes an instance's tags as another writer would, moving
// its fingerprint, so that a client holding the old one meets 412.
func (e *Emulator) SetInstanceTags(zone, name string, tags []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, err := e.instance(zone, name)
	if err != nil {
		return err
	}
	if aerr := e.checkTags(tags); aerr != nil {
		return errorf("%s", aerr.message)
	}
	in.tags, in.fingerprint = append([]string(nil), tags...), e.fingerprint()
	return nil
}

// SetInstanceLabels replaces an instance's labels.
func (e *Emulator) SetInstanceLabels(zone, name string, labels map[string]string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, err := e.instance(zone, name)
	if err != nil {
		return err
	}
	in.labels, in.labelFP = copyMap(labels), emptyFingerprint
	if len(labels) > 0 {
		in.labelFP = e.fingerprint()
	}
	return nil
}

// FailNextSetTags makes the next setTags of an instance that passes the
// fingerprint check lose a race: the call answers an operation that ends
// DONE with error CONDITION_NOT_MET (httpErrorStatusCode 412), the tags stay
// as they were and the fingerprint moves, as when another writer got in
// between. apiv1's Operation.Wait returns that as an error.
func (e *Emulator) FailNextSetTags(zone, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.instance(zone, name); err != nil {
		return err
	}
	e.failTags[zone+"/"+name] = true
	return nil
}
