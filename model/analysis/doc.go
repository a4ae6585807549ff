// Package analysis answers questions about a policy without touching an
// enforcement point: which flows it permits (Flows), whether one flow passes and why
// or why not (Check), what a compromised segment can reach (BlastRadius), how
// reachability changes between two versions (DiffReachability), and what in it is
// risky or dead (Lint), with text, JSON and SARIF output for people and CI.
//
// Like model, the package is pure: standard library and model only, so that the CLI,
// the server and tests share one meaning of the policy. Every function reads the
// policy as model.Compile does: allow-only, networks are peers and never enforcement
// points, and an allow between two networks permits nothing. It expects a policy the
// loader has validated; a name an allow refers to but the policy lacks contributes
// nothing rather than failing, so that analysis of a half-fixed policy still says
// something useful. Output is sorted everywhere, so the same policy gives
// byte-identical results.
package analysis
