// Package azure is the Azure provider of microseg. For now it holds its flow-log
// readers: NSG flow logs (category NetworkSecurityGroupFlowEvent, tuple versions 1 and
// 2) and virtual network flow logs (category FlowLogFlowEvent, flowLogVersion 4), read
// from the hourly PT1H.json blobs Network Watcher writes to a storage account, or from
// exported files, into model.FlowRecords. Blobs are streamed one record at a time, in
// constant memory whatever their size, and records that do not parse are counted, not
// fatal.
package azure
