package onprem

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultConfirmTimeout is how long a commit-confirmed change waits for Confirm.
const DefaultConfirmTimeout = 60 * time.Second

// ErrRolledBack is returned by Confirm when the timeout came first and the previous
// ruleset is back.
var ErrRolledBack = errors.New("change was rolled back: not confirmed in time")

// Pending is a commit-confirmed change: applied, and undone unless confirmed in time.
// The agent confirms once it reaches the server again after the change, so a policy
// that cuts a host off from its control plane undoes itself.
type Pending struct {
	e        *Enforcer
	previous *Ruleset
	timer    *time.Timer
	mu       sync.Mutex
	state    pendingState
	err      error // of the rollback, when there was one
	done     chan struct{}
}

type pendingState uint8

const (
	pendingOpen pendingState = iota
	pendingConfirmed
	pendingRolledBack
)

// ApplyConfirmed applies desired like Apply, keeping the ruleset it replaces, and
// restores that ruleset unless Confirm is called within timeout (DefaultConfirmTimeout
// when 0). The rollback runs in this process: if the process dies before, the change
// stays.
func (e *Enforcer) ApplyConfirmed(desired *Ruleset, timeout time.Duration) (*Pending, ApplyStats, error) {
	if timeout <= 0 {
		timeout = DefaultConfirmTimeout
	}
	previous, err := e.Observe()
	if err != nil {
		return nil, ApplyStats{}, fmt.Errorf("keep the ruleset to roll back to: %w", err)
	}
	stats, err := e.Apply(desired)
	if err != nil {
		return nil, ApplyStats{}, err
	}
	p := &Pending{e: e, previous: previous, done: make(chan struct{})}
	p.timer = time.AfterFunc(timeout, p.rollback)
	return p, stats, nil
}

func (p *Pending) rollback() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != pendingOpen {
		return
	}
	p.state = pendingRolledBack
	if _, err := p.e.Apply(p.previous); err != nil {
		p.err = fmt.Errorf("roll back unconfirmed change%s: %w", p.e.where(), err)
	}
	close(p.done)
}

// Confirm keeps the change. It fails with ErrRolledBack when the timeout came first.
func (p *Pending) Confirm() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.state {
	case pendingRolledBack:
		return errors.Join(ErrRolledBack, p.err)
	case pendingOpen:
		p.timer.Stop()
		p.state = pendingConfirmed
		close(p.done)
	}
	return nil
}

// Cancel rolls the change back now instead of waiting for the timeout.
func (p *Pending) Cancel() {
	p.timer.Stop()
	p.rollback()
}

// Done is closed once the change is confirmed or rolled back.
func (p *Pending) Done() <-chan struct{} { return p.done }

// RollbackErr is the error of a rollback that failed, nil otherwise.
func (p *Pending) RollbackErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
