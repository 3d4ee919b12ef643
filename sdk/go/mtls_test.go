package baomi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// Mutual TLS against the release binary serving HTTPS with the test certificates of
// sdk/conformance/tls and requiring client certificates signed by their CA: the SDK
// presents its certificate, and checks the server's against the CA it is given.
func TestClientCertificate(t *testing.T) {
	bin := os.Getenv("SDK_SERVER_BIN")
	if bin == "" {
		t.Fatal("set SDK_SERVER_BIN to the release binary (cargo build --release; target/release/baomi)")
	}
	dir, err := filepath.Abs(filepath.Join("..", "conformance", "tls"))
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	trusting := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: trusting}}
	srv := startServerWith(t, bin, "", []string{
		"BAOMI_TLS__CERT_FILE=" + filepath.Join(dir, "server.pem"),
		"BAOMI_TLS__KEY_FILE=" + filepath.Join(dir, "server.key"),
		"BAOMI_TLS__CLIENT_CA_FILE=" + ca,
	}, probe, "https")
	ctx := context.Background()

	c, err := New(srv.base, WithAPIKey(srv.admin),
		WithClientCertificate(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"), ca))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListPurposes(ctx); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}

	without, _ := New(srv.base, WithAPIKey(srv.admin), WithTLS(trusting), WithRetries(0, 0, 0))
	if _, err := without.ListPurposes(ctx); !IsCode(err, CodeAuthClientCertificateRequired) {
		t.Fatalf("without it: %v", err)
	}

	// The server's certificate is checked: a client that does not trust the test CA refuses.
	stranger, _ := New(srv.base, WithAPIKey(srv.admin), WithRetries(0, 0, 0))
	if _, err := stranger.ListPurposes(ctx); err == nil {
		t.Fatal("a server certificate of an unknown CA was accepted")
	}
}
