package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/verdict"
	"github.com/microseg/microseg/report"
)

// rowColumns are audit_rows' columns in the order rowArgs gives them.
const rowColumns = "run_id, seq, day_ns, target, class, src, dst, protocol, port, allow_name, service, flows, bytes, packets, first_ns, last_ns, sample_src, sample_dst"

const rowArity = 18

// rowsPerInsert is how many rows one INSERT carries: far fewer statements than rows
// (which matters most for PostgreSQL, a round trip each), and 18*256 = 4608
// parameters, under SQLite's 32766 and PostgreSQL's 65535.
const rowsPerInsert = 256

// insertRowsSQL is an INSERT of n rows.
func insertRowsSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO audit_rows (" + rowColumns + ") VALUES ")
	one := "(" + strings.Repeat("?, ", rowArity-1) + "?)"
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	return b.String()
}

// rowArgs appends one row's values, checked for storage.
func rowArgs(args []any, runID string, seq int, r verdict.Row) ([]any, error) {
	day, err := toNS(r.Day, "day")
	if err != nil {
		return nil, err
	}
	first, err := toNS(r.First, "first flow time")
	if err != nil {
		return nil, err
	}
	last, err := toNS(r.Last, "last flow time")
	if err != nil {
		return nil, err
	}
	flows, err := toCount(r.Flows, "flow count")
	if err != nil {
		return nil, err
	}
	bytes, err := toCount(r.Bytes, "byte count")
	if err != nil {
		return nil, err
	}
	packets, err := toCount(r.Packets, "packet count")
	if err != nil {
		return nil, err
	}
	return append(args, runID, int64(seq), day, r.Target, int64(r.Class), r.Src, r.Dst,
		int64(r.Protocol), int64(r.Port), r.Allow, r.Service, flows, bytes, packets,
		first, last, r.SampleSrc, r.SampleDst), nil
}

// SaveAuditRun saves a run and its rows in one transaction; saving a run with the same
// ID again replaces the old run and all its rows. The rows are stored in the order
// verdict's Summary.Rows gives, whatever their order in run.Rows.
func (d *DB) SaveAuditRun(ctx context.Context, run report.AuditRun) error {
	if err := d.saveAuditRun(ctx, run); err != nil {
		return fmt.Errorf("save audit run %q in %s: %w", run.ID, d.where, err)
	}
	return nil
}

func (d *DB) saveAuditRun(ctx context.Context, run report.AuditRun) error {
	if run.ID == "" {
		return errors.New("the run has no ID")
	}
	started, err := toNS(run.Started, "start time")
	if err != nil {
		return err
	}
	since, err := toNS(run.Since, "window start (Since)")
	if err != nil {
		return err
	}
	until, err := toNS(run.Until, "window end (Until)")
	if err != nil {
		return err
	}
	rows := slices.Clone(run.Rows)
	slices.SortStableFunc(rows, func(a, b verdict.Row) int { return verdict.CompareKeys(a.Key, b.Key) })
	// Convert every row before the transaction, so that a bad one fails without
	// holding the write lock, and the lock is held only for the inserts.
	args := make([]any, 0, len(rows)*rowArity)
	for i, r := range rows {
		if args, err = rowArgs(args, run.ID, i, r); err != nil {
			return fmt.Errorf("row %d (%s %s -> %s): %w", i, r.Class, r.Src, r.Dst, err)
		}
	}

	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	// Upsert rather than delete and insert: on PostgreSQL the conflict takes the run's
	// row lock, so that two saves of one ID serialize instead of one failing on the
	// primary key.
	if _, err := tx.ExecContext(ctx, d.dialect.sql(`INSERT INTO audit_runs
		(id, target, source, policy_hash, started_ns, since_ns, until_ns, records, no_data, skip_data, malformed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET target = excluded.target, source = excluded.source,
			policy_hash = excluded.policy_hash, started_ns = excluded.started_ns,
			since_ns = excluded.since_ns, until_ns = excluded.until_ns, records = excluded.records,
			no_data = excluded.no_data, skip_data = excluded.skip_data, malformed = excluded.malformed`),
		run.ID, run.Target, run.Source, run.PolicyHash, started, since, until,
		int64(run.Records), int64(run.NoData), int64(run.SkipData), int64(run.Malformed)); err != nil {
		return fmt.Errorf("write the run: %w", err)
	}
	if _, err := tx.ExecContext(ctx, d.dialect.sql(`DELETE FROM audit_rows WHERE run_id = ?`), run.ID); err != nil {
		return fmt.Errorf("delete the old rows: %w", err)
	}
	if err := insertRows(ctx, tx, d.dialect, args); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// insertRows inserts rows (rowArity values each) with one prepared statement of
// rowsPerInsert rows, and one more for the remainder.
func insertRows(ctx context.Context, tx *sql.Tx, dl dialect, args []any) error {
	n := len(args) / rowArity
	if full := n / rowsPerInsert; full > 0 {
		stmt, err := tx.PrepareContext(ctx, dl.sql(insertRowsSQL(rowsPerInsert)))
		if err != nil {
			return fmt.Errorf("prepare the row insert: %w", err)
		}
		defer stmt.Close()
		for i := range full {
			chunk := args[i*rowsPerInsert*rowArity : (i+1)*rowsPerInsert*rowArity]
			if _, err := stmt.ExecContext(ctx, chunk...); err != nil {
				return fmt.Errorf("insert rows %d to %d: %w", i*rowsPerInsert, (i+1)*rowsPerInsert-1, err)
			}
		}
	}
	if rest := n % rowsPerInsert; rest > 0 {
		from := n - rest
		if _, err := tx.ExecContext(ctx, dl.sql(insertRowsSQL(rest)), args[from*rowArity:]...); err != nil {
			return fmt.Errorf("insert rows %d to %d: %w", from, n-1, err)
		}
	}
	return nil
}

// sinceNS is the lower bound of a since filter: the zero time means from the start.
func sinceNS(since time.Time, what string) (int64, error) {
	if since.IsZero() {
		return math.MinInt64, nil
	}
	return toNS(since, what)
}

// AuditRuns returns the runs whose Until is at or after since (the zero time: all),
// of target ("" for every target), with their rows, ordered by Until then ID; each
// run's rows are in the order verdict's Summary.Rows gives.
func (d *DB) AuditRuns(ctx context.Context, since time.Time, target string) ([]report.AuditRun, error) {
	runs, err := d.auditRuns(ctx, since, target)
	if err != nil {
		return nil, fmt.Errorf("read audit runs from %s: %w", d.where, err)
	}
	return runs, nil
}

func (d *DB) auditRuns(ctx context.Context, since time.Time, target string) ([]report.AuditRun, error) {
	from, err := sinceNS(since, "since")
	if err != nil {
		return nil, err
	}
	where, args := "a.until_ns >= ?", []any{from}
	if target != "" {
		where, args = where+" AND a.target = ?", append(args, target)
	}
	// Runs and rows are two queries: read them from one snapshot, so that a run saved
	// in between does not leave a run without its rows.
	tx, err := d.db.BeginTx(ctx, &d.dialect.readTx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()

	rs, err := tx.QueryContext(ctx, d.dialect.sql(`SELECT a.id, a.target, a.source, a.policy_hash,
		a.started_ns, a.since_ns, a.until_ns, a.records, a.no_data, a.skip_data, a.malformed
		FROM audit_runs a WHERE `+where+` ORDER BY a.until_ns, a.id`), args...)
	if err != nil {
		return nil, fmt.Errorf("query runs: %w", err)
	}
	var runs []report.AuditRun
	for rs.Next() {
		var (
			r                                       report.AuditRun
			started, since, until                   int64
			records, noData, skipData, malformedCnt int64
		)
		if err := rs.Scan(&r.ID, &r.Target, &r.Source, &r.PolicyHash, &started, &since, &until,
			&records, &noData, &skipData, &malformedCnt); err != nil {
			rs.Close()
			return nil, fmt.Errorf("read a run: %w", err)
		}
		r.Started, r.Since, r.Until = fromNS(started), fromNS(since), fromNS(until)
		r.Records, r.NoData, r.SkipData, r.Malformed = int(records), int(noData), int(skipData), int(malformedCnt)
		runs = append(runs, r)
	}
	if err := rs.Err(); err != nil {
		rs.Close()
		return nil, fmt.Errorf("read runs: %w", err)
	}
	rs.Close()
	if len(runs) == 0 {
		return nil, nil
	}

	// The rows of every run selected, in the runs' order: one pass assigns them.
	rs, err = tx.QueryContext(ctx, d.dialect.sql(`SELECT r.run_id, r.day_ns, r.target, r.class,
		r.src, r.dst, r.protocol, r.port, r.allow_name, r.service, r.flows, r.bytes, r.packets,
		r.first_ns, r.last_ns, r.sample_src, r.sample_dst
		FROM audit_runs a JOIN audit_rows r ON r.run_id = a.id
		WHERE `+where+` ORDER BY a.until_ns, a.id, r.seq`), args...)
	if err != nil {
		return nil, fmt.Errorf("query rows: %w", err)
	}
	defer rs.Close()
	i := 0
	var (
		runID                                     string
		day, class, protocol, port                int64
		flows, bytes, packets, first, last        int64
		target2, src, dst, allow, service, sS, sD string
	)
	for rs.Next() {
		if err := rs.Scan(&runID, &day, &target2, &class, &src, &dst, &protocol, &port, &allow, &service,
			&flows, &bytes, &packets, &first, &last, &sS, &sD); err != nil {
			return nil, fmt.Errorf("read a row: %w", err)
		}
		for i < len(runs) && runs[i].ID != runID {
			i++
		}
		if i == len(runs) {
			return nil, fmt.Errorf("row of run %q out of order", runID)
		}
		if class < 0 || class > math.MaxUint8 || protocol < 0 || protocol > math.MaxUint8 ||
			port < 0 || port > math.MaxUint16 || flows < 0 || bytes < 0 || packets < 0 {
			return nil, fmt.Errorf("corrupt row of run %q: class %d, protocol %d, port %d, counts %d/%d/%d out of range",
				runID, class, protocol, port, flows, bytes, packets)
		}
		runs[i].Rows = append(runs[i].Rows, verdict.Row{
			Key: verdict.Key{
				Day: fromNS(day), Target: target2, Class: verdict.Class(class), Src: src, Dst: dst,
				Protocol: model.Protocol(protocol), Port: uint16(port), Allow: allow, Service: service,
			},
			Flows: uint64(flows), Bytes: uint64(bytes), Packets: uint64(packets),
			First: fromNS(first), Last: fromNS(last), SampleSrc: sS, SampleDst: sD,
		})
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	return runs, nil
}

// LastAudit returns the latest Until of the runs of target and source, where the next
// audit of that source resumes; ok is false when there is none.
func (d *DB) LastAudit(ctx context.Context, target, source string) (until time.Time, ok bool, err error) {
	var last sql.NullInt64
	err = d.db.QueryRowContext(ctx, d.dialect.sql(`SELECT MAX(until_ns) FROM audit_runs WHERE target = ? AND source = ?`),
		target, source).Scan(&last)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read the last audit of %s from %s in %s: %w", target, source, d.where, err)
	}
	if !last.Valid {
		return time.Time{}, false, nil
	}
	return fromNS(last.Int64), true, nil
}
