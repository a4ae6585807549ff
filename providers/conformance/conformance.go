// Package conformance is the test suite every provider (each cloud, and hosts) must
// pass: observe -> apply -> observe is a fixed point, applying again changes nothing,
// drift made behind microseg's back is seen and repaired, a change of policy never
// takes away what both versions allow (make before break), and what microseg does not
// manage is never touched.
package conformance

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// Harness connects the suite to one provider and the emulator behind it.
type Harness struct {
	// Provider is the provider under test, on a fresh emulated target.
	Provider providers.Provider
	// State is the compiled policy of the target.
	State *model.DesiredState
	// Drifts change the emulated target behind the provider's back, each in its own
	// way; each returns the plan line (e.g. "+ rule web ingress from ...") that must
	// show the drift.
	Drifts map[string]func(t *testing.T) string
	// Unmanaged creates things microseg does not manage, and Untouched checks they
	// are still as they were.
	Unmanaged func(t *testing.T)
	Untouched func(t *testing.T)
	// Next is a later version of the policy that keeps some of State's allows,
	// drops others and adds new ones; Kept reports whether something both versions
	// allow is in force at this instant. The suite applies Next while calling Kept
	// in a loop: it must hold throughout (make before break), and the plan after
	// must be empty. Both nil skips the check.
	Next *model.DesiredState
	Kept func() bool
}

func plan(t *testing.T, h Harness) *providers.Planned {
	t.Helper()
	pl, err := providers.Plan(context.Background(), h.Provider, h.State, "target")
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return pl
}

func render(p *model.Plan) string {
	var b strings.Builder
	p.Render(&b)
	return b.String()
}

func apply(t *testing.T, h Harness) *providers.Planned {
	t.Helper()
	p := plan(t, h)
	if err := p.Apply(context.Background(), h.Provider); err != nil {
		t.Fatalf("apply: %v\n%s", err, render(p.Plan))
	}
	return p
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.Unmanaged != nil {
		h.Unmanaged(t)
	}
	first := apply(t, h)
	if first.Plan.Empty() {
		t.Fatal("the first plan of a fresh target is empty")
	}
	t.Run("fixed point", func(t *testing.T) {
		if p := plan(t, h).Plan; !p.Empty() {
			t.Fatalf("after apply, the plan is not empty:\n%s", render(p))
		}
	})
	t.Run("idempotent re-apply", func(t *testing.T) {
		// Against what the first plan observed, as a retry after a lost reply does.
		if err := first.Apply(context.Background(), h.Provider); err != nil {
			t.Fatalf("applying the first plan again: %v", err)
		}
		if p := plan(t, h).Plan; !p.Empty() {
			t.Fatalf("after re-apply:\n%s", render(p))
		}
	})
	for name, drift := range h.Drifts {
		t.Run("drift: "+name, func(t *testing.T) {
			want := drift(t)
			p := plan(t, h).Plan
			if got := render(p); !strings.Contains(got, want) {
				t.Fatalf("plan does not show %q:\n%s", want, got)
			}
			apply(t, h)
			if p := plan(t, h).Plan; !p.Empty() {
				t.Fatalf("after repairing:\n%s", render(p))
			}
		})
	}
	if h.Next != nil {
		t.Run("make before break", func(t *testing.T) { makeBeforeBreak(t, h) })
	}
	t.Run("unmanaged untouched", func(t *testing.T) {
		if h.Untouched != nil {
			h.Untouched(t)
		}
	})
}

// makeBeforeBreak applies h.Next while polling h.Kept.
func makeBeforeBreak(t *testing.T, h Harness) {
	if !h.Kept() {
		t.Fatal("what both versions allow is not in force before the change")
	}
	next := h
	next.State = h.Next
	p := plan(t, next)
	if p.Plan.Empty() {
		t.Fatal("the next version plans no change")
	}
	var polls, broken atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			polls.Add(1)
			if !h.Kept() {
				broken.Add(1)
			}
		}
	}()
	err := p.Apply(context.Background(), h.Provider)
	close(stop)
	<-done
	if err != nil {
		t.Fatalf("apply the next version: %v\n%s", err, render(p.Plan))
	}
	if n := broken.Load(); n > 0 {
		t.Errorf("what both versions allow was not in force %d times of %d during the change (break before make):\n%s", n, polls.Load(), render(p.Plan))
	}
	if again := plan(t, next).Plan; !again.Empty() {
		t.Fatalf("after applying the next version:\n%s", render(again))
	}
	t.Logf("kept in force across %d checks during the change", polls.Load())
}
