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
// every host job it implies.
type PolicyRef struct {
	Hash string
	Jobs []HostJob // sorted by target, host
	// Unplanned names the targets this version cannot plan yet (clouds), as
	// KIND.NAME, sorted.
	Unplanned []string
}

// HostJob is what one host must enforce: its compiled policy, by hash in the Store.
// A job with no Host is a cloud target, planned and applied by the worker through
// its provider; its PolicyHash is the policy bundle's, and StateHash the target's
// compiled state (jobs from before it was stored have none: the bundle is compiled).
type HostJob struct {
	Target     string
	Host       string
	PolicyHash string
	StateHash  string `json:",omitempty"`
	// Audit forces every segment of the host, or of the cloud target, into audit
	// mode (break-glass).
	Audit bool
}

// HostPlan is the plan of one host.
type HostPlan struct {
	Target, Host        string
	Add, Change, Remove int
	TextHash            string // the rendered plan, in the Store
	Observed            string // digest of what was observed: Apply refuses a plan whose host changed since
	// Findings are what the target keeps by design but an operator should know
	// (a foreign security group on a member's interface): never counted as changes.
	Findings []model.Finding `json:",omitempty"`
}

// Plan is the result of the Plan workflow.
type Plan struct {
	PolicyHash string
	Created    time.Time
	Hosts      []HostPlan
	Jobs       []HostJob // what the plan would apply, host by host
	Unplanned  []string  // targets without a provider in this version
}

// Counts adds up the plan's changes.
func (p *Plan) Counts() (add, change, remove int) {
	for _, h := range p.Hosts {
		add, change, remove = add+h.Add, change+h.Change, remove+h.Remove
	}
	return
}

// ApplyRequest applies a plan.
type ApplyRequest struct {
	Plan        Plan
	Jobs        []HostJob
	AutoApprove bool
	// ConfirmTimeout bounds how long a host keeps a change the workflow has not
	// confirmed; 0 means onprem.DefaultConfirmTimeout.
	ConfirmTimeout time.Duration
}

// ApplyResult says what an apply did, host by host.
type ApplyResult struct {
	Hosts    []HostApplied
	Approved string // "auto", "signal", or "" when nothing needed approval
}

// HostApplied is the outcome on one host.
type HostApplied struct {
	Target, Host string
	Stats        onprem.ApplyStats // hosts
	Changes      int               // cloud targets: the plan's changes carried out
	Verified     bool              // observed again after the change: no difference left
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
