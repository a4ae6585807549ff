package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrNewerSchema is returned by Open for a store whose schema a newer microseg wrote:
// this one does not know its tables, and must not write to them.
var ErrNewerSchema = errors.New("results store has a newer schema than this microseg knows; upgrade microseg")

// migrations are the schema's steps, in order: migrations[i] takes the schema from
// version i to version i+1. A released step is never edited; a change is a new step.
// The SQL is the same for both backends ({text} and the placeholders aside): BIGINT
// is INTEGER affinity in SQLite, and every time is BIGINT nanoseconds (see toNS).
var migrations = [][]string{
	// 1: audit runs and their rows, drift events, policy updates.
	{
		`CREATE TABLE audit_runs (
			id          {text} NOT NULL PRIMARY KEY,
			target      {text} NOT NULL,
			source      {text} NOT NULL,
			policy_hash {text} NOT NULL,
			started_ns  BIGINT NOT NULL,
			since_ns    BIGINT NOT NULL,
			until_ns    BIGINT NOT NULL,
			records     BIGINT NOT NULL,
			no_data     BIGINT NOT NULL,
			skip_data   BIGINT NOT NULL,
			malformed   BIGINT NOT NULL
		)`,
		// UNIQUE (as id is) tells SQLite that each entry is one run, so that reading runs
		// in (until_ns, id) order and each run's rows by the primary key needs no sort.
		`CREATE UNIQUE INDEX audit_runs_until ON audit_runs (until_ns, id)`,
		`CREATE UNIQUE INDEX audit_runs_target_until ON audit_runs (target, until_ns, id)`,
		`CREATE INDEX audit_runs_resume ON audit_runs (target, source, until_ns)`,
		// seq is the row's place in the run, in the order verdict's Summary.Rows gives,
		// so that reading a run back in that order is a walk of the primary key.
		`CREATE TABLE audit_rows (
			run_id     {text} NOT NULL REFERENCES audit_runs (id) ON DELETE CASCADE,
			seq        BIGINT NOT NULL,
			day_ns     BIGINT NOT NULL,
			target     {text} NOT NULL,
			class      BIGINT NOT NULL,
			src        {text} NOT NULL,
			dst        {text} NOT NULL,
			protocol   BIGINT NOT NULL,
			port       BIGINT NOT NULL,
			allow_name {text} NOT NULL,
			service    {text} NOT NULL,
			flows      BIGINT NOT NULL,
			bytes      BIGINT NOT NULL,
			packets    BIGINT NOT NULL,
			first_ns   BIGINT NOT NULL,
			last_ns    BIGINT NOT NULL,
			sample_src {text} NOT NULL,
			sample_dst {text} NOT NULL,
			PRIMARY KEY (run_id, seq)
		){without rowid}`,
		`CREATE TABLE drift_events (
			id            {text} NOT NULL PRIMARY KEY,
			target        {text} NOT NULL,
			detected_ns   BIGINT NOT NULL,
			changes       BIGINT NOT NULL,
			summary       {text} NOT NULL,
			remediated_ns BIGINT NOT NULL
		)`,
		`CREATE INDEX drift_events_detected ON drift_events (detected_ns, id)`,
		`CREATE TABLE policy_updates (
			policy_hash  {text} NOT NULL,
			target       {text} NOT NULL,
			submitted_ns BIGINT NOT NULL,
			enforced_ns  BIGINT NOT NULL,
			PRIMARY KEY (policy_hash, target)
		)`,
		`CREATE INDEX policy_updates_submitted ON policy_updates (submitted_ns)`,
	},
	// 2: findings, what reconcile checks saw kept by design, first and last seen.
	{
		`CREATE TABLE findings (
			target        {text} NOT NULL,
			subject       {text} NOT NULL,
			message       {text} NOT NULL,
			first_seen_ns BIGINT NOT NULL,
			last_seen_ns  BIGINT NOT NULL,
			PRIMARY KEY (target, subject, message)
		)`,
		`CREATE INDEX findings_last_seen ON findings (last_seen_ns)`,
	},
}

// schemaVersion is the version this code writes: the number of steps.
var schemaVersion = len(migrations)

// migrationLock is the PostgreSQL advisory lock key that serializes migrations of
// one database ("msresult" in ASCII), so that two processes opening a fresh database
// at once do not both create the tables.
const migrationLock = 0x6d73726573756c74

// migrate brings the schema to schemaVersion in one transaction, or refuses a newer
// one. The schema_version table has a row per step applied, with when.
func (d *DB) migrate(ctx context.Context) error {
	tx, err := d.db.BeginTx(ctx, nil) // SQLite: BEGIN IMMEDIATE (_txlock), so migrations serialize
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()
	if d.dialect.name == BackendPostgres {
		if _, err := tx.ExecContext(ctx, d.dialect.sql(`SELECT pg_advisory_xact_lock(?)`), int64(migrationLock)); err != nil {
			return fmt.Errorf("lock for migration: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    BIGINT PRIMARY KEY,
		applied_ns BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var current sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	have := int(current.Int64)
	if have > schemaVersion {
		return fmt.Errorf("%w (store is at version %d, this microseg knows up to %d)", ErrNewerSchema, have, schemaVersion)
	}
	if have == schemaVersion {
		return nil // nothing to write: let the transaction roll back
	}
	now := time.Now().UnixNano()
	for v := have; v < schemaVersion; v++ {
		for _, stmt := range migrations[v] {
			if _, err := tx.ExecContext(ctx, d.dialect.sql(stmt)); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, d.dialect.sql(`INSERT INTO schema_version (version, applied_ns) VALUES (?, ?)`), v+1, now); err != nil {
			return fmt.Errorf("record schema version %d: %w", v+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration to version %d: %w", schemaVersion, err)
	}
	return nil
}
