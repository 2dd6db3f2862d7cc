package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInitRefusesSharedStore: init refuses a store directory others can
// write to or that another user owns, says how to fix it, and leaves no
// key file behind.
func TestInitRefusesSharedStore(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	store := filepath.Join(s.home, "store")
	require.NoError(t, os.MkdirAll(store, 0o700))
	require.NoError(t, os.Chmod(s.home, 0o700))
	require.NoError(t, os.Chmod(store, 0o777))
	stderr := s.fails(exitError, "", "init")
	assert.Contains(t, stderr, "has mode 0777")
	assert.Contains(t, stderr, "fix it with: chmod 700 "+store)
	_, err := os.Lstat(filepath.Join(s.home, "key"))
	assert.True(t, os.IsNotExist(err), "init left a key file behind")

	require.NoError(t, os.Chmod(store, 0o700))
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chown(store, 4242, 4242))
		stderr = s.fails(exitError, "", "init")
		assert.Contains(t, stderr, "owned by uid 4242")
		require.NoError(t, os.Chown(store, 0, 0))
	}
	s.init()
	// A lock file turned into a symbolic link is refused by every command.
	target := filepath.Join(t.TempDir(), "target")
	require.NoError(t, os.WriteFile(target, []byte("do not touch"), 0o644))
	lock := filepath.Join(store, ".lock")
	require.NoError(t, os.Remove(lock))
	require.NoError(t, os.Symlink(target, lock))
	stderr = s.fails(exitError, "", "set", "ns/A", "x")
	assert.Contains(t, stderr, "is a symbolic link")
	data, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "do not touch", string(data))
}
