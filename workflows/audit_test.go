package workflows

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/verdict"
	"github.com/microseg/microseg/onprem"
	"github.com/microseg/microseg/providers"
	"github.com/microseg/microseg/providers/aws"
	"github.com/microseg/microseg/providers/flowfiles"
	"github.com/microseg/microseg/workflows/results"
)

// auditPolicy: one host (web-01, 10.1.0.11) in an enforcing hosts target, and an AWS
// target whose app segment (10.2.0.0/24) is in audit mode, its db (10.2.1.0/24)
// enforcing; web may reach app on 8080 and app db on 5432.
const auditPolicy = `
target "hosts" "dc" {
  management_cidrs = ["10.9.0.0/24"]
  flow_logs { nflog_group = 42 }
  host "web-01" { address = "10.1.0.11" }
}
target "aws" "prod" {
  region = "us-east-1"
  vpc_id = "vpc-1"
  flow_logs { s3_uri = "s3://logs/AWSLogs/" }
}
service "app" { ports = ["tcp/8080"] }
service "postgres" { ports = ["tcp/5432"] }
segment "web" {
  target = target.hosts.dc
  members { hosts = ["web-01"] }
  cidrs  = ["10.1.0.11/32"]
}
segment "app" {
  target = target.aws.prod
  members { tags = { tier = "app" } }
  cidrs  = ["10.2.0.0/24"]
  mode   = "audit"
}
segment "db" {
  target = target.aws.prod
  members { tags = { tier = "db" } }
  cidrs  = ["10.2.1.0/24"]
}
allow "web-to-app" {
  from     = [segment.web]
  to       = [segment.app]
  services = [service.app]
}
allow "app-to-db" {
  from     = [segment.app]
  to       = [segment.db]
  services = [service.postgres]
}
`

const awsHeader = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"

type auditFixture struct {
	dir, logs, spool string
	acts             *Activities
	host             *HostActivities
	db               *results.DB
	now              time.Time
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	f := &auditFixture{dir: t.TempDir(), logs: t.TempDir(), spool: t.TempDir()}
	if err := os.WriteFile(filepath.Join(f.dir, "policy.hcl"), []byte(auditPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	f.now = time.Now().UTC().Truncate(time.Second)
	at := func(ago time.Duration) string { return itoa(f.now.Add(-ago).Unix()) }
	// Two objects, as S3 delivery makes them: app -> db allowed, its reply, db ->
	// app on 22 (denied; db enforces, accepted: a violation), app -> db on 22
	// rejected (blocked), web -> db 5432 accepted by the cloud (the db enforces: a
	// violation), an hour old.
	obj1 := awsHeader +
		"2 1 eni-a 10.2.0.5 10.2.1.7 40001 5432 6 10 840 " + at(50*time.Minute) + " " + at(49*time.Minute) + " ACCEPT OK\n" +
		"2 1 eni-b 10.2.1.7 10.2.0.5 5432 40001 6 10 840 " + at(50*time.Minute) + " " + at(49*time.Minute) + " ACCEPT OK\n" +
		"2 1 eni-b 10.2.0.5 10.2.1.7 40002 22 6 1 60 " + at(48*time.Minute) + " " + at(47*time.Minute) + " REJECT OK\n"
	obj2 := awsHeader +
		"2 1 eni-b 10.1.0.11 10.2.1.7 40003 5432 6 3 180 " + at(20*time.Minute) + " " + at(19*time.Minute) + " ACCEPT OK\n" +
		"2 1 eni-b 10.2.1.7 10.2.0.5 40004 22 6 3 180 " + at(10*time.Minute) + " " + at(9*time.Minute) + " ACCEPT OK\n" +
		"2 1 eni-a 10.2.1.7 10.2.0.5 40005 9999 6 3 180 " + at(2*time.Hour) + " " + at(2*time.Hour) + " ACCEPT OK\n"
	os.WriteFile(filepath.Join(f.logs, "1.log"), []byte(obj1), 0o644)
	os.WriteFile(filepath.Join(f.logs, "2.log"), []byte(obj2), 0o644)
	// The host's agent spooled web-01 dropping a packet to the db: blocked.
	sp, err := onprem.OpenFlowSpool(f.spool, 0)
	if err != nil {
		t.Fatal(err)
	}
	sp.Write(model.FlowRecord{Time: f.now.Add(-5 * time.Minute), Src: netip.MustParseAddr("10.1.0.11"), Dst: netip.MustParseAddr("10.2.1.7"),
		SrcPort: 40010, DstPort: 5432, Protocol: model.ProtocolTCP, Bytes: 60, Packets: 1, Action: model.FlowDrop})
	sp.Close()
	f.db, err = results.Open(context.Background(), filepath.Join(t.TempDir(), "results.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	store := DirStore{Dir: t.TempDir()}
	f.acts = &Activities{Store: store, Results: f.db, FlowSources: func(_ context.Context, tg *model.Target) (providers.FlowSource, error) {
		return &flowfiles.Files{Path: f.logs, Decode: aws.DecodeFlowLog, Target: tg.Name, Format: "aws"}, nil
	}}
	f.host = &HostActivities{Target: "dc", Host: "web-01", Store: store, FlowDir: f.spool}
	return f
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (f *auditFixture) run(t *testing.T, req AuditRequest) AuditResult {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(f.now)
	env.RegisterActivity(f.acts)
	env.RegisterActivity(f.host)
	env.ExecuteWorkflow(AuditWorkflow, req)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res AuditResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestAuditWorkflow audits a hosts target's spool and a cloud target's logs in
// parallel, classifies every flow, stores one run per source in the results history,
// and a second audit right after reads nothing twice.
func TestAuditWorkflow(t *testing.T) {
	f := newAuditFixture(t)
	res := f.run(t, AuditRequest{Dir: f.dir, Lookback: time.Hour, Resume: true})
	if len(res.Parts) != 2 {
		t.Fatalf("parts %+v", res.Parts)
	}
	want := map[string]map[string]uint64{
		// The 2-hour-old record is outside the hour; the 10-minute-old one is within
		// AWS's delivery delay, left for the next audit.
		"prod": {"allowed": 2, "blocked": 1, "violation": 1},
		"dc":   {"blocked": 1},
	}
	for _, p := range res.Parts {
		if p.Error != "" {
			t.Fatalf("%s: %s", p.Job.Target, p.Error)
		}
		for class, n := range want[p.Job.Target] {
			if p.Totals[class] != n {
				t.Errorf("%s %s = %d, want %d (totals %v)", p.Job.Target, class, p.Totals[class], n, p.Totals)
			}
		}
	}
	runs, err := f.db.AuditRuns(context.Background(), time.Time{}, "")
	if err != nil || len(runs) != 2 {
		t.Fatalf("stored runs %d, %v", len(runs), err)
	}
	for _, r := range runs {
		if r.Target == "prod" {
			if r.Source != "s3://logs/AWSLogs/" || r.Records != 4 || !r.Until.Equal(f.now.Add(-DeliveryDelay(model.KindAWS))) {
				t.Errorf("prod run %+v", r)
			}
			var violation verdict.Row
			for _, row := range r.Rows {
				if row.Class == verdict.Violation && row.Dst == "segment.db" && row.Port == 5432 {
					violation = row
				}
			}
			if violation.Src != "segment.web" || violation.SampleSrc != "10.1.0.11" {
				t.Errorf("web -> db violation row %+v", violation)
			}
		}
		if r.Target == "dc" && (r.Source != "nflog:web-01" || r.Records != 1) {
			t.Errorf("dc run %+v", r)
		}
	}

	// Audits one after another: the next starts where the last ended.
	f.now = f.now.Add(time.Minute)
	res = f.run(t, AuditRequest{Dir: f.dir, Lookback: time.Hour, Resume: true})
	for _, p := range res.Parts {
		if p.Stats.Records != 0 {
			t.Errorf("second audit of %s read %d flows again", p.Job.Target, p.Stats.Records)
		}
	}
	// Once the delivery delay has passed, the held-back flow is counted, once.
	f.now = f.now.Add(20 * time.Minute)
	res = f.run(t, AuditRequest{Dir: f.dir, Lookback: time.Hour, Resume: true})
	for _, p := range res.Parts {
		if p.Job.Target == "prod" && (p.Stats.Records != 1 || p.Totals["violation"] != 1) {
			t.Errorf("third audit of prod: %d records, totals %v; want the one held back, a violation", p.Stats.Records, p.Totals)
		}
	}
	// Settle 0 ends the window now.
	zero := time.Duration(0)
	res = f.run(t, AuditRequest{Dir: f.dir, Lookback: 2 * time.Hour, Settle: &zero})
	for _, p := range res.Parts {
		if p.Job.Target == "prod" && (p.Stats.Records != 5 || !p.Job.Until.Equal(f.now)) {
			t.Errorf("settle 0: prod read %d records until %v; want 5 until now", p.Stats.Records, p.Job.Until)
		}
	}
	// -rescan reads the window again.
	res = f.run(t, AuditRequest{Dir: f.dir, Lookback: time.Hour})
	for _, p := range res.Parts {
		if p.Stats.Records == 0 {
			t.Errorf("rescan of %s read nothing", p.Job.Target)
		}
	}
}

// TestAuditTargetResumes: an attempt that starts with the heartbeat of an earlier
// one (the worker died after the first object) reads only the rest, and ends with
// the same rows as a run without interruption.
func TestAuditTargetResumes(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	plan, err := f.acts.PlanAudit(ctx, AuditRequest{Dir: f.dir, Target: "prod", Lookback: 3 * time.Hour}, f.now)
	if err != nil || len(plan.Jobs) != 1 {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	job := plan.Jobs[0]
	var s testsuite.WorkflowTestSuite
	full := s.NewTestActivityEnvironment()
	full.RegisterActivity(f.acts)
	v, err := full.ExecuteActivity(f.acts.AuditTarget, job)
	if err != nil {
		t.Fatal(err)
	}
	var whole AuditPart
	v.Get(&whole)

	// What the first attempt had heartbeat after 1.log.
	p, _ := loadBundle(ctx, f.acts.Store, job.PolicyHash)
	engine, sum := verdict.New(p), verdict.NewSummary(MaxAuditKeys)
	first := &flowfiles.Files{Path: filepath.Join(f.logs, "1.log"), Decode: aws.DecodeFlowLog, Target: "prod", Format: "aws"}
	stats, err := first.Flows(ctx, job.Since, func(r model.FlowRecord) error { sum.Add(&r, engine.Classify(&r)); return nil })
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := putJSON(ctx, f.acts.Store, KindAuditRows, sum.Rows())
	resumed := s.NewTestActivityEnvironment()
	resumed.RegisterActivity(f.acts)
	resumed.SetHeartbeatDetails(auditProgress{Checkpoint: "1.log", RowsHash: hash, Stats: providers.FlowStats{Records: stats.Records}})
	read := 0
	f.acts.FlowSources = func(_ context.Context, tg *model.Target) (providers.FlowSource, error) {
		return &countingSource{&flowfiles.Files{Path: f.logs, Decode: aws.DecodeFlowLog, Target: tg.Name, Format: "aws"}, &read}, nil
	}
	v, err = resumed.ExecuteActivity(f.acts.AuditTarget, job)
	if err != nil {
		t.Fatal(err)
	}
	var part AuditPart
	v.Get(&part)
	if read != 3 {
		t.Errorf("the resumed attempt read %d records, want only 2.log's 3", read)
	}
	if part.RowsHash != whole.RowsHash || part.Stats.Records != whole.Stats.Records {
		t.Errorf("resumed: %d records, rows %.12s; uninterrupted: %d records, rows %.12s", part.Stats.Records, part.RowsHash, whole.Stats.Records, whole.RowsHash)
	}
}

// countingSource counts the records a resumable source hands out.
type countingSource struct {
	*flowfiles.Files
	n *int
}

func (c *countingSource) FlowsAfter(ctx context.Context, since time.Time, after string, fn func(model.FlowRecord) error, done func(string) error) (providers.FlowStats, error) {
	return c.Files.FlowsAfter(ctx, since, after, func(r model.FlowRecord) error { *c.n++; return fn(r) }, done)
}
