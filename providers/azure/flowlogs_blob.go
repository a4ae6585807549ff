package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

var _ providers.ResumableFlowSource = (*BlobFlowLogs)(nil)

// DefaultSettle is how long after the end of a blob's hour BlobFlowLogs still takes
// the blob to be growing, when BlobFlowLogs.Settle is zero. Network Watcher appends
// each minute's record to the hour's blob a few minutes late.
const DefaultSettle = 15 * time.Minute

// BlobFlowLogs reads the flow logs Network Watcher writes to a storage account:
// one block blob per resource and hour, named
//
//	resourceId=/SUBSCRIPTIONS/{sub}/RESOURCEGROUPS/{rg}/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/{nsg}/y=2026/m=11/d=22/h=10/m=00/macAddress={mac}/PT1H.json
//
// for NSG flow logs (container insights-logs-networksecuritygroupflowevent), and
// flowLogResourceID=/{sub}/{...}/y=.../PT1H.json for VNet flow logs (container
// insights-logs-flowlogflowevent).
//
// Blob names sort by resource first, then by hour: only within one resource does
// name order follow time. FlowsAfter's checkpoint therefore holds a position per
// resource (the name up to "/y="), so that one BlobFlowLogs can read the blobs of
// many NSGs or VNet flow logs and still go on with every resource's new hours.
type BlobFlowLogs struct {
	Client    *azblob.Client
	Container string
	// Format is the blobs' format; empty means the one Network Watcher writes to
	// Container (NSGFlowLogContainer or VNetFlowLogContainer).
	Format Format
	// Prefix is the blob name prefix to list, e.g.
	// "resourceId=/SUBSCRIPTIONS/{sub}/RESOURCEGROUPS/{rg}/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/{nsg}/".
	Prefix string
	Target string // set as FlowRecord.Target

	// Settle is how long after its hour a blob may still grow (DefaultSettle when
	// zero): FlowsAfter reads such a blob last and takes no checkpoint at or past
	// it in its resource.
	Settle time.Duration
	// Now is the clock that tells which blobs may still grow; nil means time.Now.
	Now func() time.Time
	// OnMalformedBlob, when set, is told of every blob counted as malformed, with
	// the error saying where it stopped parsing.
	OnMalformedBlob func(name string, err error)
	// ListPageSize is the number of names per List Blobs call; 0 is the service's
	// default (5,000).
	ListPageSize int32
}

// Flows reads every flow log blob in name order; see FlowsAfter.
func (b *BlobFlowLogs) Flows(ctx context.Context, since time.Time, fn func(model.FlowRecord) error) (FlowStats, error) {
	return b.FlowsAfter(ctx, since, "", fn, nil)
}

// FlowsAfter lists the blobs under Prefix and streams the flows of every one ending
// in .json (or .json.gz) that after does not cover, one blob and one record at a
// time: first the settled blobs (their hour ended Settle ago or more, or their name
// has no hour) in name order, then the blobs still growing, in name order. Blobs
// whose hour (the y=/m=/d=/h= folders of the name, UTC) ends before since are not
// read. Stats.Objects counts the blobs read to the end.
//
// A blob that is not a readable document (ErrMalformedDocument) is counted once in
// Stats.Malformed, after the flows before its fault, and the next blobs are read; a
// failed listing or download, a blob of the other format (ErrWrongFormat), and an
// error from fn, done or ctx stop the stream (fn's and done's unchanged).
//
// done is called after every settled blob has been read (or skipped as malformed)
// with a checkpoint: an opaque string that holds, for each resource (the blob name
// up to and including "/" before "y="), the last blob read in it, so that all the
// flows handed to fn so far are exactly those of the blobs it covers. Passed back as
// after, it skips in each resource only the blobs at or before its own position:
// new hours of a resource are read even when they sort before other resources'
// checkpoints. Blobs still growing are read after the last call of done, so that
// their flows are read again, then whole, on the next call.
//
// after may also be the plain name of a blob, as earlier versions gave to done: the
// settled blobs whose names sort up to it are skipped (a blob still growing cannot
// have been read before such a checkpoint, and is read). Any other after is an
// error, rather than a reason to read nothing or everything.
func (b *BlobFlowLogs) FlowsAfter(ctx context.Context, since time.Time, after string, fn func(model.FlowRecord) error, done func(checkpoint string) error) (FlowStats, error) {
	var stats FlowStats
	if b.Client == nil || b.Container == "" {
		return stats, errors.New("azure flow logs in blob storage: no client or container")
	}
	format := b.Format
	if format == "" {
		switch strings.ToLower(b.Container) {
		case NSGFlowLogContainer:
			format = FormatNSG
		case VNetFlowLogContainer:
			format = FormatVNet
		default:
			return stats, fmt.Errorf("azure flow logs in container %q: not a Network Watcher container (%s or %s): set the format", b.Container, NSGFlowLogContainer, VNetFlowLogContainer)
		}
	}
	var lf *logFormat
	switch format {
	case FormatNSG:
		lf = &nsgFormat
	case FormatVNet:
		lf = &vnetFormat
	default:
		return stats, fmt.Errorf("azure flow logs: unknown format %q (%q or %q)", format, FormatNSG, FormatVNet)
	}
	cp, floor, err := parseBlobCheckpoint(after, b.Prefix)
	if err != nil {
		return stats, fmt.Errorf("azure flow logs in container %q: %w", b.Container, err)
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	settle := b.Settle
	if settle == 0 {
		settle = DefaultSettle
	}
	settledBefore := now().Add(-settle) // an hour ending by then is complete

	// The whole prefix is listed: a checkpoint per resource has no single name to
	// start the listing from, and a resource missing from it may sort anywhere.
	opts := &container.ListBlobsFlatOptions{}
	if b.Prefix != "" {
		opts.Prefix = &b.Prefix
	}
	if b.ListPageSize > 0 {
		opts.MaxResults = &b.ListPageSize
	}
	d := newFlowDecoder(lf, b.Target, since, &stats, fn)
	// growing holds the names of the blobs read after the settled ones; held, the
	// resources with one, whose checkpoint stays where it is in this call.
	var growing []string
	held := map[string]bool{}
	pager := b.Client.NewListBlobsFlatPager(b.Container, opts)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return stats, fmt.Errorf("list blobs %s/%s: %w", b.Container, b.Prefix, err)
		}
		if page.Segment == nil {
			continue
		}
		for _, item := range page.Segment.BlobItems {
			if item == nil || item.Name == nil {
				continue
			}
			name := *item.Name
			if !isFlowLogBlob(name) {
				continue
			}
			hour, dated := BlobHour(name)
			if dated && !since.IsZero() && !hour.Add(time.Hour).After(since) {
				continue
			}
			resource, rest := splitBlobName(name)
			if last, ok := cp[resource]; ok && rest <= last {
				continue
			}
			settled := !dated || !hour.Add(time.Hour).After(settledBefore)
			if floor != "" && name <= floor && settled {
				if !held[resource] {
					cp[resource] = rest // read before the plain-name checkpoint
				}
				continue
			}
			if !settled || held[resource] {
				held[resource] = true
				growing = append(growing, name)
				continue
			}
			if err := b.readCounted(ctx, d, &stats, name); err != nil {
				return stats, err
			}
			cp[resource] = rest
			if done != nil {
				if err := done(cp.encode()); err != nil {
					return stats, err
				}
			}
		}
	}
	for _, name := range growing {
		if err := b.readCounted(ctx, d, &stats, name); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// readCounted reads one blob, counting it in stats as read or malformed.
func (b *BlobFlowLogs) readCounted(ctx context.Context, d *flowDecoder, stats *FlowStats, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.readBlob(ctx, d, name); err != nil {
		if !errors.Is(err, errMalformedBlob) {
			return err
		}
		stats.Malformed++
	} else {
		stats.Objects++
	}
	return nil
}

// blobCheckpoint is where FlowsAfter stands in each resource: the resource (a blob
// name up to and including the "/" before its hour folders, or "" for the names
// without them) maps to the rest of the name of the last blob read in it. Every
// blob of the resource whose rest sorts up to that has been read.
type blobCheckpoint map[string]string

// blobCheckpointVersion marks the JSON form of a blobCheckpoint.
const blobCheckpointVersion = 1

// blobCheckpointJSON is a blobCheckpoint's form in the strings given to done.
// encoding/json writes map keys sorted, so that a checkpoint's string is the same
// for the same positions.
type blobCheckpointJSON struct {
	Version int               `json:"azureFlowLogCheckpoint"`
	After   map[string]string `json:"after"`
}

// splitBlobName cuts a flow log blob's name into its resource and the rest.
func splitBlobName(name string) (resource, rest string) {
	if loc := blobHourRE.FindStringIndex(name); loc != nil {
		return name[:loc[0]+1], name[loc[0]+1:]
	}
	return "", name
}

// encode returns cp's string, the same for the same positions.
func (cp blobCheckpoint) encode() string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "&" and "<" are plain characters of a blob name
	after := map[string]string(cp)
	if after == nil {
		after = map[string]string{}
	}
	if err := enc.Encode(blobCheckpointJSON{Version: blobCheckpointVersion, After: after}); err != nil {
		panic(err) // strings in a map of strings always encode
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// parseBlobCheckpoint reads FlowsAfter's after: "" (nothing read), a checkpoint
// that encode wrote, or (returned as floor) the plain name of a flow log blob under
// prefix, which earlier versions gave to done.
func parseBlobCheckpoint(after, prefix string) (cp blobCheckpoint, floor string, err error) {
	cp = blobCheckpoint{}
	if after == "" {
		return cp, "", nil
	}
	if isFlowLogBlob(after) {
		if !strings.HasPrefix(after, prefix) {
			return nil, "", fmt.Errorf("checkpoint %q: a blob name, but not under prefix %q", after, prefix)
		}
		return cp, after, nil
	}
	if !strings.HasPrefix(after, "{") {
		return nil, "", fmt.Errorf("checkpoint %.200q: neither a checkpoint of this reader nor the name of a flow log blob (*.json, *.json.gz)", after)
	}
	var j blobCheckpointJSON
	dec := json.NewDecoder(strings.NewReader(after))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, "", fmt.Errorf("checkpoint %.200q: %w", after, err)
	}
	if j.Version != blobCheckpointVersion {
		return nil, "", fmt.Errorf("checkpoint %.200q: version %d, want %d", after, j.Version, blobCheckpointVersion)
	}
	for resource, rest := range j.After {
		name := resource + rest
		r, s := splitBlobName(name)
		if r != resource || s != rest || !isFlowLogBlob(name) {
			return nil, "", fmt.Errorf("checkpoint: resource %q: %q is not the rest of the name of one of its flow log blobs", resource, rest)
		}
		if !strings.HasPrefix(name, prefix) {
			return nil, "", fmt.Errorf("checkpoint: blob %q is not under prefix %q", name, prefix)
		}
		cp[resource] = rest
	}
	// Only encode writes checkpoints: anything else (other spacing, a duplicate
	// key, trailing data) is not one of them.
	if cp.encode() != after {
		return nil, "", fmt.Errorf("checkpoint %.200q: not as this reader writes its checkpoints", after)
	}
	return cp, "", nil
}

// errMalformedBlob marks readBlob's error for a blob that is not a document.
var errMalformedBlob = errors.New("malformed blob")

func (b *BlobFlowLogs) readBlob(ctx context.Context, d *flowDecoder, name string) error {
	resp, err := b.Client.DownloadStream(ctx, b.Container, name, nil)
	if err != nil {
		return fmt.Errorf("download blob %s/%s: %w", b.Container, name, err)
	}
	// The retry reader resumes a body cut short by the network at the offset read
	// so far, on the same version of the blob (If-Match its ETag).
	body := resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 3})
	defer body.Close()
	err = d.decode(ctx, body)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrMalformedDocument):
		if b.OnMalformedBlob != nil {
			b.OnMalformedBlob(name, err)
		}
		return errMalformedBlob
	case errors.Is(err, ErrWrongFormat):
		return fmt.Errorf("blob %s/%s: %w", b.Container, name, err)
	}
	if re := (readError{}); errors.As(err, &re) {
		return fmt.Errorf("read blob %s/%s: %w", b.Container, name, re.err)
	}
	return err // fn's or ctx's error, as it is
}

// isFlowLogBlob accepts the hourly documents (PT1H.json) and compressed exports.
func isFlowLogBlob(name string) bool {
	return strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".json.gz")
}

// blobHourRE matches the hour folders of a flow log blob's name.
var blobHourRE = regexp.MustCompile(`/y=(\d{4})/m=(\d{2})/d=(\d{2})/h=(\d{2})/m=\d{2}/`)

// BlobHour returns the hour (UTC) a flow log blob holds, from the y=/m=/d=/h=
// folders of its name, and false for a name without them.
func BlobHour(name string) (time.Time, bool) {
	m := blobHourRE.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02T15", m[1]+"-"+m[2]+"-"+m[3]+"T"+m[4])
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
