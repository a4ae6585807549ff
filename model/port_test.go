package model

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	tests := []struct {
		spec    string
		want    ServicePort
		wantErr string
	}{
		{spec: "tcp/443", want: ServicePort{ProtocolTCP, PortRange{443, 443}}},
		{spec: "TCP/443", want: ServicePort{ProtocolTCP, PortRange{443, 443}}},
		{spec: "udp/53", want: ServicePort{ProtocolUDP, PortRange{53, 53}}},
		{spec: "tcp/8000-8100", want: ServicePort{ProtocolTCP, PortRange{8000, 8100}}},
		{spec: "tcp/1-65535", want: ServicePort{ProtocolTCP, PortRange{1, 65535}}},
		{spec: "tcp", want: ServicePort{ProtocolTCP, PortRange{0, 65535}}},
		{spec: "sctp/2905", want: ServicePort{ProtocolSCTP, PortRange{2905, 2905}}},
		{spec: "icmp", want: ServicePort{ProtocolICMP, PortRange{0, 255}}},
		{spec: "icmp/8", want: ServicePort{ProtocolICMP, PortRange{8, 8}}},
		{spec: "icmpv6/128", want: ServicePort{ProtocolICMPv6, PortRange{128, 128}}},
		{spec: "all", want: ServicePort{ProtocolAll, PortRange{0, 0}}},
		{spec: "tcp/0", wantErr: "port 0 is out of range 1-65535"},
		{spec: "tcp/70000", wantErr: "port 70000 is out of range 1-65535"},
		{spec: "tcp/90-80", wantErr: "port range 90-80 is reversed: write 80-90"},
		{spec: "sctp/x", wantErr: `port "x" is not a number`},
		{spec: "tcp/", wantErr: `missing port after "tcp"/`},
		{spec: "tcp/80-", wantErr: "missing port"},
		{spec: "tcp/-80", wantErr: "missing port"},
		{spec: "tcp/+80", wantErr: `port "+80" is not a number`},
		{spec: "tcp/99999999999999999999", wantErr: "out of range"},
		{spec: "http/80", wantErr: `unknown protocol "http"`},
		{spec: "/80", wantErr: "empty protocol"},
		{spec: "", wantErr: "empty protocol"},
		{spec: "icmp/256", wantErr: "ICMP type 256 is out of range 0-255"},
		{spec: "icmp/8-9", wantErr: `ICMP type "8-9" is not a number`},
		{spec: "all/80", wantErr: `"all" takes no port`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParsePort(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePort(%q) error = %v, want it to contain %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePort(%q): %v", tt.spec, err)
			}
			if got != tt.want {
				t.Errorf("ParsePort(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestServicePortString(t *testing.T) {
	for _, spec := range []string{"tcp/443", "tcp/8000-8100", "tcp", "udp", "icmp", "icmp/8", "icmpv6", "all", "sctp/1-2"} {
		p, err := ParsePort(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.String(); got != spec {
			t.Errorf("ParsePort(%q).String() = %q", spec, got)
		}
	}
}

func TestServicePortContainsOverlaps(t *testing.T) {
	mustPort := func(s string) ServicePort {
		p, err := ParsePort(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		a, b              string
		contains, overlap bool
	}{
		{"tcp/1-1000", "tcp/443", true, true},
		{"tcp/443", "tcp/1-1000", false, true},
		{"tcp/443", "udp/443", false, false},
		{"all", "udp/53", true, true},
		{"tcp/80-90", "tcp/90-100", false, true},
		{"tcp/80-89", "tcp/90-100", false, false},
		{"tcp", "tcp/22", true, true},
	}
	for _, tt := range tests {
		a, b := mustPort(tt.a), mustPort(tt.b)
		if got := a.Contains(b); got != tt.contains {
			t.Errorf("%s.Contains(%s) = %v", tt.a, tt.b, got)
		}
		if got := a.Overlaps(b); got != tt.overlap {
			t.Errorf("%s.Overlaps(%s) = %v", tt.a, tt.b, got)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		text     string
		want     string
		hostBits bool
		wantErr  string
	}{
		{text: "10.0.0.0/24", want: "10.0.0.0/24"},
		{text: "10.0.0.1/24", want: "10.0.0.0/24", hostBits: true},
		{text: "10.0.0.7", want: "10.0.0.7/32"},
		{text: "2001:db8::/32", want: "2001:db8::/32"},
		{text: "2001:db8::1/32", want: "2001:db8::/32", hostBits: true},
		{text: "::/0", want: "::/0"},
		{text: "fd00::1", want: "fd00::1/128"},
		{text: "10.0.0.0/33", wantErr: "not a valid CIDR"},
		{text: "10.0.0/24", wantErr: "not a valid CIDR"},
		{text: "web", wantErr: "not an IP address or CIDR"},
		{text: "fe80::1%eth0", wantErr: "zone"},
		{text: "::ffff:10.0.0.0/104", wantErr: "IPv4-mapped"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, err := ParsePrefix(tt.text)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			case tt.hostBits:
				if !errors.Is(err, ErrHostBitsSet) {
					t.Fatalf("error = %v, want ErrHostBitsSet", err)
				}
			case err != nil:
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// FuzzParsePort checks that no spec panics, that every accepted port is well formed,
// and that its printed form reads back as the same port.
func FuzzParsePort(f *testing.F) {
	for _, s := range []string{"tcp/443", "udp/53", "tcp/1-65535", "icmp", "icmp/8", "all", "tcp/0", "sctp/x", "tcp/90-80", "tcp/", "/", "-", "icmpv6/300"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		p, err := ParsePort(spec)
		if err != nil {
			if p != (ServicePort{}) {
				t.Fatalf("ParsePort(%q) returned %+v with error %v", spec, p, err)
			}
			return
		}
		if p.Ports.First > p.Ports.Last {
			t.Fatalf("ParsePort(%q) = reversed range %+v", spec, p)
		}
		again, err := ParsePort(p.String())
		if err != nil || again != p {
			t.Fatalf("round trip of %q via %q = %+v, %v", spec, p.String(), again, err)
		}
	})
}

// FuzzParsePrefix checks that every accepted prefix is masked and prints as CIDR
// that reads back unchanged.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/24", "10.0.0.1/24", "::/0", "2001:db8::1/64", "1.2.3.4", "fe80::1%eth0", "::ffff:1.2.3.4/128", "0.0.0.0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParsePrefix(text)
		if err != nil && !errors.Is(err, ErrHostBitsSet) {
			if p != (netip.Prefix{}) {
				t.Fatalf("ParsePrefix(%q) returned %v with error %v", text, p, err)
			}
			return
		}
		if !p.IsValid() || p.Masked() != p {
			t.Fatalf("ParsePrefix(%q) = %v, not a valid masked prefix", text, p)
		}
		again, err := ParsePrefix(p.String())
		if err != nil || again != p {
			t.Fatalf("round trip of %q via %q = %v, %v", text, p, again, err)
		}
	})
}
