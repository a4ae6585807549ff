package results

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/microseg/microseg/report"
)

// BenchmarkSaveAuditRun saves runs of 20,000 rows (a busy target's day) to SQLite.
func BenchmarkSaveAuditRun(b *testing.B) {
	const rowsPerRun = 20_000
	ctx := context.Background()
	d := open(b, filepath.Join(b.TempDir(), "results.db"))
	rows := genRows(rowsPerRun, at(1, 0, 0), "aws.prod")
	b.ResetTimer()
	for i := range b.N {
		run := report.AuditRun{ID: fmt.Sprintf("run-%d", i), Target: "aws.prod", Source: "s3://b/",
			Until: at(2, 0, i), Rows: rows}
		if err := d.SaveAuditRun(ctx, run); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rowsPerRun*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkAuditRuns reads back 30 days of daily runs of 5,000 rows from SQLite, as a
// monthly report does.
func BenchmarkAuditRuns(b *testing.B) {
	const days, rowsPerRun = 30, 5_000
	ctx := context.Background()
	d := open(b, filepath.Join(b.TempDir(), "results.db"))
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for i := range days {
		day := start.AddDate(0, 0, i)
		run := report.AuditRun{ID: fmt.Sprintf("run-%02d", i), Target: "aws.prod", Source: "s3://b/",
			Since: day, Until: day.AddDate(0, 0, 1), Rows: genRows(rowsPerRun, day, "aws.prod")}
		if err := d.SaveAuditRun(ctx, run); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		runs, err := d.AuditRuns(ctx, start, "aws.prod")
		if err != nil {
			b.Fatal(err)
		}
		if len(runs) != days || len(runs[days-1].Rows) != rowsPerRun {
			b.Fatalf("read %d runs", len(runs))
		}
	}
	b.ReportMetric(float64(days*rowsPerRun*b.N)/b.Elapsed().Seconds(), "rows/s")
}
