// Package model holds microseg's segmentation model: the policy as users write it
// (targets, networks, services, segments, allows), its compiled per-target desired
// state, and the provider-neutral keyed diff between desired and observed state.
//
// The package is pure: it imports the standard library only (net/netip for
// addresses), never a cloud SDK, Temporal or a provider, so that every enforcement
// point shares one meaning of the policy. A test in test/ enforces this.
package model
