package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/internal/policycache"
	"github.com/microseg/microseg/model"
)

// binaryVersion identifies this binary in the policy cache's keys.
var binaryVersion = sync.OnceValue(policycache.BinaryVersion)

// policyCache is the cache of loaded policies in the state directory, as the
// environment says now (MICROSEG_POLICY_CACHE=off turns it off).
func policyCache() *policycache.Cache {
	if os.Getenv("MICROSEG_POLICY_CACHE") == "off" {
		return nil
	}
	return &policycache.Cache{Dir: filepath.Join(stateDir(), "cache", "policies"), Version: binaryVersion()}
}

// loadPolicy loads and compiles the policy in dir, printing every diagnostic (warnings
// too) to stderr. It returns nil when the policy has errors. A policy that loaded
// and compiled without a single diagnostic is kept in the policy cache, and read
// from there while its files and the binary stay the same.
func loadPolicy(dir string, stderr io.Writer) *model.Policy {
	sources, diags := hclload.ReadDir(dir)
	cache, key := policyCache(), ""
	if cache != nil && len(diags) == 0 {
		key = cache.Key(sources)
		if p, ok := cache.Get(key); ok {
			return p
		}
	}
	loaded, more := hclload.LoadSources(sources)
	diags = append(diags, more...)
	if len(diags) > 0 {
		if err := hclload.WriteDiagnostics(stderr, loaded.Files, diags); err != nil {
			fmt.Fprintln(stderr, "microseg:", err)
		}
	}
	if diags.HasErrors() || sources == nil {
		return nil
	}
	if _, err := model.Compile(loaded.Policy); err != nil {
		if err := hclload.WriteDiagnostics(stderr, loaded.Files, hclload.CompileDiagnostics(loaded.Files, err)); err != nil {
			fmt.Fprintln(stderr, "microseg:", err)
		}
		return nil
	}
	if key != "" && len(diags) == 0 {
		cache.Put(key, loaded.Policy) // a cache that cannot be written is only slower
	}
	return loaded.Policy
}
