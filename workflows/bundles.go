package workflows

import (
	"sync"

	"go.temporal.io/sdk/temporal"

	"github.com/microseg/microseg/model"
)

// bundleMemoSize is how many bundles a worker or agent keeps parsed and compiled.
const bundleMemoSize = 8

// compiledBundles keeps the last bundles' parsed policies and compiled states in
// memory by bundle hash, so that a reconcile loop, which loads the same bundle
// every interval, parses and compiles it once. It is process-wide: a bundle's hash
// names its content, so every caller would get the same result.
var compiledBundles = &bundleMemo{entries: map[string]*compiledBundle{}}

type bundleMemo struct {
	mu      sync.Mutex
	entries map[string]*compiledBundle
	order   []string // oldest first
}

// compiledBundle is one bundle, parsed once and compiled once, on first need. A
// failure to read the bundle is not kept (the next call may read it); a policy
// that does not load or compile is, since it never will.
type compiledBundle struct {
	mu         sync.Mutex
	policy     *model.Policy
	parseErr   error
	states     map[string]*model.DesiredState
	compileErr error
}

// entry returns the memo's entry of a bundle, making it (and forgetting the oldest)
// when there is none.
func (m *bundleMemo) entry(hash string) *compiledBundle {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[hash]; ok {
		return e
	}
	e := &compiledBundle{}
	m.entries[hash] = e
	m.order = append(m.order, hash)
	if len(m.order) > bundleMemoSize {
		delete(m.entries, m.order[0])
		m.order = m.order[1:]
	}
	return e
}

// parsed parses the bundle once, reading its files with sources.
func (e *compiledBundle) parsed(sources func() (map[string][]byte, error)) (*model.Policy, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.parsedLocked(sources)
}

func (e *compiledBundle) parsedLocked(sources func() (map[string][]byte, error)) (*model.Policy, error) {
	if e.policy != nil || e.parseErr != nil {
		return e.policy, e.parseErr
	}
	src, err := sources()
	if err != nil {
		return nil, err
	}
	e.policy, e.parseErr = parsePolicy(src)
	return e.policy, e.parseErr
}

// compiled compiles the parsed bundle once.
func (e *compiledBundle) compiled(sources func() (map[string][]byte, error)) (map[string]*model.DesiredState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, err := e.parsedLocked(sources)
	if err != nil {
		return nil, err
	}
	if e.states == nil && e.compileErr == nil {
		if e.states, err = model.Compile(p); err != nil {
			e.compileErr = temporal.NewNonRetryableApplicationError(err.Error(), "InvalidPolicy", err)
		}
	}
	return e.states, e.compileErr
}
