package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/microseg/microseg/report"
	"github.com/microseg/microseg/workflows/results"
)

// driftFound is what one run of `microseg drift` found on one target.
type driftFound struct {
	changes int
	parts   []string // "db-01: 1 to add, 0 to change, 1 to remove", per host or target
}

// manualDrift prefixes the IDs of the drift events `microseg drift` records.
const manualDrift = "drift-cmd/"

// recordDriftFound keeps what `microseg drift` found in the results history, as the
// reconcile loop's checks do, so that a report never says "no drift" after drift
// was found by hand: one open event per target, updated while the drift lasts.
func recordDriftFound(found map[string]*driftFound, now time.Time) error {
	if len(found) == 0 {
		return nil
	}
	return withResults(func(ctx context.Context, db *results.DB) error {
		return saveDriftFound(ctx, db, found, now)
	})
}

func saveDriftFound(ctx context.Context, db *results.DB, found map[string]*driftFound, now time.Time) error {
	for target, f := range found {
		sort.Strings(f.parts)
		e := report.DriftEvent{ID: manualDrift + target + "/" + now.UTC().Format(time.RFC3339Nano), Target: target, Detected: now,
			Changes: f.changes, Summary: strings.Join(f.parts, "; ")}
		events, err := db.DriftEvents(ctx, time.Time{}, target)
		if err != nil {
			return err
		}
		for _, old := range events {
			if old.Remediated.IsZero() && strings.HasPrefix(old.ID, manualDrift) {
				e.ID, e.Detected = old.ID, old.Detected // still the same drift
			}
		}
		if err := db.SaveDriftEvent(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// recordRepaired marks the open drift events of targets, whoever found them, as
// remediated at now: an apply verified them equal to the policy.
func recordRepaired(targets []string, now time.Time) error {
	if len(targets) == 0 {
		return nil
	}
	return withResults(func(ctx context.Context, db *results.DB) error { return markRepaired(ctx, db, targets, now) })
}

func markRepaired(ctx context.Context, db *results.DB, targets []string, now time.Time) error {
	for _, target := range targets {
		events, err := db.DriftEvents(ctx, time.Time{}, target)
		if err != nil {
			return err
		}
		for _, e := range events {
			if e.Remediated.IsZero() {
				e.Remediated = now
				if err := db.SaveDriftEvent(ctx, e); err != nil {
					return fmt.Errorf("mark drift event %s remediated: %w", e.ID, err)
				}
			}
		}
	}
	return nil
}

// withResults runs fn on the results history, opened for it.
func withResults(fn func(ctx context.Context, db *results.DB) error) error {
	ctx := context.Background()
	db, err := results.Open(ctx, resultsDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(ctx, db)
}
