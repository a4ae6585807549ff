package main

import (
	"fmt"
	"io"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
)

// loadPolicy loads and compiles the policy in dir, printing every diagnostic (warnings
// too) to stderr. It returns nil when the policy has errors.
func loadPolicy(dir string, stderr io.Writer) *model.Policy {
	loaded, diags := hclload.LoadDir(dir)
	if len(diags) > 0 {
		if err := hclload.WriteDiagnostics(stderr, loaded.Files, diags); err != nil {
			fmt.Fprintln(stderr, "microseg:", err)
		}
	}
	if diags.HasErrors() {
		return nil
	}
	if _, err := model.Compile(loaded.Policy); err != nil {
		if err := hclload.WriteDiagnostics(stderr, loaded.Files, hclload.CompileDiagnostics(loaded.Files, err)); err != nil {
			fmt.Fprintln(stderr, "microseg:", err)
		}
		return nil
	}
	return loaded.Policy
}
