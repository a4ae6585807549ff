// Package policygen generates large, valid segmentation policies for benchmarks and
// scale tests: as model.Policy values and as HCL text that the loader reads back.
package policygen

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/microseg/microseg/model"
)

// Params sizes a generated policy.
type Params struct {
	Segments int
	Allows   int
	Services int    // default 50
	Seed     uint64 // same seed, same policy
}

var kinds = []model.TargetKind{model.KindAWS, model.KindAzure, model.KindGCP, model.KindHosts}

// Generate returns a policy with four targets (one per kind), the given number of
// segments spread over them, each with its own /24, and allows between random
// segments (one in twenty from the internet) naming one or two random services.
func Generate(p Params) *model.Policy {
	if p.Services == 0 {
		p.Services = 50
	}
	r := rand.New(rand.NewPCG(p.Seed, 0x6d6963726f736567))
	pol := model.NewPolicy()
	for _, k := range kinds {
		t := &model.Target{Kind: k, Name: "t-" + string(k)}
		switch k {
		case model.KindAWS:
			t.AWS = &model.AWSTarget{Region: "us-east-1", VPCID: "vpc-0123456789abcdef0"}
		case model.KindAzure:
			t.Azure = &model.AzureTarget{SubscriptionID: "00000000-0000-0000-0000-000000000000", ResourceGroup: "rg", Location: "westeurope"}
		case model.KindGCP:
			t.GCP = &model.GCPTarget{Project: "p", Network: "n"}
		case model.KindHosts:
			t.Hosts = &model.HostsTarget{
				ManagementCIDRs: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24")},
				ManagementPorts: []model.ServicePort{{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 22, Last: 22}}},
				Hosts:           map[string]*model.Host{},
			}
		}
		pol.Targets[t.Name] = t
	}
	pol.Networks["internet"] = &model.Network{Name: "internet", CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}
	for i := range p.Services {
		proto := model.ProtocolTCP
		if i%5 == 4 {
			proto = model.ProtocolUDP
		}
		first := uint16(1024 + i*10)
		last := first
		if i%7 == 6 {
			last = first + 9
		}
		name := fmt.Sprintf("svc-%d", i)
		pol.Services[name] = &model.Service{Name: name, Ports: []model.ServicePort{{Protocol: proto, Ports: model.PortRange{First: first, Last: last}}}}
	}
	segNames := make([]string, p.Segments)
	for i := range p.Segments {
		name := fmt.Sprintf("seg-%d", i)
		segNames[i] = name
		t := pol.Targets["t-"+string(kinds[i%len(kinds)])]
		s := &model.Segment{
			Name:   name,
			Target: t.Name,
			CIDRs:  []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)},
		}
		if t.Kind == model.KindHosts {
			host := "h-" + name
			t.Hosts.Hosts[host] = &model.Host{Name: host, Addresses: []netip.Addr{netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 10})}}
			s.Members.Hosts = []string{host}
		} else {
			s.Members.Tags = map[string]string{"segment": name}
		}
		if i%10 == 9 {
			s.Mode = model.ModeAudit
		}
		pol.Segments[name] = s
	}
	for i := range p.Allows {
		name := fmt.Sprintf("allow-%d", i)
		a := &model.Allow{Name: name, To: []model.PeerRef{{Kind: model.PeerSegment, Name: segNames[r.IntN(len(segNames))]}}}
		if i%20 == 19 {
			a.From = []model.PeerRef{{Kind: model.PeerNetwork, Name: "internet"}}
		} else {
			a.From = []model.PeerRef{{Kind: model.PeerSegment, Name: segNames[r.IntN(len(segNames))]}}
		}
		for range 1 + r.IntN(2) {
			a.Services = append(a.Services, fmt.Sprintf("svc-%d", r.IntN(p.Services)))
		}
		pol.Allows[name] = a
	}
	return pol
}

// HCL renders a policy as one HCL file, in the language of docs/architecture.md §2. It covers
// what Generate produces (not every attribute of every target kind).
func HCL(p *model.Policy) []byte {
	files := HCLFiles(p, 0)
	var all []byte
	for _, name := range model.SortedKeys(files) {
		all = append(all, files[name]...)
	}
	return all
}

// HCLFiles renders a policy as a directory of HCL files, as a large policy is kept:
// targets, networks and services in one file, segments in another, and the allows
// in files of allowsPerFile each (all in one file when allowsPerFile is 0).
func HCLFiles(p *model.Policy, allowsPerFile int) map[string][]byte {
	files := map[string][]byte{}
	var b strings.Builder
	for _, name := range model.SortedKeys(p.Targets) {
		t := p.Targets[name]
		fmt.Fprintf(&b, "target %q %q {\n", t.Kind, t.Name)
		switch t.Kind {
		case model.KindAWS:
			fmt.Fprintf(&b, "  region = %q\n  vpc_id = %q\n", t.AWS.Region, t.AWS.VPCID)
		case model.KindAzure:
			fmt.Fprintf(&b, "  subscription_id = %q\n  resource_group = %q\n  location = %q\n", t.Azure.SubscriptionID, t.Azure.ResourceGroup, t.Azure.Location)
		case model.KindGCP:
			fmt.Fprintf(&b, "  project = %q\n  network = %q\n", t.GCP.Project, t.GCP.Network)
		case model.KindHosts:
			fmt.Fprintf(&b, "  management_cidrs = [%s]\n", quoted(t.Hosts.ManagementCIDRs))
			for _, h := range model.SortedKeys(t.Hosts.Hosts) {
				fmt.Fprintf(&b, "  host %q { address = %q }\n", h, t.Hosts.Hosts[h].Addresses[0])
			}
		}
		b.WriteString("}\n")
	}
	for _, name := range model.SortedKeys(p.Networks) {
		fmt.Fprintf(&b, "network %q { cidrs = [%s] }\n", name, quoted(p.Networks[name].CIDRs))
	}
	for _, name := range model.SortedKeys(p.Services) {
		fmt.Fprintf(&b, "service %q { ports = [%s] }\n", name, quoted(p.Services[name].Ports))
	}
	files["00-targets.hcl"] = []byte(b.String())
	b.Reset()
	for _, name := range model.SortedKeys(p.Segments) {
		s := p.Segments[name]
		t := p.Targets[s.Target]
		fmt.Fprintf(&b, "segment %q {\n  target = target.%s.%s\n", name, t.Kind, t.Name)
		if len(s.Members.Hosts) > 0 {
			fmt.Fprintf(&b, "  members { hosts = [%s] }\n", quoted(s.Members.Hosts))
		} else {
			fmt.Fprintf(&b, "  members { tags = { segment = %q } }\n", s.Members.Tags["segment"])
		}
		fmt.Fprintf(&b, "  cidrs = [%s]\n  mode = %q\n}\n", quoted(s.CIDRs), s.Mode)
	}
	files["01-segments.hcl"] = []byte(b.String())
	b.Reset()
	file := 0
	for i, name := range model.SortedKeys(p.Allows) {
		if allowsPerFile > 0 && i > 0 && i%allowsPerFile == 0 {
			files[fmt.Sprintf("02-allows-%04d.hcl", file)] = []byte(b.String())
			b.Reset()
			file++
		}
		a := p.Allows[name]
		services := make([]string, len(a.Services))
		for i, s := range a.Services {
			services[i] = "service." + s
		}
		fmt.Fprintf(&b, "allow %q {\n  from = [%s]\n  to = [%s]\n  services = [%s]\n}\n", name, refs(a.From), refs(a.To), strings.Join(services, ", "))
	}
	files[fmt.Sprintf("02-allows-%04d.hcl", file)] = []byte(b.String())
	return files
}

func quoted[T any](items []T) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = fmt.Sprintf("%q", fmt.Sprint(it))
	}
	return strings.Join(parts, ", ")
}

func refs(peers []model.PeerRef) string {
	parts := make([]string, len(peers))
	for i, p := range peers {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}
