package workflows

import (
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

type testsuiteEnv = testsuite.TestWorkflowEnvironment

// decodeArg reads the first argument a continue-as-new carries.
func decodeArg(can *workflow.ContinueAsNewError, out any) error {
	return converter.GetDefaultDataConverter().FromPayloads(can.Input, out)
}
