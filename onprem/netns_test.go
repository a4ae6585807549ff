package onprem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// lab is a set of network namespaces joined by a bridge: the test hosts. Addresses
// exist only inside the namespaces; nothing else is ever a target.
type lab struct {
	t      testing.TB
	prefix string
	hosts  map[string]labHost // by host name
}

type labHost struct {
	ns   string
	ipv4 string
	ipv6 string
}

// needRoot skips a test that needs the kernel's nftables and network namespaces
// when they are not available (not root, or no ip command).
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and nftables")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
}

func run(t testing.TB, name string, args ...string) string {
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
func newLab(t testing.TB, hosts ...string) *lab {
	needRoot(t)
	l := &lab{t: t, prefix: fmt.Sprintf("ms%d", os.Getpid()%100000), hosts: map[string]labHost{}}
	sw := l.prefix + "-sw"
	t.Cleanup(func() {
		for _, h := range l.hosts {
			exec.Command("ip", "netns", "del", h.ns).Run()
		}
		exec.Command("ip", "netns", "del", sw).Run()
	})
	run(t, "ip", "netns", "add", sw)
	run(t, "ip", "-n", sw, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", sw, "link", "set", "br0", "up")
	for i, name := range hosts {
		h := labHost{
			ns:   fmt.Sprintf("%s-%d", l.prefix, i),
			ipv4: fmt.Sprintf("10.99.0.%d", 11+i),
			ipv6: fmt.Sprintf("fd99::%d", 11+i),
		}
		l.hosts[name] = h
		run(t, "ip", "netns", "add", h.ns)
		peer := fmt.Sprintf("v%d", i)
		run(t, "ip", "-n", h.ns, "link", "add", "eth0", "type", "veth", "peer", "name", peer, "netns", sw)
		run(t, "ip", "-n", sw, "link", "set", peer, "master", "br0", "up")
		run(t, "ip", "-n", h.ns, "link", "set", "lo", "up")
		run(t, "ip", "-n", h.ns, "addr", "add", h.ipv4+"/24", "dev", "eth0")
		run(t, "ip", "-n", h.ns, "addr", "add", h.ipv6+"/64", "dev", "eth0", "nodad")
		run(t, "ip", "-n", h.ns, "link", "set", "eth0", "up")
	}
	return l
}

// inNetns runs fn on a thread switched into the namespace; sockets fn opens stay in it.
func inNetns(name string, fn func() error) error {
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
func (l *lab) serve(host string, port int) {
	l.t.Helper()
	h := l.hosts[host]
	err := inNetns(h.ns, func() error {
		for _, network := range []string{"tcp", "tcp6"} {
			ln, err := net.Listen(network, net.JoinHostPort("", fmt.Sprint(port)))
			if network == "tcp6" {
				ln, err = net.Listen("tcp", net.JoinHostPort("::", fmt.Sprint(port)))
			}
			if err != nil {
				return err
			}
			l.t.Cleanup(func() { ln.Close() })
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
		l.t.Cleanup(func() { pc.Close() })
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
		l.t.Fatalf("serve on %s:%d: %v", host, port, err)
	}
}

// denyTimeout is how long a probe waits before calling a flow blocked: dropped
// packets are never answered, so a denial is a timeout.
const denyTimeout = 400 * time.Millisecond

// probe sends one request from host to addr (host:port) over network ("tcp", "udp")
// and waits for the echo; nil means the flow passed.
func (l *lab) probe(from, network, addr string) error {
	var result error
	err := inNetns(l.hosts[from].ns, func() error {
		c, err := net.DialTimeout(network, addr, denyTimeout)
		if err != nil {
			result = err
			return nil
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(denyTimeout))
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
		l.t.Fatalf("probe from %s: %v", from, err)
	}
	return result
}

// ping sends one ICMP (ICMPv6) echo request from host to addr and waits for the reply.
func (l *lab) ping(from, addr string) error {
	ip := net.ParseIP(addr)
	v6 := ip.To4() == nil
	var result error
	err := inNetns(l.hosts[from].ns, func() error {
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
		c.SetReadDeadline(time.Now().Add(denyTimeout))
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
		l.t.Fatalf("ping from %s: %v", from, err)
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
func (l *lab) nft(host string, args ...string) string {
	l.t.Helper()
	return run(l.t, "ip", append([]string{"netns", "exec", l.hosts[host].ns, "nft"}, args...)...)
}

// enforcer returns an enforcer for host's namespace, closed when the test ends.
func (l *lab) enforcer(host string) *Enforcer {
	e := NewEnforcer(l.hosts[host].ns)
	l.t.Cleanup(func() { e.Close() })
	return e
}
