package onprem

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// The flow spool: a host's agent keeps the records its FlowLogReader reads in plain
// text files, one per UTC hour, so that an audit can read them later, from where a
// previous audit stopped, whatever happened to the agent in between. NFLOG itself
// keeps nothing: a record not written down when it arrives is gone.
//
// A spool line is
//
//	UNIX-NANOS ACTION PROTOCOL SRC SRC-PORT DST DST-PORT BYTES PACKETS
//
// with the action as model.FlowAction prints it (accept, drop, would-drop) and the
// protocol as its IANA number. Files are named YYYYMMDDTHH.flows, so that their names
// sort in time order.

const spoolSuffix = ".flows"

// spoolHourFormat names a spool file by its UTC hour.
const spoolHourFormat = "20060102T15"

// DefaultSpoolRetention is how long a spool keeps its files: long enough for
// `microseg discover -since 14d`.
const DefaultSpoolRetention = 15 * 24 * time.Hour

// FlowSpool appends flow records to hourly files in a directory. Its methods are safe
// for concurrent use.
type FlowSpool struct {
	dir    string
	retain time.Duration

	mu   sync.Mutex
	hour time.Time // the hour of the open file
	f    *os.File
	w    *bufio.Writer
	line []byte
}

// OpenFlowSpool opens (creating it) the spool in dir. Files older than retain are
// removed as hours go by; 0 means DefaultSpoolRetention.
func OpenFlowSpool(dir string, retain time.Duration) (*FlowSpool, error) {
	if retain <= 0 {
		retain = DefaultSpoolRetention
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("flow spool: %w", err)
	}
	return &FlowSpool{dir: dir, retain: retain}, nil
}

// Write appends one record to the file of its hour. Records are buffered: Flush
// writes them out (the agent flushes whenever no record is waiting).
func (s *FlowSpool) Write(rec model.FlowRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := rec.Time.UTC()
	if t.IsZero() {
		t = time.Now().UTC()
	}
	hour := t.Truncate(time.Hour)
	if s.f == nil || !hour.Equal(s.hour) {
		if err := s.rotate(hour); err != nil {
			return err
		}
	}
	b := s.line[:0]
	b = strconv.AppendInt(b, t.UnixNano(), 10)
	b = append(b, ' ')
	b = append(b, rec.Action.String()...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(rec.Protocol), 10)
	b = append(b, ' ')
	b = rec.Src.AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(rec.SrcPort), 10)
	b = append(b, ' ')
	b = rec.Dst.AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(rec.DstPort), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, rec.Bytes, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, rec.Packets, 10)
	b = append(b, '\n')
	s.line = b
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("flow spool: %w", err)
	}
	return nil
}

// rotate closes the open file and opens the one of hour, removing expired files.
func (s *FlowSpool) rotate(hour time.Time) error {
	if err := s.closeFile(); err != nil {
		return err
	}
	name := filepath.Join(s.dir, hour.Format(spoolHourFormat)+spoolSuffix)
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("flow spool: %w", err)
	}
	s.f, s.hour = f, hour
	if s.w == nil {
		s.w = bufio.NewWriterSize(f, 64<<10)
	} else {
		s.w.Reset(f)
	}
	// Expire old hours. A failure here costs disk, not records: go on.
	names, _ := spoolFiles(s.dir)
	for _, n := range names {
		if h, ok := spoolHour(n); ok && h.Add(time.Hour).Before(hour.Add(-s.retain)) {
			_ = os.Remove(filepath.Join(s.dir, n))
		}
	}
	return nil
}

// Flush writes buffered records to the file.
func (s *FlowSpool) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil || s.f == nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("flow spool: %w", err)
	}
	return nil
}

func (s *FlowSpool) closeFile() error {
	if s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	if err != nil {
		return fmt.Errorf("flow spool: %w", err)
	}
	return nil
}

// Close flushes and closes the spool.
func (s *FlowSpool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeFile()
}

// spoolFiles lists the spool's file names in time order.
func spoolFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if _, ok := spoolHour(e.Name()); ok && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

func spoolHour(name string) (time.Time, bool) {
	stem, ok := strings.CutSuffix(name, spoolSuffix)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(spoolHourFormat, stem)
	return t, err == nil
}

// SpoolFlows reads a flow spool as a flow source: the hours' files in order. A
// checkpoint (the done callback of FlowsAfter) is only taken at hours that are over,
// since the current hour's file still grows.
type SpoolFlows struct {
	Dir          string
	Target, Host string
	// Now is the clock, for which hour is current; nil means time.Now.
	Now func() time.Time
}

var _ providers.ResumableFlowSource = (*SpoolFlows)(nil)

// Flows reads every record of the spool not before since.
func (s *SpoolFlows) Flows(ctx context.Context, since time.Time, fn func(model.FlowRecord) error) (providers.FlowStats, error) {
	return s.FlowsAfter(ctx, since, "", fn, nil)
}

// FlowsAfter reads the files whose names sort after after.
func (s *SpoolFlows) FlowsAfter(ctx context.Context, since time.Time, after string, fn func(model.FlowRecord) error, done func(string) error) (providers.FlowStats, error) {
	var stats providers.FlowStats
	names, err := spoolFiles(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return stats, nil // the agent has logged nothing yet
	}
	if err != nil {
		return stats, fmt.Errorf("flow spool: %w", err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	current := now().UTC().Truncate(time.Hour)
	for _, name := range names {
		if name <= after {
			continue
		}
		hour, _ := spoolHour(name)
		if !since.IsZero() && !hour.Add(time.Hour).After(since) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		f, err := os.Open(filepath.Join(s.Dir, name))
		if err != nil {
			return stats, fmt.Errorf("flow spool: %w", err)
		}
		err = DecodeSpool(ctx, f, s.Target, since, &stats, func(rec model.FlowRecord) error {
			rec.Reporter = s.Host
			return fn(rec)
		})
		f.Close()
		if err != nil {
			return stats, err
		}
		stats.Objects++
		if done != nil && hour.Before(current) {
			if err := done(name); err != nil {
				return stats, err
			}
		}
	}
	return stats, nil
}

// DecodeSpool reads one spool file; it is a providers.FlowDecoder. A last line
// without its newline is one the agent is writing: it is left for the next read.
func DecodeSpool(ctx context.Context, r io.Reader, target string, since time.Time, stats *providers.FlowStats, fn func(model.FlowRecord) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	// Spool files copied off a host are often compressed.
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("flow spool: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			stats.Malformed++
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("flow spool: %w", err)
		}
		rec, ok := parseSpoolLine(line[:len(line)-1])
		if !ok {
			stats.Malformed++
			continue
		}
		if !since.IsZero() && rec.Time.Before(since) {
			continue
		}
		rec.Target = target
		stats.Records++
		if err := fn(rec); err != nil {
			return err
		}
	}
}

func parseSpoolLine(line []byte) (model.FlowRecord, bool) {
	var rec model.FlowRecord
	var f [9]string
	s := string(line)
	for i := range f {
		var ok bool
		if i == len(f)-1 {
			f[i], ok = s, s != "" && !strings.Contains(s, " ")
		} else {
			f[i], s, ok = strings.Cut(s, " ")
		}
		if !ok {
			return rec, false
		}
	}
	ns, err1 := strconv.ParseInt(f[0], 10, 64)
	proto, err2 := strconv.ParseUint(f[2], 10, 8)
	src, err3 := netip.ParseAddr(f[3])
	sport, err4 := strconv.ParseUint(f[4], 10, 16)
	dst, err5 := netip.ParseAddr(f[5])
	dport, err6 := strconv.ParseUint(f[6], 10, 16)
	bytes, err7 := strconv.ParseUint(f[7], 10, 64)
	packets, err8 := strconv.ParseUint(f[8], 10, 64)
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8); err != nil {
		return rec, false
	}
	switch f[1] {
	case "accept":
		rec.Action = model.FlowAccept
	case "drop":
		rec.Action = model.FlowDrop
	case "would-drop":
		rec.Action = model.FlowWouldDrop
	default:
		return rec, false
	}
	rec.Time = time.Unix(0, ns).UTC()
	rec.Protocol = model.Protocol(proto)
	rec.Src, rec.Dst = src.Unmap(), dst.Unmap()
	rec.SrcPort, rec.DstPort = uint16(sport), uint16(dport)
	rec.Bytes, rec.Packets = bytes, packets
	return rec, true
}
