// Package cwlemu is a minimal in-memory emulator of the CloudWatch Logs API, limited
// to what microseg's flow-log reader needs: FilterLogEvents over log groups and
// streams that a test fills with PutEvents. It speaks the wire protocol the real
// aws-sdk-go-v2 client uses (awsJson1.1: POST / with X-Amz-Target
// Logs_20140328.<Operation> and a JSON body; JSON errors {"__type", "message"} with
// HTTP 400), so the client talks to it over HTTP with BaseEndpoint set to an
// httptest server's URL. Signatures are not checked.
//
// FilterLogEvents follows the service: events of the group whose stream starts with
// logStreamNamePrefix (or is in logStreamNames) and whose timestamp is within
// [startTime, endTime], ordered by timestamp, at most limit (or the page size, see
// SetPageSize) per page, with an opaque nextToken while more remain;
// ResourceNotFoundException for a missing group, InvalidParameterException for bad
// parameters or tokens. filterPattern is refused rather than ignored.
package cwlemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Target is the X-Amz-Target prefix of every CloudWatch Logs operation.
const Target = "Logs_20140328."

// DefaultPageSize is the number of events per page when a request has no limit.
const DefaultPageSize = 100

// Event is one log event as a test puts it.
type Event struct {
	Timestamp time.Time
	Message   string
}

// Call is one request the emulator received, for tests to check what a client
// asked.
type Call struct {
	Operation           string // e.g. "FilterLogEvents"; "" when X-Amz-Target was missing
	LogGroupName        string
	LogStreamNamePrefix string
	LogStreamNames      []string
	StartTime, EndTime  *int64 // milliseconds, as sent
	NextToken           string
	Limit               int
	Status              int // HTTP status of the answer
}

type storedEvent struct {
	stream    string
	timestamp int64 // ms
	ingestion int64 // ms
	message   string
	seq       int64
}

// Emulator is a CloudWatch Logs endpoint; it is an http.Handler. Its methods are safe
// for concurrent use.
type Emulator struct {
	mu       sync.Mutex
	pageSize int
	groups   map[string]map[string]struct{} // group -> streams
	events   map[string][]storedEvent       // group -> events in insertion order
	seq      int64
	calls    []Call
	now      func() time.Time
}

// New returns an empty emulator.
func New() *Emulator {
	return &Emulator{
		groups:   make(map[string]map[string]struct{}),
		events:   make(map[string][]storedEvent),
		now:      time.Now,
		pageSize: DefaultPageSize,
	}
}

// SetPageSize sets the number of events per FilterLogEvents page when the request
// asks no fewer (DefaultPageSize when n <= 0), so that tests page with few events.
func (e *Emulator) SetPageSize(n int) {
	if n <= 0 {
		n = DefaultPageSize
	}
	e.mu.Lock()
	e.pageSize = n
	e.mu.Unlock()
}

// CreateLogGroup creates an empty log group (PutEvents creates its group too).
func (e *Emulator) CreateLogGroup(group string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.groups[group] == nil {
		e.groups[group] = make(map[string]struct{})
	}
}

// PutEvents appends events to stream of group, creating both as needed.
func (e *Emulator) PutEvents(group, stream string, events ...Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.groups[group] == nil {
		e.groups[group] = make(map[string]struct{})
	}
	e.groups[group][stream] = struct{}{}
	ingest := e.now().UnixMilli()
	for _, ev := range events {
		e.seq++
		e.events[group] = append(e.events[group], storedEvent{
			stream:    stream,
			timestamp: ev.Timestamp.UnixMilli(),
			ingestion: ingest,
			message:   ev.Message,
			seq:       e.seq,
		})
	}
}

// Calls returns the requests received so far, oldest first.
func (e *Emulator) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Call, len(e.calls))
	copy(out, e.calls)
	return out
}

// apiError is an error answer of the service.
type apiError struct {
	status  int
	typ     string
	message string
}

func (e *apiError) Error() string { return e.typ + ": " + e.message }

func invalidParameter(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameterException", fmt.Sprintf(format, args...)}
}

// ServeHTTP answers one API request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := Call{}
	resp, aerr := e.serve(r, &call)
	status := http.StatusOK
	var body []byte
	if aerr != nil {
		status = aerr.status
		body, _ = json.Marshal(map[string]string{"__type": aerr.typ, "message": aerr.message})
	} else {
		var err error
		if body, err = json.Marshal(resp); err != nil {
			status = http.StatusInternalServerError
			body, _ = json.Marshal(map[string]string{"__type": "ServiceUnavailableException", "message": err.Error()})
		}
	}
	call.Status = status
	e.mu.Lock()
	e.calls = append(e.calls, call)
	e.mu.Unlock()

	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", fmt.Sprintf("cwlemu-%d", len(body)))
	if aerr != nil {
		w.Header().Set("X-Amzn-ErrorType", aerr.typ)
	}
	w.WriteHeader(status)
	w.Write(body)
}

func (e *Emulator) serve(r *http.Request, call *Call) (any, *apiError) {
	if r.Method != http.MethodPost || (r.URL.Path != "/" && r.URL.Path != "") {
		return nil, &apiError{http.StatusNotFound, "UnknownOperationException", "only POST / is served"}
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, Target)
	if !ok {
		return nil, &apiError{http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("X-Amz-Target %q is not a CloudWatch Logs operation", target)}
	}
	call.Operation = op
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-amz-json-1.1") {
		return nil, &apiError{http.StatusBadRequest, "SerializationException", fmt.Sprintf("Content-Type %q is not application/x-amz-json-1.1", ct)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "SerializationException", err.Error()}
	}
	switch op {
	case "FilterLogEvents":
		return e.filterLogEvents(body, call)
	default:
		return nil, &apiError{http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("operation %q is not emulated", op)}
	}
}

type filterRequest struct {
	LogGroupName        string   `json:"logGroupName"`
	LogGroupIdentifier  string   `json:"logGroupIdentifier"`
	LogStreamNames      []string `json:"logStreamNames"`
	LogStreamNamePrefix string   `json:"logStreamNamePrefix"`
	StartTime           *int64   `json:"startTime"`
	EndTime             *int64   `json:"endTime"`
	FilterPattern       string   `json:"filterPattern"`
	NextToken           *string  `json:"nextToken"`
	Limit               *int     `json:"limit"`
	Interleaved         *bool    `json:"interleaved"`
	StartFromHead       *bool    `json:"startFromHead"`
	Unmask              bool     `json:"unmask"`
}

// FilteredLogEvent is an event of a FilterLogEvents answer, as the service encodes it.
type FilteredLogEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

type filterResponse struct {
	Events    []FilteredLogEvent `json:"events"`
	NextToken string             `json:"nextToken,omitempty"`
}

func (e *Emulator) filterLogEvents(body []byte, call *Call) (any, *apiError) {
	var req filterRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, &apiError{http.StatusBadRequest, "SerializationException", "bad request body: " + err.Error()}
	}
	call.LogGroupName = req.LogGroupName
	call.LogStreamNamePrefix = req.LogStreamNamePrefix
	call.LogStreamNames = req.LogStreamNames
	call.StartTime, call.EndTime = req.StartTime, req.EndTime
	if req.NextToken != nil {
		call.NextToken = *req.NextToken
	}
	if req.Limit != nil {
		call.Limit = *req.Limit
	}

	group := req.LogGroupName
	switch {
	case group != "" && req.LogGroupIdentifier != "":
		return nil, invalidParameter("LogGroupName and LogGroupIdentifier are mutually exclusive")
	case group == "" && req.LogGroupIdentifier != "":
		// A name or an ARN (arn:aws:logs:region:account:log-group:NAME).
		group = req.LogGroupIdentifier
		if _, name, ok := strings.Cut(group, ":log-group:"); ok {
			group = strings.TrimSuffix(name, ":*")
		}
	case group == "":
		return nil, invalidParameter("Either LogGroupName or LogGroupIdentifier must be specified")
	}
	if req.LogStreamNamePrefix != "" && len(req.LogStreamNames) > 0 {
		return nil, invalidParameter("LogStreamNames and LogStreamNamePrefix are mutually exclusive")
	}
	if req.FilterPattern != "" {
		return nil, invalidParameter("filterPattern is not emulated")
	}
	if req.Limit != nil && (*req.Limit < 1 || *req.Limit > 10000) {
		return nil, invalidParameter("limit %d is not within 1..10000", *req.Limit)
	}
	if req.StartTime != nil && *req.StartTime < 0 {
		return nil, invalidParameter("startTime %d is negative", *req.StartTime)
	}
	if req.EndTime != nil && *req.EndTime < 0 {
		return nil, invalidParameter("endTime %d is negative", *req.EndTime)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	limit := e.pageSize
	if req.Limit != nil {
		limit = min(limit, *req.Limit)
	}
	streams, ok := e.groups[group]
	if !ok {
		return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException", "The specified log group does not exist."}
	}
	names := make(map[string]bool, len(req.LogStreamNames))
	for _, n := range req.LogStreamNames {
		if _, ok := streams[n]; !ok {
			return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException", "The specified log stream does not exist."}
		}
		names[n] = true
	}

	var match []storedEvent
	for _, ev := range e.events[group] {
		switch {
		case len(names) > 0 && !names[ev.stream],
			!strings.HasPrefix(ev.stream, req.LogStreamNamePrefix),
			req.StartTime != nil && ev.timestamp < *req.StartTime,
			req.EndTime != nil && ev.timestamp > *req.EndTime:
			continue
		}
		match = append(match, ev)
	}
	sort.SliceStable(match, func(i, j int) bool { return match[i].timestamp < match[j].timestamp })

	// The token names the query it belongs to and the last event returned.
	query := queryKey(group, &req)
	from := 0
	if req.NextToken != nil {
		q, last, ok := decodeToken(*req.NextToken)
		if !ok || q != query {
			return nil, invalidParameter("The specified nextToken is invalid.")
		}
		from = len(match)
		for i, ev := range match {
			if ev.seq == last {
				from = i + 1
				break
			}
		}
	}
	to := min(from+limit, len(match))
	resp := filterResponse{Events: make([]FilteredLogEvent, 0, to-from)}
	for _, ev := range match[from:to] {
		resp.Events = append(resp.Events, FilteredLogEvent{
			LogStreamName: ev.stream,
			Timestamp:     ev.timestamp,
			Message:       ev.message,
			IngestionTime: ev.ingestion,
			EventID:       fmt.Sprintf("%056d", ev.seq),
		})
	}
	if to < len(match) {
		resp.NextToken = encodeToken(query, match[to-1].seq)
	}
	return resp, nil
}

func queryKey(group string, req *filterRequest) string {
	var b strings.Builder
	b.WriteString(group)
	b.WriteByte(0)
	b.WriteString(req.LogStreamNamePrefix)
	b.WriteByte(0)
	b.WriteString(strings.Join(req.LogStreamNames, "\x01"))
	for _, t := range []*int64{req.StartTime, req.EndTime} {
		b.WriteByte(0)
		if t != nil {
			b.WriteString(strconv.FormatInt(*t, 10))
		}
	}
	return b.String()
}

func encodeToken(query string, last int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last, 10) + "\x00" + query))
}

func decodeToken(tok string) (query string, last int64, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", 0, false
	}
	n, q, ok := strings.Cut(string(raw), "\x00")
	if !ok {
		return "", 0, false
	}
	last, err = strconv.ParseInt(n, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return q, last, true
}
