package report

import (
	"time"
)

// Inputs is everything a report is built from besides the policy: its name, the
// window it covers, and the results history of that window.
type Inputs struct {
	// PolicyName names the policy in the header (a directory or repository name).
	PolicyName string
	// Now is when the report is made: the end of the window and the date expiry is
	// judged against. Zero means the current time; set it for reproducible output.
	Now time.Time
	// Since is the start of the window. Zero means 90 days before Now.
	Since time.Time
	// Runs are the audit runs; rows count when their day falls in the window, and a
	// run's counters (flows read, malformed) when its window overlaps the report's.
	// Two runs with one ID are one run: the later in the slice wins, as in the store.
	Runs []AuditRun
	// Drift events count when they were open at some point in the window.
	Drift []DriftEvent
	// Updates count when their rollout was under way at some point in the window.
	Updates []PolicyUpdate
	// Findings count when they were seen at some point in the window.
	Findings []Finding
}

// DefaultWindow is the window a report covers when Inputs.Since is zero.
const DefaultWindow = 90 * 24 * time.Hour

// ExpiryWindow is how soon an allow's expiry makes it "expiring", as in lint.
const ExpiryWindow = 30 * 24 * time.Hour

// Report is the compliance report: every section, computed once by Build, so that
// each renderer (HTML, JSON, CSV, Markdown, SVG, DOT) shows the same figures. Every
// field is exported and tagged so that the JSON form is the whole report and a report
// read back from JSON renders the same; report.schema.json documents it.
type Report struct {
	Header        Header              `json:"header"`
	Summary       []string            `json:"summary"`
	Coverage      Coverage            `json:"coverage"`
	Weekly        []Week              `json:"weekly"`
	WouldBlock    []WouldBlockSegment `json:"would_block"`
	Violations    []FlowEntry         `json:"violations"`
	Outages       []FlowEntry         `json:"outages"`
	Drift         DriftSection        `json:"drift"`
	Findings      []FindingEntry      `json:"findings"`
	PolicyUpdates UpdateSection       `json:"policy_updates"`
	BlastRadius   []BlastEntry        `json:"blast_radius"`
	Allows        []AllowEntry        `json:"allows"`
	Graph         Graph               `json:"graph"`
	PCI           PCISection          `json:"pci"`
}

// Header says what the report covers and how much flow data it read.
type Header struct {
	Policy      string      `json:"policy"`
	Generated   time.Time   `json:"generated"`
	WindowStart time.Time   `json:"window_start"`
	WindowEnd   time.Time   `json:"window_end"`
	Totals      ClassCounts `json:"totals"`        // flows per verdict class over the window
	FlowsRead   int         `json:"flows_read"`    // records the runs read
	Malformed   int         `json:"malformed"`     // records that could not be parsed
	NoData      int         `json:"no_data"`       // log entries that carried no flow (NODATA)
	SkipData    int         `json:"skip_data"`     // log entries the source skipped (SKIPDATA)
	AuditRuns   []RunEntry  `json:"audit_runs"`    // the runs read, by start time
	Segments    int         `json:"segments"`      // segments in the policy
	AllowsCount int         `json:"allows"`        // allows in the policy
	Targets     []string    `json:"targets"`       // target names, sorted
	HasFlowData bool        `json:"has_flow_data"` // whether any audit run falls in the window
}

// RunEntry is one audit run as the header lists it: where its evidence came from.
type RunEntry struct {
	ID          string    `json:"id"`
	Target      string    `json:"target"`
	Source      string    `json:"source"`
	PolicyHash  string    `json:"policy_hash"`
	Started     time.Time `json:"started"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Records     int       `json:"records"`
	Malformed   int       `json:"malformed"`
}

// ClassCounts is a number of flows per verdict class.
type ClassCounts struct {
	Allowed          uint64 `json:"allowed"`
	Blocked          uint64 `json:"blocked"`
	WouldBlock       uint64 `json:"would_block"`
	Violation        uint64 `json:"violation"`
	WantedButBlocked uint64 `json:"wanted_but_blocked"`
	Unknown          uint64 `json:"unknown"`
}

// Total is the sum over every class.
func (c ClassCounts) Total() uint64 {
	return c.Allowed + c.Blocked + c.WouldBlock + c.Violation + c.WantedButBlocked + c.Unknown
}

// Coverage is segmentation coverage: the share of workloads under enforcement.
type Coverage struct {
	Workloads int              `json:"workloads"`
	Enforced  int              `json:"enforced"`
	Audit     int              `json:"audit"`
	Uncovered int              `json:"uncovered"`
	Percent   float64          `json:"percent"` // enforced / workloads, 0-100, one decimal
	Targets   []TargetCoverage `json:"targets"`
}

// TargetCoverage is coverage on one target. On a hosts target the workloads are its
// hosts: a host is enforced when every segment it belongs to enforces, and uncovered
// when it belongs to none. On a cloud target microseg cannot list instances from the
// policy alone, so the workloads are its segments, enforced or in audit.
type TargetCoverage struct {
	Target    string         `json:"target"`
	Kind      string         `json:"kind"`
	Unit      string         `json:"unit"` // "host" or "segment"
	Workloads int            `json:"workloads"`
	Enforced  int            `json:"enforced"`
	Audit     int            `json:"audit"`
	Uncovered int            `json:"uncovered"`
	Percent   float64        `json:"percent"`
	Items     []CoverageItem `json:"items"`
}

// CoverageItem is one workload (a host or a segment) and its state.
type CoverageItem struct {
	Name     string   `json:"name"`
	State    string   `json:"state"`    // "enforce", "audit" or "uncovered"
	Segments []string `json:"segments"` // the segments it belongs to (a segment: itself)
}

// Week is one ISO week (Monday 00:00 UTC) of the window and its flows per class.
type Week struct {
	Start   time.Time   `json:"start"`
	ISOWeek string      `json:"iso_week"` // "2026-W14"
	Flows   ClassCounts `json:"flows"`
}

// WouldBlockSegment is one audit-mode segment: what enforcing it would block, and
// whether it is ready to enforce.
type WouldBlockSegment struct {
	Segment  string           `json:"segment"`
	Target   string           `json:"target"`
	Decision string           `json:"decision"` // "go" or "no-go"
	Reason   string           `json:"reason"`
	Flows    uint64           `json:"flows"`    // would-block flows in the window
	Observed uint64           `json:"observed"` // every flow to or from the segment in the window
	Items    []WouldBlockFlow `json:"items"`
}

// WouldBlockFlow is one kind of traffic enforcement would block at a segment.
type WouldBlockFlow struct {
	Direction  string    `json:"direction"` // "inbound" or "outbound", seen from the segment
	Peer       string    `json:"peer"`      // "segment.x", "network.y", or "" for an address in neither
	Protocol   string    `json:"protocol"`
	Port       uint16    `json:"port"`
	Flows      uint64    `json:"flows"`
	Bytes      uint64    `json:"bytes"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
	SampleSrc  string    `json:"sample_src"`
	SampleDst  string    `json:"sample_dst"`
	Suggestion string    `json:"suggestion"` // what to allow or fix before enforcing
}

// FlowEntry is one kind of flow over the window (rows of all days summed): a
// violation or an outage.
type FlowEntry struct {
	Target    string    `json:"target"`
	Src       string    `json:"src"`
	Dst       string    `json:"dst"`
	Protocol  string    `json:"protocol"`
	Port      uint16    `json:"port"`
	Allow     string    `json:"allow"`   // for outages: the allow that permits the flow
	Service   string    `json:"service"` // for outages: its service
	Flows     uint64    `json:"flows"`
	Bytes     uint64    `json:"bytes"`
	Packets   uint64    `json:"packets"`
	Days      int       `json:"days"` // days on which it was seen
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	SampleSrc string    `json:"sample_src"`
	SampleDst string    `json:"sample_dst"`
}

// DriftSection is the drift history of the window and how fast it was repaired.
type DriftSection struct {
	Events     []DriftEntry `json:"events"`
	Remediated int          `json:"remediated"`
	Open       int          `json:"open"`
	// MedianSeconds and MaxSeconds are times to remediate, over remediated events
	// only; 0 when none was remediated.
	MedianSeconds int64 `json:"median_seconds"`
	MaxSeconds    int64 `json:"max_seconds"`
}

// FindingEntry is one finding: what a target keeps by design but an operator
// should know, never counted as drift.
type FindingEntry struct {
	Target    string    `json:"target"`
	Subject   string    `json:"subject"`
	Message   string    `json:"message"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// DriftEntry is one drift event.
type DriftEntry struct {
	ID         string     `json:"id"`
	Target     string     `json:"target"`
	Detected   time.Time  `json:"detected"`
	Remediated *time.Time `json:"remediated"` // null while open
	Open       bool       `json:"open"`
	// Seconds is the time to remediate, or for an open event the time it has been
	// open at the end of the window.
	Seconds int64  `json:"seconds"`
	Changes int    `json:"changes"`
	Summary string `json:"summary"`
}

// UpdateSection is how long policy changes took to be enforced everywhere.
type UpdateSection struct {
	Rollouts []Rollout `json:"rollouts"`
	Complete int       `json:"complete"`
	Pending  int       `json:"pending"`
	// MedianSeconds and MaxSeconds are over complete rollouts; 0 when none.
	MedianSeconds int64 `json:"median_seconds"`
	MaxSeconds    int64 `json:"max_seconds"`
}

// Rollout is one policy version (by hash) from its first submission to the last
// target that enforces it.
type Rollout struct {
	PolicyHash string          `json:"policy_hash"`
	Submitted  time.Time       `json:"submitted"`
	Enforced   *time.Time      `json:"enforced"` // null until every target enforces it
	Pending    bool            `json:"pending"`
	Seconds    int64           `json:"seconds"` // to enforced everywhere, or so far when pending
	Targets    []RolloutTarget `json:"targets"`
}

// RolloutTarget is one target's part of a rollout.
type RolloutTarget struct {
	Target    string     `json:"target"`
	Submitted time.Time  `json:"submitted"`
	Enforced  *time.Time `json:"enforced"`
	Seconds   int64      `json:"seconds"`
}

// BlastEntry is the blast radius of one segment: what a compromised member can
// reach through the allows, directly or transitively (analysis.BlastRadius).
type BlastEntry struct {
	Segment  string   `json:"segment"`
	CDE      bool     `json:"cde"`
	Segments int      `json:"segments"`
	Networks int      `json:"networks"`
	MaxHops  int      `json:"max_hops"`
	Reached  []string `json:"reached"` // by hops, then segments before networks, then name
}

// AllowEntry is one allow: what it permits, who owns it, when it expires, and how
// much it was used in the window.
type AllowEntry struct {
	Name        string   `json:"name"`
	From        []string `json:"from"`
	To          []string `json:"to"`
	Services    []string `json:"services"`
	Ports       []string `json:"ports"`
	Owner       string   `json:"owner"`
	Ticket      string   `json:"ticket"`
	Description string   `json:"description"`
	Source      string   `json:"source"`  // "allows.hcl:12", or "" for a policy built in code
	Expires     string   `json:"expires"` // "2027-06-30", or "" for never
	// ExpiryStatus is "ok", "expiring" (within 30 days), "expired" or "no expiry".
	ExpiryStatus  string `json:"expiry_status"`
	DaysToExpiry  int    `json:"days_to_expiry"` // negative when expired; 0 without expiry
	ObservedFlows uint64 `json:"observed_flows"` // allowed flows that matched it in the window
	Unused        bool   `json:"unused"`         // no flow matched it, and the window has flow data
}

// Expiry statuses of an allow.
const (
	ExpiryOK       = "ok"
	ExpiryExpiring = "expiring"
	ExpiryExpired  = "expired"
	ExpiryNone     = "no expiry"
)

// Decisions for enforcing an audit-mode segment.
const (
	DecisionGo   = "go"
	DecisionNoGo = "no-go"
)
