package workflows

import (
	"path/filepath"
	"slices"
	"testing"

	"go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistories replays histories recorded from real runs against the
// embedded server (test/engine_test.go with MICROSEG_RECORD_HISTORIES set): a change
// of workflow code that would break running workflows fails here. After an intended
// change, guard it with workflow.GetVersion and record new histories.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*.json")
	if err != nil {
		t.Fatal(err)
	}
	// Every workflow the worker runs has a recorded history.
	for _, wf := range []string{"PlanWorkflow", "ApplyWorkflow", "ReconcileWorkflow", "CheckWorkflow", "AuditWorkflow"} {
		if !slices.Contains(files, filepath.Join("testdata", "histories", wf+".json")) {
			t.Errorf("no recorded history of %s in testdata/histories", wf)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			RegisterWorkflows(r) // exactly what the worker registers
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
