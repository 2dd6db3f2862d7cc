package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJSONShapes: --json output says what a reader would otherwise have to
// work out, in honest types (issue 17 item 2).
func TestJSONShapes(t *testing.T) {
	t.Parallel()
	b := newAccessBox(t)

	// set and create say created or updated.
	assert.Equal(t, "created", decodeObject(t, b.ok("one", "set", "p/a", "--json"))["status"])
	assert.Equal(t, "updated", decodeObject(t, b.ok("two", "set", "p/a", "--json"))["status"])
	assert.Equal(t, "created", decodeObject(t, b.ok("", "create", "p/b", "x", "--json"))["status"])
	_, has := b.getJSON("p/a")["status"]
	assert.False(t, has, "get --json has no status")

	// list marks expired secrets.
	b.ok("v", "set", "p/gone", "--expires-in", "1s")
	time.Sleep(1100 * time.Millisecond)
	expired := map[string]any{}
	for _, m := range decodeArray(t, b.ok("", "list", "--json")) {
		expired[m["path"].(string)] = m["expired"]
	}
	assert.Equal(t, map[string]any{"p/a": false, "p/b": false, "p/gone": true}, expired)
	b.ok("", "delete", "p/gone") // the lifecycle pass below would record its expiry

	// token list has the state.
	b.ok(canary, "set", "prod/db", "--tier", "critical")
	b.ok("x", "set", "s/k", "--tier", "standard")
	r := b.run("", "token", "request", "--scope", "secrets:read:s/*", "--ttl", "10m")
	require.Equal(t, exitOK, r.code, r.stderr)
	b.hidden = append(b.hidden, strings.TrimSpace(r.stdout))
	ts := decodeArray(t, b.ok("", "token", "list", "--json"))
	require.Len(t, ts, 1)
	assert.Equal(t, "active", ts[0]["state"])
	b.ok("", "token", "revoke", ts[0]["accessor"].(string))
	assert.Equal(t, "revoked", decodeArray(t, b.ok("", "token", "list", "--json"))[0]["state"])

	// Approvals: durations as strings, no zero times.
	b.env["ASS_ACTOR"] = "alice"
	id := b.approval("critical", "2", "token", "request", "--scope", "secrets:read:prod/db", "--ttl", "10m")
	as := decodeArray(t, b.ok("", "approvals", "list", "--json"))
	require.Len(t, as, 1)
	assert.Equal(t, id, as[0]["id"])
	assert.Equal(t, "10m0s", as[0]["ttl"])
	assert.IsType(t, "", as[0]["delay"])
	_, has = as[0]["ready_at"]
	assert.False(t, has, "a pending request has no ready_at")
	out := b.ok("", "approvals", "approve", id, "--actor", "bob", "--json")
	assert.NotContains(t, out, "0001-01-01")
	assert.Equal(t, "10m0s", decodeObject(t, out)["ttl"])
	for _, cmd := range [][]string{{"approvals", "list", "--json"}, {"token", "list", "--json"}, {"list", "--json"}} {
		assert.NotContains(t, b.ok("", cmd...), "0001-01-01", "ass %q", cmd)
	}

	// lifecycle run --once --json counts the pruned versions.
	rep := decodeObject(t, b.ok("", "lifecycle", "run", "--once", "--json"))
	assert.EqualValues(t, 0, rep["pruned_versions"])
	assert.Equal(t, []any{}, rep["pruned"])
}
