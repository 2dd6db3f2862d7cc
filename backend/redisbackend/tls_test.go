package redisbackend_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key to
// dir and returns their paths and the certificate in PEM.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, certPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err, "GenerateKey")
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err, "CreateCertificate")
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err, "MarshalECPrivateKey")
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600), "write cert")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600), "write key")
	return certFile, keyFile, certPEM
}

func TestOpenTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, certPEM := selfSigned(t, t.TempDir())
	tlsPort := redistest.FreePort(t)
	redistest.StartServer(t, redistest.WithPassword(secretPassword), redistest.WithArgs(
		"--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", certFile,
		"--tls-key-file", keyFile,
		"--tls-auth-clients", "no",
	))
	url := "rediss://:" + secretPassword + "@127.0.0.1:" + strconv.Itoa(tlsPort) + "/0"
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(certPEM), "AppendCertsFromPEM")

	// Verified against the private root.
	b, err := redisbackend.Open(url, redisbackend.WithTLSConfig(&tls.Config{RootCAs: roots}), redisbackend.WithPrefix("tls"))
	require.NoError(t, err, "Open(rediss) trusting the server's certificate")
	rev, err := b.Put(t.Context(), "k", []byte("over TLS"), 0)
	require.NoError(t, err, "Put over TLS")
	v, got, err := b.Get(t.Context(), "k")
	require.NoError(t, err, "Get over TLS")
	assert.Equal(t, "over TLS", string(v), "Get over TLS")
	assert.Equal(t, rev, got, "Get over TLS rev")
	require.NoError(t, b.Close(), "Close")

	// The system roots do not know the certificate.
	_, err = redisbackend.Open(url)
	require.Error(t, err, "Open(rediss) with an unknown certificate")
	assert.Contains(t, err.Error(), "certificate", "Open error")
	assert.NotContains(t, err.Error(), secretPassword, "Open error leaks the password")

	// skip_verify=true turns verification off (for tests only).
	b, err = redisbackend.Open(url + "?skip_verify=true")
	require.NoError(t, err, "Open(rediss ... skip_verify=true)")
	require.NoError(t, b.Close(), "Close")

	// A TLS configuration for a plain URL is a mistake.
	_, err = redisbackend.Open("redis://127.0.0.1:1/0", redisbackend.WithTLSConfig(&tls.Config{RootCAs: roots}))
	assert.ErrorContains(t, err, "WithTLSConfig needs a TLS URL", "Open(redis://) with WithTLSConfig")
}
