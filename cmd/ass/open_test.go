package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"file:///var/lib/ass", "file:///var/lib/ass"},
		{"mem://", "mem://"},
		{"env://KEY", "env://KEY"},
		{"redis://localhost:6379/0", "redis://localhost:6379/0"},
		{"redis://:hunter2@localhost:6379/0", "redis://REDACTED@localhost:6379/0"},
		{"redis://user:hunter2@localhost:6379/0", "redis://REDACTED@localhost:6379/0"},
		{"redis://user:hun@ter2@localhost", "redis://REDACTED@localhost"},
		{"rediss://u:p@h:1/2?password=hunter2&db=3#frag", "rediss://REDACTED@h:1/2?password=REDACTED&db=REDACTED#frag"},
		{"redis://h/0?flag", "redis://h/0?flag"},
		{"awskms://arn:aws:kms:eu-west-1:111:key/abc", "awskms://arn:aws:kms:eu-west-1:111:key/abc"},
		{"user:hunter2@host", "REDACTED@host"},
		{"/plain/path", "/plain/path"},
	} {
		got := redactURL(tc.in)
		assert.Equal(t, tc.want, got, "redactURL(%q)", tc.in)
		assert.NotContains(t, got, "hunter2", "redactURL(%q)", tc.in)
	}
}

func TestSchemes(t *testing.T) {
	t.Parallel()
	cfg := &config{home: t.TempDir()}
	o := &opener{ctx: t.Context(), cfg: cfg}

	_, err := openBackend(o, "s3://bucket")
	var ue *usageError
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), `unknown --backend scheme in "s3://bucket" (supported: file://DIR, mem://, redis://`)
	for _, s := range []string{"redis+cluster://", "redis+sentinel://", "rediss://"} {
		assert.Contains(t, err.Error(), s)
	}
	_, err = openKMS(o, "vault://x")
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "(supported: local://FILE, env://VAR, awskms://")
	assert.Contains(t, err.Error(), "gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K")
	_, err = openKMS(o, "nourl")
	require.ErrorAs(t, err, &ue)

	b, err := openBackend(o, "mem://")
	require.NoError(t, err)
	require.NoError(t, b.Close())

	// Without create, nothing is made; with it, the store and key are, and
	// rollback removes them again.
	dir := filepath.Join(cfg.home, "a", "b", "store")
	key := filepath.Join(cfg.home, "k", "key")
	_, err = openBackend(o, "file://"+dir)
	var nv *noVaultError
	require.ErrorAs(t, err, &nv)
	assert.NoDirExists(t, filepath.Join(cfg.home, "a"))
	_, err = openKMS(o, "local://"+key)
	require.ErrorAs(t, err, &nv)
	assert.NoDirExists(t, filepath.Join(cfg.home, "k"))

	o.create = true
	b, err = openBackend(o, "file://"+dir)
	require.NoError(t, err)
	require.NoError(t, b.Close())
	kp, err := openKMS(o, "local://"+key)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(kp.KeyID(), "k-"))
	fi, err := os.Stat(filepath.Join(cfg.home, "a"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	o.rollback()
	assert.NoDirExists(t, filepath.Join(cfg.home, "a"))
	assert.NoDirExists(t, filepath.Join(cfg.home, "k"))
	assert.DirExists(t, cfg.home, "rollback removed a directory it did not create")

	// A store path that is a file.
	file := filepath.Join(cfg.home, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = openBackend(o, "file://"+file)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not a directory")
	assert.False(t, errors.As(err, &ue))
}
