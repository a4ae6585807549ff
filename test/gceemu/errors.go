package gceemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Error reasons, as GCP spells them in error.errors[].reason. The Go client
// surfaces them as googleapi.Error.Errors[].Reason (and the HTTP code as
// googleapi.Error.Code).
const (
	ReasonInvalid           = "invalid"
	ReasonRequired          = "required"
	ReasonAlreadyExists     = "alreadyExists"
	ReasonNotFound          = "notFound"
	ReasonConditionNotMet   = "conditionNotMet"
	ReasonFieldSizeTooLarge = "fieldSizeTooLarge"
	ReasonRateLimitExceeded = "rateLimitExceeded"
	ReasonBackendError      = "backendError"
	ReasonAuthError         = "authError"
	ReasonInsufficientScope = "insufficientPermissions"

	reasonNotFound = ReasonNotFound
	reasonParse    = "parseError"
)

// Codes in an operation's error.errors[]: a setTags that lost a race with
// another writer, and an insert beyond the FIREWALLS quota.
const (
	OperationErrorConditionNotMet = "CONDITION_NOT_MET"
	OperationErrorQuotaExceeded   = "QUOTA_EXCEEDED"
)

// apiError is a Compute Engine error with its HTTP status.
type apiError struct {
	status          int
	reason, domain  string
	message, state  string // state: the google.rpc code name some answers carry
	location, where string // location and locationType of the item, when GCP sends them
	details         []any
}

func (a *apiError) Error() string { return a.reason + ": " + a.message }

func newErr(status int, reason, format string, args ...any) *apiError {
	return &apiError{status: status, reason: reason, domain: "global", message: fmt.Sprintf(format, args...)}
}

// errInvalidValue is GCP's answer to a field value it refuses.
func errInvalidValue(field, value, why string) *apiError {
	return newErr(http.StatusBadRequest, ReasonInvalid, "Invalid value for field '%s': '%s'. %s", field, value, why)
}

func errRequired(field string) *apiError {
	return newErr(http.StatusBadRequest, ReasonRequired, "Required field '%s' not specified", field)
}

// errTooLarge is GCP's answer to a repeated field with too many elements.
func errTooLarge(field string, max, actual int) *apiError {
	return newErr(http.StatusRequestEntityTooLarge, ReasonFieldSizeTooLarge,
		"Value for field '%s' is too large: maximum size %d element(s); actual size %d.", field, max, actual)
}

// errNotFound names a resource by its path under projects/, as GCP does.
func errNotFound(path string) *apiError {
	return newErr(http.StatusNotFound, ReasonNotFound, "The resource '%s' was not found", path)
}

func errAlreadyExists(path string) *apiError {
	return newErr(http.StatusConflict, ReasonAlreadyExists, "The resource '%s' already exists", path)
}

func errRateLimit() *apiError {
	a := newErr(http.StatusForbidden, ReasonRateLimitExceeded, "Rate Limit Exceeded")
	a.domain = "usageLimits"
	return a
}

// errTooMany is the 429 of the per-minute API quotas, with the ErrorInfo detail
// that names the quota, as Compute Engine sends it.
func errTooMany(rt *route, project uint64) *apiError {
	metric, limit := "Queries", "Queries per minute"
	switch {
	case rt.write:
	case rt.key == "LIST firewalls" || rt.key == "LIST networks" || rt.key == "LIST instances" || rt.key == "AGGREGATED instances":
		metric, limit = "List requests", "List requests per minute"
	default:
		metric, limit = "Read requests", "Read requests per minute"
	}
	a := newErr(http.StatusTooManyRequests, ReasonRateLimitExceeded,
		"Quota exceeded for quota metric '%s' and limit '%s' of service 'compute.googleapis.com' for consumer 'project_number:%d'.",
		metric, limit, project)
	a.domain, a.state = "usageLimits", "RESOURCE_EXHAUSTED"
	a.details = []any{map[string]any{
		"@type":  "type.googleapis.com/google.rpc.ErrorInfo",
		"reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
		"metadata": map[string]string{"service": "compute.googleapis.com", "consumer": "projects/" + strconv.FormatUint(project, 10),
			"quota_metric": metric, "quota_limit": limit},
	}}
	return a
}

func errBackend(status int, code uint64) *apiError {
	if status == http.StatusServiceUnavailable {
		a := newErr(status, ReasonBackendError, "The service is currently unavailable.")
		a.state = "UNAVAILABLE"
		return a
	}
	return newErr(status, ReasonBackendError, "Internal error. Please try again or contact Google Support. (Code: '%X')", code)
}

type errorItem struct {
	Message      string `json:"message"`
	Domain       string `json:"domain"`
	Reason       string `json:"reason"`
	Location     string `json:"location,omitempty"`
	LocationType string `json:"locationType,omitempty"`
}

type errorBody struct {
	Code    int         `json:"code"`
	Message string      `json:"message"`
	Errors  []errorItem `json:"errors"`
	Status  string      `json:"status,omitempty"`
	Details []any       `json:"details,omitempty"`
}

// response is what a handler answers: a status and a JSON document.
type response struct {
	status int
	body   any
	header http.Header
}

func errResp(a *apiError) *response {
	return &response{status: a.status, body: map[string]errorBody{"error": {
		Code: a.status, Message: a.message, Status: a.state, Details: a.details,
		Errors: []errorItem{{Message: a.message, Domain: a.domain, Reason: a.reason, Location: a.location, LocationType: a.where}},
	}}}
}

// write sends the document whole, with its Content-Length.
func (r *response) write(w http.ResponseWriter) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r.body); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(r.status)
	_, _ = w.Write(buf.Bytes())
}
