// Package azure is the Azure provider of microseg.
//
// It enforces the model on one resource group's network with network security
// groups and application security groups: one ASG microseg-<segment> per segment;
// one NSG microseg-<target> on the target's subnets, whose rules name ASGs for
// peers in the target and address prefixes for all others; for each enforce-mode
// segment a deny-all inbound to and outbound from its ASG below every allow, so
// that the NSG's default AllowVnetInBound/AllowVnetOutBound no longer let the
// VNet in; and a last allow-all (priority 4096, both directions), so that
// workloads in no segment keep the traffic they had before the NSG was attached.
// The ip configurations of the NICs a segment's tags select (the NIC's tags over
// its VM's) join the segment's ASG.
//
// Priorities are allocated in bands per direction (allows 100-3095, denies
// 3096-4095, the catch-all 4096): a rule keeps the priority it has in the NSG, so
// adding or removing one allow renumbers nothing; a rule outside its band (moved by
// hand under a deny, say) is drift and gets a new one. The NSG is read and written
// whole, rules inline, in one etag-guarded PUT; NICs and subnets likewise, with
// everything read sent back. NSGs, ASGs and subnets' NSGs that microseg does not
// manage (no microseg-managed tag) are never changed.
//
// It also reads flow logs: NSG flow logs (category NetworkSecurityGroupFlowEvent,
// tuple versions 1 and 2) and virtual network flow logs (category FlowLogFlowEvent,
// flowLogVersion 4), read from the hourly PT1H.json blobs Network Watcher writes to
// a storage account, or from exported files, into model.FlowRecords. Blobs are
// streamed one record at a time, in constant memory whatever their size, and
// records that do not parse are counted, not fatal.
package azure
