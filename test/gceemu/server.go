package gceemu

import (
	"net/http/httptest"

	"google.golang.org/api/option"
)

// Server serves an Emulator over plain HTTP on 127.0.0.1. Neither the apiv1
// REST clients nor cloud.google.com/go/auth refuse an http:// endpoint or
// token_uri, so no TLS is needed (unlike armemu).
type Server struct {
	// URL is http://127.0.0.1:port: the endpoint a client sets with
	// option.WithEndpoint (the clients append /compute/v1/projects/...).
	URL string
	// TokenURL is URL + "/token": the token_uri of the key files the server
	// writes.
	TokenURL string
	Emulator *Emulator

	srv *httptest.Server
}

// NewServer starts an Emulator.
func NewServer(opts Options) (*Server, error) {
	s := &Server{Emulator: New(opts)}
	s.srv = httptest.NewServer(s.Emulator)
	s.URL = s.srv.URL
	s.TokenURL = s.srv.URL + tokenPath
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// WriteServiceAccountKey writes a service-account key file for the server's
// project whose token_uri is the server's token endpoint.
func (s *Server) WriteServiceAccountKey(path string) error {
	return writeKey(path, s.TokenURL, s.Emulator.opts.Project)
}

// ClientOptions are, for tests' convenience, the options equivalent to what
// a user sets: the endpoint, and the key file that GOOGLE_APPLICATION_CREDENTIALS
// would name for Application Default Credentials.
func (s *Server) ClientOptions(keyFile string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.URL),
		option.WithAuthCredentialsFile(option.ServiceAccount, keyFile),
	}
}

// Environ is the environment Application Default Credentials read to reach
// the server with a key file the server wrote.
func (s *Server) Environ(keyFile string) map[string]string {
	return map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": keyFile}
}
