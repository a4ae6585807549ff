package discover

import (
	"strconv"

	"github.com/microseg/microseg/model"
)

// wellKnown names the service ports people recognize, by IANA name or by the name
// their software goes by. DNS is one service over both UDP and TCP, as resolvers use
// both; so a pair seen on udp/53 only is allowed tcp/53 too.
var wellKnown = map[model.ServicePort]string{}

// serviceSpecs lists the ports of each well-known service.
var serviceSpecs = []struct {
	name  string
	ports []string
}{
	{"ftp", []string{"tcp/21"}},
	{"ssh", []string{"tcp/22"}},
	{"smtp", []string{"tcp/25"}},
	{"dns", []string{"udp/53", "tcp/53"}},
	{"dhcp", []string{"udp/67"}},
	{"http", []string{"tcp/80"}},
	{"kerberos", []string{"tcp/88", "udp/88"}},
	{"ntp", []string{"udp/123"}},
	{"snmp", []string{"udp/161"}},
	{"ldap", []string{"tcp/389"}},
	{"https", []string{"tcp/443"}},
	{"quic", []string{"udp/443"}},
	{"smb", []string{"tcp/445"}},
	{"syslog", []string{"udp/514"}},
	{"submission", []string{"tcp/587"}},
	{"ldaps", []string{"tcp/636"}},
	{"imaps", []string{"tcp/993"}},
	{"mssql", []string{"tcp/1433"}},
	{"oracle", []string{"tcp/1521"}},
	{"nfs", []string{"tcp/2049"}},
	{"etcd", []string{"tcp/2379"}},
	{"mysql", []string{"tcp/3306"}},
	{"rdp", []string{"tcp/3389"}},
	{"postgres", []string{"tcp/5432"}},
	{"amqp", []string{"tcp/5672"}},
	{"kubernetes-api", []string{"tcp/6443"}},
	{"redis", []string{"tcp/6379"}},
	{"http-alt", []string{"tcp/8080"}},
	{"https-alt", []string{"tcp/8443"}},
	{"consul", []string{"tcp/8500"}},
	{"prometheus", []string{"tcp/9090"}},
	{"kafka", []string{"tcp/9092"}},
	{"node-exporter", []string{"tcp/9100"}},
	{"elasticsearch", []string{"tcp/9200"}},
	{"kubelet", []string{"tcp/10250"}},
	{"memcached", []string{"tcp/11211"}},
	{"mongodb", []string{"tcp/27017"}},
	{"icmp-echo", []string{"icmp/8"}},
	{"icmpv6-echo", []string{"icmpv6/128"}},
}

// serviceByName holds the ports of each well-known service, sorted.
var serviceByName = map[string][]model.ServicePort{}

func init() {
	for _, s := range serviceSpecs {
		for _, spec := range s.ports {
			p, err := model.ParsePort(spec)
			if err != nil {
				panic("discover: bad well-known port " + spec + ": " + err.Error())
			}
			wellKnown[p] = s.name
			serviceByName[s.name] = append(serviceByName[s.name], p)
		}
	}
	for _, ports := range serviceByName {
		sortPorts(ports)
	}
}

// serviceFor returns the name and the ports of the service one observed port belongs
// to: a well-known service, or "tcp-9000" (icmp-3, icmpv6-1...) with that port alone.
func serviceFor(proto model.Protocol, port uint16) (string, []model.ServicePort) {
	sp := model.ServicePort{Protocol: proto, Ports: model.PortRange{First: port, Last: port}}
	if name, ok := wellKnown[sp]; ok {
		return name, serviceByName[name]
	}
	return proto.String() + "-" + strconv.Itoa(int(port)), []model.ServicePort{sp}
}
