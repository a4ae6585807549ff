package providers

import (
	"context"
	"io"
	"time"

	"github.com/microseg/microseg/model"
)

// Flow logs: every source (cloud storage, a log service, a host's NFLOG spool, local
// files) hands out model.FlowRecord through the same small interfaces, so that the
// audit reads them all alike.

// FlowStats counts what a flow source read. Records is the number of flows handed to
// the callback; the others count records that were not flows.
type FlowStats struct {
	Records   int
	NoData    int // records saying there was no traffic (AWS NODATA), or without addresses
	SkipData  int // records saying flows were skipped (AWS SKIPDATA)
	Malformed int // records that did not parse (including over-long lines)
	Objects   int // objects or files read to the end
}

// Add adds o's counts to s.
func (s *FlowStats) Add(o FlowStats) {
	s.Records += o.Records
	s.NoData += o.NoData
	s.SkipData += o.SkipData
	s.Malformed += o.Malformed
	s.Objects += o.Objects
}

// FlowSource is a stream of flow records. Flows calls fn once per flow whose time is
// not before since (the zero since reads everything), in the source's order, holding
// no more than a few records (or one object's buffers, or one API page) at a time
// however many there are. An error from fn stops the stream and is returned as it is;
// records that do not parse are counted in the stats and skipped, never fatal.
type FlowSource interface {
	Flows(ctx context.Context, since time.Time, fn func(model.FlowRecord) error) (FlowStats, error)
}

// ResumableFlowSource is a FlowSource made of objects read in an order it can
// resume in (S3 objects, blobs, GCS objects, files), so that a reader that stopped
// can go on where it stopped without reading anything twice.
type ResumableFlowSource interface {
	FlowSource
	// FlowsAfter is Flows over the objects that the checkpoint after does not
	// cover (all of them when after is ""). done is called with a checkpoint once
	// every flow of an object has been handed to fn, when every flow handed to fn
	// so far is of an object the checkpoint covers; a checkpoint taken there is
	// exact. A checkpoint is whatever done gave: for most sources an object's name,
	// covering the names that sort up to it; for some an opaque string (Azure flow
	// log blobs hold a position per resource). Callers store it and pass it back
	// as after unchanged, and never read it. An error from done stops the stream
	// like one from fn.
	FlowsAfter(ctx context.Context, since time.Time, after string, fn func(model.FlowRecord) error, done func(object string) error) (FlowStats, error)
}

// FlowDecoder reads one object or file of a vendor's flow-log format (plain or
// gzip-compressed, sniffed from its first bytes), counting into stats and handing
// every flow whose time is not before since to fn with Target set to target. It is
// what `microseg audit -flows FILE -format F` runs on exported logs, and what the
// storage readers run on every object. An error from fn is returned as it is.
type FlowDecoder func(ctx context.Context, r io.Reader, target string, since time.Time, stats *FlowStats, fn func(model.FlowRecord) error) error
