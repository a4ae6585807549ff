package armemu

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

// LoginHost is the host MSAL asks for instance discovery whatever the
// authority, which a Server answers for through an HTTPS_PROXY tunnel.
const LoginHost = "login.microsoftonline.com"

// Server serves an Emulator over TLS on 127.0.0.1, with httptest's
// certificate, which covers 127.0.0.1.
type Server struct {
	// URL is https://127.0.0.1:port: the ARM endpoint and audience, the
	// authority host (with a trailing slash), and the HTTPS_PROXY value.
	URL      string
	Emulator *Emulator

	srv    *httptest.Server
	tunnel *tunnel
}

// NewServer starts an Emulator behind TLS. Its clients trust it once
// SSL_CERT_FILE names the file WriteCACert wrote (or through their own roots).
func NewServer(opts Options) (*Server, error) {
	login, err := loginCert()
	if err != nil {
		return nil, err
	}
	s := &Server{Emulator: New(opts)}
	s.tunnel = newTunnel(login, s.Emulator)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// http.Server logs every TLS handshake a client aborts; a test that checks
	// the certificate is refused would otherwise litter the output.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the server and its tunnels.
func (s *Server) Close() {
	s.tunnel.close()
	s.srv.Close()
}

// Cloud is the cloud.Configuration a client sets to reach the server: its URL
// as the ARM endpoint and audience, and as the authority host.
func (s *Server) Cloud() cloud.Configuration {
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: s.URL + "/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: s.URL, Audience: s.URL},
		},
	}
}

// Environ is the environment azidentity's EnvironmentCredential (and so
// DefaultAzureCredential) reads to get a token from the server.
func (s *Server) Environ() map[string]string {
	return map[string]string{
		"AZURE_AUTHORITY_HOST": s.URL + "/",
		"AZURE_TENANT_ID":      DefaultTenantID,
		"AZURE_CLIENT_ID":      DefaultClientID,
		"AZURE_CLIENT_SECRET":  s.Emulator.opts.ClientSecret,
	}
}

// serve answers CONNECT to LoginHost with a tunnel to the emulator, refuses
// any other (so that nothing a test does leaves the machine), and hands every
// other request to the emulator.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		s.Emulator.ServeHTTP(w, r)
		return
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil || host != LoginHost {
		s.Emulator.count("CONNECT refused")
		http.Error(w, "armemu tunnels only to "+LoginHost, http.StatusForbidden)
		return
	}
	s.Emulator.count("CONNECT login")
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	s.tunnel.push(tls.Server(&bufferedConn{Conn: conn, r: rw.Reader}, s.tunnel.cfg))
}

// tunnel serves the connections CONNECT hands over, TLS-terminated with the
// LoginHost certificate, with the emulator.
type tunnel struct {
	cfg   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	srv   *http.Server
}

func newTunnel(cert tls.Certificate, h http.Handler) *tunnel {
	t := &tunnel{
		cfg:   &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12},
		conns: make(chan net.Conn),
		done:  make(chan struct{}),
		srv:   &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 10 * time.Second},
	}
	go func() { _ = t.srv.Serve(t) }()
	return t
}

func (t *tunnel) push(c net.Conn) {
	select {
	case t.conns <- c:
	case <-t.done:
		c.Close()
	}
}

// Accept, Close and Addr make the tunnel the listener of its http.Server.
func (t *tunnel) Accept() (net.Conn, error) {
	select {
	case c := <-t.conns:
		return c, nil
	case <-t.done:
		return nil, net.ErrClosed
	}
}

func (t *tunnel) Close() error {
	t.once.Do(func() { close(t.done) })
	return nil
}

func (t *tunnel) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (t *tunnel) close() {
	_ = t.Close()
	_ = t.srv.Close()
}

// bufferedConn reads first what the server buffered before the hijack.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

var certs struct {
	once      sync.Once
	localhost []byte // PEM of httptest's certificate
	login     tls.Certificate
	loginPEM  []byte
	err       error
}

// loadCerts reads httptest's fixed certificate from a started TLS server (the
// package keeps it internal) and makes a self-signed one for LoginHost, once
// per process, so that every Server and WriteCACert agree.
func loadCerts() error {
	certs.once.Do(func() {
		srv := httptest.NewUnstartedServer(http.NotFoundHandler())
		srv.StartTLS()
		certs.localhost = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		srv.Close()
		certs.login, certs.loginPEM, certs.err = selfSigned(LoginHost)
	})
	return certs.err
}

func loginCert() (tls.Certificate, error) {
	if err := loadCerts(); err != nil {
		return tls.Certificate{}, err
	}
	return certs.login, nil
}

func selfSigned(host string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: host, Organization: []string{"armemu"}},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// WriteCACert writes the PEM certificates a client must trust: httptest's,
// which every Server presents for 127.0.0.1, and this process's one for
// LoginHost. Set SSL_CERT_FILE to the file before the process verifies its
// first certificate; it then replaces the system's roots for that process.
func WriteCACert(path string) error {
	if err := loadCerts(); err != nil {
		return err
	}
	if len(certs.localhost) == 0 {
		return errors.New("armemu: no httptest certificate")
	}
	data := append(append([]byte{}, certs.localhost...), certs.loginPEM...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("armemu: write CA certificates: %w", err)
	}
	return nil
}
