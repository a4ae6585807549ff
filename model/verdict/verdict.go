package verdict

import (
	"fmt"
	"time"

	"github.com/microseg/microseg/model"
)

// Class is what a flow means for the policy.
type Class uint8

// The classes, in the order reports list them.
const (
	// Allowed: the policy allows the flow (or it is the return traffic of an allowed
	// flow) and it went through.
	Allowed Class = iota
	// Blocked: the policy denies the flow and it was dropped, as intended.
	Blocked
	// WouldBlock: the policy denies the flow, but no segment on its path enforces
	// (they are in audit mode), so it went through; enforcement would block it.
	WouldBlock
	// Violation: the policy denies the flow, a segment on its path enforces, and yet
	// it was accepted: a hole in enforcement, or drift.
	Violation
	// WantedButBlocked: the policy allows the flow, but it was dropped: an outage.
	WantedButBlocked
	// Unknown: neither address belongs to a segment, so no policy governs the flow.
	Unknown
)

// Classes lists every class in order.
var Classes = []Class{Allowed, Blocked, WouldBlock, Violation, WantedButBlocked, Unknown}

var classNames = [...]string{"allowed", "blocked", "would-block", "violation", "wanted-but-blocked", "unknown"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", c)
}

// ParseClass reads a class by the name String gives it.
func ParseClass(s string) (Class, error) {
	for i, n := range classNames {
		if n == s {
			return Class(i), nil
		}
	}
	return 0, fmt.Errorf("unknown flow class %q (want one of allowed, blocked, would-block, violation, wanted-but-blocked, unknown)", s)
}

// Verdict is the classification of one flow record.
type Verdict struct {
	Class Class
	// Allow and Service name what permits the flow, for Allowed and
	// WantedButBlocked; empty otherwise.
	Allow, Service string
	// Return is set when the flow matched as the return traffic of an allowed flow
	// (the reverse direction is what the allow permits).
	Return bool
	// Src and Dst are the peers the addresses resolved to, as "segment.NAME" or
	// "network.NAME" (the most specific: a segment before a network, then the
	// longest prefix, then the name), or "" for an address in neither.
	Src, Dst string
	// Enforced is set when a segment at either end enforces (not audit mode).
	Enforced bool
}

// Key is what flows are counted by in a Summary: one row of an audit's results.
type Key struct {
	Day      time.Time // the flow's UTC day (midnight), so weekly figures are exact
	Target   string
	Class    Class
	Src, Dst string // peers, as in Verdict; "" for unknown addresses
	Protocol model.Protocol
	// Port is the service port: the destination port of the flow, or its source
	// port when it matched as return traffic; the ICMP type for ICMP.
	Port    uint16
	Allow   string
	Service string
}

// Row is one key's counts.
type Row struct {
	Key
	Flows, Bytes, Packets uint64
	First, Last           time.Time // earliest and latest flow time seen
	// SampleSrc and SampleDst are the addresses of one flow of the row (the first
	// seen), so that a reader of a violation can go and look.
	SampleSrc, SampleDst string
}
