package onprem

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/microseg/microseg/internal/netlab"
	"github.com/microseg/microseg/internal/peakrss"
	"github.com/microseg/microseg/model"
)

// bigPolicy is a host policy with n allowed (prefix, protocol, port) tuples into the
// host: 10.0.0.0/24 upwards, four TCP ports each; single addresses instead of /24s
// when exact is set. extra permits are added as they are.
func bigPolicy(n int, exact bool, extra ...Permit) *HostPolicy {
	hp := &HostPolicy{
		Target: "bench", Host: "h", Segments: []string{"big"}, Mode: model.ModeEnforce,
		Management:      []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		ManagementPorts: []model.ServicePort{{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 22, Last: 22}}},
		LogGroup:        DefaultLogGroup,
	}
	// Every other address (or /24) and every other port, so that no two tuples merge
	// into one element: the sets really hold n elements.
	for i := range n {
		j := 2 * (i / 4)
		addr := netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)})
		bits := 32
		if !exact {
			addr = netip.AddrFrom4([4]byte{byte(10 + j>>16), byte(j >> 8), byte(j), 0})
			bits = 24
		}
		port := uint16(1000 + 2*(i%4))
		hp.Ingress = append(hp.Ingress, Permit{netip.PrefixFrom(addr, bits), model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: port, Last: port}}})
	}
	hp.Ingress = append(hp.Ingress, extra...)
	return hp
}

func countElements(rs *Ruleset) int {
	n := 0
	for _, s := range rs.Sets {
		n += len(s.Elements)
	}
	return n
}

// BenchmarkApplyFull loads a 100,000-tuple ruleset into an empty namespace in one
// transaction, then reads it back and counts (untimed), as every large apply must.
func BenchmarkApplyFull(b *testing.B) {
	l := netlab.New(b, "h")
	e := enforcerFor(l, "h")
	rs := Build(bigPolicy(100_000, false))
	want := countElements(rs)
	if want < 100_000 {
		b.Fatalf("the ruleset has %d elements, want 100,000 and more", want)
	}
	peakrss.Reset()
	for b.Loop() {
		b.StopTimer()
		exec.Command("ip", "netns", "exec", l.Hosts["h"].NS, "nft", "delete", "table", "inet", TableName).Run()
		b.StartTimer()
		if _, err := e.Apply(rs); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		back, err := e.Observe()
		if err != nil || countElements(back) != want {
			b.Fatalf("read back %d elements, want %d (%v)", countElements(back), want, err)
		}
		b.StartTimer()
	}
	peakrss.Report(b)
}

// BenchmarkNftFile loads the same ruleset as BenchmarkApplyFull with `nft -f`, from
// the text nft itself lists for it, for comparison.
func BenchmarkNftFile(b *testing.B) {
	l := netlab.New(b, "h")
	ns := l.Hosts["h"].NS
	e := enforcerFor(l, "h")
	rs := Build(bigPolicy(100_000, false))
	if _, err := e.Apply(rs); err != nil {
		b.Fatal(err)
	}
	text := l.Nft("h", "--stateless", "list", "table", "inet", TableName)
	file := filepath.Join(b.TempDir(), "ruleset.nft")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	want := countElements(rs)
	for b.Loop() {
		b.StopTimer()
		l.Nft("h", "delete", "table", "inet", TableName)
		b.StartTimer()
		if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "-f", file).CombinedOutput(); err != nil {
			b.Fatalf("nft -f: %v\n%s", err, out)
		}
		b.StopTimer()
		back, err := e.Observe()
		if err != nil || countElements(back) != want {
			b.Fatalf("read back %d elements, want %d (%v)", countElements(back), want, err)
		}
		b.StartTimer()
	}
}

// BenchmarkApplyIncremental changes one allow of a ruleset of 10 and of 100,000
// tuples: one element out, another in. "isolated" times a change on its own, as
// changes come in practice (the pause between changes is not timed): from the call to
// the new ruleset in force. "back-to-back" includes, for each change, waiting for the
// kernel to finish the previous commit's deferred cleanup: the rate changes can follow
// each other at.
func BenchmarkApplyIncremental(b *testing.B) {
	for _, mode := range []string{"isolated", "back-to-back"} {
		for _, n := range []int{10, 100_000} {
			b.Run(fmt.Sprintf("%s/tuples=%d", mode, n), func(b *testing.B) {
				l := netlab.New(b, "h")
				e := enforcerFor(l, "h")
				one := Permit{netip.MustParsePrefix("172.16.0.0/24"), model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 443, Last: 443}}}
				other := Permit{netip.MustParsePrefix("172.16.1.0/24"), model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 443, Last: 443}}}
				a, c := Build(bigPolicy(n, false, one)), Build(bigPolicy(n, false, other))
				if _, err := e.Apply(a); err != nil {
					b.Fatal(err)
				}
				peakrss.Reset()
				next := c
				for b.Loop() {
					if mode == "isolated" {
						b.StopTimer()
						time.Sleep(50 * time.Millisecond)
						b.StartTimer()
					}
					stats, err := e.Apply(next)
					if err != nil {
						b.Fatal(err)
					}
					if stats.Full || stats.ElementsAdded != 1 || stats.ElementsRemoved != 1 {
						b.Fatalf("apply sent %+v, want one element in and one out", stats)
					}
					if next == c {
						next = a
					} else {
						next = c
					}
				}
			})
		}
	}
}

// BenchmarkObserve reads the 100,000-tuple table back.
func BenchmarkObserve(b *testing.B) {
	l := netlab.New(b, "h")
	e := enforcerFor(l, "h")
	rs := Build(bigPolicy(100_000, false))
	if _, err := e.Apply(rs); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		back, err := e.Observe()
		if err != nil || countElements(back) != countElements(rs) {
			b.Fatalf("read back %d elements (%v)", countElements(back), err)
		}
	}
}

// BenchmarkPacketPath opens TCP connections from one namespace to another through a
// ruleset of 10 or 100,000 allows; the cost of a packet must not grow with them. The
// allow that admits the connections is an exact element among exact ones, or a
// prefix among prefixes (the interval set).
func BenchmarkPacketPath(b *testing.B) {
	for _, exact := range []bool{true, false} {
		for _, n := range []int{10, 100_000} {
			kind := "range"
			if exact {
				kind = "exact"
			}
			b.Run(fmt.Sprintf("%s/allows=%d", kind, n), func(b *testing.B) {
				l := netlab.New(b, "client", "server")
				l.Serve("server", 8080)
				client := netip.MustParsePrefix("10.99.0.11/32")
				if !exact {
					client = netip.MustParsePrefix("10.99.0.0/24")
				}
				permit := Permit{client, model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 8080, Last: 8080}}}
				if _, err := enforcerFor(l, "server").Apply(Build(bigPolicy(n, exact, permit))); err != nil {
					b.Fatal(err)
				}
				// The 100,000-tuple ruleset's garbage must not be collected while
				// connections are timed: on two cores that would be the measurement.
				peakrss.Reset()
				var conns int
				start := time.Now()
				err := netlab.InNetns(l.Hosts["client"].NS, func() error {
					for b.Loop() {
						c, err := net.DialTimeout("tcp", "10.99.0.12:8080", time.Second)
						if err != nil {
							return err
						}
						c.Close()
						conns++
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(conns)/time.Since(start).Seconds(), "conns/s")
			})
		}
	}
}
