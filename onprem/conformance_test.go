package onprem

import (
	"strings"
	"testing"

	"github.com/microseg/microseg/internal/netlab"
	"github.com/microseg/microseg/providers/conformance"
)

// TestConformance runs the providers' conformance suite on a namespace host: the
// same fixed point, idempotence, drift and hands-off checks every cloud passes.
func TestConformance(t *testing.T) {
	l := netlab.New(t, "web-01", "app-01", "db-01")
	serveLab(l)
	p := &HostProvider{Enforcer: enforcerFor(l, "app-01"), Host: "app-01"}
	nft := func(cmd string) { l.Nft("app-01", strings.Fields(cmd)...) }
	conformance.Run(t, conformance.Harness{
		Provider: p,
		State:    labPolicy(t, "testdata/lab"),
		Drifts: map[string]func(t *testing.T) string{
			"element deleted by hand": func(t *testing.T) string {
				nft("delete element inet microseg in4_exact { 10.99.0.11 . tcp . 8080 }")
				return "+ rule element in4_exact 10.99.0.11 . tcp . 8080"
			},
			"rule added by hand": func(t *testing.T) string {
				nft("insert rule inet microseg input tcp dport 9999 accept")
				return "- rule input manual: "
			},
			"chain policy changed": func(t *testing.T) string {
				nft("add chain inet microseg input { type filter hook input priority filter ; policy accept ; }")
				return `~ segment chain input  policy: "accept" -> "drop"`
			},
			"table deleted": func(t *testing.T) string {
				nft("delete table inet microseg")
				return "+ segment table inet microseg"
			},
		},
		Unmanaged: func(t *testing.T) {
			nft("add table inet other")
			nft("add chain inet other c")
			nft("add rule inet other c counter")
		},
		// web -> app on 8080 is allowed by both versions: connections keep
		// working while the table changes.
		Next: labPolicy(t, "testdata/lab-wider"),
		Kept: func() bool { return l.Probe("web-01", "tcp", "10.99.0.12:8080") == nil },
		Untouched: func(t *testing.T) {
			if out := l.Nft("app-01", "list", "table", "inet", "other"); !strings.Contains(out, "counter") {
				t.Errorf("the unmanaged table changed:\n%s", out)
			}
		},
	})
}
