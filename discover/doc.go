// Package discover is the engine of `microseg discover`: application dependency
// mapping. It reads accepted flow records, groups the addresses it sees into proposed
// segments, and proposes the allows, services and networks that permit exactly the
// dependencies it observed, written as HCL that `microseg validate` accepts next to the
// user's policy. Discovery proposes and a human enforces: every proposed segment is in
// audit mode.
//
// # Streaming and memory
//
// New returns a Discoverer; Add is called once per record (millions of them) and
// Propose computes the proposal from what was added. Add keeps:
//
//   - one entry per distinct address (which first group, or candidate, it belongs to);
//   - one entry per distinct candidate edge (client candidate, server candidate,
//     protocol, service port), with flow, byte and packet counts and first/last time.
//     Edges are collapsed to candidates as they arrive, so per-address pairs are never
//     kept: a /24 talking to a /24 on one port is one entry however many hosts talk;
//   - one entry per listening socket (server address, protocol, service port) seen
//     in a flow whose service port was clear, as evidence for unclear flows;
//   - up to 1<<18 flows whose service port was unclear (see below), keyed by both
//     addresses and both ports, resolved at Propose; beyond that cap unclear flows are
//     decided on arrival.
//
// Memory is therefore bounded by distinct addresses, distinct candidate edges and
// listening sockets, never by the number of records.
//
// # Which side is the server
//
// Cloud flow logs record both directions of a connection, so a reply from a server
// has the service port as its source port. For TCP, UDP and SCTP the service port is,
// in order: the port with a well-known service name (tcp/443, udp/53, tcp/5432...)
// when only one side has one; the port below 1024 when only one side is; the port
// below 32768 (the start of Linux's ephemeral range; Windows' starts higher) when only
// one side is. When neither rule decides (both ports ephemeral, or both low), a
// socket already seen serving in a clear flow wins; otherwise the flow waits for
// Propose, where the socket met by more distinct peer sockets among such flows wins (a
// server port meets many client ports, a client port one server), then the lower
// port, then the destination. A reply and its request land on the same
// edge. For ICMP and ICMPv6 the message type is the "port"; an echo reply (type 0,
// ICMPv6 129) counts as the echo request (8, 128) in the other direction. AWS flow logs
// carry no ICMP type, so their ICMP records read as type 0 and propose echo both ways.
// Other protocols, TCP, UDP or SCTP flows with port 0 and ICMP "types" above 255
// cannot be named by a service and are counted as unsupported.
//
// Only accepted flows (model.FlowAccept and model.FlowWouldDrop, which passed) are
// dependencies; dropped flows are counted and otherwise ignored. Flows touching
// loopback, link-local, multicast or unspecified addresses are skipped.
//
// # Grouping
//
// Every internal address first joins a candidate group: addresses whose inventory
// labels (Options.Labels) carry any of the grouping keys (app, role, tier) group by
// those labels; the others by subnet (/24 for IPv4, /64 for IPv6 by default).
// Internal means RFC 1918, CGNAT (100.64.0.0/10), IPv6 ULA (fc00::/7), Options.Internal
// or labelled; every other address is a public peer, and all of them become one
// network "internet" (0.0.0.0/0 and/or ::/0, for the families seen), never a segment.
// Subnet candidates of the same target then merge while the sets of (peer group,
// protocol, port, direction) of two of them have a Jaccard similarity of at least
// Options.Similarity: subnets that do the same thing (the web tier spread over three
// subnets, or its IPv4 and IPv6 halves) become one segment. Label groups never merge:
// the inventory has already said what they are.
//
// A segment's CIDRs are its member addresses, aggregated into the fewest prefixes
// that hold exactly them (a fully used /24 becomes the /24; scattered hosts stay /32s).
// That is the tightest correct choice: whole subnets would also admit unobserved
// addresses, possibly members of another segment.
//
// Names are deterministic: label groups are named by their label values
// ("shop-web"), subnet groups by their lowest subnet ("net-10-0-2-0-24"), services by
// the well-known name of their port ("https", "tcp-9000" otherwise), allows
// "FROM-to-TO"; a name already taken (in Options.Policy or in the proposal) gets the
// first free suffix "-2", "-3"...
package discover
