// Package netlab builds test hosts out of network namespaces: one namespace per host,
// joined by a bridge in a switch namespace, addresses that exist only inside them,
// and helpers to serve, probe and ping between them and to run nft in them. Tests of
// enforcement use it to send real traffic through the real kernel. Every namespace
// is deleted when the test ends, also when it fails; namespaces left by a test
// process that was killed are deleted by the next New.
package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// lab is a set of network namespaces joined by a bridge: the test hosts. Addresses
// exist only inside the namespaces; nothing else is ever a target.
type Lab struct {
	T      testing.TB
	prefix string
	Hosts  map[string]Host // by host name
}

type Host struct {
	NS   string // the namespace, for ip netns and onprem.NewEnforcer
	IPv4 string
	IPv6 string
}

// needRoot skips a test that needs the kernel's nftables and network namespaces
// when they are not available (not root, or no ip command).
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and nftables")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
}

func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newLab makes one namespace per host, each with a veth into a switch namespace
// holding a bridge; hosts[i] gets 10.99.0.(11+i) and fd99::(11+i). Every namespace
// is deleted when the test ends, also when it fails.
func New(t testing.TB, hosts ...string) *Lab {
	NeedRoot(t)
	removeStale()
	l := &Lab{T: t, prefix: fmt.Sprintf("ms%d", os.Getpid()), Hosts: map[string]Host{}}
	sw := l.prefix + "-sw"
	t.Cleanup(func() {
		for _, h := range l.Hosts {
			exec.Command("ip", "netns", "del", h.NS).Run()
		}
		exec.Command("ip", "netns", "del", sw).Run()
	})
	Run(t, "ip", "netns", "add", sw)
	Run(t, "ip", "-n", sw, "link", "add", "br0", "type", "bridge")
	Run(t, "ip", "-n", sw, "link", "set", "br0", "up")
	for i, name := range hosts {
		h := Host{
			NS:   fmt.Sprintf("%s-%d", l.prefix, i),
			IPv4: fmt.Sprintf("10.99.0.%d", 11+i),
			IPv6: fmt.Sprintf("fd99::%d", 11+i),
		}
		l.Hosts[name] = h
		Run(t, "ip", "netns", "add", h.NS)
		peer := fmt.Sprintf("v%d", i)
		Run(t, "ip", "-n", h.NS, "link", "add", "eth0", "type", "veth", "peer", "name", peer, "netns", sw)
		Run(t, "ip", "-n", sw, "link", "set", peer, "master", "br0", "up")
		Run(t, "ip", "-n", h.NS, "link", "set", "lo", "up")
		Run(t, "ip", "-n", h.NS, "addr", "add", h.IPv4+"/24", "dev", "eth0")
		Run(t, "ip", "-n", h.NS, "addr", "add", h.IPv6+"/64", "dev", "eth0", "nodad")
		Run(t, "ip", "-n", h.NS, "link", "set", "eth0", "up")
	}
	return l
}

// removeStale deletes the namespaces of lab processes that no longer run (killed by a
// timeout, say, before their cleanup ran). Lab namespaces are named ms<pid>-...
func removeStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, "ms")
		if !ok {
			continue
		}
		digits, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(digits)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// InNetns runs fn on a thread switched into the namespace; sockets fn opens stay in it.
func InNetns(name string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	h, err := netns.GetFromName(name)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in the namespace: leave it locked, so it dies with the
		// goroutine instead of running other code there.
		return errors.Join(ferr, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// serve starts echo servers in host's namespace on tcp and udp port, both families,
// for the rest of the test.
func (l *Lab) Serve(host string, port int) {
	l.T.Helper()
	h := l.Hosts[host]
	err := InNetns(h.NS, func() error {
		for _, network := range []string{"tcp", "tcp6"} {
			ln, err := net.Listen(network, net.JoinHostPort("", fmt.Sprint(port)))
			if network == "tcp6" {
				ln, err = net.Listen("tcp", net.JoinHostPort("::", fmt.Sprint(port)))
			}
			if err != nil {
				return err
			}
			l.T.Cleanup(func() { ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						buf := make([]byte, 64)
						n, _ := c.Read(buf)
						c.Write(buf[:n])
					}()
				}
			}()
			break // "tcp" on "" listens on both families
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort("::", fmt.Sprint(port)))
		if err != nil {
			return err
		}
		l.T.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 64)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(buf[:n], from)
			}
		}()
		return nil
	})
	if err != nil {
		l.T.Fatalf("serve on %s:%d: %v", host, port, err)
	}
}

// DenyTimeout is how long a probe waits before calling a flow blocked: dropped
// packets are never answered, so a denial is a timeout.
const DenyTimeout = 400 * time.Millisecond

// probe sends one request from host to addr (host:port) over network ("tcp", "udp")
// and waits for the echo; nil means the flow passed.
func (l *Lab) Probe(from, network, addr string) error {
	var result error
	err := InNetns(l.Hosts[from].NS, func() error {
		c, err := net.DialTimeout(network, addr, DenyTimeout)
		if err != nil {
			result = err
			return nil
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(DenyTimeout))
		if _, err := c.Write([]byte("ping")); err != nil {
			result = err
			return nil
		}
		buf := make([]byte, 4)
		if _, err := c.Read(buf); err != nil {
			result = err
		}
		return nil
	})
	if err != nil {
		l.T.Fatalf("probe from %s: %v", from, err)
	}
	return result
}

// ping sends one ICMP (ICMPv6) echo request from host to addr and waits for the reply.
func (l *Lab) Ping(from, addr string) error {
	ip := net.ParseIP(addr)
	v6 := ip.To4() == nil
	var result error
	err := InNetns(l.Hosts[from].NS, func() error {
		network, reqType, replyType := "ip4:icmp", byte(8), byte(0)
		if v6 {
			network, reqType, replyType = "ip6:ipv6-icmp", 128, 129
		}
		c, err := net.ListenPacket(network, "")
		if err != nil {
			return err
		}
		defer c.Close()
		msg := []byte{reqType, 0, 0, 0, 0x4d, 0x53, 0, 1, 'm', 's'}
		if !v6 { // the kernel computes ICMPv6 checksums, not ICMPv4 ones
			binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
		}
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: ip}); err != nil {
			result = err
			return nil
		}
		c.SetReadDeadline(time.Now().Add(DenyTimeout))
		buf := make([]byte, 1500)
		for {
			n, peer, err := c.ReadFrom(buf)
			if err != nil {
				result = err
				return nil
			}
			if n > 0 && buf[0] == replyType && peer.(*net.IPAddr).IP.Equal(ip) {
				return nil
			}
		}
	})
	if err != nil {
		l.T.Fatalf("ping from %s: %v", from, err)
	}
	return result
}

func icmpChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// nft runs the nft command inside host's namespace, as an operator would by hand.
func (l *Lab) Nft(host string, args ...string) string {
	l.T.Helper()
	return Run(l.T, "ip", append([]string{"netns", "exec", l.Hosts[host].NS, "nft"}, args...)...)
}
