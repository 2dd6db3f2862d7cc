package awskms

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenURLQuietSDK: the SDK logs nothing on stderr by default. An
// instance metadata service refusing IMDSv2 tokens makes the SDK's default
// logger print "WARN falling back to IMDSv1" (issue 17 item 11). Not
// parallel: it swaps os.Stderr and sets environment variables.
func TestOpenURLQuietSDK(t *testing.T) {
	var tokenAsked atomic.Bool
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			tokenAsked.Store(true)
			w.WriteHeader(http.StatusForbidden) // no IMDSv2: the SDK falls back, and says so
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer imds.Close()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_EC2_METADATA_DISABLED"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)

	r, w, err := os.Pipe()
	require.NoError(t, err)
	saved := os.Stderr
	os.Stderr = w
	captured := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		captured <- string(b)
	}()
	func() {
		defer func() { os.Stderr = saved }()
		p, err := OpenURL(context.Background(), "awskms://alias/x?region=eu-west-2&endpoint=http://127.0.0.1:1",
			WithConfigOptions(config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{})))
		require.NoError(t, err)
		_, err = p.Encrypt(context.Background(), make([]byte, 32), []byte("aad"))
		assert.Error(t, err, "no credentials anywhere")
	}()
	require.NoError(t, w.Close())
	out := <-captured
	require.True(t, tokenAsked.Load(), "the SDK did not reach the metadata service: the test proves nothing")
	assert.Empty(t, out, "OpenURL's client wrote to stderr")
}
