package aws

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/microseg/microseg/model"
)

// CloudWatchFlowLogs reads the flow logs that VPC publishes to a CloudWatch Logs
// group: one log stream per network interface, one event per record, in the flow
// log's format (which, unlike an S3 object, the events do not name).
type CloudWatchFlowLogs struct {
	Client   *cloudwatchlogs.Client
	LogGroup string
	// LogStreamNamePrefix, if set, reads only the streams it starts, e.g. one
	// interface's "eni-0123456789abcdef0".
	LogStreamNamePrefix string
	// Fields is the flow log's format (see ParseLogFormat); nil is DefaultFields.
	Fields []string
	Target string // set as FlowRecord.Target
}

// Flows pages through FilterLogEvents on the log group from since (the events'
// timestamps, in milliseconds) on, and hands each event's flow to fn, holding one
// page of events at a time. A flow's Reporter is its interface-id, or the event's log
// stream when the format names no interface or instance. A missing log group, like
// every failed call, is an error that names the group.
func (c *CloudWatchFlowLogs) Flows(ctx context.Context, since time.Time, fn func(model.FlowRecord) error) (FlowStats, error) {
	var stats FlowStats
	if c.Client == nil || c.LogGroup == "" {
		return stats, errors.New("aws flow logs in CloudWatch Logs: no client or log group")
	}
	fields := c.Fields
	if fields == nil {
		fields = DefaultFields
	}
	parser, err := NewFlowLogParser(fields)
	if err != nil {
		return stats, fmt.Errorf("log group %q: %w", c.LogGroup, err)
	}
	in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(c.LogGroup)}
	if c.LogStreamNamePrefix != "" {
		in.LogStreamNamePrefix = aws.String(c.LogStreamNamePrefix)
	}
	if !since.IsZero() {
		in.StartTime = aws.Int64(since.UnixMilli())
	}
	pages := cloudwatchlogs.NewFilterLogEventsPaginator(c.Client, in, func(o *cloudwatchlogs.FilterLogEventsPaginatorOptions) {
		// A token that comes back unchanged would otherwise page for ever.
		o.StopOnDuplicateToken = true
	})
	r := newFlowReader(c.Target, since, &stats, fn)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return stats, fmt.Errorf("filter log events of log group %q: %w", c.LogGroup, err)
		}
		for _, ev := range page.Events {
			rec, perr := parser.Parse(aws.ToString(ev.Message))
			if perr == nil && rec.Reporter == "" {
				rec.Reporter = aws.ToString(ev.LogStreamName)
			}
			if err := r.deliver(rec, perr, false); err != nil {
				if cb, ok := callbackErr(err); ok {
					return stats, cb
				}
				return stats, err
			}
		}
	}
	return stats, nil
}
