package gcp

import (
	"errors"
	"net/http"
	"time"

	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
)

// retryTries bounds the tries of one call.
const retryTries = 8

// callOptions are given to every Compute Engine call (and every page of a list):
// GCP's throttling (403 rateLimitExceeded or userRateLimitExceeded, 429) and server
// errors (5xx) are retried, pausing p.backoff doubled (at most 10 s), at most
// retryTries times; 403 quotaExceeded and everything else fail at once. The REST
// clients retry none of these by themselves.
func (p *Provider) callOptions() []gax.CallOption {
	return []gax.CallOption{gax.WithRetry(func() gax.Retryer {
		return &throttleRetryer{backoff: gax.Backoff{Initial: p.backoff, Max: 10 * time.Second, Multiplier: 2}}
	})}
}

type throttleRetryer struct {
	backoff gax.Backoff
	tries   int
}

func (r *throttleRetryer) Retry(err error) (time.Duration, bool) {
	r.tries++
	if r.tries >= retryTries || !retryable(err) {
		return 0, false
	}
	return r.backoff.Pause(), true
}

// retryable reports an error of throttling or of the server.
func retryable(err error) bool {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return false
	}
	switch {
	case ge.Code == http.StatusTooManyRequests || ge.Code >= 500:
		return true
	case ge.Code == http.StatusForbidden:
		for _, e := range ge.Errors {
			if e.Reason == "rateLimitExceeded" || e.Reason == "userRateLimitExceeded" {
				return true
			}
		}
	}
	return false
}

// isStatus reports an API error of one HTTP status.
func isStatus(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}
