package gceemu

import (
	"fmt"
	"net/http"
	"time"
)

// Operations. A change is applied when it is requested; its operation only
// reports RUNNING for Options.PollsUntilDone gets, so that a client's wait
// loop is exercised. apiv1's Operation.Wait polls with GET (never /wait): it
// gets the operation first whatever the status the change answered, then
// sleeps a random pause up to 1 s, 2 s, 4 s... between gets until DONE. It
// returns an error only when the DONE operation carries httpErrorStatusCode
// outside 2xx, which GCP sets beside error.errors, and so does the emulator.

type operation struct {
	doc       operationJSON
	remaining int // gets that still answer RUNNING
}

// newOperation records the operation of a change. failure, when not nil, is
// the error the operation ends with.
func (e *Emulator) newOperation(opType, zone, target string, targetID uint64, user string, failure *apiError) operationJSON {
	start := time.Now()
	name := fmt.Sprintf("operation-%d-%013x-%08x-%08x", start.UnixMilli(), e.ids.Uint64()>>12, e.ids.Uint32(), e.ids.Uint32())
	op := &operation{remaining: e.opts.PollsUntilDone, doc: operationJSON{
		Kind: "compute#operation", ID: e.newID(), Name: name, OperationType: opType,
		TargetLink: target, TargetID: targetID, User: user, InsertTime: now(), StartTime: now(),
		SelfLink: e.selfLink("global/operations/" + name),
	}}
	if zone != "" {
		op.doc.Zone = e.selfLink("zones/" + zone)
		op.doc.SelfLink = e.selfLink("zones/" + zone + "/operations/" + name)
	}
	if failure != nil {
		op.doc.Error = &operationErrorJSON{Errors: []operationErrorItem{{Code: failure.reason, Message: failure.message}}}
		op.doc.HTTPErrorStatusCode = failure.status
		op.doc.HTTPErrorMessage = httpErrorMessage(failure.status)
	}
	e.ops[name] = op
	op.doc.Status = "RUNNING"
	if op.remaining == 0 {
		e.advance(op)
	}
	return op.doc
}

// httpErrorMessage is the upper-case status text GCP puts in operations.
func httpErrorMessage(status int) string {
	switch status {
	case http.StatusPreconditionFailed:
		return "PRECONDITION FAILED"
	case http.StatusConflict:
		return "CONFLICT"
	case http.StatusForbidden:
		return "FORBIDDEN"
	case http.StatusBadRequest:
		return "BAD REQUEST"
	}
	return fmt.Sprintf("%d", status)
}

// advance answers one look at an operation: RUNNING while gets remain, then
// DONE with progress 100 and an end time.
func (e *Emulator) advance(op *operation) {
	if op.remaining > 0 {
		op.remaining--
		op.doc.Status, op.doc.Progress = "RUNNING", 0
		return
	}
	if op.doc.Status != "DONE" {
		op.doc.Status, op.doc.Progress, op.doc.EndTime = "DONE", 100, now()
	}
}

// lookupOperation finds an operation in the scope the path names: a zonal
// operation is not found globally, nor in another zone.
func (e *Emulator) lookupOperation(req *request) (*operation, *apiError) {
	name, zone := req.last(), req.zone()
	op := e.ops[name]
	path := "projects/" + e.opts.Project + "/global/operations/" + name
	if zone != "" {
		path = "projects/" + e.opts.Project + "/zones/" + zone + "/operations/" + name
	}
	if op == nil || op.doc.Zone != zoneLink(e, zone) {
		return nil, errNotFound(path)
	}
	return op, nil
}

func zoneLink(e *Emulator, zone string) string {
	if zone == "" {
		return ""
	}
	return e.selfLink("zones/" + zone)
}

func (e *Emulator) getOperation(req *request) *response {
	op, aerr := e.lookupOperation(req)
	if aerr != nil {
		return errResp(aerr)
	}
	e.advance(op)
	return okJSON(op.doc)
}

// waitOperation answers DONE at once: GCP's wait returns when the operation
// is done or after about two minutes, and here every change is done already.
func (e *Emulator) waitOperation(req *request) *response {
	op, aerr := e.lookupOperation(req)
	if aerr != nil {
		return errResp(aerr)
	}
	op.remaining = 0
	e.advance(op)
	return okJSON(op.doc)
}
