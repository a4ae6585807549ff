package azure

import (
	"context"
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
// name order follow time. For incremental reads with FlowsAfter, give each NSG (or
// VNet flow log) its own BlobFlowLogs, with Prefix up to and including the resource's
// "/": otherwise a new hour of one resource sorts before a checkpoint taken in
// another and is never read.
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
	// zero): FlowsAfter takes no checkpoint at or past a blob younger than that.
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

// FlowsAfter lists the blobs under Prefix whose names sort after after and streams
// the flows of every one ending in .json (or .json.gz), one blob and one record at a
// time, in name order. Blobs whose hour (the y=/m=/d=/h= folders of the name, UTC)
// ends before since are not read. Stats.Objects counts the blobs read to the end.
//
// A blob that is not a readable document (ErrMalformedDocument) is counted once in
// Stats.Malformed, after the flows before its fault, and the next blobs are read; a
// failed listing or download, a blob of the other format (ErrWrongFormat), and an
// error from fn, done or ctx stop the stream (fn's and done's unchanged).
//
// done is called with a blob's name once it has been read (or skipped as malformed),
// as long as it and every blob read before it in this call are settled: their hour
// ended Settle ago or more. A blob still growing holds the checkpoint back, so that
// its later records are read on the next call (and with them again those read now).
func (b *BlobFlowLogs) FlowsAfter(ctx context.Context, since time.Time, after string, fn func(model.FlowRecord) error, done func(object string) error) (FlowStats, error) {
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
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	settle := b.Settle
	if settle == 0 {
		settle = DefaultSettle
	}
	settledBefore := now().Add(-settle) // an hour ending by then is complete

	opts := &container.ListBlobsFlatOptions{}
	if b.Prefix != "" {
		opts.Prefix = &b.Prefix
	}
	if b.ListPageSize > 0 {
		opts.MaxResults = &b.ListPageSize
	}
	if after != "" && after >= b.Prefix {
		// The listing starts at the checkpoint (inclusive) where the service
		// supports startFrom; names up to it are skipped below in any case.
		opts.StartFrom = &after
	}
	d := newFlowDecoder(lf, b.Target, since, &stats, fn)
	checkpoint := done != nil
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
			if name <= after || !isFlowLogBlob(name) {
				continue
			}
			hour, dated := BlobHour(name)
			if dated && !since.IsZero() && !hour.Add(time.Hour).After(since) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return stats, err
			}
			if err := b.readBlob(ctx, d, name); err != nil {
				if !errors.Is(err, errMalformedBlob) {
					return stats, err
				}
				stats.Malformed++
			} else {
				stats.Objects++
			}
			if dated && hour.Add(time.Hour).After(settledBefore) {
				checkpoint = false
			}
			if checkpoint {
				if err := done(name); err != nil {
					return stats, err
				}
			}
		}
	}
	return stats, nil
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
