// Package gcp is microseg's provider for Google Cloud. For now it holds its flow-log
// readers: VPC Flow Logs (log compute.googleapis.com/vpc_flows) and Firewall Rules
// Logging (log compute.googleapis.com/firewall), read as Cloud Logging exports them —
// newline-delimited LogEntry JSON in the hourly objects a sink writes to Cloud
// Storage, or the JSON array `gcloud logging read --format=json` prints — into
// model.FlowRecords, streaming and in constant memory.
//
// DecodeVPCFlowLog and DecodeFirewallLog read one file or object (plain or gzip);
// GCSFlowLogs reads a bucket of sink exports in name order and can resume after the
// last object it finished.
package gcp
