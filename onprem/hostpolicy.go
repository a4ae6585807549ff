package onprem

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/microseg/microseg/model"
)

// DefaultLogGroup is the NFLOG group dropped and would-drop packets go to when the
// target's flow_logs block names none.
const DefaultLogGroup = 100

// HostPolicy is what one host enforces: its share of a hosts target's desired state,
// with every peer resolved to addresses.
type HostPolicy struct {
	Target string
	Host   string
	// Segments the host is a member of, sorted. A host in no segment is not touched:
	// it gets no table.
	Segments []string
	// Mode is enforce when any of the host's segments enforces; in audit mode the
	// chains accept what no allow names and log it as would-drop.
	Mode model.Mode
	// Management CIDRs always reach the host on ManagementPorts, and the host always
	// reaches them, so that no policy can lock out its operators or its agent.
	Management      []netip.Prefix
	ManagementPorts []model.ServicePort
	LogGroup        uint16
	Ingress         []Permit // allowed sources, for the input chain
	Egress          []Permit // allowed destinations, for the output chain
}

// Permit is one allowed (peer, protocol, port range) of a host.
type Permit struct {
	Peer netip.Prefix
	Port model.ServicePort
}

func comparePermit(a, b Permit) int {
	if c := a.Peer.Addr().Compare(b.Peer.Addr()); c != 0 {
		return c
	}
	if a.Peer.Bits() != b.Peer.Bits() {
		return a.Peer.Bits() - b.Peer.Bits()
	}
	return a.Port.Compare(b.Port)
}

// ForHost derives host's policy from the compiled state of its hosts target. A peer
// segment of the same target is addressed by its members' addresses (the "set of
// member addresses" identity of docs/architecture.md §3).
func ForHost(state *model.DesiredState, host string) (*HostPolicy, error) {
	t := state.Target
	if t == nil || t.Kind != model.KindHosts || t.Hosts == nil {
		return nil, fmt.Errorf("derive policy of host %q: not a hosts target", host)
	}
	if _, ok := t.Hosts.Hosts[host]; !ok {
		return nil, fmt.Errorf("derive policy of host %q: target %q declares no such host", host, t.Name)
	}
	if len(t.Hosts.ManagementCIDRs) == 0 {
		return nil, fmt.Errorf("derive policy of host %q: target %q has no management_cidrs; refusing a ruleset that could lock out its operators", host, t.Name)
	}
	hp := &HostPolicy{
		Target:          t.Name,
		Host:            host,
		Mode:            model.ModeAudit,
		Management:      t.Hosts.ManagementCIDRs,
		ManagementPorts: t.Hosts.ManagementPorts,
		LogGroup:        DefaultLogGroup,
	}
	if t.FlowLogs != nil && t.FlowLogs.NFLOGGroup != 0 {
		hp.LogGroup = t.FlowLogs.NFLOGGroup
	}
	members := map[string][]netip.Prefix{} // segment -> member addresses
	mine := map[string]bool{}
	for _, seg := range state.Segments {
		for _, h := range seg.Members.Hosts {
			for _, addr := range t.Hosts.Hosts[h].Addresses {
				members[seg.Name] = append(members[seg.Name], netip.PrefixFrom(addr, addr.BitLen()))
			}
			if h == host {
				mine[seg.Name] = true
				hp.Segments = append(hp.Segments, seg.Name)
				if seg.Mode == model.ModeEnforce {
					hp.Mode = model.ModeEnforce
				}
			}
		}
	}
	for _, r := range state.Rules {
		if !mine[r.Segment] {
			continue
		}
		peers := []netip.Prefix{r.Peer.Prefix}
		if r.Peer.Segment != "" {
			peers = members[r.Peer.Segment]
		}
		for _, peer := range peers {
			if (r.Port.Protocol == model.ProtocolICMP && !peer.Addr().Is4()) || (r.Port.Protocol == model.ProtocolICMPv6 && peer.Addr().Is4()) {
				continue
			}
			p := Permit{peer, r.Port}
			if r.Direction == model.Ingress {
				hp.Ingress = append(hp.Ingress, p)
			} else {
				hp.Egress = append(hp.Egress, p)
			}
		}
	}
	for _, list := range []*[]Permit{&hp.Ingress, &hp.Egress} {
		slices.SortFunc(*list, comparePermit)
		*list = slices.Compact(*list)
	}
	return hp, nil
}
