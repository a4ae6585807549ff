package aws

import (
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/microseg/microseg/model"
)

// Reading throughput of VPC flow logs on one core, without the verdict engine: what
// `microseg audit` spends per record before it classifies one. The log is the
// default (version 2) format, as VPC writes it to S3: many interfaces, mixed
// actions, ports and counts of every width.

const benchRecords = 200_000

// benchFlowLog returns a default-format flow log of n records with its header line.
func benchFlowLog(n int) []byte {
	var b bytes.Buffer
	b.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	start := int64(1_714_608_000)
	for i := range n {
		action := "ACCEPT"
		if i%7 == 0 {
			action = "REJECT"
		}
		fmt.Fprintf(&b, "2 123456789010 eni-%017x 10.%d.%d.%d 172.16.%d.%d %d %d 6 %d %d %d %d %s OK\n",
			i%5000, i%256, (i/256)%256, 1+i%254, (i*7)%256, 1+(i*13)%254,
			32768+i%28000, []int{443, 5432, 8080, 22, 53}[i%5], 1+i%20, 60+i%9000,
			start+int64(i%3600), start+int64(i%3600)+60, action)
	}
	return b.Bytes()
}

func benchGzip(b []byte) []byte {
	var out bytes.Buffer
	zw := stdgzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// benchDecodeFlowLog runs DecodeFlowLog over data on one core and reports records/s
// and ns/record; the callback only reads a field, so the figures are the reader's.
func benchDecodeFlowLog(b *testing.B, data []byte) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var ports uint64
	fn := func(r model.FlowRecord) error {
		ports += uint64(r.DstPort)
		return nil
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var total int
	for b.Loop() {
		var stats FlowStats
		if err := DecodeFlowLog(context.Background(), bytes.NewReader(data), "t", time.Time{}, &stats, fn); err != nil {
			b.Fatal(err)
		}
		if stats.Records != benchRecords {
			b.Fatalf("stats %+v, want %d records", stats, benchRecords)
		}
		total += stats.Records
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/record")
}

func BenchmarkDecodeFlowLogPlain(b *testing.B) {
	benchDecodeFlowLog(b, benchFlowLog(benchRecords))
}

func BenchmarkDecodeFlowLogGzip(b *testing.B) {
	benchDecodeFlowLog(b, benchGzip(benchFlowLog(benchRecords)))
}

// BenchmarkGunzip is decompression alone, into io.Discard, with the standard
// library's gzip and with klauspost/compress's, which the reader uses: the bound of
// BenchmarkDecodeFlowLogGzip. MB/s is of the compressed object, text-MB/s of the
// text it holds.
func BenchmarkGunzip(b *testing.B) {
	text := benchFlowLog(benchRecords)
	data := benchGzip(text)
	for _, tc := range []struct {
		name  string
		reset func(io.Reader) (io.Reader, error)
	}{
		{"std", func() func(io.Reader) (io.Reader, error) {
			zr := new(stdgzip.Reader)
			return func(r io.Reader) (io.Reader, error) { return zr, zr.Reset(r) }
		}()},
		{"klauspost", func() func(io.Reader) (io.Reader, error) {
			zr := new(gzip.Reader)
			return func(r io.Reader) (io.Reader, error) { return zr, zr.Reset(r) }
		}()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var body bytes.Reader
			buf := make([]byte, maxLine)
			for b.Loop() {
				body.Reset(data)
				zr, err := tc.reset(bufio.NewReaderSize(&body, 32<<10))
				if err != nil {
					b.Fatal(err)
				}
				// Read as the flow reader does, into a buffer of its size.
				var n int64
				for {
					m, err := zr.Read(buf)
					n += int64(m)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if n != int64(len(text)) {
					b.Fatalf("%d bytes, want %d", n, len(text))
				}
			}
			b.ReportMetric(float64(len(text))*float64(b.N)/b.Elapsed().Seconds()/1e6, "text-MB/s")
			b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(benchRecords*b.N), "ns/record")
		})
	}
}
