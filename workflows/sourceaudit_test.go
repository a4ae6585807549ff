package workflows

import (
	"net/netip"
	"testing"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// TestSourceAudit: records at or after the window's end are the next audit's, a
// record without a time counts at the time given for it, and the run record
// carries the rows and the source's counters.
func TestSourceAudit(t *testing.T) {
	t0 := time.Date(2027, 1, 2, 3, 0, 0, 0, time.UTC)
	until := t0.Add(time.Hour)
	a := NewSourceAudit(model.NewPolicy(), until, until.Add(-time.Nanosecond))
	rec := func(at time.Time) *model.FlowRecord {
		return &model.FlowRecord{Time: at, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
			Protocol: model.ProtocolTCP, DstPort: 443, Packets: 1}
	}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{{t0, true}, {until, false}, {until.Add(time.Minute), false}, {time.Time{}, true}, {t0.Add(time.Minute), true}} {
		if got := a.Add(rec(tc.at)); got != tc.want {
			t.Errorf("Add(record at %v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if a.Records != 3 || !a.First.Equal(t0) || !a.Last.Equal(until.Add(-time.Nanosecond)) {
		t.Errorf("records %d, first %v, last %v", a.Records, a.First, a.Last)
	}
	var flows uint64
	for _, r := range a.Rows() {
		flows += r.Flows
	}
	run := AuditRunOf(RunMeta{ID: "r", Target: "t", Since: t0, Until: until}, providers.FlowStats{Records: 5, Malformed: 1}, a.Rows())
	if flows != 3 || run.Records != 5 || run.Malformed != 1 || len(run.Rows) != len(a.Rows()) || run.ID != "r" {
		t.Errorf("flows %d, run %+v", flows, run)
	}
}

// TestSplitLegacy: a cloud target recorded as a HostJob without a Host (before
// CloudJob existed) runs as a cloud job; host jobs stay as they are, in order.
func TestSplitLegacy(t *testing.T) {
	hosts, clouds := splitLegacy(
		[]HostJob{{Target: "dc1", Host: "a"}, {Target: "prod", PolicyHash: "b", StateHash: "s", Audit: true}, {Target: "dc1", Host: "b"}},
		[]CloudJob{{Target: "gcp1"}})
	if len(hosts) != 2 || hosts[0].Host != "a" || hosts[1].Host != "b" {
		t.Errorf("hosts = %+v", hosts)
	}
	want := CloudJob{Target: "prod", PolicyHash: "b", StateHash: "s", Audit: true}
	if len(clouds) != 2 || clouds[0].Target != "gcp1" || clouds[1] != want {
		t.Errorf("clouds = %+v, want gcp1 and %+v", clouds, want)
	}
}
