// Package workflows turns microseg's library into durable operations on Temporal:
// Plan (observe every host of the policy's targets in parallel and diff), Apply
// (refuse a stale plan, wait for approval when the plan removes anything, apply with
// commit-confirmed and confirm once the host answers again, then verify).
//
// Activities are methods on structs of injected dependencies: Activities runs on the
// microseg worker (loading and compiling the policy), HostActivities on the agent of
// each host, on task queue host/<target>/<host>, where the netlink calls must happen.
// Workflow code is deterministic: it only sequences activities, in sorted order.
package workflows
