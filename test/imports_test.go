package test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/microseg/microseg"

// deps lists the non-test dependencies of the packages matching pattern.
func deps(t *testing.T, pattern string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pattern).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps %s: %v\n%s", pattern, err, ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v", pattern, err)
	}
	return strings.Fields(string(out))
}

func isStdlib(pkg string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	return !strings.Contains(first, ".")
}

// TestModelIsPure enforces docs/architecture.md §1: model imports the standard library and
// itself only, so no SDK, Temporal, provider, loader or workflow can leak into the
// meaning of a policy.
func TestModelIsPure(t *testing.T) {
	for _, dep := range deps(t, "../model/...") {
		if !isStdlib(dep) && !strings.HasPrefix(dep, module+"/model") {
			t.Errorf("model depends on %s; it may use the standard library only", dep)
		}
	}
}

// TestImportDirection enforces the one-way flow cmd -> workflows -> providers, onprem
// -> model, and hcl -> model: no package imports one to its left.
func TestImportDirection(t *testing.T) {
	forbidden := map[string][]string{
		"../hcl/...":       {module + "/providers", module + "/onprem", module + "/workflows", module + "/cmd"},
		"../model/...":     {module + "/hcl", module + "/providers", module + "/onprem", module + "/workflows", module + "/cmd"},
		"../providers/...": {module + "/workflows", module + "/cmd"},
		"../onprem/...":    {module + "/workflows", module + "/cmd"},
		"../workflows/...": {module + "/cmd", "github.com/aws/aws-sdk-go-v2", "github.com/Azure/azure-sdk-for-go", "cloud.google.com/go"},
	}
	for pattern, bad := range forbidden {
		// A layer without Go packages yet (providers, onprem and workflows land
		// after the foundation) has nothing to check.
		out, err := exec.Command("go", "list", pattern).CombinedOutput()
		if err != nil || strings.Contains(string(out), "matched no packages") {
			if !strings.Contains(string(out), "no such file or directory") && !strings.Contains(string(out), "matched no packages") {
				t.Fatalf("go list %s: %v\n%s", pattern, err, out)
			}
			continue
		}
		for _, dep := range deps(t, pattern) {
			for _, b := range bad {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s depends on %s", pattern, dep)
				}
			}
		}
	}
}
