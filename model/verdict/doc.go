// Package verdict classifies observed flows against the policy: for every flow a log
// recorded, whether the policy allows it (and by which allow), whether enforcement
// blocked it as intended, would block it once an audit-mode segment enforces,
// let it through although the policy denies it (a violation), or blocked it although
// the policy allows it (an outage). It is pure: the standard library and model only.
//
// # Compiling the policy
//
// New compiles a policy once into an Engine that answers each record without
// scanning rules:
//
//   - Per address family, a sorted table of disjoint address intervals maps an
//     address, by binary search, to the set of peers that contain it. A segment's
//     addresses are its cidrs plus, when it lives in a hosts target, the addresses
//     of its member hosts (members.hosts names hosts of that target); a network's are
//     its cidrs. A segment selected only by tags or labels and without cidrs has no
//     addresses, so no flow can be attributed to it.
//   - For each (from peer, to peer) pair that some allow connects, a table of
//     protocol/port ranges says which allow and service permit a flow on it. The
//     pairs are one open-addressing hash table, and each range carries the names of
//     its allow and service, so that a verdict costs few cache misses.
//
// An Engine is immutable and safe for concurrent use. A goroutine that classifies a
// stream (an audit reading one source) makes its own Classifier with
// Engine.NewClassifier: it gives the same verdicts, and remembers in small fixed
// tables the peers of the addresses and the edges between the pairs of peers it saw
// last, which flow logs repeat all day.
//
// # Semantics
//
// A flow is allowed when any (src peer, dst peer) pair of the peers containing its
// addresses permits its protocol and destination port. For ICMP and ICMPv6 the
// destination port is the message type, as model.FlowRecord carries it. A service
// of protocol "all" permits every protocol and port. A flow both of whose ends are
// networks is never allowed: networks are peers, not enforcement points, and an
// allow between two networks enforces nothing.
//
// Return traffic: the enforcement points are stateful, and cloud flow logs record
// both directions of a connection. A flow the policy does not allow forward, whose
// reverse (dst to src, with the record's source port as the destination port) it
// allows, is the return traffic of an allowed flow: it is judged as allowed and its
// Verdict has Return set. A flow allowed forward is never marked Return. For ICMP
// the reply's type stands for the request's: an echo reply (ICMP type 0, ICMPv6 129)
// is the return of an echo request (8, 128) the other way, and likewise the
// timestamp, information and address-mask replies (14, 16, 18 answer 13, 15, 17);
// any other ICMP message is matched by its source port like any flow, which the
// logs leave 0.
//
// A flow neither of whose addresses is in a segment is Unknown, whatever its action:
// no policy governs it (networks alone do not count). A flow is Enforced when a
// segment containing either address is in enforce mode.
//
// The observed action and the policy give the class:
//
//	policy   action      class
//	allowed  accept      Allowed
//	allowed  would-drop  Allowed (an audit-mode logger's guess; the policy allows it)
//	allowed  drop        WantedButBlocked
//	denied   drop        Blocked
//	denied   would-drop  WouldBlock
//	denied   accept      Violation when Enforced, else WouldBlock
//
// Verdict.Src and Verdict.Dst name the most specific peer of each address: a segment
// before a network, then the peer with the longest prefix containing the address
// (a host address counts as /32 or /128), then the first by name. Verdict.Allow and
// Verdict.Service name what permits the flow (or, for return traffic, its reverse);
// when several allows or services do, over every pair of peers, the first by allow
// name and then service name, so that output is deterministic.
//
// Expiry is ignored: an allow past its expires date still permits its flows. The
// compiled rules on every enforcement point keep an expired allow until someone
// removes it from the policy, so the flows it lets through are what the policy in
// force allows; lint reports the expiry (model/analysis, rule expired-allow).
//
// The target a record came from does not change its verdict: segments are matched
// by address wherever the log was written, so the same flow logged at both ends gets
// the same verdict twice.
//
// # Summaries
//
// A Summary counts classified flows by Key (day, target, class, peers, protocol,
// service port, allow, service) in bounded memory; its Rows are what audit runs
// store and reports read.
package verdict
