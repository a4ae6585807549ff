package workflows

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistories replays histories recorded from real runs against the
// embedded server (test/engine_test.go with MICROSEG_RECORD_HISTORIES set): a change
// of workflow code that would break running workflows fails here. After an intended
// change, guard it with workflow.GetVersion and record new histories.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("want recorded histories of the four workflows, found %v (%v)", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(PlanWorkflow)
			r.RegisterWorkflow(ApplyWorkflow)
			r.RegisterWorkflow(ReconcileWorkflow)
			r.RegisterWorkflow(CheckWorkflow)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
