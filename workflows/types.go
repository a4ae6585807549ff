package workflows

import (
	"fmt"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/onprem"
)

// TaskQueue is the queue of the microseg worker, which loads and compiles policies.
const TaskQueue = "microseg"

// HostQueue is the task queue of the agent of one host.
func HostQueue(target, host string) string { return fmt.Sprintf("host/%s/%s", target, host) }

// PlanRequest asks for a plan of a policy, for one target or all: the policy in Dir,
// or the bundle stored under Bundle (a hash a previous plan printed).
type PlanRequest struct {
	Dir    string
	Bundle string
	Target string // "" for every target
}

// PolicyRef is a loaded policy: the hash of its bundle (its files, in the Store) and
// every job it implies: one per host of its hosts targets, one per cloud target.
type PolicyRef struct {
	Hash   string
	Jobs   []HostJob  // hosts, sorted by target, host
	Clouds []CloudJob `json:",omitempty"` // cloud targets, sorted by name
	// Unplanned names the targets this version cannot plan yet (clouds), as
	// KIND.NAME, sorted.
	Unplanned []string
}

// HostJob is what one host must enforce, run by the host's agent: its target's
// compiled state by hash in the Store (StateHash), from which the agent derives its
// own share. PolicyHash is the host's own policy, which agents of the previous
// version read (so that agents and workers can be upgraded one after the other). (Jobs recorded before CloudJob existed carried cloud targets as
// HostJobs without a Host; they are run as cloud jobs.)
type HostJob struct {
	Target     string
	Host       string
	PolicyHash string
	StateHash  string `json:",omitempty"`
	// Audit forces every segment of the host, or of the cloud target, into audit
	// mode (break-glass).
	Audit bool
}

// CloudJob is what one cloud target must enforce, run by the worker through the
// target's provider: its compiled state by hash (StateHash) and the policy bundle
// (PolicyHash) whose name the provider marks what it writes with.
type CloudJob struct {
	Target     string
	Kind       model.TargetKind
	PolicyHash string
	StateHash  string `json:",omitempty"`
	// Audit forces every segment of the target into audit mode (break-glass).
	Audit bool
}

// CloudPlan is the plan of one cloud target.
type CloudPlan struct {
	Target              string
	Kind                model.TargetKind
	Add, Change, Remove int
	TextHash            string // the rendered plan, in the Store
	Observed            string // digest of what was observed: Apply refuses a plan whose target changed since
	// Findings are what the target keeps by design but an operator should know
	// (a foreign security group on a member's interface): never counted as changes.
	Findings []model.Finding `json:",omitempty"`
}

// CloudApplied is the outcome on one cloud target.
type CloudApplied struct {
	Target   string
	Changes  int  // the plan's changes carried out
	Verified bool // observed again after the change: no difference left
	// Remaining is the verifying plan, in the Store, when it was not empty.
	Remaining string `json:",omitempty"`
}

// HostPlan is the plan of one host.
type HostPlan struct {
	Target, Host        string
	Add, Change, Remove int
	TextHash            string // the rendered plan, in the Store
	Observed            string // digest of what was observed: Apply refuses a plan whose host changed since
}

// Plan is the result of the Plan workflow.
type Plan struct {
	PolicyHash string
	Created    time.Time
	Hosts      []HostPlan
	Clouds     []CloudPlan `json:",omitempty"`
	Jobs       []HostJob   // what the plan would apply, host by host
	CloudJobs  []CloudJob  `json:",omitempty"` // and cloud target by cloud target
	Unplanned  []string    // targets without a provider in this version
}

// Counts adds up the plan's changes.
func (p *Plan) Counts() (add, change, remove int) {
	for _, h := range p.Hosts {
		add, change, remove = add+h.Add, change+h.Change, remove+h.Remove
	}
	for _, c := range p.Clouds {
		add, change, remove = add+c.Add, change+c.Change, remove+c.Remove
	}
	return
}

// ApplyRequest applies a plan.
type ApplyRequest struct {
	Plan        Plan
	Jobs        []HostJob
	Clouds      []CloudJob `json:",omitempty"`
	AutoApprove bool
	// ConfirmTimeout bounds how long a host keeps a change the workflow has not
	// confirmed; 0 means onprem.DefaultConfirmTimeout.
	ConfirmTimeout time.Duration
}

// ApplyResult says what an apply did, host by host and cloud target by cloud target.
type ApplyResult struct {
	Hosts    []HostApplied
	Clouds   []CloudApplied `json:",omitempty"`
	Approved string         // "auto", "signal", or "" when nothing needed approval
}

// HostApplied is the outcome on one host.
type HostApplied struct {
	Target, Host string
	Stats        onprem.ApplyStats
	Changes      int  // only in histories from before CloudApplied
	Verified     bool // observed again after the change: no difference left
	// Remaining is the verifying plan, in the Store, when it was not empty: what
	// is still different after the apply.
	Remaining string `json:",omitempty"`
}

// ApplyWorkflowID is the ID of the apply of a target, manual or remediation: the lock
// that keeps two applies from racing on it.
func ApplyWorkflowID(target string) string { return "apply/" + target }

// ApproveSignal is the signal that lets an apply that removes something go ahead.
const ApproveSignal = "approve"

// StatusQuery is the query an apply answers with its state.
const StatusQuery = "status"

// WorkflowRegistry is where workflows are registered: a worker, or a replayer in
// tests.
type WorkflowRegistry interface {
	RegisterWorkflow(w interface{})
}

// RegisterWorkflows registers every workflow the microseg worker runs, so that the
// worker and the replay tests register the same set.
func RegisterWorkflows(r WorkflowRegistry) {
	r.RegisterWorkflow(PlanWorkflow)
	r.RegisterWorkflow(ApplyWorkflow)
	r.RegisterWorkflow(ReconcileWorkflow)
	r.RegisterWorkflow(CheckWorkflow)
	r.RegisterWorkflow(AuditWorkflow)
}
