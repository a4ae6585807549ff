// Package temporal pins the official Temporal CLI, whose dev server is microseg's
// embedded Temporal. It is a module of its own: linking go.temporal.io/server into
// microseg fails beside the cloud SDKs (see docs/architecture.md §4), so the server
// is built from here as a separate binary and run as a child process.
//
//	go build -o ../../bin/temporal github.com/temporalio/cli/cmd/temporal
package temporal
