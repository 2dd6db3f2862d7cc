package awskms

// This file runs local-kms (github.com/nsmithuk/local-kms), a server that
// speaks the AWS KMS JSON protocol, on a loopback port for the tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssdkkms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/stretchr/testify/require"
)

const (
	testRegion  = "eu-west-2"
	testAccount = "111122223333"
)

// localKMS is one running local-kms process, reached through a shim (see
// newShim) on another loopback port.
type localKMS struct {
	Endpoint string // the shim: http://127.0.0.1:PORT
	Direct   string // local-kms itself: http://127.0.0.1:PORT
	Client   *awssdkkms.Client
	cmd      *exec.Cmd
	shim     *httptest.Server
	done     chan struct{} // closed when the process has exited
}

// findLocalKMS returns the path of the local-kms binary: on PATH, in $GOBIN,
// or in the bin directory of each GOPATH entry.
func findLocalKMS() (string, bool) {
	if p, err := exec.LookPath("local-kms"); err == nil {
		return p, true
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 2 {
			if lines[0] != "" {
				dirs = append(dirs, lines[0])
			}
			for _, gp := range filepath.SplitList(lines[1]) {
				dirs = append(dirs, filepath.Join(gp, "bin"))
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "local-kms")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// startedRE matches the line local-kms logs once it listens; with PORT=0 it
// is the only place the chosen port appears.
var startedRE = regexp.MustCompile(`Local KMS started on [0-9.:\[\]]*:(\d+)`)

// startLocalKMS starts a local-kms process with its own data directory and
// stops it at the end of the test. Without the binary it fails the test
// under CI (CI=true) and skips it elsewhere.
//
// The process is started with PORT=0 and the test reads the port it bound
// from its log: picking a free port first and passing it in would race with
// other processes (and parallel tests) taking that port.
func startLocalKMS(t testing.TB) *localKMS {
	t.Helper()
	bin, ok := findLocalKMS()
	if !ok {
		msg := "local-kms not found on PATH, in $GOBIN or in $(go env GOPATH)/bin; " +
			"run scripts/install-deps (it runs go install github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6)"
		if os.Getenv("CI") == "true" || os.Getenv("AGENTVAULT_REQUIRE_KMS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	dir := t.TempDir()
	logPath := filepath.Join(dir, "local-kms.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err, "create local-kms log file")
	defer logFile.Close()

	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"PORT=0",
		"KMS_DATA_PATH=" + filepath.Join(dir, "data"),
		"KMS_REGION=" + testRegion,
		"KMS_ACCOUNT_ID=" + testAccount,
		"KMS_SEED_PATH=" + filepath.Join(dir, "no-seed.yaml"),
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start(), "start %s", bin)
	l := &localKMS{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(l.done)
	}()
	t.Cleanup(l.Stop)

	readLog := func() string {
		b, _ := os.ReadFile(logPath)
		return string(b)
	}
	t.Cleanup(func() {
		if t.Failed() {
			lines := strings.Split(strings.TrimSpace(readLog()), "\n")
			lines = lines[max(0, len(lines)-40):]
			t.Logf("last lines of the local-kms log:\n%s", strings.Join(lines, "\n"))
		}
	})
	var port string
	deadline := time.Now().Add(15 * time.Second)
	for port == "" {
		if m := startedRE.FindStringSubmatch(readLog()); m != nil {
			port = m[1]
			break
		}
		select {
		case <-l.done:
			t.Fatalf("local-kms exited before listening; its log:\n%s", readLog())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("local-kms did not report its port within 15s; its log:\n%s", readLog())
		}
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("local-kms port %s does not accept connections: %v; its log:\n%s", addr, err, readLog())
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.Direct = "http://" + addr
	l.shim = newShim(t, l.Direct)
	l.Endpoint = l.shim.URL
	l.Client = newTestClient(l.Endpoint)
	return l
}

// Stop stops the shim and kills the process, waiting for it to exit, so that
// both ports refuse connections. It is safe to call twice.
func (l *localKMS) Stop() {
	if l.shim != nil {
		l.shim.Close()
	}
	select {
	case <-l.done:
		return
	default:
	}
	_ = l.cmd.Process.Kill()
	<-l.done
}

// newTestClient returns a KMS client for endpoint with static credentials
// and a short retry policy, so that tests against a stopped server end
// quickly.
func newTestClient(endpoint string) *awssdkkms.Client {
	return awssdkkms.New(awssdkkms.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCALKMSTEST", "local-kms-ignores-signatures", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 2
			o.MaxBackoff = 20 * time.Millisecond
		}),
		HTTPClient: awshttp.NewBuildableClient().WithTimeout(10 * time.Second),
	})
}

// CreateKey creates a symmetric encryption key and returns its ARN.
func (l *localKMS) CreateKey(t testing.TB) string {
	t.Helper()
	out, err := l.Client.CreateKey(context.Background(), &awssdkkms.CreateKeyInput{
		Description: aws.String("agentvault awskms test key"),
	})
	require.NoError(t, err, "CreateKey")
	require.NotNil(t, out.KeyMetadata, "CreateKey returned no metadata")
	return aws.ToString(out.KeyMetadata.Arn)
}

// newShim returns a loopback HTTP server that forwards every request to
// local-kms at target, and answers two kinds of Decrypt request itself the
// way AWS KMS does, where local-kms (at the pinned version) does not:
//
//   - The ciphertext names a key other than the KeyId (a key ARN) of the
//     request: AWS KMS authenticates the key id in its ciphertext header and
//     answers IncorrectKeyException; local-kms ignores the header's key id
//     when the request names a key, so a ciphertext whose header was edited
//     still opened. The shim forwards such a request and replaces only a
//     successful answer, so local-kms's key checks (not found, disabled)
//     still come first. Requests naming the key by alias or bare key id are
//     not checked.
//   - The ciphertext is too short to hold a nonce and a tag, or its first
//     byte (the length of the key ARN) is 255: AWS KMS answers
//     InvalidCiphertextException; local-kms panics (slicing the nonce, or a
//     uint8 overflow in its length check) and drops the connection, which
//     the client would report as unavailable.
//
// The shim parses local-kms's own ciphertext layout (length of the key ARN,
// the ARN, a 4-byte key version, nonce, sealed data and tag; see
// src/service/ciphertext.go in local-kms) and passes every other request,
// and every Decrypt it does not answer, through unchanged. The cryptography,
// key states and every other answer are local-kms's.
func newShim(t testing.TB, target string) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err, "parse local-kms URL")
	proxy := httputil.NewSingleHostReverseProxy(u)
	transport := &http.Transport{}
	proxy.Transport = transport
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the whole request before forwarding it: streaming it while
		// local-kms answered made the proxy drop large responses now and then.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "shim: read body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if r.Header.Get("X-Amz-Target") != "TrentService.Decrypt" {
			proxy.ServeHTTP(w, r)
			return
		}
		var in struct {
			CiphertextBlob []byte
			KeyId          string
		}
		if json.Unmarshal(body, &in) == nil && len(in.CiphertextBlob) > 0 {
			const nonceAndTag = 12 + 16
			blob := in.CiphertextBlob
			n := int(blob[0])
			switch {
			case n == 255 || len(blob) < 1+n+4+nonceAndTag:
				writeAWSError(w, "InvalidCiphertextException", "")
				return
			case strings.Contains(in.KeyId, ":key/") && string(blob[1:1+n]) != in.KeyId:
				// Let local-kms check the key first (not found, disabled),
				// and turn only a success into IncorrectKeyException.
				rec := httptest.NewRecorder()
				proxy.ServeHTTP(rec, r)
				if rec.Code == http.StatusOK {
					writeAWSError(w, "IncorrectKeyException", "The key ID in the request does not identify a KMS key that can perform this operation.")
					return
				}
				maps.Copy(w.Header(), rec.Header())
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	srv.Config.RegisterOnShutdown(transport.CloseIdleConnections)
	t.Cleanup(transport.CloseIdleConnections)
	return srv
}

// writeAWSError writes an AWS JSON 1.1 protocol error response.
func writeAWSError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
