// Package hclload reads microseg policies: every *.hcl file of a directory becomes one
// model.Policy. The language is described in the README and docs/architecture.md §2. Every problem in the
// configuration is an hcl.Diagnostic with its file, line and column; the loader
// collects all of them in one pass instead of stopping at the first, and resolves
// references (segment.web, target.aws.prod) with a "did you mean" for unknown names.
//
// The package is named hclload, not hcl, so that it never shadows hashicorp/hcl.
package hclload
