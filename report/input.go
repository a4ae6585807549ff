// Package report builds the compliance report from a policy and the results history
// (audit runs, drift events, policy updates) and renders it as HTML, JSON, CSV and
// Markdown, and draws the segment graph as SVG or DOT. It is pure: the standard
// library and model only, so that the same inputs give byte-identical reports.
package report

import (
	"time"

	"github.com/microseg/microseg/model/verdict"
)

// AuditRun is one audit of one target's flow logs: which window it read, what it
// counted, and its results rolled up into rows.
type AuditRun struct {
	ID         string // unique; saving a run with the same ID again replaces it
	Target     string
	Source     string // where the flows came from: an s3:// URI, a log group, a file path
	PolicyHash string // the policy bundle the flows were judged against
	Started    time.Time
	Since      time.Time // the window read: flows from Since ...
	Until      time.Time // ... to Until
	Records    int       // flows read
	NoData     int
	SkipData   int
	Malformed  int
	Rows       []verdict.Row
}

// DriftEvent is one detection of drift on a target by a check or a reconcile loop.
type DriftEvent struct {
	ID         string // unique; saving an event with the same ID again replaces it
	Target     string
	Detected   time.Time
	Changes    int       // objects to add, change or remove to repair it
	Summary    string    // one line, as the plan summarizes it
	Remediated time.Time // zero while not remediated
}

// Finding is something a target keeps by design that an operator should know (a
// security group microseg does not manage on a member's interface, say), as
// reconcile checks saw it: from the first check that saw it to the last.
type Finding struct {
	Target, Subject, Message string
	FirstSeen, LastSeen      time.Time
}

// PolicyUpdate is one change of policy and when it was enforced everywhere.
type PolicyUpdate struct {
	PolicyHash string
	Target     string
	Submitted  time.Time // when the apply began (the plan was made)
	Enforced   time.Time // when the target was verified; zero if not (yet)
}
