package cwlemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"

	"github.com/microseg/microseg/test/cwlemu"
)

// serve starts emu and returns its URL and a real CloudWatch Logs client for it.
func serve(t *testing.T, emu *cwlemu.Emulator) (string, *cloudwatchlogs.Client) {
	t.Helper()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return srv.URL, cloudwatchlogs.New(cloudwatchlogs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
}

var t0 = time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC)

// fill puts n events a second apart into each of the streams of group, the
// streams' events interleaved in time.
func fill(emu *cwlemu.Emulator, group string, n int, streams ...string) {
	for i := range n {
		for _, s := range streams {
			emu.PutEvents(group, s, cwlemu.Event{Timestamp: t0.Add(time.Duration(i) * time.Second), Message: fmt.Sprintf("%s %d", s, i)})
		}
	}
}

// all pages through FilterLogEvents and returns the messages and the number of pages.
func all(t *testing.T, c *cloudwatchlogs.Client, in *cloudwatchlogs.FilterLogEventsInput) (msgs []string, pages int) {
	t.Helper()
	p := cloudwatchlogs.NewFilterLogEventsPaginator(c, in)
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range out.Events {
			if aws.ToString(e.EventId) == "" || aws.ToInt64(e.IngestionTime) == 0 || aws.ToInt64(e.Timestamp) == 0 {
				t.Errorf("event %+v", e)
			}
			if !strings.HasPrefix(aws.ToString(e.Message), aws.ToString(e.LogStreamName)+" ") {
				t.Errorf("event %q in stream %q", aws.ToString(e.Message), aws.ToString(e.LogStreamName))
			}
			msgs = append(msgs, aws.ToString(e.Message))
		}
	}
	return msgs, pages
}

func TestFilterLogEvents(t *testing.T) {
	emu := cwlemu.New()
	_, c := serve(t, emu)
	const group = "/vpc/flow-logs"
	fill(emu, group, 120, "eni-a-all", "eni-b-all")
	emu.PutEvents("/other", "eni-z-all", cwlemu.Event{Timestamp: t0, Message: "eni-z-all 0"})

	// Default page size 100: 240 events in 3 pages, in time order.
	msgs, pages := all(t, c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
	if len(msgs) != 240 || pages != 3 {
		t.Fatalf("%d events in %d pages, want 240 in 3", len(msgs), pages)
	}
	if msgs[0] != "eni-a-all 0" || msgs[1] != "eni-b-all 0" || msgs[239] != "eni-b-all 119" {
		t.Errorf("order: %q %q ... %q", msgs[0], msgs[1], msgs[239])
	}

	// A smaller page size; a limit smaller still.
	emu.SetPageSize(50)
	if _, pages := all(t, c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)}); pages != 5 {
		t.Errorf("page size 50: %d pages, want 5", pages)
	}
	if _, pages := all(t, c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), Limit: aws.Int32(7)}); pages != 35 {
		t.Errorf("limit 7: %d pages, want 35", pages)
	}

	// Time range, both ends included; stream prefix; stream names; an ARN.
	msgs, _ = all(t, c, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName:        aws.String(group),
		LogStreamNamePrefix: aws.String("eni-b"),
		StartTime:           aws.Int64(t0.Add(10 * time.Second).UnixMilli()),
		EndTime:             aws.Int64(t0.Add(12 * time.Second).UnixMilli()),
	})
	if want := []string{"eni-b-all 10", "eni-b-all 11", "eni-b-all 12"}; !slices.Equal(msgs, want) {
		t.Errorf("range and prefix: %q, want %q", msgs, want)
	}
	msgs, _ = all(t, c, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupIdentifier: aws.String("arn:aws:logs:us-east-1:123456789012:log-group:" + group + ":*"),
		LogStreamNames:     []string{"eni-a-all"},
		StartTime:          aws.Int64(t0.Add(119 * time.Second).UnixMilli()),
	})
	if want := []string{"eni-a-all 119"}; !slices.Equal(msgs, want) {
		t.Errorf("ARN and stream names: %q, want %q", msgs, want)
	}

	calls := emu.Calls()
	if len(calls) != 3+5+35+2 {
		t.Errorf("%d calls recorded, want %d", len(calls), 3+5+35+2)
	}
	c1 := calls[len(calls)-2]
	if c1.Operation != "FilterLogEvents" || c1.LogGroupName != group || c1.LogStreamNamePrefix != "eni-b" ||
		aws.ToInt64(c1.StartTime) != t0.Add(10*time.Second).UnixMilli() || aws.ToInt64(c1.EndTime) != t0.Add(12*time.Second).UnixMilli() || c1.Status != 200 {
		t.Errorf("recorded call %+v", c1)
	}
	if calls[1].NextToken == "" || calls[3+5+1].Limit != 7 {
		t.Errorf("recorded pagination: %+v, %+v", calls[1], calls[3+5+1])
	}
}

func wantAPIError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want API error %s, got %v", code, err)
	}
	if ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Errorf("got %s %q, want %s %q", ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
}

func TestFilterLogEventsErrors(t *testing.T) {
	emu := cwlemu.New()
	url, c := serve(t, emu)
	ctx := context.Background()
	emu.CreateLogGroup("/empty")
	fill(emu, "/g", 5, "s")

	_, err := c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/missing")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("missing group: %v, want ResourceNotFoundException", err)
	}
	wantAPIError(t, err, "ResourceNotFoundException", "The specified log group does not exist.")

	out, err := c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/empty")})
	if err != nil || len(out.Events) != 0 || out.NextToken != nil {
		t.Errorf("empty group: %+v, %v", out, err)
	}

	for name, in := range map[string]*cloudwatchlogs.FilterLogEventsInput{
		"bad token":     {LogGroupName: aws.String("/g"), NextToken: aws.String("not-a-token")},
		"limit":         {LogGroupName: aws.String("/g"), Limit: aws.Int32(10001)},
		"no group":      {},
		"name and id":   {LogGroupName: aws.String("/g"), LogGroupIdentifier: aws.String("/g")},
		"prefix, names": {LogGroupName: aws.String("/g"), LogStreamNamePrefix: aws.String("s"), LogStreamNames: []string{"s"}},
	} {
		_, err := c.FilterLogEvents(ctx, in)
		var invalid *types.InvalidParameterException
		if !errors.As(err, &invalid) {
			t.Errorf("%s: %v, want InvalidParameterException", name, err)
		}
	}
	_, err = c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/g"), LogStreamNames: []string{"nope"}})
	wantAPIError(t, err, "ResourceNotFoundException", "log stream")

	// A token of another query.
	out, err = c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/g"), Limit: aws.Int32(2)})
	if err != nil || out.NextToken == nil {
		t.Fatalf("%+v, %v", out, err)
	}
	_, err = c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/g"), LogStreamNamePrefix: aws.String("s"), NextToken: out.NextToken})
	wantAPIError(t, err, "InvalidParameterException", "nextToken")

	// The wire format itself, as the SDK relies on it.
	for _, tc := range []struct {
		name, target, contentType, body string
		status                          int
		wantType                        string
	}{
		{"unknown operation", "Logs_20140328.PutLogEvents", "application/x-amz-json-1.1", "{}", 400, "UnknownOperationException"},
		{"no target", "", "application/x-amz-json-1.1", "{}", 400, "UnknownOperationException"},
		{"not JSON", "Logs_20140328.FilterLogEvents", "application/x-amz-json-1.1", "logGroupName=/g", 400, "SerializationException"},
		{"wrong content type", "Logs_20140328.FilterLogEvents", "text/plain", `{"logGroupName":"/g"}`, 400, "SerializationException"},
		{"missing group", "Logs_20140328.FilterLogEvents", "application/x-amz-json-1.1", `{"logGroupName":"/nope"}`, 400, "ResourceNotFoundException"},
		{"ok", "Logs_20140328.FilterLogEvents", "application/x-amz-json-1.1", `{"logGroupName":"/g","limit":1}`, 200, ""},
	} {
		req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(tc.body))
		if tc.target != "" {
			req.Header.Set("X-Amz-Target", tc.target)
		}
		req.Header.Set("Content-Type", tc.contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Errorf("%s: body %q is not JSON", tc.name, body)
		}
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
			t.Errorf("%s: status %d, Content-Type %q", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if tc.wantType != "" && (doc["__type"] != tc.wantType || doc["message"] == "") {
			t.Errorf("%s: body %s, want __type %s", tc.name, body, tc.wantType)
		}
		if tc.wantType == "" {
			events, _ := doc["events"].([]any)
			if len(events) != 1 {
				t.Fatalf("page %s, want one event", body)
			}
			ev, _ := events[0].(map[string]any)
			for _, k := range []string{"logStreamName", "timestamp", "message", "ingestionTime", "eventId"} {
				if _, ok := ev[k]; !ok {
					t.Errorf("event %s has no %s", body, k)
				}
			}
			if _, ok := doc["nextToken"].(string); !ok {
				t.Errorf("page %s has no nextToken", body)
			}
		}
	}
}
