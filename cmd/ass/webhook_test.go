package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// TestLifecycleWebhook: "ass lifecycle run --once --webhook URL
// --webhook-secret-env VAR" delivers the expiry notices, signed with the
// secret from the environment, from a cron line (issue 17 item 10).
func TestLifecycleWebhook(t *testing.T) {
	t.Parallel()
	secret := "hook-secret-0123456789abcdef"
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := agentvault.VerifyWebhook(r, []byte(secret), time.Minute, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var n map[string]any
		if json.Unmarshal(body, &n) != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
	}))
	defer srv.Close()

	s := newSandbox(t)
	s.init()
	s.ok("v", "set", "p/soon", "--expires-in", "12h")
	s.ok("v", "set", "p/later", "--expires-in", "30d")
	s.env["HOOK_SECRET"] = secret
	rep := decodeObject(t, s.ok("", "lifecycle", "run", "--once", "--json", "--webhook", srv.URL, "--webhook-secret-env", "HOOK_SECRET"))
	sent := rep["expiry"].(map[string]any)["sent"].([]any)
	require.NotEmpty(t, sent)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, len(sent), "every notice reported sent was received, signed")
	for _, n := range got {
		assert.Equal(t, "p/soon", n["path"])
		assert.Equal(t, agentvault.EventSecretExpiring, n["event"])
	}

	// Mistakes are usage errors that never echo the secret or the URL.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--webhook", srv.URL}, "--webhook needs --webhook-secret-env VAR"},
		{[]string{"--webhook-secret-env", "HOOK_SECRET"}, "--webhook-secret-env needs --webhook URL"},
		{[]string{"--webhook", srv.URL, "--webhook-secret-env", "NO_SUCH_VAR"}, "the variable NO_SUCH_VAR is unset or empty"},
		{[]string{"--webhook", "ftp://user:pw@host/x", "--webhook-secret-env", "HOOK_SECRET"}, "webhook URL must be an absolute http or https URL"},
	} {
		stderr := s.fails(exitUsage, "", append([]string{"lifecycle", "run", "--once"}, tc.args...)...)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
		assert.NotContains(t, stderr, "pw@", "%q", tc.args)
		assert.NotContains(t, stderr, secret, "%q", tc.args)
	}
	s.env["SHORT"] = "short"
	assert.Contains(t, s.fails(exitUsage, "", "lifecycle", "run", "--once", "--webhook", srv.URL, "--webhook-secret-env", "SHORT"), "at least 16 bytes")
}
