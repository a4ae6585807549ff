package verdict

import (
	"cmp"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/microseg/microseg/model"
)

// Other is the Src and Dst of an overflow row: flows whose own keys did not fit in
// a Summary, counted together per day, target and class.
const Other = "(other)"

// DefaultMaxKeys is the key budget of NewSummary(0): at a few hundred bytes a row,
// tens of megabytes however many flows arrive.
const DefaultMaxKeys = 100_000

// Summary counts classified flows by Key in bounded memory. It is what an audit run
// keeps of millions of flows: one Row per distinct key.
//
// Memory stays flat on any volume: once maxKeys distinct keys are held, a flow with
// a key not yet held is folded into the overflow row of its day, target and class
// (Src and Dst Other, no protocol, port, allow or service), and counted by Overflow.
// Overflow rows do not count against maxKeys; there are at most six per day and
// target. Keys already held keep counting exactly.
//
// A Summary is not safe for concurrent use: give each goroutine its own and Merge
// their Rows.
type Summary struct {
	maxKeys int
	keys    int // distinct keys held, overflow rows left out
	// index is an open-addressing hash table of the entries, probed linearly from
	// the slot the low bits of a key's hash pick. A slot holds the high half of the
	// hash and the entry's position plus one (0: empty), 8 bytes, so that with
	// thousands of rows the index stays in cache, a probe rarely touches an entry
	// that is not the one sought, and the key is compared where it is anyway: in the
	// row to update. A Go map there cost two cache misses a lookup.
	seed     maphash.Seed
	hashMask uint64 // all ones; tests clear bits to make keys collide
	index    []uint64
	entries  []entry
	totals   [len(classNames)]uint64
	overflow uint64
}

// entry is one row and what finding it needs.
type entry struct {
	day  int64  // rowKey.day
	hash uint64 // of the row's key, to rebuild the index from
	row  Row
}

// is reports whether the entry holds k.
func (e *entry) is(k *rowKey) bool {
	return e.day == k.day && e.row.Class == k.class && e.row.Port == k.port && e.row.Protocol == k.protocol &&
		e.row.Src == k.src && e.row.Dst == k.dst && e.row.Allow == k.allow && e.row.Service == k.service &&
		e.row.Target == k.target
}

// rowKey is Key with the day as a number, which hashes and compares faster than a
// time.Time and has one form per day whatever the location of the time it came from.
type rowKey struct {
	day            int64 // days since the Unix epoch, UTC
	target         string
	class          Class
	src, dst       string
	protocol       model.Protocol
	port           uint16
	allow, service string
}

const secondsPerDay = 24 * 60 * 60

func unixDay(t time.Time) int64 {
	s := t.Unix()
	d := s / secondsPerDay
	if s%secondsPerDay < 0 {
		d-- // floor, for times before 1970
	}
	return d
}

func (k rowKey) export() Key {
	return Key{
		Day:      time.Unix(k.day*secondsPerDay, 0).UTC(),
		Target:   k.target,
		Class:    k.class,
		Src:      k.src,
		Dst:      k.dst,
		Protocol: k.protocol,
		Port:     k.port,
		Allow:    k.allow,
		Service:  k.service,
	}
}

func (k rowKey) isOverflow() bool { return k.src == Other && k.dst == Other }

// NewSummary returns an empty summary that holds at most maxKeys distinct keys
// besides its overflow rows; maxKeys <= 0 means DefaultMaxKeys.
func NewSummary(maxKeys int) *Summary {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Summary{maxKeys: maxKeys, seed: maphash.MakeSeed(), hashMask: ^uint64(0), index: make([]uint64, 64)}
}

// Add counts one flow with its verdict. The key's day is the UTC day of r.Time; its
// port is the destination port, or the source port for return traffic (the service
// port either way); an Unknown flow has no peers in its key, so that traffic no
// policy governs collapses into few rows.
func (s *Summary) Add(r *model.FlowRecord, v Verdict) {
	k := rowKey{
		day:      unixDay(r.Time),
		target:   r.Target,
		class:    v.Class,
		protocol: r.Protocol,
		port:     r.DstPort,
		allow:    v.Allow,
		service:  v.Service,
	}
	if v.Return {
		k.port = r.SrcPort
	}
	if v.Class != Unknown {
		k.src, k.dst = v.Src, v.Dst
	}
	row, isNew, folded := s.slot(&k)
	if isNew {
		row.First, row.Last = r.Time, r.Time
		row.SampleSrc, row.SampleDst = addrString(r.Src), addrString(r.Dst)
	} else if t := r.Time; !t.IsZero() {
		// widen(row, t, t), with the zero checks once.
		if row.First.IsZero() || t.Before(row.First) {
			row.First = t
		}
		if row.Last.IsZero() || t.After(row.Last) {
			row.Last = t
		}
	}
	row.Flows++
	row.Bytes += r.Bytes
	row.Packets += r.Packets
	s.count(k.class, 1, folded)
}

// Merge adds rows (another summary's Rows, or rows read back from storage) as if
// their flows had been added here: counts add up, First and Last widen, and a key
// already held keeps its sample. The same overflow rule applies; rows that are
// overflow rows themselves count as overflow.
func (s *Summary) Merge(rows []Row) {
	for i := range rows {
		in := &rows[i]
		k := rowKey{
			day:      unixDay(in.Day),
			target:   in.Target,
			class:    in.Class,
			src:      in.Src,
			dst:      in.Dst,
			protocol: in.Protocol,
			port:     in.Port,
			allow:    in.Allow,
			service:  in.Service,
		}
		row, isNew, folded := s.slot(&k)
		if isNew {
			row.First, row.Last = in.First, in.Last
			row.SampleSrc, row.SampleDst = in.SampleSrc, in.SampleDst
		} else {
			widen(row, in.First, in.Last)
		}
		row.Flows += in.Flows
		row.Bytes += in.Bytes
		row.Packets += in.Packets
		s.count(k.class, in.Flows, folded)
	}
}

// slot finds the row of k, making it if new, or the overflow row when k is new and
// the summary is full. folded reports that the flows land in an overflow row.
func (s *Summary) slot(k *rowKey) (row *Row, isNew, folded bool) {
	h := s.hash(k)
	if e := s.find(h, k); e != nil {
		return &e.row, false, k.isOverflow()
	}
	folded = k.isOverflow()
	if !folded && s.keys >= s.maxKeys {
		k = &rowKey{day: k.day, target: k.target, class: k.class, src: Other, dst: Other}
		folded = true
		h = s.hash(k)
		if e := s.find(h, k); e != nil {
			return &e.row, false, true
		}
	}
	if !folded {
		s.keys++
	}
	if 2*(len(s.entries)+1) > len(s.index) {
		s.grow()
	}
	s.insert(h, int32(len(s.entries)))
	s.entries = append(s.entries, entry{day: k.day, hash: h, row: Row{Key: k.export()}})
	return &s.entries[len(s.entries)-1].row, true, folded
}

// insert puts entry i, whose key hashes to h, in the first free slot of its probe.
func (s *Summary) insert(h uint64, i int32) {
	mask := uint64(len(s.index) - 1)
	for j := h & mask; ; j = (j + 1) & mask {
		if s.index[j] == 0 {
			s.index[j] = h>>32<<32 | uint64(i+1)
			return
		}
	}
}

// grow doubles the index, keeping it at most half full.
func (s *Summary) grow() {
	s.index = make([]uint64, 2*len(s.index))
	for i := range s.entries {
		s.insert(s.entries[i].hash, int32(i))
	}
}

// hash hashes the fields that tell keys apart: the peers by content, and the
// numbers. Target, allow and service are mostly the same for the same peers and
// port, so only their lengths go in; keys that differ only there share a chain,
// which is a few entries long at most. Hashing five strings cost half of Add.
func (s *Summary) hash(k *rowKey) uint64 {
	h := maphash.String(s.seed, k.src)
	h = h*0x9e3779b97f4a7c15 ^ maphash.String(s.seed, k.dst)
	h = h*0x9e3779b97f4a7c15 ^ uint64(k.day)
	h = h*0x9e3779b97f4a7c15 ^ (uint64(k.port) | uint64(k.protocol)<<16 | uint64(k.class)<<24 |
		uint64(len(k.allow)&0xff)<<32 | uint64(len(k.service)&0xff)<<40 | uint64(len(k.target)&0xffff)<<48)
	// A last multiply-xorshift spreads the numbers into the low bits the map uses.
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return h & s.hashMask
}

// find returns the entry of k, whose hash is h, or nil.
func (s *Summary) find(h uint64, k *rowKey) *entry {
	mask := uint64(len(s.index) - 1)
	tag := h >> 32
	for j := h & mask; ; j = (j + 1) & mask {
		slot := s.index[j]
		if slot == 0 {
			return nil
		}
		if slot>>32 == tag {
			if e := &s.entries[uint32(slot)-1]; e.is(k) {
				return e
			}
		}
	}
}

func (s *Summary) count(c Class, flows uint64, folded bool) {
	if int(c) < len(s.totals) {
		s.totals[c] += flows
	}
	if folded {
		s.overflow += flows
	}
}

// widen extends a row's time span to cover [first, last]; zero times are unknown.
func widen(row *Row, first, last time.Time) {
	if !first.IsZero() && (row.First.IsZero() || first.Before(row.First)) {
		row.First = first
	}
	if !last.IsZero() && (row.Last.IsZero() || last.After(row.Last)) {
		row.Last = last
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// Rows returns a copy of the rows, sorted by day, target, class, source, destination,
// protocol, port, allow and service, so that the same flows give the same rows in
// the same order.
func (s *Summary) Rows() []Row {
	rows := make([]Row, len(s.entries))
	for i := range s.entries {
		rows[i] = s.entries[i].row
	}
	slices.SortFunc(rows, func(a, b Row) int { return CompareKeys(a.Key, b.Key) })
	return rows
}

// CompareKeys orders keys the way Rows sorts them: by day, target, class, source,
// destination, protocol, port, allow and service.
func CompareKeys(a, b Key) int {
	if c := a.Day.Compare(b.Day); c != 0 {
		return c
	}
	if c := strings.Compare(a.Target, b.Target); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Class, b.Class); c != 0 {
		return c
	}
	if c := strings.Compare(a.Src, b.Src); c != 0 {
		return c
	}
	if c := strings.Compare(a.Dst, b.Dst); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	if c := strings.Compare(a.Allow, b.Allow); c != 0 {
		return c
	}
	return strings.Compare(a.Service, b.Service)
}

// Totals returns the number of flows of each class, every class present, overflow
// included.
func (s *Summary) Totals() map[Class]uint64 {
	t := make(map[Class]uint64, len(Classes))
	for _, c := range Classes {
		t[c] = s.totals[c]
	}
	return t
}

// Overflow returns the number of flows counted in overflow rows rather than under
// their own keys.
func (s *Summary) Overflow() uint64 { return s.overflow }

// Len returns the number of rows, overflow rows included.
func (s *Summary) Len() int { return len(s.entries) }
