package results

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/microseg/microseg/report"
)

// SaveDriftEvent saves a drift event; saving one with the same ID again replaces it
// (as when the drift it records is remediated later).
func (d *DB) SaveDriftEvent(ctx context.Context, e report.DriftEvent) error {
	if err := d.saveDriftEvent(ctx, e); err != nil {
		return fmt.Errorf("save drift event %q in %s: %w", e.ID, d.where, err)
	}
	return nil
}

func (d *DB) saveDriftEvent(ctx context.Context, e report.DriftEvent) error {
	if e.ID == "" {
		return errors.New("the event has no ID")
	}
	detected, err := toNS(e.Detected, "detection time")
	if err != nil {
		return err
	}
	remediated, err := toNS(e.Remediated, "remediation time")
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, d.dialect.sql(`INSERT INTO drift_events
		(id, target, detected_ns, changes, summary, remediated_ns) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET target = excluded.target, detected_ns = excluded.detected_ns,
			changes = excluded.changes, summary = excluded.summary, remediated_ns = excluded.remediated_ns`),
		e.ID, e.Target, detected, int64(e.Changes), e.Summary, remediated)
	return err
}

// DriftEvents returns the events detected at or after since (the zero time: all), of
// target ("" for every target), ordered by Detected then ID.
func (d *DB) DriftEvents(ctx context.Context, since time.Time, target string) ([]report.DriftEvent, error) {
	events, err := d.driftEvents(ctx, since, target)
	if err != nil {
		return nil, fmt.Errorf("read drift events from %s: %w", d.where, err)
	}
	return events, nil
}

func (d *DB) driftEvents(ctx context.Context, since time.Time, target string) ([]report.DriftEvent, error) {
	from, err := sinceNS(since, "since")
	if err != nil {
		return nil, err
	}
	q, args := `SELECT id, target, detected_ns, changes, summary, remediated_ns FROM drift_events WHERE detected_ns >= ?`, []any{from}
	if target != "" {
		q, args = q+` AND target = ?`, append(args, target)
	}
	rs, err := d.db.QueryContext(ctx, d.dialect.sql(q+` ORDER BY detected_ns, id`), args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var events []report.DriftEvent
	for rs.Next() {
		var (
			e                    report.DriftEvent
			detected, remediated int64
			changes              int64
		)
		if err := rs.Scan(&e.ID, &e.Target, &detected, &changes, &e.Summary, &remediated); err != nil {
			return nil, err
		}
		e.Detected, e.Changes, e.Remediated = fromNS(detected), int(changes), fromNS(remediated)
		events = append(events, e)
	}
	return events, rs.Err()
}

// SavePolicyUpdate saves a policy update, one per (PolicyHash, Target). Saving one
// again replaces it, except that an update already enforced stays as it was when the
// new one is not enforced: applying the same policy again does not make it
// unenforced, nor move its submission after its enforcement (which would make the
// time to enforce negative).
func (d *DB) SavePolicyUpdate(ctx context.Context, u report.PolicyUpdate) error {
	if err := d.savePolicyUpdate(ctx, u); err != nil {
		return fmt.Errorf("save policy update %q of target %q in %s: %w", u.PolicyHash, u.Target, d.where, err)
	}
	return nil
}

func (d *DB) savePolicyUpdate(ctx context.Context, u report.PolicyUpdate) error {
	if u.PolicyHash == "" {
		return errors.New("the update has no policy hash")
	}
	submitted, err := toNS(u.Submitted, "submission time")
	if err != nil {
		return err
	}
	enforced, err := toNS(u.Enforced, "enforcement time")
	if err != nil {
		return err
	}
	// The WHERE of DO UPDATE skips the update (keeping the row) when the stored one is
	// enforced and the new one is not.
	_, err = d.db.ExecContext(ctx, d.dialect.sql(`INSERT INTO policy_updates
		(policy_hash, target, submitted_ns, enforced_ns) VALUES (?, ?, ?, ?)
		ON CONFLICT (policy_hash, target) DO UPDATE SET
			submitted_ns = excluded.submitted_ns, enforced_ns = excluded.enforced_ns
		WHERE excluded.enforced_ns <> 0 OR policy_updates.enforced_ns = 0`),
		u.PolicyHash, u.Target, submitted, enforced)
	return err
}

// PolicyUpdates returns the updates submitted at or after since (the zero time: all),
// of target ("" for every target), ordered by Submitted, Target, then PolicyHash.
func (d *DB) PolicyUpdates(ctx context.Context, since time.Time, target string) ([]report.PolicyUpdate, error) {
	updates, err := d.policyUpdates(ctx, since, target)
	if err != nil {
		return nil, fmt.Errorf("read policy updates from %s: %w", d.where, err)
	}
	return updates, nil
}

func (d *DB) policyUpdates(ctx context.Context, since time.Time, target string) ([]report.PolicyUpdate, error) {
	from, err := sinceNS(since, "since")
	if err != nil {
		return nil, err
	}
	q, args := `SELECT policy_hash, target, submitted_ns, enforced_ns FROM policy_updates WHERE submitted_ns >= ?`, []any{from}
	if target != "" {
		q, args = q+` AND target = ?`, append(args, target)
	}
	rs, err := d.db.QueryContext(ctx, d.dialect.sql(q+` ORDER BY submitted_ns, target, policy_hash`), args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var updates []report.PolicyUpdate
	for rs.Next() {
		var (
			u                   report.PolicyUpdate
			submitted, enforced int64
		)
		if err := rs.Scan(&u.PolicyHash, &u.Target, &submitted, &enforced); err != nil {
			return nil, err
		}
		u.Submitted, u.Enforced = fromNS(submitted), fromNS(enforced)
		updates = append(updates, u)
	}
	return updates, rs.Err()
}
