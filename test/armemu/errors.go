package armemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Error codes the emulator answers with, as Azure spells them. Where the code
// was not found in public material, its constant says so.
const (
	CodeSecurityRuleConflict         = "SecurityRuleConflict"
	CodeSecurityRuleInvalidPriority  = "SecurityRuleInvalidPriority"
	CodeSecurityRuleInvalidPortRange = "SecurityRuleInvalidPortRange"
	CodeInvalidPortRangesInPlural    = "SecurityRuleParameterContainsInvalidPortRanges"
	CodeInvalidAddressPrefix         = "SecurityRuleInvalidAddressPrefix"
	CodeUnsupportedValue             = "SecurityRuleParameterContainsUnsupportedValue"
	CodeASGsPerRuleLimit             = "NumberOfApplicationSecurityGroupsReferencedInSecurityRuleLimitReached"
	CodeRuleCountLimit               = "SecurityRuleCountLimitReached"
	CodePrefixesPerNSGLimit          = "SecurityRuleAddressesOrPortsPerSecurityGroupLimitReached"
	CodeInvalidResourceReference     = "InvalidResourceReference"
	CodeLinkedInvalidPropertyID      = "LinkedInvalidPropertyId"
	CodeNSGInUse                     = "InUseNetworkSecurityGroupCannotBeDeleted"
	CodeNICInUse                     = "NicInUse"
	CodeASGsDifferPerIPConfig        = "AllIpConfigurationsOnANicMustBelongToTheSameApplicationSecurityGroups"
	CodeInvalidRequestFormat         = "InvalidRequestFormat"
	CodeDuplicateResourceName        = "DuplicateResourceName"
	CodeInvalidResourceName          = "InvalidResourceName"
	CodePreconditionFailed           = "PreconditionFailed"
	CodeResourceNotFound             = "ResourceNotFound"
	CodeChildNotFound                = "NotFound"
	CodeResourceGroupNotFound        = "ResourceGroupNotFound"
	CodeThrottled                    = "TooManyRequests"
	CodeAnotherOperationInProgress   = "AnotherOperationInProgress"

	// CodeASGInUse answers the deletion of an application security group still
	// referenced. Azure's message is known ("Application Security Group X cannot
	// be deleted because it is referenced by IpConfiguration(s) ipconfig1.",
	// Azure/azure-cli#12591) but its code was not found in public material; this
	// one follows NRP's InUse...CannotBeDeleted family and may differ from Azure's.
	CodeASGInUse = "InUseApplicationSecurityGroupCannotBeDeleted"
	// CodeASGsPerIPConfigLimit answers an IP configuration with more than the
	// documented 20 application security groups. The code was not found in
	// public material; it follows CodeASGsPerRuleLimit's pattern.
	CodeASGsPerIPConfigLimit = "NumberOfApplicationSecurityGroupsReferencedInIpConfigurationLimitReached"
)

// apiError is an ARM CloudError with its status.
type apiError struct {
	status  int
	code    string
	message string
	details []errorBody
	header  http.Header
}

func (a *apiError) Error() string { return a.code + ": " + a.message }

func newErr(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *apiError {
	return newErr(http.StatusBadRequest, code, format, args...)
}

// errFormat is NRP's answer to a body it cannot bind: "Cannot parse the
// request." with the reason in a detail.
func errFormat(detailCode, format string, args ...any) *apiError {
	a := badRequest(CodeInvalidRequestFormat, "Cannot parse the request.")
	a.details = []errorBody{{Code: detailCode, Message: fmt.Sprintf(format, args...)}}
	return a
}

func errDuplicateName(kind, name string) *apiError {
	return errFormat(CodeDuplicateResourceName, "Resource has two child resources of type %s with the same name %s.", kind, name)
}

func errNotFound(typ, rg, name string) *apiError {
	return newErr(http.StatusNotFound, CodeResourceNotFound,
		"The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", typ, name, rg)
}

func errChildNotFound(id string) *apiError {
	return newErr(http.StatusNotFound, CodeChildNotFound, "Resource %s not found.", id)
}

func errRGNotFound(rg string) *apiError {
	return newErr(http.StatusNotFound, CodeResourceGroupNotFound, "Resource group '%s' could not be found.", rg)
}

func errReference(ref, by string) *apiError {
	return badRequest(CodeInvalidResourceReference,
		"Resource %s referenced by resource %s was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.", ref, by)
}

func errLinkedID(id, path string) *apiError {
	return badRequest(CodeLinkedInvalidPropertyID,
		"Property id '%s' at path '%s' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{subscriptionId}' or '/providers/{resourceProviderNamespace}/'.", id, path)
}

// errorBody is the JSON of an ARM error and of each of its details.
type errorBody struct {
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Details []errorBody `json:"details,omitempty"`
}

type cloudError struct {
	Error errorBody `json:"error"`
}

// response is what a handler answers: written after the mutex is released.
type response struct {
	status int
	header http.Header
	body   any // marshalled to JSON; nil for no body
}

func errResp(a *apiError) *response {
	return &response{status: a.status, header: a.header,
		body: cloudError{Error: errorBody{Code: a.code, Message: a.message, Details: a.details}}}
}

func okResp(status int, body any) *response { return &response{status: status, body: body} }

func (r *response) write(w http.ResponseWriter, requestID string) {
	for k, vs := range r.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("x-ms-request-id", requestID)
	w.Header().Set("x-ms-correlation-request-id", requestID)
	if r.body == nil {
		w.WriteHeader(r.status)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r.body); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(r.status)
	_, _ = w.Write(buf.Bytes())
}

// validName is NRP's rule for resource names: up to 80 characters, starting
// with a word character, ending with one or '_', with '.', '-' and '_' between.
func validName(name string) bool {
	if name == "" || len(name) > 80 {
		return false
	}
	word := func(c byte) bool {
		return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	if !word(name[0]) || !word(name[len(name)-1]) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !word(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func errName(name string) *apiError {
	return badRequest(CodeInvalidResourceName,
		"Resource name %s is invalid. The name can be up to 80 characters long. It must begin with a word character, and it must end with a word character or with '_'. The name may contain word characters or '.', '-', '_'.", name)
}

// normLocation is how ARM stores a location: "East US" becomes "eastus".
func normLocation(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, " ", ""))
}
