package aws

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/microseg/microseg/model"
)

// S3FlowLogs reads the flow logs that VPC delivers to an S3 bucket: gzipped text
// objects under AWSLogs/{account}/vpcflowlogs/{region}/YYYY/MM/DD/ (or the
// Hive-compatible .../aws-region={region}/year=YYYY/month=MM/day=DD/), each starting
// with a header line naming its fields. Plain-text objects are read too.
type S3FlowLogs struct {
	Client *s3.Client
	Bucket string
	Prefix string // key prefix to list, e.g. "AWSLogs/" or "logs/AWSLogs/123456789012/vpcflowlogs/us-east-1/"
	Target string // set as FlowRecord.Target

	// ListPageSize is the number of keys per ListObjectsV2 call; 0 is S3's default
	// (1,000).
	ListPageSize int32
}

// Flows lists the objects under Prefix and streams every flow log among them
// (keys ending in .log.gz, .gz, .log or .txt; other objects, like the
// aws-logs-write-test marker AWS leaves, are skipped), one object at a time, without
// holding more than one record and one page of keys. Objects in day folders before
// since's day (UTC) are not read, and when Prefix names one account and region the
// listing starts at since's day. A Parquet object, an object without a valid header
// line, and failed S3 calls are errors naming the object.
func (s *S3FlowLogs) Flows(ctx context.Context, since time.Time, fn func(model.FlowRecord) error) (FlowStats, error) {
	return s.FlowsAfter(ctx, since, "", fn, nil)
}

// FlowsAfter is Flows over the keys after after (S3 lists keys in ascending order,
// and flow log keys carry their date), calling done with each key read to the end.
func (s *S3FlowLogs) FlowsAfter(ctx context.Context, since time.Time, after string, fn func(model.FlowRecord) error, done func(string) error) (FlowStats, error) {
	var stats FlowStats
	if s.Client == nil || s.Bucket == "" {
		return stats, errors.New("aws flow logs in S3: no client or bucket")
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket)}
	if s.Prefix != "" {
		in.Prefix = aws.String(s.Prefix)
	}
	var sinceDay time.Time
	if !since.IsZero() {
		sinceDay = since.UTC().Truncate(24 * time.Hour)
		if start := startAfter(s.Prefix, sinceDay); start != "" {
			in.StartAfter = aws.String(start)
		}
	}
	if after != "" && (in.StartAfter == nil || after > *in.StartAfter) {
		in.StartAfter = aws.String(after)
	}
	pages := s3.NewListObjectsV2Paginator(s.Client, in, func(o *s3.ListObjectsV2PaginatorOptions) {
		o.Limit = s.ListPageSize
	})
	r := newFlowReader(s.Target, since, &stats, fn)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return stats, fmt.Errorf("list s3://%s/%s: %w", s.Bucket, s.Prefix, err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			if !isFlowLogKey(key) {
				if strings.HasSuffix(key, ".parquet") {
					return stats, fmt.Errorf("s3://%s/%s: parquet flow logs are not supported: use the text format", s.Bucket, key)
				}
				continue
			}
			if day, ok := keyDay(key); ok && !sinceDay.IsZero() && day.Before(sinceDay) {
				continue
			}
			if err := s.readObject(ctx, r, key); err != nil {
				return stats, err
			}
			stats.Objects++
			if done != nil {
				if err := done(key); err != nil {
					return stats, err
				}
			}
		}
	}
	return stats, nil
}

func (s *S3FlowLogs) readObject(ctx context.Context, r *flowReader, key string) error {
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", s.Bucket, key, err)
	}
	defer out.Body.Close()
	if err := r.read(out.Body); err != nil {
		if cb, ok := callbackErr(err); ok {
			return cb
		}
		return fmt.Errorf("read s3://%s/%s: %w", s.Bucket, key, err)
	}
	return nil
}

func isFlowLogKey(key string) bool {
	for _, suffix := range []string{".log.gz", ".gz", ".log", ".txt"} {
		if strings.HasSuffix(key, suffix) {
			return true
		}
	}
	return false
}

var (
	// The day folders of a flow log key, plain or Hive-compatible.
	keyDayRE = regexp.MustCompile(`(?:^|/)(?:year=)?(\d{4})/(?:month=)?(\d{2})/(?:day=)?(\d{2})(?:/|$)`)
	// A prefix that names one account and region.
	regionPrefixRE = regexp.MustCompile(`(?:^|/)AWSLogs/(?:\d{12}/vpcflowlogs/[a-z0-9-]+|aws-account-id=\d{12}/aws-service=vpcflowlogs/aws-region=[a-z0-9-]+)/$`)
)

// keyDay returns the day (UTC midnight) of a flow log key's day folders,
// .../vpcflowlogs/{region}/YYYY/MM/DD/... or .../year=YYYY/month=MM/day=DD/..., and
// false for a key without them.
func keyDay(key string) (time.Time, bool) {
	rest := key
	if i := strings.LastIndex(key, "vpcflowlogs/"); i >= 0 {
		rest = key[i+len("vpcflowlogs/"):]
	}
	m := keyDayRE.FindStringSubmatch(rest)
	if m == nil {
		return time.Time{}, false
	}
	day, err := time.Parse("2006-01-02", m[1]+"-"+m[2]+"-"+m[3])
	if err != nil {
		return time.Time{}, false
	}
	return day, true
}

// startAfter returns the StartAfter key that skips the day folders before day when
// prefix names one account and region, and "" otherwise.
func startAfter(prefix string, day time.Time) string {
	if !regionPrefixRE.MatchString(prefix) {
		return ""
	}
	if strings.Contains(prefix, "aws-region=") {
		return prefix + day.Format("year=2006/month=01/day=02")
	}
	return prefix + day.Format("2006/01/02")
}

// ParseS3URI splits "s3://bucket/prefix/" (a target's flow_logs s3_uri) into the
// bucket and the key prefix, which may be empty.
func ParseS3URI(uri string) (bucket, prefix string, err error) {
	const scheme = "s3://"
	if len(uri) < len(scheme) || !strings.EqualFold(uri[:len(scheme)], scheme) {
		return "", "", fmt.Errorf("%q is not an s3:// URI", uri)
	}
	bucket, prefix, _ = strings.Cut(uri[len(scheme):], "/")
	if !validBucket(bucket) {
		return "", "", fmt.Errorf("%q: %q is not an S3 bucket name", uri, bucket)
	}
	if strings.ContainsAny(prefix, "\x00\r\n") {
		return "", "", fmt.Errorf("%q: bad key prefix", uri)
	}
	return bucket, prefix, nil
}

// validBucket checks S3's bucket naming rules loosely: 3 to 63 letters, digits,
// dots, hyphens and underscores (the last two, and capitals, only in legacy names).
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for _, c := range []byte(b) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
