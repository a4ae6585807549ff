package results

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/microseg/microseg/report"
)

// SaveFindings records that a check of target at seen saw these findings (target,
// subject and message of each; their times are ignored): a finding seen before keeps
// its first sighting and moves its last to seen, a new one starts at seen. Findings
// not in the list are left as they were, last seen at the check before.
func (d *DB) SaveFindings(ctx context.Context, target string, seen time.Time, findings []report.Finding) error {
	if err := d.saveFindings(ctx, target, seen, findings); err != nil {
		return fmt.Errorf("save findings of %s in %s: %w", target, d.where, err)
	}
	return nil
}

func (d *DB) saveFindings(ctx context.Context, target string, seen time.Time, findings []report.Finding) error {
	if target == "" {
		return errors.New("the findings have no target")
	}
	if seen.IsZero() {
		return errors.New("the findings have no time")
	}
	at, err := toNS(seen, "time seen")
	if err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt := d.dialect.sql(`INSERT INTO findings (target, subject, message, first_seen_ns, last_seen_ns) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (target, subject, message) DO UPDATE SET
			first_seen_ns = MIN(findings.first_seen_ns, excluded.first_seen_ns),
			last_seen_ns = MAX(findings.last_seen_ns, excluded.last_seen_ns)`)
	if d.dialect.name == BackendPostgres { // PostgreSQL's MIN and MAX are aggregates only
		stmt = d.dialect.sql(`INSERT INTO findings (target, subject, message, first_seen_ns, last_seen_ns) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (target, subject, message) DO UPDATE SET
			first_seen_ns = LEAST(findings.first_seen_ns, excluded.first_seen_ns),
			last_seen_ns = GREATEST(findings.last_seen_ns, excluded.last_seen_ns)`)
	}
	for _, f := range findings {
		if f.Subject == "" || f.Message == "" {
			return fmt.Errorf("finding %q: no subject or no message", f.Subject+": "+f.Message)
		}
		if _, err := tx.ExecContext(ctx, stmt, target, f.Subject, f.Message, at, at); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Findings returns the findings last seen at or after since (the zero time: all), of
// target ("" for every target), ordered by target, subject and message.
func (d *DB) Findings(ctx context.Context, since time.Time, target string) ([]report.Finding, error) {
	out, err := d.findings(ctx, since, target)
	if err != nil {
		return nil, fmt.Errorf("read findings from %s: %w", d.where, err)
	}
	return out, nil
}

func (d *DB) findings(ctx context.Context, since time.Time, target string) ([]report.Finding, error) {
	from, err := sinceNS(since, "since")
	if err != nil {
		return nil, err
	}
	q, args := `SELECT target, subject, message, first_seen_ns, last_seen_ns FROM findings WHERE last_seen_ns >= ?`, []any{from}
	if target != "" {
		q, args = q+` AND target = ?`, append(args, target)
	}
	rs, err := d.db.QueryContext(ctx, d.dialect.sql(q+` ORDER BY target, subject, message`), args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []report.Finding
	for rs.Next() {
		var f report.Finding
		var first, last int64
		if err := rs.Scan(&f.Target, &f.Subject, &f.Message, &first, &last); err != nil {
			return nil, err
		}
		f.FirstSeen, f.LastSeen = fromNS(first), fromNS(last)
		out = append(out, f)
	}
	return out, rs.Err()
}
