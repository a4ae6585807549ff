// Package aws enforces the model on one AWS VPC with security groups: one group
// microseg-<segment> per segment, tagged microseg:managed, microseg:segment and
// microseg:policy; the segment's rules as that group's ingress and egress rules (peers
// in the VPC by group reference, others by CIDR); the group on the network
// interfaces of the instances its members select. Groups without the managed tag are
// never changed or deleted; other groups on a member's interface are reported as
// drift and removed only with exclusive_membership.
//
// It observes with a handful of paginated describe calls, however many rules there
// are, and applies all new permissions of a group and direction in one call.
//
// It also reads the VPC's flow logs into model.FlowRecords, streaming and in constant
// memory: from S3 (gzipped text objects with a header line naming the fields, default
// and custom formats v2-v8) and from CloudWatch Logs (FilterLogEvents), with NODATA,
// SKIPDATA and malformed records counted.
package aws
