package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/test/cwlemu"
	"github.com/microseg/microseg/test/ec2emu"
)

func cwlClient(t testing.TB, emu *cwlemu.Emulator) *cloudwatchlogs.Client {
	t.Helper()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return cloudwatchlogs.New(cloudwatchlogs.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       ec2emu.HTTPClient(),
	})
}

// cwlEvent is a flow log event as VPC publishes it: the record, stamped with its
// start time.
func cwlEvent(record string, start time.Time) cwlemu.Event {
	return cwlemu.Event{Timestamp: start, Message: strings.TrimSuffix(record, "\n")}
}

func TestCloudWatchFlowLogs(t *testing.T) {
	emu := cwlemu.New()
	emu.SetPageSize(3)
	client := cwlClient(t, emu)
	const group = "/vpc/flow-logs/prod"
	t0 := time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC)
	since := t0.Add(time.Hour)

	var wantA, wantB int
	for i := range 10 {
		at := t0.Add(time.Duration(i) * 15 * time.Minute) // 4 before since, 6 from it on
		emu.PutEvents(group, "eni-a-all", cwlEvent(v2At("eni-a", "10.0.0.1", fmt.Sprintf("10.0.0.%d", 10+i), 443, "ACCEPT", at), at))
		emu.PutEvents(group, "eni-b-all", cwlEvent(v2At("eni-b", "10.0.1.1", "10.0.0.2", 5432, "REJECT", at), at))
		if !at.Before(since) {
			wantA++
			wantB++
		}
	}
	emu.PutEvents(group, "eni-a-all",
		cwlEvent("2 123456789012 eni-a - - - - - - - 1714647600 1714647660 - NODATA", since.Add(time.Minute)),
		cwlEvent("2 123456789012 eni-a - - - - - - - 1714647600 1714647660 - SKIPDATA", since.Add(time.Minute)),
		cwlEvent("2 123456789012 eni-a 10.0.0.1", since.Add(time.Minute)))

	src := &CloudWatchFlowLogs{Client: client, LogGroup: group, Target: "prod"}
	count := map[string]int{}
	stats, err := src.Flows(context.Background(), since, func(r model.FlowRecord) error {
		if r.Time.Before(since) || r.Target != "prod" {
			t.Errorf("record %+v", r)
		}
		switch r.Reporter {
		case "eni-a":
			if r.Action != model.FlowAccept || r.DstPort != 443 {
				t.Errorf("eni-a record %+v", r)
			}
		case "eni-b":
			if r.Action != model.FlowDrop || r.DstPort != 5432 || r.Src != addr("10.0.1.1") {
				t.Errorf("eni-b record %+v", r)
			}
		}
		count[r.Reporter]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (FlowStats{Records: wantA + wantB, NoData: 1, SkipData: 1, Malformed: 1}); stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	if count["eni-a"] != wantA || count["eni-b"] != wantB {
		t.Errorf("records per interface %v, want eni-a %d, eni-b %d", count, wantA, wantB)
	}
	calls := emu.Calls()
	if want := (wantA + wantB + 3 + 2) / 3; len(calls) != want {
		t.Errorf("%d calls, want %d pages", len(calls), want)
	}
	for i, c := range calls {
		if c.Operation != "FilterLogEvents" || c.LogGroupName != group || c.StartTime == nil || *c.StartTime != since.UnixMilli() || c.EndTime != nil {
			t.Errorf("call %d: %+v", i, c)
		}
		if (i == 0) != (c.NextToken == "") {
			t.Errorf("call %d: next token %q", i, c.NextToken)
		}
	}

	// One interface's streams, a custom format without interface-id (the stream
	// names the reporter), and no since.
	emu.PutEvents("/vpc/custom", "eni-c-all",
		cwlEvent("i-0abc 10.2.0.1 10.2.0.2 REJECT", t0),
		cwlEvent("i-0abc - - -", t0))
	emu.PutEvents("/vpc/custom", "eni-d-all", cwlEvent("- 10.3.0.1 10.3.0.2 ACCEPT", t0))
	src = &CloudWatchFlowLogs{Client: client, LogGroup: "/vpc/custom", LogStreamNamePrefix: "eni-",
		Fields: strings.Fields("instance-id srcaddr dstaddr action")}
	var got []string
	stats, err = src.Flows(context.Background(), time.Time{}, func(r model.FlowRecord) error {
		got = append(got, r.Reporter+" "+r.Src.String()+" "+r.Action.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "i-0abc 10.2.0.1 drop,eni-d-all 10.3.0.1 accept"; strings.Join(got, ",") != want || stats != (FlowStats{Records: 2, NoData: 1}) {
		t.Errorf("custom format: %q, %+v; want %q", got, stats, want)
	}
	last := emu.Calls()[len(emu.Calls())-1]
	if last.LogStreamNamePrefix != "eni-" || last.StartTime != nil {
		t.Errorf("custom format call %+v", last)
	}

	// The callback's error stops the stream at once.
	stop := errors.New("enough")
	n := 0
	src = &CloudWatchFlowLogs{Client: client, LogGroup: group}
	stats, err = src.Flows(context.Background(), time.Time{}, func(model.FlowRecord) error {
		if n++; n == 4 {
			return stop
		}
		return nil
	})
	if err != stop || stats.Records != 4 {
		t.Errorf("stopped by its callback: %+v, %v", stats, err)
	}
}

func TestCloudWatchFlowLogsErrors(t *testing.T) {
	emu := cwlemu.New()
	client := cwlClient(t, emu)
	nop := func(model.FlowRecord) error { return nil }

	src := &CloudWatchFlowLogs{Client: client, LogGroup: "/vpc/missing"}
	_, err := src.Flows(context.Background(), time.Time{}, nop)
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), `log group "/vpc/missing"`) {
		t.Errorf("missing group: err = %v; want a ResourceNotFoundException naming the group", err)
	}

	src = &CloudWatchFlowLogs{Client: client, LogGroup: "/vpc/x", Fields: []string{"version", "action"}}
	if _, err := src.Flows(context.Background(), time.Time{}, nop); err == nil || !strings.Contains(err.Error(), "no srcaddr") {
		t.Errorf("bad format: err = %v", err)
	}
	if _, err := (&CloudWatchFlowLogs{LogGroup: "/vpc/x"}).Flows(context.Background(), time.Time{}, nop); err == nil {
		t.Error("no client: no error")
	}
}
