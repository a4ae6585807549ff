package results

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/microseg/microseg/report"
)

// TestFindings: a finding seen by several checks keeps its first sighting and moves
// its last; one no check sees any more stays, last seen when it was; reads filter
// by last sighting and target, in (target, subject, message) order.
func TestFindings(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := open(t, dsn)
		def := report.Finding{Subject: "interface eni-1", Message: "also carries sg-default"}
		other := report.Finding{Subject: "interface eni-0", Message: "also carries sg-legacy"}
		save := func(target string, when time.Time, fs ...report.Finding) {
			t.Helper()
			if err := d.SaveFindings(ctx, target, when, fs); err != nil {
				t.Fatal(err)
			}
		}
		save("aws.a", at(3, 0, 0), def, other)
		save("aws.a", at(4, 0, 0), def)
		save("aws.a", at(2, 0, 0), def) // a late check's sighting widens nothing it should not
		save("aws.b", at(4, 0, 5), def)
		want := func(target string, f report.Finding, first, last time.Time) report.Finding {
			f.Target, f.FirstSeen, f.LastSeen = target, first, last
			return f
		}
		for _, tc := range []struct {
			since  time.Time
			target string
			want   []report.Finding
		}{
			{time.Time{}, "", []report.Finding{
				want("aws.a", other, at(3, 0, 0), at(3, 0, 0)),
				want("aws.a", def, at(2, 0, 0), at(4, 0, 0)),
				want("aws.b", def, at(4, 0, 5), at(4, 0, 5))}},
			{at(4, 0, 0), "aws.a", []report.Finding{want("aws.a", def, at(2, 0, 0), at(4, 0, 0))}},
			{at(5, 0, 0), "", nil},
		} {
			got, err := d.Findings(ctx, tc.since, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			sameExactly(t, fmt.Sprintf("findings since %v of %q", tc.since, tc.target), got, tc.want)
		}
		if err := d.SaveFindings(ctx, "aws.a", at(5, 0, 0), []report.Finding{{Subject: "x"}}); err == nil {
			t.Error("a finding without a message was saved")
		}
		if err := d.SaveFindings(ctx, "", at(5, 0, 0), nil); err == nil {
			t.Error("findings without a target were saved")
		}
	})
}
