// Package results is the results history store: it keeps audit runs (with their
// rolled-up verdict rows), drift events and policy updates across restarts, so that
// weekly figures, drift history and time-to-enforce survive the worker and the CLI
// coming and going.
//
// It is SQLite by default (the pure-Go modernc.org/sqlite, a file under the state
// directory that the CLI and the worker open at the same time) and PostgreSQL when a
// postgres:// DSN names one (pgx's database/sql driver). Both run the same SQL, save
// for placeholders and column collation (see dialect), and store every time as int64
// Unix nanoseconds in UTC, so that comparisons agree across backends and round trips
// are exact.
package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	// Registers the "pgx" database/sql driver.
	_ "github.com/jackc/pgx/v5/stdlib"
	// Registers the "sqlite" database/sql driver (pure Go, no cgo).
	_ "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The backends Backend reports.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// DefaultFile is the name of the SQLite file under the state directory when no DSN
// is configured.
const DefaultFile = "results.db"

// DefaultDSN is the store the embedded setup uses: DefaultFile in stateDir.
func DefaultDSN(stateDir string) string { return filepath.Join(stateDir, DefaultFile) }

// DB is an open results store. It is safe for concurrent use, and several processes
// may open the same SQLite file at once.
type DB struct {
	db      *sql.DB
	dialect dialect
	// where names the store in errors: the DSN with any password redacted.
	where string
}

// dsnInfo is what parseDSN makes of a DSN.
type dsnInfo struct {
	backend string
	// driverDSN is what sql.Open gets.
	driverDSN string
	// path is the SQLite file (absolute); "" for PostgreSQL.
	path string
	// display is the DSN for error messages, without secrets.
	display string
}

// sqlitePragmas are set on every SQLite connection (modernc runs each _pragma, in
// order, as the connection opens):
//   - busy_timeout: the CLI and the worker write the same file; a writer waits up to
//     5 s for the other's transaction instead of failing with "database is locked";
//   - foreign_keys: SQLite leaves them off by default; rows reference their run.
//
// _txlock=immediate makes every read-write transaction take the write lock at BEGIN,
// where busy_timeout applies; a deferred transaction that upgrades from reading to
// writing would instead fail at once with SQLITE_BUSY when another writer is active.
// (Read-only transactions still begin deferred: modernc ignores _txlock for them.)
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_txlock=immediate"

// parseDSN says which backend a DSN names and how to open it.
func parseDSN(dsn string) (dsnInfo, error) {
	if strings.TrimSpace(dsn) == "" {
		return dsnInfo{}, errors.New("empty DSN: want a SQLite file path or a postgres:// URL")
	}
	lower := strings.ToLower(dsn)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url.Parse quotes the input in its error: keep the password out of it.
			return dsnInfo{}, fmt.Errorf("parse PostgreSQL URL %s: malformed URL", redactUnparsed(dsn))
		}
		return dsnInfo{backend: BackendPostgres, driverDSN: dsn, display: redactURL(u)}, nil
	}
	path := dsn
	if strings.HasPrefix(lower, "sqlite:") {
		path = dsn[len("sqlite:"):]
	}
	if path == "" {
		return dsnInfo{}, fmt.Errorf("DSN %q names no SQLite file", dsn)
	}
	if strings.ContainsRune(path, 0) {
		return dsnInfo{}, fmt.Errorf("SQLite path %q contains a NUL byte", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return dsnInfo{}, fmt.Errorf("SQLite path %q: %w", path, err)
	}
	// A file: URI with the path escaped, so that a '?' or '#' in a file name is part of
	// the name rather than the start of parameters.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: sqlitePragmas}
	return dsnInfo{backend: BackendSQLite, driverDSN: u.String(), path: abs, display: abs}, nil
}

// redactURL hides the password, in the user part and in a password= parameter.
func redactURL(u *url.URL) string {
	c := *u
	q := c.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}

// redactUnparsed hides what may be a password in a URL that does not parse: from
// the ':' after the user to the '@'.
func redactUnparsed(dsn string) string {
	scheme, rest, _ := strings.Cut(dsn, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if colon := strings.Index(rest[:at], ":"); colon >= 0 {
			rest = rest[:colon] + ":xxxxx" + rest[at:]
		}
	}
	if i := strings.Index(strings.ToLower(rest), "password="); i >= 0 {
		end := strings.IndexByte(rest[i:], '&')
		if end < 0 {
			rest = rest[:i] + "password=xxxxx"
		} else {
			rest = rest[:i] + "password=xxxxx" + rest[i+end:]
		}
	}
	return scheme + "://" + rest
}

// Open opens (creating and migrating as needed) the store named by dsn:
// "postgres://..." or "postgresql://..." → PostgreSQL; anything else is a SQLite
// file path ("sqlite:" prefix optional); the parent directory is created.
func Open(ctx context.Context, dsn string) (*DB, error) {
	info, err := parseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("open results store: %w", err)
	}
	d := &DB{where: info.display}
	switch info.backend {
	case BackendSQLite:
		if err := os.MkdirAll(filepath.Dir(info.path), 0o755); err != nil {
			return nil, fmt.Errorf("open results store %s: create directory: %w", d.where, err)
		}
		d.dialect = sqliteDialect
		d.db, err = sql.Open("sqlite", info.driverDSN)
		if err == nil {
			err = ensureWAL(ctx, d.db)
		}
	case BackendPostgres:
		d.dialect = postgresDialect
		d.db, err = sql.Open("pgx", info.driverDSN)
	}
	if err != nil {
		if d.db != nil {
			d.db.Close()
		}
		return nil, fmt.Errorf("open results store %s: %w", d.where, err)
	}
	if err := d.migrate(ctx); err != nil {
		d.db.Close()
		return nil, fmt.Errorf("open results store %s: %w", d.where, err)
	}
	return d, nil
}

// ensureWAL puts a SQLite file in WAL mode, where readers do not block the writer
// nor the writer the readers. The mode is kept in the file, so this is done once per
// Open rather than by a journal_mode pragma on every connection: that pragma, run as
// a connection opens while another process opens or closes the file, fails now and
// then with SQLITE_BUSY without waiting for busy_timeout. Here it is retried.
func ensureWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("switch to WAL journal mode: the file stays in %q mode (is it on a file system without shared memory?)", mode)
			}
			return nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return fmt.Errorf("switch to WAL journal mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("switch to WAL journal mode: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (extended codes included).
func isBusy(err error) bool {
	var e interface{ Code() int }
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// Close closes the store.
func (d *DB) Close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("close results store %s: %w", d.where, err)
	}
	return nil
}

// Backend is "sqlite" or "postgres".
func (d *DB) Backend() string { return d.dialect.name }

// dialect is what differs between the backends' SQL.
type dialect struct {
	name string
	// text is the column type of strings. PostgreSQL's is collated "C" so that ORDER BY
	// an ID sorts by bytes, as SQLite's BINARY collation and Go's string comparison do,
	// whatever the database's locale.
	text string
	// withoutRowid ends the CREATE TABLE of a table whose primary key is how it is
	// read: SQLite then keeps the rows in that key's b-tree rather than looking each
	// one up from a separate index. PostgreSQL has no such option.
	withoutRowid string
	// readTx are the options of a read that spans several queries: a snapshot.
	readTx sql.TxOptions
}

var (
	sqliteDialect = dialect{
		name:         BackendSQLite,
		text:         "TEXT",
		withoutRowid: " WITHOUT ROWID",
		// A deferred (read-only) SQLite transaction reads one snapshot of the WAL.
		readTx: sql.TxOptions{ReadOnly: true},
	}
	postgresDialect = dialect{
		name:   BackendPostgres,
		text:   `TEXT COLLATE "C"`,
		readTx: sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
	}
)

// sql turns the store's SQL into the backend's: {text} becomes the string column type,
// {without rowid} the clustering clause,
// and for PostgreSQL the '?' placeholders become $1, $2, ... (the store's statements
// have no '?' anywhere else: no string literals, no JSON operators).
func (dl dialect) sql(q string) string {
	q = strings.NewReplacer("{text}", dl.text, "{without rowid}", dl.withoutRowid).Replace(q)
	if dl.name != BackendPostgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Times are stored as int64 Unix nanoseconds UTC, the zero time as 0. (So the instant
// 1970-01-01T00:00:00Z itself reads back as the zero time; no audit, drift or policy
// time is ever that.)
var (
	minStorable = time.Unix(0, math.MinInt64)
	maxStorable = time.Unix(0, math.MaxInt64)
)

// toNS converts a time for storage; what is outside int64 nanoseconds (before 1678 or
// after 2262) is an error rather than a silently wrong value.
func toNS(t time.Time, what string) (int64, error) {
	if t.IsZero() {
		return 0, nil
	}
	if t.Before(minStorable) || t.After(maxStorable) {
		return 0, fmt.Errorf("%s %s is outside the storable range (years 1678 to 2262)", what, t.Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// fromNS is the inverse of toNS, in UTC.
func fromNS(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// toCount converts an unsigned count for an SQL BIGINT, which is signed.
func toCount(n uint64, what string) (int64, error) {
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("%s %d is too large to store (more than 2^63-1)", what, n)
	}
	return int64(n), nil
}
