package azure

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// ConflictRetry is a pipeline policy (for ClientOptions.PerCallPolicies) that
// retries what azcore's own retry policy does not: ARM's 409
// AnotherOperationInProgress, which an NSG or NIC answers while an earlier write to
// it is still running, and errors coded RetryableError. It tries at most tries
// times, waiting Retry-After or base doubled each time (at most 10 s).
func ConflictRetry(tries int, base time.Duration) policy.Policy {
	return &conflictRetry{tries: max(tries, 1), base: base}
}

type conflictRetry struct {
	tries int
	base  time.Duration
}

func (c *conflictRetry) Do(req *policy.Request) (*http.Response, error) {
	ctx := req.Raw().Context()
	for try := 1; ; try++ {
		resp, err := req.Clone(ctx).Next()
		if err != nil || try >= c.tries || !retryableConflict(resp) {
			return resp, err
		}
		delay := min(c.base<<(try-1), 10*time.Second)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			delay = time.Duration(s) * time.Second
		}
		resp.Body.Close()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		if err := req.RewindBody(); err != nil {
			return nil, err
		}
	}
}

// retryableConflict reports a response worth trying again by its error code.
func retryableConflict(resp *http.Response) bool {
	if resp.StatusCode < 400 {
		return false
	}
	body, err := runtime.Payload(resp) // kept readable for the caller
	if err != nil {
		return false
	}
	return resp.StatusCode == http.StatusConflict && bytes.Contains(body, []byte(`"AnotherOperationInProgress"`)) ||
		bytes.Contains(body, []byte(`"RetryableError"`))
}
