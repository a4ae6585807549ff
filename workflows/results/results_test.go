package results

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/verdict"
	"github.com/microseg/microseg/report"
)

// backends are what every test of the store runs against: a SQLite file, and a
// database on a real PostgreSQL server. newDSN gives a fresh, empty store.
var backends = []struct {
	name   string
	newDSN func(t testing.TB) string
}{
	{BackendSQLite, func(t testing.TB) string { return filepath.Join(t.TempDir(), "state", "results.db") }},
	{BackendPostgres, postgresDSN},
}

// eachBackend runs test once per backend, as subtests.
func eachBackend(t *testing.T, test func(t *testing.T, dsn string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.newDSN(t)) })
	}
}

// open opens dsn, closing it when the test ends.
func open(t testing.TB, dsn string) *DB {
	t.Helper()
	d, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// at is a UTC time on 2026-03-DAY, HOUR:00 plus ns nanoseconds.
func at(day, hour int, ns int) time.Time {
	return time.Date(2026, 3, day, hour, 0, 0, ns, time.UTC)
}

// sameExactly fails unless got and want are identical, time.Time's internals (and
// location) included: cmp's diff, which compares times with Equal, says where.
func sameExactly(t *testing.T, what string, got, want any) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("%s (-want +got):\n%s", what, d)
	}
	t.Fatalf("%s: equal times but not identical (location or monotonic clock):\ngot  %#v\nwant %#v", what, got, want)
}

// genRows makes n rows with distinct keys on day, in an order other than
// Summary.Rows' (so that saving must sort them).
func genRows(n int, day time.Time, target string) []verdict.Row {
	rows := make([]verdict.Row, 0, n)
	for i := n - 1; i >= 0; i-- {
		rows = append(rows, verdict.Row{
			Key: verdict.Key{
				Day:      day,
				Target:   target,
				Class:    verdict.Classes[i%len(verdict.Classes)],
				Src:      fmt.Sprintf("segment.s%03d", i%97),
				Dst:      fmt.Sprintf("network.n%05d", i),
				Protocol: model.ProtocolTCP,
				Port:     uint16(i),
				Allow:    "web-to-db",
				Service:  "postgres",
			},
			Flows: uint64(i + 1), Bytes: uint64(i) * 1500, Packets: uint64(i) * 3,
			First: day.Add(time.Duration(i) * time.Second), Last: day.Add(time.Duration(i)*time.Second + 999),
			SampleSrc: "10.10.0.5", SampleDst: fmt.Sprintf("10.20.%d.%d", i/256%256, i%256),
		})
	}
	return rows
}

// sorted is rows in Summary.Rows' order.
func sorted(rows []verdict.Row) []verdict.Row {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b verdict.Row) int { return verdict.CompareKeys(a.Key, b.Key) })
	return rows
}

// sampleRun is a run whose rows exercise every field's range.
func sampleRun(id string) report.AuditRun {
	day := at(2, 0, 0)
	return report.AuditRun{
		ID: id, Target: "aws.prod-use1", Source: "s3://acme-flowlogs/AWSLogs/123456789012/",
		PolicyHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Started:    at(3, 1, 123456789), Since: day, Until: at(3, 0, 1),
		Records: 1_000_000, NoData: 3, SkipData: 2, Malformed: 1,
		Rows: []verdict.Row{
			{Key: verdict.Key{Day: day, Target: "aws.prod-use1", Class: verdict.Violation, Src: "network.internet",
				Dst: "segment.db", Protocol: model.ProtocolTCP, Port: 5432},
				Flows: 7, Bytes: 4200, Packets: 14, First: at(2, 3, 1), Last: at(2, 23, 999_999_999),
				SampleSrc: "203.0.113.9", SampleDst: "10.20.0.11"},
			{Key: verdict.Key{Day: day, Target: "aws.prod-use1", Class: verdict.Allowed, Src: "segment.web",
				Dst: "segment.db", Protocol: model.ProtocolTCP, Port: 5432, Allow: "web-to-db", Service: "postgres"},
				Flows: math.MaxInt64, Bytes: math.MaxInt64 - 1, Packets: 0, First: at(2, 0, 0), Last: at(2, 1, 0),
				SampleSrc: "10.10.0.5", SampleDst: "10.20.0.12"},
			// Unknown addresses: empty peers, no allow, and a zero First/Last.
			{Key: verdict.Key{Day: day, Target: "aws.prod-use1", Class: verdict.Unknown,
				Protocol: model.ProtocolAll, Port: math.MaxUint16},
				Flows: 1, SampleSrc: "2001:db8::1", SampleDst: "2001:db8::2"},
			{Key: verdict.Key{Day: day, Target: "aws.prod-use1", Class: verdict.WouldBlock, Src: "segment.wéb «ü»",
				Dst: "segment.db", Protocol: model.ProtocolICMP, Port: 8},
				Flows: 2, Bytes: 168, Packets: 2, First: at(2, 5, 0), Last: at(2, 5, 1),
				SampleSrc: "10.10.0.6", SampleDst: "10.20.0.11"},
		},
	}
}

func TestAuditRunRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := open(t, dsn)
		run := sampleRun("run-1")
		empty := report.AuditRun{ID: "run-0", Target: "hosts.dc1", Source: "nflog", Until: at(1, 0, 0)}
		for _, r := range []report.AuditRun{run, empty} {
			if err := d.SaveAuditRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		got, err := d.AuditRuns(ctx, time.Time{}, "")
		if err != nil {
			t.Fatal(err)
		}
		want := run
		want.Rows = sorted(run.Rows)
		if verdict.CompareKeys(want.Rows[0].Key, run.Rows[0].Key) == 0 {
			t.Fatal("test rows are already in order: saving them proves no sorting")
		}
		sameExactly(t, "runs", got, []report.AuditRun{empty, want})
	})
}

func TestLargeRunRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := open(t, dsn)
		run := report.AuditRun{ID: "big", Target: "aws.prod", Source: "s3://b/", Until: at(4, 0, 0),
			Rows: genRows(20_000, at(3, 0, 0), "aws.prod")}
		start := time.Now()
		if err := d.SaveAuditRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: saved a run of %d rows in %v", d.Backend(), len(run.Rows), time.Since(start))
		got, err := d.AuditRuns(ctx, time.Time{}, "aws.prod")
		if err != nil {
			t.Fatal(err)
		}
		run.Rows = sorted(run.Rows)
		sameExactly(t, "runs", got, []report.AuditRun{run})
	})
}

func TestSaveAuditRunReplacesByID(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := open(t, dsn)
		first := sampleRun("run-1")
		other := sampleRun("run-2")
		other.Until = at(4, 0, 0)
		for _, r := range []report.AuditRun{first, other} {
			if err := d.SaveAuditRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		second := report.AuditRun{ID: "run-1", Target: "gcp.prod", Source: "gs://logs/", PolicyHash: "abc",
			Started: at(5, 0, 0), Since: at(4, 0, 0), Until: at(5, 0, 0), Records: 9,
			Rows: sampleRun("x").Rows[:1]}
		if err := d.SaveAuditRun(ctx, second); err != nil {
			t.Fatal(err)
		}
		got, err := d.AuditRuns(ctx, time.Time{}, "")
		if err != nil {
			t.Fatal(err)
		}
		other.Rows = sorted(other.Rows)
		sameExactly(t, "runs", got, []report.AuditRun{other, second})
		var rows int
		if err := d.db.QueryRow(`SELECT COUNT(*) FROM audit_rows`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if want := len(other.Rows) + len(second.Rows); rows != want {
			t.Errorf("audit_rows holds %d rows, want %d: the replaced run's rows were not all deleted", rows, want)
		}
	})
}

func TestAuditRunsFiltersAndOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := open(t, dsn)
		mk := func(id, target string, until time.Time) report.AuditRun {
			return report.AuditRun{ID: id, Target: target, Source: "src", Until: until,
				Rows: genRows(3, until.Truncate(24*time.Hour), target)}
		}
		old := time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) // before the epoch: negative nanoseconds
		runs := []report.AuditRun{
			mk("b", "aws.a", at(10, 0, 0)),
			mk("a", "aws.a", at(10, 0, 0)), // same Until as b: ID orders them
			mk("c", "gcp.b", at(9, 0, 0)),
			mk("d", "aws.a", at(11, 0, 0)),
			mk("Z", "gcp.b", at(10, 0, 0)), // upper case sorts before lower case, by bytes
			mk("e", "aws.a", old),
		}
		for _, r := range runs {
			if err := d.SaveAuditRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		byID := map[string]report.AuditRun{}
		for _, r := range runs {
			r.Rows = sorted(r.Rows)
			byID[r.ID] = r
		}
		for _, tc := range []struct {
			since  time.Time
			target string
			want   []string
		}{
			{time.Time{}, "", []string{"e", "c", "Z", "a", "b", "d"}},
			{at(10, 0, 0), "", []string{"Z", "a", "b", "d"}}, // Until == since is in
			{at(10, 0, 1), "", []string{"d"}},
			{at(9, 0, 0), "aws.a", []string{"a", "b", "d"}},
			{time.Time{}, "gcp.b", []string{"c", "Z"}},
			{time.Time{}, "azure.none", nil},
			{at(12, 0, 0), "", nil},
		} {
			got, err := d.AuditRuns(ctx, tc.since, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			var want []report.AuditRun
			for _, id := range tc.want {
				want = append(want, byID[id])
			}
			sameExactly(t, fmt.Sprintf("runs since %v of %q", tc.since, tc.target), got, want)
		}
	})
}

func TestLastAudit(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := open(t, dsn)
		if _, ok, err := d.LastAudit(ctx, "aws.a", "s3://a/"); err != nil || ok {
			t.Fatalf("LastAudit of an empty store = ok %v, err %v; want no run", ok, err)
		}
		for _, r := range []report.AuditRun{
			{ID: "1", Target: "aws.a", Source: "s3://a/", Until: at(10, 0, 0)},
			{ID: "2", Target: "aws.a", Source: "s3://a/", Until: at(12, 0, 7)},
			{ID: "3", Target: "aws.a", Source: "s3://a/", Until: at(11, 0, 0)},
			{ID: "4", Target: "aws.a", Source: "cloudwatch:group", Until: at(20, 0, 0)},
			{ID: "5", Target: "aws.b", Source: "s3://a/", Until: at(21, 0, 0)},
		} {
			if err := d.SaveAuditRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		until, ok, err := d.LastAudit(ctx, "aws.a", "s3://a/")
		if err != nil || !ok {
			t.Fatalf("LastAudit = ok %v, err %v", ok, err)
		}
		sameExactly(t, "last Until", until, at(12, 0, 7))
		if _, ok, err := d.LastAudit(ctx, "aws.a", "s3://other/"); err != nil || ok {
			t.Fatalf("LastAudit of another source = ok %v, err %v; want no run", ok, err)
		}
	})
}

func TestDriftEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := open(t, dsn)
		events := []report.DriftEvent{
			{ID: "d2", Target: "aws.a", Detected: at(5, 0, 0), Changes: 3, Summary: "3 to change"},
			{ID: "d1", Target: "aws.a", Detected: at(5, 0, 0), Changes: 1, Summary: "1 to add"},
			{ID: "d3", Target: "hosts.dc1", Detected: at(6, 0, 1), Changes: 2, Summary: "2 to remove"},
			{ID: "d0", Target: "aws.a", Detected: at(4, 0, 0), Changes: 1, Summary: "old", Remediated: at(4, 1, 0)},
		}
		for _, e := range events {
			if err := d.SaveDriftEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		// Remediated later: the same ID again replaces the event.
		remediated := events[0]
		remediated.Remediated = at(5, 0, 30)
		if err := d.SaveDriftEvent(ctx, remediated); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			since  time.Time
			target string
			want   []report.DriftEvent
		}{
			{time.Time{}, "", []report.DriftEvent{events[3], events[1], remediated, events[2]}},
			{at(5, 0, 0), "", []report.DriftEvent{events[1], remediated, events[2]}},
			{at(5, 0, 0), "aws.a", []report.DriftEvent{events[1], remediated}},
			{at(6, 0, 2), "", nil},
		} {
			got, err := d.DriftEvents(ctx, tc.since, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			sameExactly(t, fmt.Sprintf("drift events since %v of %q", tc.since, tc.target), got, tc.want)
		}
	})
}

func TestPolicyUpdates(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := open(t, dsn)
		save := func(u report.PolicyUpdate) {
			t.Helper()
			if err := d.SavePolicyUpdate(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		get := func(since time.Time, target string) []report.PolicyUpdate {
			t.Helper()
			got, err := d.PolicyUpdates(ctx, since, target)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		h1 := report.PolicyUpdate{PolicyHash: "h1", Target: "aws.a", Submitted: at(1, 0, 0)}
		save(h1)
		sameExactly(t, "submitted", get(time.Time{}, ""), []report.PolicyUpdate{h1})

		// Re-submitted before enforcement: the new submission replaces the old.
		h1.Submitted = at(1, 0, 5)
		save(h1)
		sameExactly(t, "re-submitted", get(time.Time{}, ""), []report.PolicyUpdate{h1})

		enforced := h1
		enforced.Enforced = at(1, 0, 9)
		save(enforced)
		sameExactly(t, "enforced", get(time.Time{}, ""), []report.PolicyUpdate{enforced})

		// The same policy applied again, not (yet) enforced: the enforced update stays.
		again := report.PolicyUpdate{PolicyHash: "h1", Target: "aws.a", Submitted: at(2, 0, 0)}
		save(again)
		sameExactly(t, "re-applied", get(time.Time{}, ""), []report.PolicyUpdate{enforced})

		// A new enforcement time replaces it.
		reEnforced := report.PolicyUpdate{PolicyHash: "h1", Target: "aws.a", Submitted: at(2, 0, 0), Enforced: at(2, 0, 3)}
		save(reEnforced)
		sameExactly(t, "re-enforced", get(time.Time{}, ""), []report.PolicyUpdate{reEnforced})

		// The same hash on another target is another update.
		other := report.PolicyUpdate{PolicyHash: "h1", Target: "gcp.b", Submitted: at(2, 0, 0)}
		h2 := report.PolicyUpdate{PolicyHash: "h2", Target: "aws.a", Submitted: at(3, 0, 0), Enforced: at(3, 1, 0)}
		save(other)
		save(h2)
		sameExactly(t, "all", get(time.Time{}, ""), []report.PolicyUpdate{reEnforced, other, h2})
		sameExactly(t, "since day 2 of aws.a", get(at(2, 0, 0), "aws.a"), []report.PolicyUpdate{reEnforced, h2})
		sameExactly(t, "since day 3", get(at(2, 0, 1), ""), []report.PolicyUpdate{h2})
		sameExactly(t, "of gcp.b", get(time.Time{}, "gcp.b"), []report.PolicyUpdate{other})
	})
}

// fill saves one of each kind of record.
func fill(t *testing.T, d *DB) (report.AuditRun, report.DriftEvent, report.PolicyUpdate) {
	t.Helper()
	ctx := context.Background()
	run := sampleRun("run-1")
	e := report.DriftEvent{ID: "e1", Target: "aws.a", Detected: at(5, 0, 0), Changes: 1, Summary: "1 to add"}
	u := report.PolicyUpdate{PolicyHash: "h", Target: "aws.a", Submitted: at(1, 0, 0), Enforced: at(1, 0, 1)}
	if err := d.SaveAuditRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveDriftEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := d.SavePolicyUpdate(ctx, u); err != nil {
		t.Fatal(err)
	}
	run.Rows = sorted(run.Rows)
	return run, e, u
}

// checkHolds fails unless d holds exactly run, e and u.
func checkHolds(t *testing.T, d *DB, run report.AuditRun, e report.DriftEvent, u report.PolicyUpdate) {
	t.Helper()
	ctx := context.Background()
	runs, err := d.AuditRuns(ctx, time.Time{}, "")
	if err != nil {
		t.Fatal(err)
	}
	sameExactly(t, "runs", runs, []report.AuditRun{run})
	events, err := d.DriftEvents(ctx, time.Time{}, "")
	if err != nil {
		t.Fatal(err)
	}
	sameExactly(t, "drift events", events, []report.DriftEvent{e})
	updates, err := d.PolicyUpdates(ctx, time.Time{}, "")
	if err != nil {
		t.Fatal(err)
	}
	sameExactly(t, "policy updates", updates, []report.PolicyUpdate{u})
}

func TestReopenKeepsEverything(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		d, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		run, e, u := fill(t, d)
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		checkHolds(t, open(t, dsn), run, e, u)
	})
}

// schemaVersions lists the rows of schema_version.
func schemaVersions(t *testing.T, d *DB) []int {
	t.Helper()
	rs, err := d.db.Query(`SELECT version FROM schema_version ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var vs []int
	for rs.Next() {
		var v int
		if err := rs.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestMigrationIsIdempotent(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		if !strings.HasPrefix(dsn, "postgres") {
			// An existing empty file, as a crash right after creating it would leave.
			if err := os.MkdirAll(filepath.Dir(dsn), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dsn, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		d, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		want := []int{}
		for v := 1; v <= schemaVersion; v++ {
			want = append(want, v)
		}
		if got := schemaVersions(t, d); !slices.Equal(got, want) {
			t.Fatalf("schema versions after migrating = %v, want %v", got, want)
		}
		run, e, u := fill(t, d)
		d.Close()
		for range 2 {
			d := open(t, dsn)
			if got := schemaVersions(t, d); !slices.Equal(got, want) {
				t.Fatalf("schema versions after reopening = %v, want %v", got, want)
			}
			checkHolds(t, d, run, e, u)
			d.Close()
		}
	})
}

func TestNewerSchemaIsRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		d := open(t, dsn)
		if _, err := d.db.Exec(d.dialect.sql(`INSERT INTO schema_version (version, applied_ns) VALUES (?, 0)`), schemaVersion+1); err != nil {
			t.Fatal(err)
		}
		d.Close()
		_, err := Open(context.Background(), dsn)
		if !errors.Is(err, ErrNewerSchema) {
			t.Fatalf("Open of a newer schema: err = %v, want ErrNewerSchema", err)
		}
		for _, part := range []string{fmt.Sprintf("version %d", schemaVersion+1), fmt.Sprintf("up to %d", schemaVersion), "upgrade microseg"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("error %q does not say %q", err, part)
			}
		}
	})
}

func TestConcurrentWriters(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		// Two stores on one fresh DSN, opened (and so migrated) at the same time, as the
		// worker and the CLI do.
		dbs := make([]*DB, 2)
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for i := range dbs {
			wg.Go(func() {
				d, err := Open(ctx, dsn)
				if err != nil {
					errs <- err
					return
				}
				t.Cleanup(func() { d.Close() })
				dbs[i] = d
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		const perWriter = 12
		errs = make(chan error, 1000)
		for w, d := range dbs {
			for g := range 2 { // two goroutines per store: its pool's connections contend too
				wg.Go(func() {
					for i := range perWriter {
						id := fmt.Sprintf("w%d-g%d-%02d", w, g, i)
						run := report.AuditRun{ID: id, Target: "aws.a", Source: "s", Until: at(1+i, 0, w*10+g),
							Rows: genRows(500, at(1+i, 0, 0), "aws.a")}
						if err := d.SaveAuditRun(ctx, run); err != nil {
							errs <- err
						}
						// The same run ID from every writer: replaces race each other.
						shared := report.AuditRun{ID: "shared", Target: "aws.a", Source: "s", Until: at(1, 0, 0),
							Rows: genRows(50, at(1, 0, 0), "aws.a")}
						if err := d.SaveAuditRun(ctx, shared); err != nil {
							errs <- err
						}
						if err := d.SaveDriftEvent(ctx, report.DriftEvent{ID: id, Target: "aws.a", Detected: at(1+i, 0, 0)}); err != nil {
							errs <- err
						}
						if err := d.SavePolicyUpdate(ctx, report.PolicyUpdate{PolicyHash: "h", Target: id, Submitted: at(1, 0, 0)}); err != nil {
							errs <- err
						}
						if _, err := d.AuditRuns(ctx, at(1+i, 0, 0), "aws.a"); err != nil {
							errs <- err
						}
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		runs, err := dbs[0].AuditRuns(ctx, time.Time{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if want := 2*2*perWriter + 1; len(runs) != want {
			t.Errorf("%d runs saved, want %d", len(runs), want)
		}
		for _, r := range runs {
			if want := map[bool]int{true: 50, false: 500}[r.ID == "shared"]; len(r.Rows) != want {
				t.Errorf("run %s has %d rows, want %d", r.ID, len(r.Rows), want)
			}
		}
		events, err := dbs[1].DriftEvents(ctx, time.Time{}, "")
		if err != nil {
			t.Fatal(err)
		}
		updates, err := dbs[1].PolicyUpdates(ctx, time.Time{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2*2*perWriter || len(updates) != 2*2*perWriter {
			t.Errorf("%d drift events and %d policy updates saved, want %d each", len(events), len(updates), 2*2*perWriter)
		}
	})
}

func TestBadRecordsAreRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := open(t, dsn)
		tooLate := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
		badRow := sampleRun("bad-row")
		badRow.Rows[0].Bytes = math.MaxInt64 + 1
		badTime := sampleRun("bad-time")
		badTime.Rows[2].Last = tooLate
		for _, tc := range []struct {
			name string
			save func() error
			want []string
		}{
			{"run without ID", func() error { return d.SaveAuditRun(ctx, report.AuditRun{Target: "a"}) },
				[]string{`save audit run ""`, "no ID"}},
			{"run after 2262", func() error { return d.SaveAuditRun(ctx, report.AuditRun{ID: "late", Until: tooLate}) },
				[]string{`save audit run "late"`, "Until", "2300-01-01T00:00:00Z", "storable range"}},
			{"count over 2^63", func() error { return d.SaveAuditRun(ctx, badRow) },
				[]string{`save audit run "bad-row"`, "byte count 9223372036854775808", "too large"}},
			{"row time after 2262", func() error { return d.SaveAuditRun(ctx, badTime) },
				[]string{`save audit run "bad-time"`, "last flow time"}},
			{"drift event without ID", func() error { return d.SaveDriftEvent(ctx, report.DriftEvent{Target: "a"}) },
				[]string{`save drift event ""`, "no ID"}},
			{"policy update without hash", func() error { return d.SavePolicyUpdate(ctx, report.PolicyUpdate{Target: "a"}) },
				[]string{`save policy update "" of target "a"`, "no policy hash"}},
		} {
			err := tc.save()
			if err == nil {
				t.Errorf("%s: saved, want an error", tc.name)
				continue
			}
			for _, part := range append(tc.want, d.where) {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("%s: error %q does not say %q", tc.name, err, part)
				}
			}
		}
		runs, err := d.AuditRuns(ctx, time.Time{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 0 {
			t.Errorf("refused runs were saved: %d runs", len(runs))
		}
	})
}

func TestSQLiteSettings(t *testing.T) {
	dir := t.TempDir()
	// The "sqlite:" prefix, directories to create, and '?', '#' and a space in the
	// file name, which must not be taken for URI syntax.
	path := filepath.Join(dir, "a b", "c", "res?ults#1.db")
	d := open(t, "sqlite:"+path)
	if d.Backend() != BackendSQLite {
		t.Fatalf("Backend() = %q", d.Backend())
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the store is not where the DSN says: %v", err)
	}
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000"} {
		var got string
		if err := d.db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

func TestOpenErrorsSayWhere(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dsn      string
		want     []string
		mustNot  string
		postgres bool
	}{
		{dsn: "", want: []string{"empty DSN"}},
		{dsn: "sqlite:", want: []string{"names no SQLite file"}},
		{dsn: filepath.Join(blocker, "results.db"), want: []string{blocker, "create directory"}},
		// Nothing listens on port 1: the connection is refused at once.
		{dsn: "postgres://microseg:s3cret@127.0.0.1:1/results?sslmode=disable",
			want: []string{"postgres://microseg:xxxxx@127.0.0.1:1/results"}, mustNot: "s3cret"},
		{dsn: "postgresql://127.0.0.1:1/results?password=s3cret&sslmode=disable",
			want: []string{"127.0.0.1:1", "password=xxxxx"}, mustNot: "s3cret"},
		{dsn: "postgres://microseg:s3cret@127.0.0.1:bad port/results",
			want: []string{"malformed", "microseg:xxxxx@"}, mustNot: "s3cret"},
	} {
		d, err := Open(ctx, tc.dsn)
		if err == nil {
			d.Close()
			t.Errorf("Open(%q) succeeded, want an error", tc.dsn)
			continue
		}
		for _, part := range tc.want {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("Open(%q): error %q does not say %q", tc.dsn, err, part)
			}
		}
		if tc.mustNot != "" && strings.Contains(err.Error(), tc.mustNot) {
			t.Errorf("Open(%q): error %q shows the password", tc.dsn, err)
		}
	}
}

func TestDialectSQL(t *testing.T) {
	q := `SELECT a FROM t WHERE x = ? AND y IN (?, ?) AND z = ''`
	if got := sqliteDialect.sql(q); got != q {
		t.Errorf("sqlite: %q", got)
	}
	if got, want := postgresDialect.sql(q), `SELECT a FROM t WHERE x = $1 AND y IN ($2, $3) AND z = ''`; got != want {
		t.Errorf("postgres: got %q, want %q", got, want)
	}
	if got, want := postgresDialect.sql(`CREATE TABLE t (id {text})`), `CREATE TABLE t (id TEXT COLLATE "C")`; got != want {
		t.Errorf("postgres: got %q, want %q", got, want)
	}
}

func TestDefaultDSN(t *testing.T) {
	dir := t.TempDir()
	d := open(t, DefaultDSN(filepath.Join(dir, ".microseg")))
	if d.Backend() != BackendSQLite {
		t.Fatalf("Backend() = %q", d.Backend())
	}
	if _, err := os.Stat(filepath.Join(dir, ".microseg", DefaultFile)); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{"", "results.db", "sqlite:/x/y.db", "postgres://u:p@h:5432/db?sslmode=disable",
		"postgresql://h/db?password=p", "postgres://u:p@h:bad/db", "POSTGRES://x", "sqlite:", "a?b#c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		info, err := parseDSN(dsn)
		if err != nil {
			return
		}
		lower := strings.ToLower(dsn)
		isPG := strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
		if (info.backend == BackendPostgres) != isPG {
			t.Fatalf("parseDSN(%q) backend %q", dsn, info.backend)
		}
		if info.backend == BackendSQLite && (!filepath.IsAbs(info.path) || !strings.HasPrefix(info.driverDSN, "file://")) {
			t.Fatalf("parseDSN(%q) = %+v", dsn, info)
		}
	})
}

// TestConcurrentOpenSQLite opens fresh files from several goroutines at once, and
// closes them, as the worker and CLI invocations do: switching to WAL mode meets
// SQLITE_BUSY now and then (about one open in 400 here) and must wait it out.
func TestConcurrentOpenSQLite(t *testing.T) {
	ctx := context.Background()
	for round := range 60 {
		path := filepath.Join(t.TempDir(), fmt.Sprint(round), "results.db")
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				d, err := Open(ctx, path)
				if err != nil {
					t.Error(err)
					return
				}
				if err := d.SaveDriftEvent(ctx, report.DriftEvent{ID: "e", Detected: at(1, 0, 0)}); err != nil {
					t.Error(err)
				}
				if err := d.Close(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
}

// TestSummaryRowsRoundTrip stores what verdict.Summary produces and gives back its
// Rows exactly, so that a report can Merge runs read back as if it had counted them.
func TestSummaryRowsRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := verdict.NewSummary(0)
		for i := range 200 {
			r := &model.FlowRecord{
				Time: at(1+i%3, i%24, i*1000), Target: "aws.prod", Protocol: model.ProtocolTCP,
				Src: netip.AddrFrom4([4]byte{10, 10, 0, byte(i % 7)}), Dst: netip.AddrFrom4([4]byte{10, 20, 0, byte(i % 5)}),
				SrcPort: uint16(40000 + i), DstPort: []uint16{443, 5432, 22}[i%3], Bytes: uint64(i * 100), Packets: uint64(i),
			}
			v := verdict.Verdict{Class: verdict.Classes[i%len(verdict.Classes)], Src: fmt.Sprintf("segment.s%d", i%4), Dst: "segment.db"}
			if v.Class == verdict.Allowed {
				v.Allow, v.Service = "web-to-db", "postgres"
			}
			s.Add(r, v)
		}
		want := s.Rows()
		shuffled := slices.Clone(want)
		slices.Reverse(shuffled)
		d := open(t, dsn)
		if err := d.SaveAuditRun(ctx, report.AuditRun{ID: "r", Target: "aws.prod", Until: at(4, 0, 0), Rows: shuffled}); err != nil {
			t.Fatal(err)
		}
		runs, err := d.AuditRuns(ctx, time.Time{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 {
			t.Fatalf("%d runs", len(runs))
		}
		sameExactly(t, "rows", runs[0].Rows, want)
		merged := verdict.NewSummary(0)
		merged.Merge(runs[0].Rows)
		sameExactly(t, "rows merged back", merged.Rows(), want)
	})
}
