package ec2emu

import (
	"io"
	"net/http"
)

// HTTPClient returns an HTTP client for SDK clients pointed at an emulator (set
// it as ec2.Options.HTTPClient). It differs from the SDK's default client in one
// way: it hides the request body's WriteTo method from net/http.
//
// Why: smithy-go closes a request's body as soon as the response headers arrive,
// and net/http's writer, having sent the body, then checks the body for extra
// bytes through WriteTo, which on a closed body returns io.EOF; net/http takes
// that for a write error and closes the connection while the response body is
// still being read, so the call fails with "use of closed network connection"
// (aws-sdk-go-v2 issue 2737). An emulator on loopback answers fast enough to hit
// this about once in a few thousand calls with large responses. The SDK's
// retryer retries that error, but with retries off (RetryMaxAttempts 1, as in
// tests of error codes) it surfaces, and a retried mutating call meets its own
// first effect. Through plain Read, a closed body reads as EOF and nothing
// breaks.
func HTTPClient() *http.Client {
	return &http.Client{Transport: readOnlyBodies{http.DefaultTransport.(*http.Transport).Clone()}}
}

type readOnlyBodies struct{ base http.RoundTripper }

// readCloser exposes only Read and Close of a request body.
type readCloser struct{ io.ReadCloser }

func (t readOnlyBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		r := *req
		r.Body = readCloser{req.Body}
		req = &r
	}
	return t.base.RoundTrip(req)
}
