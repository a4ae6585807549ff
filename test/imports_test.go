package test

import (
	"os/exec"
	"slices"
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

// pure are the packages that hold the meaning of a policy: the model, its analysis
// and the flow verdicts. Presentation (report) and proposals (discover) live apart.
var pure = []string{module + "/model", module + "/model/analysis", module + "/model/verdict"}

// TestModelIsPure enforces docs/architecture.md §1: the pure packages import the
// standard library and each other only, so no SDK, Temporal, provider, loader or
// workflow can leak into the meaning of a policy; and every package under model/ is
// one of them.
func TestModelIsPure(t *testing.T) {
	out, err := exec.Command("go", "list", "../model/...").Output()
	if err != nil {
		t.Fatalf("go list ../model/...: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if !slices.Contains(pure, pkg) {
			t.Errorf("%s is under model/ but not one of the pure packages %v: move it out, or name it here", pkg, pure)
		}
	}
	for _, pkg := range pure {
		for _, dep := range deps(t, pkg) {
			if !isStdlib(dep) && !slices.Contains(pure, dep) {
				t.Errorf("%s depends on %s; it may use the standard library and %v only", pkg, dep, pure)
			}
		}
	}
}

// TestImportDirection enforces the one-way flow cmd -> workflows -> providers, onprem
// -> model, and hcl -> model: no package imports one to its left.
func TestImportDirection(t *testing.T) {
	forbidden := map[string][]string{
		"../hcl/...":       {module + "/providers", module + "/onprem", module + "/workflows", module + "/cmd"},
		"../model/...":     {module + "/hcl", module + "/providers", module + "/onprem", module + "/workflows", module + "/cmd", module + "/report", module + "/discover"},
		"../report/...":    {module + "/providers", module + "/onprem", module + "/workflows", module + "/cmd"},
		"../discover/...":  {module + "/providers", module + "/onprem", module + "/workflows", module + "/cmd"},
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
