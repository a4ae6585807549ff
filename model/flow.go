package model

import (
	"net/netip"
	"time"
)

// FlowAction is what an enforcement point did with a flow, as its log says.
type FlowAction uint8

// Flow actions. WouldDrop is a flow an audit-mode segment let through but would have
// dropped under enforcement.
const (
	FlowAccept FlowAction = iota
	FlowDrop
	FlowWouldDrop
)

func (a FlowAction) String() string {
	switch a {
	case FlowDrop:
		return "drop"
	case FlowWouldDrop:
		return "would-drop"
	default:
		return "accept"
	}
}

// FlowRecord is one flow as an enforcement point logged it, normalized from every
// source (cloud flow logs, host NFLOG) so that one verdict engine reads them all.
type FlowRecord struct {
	Time     time.Time
	Src, Dst netip.Addr
	SrcPort  uint16 // 0 for protocols without ports
	DstPort  uint16 // for ICMP, the message type
	Protocol Protocol
	Bytes    uint64
	Packets  uint64
	Action   FlowAction
	Target   string // the target whose log this is
	Reporter string // who logged it: a host name, an ENI, an NSG
}
