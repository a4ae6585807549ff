package workflows

import (
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/verdict"
	"github.com/microseg/microseg/providers"
	"github.com/microseg/microseg/report"
)

// MaxAuditKeys bounds the rows the audit of one source keeps in memory (and sends):
// beyond it, flows fold into per-class "(other)" rows.
const MaxAuditKeys = 20000

// SourceAudit is the audit of one flow source: each record it reads classified
// against the policy and rolled up into rows, and the run record made of them. The
// Audit workflow and `microseg audit -flows` both audit through it, so that a file
// and a bucket of the same logs give the same figures.
type SourceAudit struct {
	classifier *verdict.Classifier
	summary    *verdict.Summary
	until      time.Time
	undated    time.Time
	// Records is how many records were counted; First and Last are the earliest
	// and latest of their times.
	Records     int
	First, Last time.Time
}

// NewSourceAudit starts the audit of one source against p. Records at or after until
// (when set) belong to the next audit and are not counted. A record without a time
// (a conntrack -L dump) was seen when it was exported, at the latest: it counts at
// undated rather than in year 1.
func NewSourceAudit(p *model.Policy, until, undated time.Time) *SourceAudit {
	return &SourceAudit{classifier: verdict.New(p).NewClassifier(), summary: verdict.NewSummary(MaxAuditKeys), until: until, undated: undated}
}

// Add classifies and counts one record, and reports whether it was counted.
func (s *SourceAudit) Add(rec *model.FlowRecord) bool {
	if !s.until.IsZero() && !rec.Time.Before(s.until) {
		return false
	}
	if rec.Time.IsZero() {
		rec.Time = s.undated
	}
	s.summary.Add(rec, s.classifier.Classify(rec))
	s.Records++
	if s.First.IsZero() || rec.Time.Before(s.First) {
		s.First = rec.Time
	}
	if rec.Time.After(s.Last) {
		s.Last = rec.Time
	}
	return true
}

// Merge adds rows an earlier attempt of the same audit rolled up (from its
// checkpoint), so that a resumed audit counts them once.
func (s *SourceAudit) Merge(rows []verdict.Row) { s.summary.Merge(rows) }

// Rows are the rolled-up rows so far.
func (s *SourceAudit) Rows() []verdict.Row { return s.summary.Rows() }

// RunMeta says which run an audit of one source is, for its record.
type RunMeta struct {
	ID, Target, Source, PolicyHash string
	Started, Since, Until          time.Time
}

// AuditRunOf is the run record of one source's audit: its rows and the source's
// counters.
func AuditRunOf(m RunMeta, stats providers.FlowStats, rows []verdict.Row) report.AuditRun {
	return report.AuditRun{
		ID: m.ID, Target: m.Target, Source: m.Source, PolicyHash: m.PolicyHash,
		Started: m.Started, Since: m.Since, Until: m.Until,
		Records: stats.Records, NoData: stats.NoData, SkipData: stats.SkipData, Malformed: stats.Malformed,
		Rows: rows,
	}
}
