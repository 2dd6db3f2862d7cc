package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionsAndRollback(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("one\n", "set", "r/x", "--actor", "alice")
	s.ok("two\n", "set", "r/x", "--actor", "bob")
	s.ok("three\n", "set", "r/x")

	out := s.ok("", "versions", "r/x")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 4)
	assert.Regexp(t, `^VERSION\s+CREATED_AT\s+CREATED_BY\s+ACTIVE\s+STATE$`, lines[0])
	assert.Regexp(t, `^v1\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+alice\s+no\s+inactive$`, lines[1])
	assert.Regexp(t, `^v2\s+\S+\s+bob\s+no\s+inactive$`, lines[2])
	assert.Regexp(t, `^v3\s+\S+\s+tester\s+yes\s+active$`, lines[3])

	vs := decodeArray(t, s.ok("", "versions", "r/x", "--json"))
	require.Len(t, vs, 3)
	assert.Equal(t, []string{"created_at", "created_by", "grace_ends_at", "is_active", "is_previous", "pruned", "version"}, keys(vs[0]))
	assert.Nil(t, vs[0]["grace_ends_at"])
	assert.Equal(t, false, vs[0]["is_previous"])
	assert.Equal(t, false, vs[0]["pruned"])
	assert.Equal(t, "v1", vs[0]["version"])
	assert.Equal(t, "alice", vs[0]["created_by"])
	assert.Equal(t, false, vs[0]["is_active"])
	assert.Equal(t, true, vs[2]["is_active"])
	mustTime(t, vs[0]["created_at"])

	assert.Equal(t, "rolled back r/x to v1\n", s.ok("", "rollback", "r/x", "v1"))
	assert.Equal(t, "one", s.ok("", "get", "r/x"))
	vs = decodeArray(t, s.ok("", "versions", "r/x", "--json"))
	assert.Equal(t, []any{true, false, false}, []any{vs[0]["is_active"], vs[1]["is_active"], vs[2]["is_active"]})
	assert.Equal(t, "v1", s.getJSON("r/x")["version"])

	// The next value is max+1, not active+1.
	assert.Equal(t, "updated r/x v4\n", s.ok("four\n", "set", "r/x"))
	assert.Equal(t, "four", s.ok("", "get", "r/x"))
	assert.Equal(t, "three", s.ok("", "get", "r/x", "--version", "v3"))

	m := decodeObject(t, s.ok("", "rollback", "r/x", "2", "--json"))
	assert.Equal(t, "v2", m["version"])
	assert.Equal(t, "r/x", m["path"])
	assert.NotContains(t, m, "value")
	assert.Equal(t, "two", s.ok("", "get", "r/x"))

	stderr := s.fails(exitNotFound, "", "rollback", "r/x", "v9")
	assert.True(t, strings.HasPrefix(stderr, "ass: rollback r/x v9: secret not found"), stderr)
	assert.Contains(t, s.fails(exitUsage, "", "rollback", "r/x", "latest"), `version "latest" is not of the form`)
	assert.Equal(t, "ass: rollback r/none v1: secret not found\n", s.fails(exitNotFound, "", "rollback", "r/none", "v1"))
	assert.Equal(t, "ass: versions r/none: secret not found\n", s.fails(exitNotFound, "", "versions", "r/none"))
	assert.Equal(t, "two", s.ok("", "get", "r/x"), "failed rollbacks changed the active version")
}

func TestMemBackendAndEnvKey(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	// mem:// needs no init and keeps nothing.
	s.env["ASS_KMS"] = "env://ASS_TEST_KEY"
	s.env["ASS_TEST_KEY"] = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80="
	assert.Equal(t, "created m/x v1\n", s.ok("v\n", "--backend", "mem://", "set", "m/x"))
	s.fails(exitNotFound, "", "get", "m/x", "--backend", "mem://")
	assert.Equal(t, "no secrets\n", s.ok("", "list", "--backend", "mem://"))
	s.env["ASS_BACKEND"] = "mem://"
	assert.Equal(t, "created m/y v1\n", s.ok("", "create", "m/y", "v"))
	assert.NoDirExists(t, s.home, "mem:// with env:// created ASS_HOME")

	// env:// key with a file store.
	dir := t.TempDir() + "/store"
	s.env["ASS_BACKEND"] = "file://" + dir
	out := s.ok("", "init")
	assert.Contains(t, out, "key:   env://ASS_TEST_KEY (key id local-")
	s.ok(canary+"\n", "set", "e/x")
	assert.Equal(t, canary, s.ok("", "get", "e/x"))
	assert.NoDirExists(t, s.home)

	// Another key cannot open it; a missing variable is named.
	s.env["ASS_TEST_KEY"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	assert.Contains(t, s.fails(exitError, "", "get", "e/x"), "integrity check failed")
	assert.Contains(t, s.fails(exitError, "", "get", "e/x", "--kms", "env://ASS_TEST_MISSING"), "ASS_TEST_MISSING is not set")
	s.env["ASS_TEST_KEY"] = "not base64!"
	assert.Contains(t, s.fails(exitError, "", "get", "e/x"), "environment variable ASS_TEST_KEY")
}
