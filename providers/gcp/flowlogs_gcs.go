package gcp

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

var _ providers.ResumableFlowSource = (*GCSFlowLogs)(nil)

// GCSFlowLogs reads the VPC flow logs and firewall logs a Cloud Logging sink routes
// to a Cloud Storage bucket. The sink writes each log under its log ID and the date,
// one object per hour and shard
// (https://cloud.google.com/logging/docs/export/storage):
//
//	compute.googleapis.com/vpc_flows/2026/11/22/10:00:00_10:59:59_S0.json
//	compute.googleapis.com/firewall/2026/11/22/10:00:00_10:59:59_S0.json
//
// (networkmanagement.googleapis.com/vpc_flows/... for flow logs configured through
// the Network Management API). An object's log, and so its decoder, is told by the
// log ID in its name; objects of other logs in the bucket are skipped.
//
// Resuming by name has one limit that comes from the sink: entries that reach
// Logging late for an hour already written are put in an "A" shard
// (..._10:59:59_A0.json), which sorts before the hour's "S" shards. An A shard
// written after a checkpoint past its hour is not read by FlowsAfter.
type GCSFlowLogs struct {
	Client *storage.Client
	Bucket string
	Prefix string // object name prefix to list, "" or e.g. "compute.googleapis.com/" or "logs/"
	Target string // set as FlowRecord.Target
}

// Flows streams every flow of the bucket's flow and firewall log objects under
// Prefix, in name order, one object at a time, holding no more than one entry and
// one page of names. Objects whose hour (from the name) ended before since are not
// read; when Prefix ends at one log's folder the listing starts at since's day.
// Entries that are not flows or do not parse are counted and skipped, as is the
// rest of an object whose gzip data is corrupt; failed Cloud Storage calls are
// errors naming the object, and an error from fn is returned as it is.
func (g *GCSFlowLogs) Flows(ctx context.Context, since time.Time, fn func(model.FlowRecord) error) (FlowStats, error) {
	return g.FlowsAfter(ctx, since, "", fn, nil)
}

// FlowsAfter is Flows over the objects whose names sort after after, calling done
// with each object's name once all its flows were handed to fn (and not for objects
// skipped by since or of other logs). An error from done is returned as it is.
func (g *GCSFlowLogs) FlowsAfter(ctx context.Context, since time.Time, after string, fn func(model.FlowRecord) error, done func(object string) error) (FlowStats, error) {
	var stats FlowStats
	if g.Client == nil || g.Bucket == "" {
		return stats, errors.New("gcp flow logs in Cloud Storage: no client or bucket")
	}
	q := &storage.Query{Prefix: g.Prefix, StartOffset: after}
	if !since.IsZero() && logFolderRE.MatchString(g.Prefix) {
		if day := g.Prefix + since.UTC().Format("2006/01/02/"); day > q.StartOffset {
			q.StartOffset = day
		}
	}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return stats, fmt.Errorf("list gs://%s/%s: %w", g.Bucket, g.Prefix, err)
	}

	readers := map[logKind]*entryReader{}
	bucket := g.Client.Bucket(g.Bucket)
	it := bucket.Objects(ctx, q)
	for {
		attrs, err := it.Next()
		if err == iterator.Done {
			return stats, nil
		}
		if err != nil {
			return stats, fmt.Errorf("list gs://%s/%s: %w", g.Bucket, g.Prefix, err)
		}
		name := attrs.Name
		if name <= after {
			continue
		}
		kind := objectLog(name)
		if kind == 0 {
			continue
		}
		if hour, ok := objectHour(name); ok && !since.IsZero() && !hour.Add(time.Hour).After(since) {
			continue
		}
		r := readers[kind]
		if r == nil {
			r = newEntryReader(kind, g.Target, since, &stats, fn)
			readers[kind] = r
		}
		if err := g.readObject(ctx, bucket, r, name); err != nil {
			return stats, err
		}
		stats.Objects++
		if done != nil {
			if err := done(name); err != nil {
				return stats, err
			}
		}
	}
}

func (g *GCSFlowLogs) readObject(ctx context.Context, bucket *storage.BucketHandle, r *entryReader, name string) error {
	body, err := bucket.Object(name).NewReader(ctx)
	if err != nil {
		return fmt.Errorf("get gs://%s/%s: %w", g.Bucket, name, err)
	}
	defer body.Close()
	if err := r.read(ctx, body); err != nil {
		var cb callbackError
		if errors.As(err, &cb) {
			return cb.err // fn's own error, as it is
		}
		if err == ctx.Err() {
			return err
		}
		return fmt.Errorf("gs://%s/%s: %w", g.Bucket, name, err)
	}
	return nil
}

var (
	// The hour of a sink's object: .../YYYY/MM/DD/HH:00:00_HH:59:59_S0.json (or _A0).
	objectHourRE = regexp.MustCompile(`(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2}):00:00_(\d{2}):59:59_[AS]\d+\.json(?:\.gz)?$`)
	// A prefix that is one log's folder, where the day folders follow.
	logFolderRE = regexp.MustCompile(`(?:^|/)(?:compute|networkmanagement)\.googleapis\.com/(?:vpc_flows|firewall)/$`)
)

// objectLog returns the log of an object by the log ID in its name, or 0 for an
// object of another log.
func objectLog(name string) logKind {
	switch {
	case strings.Contains("/"+name, "/compute.googleapis.com/vpc_flows/"),
		strings.Contains("/"+name, "/networkmanagement.googleapis.com/vpc_flows/"):
		return kindVPCFlows
	case strings.Contains("/"+name, "/compute.googleapis.com/firewall/"):
		return kindFirewall
	}
	return 0
}

// objectHour returns the start (UTC) of the hour an object of a sink holds, and
// false for a name not of that form.
func objectHour(name string) (time.Time, bool) {
	m := objectHourRE.FindStringSubmatch(name)
	if m == nil || m[4] != m[5] {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02T15", m[1]+"-"+m[2]+"-"+m[3]+"T"+m[4])
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// ParseGCSURI splits "gs://bucket/prefix" (a target's flow_logs gcs_uri) into the
// bucket and the object name prefix, which may be empty.
func ParseGCSURI(uri string) (bucket, prefix string, err error) {
	const scheme = "gs://"
	if len(uri) < len(scheme) || !strings.EqualFold(uri[:len(scheme)], scheme) {
		return "", "", fmt.Errorf("%q is not a gs:// URI", cut(uri, 200))
	}
	bucket, prefix, _ = strings.Cut(uri[len(scheme):], "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket", cut(uri, 200))
	}
	if why := badBucket(bucket); why != "" {
		return "", "", fmt.Errorf("%q: %q is not a Cloud Storage bucket name: %s", cut(uri, 200), cut(bucket, 80), why)
	}
	if strings.ContainsAny(prefix, "\x00\r\n") {
		return "", "", fmt.Errorf("%q: the object prefix has a NUL or line break", cut(uri, 200))
	}
	return bucket, prefix, nil
}

// badBucket says what breaks Cloud Storage's bucket naming rules, or "": 3 to 63
// characters (up to 222 with dots, 63 between dots) of lower-case letters, digits,
// '-', '_' and '.', starting and ending with a letter or digit.
// https://cloud.google.com/storage/docs/buckets#naming
func badBucket(b string) string {
	if len(b) < 3 {
		return "shorter than 3 characters"
	}
	if len(b) > 222 || (len(b) > 63 && !strings.Contains(b, ".")) {
		return "too long"
	}
	for _, part := range strings.Split(b, ".") {
		if len(part) > 63 {
			return "a dot-separated part is longer than 63 characters"
		}
	}
	for _, c := range []byte(b) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		case c >= 'A' && c <= 'Z':
			return "upper-case letters are not allowed"
		default:
			return fmt.Sprintf("character %q is not allowed", c)
		}
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return "it must start and end with a letter or digit"
	}
	return ""
}
