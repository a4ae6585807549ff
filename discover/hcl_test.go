package discover

import (
	"net/netip"
	"testing"

	"github.com/microseg/microseg/internal/golden"
	"github.com/microseg/microseg/model"
)

// TestGoldenHCL pins the layout of WriteHCL on a fixed flow set: header, networks,
// services, segments in audit mode, allows with their descriptions. Run with -update
// after an intended change and review the diff.
func TestGoldenHCL(t *testing.T) {
	// Noise below MinFlows, a dropped flow and one between public addresses show in
	// the header and nowhere else.
	extra := []model.FlowRecord{
		{Time: t0, Src: netip.MustParseAddr("10.10.1.10"), Dst: netip.MustParseAddr("10.20.0.11"), SrcPort: 40000, DstPort: 23, Protocol: model.ProtocolTCP},
		{Time: t0, Src: netip.MustParseAddr("10.10.1.10"), Dst: netip.MustParseAddr("10.20.0.11"), SrcPort: 40000, DstPort: 22, Protocol: model.ProtocolTCP, Action: model.FlowDrop},
		{Time: t0, Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("192.0.2.1"), SrcPort: 40000, DstPort: 22, Protocol: model.ProtocolTCP},
	}
	p := propose(t, Options{MinFlows: 2}, append(threeTier(), extra)...)
	golden.Check(t, "three-tier.hcl", []byte(writeHCL(t, p, "aws.prod")))

	labels := propose(t, Options{Labels: threeTierLabels()}, threeTier()...)
	golden.Check(t, "three-tier-labels.hcl", []byte(writeHCL(t, labels, "target.gcp.prod")))
}

// threeTierLabels is an inventory for threeTier: the load balancer and web servers
// carry labels (one web server with an odd key), the rest does not.
func threeTierLabels() map[netip.Addr]map[string]string {
	return map[netip.Addr]map[string]string{
		netip.MustParseAddr("10.10.0.5"):  {"app": "shop", "role": "lb"},
		netip.MustParseAddr("10.10.1.10"): {"app": "shop", "tier": "web", "env": "prod"},
		netip.MustParseAddr("10.10.1.11"): {"app": "shop", "tier": "web"},
		netip.MustParseAddr("10.10.2.10"): {"app": "shop", "tier": "web", "k8s.io/name": "${web}"},
	}
}
