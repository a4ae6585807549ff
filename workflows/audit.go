package workflows

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/verdict"
	"github.com/microseg/microseg/onprem"
	"github.com/microseg/microseg/providers"
	"github.com/microseg/microseg/report"
)

// The Audit workflow: pull every target's flow logs in parallel activities (the
// worker reads the clouds' storage, each host's agent its own NFLOG spool), judge each
// flow against the policy with the verdict engine, roll the verdicts up into rows, and
// keep them in the results history.

// AuditWorkflowID is the ID of an audit of a policy's targets (one target, or "all"):
// one audit of a target at a time.
func AuditWorkflowID(target string) string {
	if target == "" {
		target = "all"
	}
	return "audit/" + target
}

// Results is the results history: audit runs, drift events and policy updates kept
// across restarts (workflows/results implements it on SQLite and PostgreSQL).
type Results interface {
	SaveAuditRun(ctx context.Context, run report.AuditRun) error
	LastAudit(ctx context.Context, target, source string) (until time.Time, ok bool, err error)
	SaveDriftEvent(ctx context.Context, e report.DriftEvent) error
	DriftEvents(ctx context.Context, since time.Time, target string) ([]report.DriftEvent, error)
	SavePolicyUpdate(ctx context.Context, u report.PolicyUpdate) error
	SaveFindings(ctx context.Context, target string, seen time.Time, findings []report.Finding) error
}

// FlowSourceFactory opens a cloud target's flow logs as configured by its flow_logs
// block. cmd wires it with the cloud SDKs' clients.
type FlowSourceFactory func(ctx context.Context, target *model.Target) (providers.FlowSource, error)

// FlowSourceName names where a target's flow logs are read, as results record it.
func FlowSourceName(t *model.Target) string {
	fl := t.FlowLogs
	switch {
	case fl == nil:
		return ""
	case fl.S3URI != "":
		return fl.S3URI
	case fl.LogGroup != "":
		return "cloudwatch:" + fl.LogGroup
	case fl.StorageAccount != "":
		c := fl.Container
		if c == "" {
			c = "insights-logs-flowlogflowevent"
		}
		return "azure:" + fl.StorageAccount + "/" + c
	case fl.GCSURI != "":
		return fl.GCSURI
	}
	return ""
}

// HostFlowSource names a host's NFLOG spool in results.
func HostFlowSource(host string) string { return "nflog:" + host }

// AuditRequest asks for an audit of the policy in Dir (or the bundle Bundle).
type AuditRequest struct {
	Dir, Bundle string
	Target      string        // "" audits every target with flow logs
	Lookback    time.Duration // read flows from at most this long ago
	// Resume starts each source where its last stored audit ended (when that is
	// inside the lookback), so that audits run one after another never count a
	// flow twice.
	Resume bool
	// Settle, when set, is how long before now a cloud source's window ends, for
	// every cloud; nil uses each cloud's delivery delay (DeliveryDelay). Flows
	// logged later are the next audit's.
	Settle *time.Duration
}

// DeliveryDelay is how late a cloud's flow logs arrive in the worst usual case, so
// that an audit window ending that long before now has all its flows: AWS delivers
// to S3 and CloudWatch Logs within about 10 minutes, Azure appends to the hour's
// blob up to about 15 minutes late, and a Cloud Logging sink writes an hour's object
// to Cloud Storage after the hour ends. Hosts' spools are written as packets arrive.
func DeliveryDelay(kind model.TargetKind) time.Duration {
	switch kind {
	case model.KindAWS:
		return 15 * time.Minute
	case model.KindAzure:
		return 20 * time.Minute
	case model.KindGCP:
		return 75 * time.Minute
	}
	return 0
}

// AuditJob is one source of one target to audit: a cloud target's flow logs (Host
// empty, on the worker) or one host's spool (on its agent). Flows are counted in
// [Since, Until).
type AuditJob struct {
	RunID        string
	Target, Host string
	Source       string
	PolicyHash   string // the policy bundle
	Since, Until time.Time
}

// AuditPart is what one job found: its counts and, in the Store, its rows.
type AuditPart struct {
	Job      AuditJob
	Stats    providers.FlowStats
	RowsHash string            // []verdict.Row in the Store
	Totals   map[string]uint64 // flows per verdict class
	Error    string            // the job failed: why (the others still count)
}

// AuditPlan is the jobs of an audit, and the targets it skips with the reason.
type AuditPlan struct {
	PolicyHash string
	Jobs       []AuditJob
	Skipped    []string // "TARGET: why", sorted
}

// AuditResult is what the Audit workflow returns.
type AuditResult struct {
	RunID      string
	PolicyHash string
	Parts      []AuditPart
	Skipped    []string
}

// KindAuditRows is stored content: the rows of an audit job.
const KindAuditRows = "audit-rows"

// auditOptions: a job streams for as long as the logs take, heartbeating; a worker
// that dies is noticed within the heartbeat timeout and the job resumes from its
// checkpoint on another attempt.
func auditOptions(ctx workflow.Context, job AuditJob) workflow.Context {
	opts := workflow.ActivityOptions{
		TaskQueue:           TaskQueue,
		StartToCloseTimeout: 6 * time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5, InitialInterval: 2 * time.Second},
	}
	if job.Host != "" {
		opts.TaskQueue = HostQueue(job.Target, job.Host)
		opts.ScheduleToStartTimeout = 30 * time.Second
	}
	return workflow.WithActivityOptions(ctx, opts)
}

// AuditWorkflow plans the audit, runs every job in parallel, and stores the results.
// A job that fails is reported in its part; the others are stored.
func AuditWorkflow(ctx workflow.Context, req AuditRequest) (AuditResult, error) {
	var a *Activities
	var h *HostActivities
	var plan AuditPlan
	now := workflow.Now(ctx)
	if err := workflow.ExecuteActivity(workerOptions(ctx), a.PlanAudit, req, now).Get(ctx, &plan); err != nil {
		return AuditResult{}, err
	}
	runID := workflow.GetInfo(ctx).WorkflowExecution.RunID
	futures := make([]workflow.Future, len(plan.Jobs))
	for i, job := range plan.Jobs {
		job.RunID = runID
		plan.Jobs[i] = job
		if job.Host == "" {
			futures[i] = workflow.ExecuteActivity(auditOptions(ctx, job), a.AuditTarget, job)
		} else {
			futures[i] = workflow.ExecuteActivity(auditOptions(ctx, job), h.AuditHost, job)
		}
	}
	result := AuditResult{RunID: runID, PolicyHash: plan.PolicyHash, Skipped: plan.Skipped}
	var done []AuditPart
	for i, f := range futures {
		var part AuditPart
		if err := f.Get(ctx, &part); err != nil {
			hj := HostJob{Target: plan.Jobs[i].Target, Host: plan.Jobs[i].Host}
			part = AuditPart{Job: plan.Jobs[i], Error: hostError(hj, "audit", err).Error()}
		} else {
			done = append(done, part)
		}
		result.Parts = append(result.Parts, part)
	}
	if len(done) > 0 {
		if err := workflow.ExecuteActivity(workerOptions(ctx), a.SaveAudit, done, now).Get(ctx, nil); err != nil {
			return result, err
		}
	}
	return result, nil
}

// readPolicy reads the policy files of req: from the Store by bundle hash, or from
// the directory, which it then stores as a bundle.
func (a *Activities) readPolicy(ctx context.Context, req PlanRequest) (map[string][]byte, string, error) {
	sources := map[string][]byte{}
	if req.Bundle != "" {
		if err := getJSON(ctx, a.Store, KindBundle, req.Bundle, &sources); err != nil {
			return nil, "", temporal.NewNonRetryableApplicationError(err.Error(), "UnknownBundle", err)
		}
		return sources, req.Bundle, nil
	}
	names, err := filepath.Glob(filepath.Join(req.Dir, "*.hcl"))
	if err != nil || len(names) == 0 {
		return nil, "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("no policy files in %s", req.Dir), "InvalidPolicy", err)
	}
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, "", fmt.Errorf("read policy: %w", err)
		}
		sources[filepath.Base(name)] = src
	}
	hash, err := putJSON(ctx, a.Store, KindBundle, sources)
	return sources, hash, err
}

// loadBundle loads the policy stored as a bundle.
func loadBundle(ctx context.Context, store Store, hash string) (*model.Policy, error) {
	return compiledBundles.entry(hash).parsed(func() (map[string][]byte, error) {
		sources := map[string][]byte{}
		if err := getJSON(ctx, store, KindBundle, hash, &sources); err != nil {
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), "UnknownBundle", err)
		}
		return sources, nil
	})
}

func parsePolicy(sources map[string][]byte) (*model.Policy, error) {
	loaded, diags := hclload.LoadSources(sources)
	if diags.HasErrors() {
		var b strings.Builder
		hclload.WriteDiagnostics(&b, loaded.Files, diags)
		return nil, temporal.NewNonRetryableApplicationError("the policy does not load:\n"+b.String(), "InvalidPolicy", nil)
	}
	return loaded.Policy, nil
}

// PlanAudit lists the audit's jobs: every host of a hosts target (its agent's
// spool), and every cloud target with a flow_logs block. Each job's window ends at
// now (a cloud's: its delivery delay before now, so that late logs are not missed)
// and starts lookback before, or where the source's last stored audit ended.
func (a *Activities) PlanAudit(ctx context.Context, req AuditRequest, now time.Time) (AuditPlan, error) {
	sources, hash, err := a.readPolicy(ctx, PlanRequest{Dir: req.Dir, Bundle: req.Bundle})
	if err != nil {
		return AuditPlan{}, err
	}
	p, err := parsePolicy(sources)
	if err != nil {
		return AuditPlan{}, err
	}
	if req.Target != "" {
		if _, ok := p.Targets[req.Target]; !ok {
			return AuditPlan{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no target %q in the policy", req.Target), "UnknownTarget", nil)
		}
	}
	plan := AuditPlan{PolicyHash: hash}
	since := time.Time{}
	if req.Lookback > 0 {
		since = now.Add(-req.Lookback)
	}
	window := func(target, source string, until time.Time) (time.Time, error) {
		if !req.Resume || a.Results == nil {
			return since, nil
		}
		last, ok, err := a.Results.LastAudit(ctx, target, source)
		if err != nil {
			return time.Time{}, fmt.Errorf("results history: %w", err)
		}
		if ok && last.After(since) {
			// Never past the end: an empty window reads nothing.
			if last.After(until) {
				return until, nil
			}
			return last, nil
		}
		return since, nil
	}
	for _, name := range model.SortedKeys(p.Targets) {
		if req.Target != "" && name != req.Target {
			continue
		}
		t := p.Targets[name]
		if t.Kind == model.KindHosts {
			for _, host := range model.SortedKeys(t.Hosts.Hosts) {
				src := HostFlowSource(host)
				s, err := window(name, src, now)
				if err != nil {
					return AuditPlan{}, err
				}
				plan.Jobs = append(plan.Jobs, AuditJob{Target: name, Host: host, Source: src, PolicyHash: hash, Since: s, Until: now})
			}
			continue
		}
		src := FlowSourceName(t)
		switch {
		case src == "":
			plan.Skipped = append(plan.Skipped, name+": no flow_logs block")
			continue
		case a.FlowSources == nil:
			plan.Skipped = append(plan.Skipped, name+": this worker reads no cloud flow logs")
			continue
		}
		until := now.Add(-DeliveryDelay(t.Kind))
		if req.Settle != nil {
			until = now.Add(-*req.Settle)
		}
		s, err := window(name, src, until)
		if err != nil {
			return AuditPlan{}, err
		}
		plan.Jobs = append(plan.Jobs, AuditJob{Target: name, Source: src, PolicyHash: hash, Since: s, Until: until})
	}
	sort.Strings(plan.Skipped)
	return plan, nil
}

// AuditTarget reads a cloud target's flow logs.
func (a *Activities) AuditTarget(ctx context.Context, job AuditJob) (AuditPart, error) {
	p, err := loadBundle(ctx, a.Store, job.PolicyHash)
	if err != nil {
		return AuditPart{}, err
	}
	t, ok := p.Targets[job.Target]
	if !ok {
		return AuditPart{}, temporal.NewNonRetryableApplicationError("no target "+job.Target+" in the policy", "UnknownTarget", nil)
	}
	if a.FlowSources == nil {
		return AuditPart{}, temporal.NewNonRetryableApplicationError("this worker reads no cloud flow logs", "NoFlowSources", nil)
	}
	src, err := a.FlowSources(ctx, t)
	if err != nil {
		return AuditPart{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("flow logs of %s: %v", job.Target, err), "FlowSource", err)
	}
	return auditSource(ctx, a.Store, p, src, job)
}

// AuditHost reads this host's NFLOG spool (what its agent logged: drops and
// would-drops; accepted packets are not logged on hosts).
func (h *HostActivities) AuditHost(ctx context.Context, job AuditJob) (AuditPart, error) {
	if job.Target != h.Target || job.Host != h.Host {
		return AuditPart{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("job for %s/%s reached the agent of %s/%s", job.Target, job.Host, h.Target, h.Host), "WrongHost", nil)
	}
	p, err := loadBundle(ctx, h.Store, job.PolicyHash)
	if err != nil {
		return AuditPart{}, err
	}
	if h.FlowDir == "" {
		return AuditPart{}, temporal.NewNonRetryableApplicationError("this agent keeps no flow spool (started with -flows \"\")", "NoFlowSpool", nil)
	}
	src := &onprem.SpoolFlows{Dir: h.FlowDir, Target: h.Target, Host: h.Host}
	return auditSource(ctx, h.Store, p, src, job)
}

// auditProgress is an audit job's heartbeat: where it got to, and the rows and
// counts up to there, so that a new attempt (the worker died) goes on from there.
type auditProgress struct {
	Checkpoint string
	RowsHash   string
	Stats      providers.FlowStats
}

// checkpointEvery bounds how often a job stores its rows for a checkpoint: a log
// delivery of many small objects must not store the rows after each.
const checkpointEvery = 10 * time.Second

// errStopAudit is not an error: it ends a stream early.
var errStopAudit = errors.New("stop")

// auditSource streams one source through the verdict engine into a summary, with
// checkpoints when the source is resumable, and stores the rows.
func auditSource(ctx context.Context, store Store, p *model.Policy, src providers.FlowSource, job AuditJob) (AuditPart, error) {
	// Records without a time count at the last instant of the window.
	undated := time.Now().UTC()
	if !job.Until.IsZero() {
		undated = job.Until.Add(-time.Nanosecond)
	}
	sum := NewSourceAudit(p, job.Until, undated)
	var prog auditProgress
	inActivity := activity.IsActivity(ctx)
	if inActivity && activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &prog); err == nil && prog.RowsHash != "" {
			var rows []verdict.Row
			if err := getJSON(ctx, store, KindAuditRows, prog.RowsHash, &rows); err != nil {
				return AuditPart{}, err
			}
			sum.Merge(rows)
		}
	}
	base := prog.Stats
	lastBeat, lastCheckpoint := time.Now(), time.Now()
	fn := func(rec model.FlowRecord) error {
		if !sum.Add(&rec) {
			return nil // the next audit's
		}
		if sum.Records&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if inActivity && time.Since(lastBeat) > 5*time.Second {
				activity.RecordHeartbeat(ctx, prog)
				lastBeat = time.Now()
			}
		}
		return nil
	}
	var stats providers.FlowStats
	var err error
	if rs, ok := src.(providers.ResumableFlowSource); ok && inActivity {
		stats, err = rs.FlowsAfter(ctx, job.Since, prog.Checkpoint, fn, func(object string) error {
			if time.Since(lastCheckpoint) < checkpointEvery {
				return nil
			}
			hash, err := putJSON(ctx, store, KindAuditRows, sum.Rows())
			if err != nil {
				return err
			}
			next := base
			next.Records += sum.Records
			prog = auditProgress{Checkpoint: object, RowsHash: hash, Stats: next}
			activity.RecordHeartbeat(ctx, prog)
			lastCheckpoint, lastBeat = time.Now(), time.Now()
			return nil
		})
	} else {
		stats, err = src.Flows(ctx, job.Since, fn)
	}
	if err != nil {
		return AuditPart{}, fmt.Errorf("read %s: %w", job.Source, err)
	}
	// Records counted only those before Until; the source's count includes the rest.
	stats.Records = sum.Records
	stats.Add(base)
	rows := sum.Rows()
	hash, err := putJSON(ctx, store, KindAuditRows, rows)
	if err != nil {
		return AuditPart{}, err
	}
	part := AuditPart{Job: job, Stats: stats, RowsHash: hash, Totals: map[string]uint64{}}
	for _, r := range rows {
		part.Totals[r.Class.String()] += r.Flows
	}
	return part, nil
}

// SaveAudit stores the audit's parts in the results history, one run per job.
func (a *Activities) SaveAudit(ctx context.Context, parts []AuditPart, started time.Time) error {
	if a.Results == nil {
		return nil
	}
	for _, part := range parts {
		var rows []verdict.Row
		if err := getJSON(ctx, a.Store, KindAuditRows, part.RowsHash, &rows); err != nil {
			return err
		}
		j := part.Job
		id := j.RunID + "/" + j.Target
		if j.Host != "" {
			id += "/" + j.Host
		}
		run := AuditRunOf(RunMeta{ID: id, Target: j.Target, Source: j.Source, PolicyHash: j.PolicyHash,
			Started: started, Since: j.Since, Until: j.Until}, part.Stats, rows)
		if err := a.Results.SaveAuditRun(ctx, run); err != nil {
			return fmt.Errorf("results history: %w", err)
		}
	}
	return nil
}
