package verdict

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/microseg/microseg/model"
)

var (
	day1 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	day2 = day1.AddDate(0, 0, 1)
)

func flow(t time.Time, src, dst string, sport, dport uint16, bytes uint64) model.FlowRecord {
	return model.FlowRecord{Time: t, Src: ip(src), Dst: ip(dst), SrcPort: sport, DstPort: dport, Protocol: model.ProtocolTCP, Bytes: bytes, Packets: 1, Target: "aws"}
}

func TestSummaryAggregates(t *testing.T) {
	e := New(tablePolicy())
	s := NewSummary(100)
	// In New York the first two flows fall on different local days but the same UTC day.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	recs := []model.FlowRecord{
		flow(day1.Add(1*time.Hour).In(ny), "203.0.113.5", "10.10.1.10", 50000, 443, 100),
		flow(day1.Add(23*time.Hour).In(ny), "203.0.113.6", "10.10.1.11", 50001, 443, 200),
		// The return traffic of the same connections: counted under the service port.
		flow(day1.Add(2*time.Hour), "10.10.1.10", "203.0.113.5", 443, 50000, 1000),
		// Unknown traffic collapses whatever the networks.
		flow(day1.Add(3*time.Hour), "192.0.2.1", "198.51.100.1", 1, 80, 1),
		flow(day1.Add(4*time.Hour), "10.5.5.5", "203.0.113.9", 2, 80, 2),
		// A violation on the next day.
		flow(day2.Add(5*time.Hour), "203.0.113.5", "10.10.1.10", 50000, 22, 5),
	}
	for i := range recs {
		s.Add(&recs[i], e.Classify(&recs[i]))
	}
	want := []Row{
		{Key: Key{Day: day1, Target: "aws", Class: Allowed, Src: "network.internet", Dst: "segment.web", Protocol: model.ProtocolTCP, Port: 443, Allow: "internet-to-web", Service: "https"},
			Flows: 2, Bytes: 300, Packets: 2, First: recs[0].Time, Last: recs[1].Time, SampleSrc: "203.0.113.5", SampleDst: "10.10.1.10"},
		{Key: Key{Day: day1, Target: "aws", Class: Allowed, Src: "segment.web", Dst: "network.internet", Protocol: model.ProtocolTCP, Port: 443, Allow: "internet-to-web", Service: "https"},
			Flows: 1, Bytes: 1000, Packets: 1, First: recs[2].Time, Last: recs[2].Time, SampleSrc: "10.10.1.10", SampleDst: "203.0.113.5"},
		{Key: Key{Day: day1, Target: "aws", Class: Unknown, Protocol: model.ProtocolTCP, Port: 80},
			Flows: 2, Bytes: 3, Packets: 2, First: recs[3].Time, Last: recs[4].Time, SampleSrc: "192.0.2.1", SampleDst: "198.51.100.1"},
		{Key: Key{Day: day2, Target: "aws", Class: Violation, Src: "network.internet", Dst: "segment.web", Protocol: model.ProtocolTCP, Port: 22},
			Flows: 1, Bytes: 5, Packets: 1, First: recs[5].Time, Last: recs[5].Time, SampleSrc: "203.0.113.5", SampleDst: "10.10.1.10"},
	}
	if diff := cmp.Diff(want, s.Rows()); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	wantTotals := map[Class]uint64{Allowed: 3, Blocked: 0, WouldBlock: 0, Violation: 1, WantedButBlocked: 0, Unknown: 2}
	if diff := cmp.Diff(wantTotals, s.Totals()); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	if s.Overflow() != 0 || s.Len() != 4 {
		t.Errorf("Overflow() = %d, Len() = %d; want 0, 4", s.Overflow(), s.Len())
	}
}

func TestSummaryDayBeforeEpoch(t *testing.T) {
	s := NewSummary(10)
	at := time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC)
	r := model.FlowRecord{Time: at}
	s.Add(&r, Verdict{Class: Unknown})
	if got, want := s.Rows()[0].Day, time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("day of %v: got %v, want %v", at, got, want)
	}
}

// randomRows classifies random flows over several days and targets into a summary.
func randomFlows(n int) ([]model.FlowRecord, []Verdict) {
	rng := rand.New(rand.NewPCG(5, 6))
	p := randomPolicy(rng)
	e := New(p)
	recs := make([]model.FlowRecord, n)
	verdicts := make([]Verdict, n)
	for i := range recs {
		r := randomRecord(rng)
		r.Time = day1.Add(time.Duration(rng.IntN(3*24*3600)) * time.Second)
		r.Target = []string{"a", "b"}[rng.IntN(2)]
		r.Bytes, r.Packets = uint64(rng.IntN(1000)), uint64(rng.IntN(10))
		recs[i], verdicts[i] = r, e.Classify(&r)
	}
	return recs, verdicts
}

func TestSummaryRowsAreDeterministic(t *testing.T) {
	recs, verdicts := randomFlows(2000)
	a, b := NewSummary(0), NewSummary(0)
	for i := range recs {
		a.Add(&recs[i], verdicts[i])
	}
	// The same flows in another order give the same rows, but for which flow's
	// addresses are the sample: set those aside.
	perm := rand.New(rand.NewPCG(9, 9)).Perm(len(recs))
	for _, i := range perm {
		b.Add(&recs[i], verdicts[i])
	}
	rowsA, rowsB := a.Rows(), b.Rows()
	for i := range rowsA {
		rowsA[i].SampleSrc, rowsA[i].SampleDst = "", ""
	}
	for i := range rowsB {
		rowsB[i].SampleSrc, rowsB[i].SampleDst = "", ""
	}
	if diff := cmp.Diff(rowsA, rowsB); diff != "" {
		t.Errorf("rows depend on the order of flows (-first +second):\n%s", diff)
	}
	for i := 1; i < len(rowsA); i++ {
		if CompareKeys(rowsA[i-1].Key, rowsA[i].Key) >= 0 {
			t.Fatalf("rows %d and %d out of order: %+v, %+v", i-1, i, rowsA[i-1].Key, rowsA[i].Key)
		}
	}
	if len(rowsA) < 50 {
		t.Errorf("only %d rows: the test needs more distinct keys", len(rowsA))
	}
}

func TestSummaryOverflow(t *testing.T) {
	s := NewSummary(2)
	v := Verdict{Class: Violation, Src: "segment.a", Dst: "segment.b"}
	add := func(t time.Time, port uint16, class Class) {
		r := model.FlowRecord{Time: t, Src: ip("10.0.0.1"), Dst: ip("10.0.0.2"), DstPort: port, Protocol: model.ProtocolTCP, Bytes: 10, Packets: 1, Target: "aws"}
		v.Class = class
		s.Add(&r, v)
	}
	add(day1, 1, Violation)
	add(day1, 2, Violation) // the summary is now full
	add(day1.Add(time.Hour), 3, Violation)
	add(day1.Add(2*time.Hour), 4, Violation)
	add(day1.Add(3*time.Hour), 5, Blocked)
	add(day2, 6, Violation)
	add(day1.Add(4*time.Hour), 1, Violation) // a key already held keeps counting
	other := func(day time.Time, class Class) Key {
		return Key{Day: day, Target: "aws", Class: class, Src: Other, Dst: Other}
	}
	held := func(port uint16) Key {
		return Key{Day: day1, Target: "aws", Class: Violation, Src: "segment.a", Dst: "segment.b", Protocol: model.ProtocolTCP, Port: port}
	}
	type count struct {
		Key   Key
		Flows uint64
		Bytes uint64
	}
	var got []count
	for _, r := range s.Rows() {
		got = append(got, count{r.Key, r.Flows, r.Bytes})
	}
	// "(other)" sorts before every peer name.
	want := []count{
		{other(day1, Blocked), 1, 10},
		{other(day1, Violation), 2, 20},
		{held(1), 2, 20},
		{held(2), 1, 10},
		{other(day2, Violation), 1, 10},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if s.Overflow() != 4 {
		t.Errorf("Overflow() = %d, want 4", s.Overflow())
	}
	if got := s.Totals()[Violation]; got != 6 {
		t.Errorf("violations = %d, want 6 (overflow included)", got)
	}
	ov := s.Rows()[1]
	if !ov.First.Equal(day1.Add(time.Hour)) || !ov.Last.Equal(day1.Add(2*time.Hour)) || ov.SampleSrc != "10.0.0.1" {
		t.Errorf("overflow row span and sample: %+v", ov)
	}
}

// However many distinct keys arrive, a summary holds maxKeys rows and a few
// overflow rows per day, target and class.
func TestSummaryMemoryIsBounded(t *testing.T) {
	s := NewSummary(1000)
	for i := range 200_000 {
		r := model.FlowRecord{Time: day1, DstPort: uint16(i), Protocol: model.Protocol(i >> 16), Target: "aws"}
		s.Add(&r, Verdict{Class: Class(i % len(Classes)), Src: "segment.a", Dst: "segment.b"})
	}
	if got, max := s.Len(), 1000+len(Classes); got > max {
		t.Errorf("Len() = %d after 200,000 distinct keys; want at most %d", got, max)
	}
	if s.Overflow() != 200_000-1000 {
		t.Errorf("Overflow() = %d, want %d", s.Overflow(), 200_000-1000)
	}
}

func TestSummaryMerge(t *testing.T) {
	recs, verdicts := randomFlows(3000)
	whole := NewSummary(0)
	parts := []*Summary{NewSummary(0), NewSummary(0), NewSummary(0)}
	for i := range recs {
		whole.Add(&recs[i], verdicts[i])
		parts[i%3].Add(&recs[i], verdicts[i])
	}
	merged := NewSummary(0)
	for _, p := range parts {
		merged.Merge(p.Rows())
	}
	strip := func(rows []Row) []Row {
		for i := range rows {
			rows[i].SampleSrc, rows[i].SampleDst = "", ""
		}
		return rows
	}
	if diff := cmp.Diff(strip(whole.Rows()), strip(merged.Rows())); diff != "" {
		t.Errorf("merged rows differ from one summary of every flow (-whole +merged):\n%s", diff)
	}
	if diff := cmp.Diff(whole.Totals(), merged.Totals()); diff != "" {
		t.Errorf("totals (-whole +merged):\n%s", diff)
	}

	// Merging into a small summary folds what does not fit and keeps every flow.
	small := NewSummary(10)
	small.Merge(whole.Rows())
	if small.Len() > 10+len(Classes)*3*2 {
		t.Errorf("Len() = %d after merging %d rows into 10 keys", small.Len(), whole.Len())
	}
	var flows, overflow uint64
	for _, r := range small.Rows() {
		flows += r.Flows
		if r.Src == Other {
			overflow += r.Flows
		}
	}
	if flows != uint64(len(recs)) || overflow != small.Overflow() || overflow == 0 {
		t.Errorf("after folding: %d flows (want %d), %d in overflow rows, Overflow() = %d", flows, len(recs), overflow, small.Overflow())
	}
	// Overflow rows merged elsewhere stay overflow.
	again := NewSummary(0)
	again.Merge(small.Rows())
	if again.Overflow() != small.Overflow() {
		t.Errorf("re-merged Overflow() = %d, want %d", again.Overflow(), small.Overflow())
	}
	if diff := cmp.Diff(small.Rows(), again.Rows()); diff != "" {
		t.Errorf("re-merged rows (-before +after):\n%s", diff)
	}
}

func TestSummaryAddDoesNotAllocateForHeldKeys(t *testing.T) {
	e := New(tablePolicy())
	s := NewSummary(0)
	r := flow(day1, "203.0.113.5", "10.10.1.10", 50000, 443, 100)
	s.Add(&r, e.Classify(&r))
	if allocs := testing.AllocsPerRun(100, func() { s.Add(&r, e.Classify(&r)) }); allocs != 0 {
		t.Errorf("Classify + Add of a held key allocates %v times", allocs)
	}
}

// Keys whose hashes collide still get rows of their own.
func TestSummaryHashCollisions(t *testing.T) {
	recs, verdicts := randomFlows(2000)
	exact, colliding := NewSummary(0), NewSummary(0)
	colliding.hashMask = 0x7 // eight hashes for hundreds of keys
	for i := range recs {
		exact.Add(&recs[i], verdicts[i])
		colliding.Add(&recs[i], verdicts[i])
	}
	if diff := cmp.Diff(exact.Rows(), colliding.Rows()); diff != "" {
		t.Errorf("rows with colliding hashes (-exact +colliding):\n%s", diff)
	}
}
