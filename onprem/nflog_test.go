package onprem

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netns"

	"github.com/microseg/microseg/model"
)

// nflogIPv4 builds an IPv4 packet with a 20-byte header (plus opts, a multiple of 4
// bytes) around l4, with the total length filled in.
func nflogIPv4(proto model.Protocol, src, dst string, opts, l4 []byte) []byte {
	ihl := 20 + len(opts)
	p := make([]byte, ihl, ihl+len(l4))
	p[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(p[2:4], uint16(ihl+len(l4)))
	p[8] = 64
	p[9] = byte(proto)
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	copy(p[20:], opts)
	return append(p, l4...)
}

// nflogIPv6 builds an IPv6 packet with next header nh around l4.
func nflogIPv6(nh model.Protocol, src, dst string, l4 []byte) []byte {
	p := make([]byte, 40, 40+len(l4))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:6], uint16(len(l4)))
	p[6] = byte(nh)
	p[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(p[8:24], s[:])
	copy(p[24:40], d[:])
	return append(p, l4...)
}

// nflogPorts builds a transport header of n bytes starting with the two ports, as TCP
// (n 20), UDP (n 8) and SCTP (n 12) all do.
func nflogPorts(src, dst uint16, n int) []byte {
	h := make([]byte, n)
	binary.BigEndian.PutUint16(h[0:2], src)
	binary.BigEndian.PutUint16(h[2:4], dst)
	return h
}

// nflogICMP builds an ICMP or ICMPv6 echo header of the given type with a payload.
func nflogICMP(typ byte, payload string) []byte {
	return append([]byte{typ, 0, 0, 0, 0, 1, 0, 1}, payload...)
}

func nflogAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// nflogAddrCmp lets cmp compare netip.Addrs, whose fields are unexported.
var nflogAddrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestParseLoggedPacket(t *testing.T) {
	tcp4 := nflogIPv4(model.ProtocolTCP, "10.0.0.1", "10.0.0.2", nil, nflogPorts(40000, 443, 20))
	fragment := nflogIPv4(model.ProtocolUDP, "10.0.0.1", "10.0.0.2", nil, []byte("continued payload"))
	binary.BigEndian.PutUint16(fragment[6:8], 185) // offset 185*8 bytes, no flags
	firstFragment := nflogIPv4(model.ProtocolUDP, "10.0.0.1", "10.0.0.2", nil, nflogPorts(5353, 53, 8))
	binary.BigEndian.PutUint16(firstFragment[6:8], 0x2000) // more fragments, offset 0
	tso := nflogIPv4(model.ProtocolTCP, "10.0.0.1", "10.0.0.2", nil, nflogPorts(40000, 443, 20))
	binary.BigEndian.PutUint16(tso[2:4], 0)
	padded := append(nflogIPv4(model.ProtocolUDP, "10.0.0.1", "10.0.0.2", nil, nflogPorts(1, 2, 8)), 0xde, 0xad)

	tests := []struct {
		name    string
		payload []byte
		want    model.FlowRecord
	}{{
		name:    "IPv4 TCP",
		payload: tcp4,
		want: model.FlowRecord{Src: nflogAddr("10.0.0.1"), Dst: nflogAddr("10.0.0.2"), SrcPort: 40000, DstPort: 443,
			Protocol: model.ProtocolTCP, Bytes: 40, Packets: 1},
	}, {
		name:    "IPv4 UDP",
		payload: nflogIPv4(model.ProtocolUDP, "192.0.2.7", "198.51.100.9", nil, append(nflogPorts(5353, 53, 8), "query"...)),
		want: model.FlowRecord{Src: nflogAddr("192.0.2.7"), Dst: nflogAddr("198.51.100.9"), SrcPort: 5353, DstPort: 53,
			Protocol: model.ProtocolUDP, Bytes: 33, Packets: 1},
	}, {
		name:    "IPv4 ICMP echo request",
		payload: nflogIPv4(model.ProtocolICMP, "10.1.1.1", "10.2.2.2", nil, nflogICMP(8, "ping")),
		want: model.FlowRecord{Src: nflogAddr("10.1.1.1"), Dst: nflogAddr("10.2.2.2"), DstPort: 8,
			Protocol: model.ProtocolICMP, Bytes: 32, Packets: 1},
	}, {
		name:    "IPv4 SCTP",
		payload: nflogIPv4(model.ProtocolSCTP, "10.0.0.1", "10.0.0.2", nil, nflogPorts(2905, 2905, 12)),
		want: model.FlowRecord{Src: nflogAddr("10.0.0.1"), Dst: nflogAddr("10.0.0.2"), SrcPort: 2905, DstPort: 2905,
			Protocol: model.ProtocolSCTP, Bytes: 32, Packets: 1},
	}, {
		name:    "IPv4 with options",
		payload: nflogIPv4(model.ProtocolTCP, "10.0.0.1", "10.0.0.2", []byte{1, 1, 1, 0, 1, 1, 1, 0}, nflogPorts(1234, 22, 20)),
		want: model.FlowRecord{Src: nflogAddr("10.0.0.1"), Dst: nflogAddr("10.0.0.2"), SrcPort: 1234, DstPort: 22,
			Protocol: model.ProtocolTCP, Bytes: 48, Packets: 1},
	}, {
		name:    "IPv4 first fragment has ports",
		payload: firstFragment,
		want: model.FlowRecord{Src: nflogAddr("10.0.0.1"), Dst: nflogAddr("10.0.0.2"), SrcPort: 5353, DstPort: 53,
			Protocol: model.ProtocolUDP, Bytes: 28, Packets: 1},
	}, {
		name:    "IPv4 later fragment has no ports",
		payload: fragment,
		want: model.FlowRecord{Src: nflogAddr("10.0.0.1"), Dst: nflogAddr("10.0.0.2"),
			Protocol: model.ProtocolUDP, Bytes: 37, Packets: 1},
	}, {
		name:    "IPv4 other protocol has no ports",
		payload: nflogIPv4(47, "10.0.0.1", "10.0.0.2", nil, []byte{0, 0, 8, 0}),
		want: model.FlowRecord{Src: nflogAddr("10.0.0.1"), Dst: nflogAddr("10.0.0.2"),
			Protocol: 47, Bytes: 24, Packets: 1},
	}, {
		name:    "IPv4 cut short by the copy range keeps the header's length",
		payload: nflogIPv4(model.ProtocolUDP, "10.0.0.1", "10.0.0.2", nil, append(nflogPorts(1, 2, 8), make([]byte, 1400)...))[:128],
		want: model.FlowRecord{Src: nflogAddr("10.0.0.1"), Dst: nflogAddr("10.0.0.2"), SrcPort: 1, DstPort: 2,
			Protocol: model.ProtocolUDP, Bytes: 1428, Packets: 1},
	}, {
		name:    "IPv4 with bytes after the packet",
		payload: padded,
		want: model.FlowRecord{Src: nflogAddr("10.0.0.1"), Dst: nflogAddr("10.0.0.2"), SrcPort: 1, DstPort: 2,
			Protocol: model.ProtocolUDP, Bytes: 28, Packets: 1},
	}, {
		name:    "IPv4 total length 0 (TSO) counts what was copied",
		payload: tso,
		want: model.FlowRecord{Src: nflogAddr("10.0.0.1"), Dst: nflogAddr("10.0.0.2"), SrcPort: 40000, DstPort: 443,
			Protocol: model.ProtocolTCP, Bytes: 40, Packets: 1},
	}, {
		name:    "IPv6 TCP",
		payload: nflogIPv6(model.ProtocolTCP, "2001:db8::1", "2001:db8::2", nflogPorts(50000, 8443, 20)),
		want: model.FlowRecord{Src: nflogAddr("2001:db8::1"), Dst: nflogAddr("2001:db8::2"), SrcPort: 50000, DstPort: 8443,
			Protocol: model.ProtocolTCP, Bytes: 60, Packets: 1},
	}, {
		name:    "IPv6 UDP",
		payload: nflogIPv6(model.ProtocolUDP, "fe80::1", "ff02::fb", nflogPorts(5353, 5353, 8)),
		want: model.FlowRecord{Src: nflogAddr("fe80::1"), Dst: nflogAddr("ff02::fb"), SrcPort: 5353, DstPort: 5353,
			Protocol: model.ProtocolUDP, Bytes: 48, Packets: 1},
	}, {
		name:    "IPv6 ICMPv6 echo request",
		payload: nflogIPv6(model.ProtocolICMPv6, "2001:db8::1", "2001:db8::2", nflogICMP(128, "ping")),
		want: model.FlowRecord{Src: nflogAddr("2001:db8::1"), Dst: nflogAddr("2001:db8::2"), DstPort: 128,
			Protocol: model.ProtocolICMPv6, Bytes: 52, Packets: 1},
	}, {
		name:    "IPv6 extension header is not followed",
		payload: nflogIPv6(0, "2001:db8::1", "2001:db8::2", append([]byte{byte(model.ProtocolTCP), 0, 1, 4, 0, 0, 0, 0}, nflogPorts(1, 2, 20)...)),
		want: model.FlowRecord{Src: nflogAddr("2001:db8::1"), Dst: nflogAddr("2001:db8::2"),
			Protocol: 0, Bytes: 68, Packets: 1},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLoggedPacket(tt.payload)
			if err != nil {
				t.Fatalf("parseLoggedPacket: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, nflogAddrCmp); diff != "" {
				t.Errorf("parseLoggedPacket mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLoggedPacketErrors(t *testing.T) {
	shortTotal := nflogIPv4(model.ProtocolUDP, "10.0.0.1", "10.0.0.2", nil, nflogPorts(1, 2, 8))
	binary.BigEndian.PutUint16(shortTotal[2:4], 19)
	totalCutsPorts := nflogIPv4(model.ProtocolUDP, "10.0.0.1", "10.0.0.2", nil, nflogPorts(1, 2, 8))
	binary.BigEndian.PutUint16(totalCutsPorts[2:4], 22)
	badIHL := nflogIPv4(model.ProtocolUDP, "10.0.0.1", "10.0.0.2", nil, nflogPorts(1, 2, 8))
	badIHL[0] = 0x44
	longIHL := nflogIPv4(model.ProtocolUDP, "10.0.0.1", "10.0.0.2", nil, nil)
	longIHL[0] = 0x4f

	tests := []struct {
		name    string
		payload []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"version 0", make([]byte, 60)},
		{"version 5", append([]byte{0x50}, make([]byte, 59)...)},
		{"garbage", []byte("this is not an IP packet at all, just some text")},
		{"IPv4 header truncated", nflogIPv4(model.ProtocolTCP, "10.0.0.1", "10.0.0.2", nil, nil)[:19]},
		{"IPv4 header length below 20", badIHL},
		{"IPv4 options truncated", longIHL},
		{"IPv4 total length below header length", shortTotal},
		{"IPv4 total length cuts the ports", totalCutsPorts},
		{"IPv4 TCP truncated", nflogIPv4(model.ProtocolTCP, "10.0.0.1", "10.0.0.2", nil, []byte{0x9c, 0x40, 0x01})},
		{"IPv4 UDP without header", nflogIPv4(model.ProtocolUDP, "10.0.0.1", "10.0.0.2", nil, nil)},
		{"IPv4 ICMP without header", nflogIPv4(model.ProtocolICMP, "10.0.0.1", "10.0.0.2", nil, nil)},
		{"IPv6 header truncated", nflogIPv6(model.ProtocolTCP, "::1", "::1", nil)[:39]},
		{"IPv6 only the version", []byte{0x60}},
		{"IPv6 TCP truncated", nflogIPv6(model.ProtocolTCP, "::1", "::1", []byte{0, 1})},
		{"IPv6 ICMPv6 without header", nflogIPv6(model.ProtocolICMPv6, "::1", "::1", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLoggedPacket(tt.payload)
			if err == nil {
				t.Fatalf("parseLoggedPacket = %+v, want an error", got)
			}
			if !errors.Is(err, errLoggedPacket) {
				t.Errorf("parseLoggedPacket error %v does not wrap errLoggedPacket", err)
			}
		})
	}
}

func FuzzParseLoggedPacket(f *testing.F) {
	f.Add(nflogIPv4(model.ProtocolTCP, "10.0.0.1", "10.0.0.2", nil, nflogPorts(40000, 443, 20)))
	f.Add(nflogIPv4(model.ProtocolUDP, "10.0.0.1", "10.0.0.2", nil, nflogPorts(5353, 53, 8)))
	f.Add(nflogIPv4(model.ProtocolICMP, "10.0.0.1", "10.0.0.2", nil, nflogICMP(8, "x")))
	f.Add(nflogIPv4(model.ProtocolTCP, "10.0.0.1", "10.0.0.2", []byte{1, 1, 1, 0}, nflogPorts(1, 2, 20)))
	f.Add(nflogIPv6(model.ProtocolTCP, "2001:db8::1", "2001:db8::2", nflogPorts(1, 2, 20)))
	f.Add(nflogIPv6(model.ProtocolICMPv6, "::1", "::1", nflogICMP(128, "x")))
	f.Add(nflogIPv6(model.ProtocolSCTP, "::1", "::1", nflogPorts(1, 2, 12)))
	f.Add([]byte{0x45})
	f.Add([]byte{0x60})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		orig := bytes.Clone(payload)
		rec, err := parseLoggedPacket(payload)
		if !bytes.Equal(orig, payload) {
			t.Fatal("parseLoggedPacket modified its input")
		}
		if err != nil {
			if !errors.Is(err, errLoggedPacket) {
				t.Fatalf("error %v does not wrap errLoggedPacket", err)
			}
			return
		}
		switch payload[0] >> 4 {
		case 4:
			if !rec.Src.Is4() || !rec.Dst.Is4() || rec.Bytes < 20 {
				t.Fatalf("IPv4 packet parsed as %+v", rec)
			}
		case 6:
			if !rec.Src.Is6() || !rec.Dst.Is6() || rec.Bytes < 40 {
				t.Fatalf("IPv6 packet parsed as %+v", rec)
			}
		default:
			t.Fatalf("version %d packet parsed without error as %+v", payload[0]>>4, rec)
		}
		if rec.Packets != 1 {
			t.Fatalf("Packets = %d, want 1", rec.Packets)
		}
		if rec.SrcPort != 0 && rec.Protocol != model.ProtocolTCP && rec.Protocol != model.ProtocolUDP && rec.Protocol != model.ProtocolSCTP {
			t.Fatalf("protocol %v has source port %d", rec.Protocol, rec.SrcPort)
		}
	})
}

func TestNFLOGLogPrefix(t *testing.T) {
	tests := []struct {
		action    model.FlowAction
		direction string
		want      string
	}{
		{model.FlowDrop, "in", "microseg drop in "},
		{model.FlowDrop, "out", "microseg drop out "},
		{model.FlowWouldDrop, "in", "microseg would-drop in "},
		{model.FlowWouldDrop, "out", "microseg would-drop out "},
	}
	for _, tt := range tests {
		got := LogPrefix(tt.action, tt.direction)
		if got != tt.want {
			t.Errorf("LogPrefix(%v, %q) = %q, want %q", tt.action, tt.direction, got, tt.want)
		}
		// nft limits a log prefix to 127 bytes; the reader must map it back.
		if len(got) > 127 {
			t.Errorf("LogPrefix(%v, %q) is %d bytes, longer than nft allows", tt.action, tt.direction, len(got))
		}
		if action, ok := nflogPrefixAction(got); !ok || action != tt.action {
			t.Errorf("nflogPrefixAction(%q) = %v, %v, want %v, true", got, action, ok, tt.action)
		}
	}
	for _, bad := range []struct {
		action    model.FlowAction
		direction string
	}{{model.FlowAccept, "in"}, {model.FlowDrop, "forward"}, {model.FlowWouldDrop, ""}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("LogPrefix(%v, %q) did not panic", bad.action, bad.direction)
				}
			}()
			LogPrefix(bad.action, bad.direction)
		}()
	}
	for _, other := range []string{"", "microseg drop", "microseg accept in ", "MICROSEG drop in ", "microseg drop in x"} {
		if _, ok := nflogPrefixAction(other); ok {
			t.Errorf("nflogPrefixAction(%q) accepted a prefix microseg does not write", other)
		}
	}
}

// TestNFLOGRecordConversion checks how one NFLOG message becomes a record, or is
// counted, without a kernel.
func TestNFLOGRecordConversion(t *testing.T) {
	r := &FlowLogReader{cfg: FlowLogConfig{Group: 7, Target: "prod", Host: "web-1"}}
	payload := nflogIPv4(model.ProtocolTCP, "10.0.0.1", "10.0.0.2", nil, nflogPorts(40000, 443, 20))
	garbage := []byte{0x45, 0}
	ptr := func(s string) *string { return &s }
	stamp := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

	rec, ok := r.record(nflog.Attribute{Prefix: ptr(LogPrefixDropIn), Payload: &payload, Timestamp: &stamp})
	want := model.FlowRecord{Time: stamp, Src: nflogAddr("10.0.0.1"), Dst: nflogAddr("10.0.0.2"), SrcPort: 40000, DstPort: 443,
		Protocol: model.ProtocolTCP, Bytes: 40, Packets: 1, Action: model.FlowDrop, Target: "prod", Reporter: "web-1"}
	if !ok {
		t.Fatal("record skipped a drop message")
	}
	if diff := cmp.Diff(want, rec, nflogAddrCmp); diff != "" {
		t.Errorf("record mismatch (-want +got):\n%s", diff)
	}

	before := time.Now()
	rec, ok = r.record(nflog.Attribute{Prefix: ptr(LogPrefixWouldDropOut), Payload: &payload})
	if !ok || rec.Action != model.FlowWouldDrop || rec.Time.Before(before) || time.Since(rec.Time) > time.Minute {
		t.Errorf("record without timestamp = %+v, %v; want a would-drop at about now", rec, ok)
	}

	for _, a := range []nflog.Attribute{
		{Payload: &payload},
		{Prefix: ptr("kernel: "), Payload: &payload},
	} {
		if _, ok := r.record(a); ok {
			t.Errorf("record accepted a message with prefix %v", a.Prefix)
		}
	}
	for _, a := range []nflog.Attribute{
		{Prefix: ptr(LogPrefixDropOut)},
		{Prefix: ptr(LogPrefixDropOut), Payload: &garbage},
	} {
		if _, ok := r.record(a); ok {
			t.Errorf("record accepted a malformed message %+v", a)
		}
	}
	if r.Skipped() != 2 || r.Malformed() != 2 || r.Lost() != 0 {
		t.Errorf("Skipped, Malformed, Lost = %d, %d, %d; want 2, 2, 0", r.Skipped(), r.Malformed(), r.Lost())
	}
}

// nflogInNetNS runs fn on an OS thread switched into the named namespace, so that the
// sockets fn creates live there, and switches back.
func nflogInNetNS(t *testing.T, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("get current netns: %v", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("get netns %s: %v", name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatalf("enter netns %s: %v", name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// The thread is stuck in the wrong namespace; leave it locked so that the
			// runtime discards it when this goroutine exits.
			runtime.LockOSThread()
			t.Errorf("return from netns %s: %v", name, err)
		}
	}()
	fn()
}

// TestNFLOGRecordsFromKernel has nftables in a scratch network namespace log packets
// to an NFLOG group and checks that a FlowLogReader in that namespace turns them into
// records. It needs root; nothing outside the namespace is touched.
func TestNFLOGRecordsFromKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace and bind an NFLOG group")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	ns := fmt.Sprintf("msnflog-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create network namespace %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("delete network namespace %s: %v: %s", ns, err, out)
		}
	})
	nsExec := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s in netns %s: %v: %s", strings.Join(args, " "), ns, err, out)
		}
	}
	nsExec("", "ip", "link", "set", "lo", "up")
	// The ruleset logs what this test sends, plus a drop and a message with a foreign
	// prefix in the same group, which the reader must skip.
	nsExec(`
table inet microsegtest {
	chain output {
		type filter hook output priority 0; policy accept;
		ip daddr 127.0.0.1 udp dport 9999 log group 7 prefix "microseg would-drop out "
		ip6 daddr ::1 tcp dport 9998 log group 7 prefix "microseg would-drop out "
		ip daddr 127.0.0.1 udp dport 9997 log group 7 prefix "someone else "
		ip daddr 127.0.0.1 udp dport 9996 log group 7 prefix "microseg drop out " drop
	}
}
`, "nft", "-f", "-")

	// Closing right after opening, before go-nflog's receive goroutine is under way, is
	// what made go-nflog's own Close race (seen with -race). It must not leak either.
	goroutines := runtime.NumGoroutine()
	for range 20 {
		r, err := OpenFlowLog(FlowLogConfig{Group: 7, NetNS: ns})
		if err != nil {
			t.Fatalf("OpenFlowLog: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > goroutines; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after opening and closing 20 readers, %d before", runtime.NumGoroutine(), goroutines)
		}
		time.Sleep(10 * time.Millisecond)
	}

	r, err := OpenFlowLog(FlowLogConfig{Group: 7, NetNS: ns, Target: "lab", Host: "host-a"})
	if err != nil {
		t.Fatalf("OpenFlowLog: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan model.FlowRecord, 16)
	runErr := make(chan error, 1)
	go func() {
		runErr <- r.Run(ctx, func(rec model.FlowRecord) {
			select {
			case got <- rec:
			case <-ctx.Done():
			}
		})
	}()

	var udpPort, dropPort uint16
	nflogInNetNS(t, ns, func() {
		send := func(dst string) uint16 {
			c, err := net.Dial("udp", dst)
			if err != nil {
				t.Fatalf("dial udp %s: %v", dst, err)
			}
			defer c.Close()
			// The write to the dropped port fails with EPERM, but it was logged first.
			_, _ = c.Write([]byte("hello nflog"))
			return uint16(c.LocalAddr().(*net.UDPAddr).Port)
		}
		send("127.0.0.1:9997")
		udpPort = send("127.0.0.1:9999")
		dropPort = send("127.0.0.1:9996")

		// Nothing listens, so the SYN is answered by a reset; it is logged all the same.
		// The kernel picks the source port, so the check below only wants one.
		c, err := net.DialTimeout("tcp", "[::1]:9998", time.Second)
		if err == nil {
			c.Close()
			t.Errorf("connected to [::1]:9998, where nothing should listen")
		}
	})

	udp := model.FlowRecord{Src: nflogAddr("127.0.0.1"), Dst: nflogAddr("127.0.0.1"), SrcPort: udpPort, DstPort: 9999,
		Protocol: model.ProtocolUDP, Bytes: 20 + 8 + 11, Packets: 1, Action: model.FlowWouldDrop, Target: "lab", Reporter: "host-a"}
	drop := udp
	drop.SrcPort, drop.DstPort, drop.Action = dropPort, 9996, model.FlowDrop

	var sawUDP, sawDrop, sawTCP bool
	for !sawUDP || !sawDrop || !sawTCP {
		select {
		case rec := <-got:
			t.Logf("record: %+v", rec)
			if rec.Time.IsZero() {
				t.Errorf("record has no time: %+v", rec)
			}
			rec.Time = time.Time{}
			switch {
			case rec.Protocol == model.ProtocolUDP && rec.DstPort == 9999:
				sawUDP = true
				if diff := cmp.Diff(udp, rec, nflogAddrCmp); diff != "" {
					t.Errorf("UDP record mismatch (-want +got):\n%s", diff)
				}
			case rec.Protocol == model.ProtocolUDP && rec.DstPort == 9996:
				sawDrop = true
				if diff := cmp.Diff(drop, rec, nflogAddrCmp); diff != "" {
					t.Errorf("drop record mismatch (-want +got):\n%s", diff)
				}
			case rec.Protocol == model.ProtocolTCP && rec.DstPort == 9998:
				sawTCP = true
				if rec.Src != nflogAddr("::1") || rec.Dst != nflogAddr("::1") || rec.SrcPort == 0 ||
					rec.Action != model.FlowWouldDrop || rec.Packets != 1 || rec.Bytes < 60 ||
					rec.Target != "lab" || rec.Reporter != "host-a" {
					t.Errorf("TCP record = %+v, want a would-drop SYN from [::1] to [::1]:9998", rec)
				}
			default:
				t.Errorf("unexpected record %+v", rec)
			}
		case <-ctx.Done():
			t.Fatalf("records within 5s: UDP %v, drop %v, TCP %v; want all (skipped %d, malformed %d, lost %d)",
				sawUDP, sawDrop, sawTCP, r.Skipped(), r.Malformed(), r.Lost())
		}
	}
	// The foreign message was sent before the others, so it has been read by now.
	if r.Skipped() != 1 || r.Malformed() != 0 {
		t.Errorf("Skipped, Malformed = %d, %d; want 1, 0", r.Skipped(), r.Malformed())
	}

	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}

	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := r.Run(context.Background(), func(model.FlowRecord) {}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Run after Close = %v, want net.ErrClosed", err)
	}
}
