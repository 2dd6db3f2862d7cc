package mcpserver_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/mcpserver"
)

// TestHTTPHandlerRefusesWithoutBearerOrFromNetwork: no tool is reached
// without the bearer, or from a non-loopback address.
func TestHTTPHandlerRefusesWithoutBearerOrFromNetwork(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/app/api-key"}})
	srv, err := mcpserver.New(e.v, mcpserver.Token(tok), nil)
	require.NoError(t, err)
	_, err = mcpserver.HTTPHandler(srv, "")
	assert.ErrorIs(t, err, mcpserver.ErrInvalidOptions, "empty bearer")
	h, err := mcpserver.HTTPHandler(srv, tok)
	require.NoError(t, err)

	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	for name, tc := range map[string]struct {
		remote, auth string
		want         int
	}{
		"no bearer":       {"127.0.0.1:5000", "", http.StatusUnauthorized},
		"wrong bearer":    {"127.0.0.1:5000", "Bearer ast_tok_wrong", http.StatusUnauthorized},
		"basic auth":      {"127.0.0.1:5000", "Basic " + tok, http.StatusUnauthorized},
		"network address": {"192.0.2.7:5000", "Bearer " + tok, http.StatusForbidden},
	} {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader(body))
		r.RemoteAddr = tc.remote
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, tc.want, w.Code, name)
		assert.NotContains(t, w.Body.String(), "get_secret", name)
		assert.NotContains(t, w.Body.String(), tok, name)
	}
}

// TestCheckLoopback accepts loopback addresses only.
func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8765", "[::1]:8765", "localhost:8765", "127.0.0.2:1"} {
		assert.NoError(t, mcpserver.CheckLoopback(ok), ok)
	}
	for _, bad := range []string{"0.0.0.0:8765", ":8765", "192.168.1.2:80", "example.com:80", "127.0.0.1", "[::]:80"} {
		assert.ErrorIs(t, mcpserver.CheckLoopback(bad), mcpserver.ErrInvalidOptions, bad)
	}
}
