package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentvault/agentvault/backend/pgbackend/pgtest"
)

// TestPostgresBackend runs the CLI against a throwaway PostgreSQL server:
// init, then two "machines" (separate ASS_HOMEs sharing the key file) see
// each other's writes; the password comes from PGPASSWORD and never shows.
func TestPostgresBackend(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	url := srv.URLWithoutPassword()
	key := filepath.Join(t.TempDir(), "shared.key")

	a := newSandbox(t)
	a.env["ASS_BACKEND"] = url
	a.env["ASS_KMS"] = "local://" + key
	a.env["PGPASSWORD"] = pgtest.Password
	a.ok("", "init")
	a.ok("", "set", "prod/db/url", "postgres://x", "--tier", "critical")

	b := newSandbox(t)
	b.env["ASS_BACKEND"] = url
	b.env["ASS_KMS"] = "local://" + key
	b.env["PGPASSWORD"] = pgtest.Password
	assert.Equal(t, "postgres://x", b.ok("", "get", "prod/db/url"))
	b.ok("", "set", "prod/db/url", "postgres://y")
	assert.Equal(t, "postgres://y", a.ok("", "get", "prod/db/url"))
	assert.Contains(t, a.ok("", "versions", "prod/db/url"), "v2")
	assert.Contains(t, a.ok("", "list", "prod/"), "prod/db/url")

	// A wrong password: a clear error naming host:port, never the password.
	c := newSandbox(t)
	c.env["ASS_BACKEND"] = url
	c.env["ASS_KMS"] = "local://" + key
	c.env["PGPASSWORD"] = "wrong-password-xyz"
	msg := c.fails(exitError, "", "list")
	assert.Contains(t, msg, srv.Addr)
	assert.NotContains(t, msg, "wrong-password-xyz")
	assert.NotContains(t, msg, pgtest.Password)
}
