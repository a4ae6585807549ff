package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// parallelWrites bounds the firewall writes in flight at once: each is a global
// operation of its own, and GCP limits writes per project and minute.
const parallelWrites = 8

// tagRetries bounds the re-reads after a setTags refused for a stale fingerprint.
const tagRetries = 5

// Apply converges the target make-before-break: it inserts the rules that are
// missing and updates (whole) the ones that differ, waiting on each global
// operation; then sets the instances' tags, one setTags per instance with the
// fingerprint it read; then deletes the rules no longer wanted. An already-done
// step (a retry after a reply that was lost) is success.
func (p *Provider) Apply(ctx context.Context, obs providers.Observation, want providers.Desired, plan *model.Plan) error {
	o, err := observedState(obs)
	if err != nil {
		return err
	}
	w, ok := want.State.(*desiredRules)
	if !ok || w == nil {
		return errors.New("gcp provider: the desired state was not made by the gcp provider: plan again")
	}
	tags, err := tagChanges(plan)
	if err != nil {
		return err
	}
	var writes []func() error
	for _, name := range model.SortedKeys(w.rules) {
		f, have := w.rules[name], o.rules[name]
		switch {
		case have == nil:
			writes = append(writes, func() error { return p.insert(ctx, f) })
		case !have.equal(f):
			writes = append(writes, func() error { return p.update(ctx, f) })
		}
	}
	if err := parallel(writes); err != nil {
		return err
	}
	for _, where := range model.SortedKeys(tags) {
		if err := p.setTags(ctx, o, where, tags[where]); err != nil {
			return err
		}
	}
	var deletes []func() error
	for _, name := range model.SortedKeys(o.rules) {
		if w.rules[name] == nil {
			deletes = append(deletes, func() error { return p.delete(ctx, name) })
		}
	}
	return parallel(deletes)
}

// tagChanges reads the plan's membership changes: per instance (zone/name), the
// segment tags to add (true) or take off (false).
func tagChanges(plan *model.Plan) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	for _, c := range plan.Changes {
		if c.Kind != model.ObjectMembership {
			continue
		}
		content := c.AfterContent
		if c.Action == model.ActionRemove {
			content = c.BeforeContent
		}
		m, ok := content.(*memberSpec)
		if !ok || m == nil {
			return nil, fmt.Errorf("the plan's change %s %s %s was not made by the gcp provider: plan again", c.Action.Symbol(), c.Kind, c.Key)
		}
		where := m.zone + "/" + m.instance
		if out[where] == nil {
			out[where] = map[string]bool{}
		}
		out[where][tagPrefix+m.segment] = c.Action != model.ActionRemove
	}
	return out, nil
}

// parallel runs calls, parallelWrites at a time, and returns the first error.
func parallel(calls []func() error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, parallelWrites)
	for _, call := range calls {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := call(); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func (p *Provider) insert(ctx context.Context, f *fwSpec) error {
	op, err := p.c.Firewalls.Insert(ctx, &computepb.InsertFirewallRequest{Project: p.cfg.Project, FirewallResource: f.firewall(p.networkPath())}, p.callOptions()...)
	err = p.wait(ctx, op, err)
	if isStatus(err, http.StatusConflict) { // inserted by an earlier try: make it what is wanted
		return p.update(ctx, f)
	}
	if err != nil {
		return fmt.Errorf("insert firewall rule %s: %w", f.name, err)
	}
	return nil
}

// update replaces a rule whole (PUT): a PATCH could not empty a list.
func (p *Provider) update(ctx context.Context, f *fwSpec) error {
	op, err := p.c.Firewalls.Update(ctx, &computepb.UpdateFirewallRequest{Project: p.cfg.Project, Firewall: f.name, FirewallResource: f.firewall(p.networkPath())}, p.callOptions()...)
	err = p.wait(ctx, op, err)
	if isStatus(err, http.StatusNotFound) { // deleted since the plan
		return p.insert(ctx, f)
	}
	if err != nil {
		return fmt.Errorf("update firewall rule %s: %w", f.name, err)
	}
	return nil
}

func (p *Provider) delete(ctx context.Context, name string) error {
	op, err := p.c.Firewalls.Delete(ctx, &computepb.DeleteFirewallRequest{Project: p.cfg.Project, Firewall: name}, p.callOptions()...)
	if err = p.wait(ctx, op, err); err != nil && !isStatus(err, http.StatusNotFound) {
		return fmt.Errorf("delete firewall rule %s: %w", name, err)
	}
	return nil
}

// opError is an operation that finished with errors.
type opError struct{ code, message string }

func (e *opError) Error() string { return e.code + ": " + e.message }

// wait waits for an operation (already done, or polled through its global or
// zonal operations endpoint) and returns the error it finished with: an operation
// can be DONE and have failed.
func (p *Provider) wait(ctx context.Context, op *compute.Operation, err error) error {
	if err != nil {
		return err
	}
	if !op.Done() {
		if err := op.Wait(ctx, p.callOptions()...); err != nil {
			return err
		}
	}
	if errs := op.Proto().GetError().GetErrors(); len(errs) > 0 {
		return &opError{code: errs[0].GetCode(), message: errs[0].GetMessage()}
	}
	return nil
}

// setTags puts an instance's segment tags as changes say, keeping every other tag,
// with the fingerprint it was read with; one refused as stale (412, or an operation
// that failed on it) is read again and retried.
func (p *Provider) setTags(ctx context.Context, o *observed, where string, changes map[string]bool) error {
	zone, name, _ := strings.Cut(where, "/")
	var tags []string
	var fingerprint string
	for _, in := range o.instances {
		if in.zone == zone && in.name == name {
			tags, fingerprint = in.tags, in.fingerprint
		}
	}
	for try := 0; ; try++ {
		next := slices.DeleteFunc(slices.Clone(tags), func(t string) bool { return changes[t] == false && hasKey(changes, t) })
		for t, on := range changes {
			if on && !slices.Contains(next, t) {
				next = append(next, t)
			}
		}
		slices.Sort(next)
		if slices.Equal(next, tags) {
			return nil
		}
		op, err := p.c.Instances.SetTags(ctx, &computepb.SetTagsInstanceRequest{Project: p.cfg.Project, Zone: zone, Instance: name,
			TagsResource: &computepb.Tags{Items: next, Fingerprint: ptr(fingerprint)}}, p.callOptions()...)
		err = p.wait(ctx, op, err)
		if err == nil {
			return nil
		}
		var oe *opError
		if !(isStatus(err, http.StatusPreconditionFailed) || errors.As(err, &oe)) || try == tagRetries {
			return fmt.Errorf("set the tags of instance %s: %w", where, err)
		}
		vm, err := p.c.Instances.Get(ctx, &computepb.GetInstanceRequest{Project: p.cfg.Project, Zone: zone, Instance: name}, p.callOptions()...)
		if err != nil {
			return fmt.Errorf("get instance %s: %w", where, err)
		}
		tags, fingerprint = sortedCopy(vm.GetTags().GetItems()), vm.GetTags().GetFingerprint()
	}
}

func hasKey(m map[string]bool, k string) bool {
	_, ok := m[k]
	return ok
}
