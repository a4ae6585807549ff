package gceemu

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// The OAuth side. With a service-account key, cloud.google.com/go/auth
// (v0.24, behind every apiv1 client) POSTs to the key's token_uri the form
// grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT, the
// JWT signed RS256 with the key (kid: private_key_id) and claiming iss (the
// client e-mail), scope (the client's scopes), aud (token_uri), iat and exp
// (an hour later); it wants access_token, token_type and expires_in back. It
// caches the token per client until shortly before it expires.

const (
	tokenPath     = "/token"
	jwtBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	tokenLifetime = 3599 // seconds, as Google's token endpoint answers
)

// grant is what a bearer token stands for.
type grant struct {
	email   string
	scopes  []string
	expires time.Time
}

// keys holds the public half of every key WriteServiceAccountKey wrote in
// this process, by private_key_id, so that any Emulator checks the JWTs
// signed with them, whichever wrote the file.
var keys struct {
	sync.Mutex
	byID map[string]saKey
}

type saKey struct {
	email string
	pub   *rsa.PublicKey
}

// ServiceAccountEmail is the client_email of the keys WriteServiceAccountKey
// writes for a project.
func ServiceAccountEmail(project string) string {
	return "microseg-emulator@" + project + ".iam.gserviceaccount.com"
}

// WriteServiceAccountKey writes a service-account key file for DefaultProject
// with a fresh RSA key, in the form the Cloud console downloads, whose
// token_uri is tokenURI (a Server's TokenURL). Set GOOGLE_APPLICATION_CREDENTIALS
// to the file for Application Default Credentials to pick it up.
func WriteServiceAccountKey(path, tokenURI string) error {
	return writeKey(path, tokenURI, DefaultProject)
}

func writeKey(path, tokenURI, project string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return errorf("marshal key: %w", err)
	}
	id := make([]byte, 20)
	if _, err := rand.Read(id); err != nil {
		return errorf("key id: %w", err)
	}
	kid, email := hex.EncodeToString(id), ServiceAccountEmail(project)
	doc := map[string]string{
		"type":                        "service_account",
		"project_id":                  project,
		"private_key_id":              kid,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                email,
		"client_id":                   fmt.Sprintf("1%020d", uint64(id[0])<<32|uint64(id[1])<<24|uint64(id[2])<<16|uint64(id[3])<<8|uint64(id[4])),
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/" + url.PathEscape(email),
		"universe_domain":             "googleapis.com",
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return errorf("encode key: %w", err)
	}
	keys.Lock()
	if keys.byID == nil {
		keys.byID = map[string]saKey{}
	}
	keys.byID[kid] = saKey{email: email, pub: &key.PublicKey}
	keys.Unlock()
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return errorf("write key: %w", err)
	}
	return nil
}

// jwtClaims are the claims both the jwt-bearer assertion and a self-signed
// JWT carry.
type jwtClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub"`
	Aud   string `json:"aud"`
	Scope string `json:"scope"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// verifyJWT checks an RS256 JWT against the keys written in this process and
// its lifetime, as Google's token endpoint does: at most an hour, not expired.
func verifyJWT(tok string) (*jwtClaims, string) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, "Invalid JWT: the assertion is not a signed JWT."
	}
	var head struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var c jwtClaims
	if decodeSegment(parts[0], &head) != nil || decodeSegment(parts[1], &c) != nil {
		return nil, "Invalid JWT: the header or claims are not base64url-encoded JSON."
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	keys.Lock()
	k, known := keys.byID[head.Kid]
	keys.Unlock()
	if err != nil || head.Alg != "RS256" || !known {
		return nil, "Invalid JWT Signature."
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(k.pub, crypto.SHA256, sum[:], sig) != nil {
		return nil, "Invalid JWT Signature."
	}
	if c.Iss != k.email {
		return nil, "Invalid JWT: the issuer is not the key's service account."
	}
	t := time.Now().Unix()
	if c.Exp <= t || c.Iat > t+300 || c.Exp-c.Iat > 3600 {
		return nil, "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	}
	return &c, ""
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func oauthErr(status int, code, desc string) *response {
	return &response{status: status, body: map[string]string{"error": code, "error_description": desc}}
}

// serveToken answers the jwt-bearer grant with an access token.
func (e *Emulator) serveToken(r *http.Request, body []byte) *response {
	e.count("POST token")
	if r.Method != http.MethodPost {
		return oauthErr(http.StatusMethodNotAllowed, "invalid_request", "The token endpoint takes POST only.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return oauthErr(http.StatusBadRequest, "invalid_request", "The body must be application/x-www-form-urlencoded.")
	}
	if g := form.Get("grant_type"); g != jwtBearer {
		return oauthErr(http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+g)
	}
	c, why := verifyJWT(form.Get("assertion"))
	if c == nil {
		return oauthErr(http.StatusBadRequest, "invalid_grant", why)
	}
	if aud, err := url.Parse(c.Aud); err != nil || aud.Path != tokenPath {
		return oauthErr(http.StatusBadRequest, "invalid_grant", "Invalid JWT: Failed audience check. The expected audience is the token endpoint.")
	}
	if strings.TrimSpace(c.Scope) == "" {
		return oauthErr(http.StatusBadRequest, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	tok := fmt.Sprintf("ya29.gceemu-%016x%016x", e.secrets.Uint64(), e.secrets.Uint64())
	e.tokens[tok] = &grant{email: c.Iss, scopes: strings.Fields(c.Scope), expires: time.Now().Add(tokenLifetime * time.Second)}
	return okJSON(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": tokenLifetime})
}

// Scopes that give access to the Compute Engine API.
const (
	scopeCloudPlatform = "https://www.googleapis.com/auth/cloud-platform"
	scopeCompute       = "https://www.googleapis.com/auth/compute"
	scopeReadOnly      = "https://www.googleapis.com/auth/compute.readonly"
	computeAudience    = "https://compute.googleapis.com/"
)

// authenticate wants a token the emulator issued, or a self-signed JWT of a
// known key whose audience is Compute Engine or which carries scopes, and a
// scope that allows the call. It returns the caller's e-mail address.
func (e *Emulator) authenticate(header string, write bool) (string, *apiError) {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if header == "" || !ok {
		a := newErr(http.StatusUnauthorized, ReasonRequired, "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		a.state, a.location, a.where = "UNAUTHENTICATED", "Authorization", "header"
		return "", a
	}
	g := e.tokens[tok]
	if g == nil && strings.Count(tok, ".") == 2 {
		if c, _ := verifyJWT(tok); c != nil && (strings.TrimSuffix(c.Aud, "/")+"/" == computeAudience || c.Scope != "") {
			g = &grant{email: c.Iss, scopes: strings.Fields(c.Scope), expires: time.Unix(c.Exp, 0)}
			if c.Scope == "" {
				g.scopes = []string{scopeCloudPlatform} // an audience JWT grants what the account may do
			}
		}
	}
	if g == nil || time.Now().After(g.expires) {
		a := newErr(http.StatusUnauthorized, ReasonAuthError, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		a.state, a.location, a.where = "UNAUTHENTICATED", "Authorization", "header"
		return "", a
	}
	for _, s := range g.scopes {
		if s == scopeCloudPlatform || s == scopeCompute || (s == scopeReadOnly && !write) {
			return g.email, nil
		}
	}
	a := newErr(http.StatusForbidden, ReasonInsufficientScope, "Request had insufficient authentication scopes.")
	a.state = "PERMISSION_DENIED"
	return "", a
}
