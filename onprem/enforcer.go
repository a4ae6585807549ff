package onprem

import (
	"fmt"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Enforcer writes and reads table inet microseg on one host: this one, or the network
// namespace it is given (how tests and `make run` make several hosts on one machine).
type Enforcer struct {
	netnsName string

	mu sync.Mutex
	// last is what this enforcer's last transaction left in the kernel, valid while
	// the ruleset generation is still lastGen: then Apply sends the difference
	// without reading the table back.
	last    *Ruleset
	lastGen uint32

	// c is opened on first use and kept: closing a netlink socket of nf_tables waits
	// for the kernel (8-15 ms measured here), more than a whole incremental apply.
	c       *nftables.Conn
	closeNS func()
}

// Close releases the enforcer's netlink connection. The ruleset stays as it is.
func (e *Enforcer) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		return nil
	}
	err := e.c.CloseLasting()
	e.closeNS()
	e.c = nil
	return err
}

// NewEnforcer returns an enforcer for the named network namespace, or for the host's
// own when netnsName is "".
func NewEnforcer(netnsName string) *Enforcer { return &Enforcer{netnsName: netnsName} }

// Batches of 100,000 elements are megabytes of netlink messages: without larger
// socket buffers the kernel answers "message too long" or ENOBUFS.
const socketBuffer = 16 << 20

// Elements per SetAddElements call. google/nftables v0.3.0 puts one call's elements
// into one netlink attribute whose 16-bit length wraps silently past about 1,400 IPv4
// elements (900 IPv6), loading only some of them with no error: stay well below.
const (
	chunkIPv4 = 1000
	chunkIPv6 = 500
)

// conn returns the enforcer's connection, opening it the first time. Callers hold e.mu.
func (e *Enforcer) conn() (*nftables.Conn, error) {
	if e.c != nil {
		return e.c, nil
	}
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(setBuffers)}
	closeNS := func() {}
	if e.netnsName != "" {
		h, err := netns.GetFromName(e.netnsName)
		if err != nil {
			return nil, fmt.Errorf("open network namespace %s: %w", e.netnsName, err)
		}
		opts = append(opts, nftables.WithNetNSFd(int(h)))
		closeNS = func() { h.Close() }
	}
	c, err := nftables.New(opts...)
	if err != nil {
		closeNS()
		return nil, fmt.Errorf("open netlink connection%s: %w", e.where(), err)
	}
	e.c, e.closeNS = c, closeNS
	return c, nil
}

var table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}

// ApplyStats says what an apply sent.
type ApplyStats struct {
	Full            bool // the whole table was replaced; otherwise only elements changed
	ElementsAdded   int
	ElementsRemoved int
}

// Apply makes the host's table what desired says, in one atomic netlink transaction:
// the kernel switches from the old ruleset to the new at once, so an allowed flow is
// never cut and a failed transaction leaves the old ruleset as it was. When the table
// already has the desired chains, sets and rules, only set elements are sent.
func (e *Enforcer) Apply(desired *Ruleset) (ApplyStats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	before, err := e.generation()
	if err != nil {
		return ApplyStats{}, err
	}
	current := e.last
	if current == nil || before != e.lastGen {
		// Someone else changed the ruleset (or this enforcer never wrote it): start
		// from what the kernel really holds.
		if current, err = e.observe(); err != nil {
			return ApplyStats{}, err
		}
	}
	stats, result, sent, err := e.apply(current, desired)
	if err != nil {
		e.last = nil
		return ApplyStats{}, err
	}
	if !sent {
		e.last, e.lastGen = result, before
		return stats, nil
	}
	// Our commit made generation before+1, unless someone else committed after we
	// read it; then the generation is higher and the next Apply reads the table back.
	// (Reading the generation here instead would wait for the commit's deferred
	// cleanup, about 12 ms, after the change is already in force.)
	e.last, e.lastGen = result, before+1
	return stats, nil
}

// apply sends what takes current to desired and returns the ruleset the kernel then
// holds; sent is false when nothing needed sending.
func (e *Enforcer) apply(current, desired *Ruleset) (stats ApplyStats, result *Ruleset, sent bool, err error) {
	defer func() {
		if err != nil {
			e.dropConn() // nothing half queued may reach the next transaction
		}
	}()
	c, err := e.conn()
	if err != nil {
		return ApplyStats{}, nil, false, err
	}
	if sameStructure(current, desired) {
		if changes, result, stats, ok := planElementChanges(current, desired); ok {
			n := 0
			for _, ch := range changes {
				s := nftSet(ch.spec)
				if err := addElements(c, s, ch.spec, ch.add, false); err != nil {
					return ApplyStats{}, nil, false, err
				}
				if err := addElements(c, s, ch.spec, ch.del, true); err != nil {
					return ApplyStats{}, nil, false, err
				}
				n += len(ch.add) + len(ch.del)
			}
			if n == 0 {
				return stats, result, false, nil
			}
			if err := c.Flush(); err != nil {
				return ApplyStats{}, nil, false, fmt.Errorf("apply elements of table inet %s%s: %w", TableName, e.where(), err)
			}
			return stats, result, true, nil
		}
	}
	stats = ApplyStats{Full: true}
	if current.Present {
		c.DelTable(table)
	}
	if desired.Present {
		if err := queueTable(c, desired); err != nil {
			return ApplyStats{}, nil, false, err
		}
		for _, s := range desired.Sets {
			stats.ElementsAdded += len(s.Elements)
		}
	}
	if !current.Present && !desired.Present {
		return stats, desired, false, nil
	}
	if err := c.Flush(); err != nil {
		return ApplyStats{}, nil, false, fmt.Errorf("apply table inet %s%s: %w", TableName, e.where(), err)
	}
	return stats, desired, true, nil
}

// dropConn closes the connection after a failed transaction, so that nothing it
// had queued can leak into the next one.
func (e *Enforcer) dropConn() {
	if e.c != nil {
		e.c.CloseLasting()
		e.closeNS()
		e.c = nil
	}
}

func (e *Enforcer) where() string {
	if e.netnsName == "" {
		return ""
	}
	return " in network namespace " + e.netnsName
}

// sameStructure reports whether two rulesets differ in set elements at most.
func sameStructure(a, b *Ruleset) bool {
	if !a.Present || !b.Present || !slices.Equal(a.Chains, b.Chains) || len(a.Sets) != len(b.Sets) || len(a.Rules) != len(b.Rules) {
		return false
	}
	for i := range a.Sets {
		if a.Sets[i].Spec != b.Sets[i].Spec {
			return false
		}
	}
	for i := range a.Rules {
		if a.Rules[i].Chain != b.Rules[i].Chain || a.Rules[i].Key != b.Rules[i].Key || exprsText(a.Rules[i].Exprs) != exprsText(b.Rules[i].Exprs) {
			return false
		}
	}
	return true
}

func nftSet(spec SetSpec) *nftables.Set {
	return &nftables.Set{
		Table:         table,
		Name:          spec.Name,
		KeyType:       spec.keyType(),
		Interval:      spec.interval(),
		Concatenation: true,
	}
}

func toSetElements(elems []Element) []nftables.SetElement {
	out := make([]nftables.SetElement, len(elems))
	for i, el := range elems {
		out[i] = nftables.SetElement{Key: el.Key, KeyEnd: el.KeyEnd}
	}
	return out
}

func chunkSize(spec SetSpec) int {
	if spec.IPv6 {
		return chunkIPv6
	}
	return chunkIPv4
}

// addElements queues elements in chunks the library encodes correctly.
func addElements(c *nftables.Conn, s *nftables.Set, spec SetSpec, elems []Element, del bool) error {
	for start := 0; start < len(elems); start += chunkSize(spec) {
		chunk := toSetElements(elems[start:min(start+chunkSize(spec), len(elems))])
		var err error
		if del {
			err = c.SetDeleteElements(s, chunk)
		} else {
			err = c.SetAddElements(s, chunk)
		}
		if err != nil {
			return fmt.Errorf("queue elements of set %s: %w", spec.Name, err)
		}
	}
	return nil
}

// queueTable queues the creation of the whole table.
func queueTable(c *nftables.Conn, rs *Ruleset) error {
	c.AddTable(table)
	sets := map[string]*nftables.Set{}
	for _, s := range rs.Sets {
		ns := nftSet(s.Spec)
		if err := c.AddSet(ns, nil); err != nil {
			return fmt.Errorf("queue set %s: %w", s.Spec.Name, err)
		}
		if err := addElements(c, ns, s.Spec, s.Elements, false); err != nil {
			return err
		}
		sets[s.Spec.Name] = ns
	}
	chains := map[string]*nftables.Chain{}
	for _, ch := range rs.Chains {
		hook := nftables.ChainHookInput
		if ch.Name == "output" {
			hook = nftables.ChainHookOutput
		}
		chains[ch.Name] = c.AddChain(&nftables.Chain{
			Name: ch.Name, Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: chainPolicy(ch.Policy),
		})
	}
	for _, r := range rs.Rules {
		exprs := make([]expr.Any, len(r.Exprs))
		for i, x := range r.Exprs {
			// A lookup names its set by the ID it has in this transaction.
			if l, ok := x.(*expr.Lookup); ok {
				cp := *l
				cp.SetID = sets[l.SetName].ID
				x = &cp
			}
			exprs[i] = x
		}
		c.AddRule(&nftables.Rule{Table: table, Chain: chains[r.Chain], Exprs: exprs, UserData: []byte(r.Key)})
	}
	return nil
}

// elementDelta returns the elements only in want (to add) and only in have (to
// delete); both lists are sorted by text.
func elementDelta(have, want []Element) (add, del []Element) {
	i, j := 0, 0
	for i < len(have) || j < len(want) {
		switch {
		case i == len(have):
			add = append(add, want[j])
			j++
		case j == len(want):
			del = append(del, have[i])
			i++
		case have[i].Text == want[j].Text:
			i++
			j++
		case have[i].Text < want[j].Text:
			del = append(del, have[i])
			i++
		default:
			add = append(add, want[j])
			j++
		}
	}
	return add, del
}

// setBuffers raises the socket's buffers past the system maximum (root may), for
// large batches and large read-backs.
func setBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, socketBuffer); e != nil {
				sockErr = e
			}
		}
	})
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	if sockErr != nil {
		return fmt.Errorf("raise netlink socket buffers: %w", sockErr)
	}
	return nil
}
