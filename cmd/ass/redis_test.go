package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentvault/agentvault/internal/redistest"
)

// TestRedisBackend runs the CLI against a real redis-server on a free
// loopback port: init, then two "machines" (separate ASS_HOMEs sharing the
// key file) see each other's writes.
func TestRedisBackend(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	url := "redis://" + srv.Addr + "/0"
	key := filepath.Join(t.TempDir(), "shared.key")

	a := newSandbox(t)
	a.env["ASS_BACKEND"] = url
	a.env["ASS_KMS"] = "local://" + key
	// No vault in this Redis yet: a clear error, nothing created.
	assert.Contains(t, a.fails(exitError, "", "list"), "no key file at")
	a.ok("", "init")
	a.ok("", "set", "prod/db/url", "postgres://x", "--tier", "critical")

	b := newSandbox(t)
	b.env["ASS_BACKEND"] = url
	b.env["ASS_KMS"] = "local://" + key
	assert.Equal(t, "postgres://x", b.ok("", "get", "prod/db/url"))
	b.ok("", "set", "prod/db/url", "postgres://y")
	assert.Equal(t, "postgres://y", a.ok("", "get", "prod/db/url"))
	assert.Contains(t, a.ok("", "versions", "prod/db/url"), "v2")
	assert.Contains(t, a.ok("", "list", "prod/"), "prod/db/url")

	// A Redis with no vault in it (another db) is refused, not created.
	c := newSandbox(t)
	c.env["ASS_BACKEND"] = "redis://" + srv.Addr + "/3"
	c.env["ASS_KMS"] = "local://" + key
	assert.Contains(t, c.fails(exitError, "", "list"), "no vault at redis://")
}
