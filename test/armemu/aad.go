package armemu

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The Entra ID (AAD) side: what MSAL for Go (v1.10, behind azidentity's
// client-secret credentials) requests. With an authority host that is not one
// of Microsoft's, MSAL first asks login.microsoftonline.com for instance
// discovery (GET /common/discovery/instance?api-version=1.1&authorization_endpoint=...),
// then the tenant's OpenID configuration on the authority host, whose
// token_endpoint, authorization_endpoint and issuer it requires, the issuer on
// the authority's host; then it POSTs the client-credentials grant to the
// token endpoint and requires access_token in the answer.

// tokenLifetime is the lifetime Entra ID gives app tokens, in seconds.
const tokenLifetime = 3599

// aadError is Entra ID's error document.
type aadError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	Timestamp   string `json:"timestamp"`
	TraceID     string `json:"trace_id"`
}

func aadErr(status int, code string, aadsts int, format string, args ...any) *response {
	return okResp(status, aadError{
		Error: code, Description: fmt.Sprintf("AADSTS%d: ", aadsts) + fmt.Sprintf(format, args...),
		Codes: []int{aadsts}, Timestamp: time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		TraceID: "00000000-0000-0000-0000-000000000000",
	})
}

func (e *Emulator) serveAAD(r *http.Request, body []byte) *response {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	is := func(want ...string) bool {
		if len(seg) != len(want) {
			return false
		}
		for i, w := range want {
			if w != "" && !strings.EqualFold(seg[i], w) {
				return false
			}
		}
		return true
	}
	switch {
	case r.Method == http.MethodGet && is("common", "discovery", "instance"):
		e.count("GET instance-discovery")
		return e.instanceDiscovery(r)
	case r.Method == http.MethodGet && is("", "v2.0", ".well-known", "openid-configuration"):
		e.count("GET openid-configuration")
		return openIDConfiguration(r.Host, seg[0])
	case r.Method == http.MethodPost && is("", "oauth2", "v2.0", "token"):
		e.count("POST token")
		return e.token(body)
	}
	e.count(r.Method + " unknown")
	return aadErr(http.StatusNotFound, "invalid_request", 90002, "The path %s is not an Entra ID endpoint the emulator serves.", r.URL.Path)
}

type discoveryMetadata struct {
	PreferredNetwork string   `json:"preferred_network"`
	PreferredCache   string   `json:"preferred_cache"`
	Aliases          []string `json:"aliases"`
}

type discoveryJSON struct {
	TenantDiscoveryEndpoint string              `json:"tenant_discovery_endpoint"`
	APIVersion              string              `json:"api-version"`
	Metadata                []discoveryMetadata `json:"metadata"`
}

// instanceDiscovery answers for authorities on this machine (the emulator's),
// as login.microsoftonline.com answers for Microsoft's clouds, and refuses any
// other with AADSTS50049 as it does.
func (e *Emulator) instanceDiscovery(r *http.Request) *response {
	ep, err := url.Parse(r.URL.Query().Get("authorization_endpoint"))
	if err != nil || ep.Scheme != "https" || !loopback(ep.Hostname()) {
		return aadErr(http.StatusBadRequest, "invalid_instance", 50049, "Unknown or invalid instance.")
	}
	tenant, _, _ := strings.Cut(strings.TrimPrefix(ep.Path, "/"), "/")
	if tenant == "" {
		return aadErr(http.StatusBadRequest, "invalid_instance", 50049, "Unknown or invalid instance.")
	}
	return okResp(http.StatusOK, discoveryJSON{
		TenantDiscoveryEndpoint: "https://" + ep.Host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		APIVersion:              "1.1",
		Metadata:                []discoveryMetadata{{PreferredNetwork: ep.Host, PreferredCache: ep.Host, Aliases: []string{ep.Host}}},
	})
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// openIDConfiguration is the tenant's document, with the endpoints on the host
// the client reached: MSAL checks that the issuer's host is the authority's.
func openIDConfiguration(host, tenant string) *response {
	base := "https://" + host + "/" + tenant
	return okResp(http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          "graph.microsoft.com",
	})
}

type tokenJSON struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
}

// token serves the client-credentials grant with a client secret, for any
// tenant and client ID, checked as Entra ID checks them.
func (e *Emulator) token(body []byte) *response {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return aadErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.")
	}
	if g := form.Get("grant_type"); g != "client_credentials" {
		return aadErr(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", g)
	}
	client := form.Get("client_id")
	if client == "" {
		return aadErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
	}
	if scope := form.Get("scope"); !defaultScope(scope) {
		return aadErr(http.StatusBadRequest, "invalid_scope", 1002012,
			"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
	}
	secret := form.Get("client_secret")
	if secret == "" {
		return aadErr(http.StatusUnauthorized, "invalid_client", 7000216,
			"'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if secret != e.opts.ClientSecret {
		return aadErr(http.StatusUnauthorized, "invalid_client", 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", client)
	}
	tok := fmt.Sprintf("armemu.%016x%016x", e.secrets.Uint64(), e.secrets.Uint64())
	e.tokens[tok] = time.Now().Add(tokenLifetime * time.Second)
	return okResp(http.StatusOK, tokenJSON{TokenType: "Bearer", ExpiresIn: tokenLifetime, ExtExpiresIn: tokenLifetime, AccessToken: tok})
}

// defaultScope wants one resource scope ending in /.default. MSAL adds the
// OpenID scopes to every request, which Entra ID ignores for this grant.
func defaultScope(scope string) bool {
	n := 0
	for _, s := range strings.Fields(scope) {
		switch s {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		if !strings.HasSuffix(s, "/.default") {
			return false
		}
		n++
	}
	return n == 1
}
