// Package test holds microseg's cross-package tests: the import-direction rule of
// docs/architecture.md §1 now, and end-to-end, fault and emulator tests as the engine and the
// providers land. Its subpackages generate data for benchmarks.
package test
