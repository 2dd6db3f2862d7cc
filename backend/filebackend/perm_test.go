package filebackend

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestLockFileSymlinkRefused: a .lock replaced by a symbolic link to
// another file (the vault's key file, say) is refused; the target keeps
// its mode and contents.
func TestLockFileSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "key")
	const content = "precious key material, 32+ bytes long"
	require.NoError(t, os.WriteFile(target, []byte(content), 0o400))
	require.NoError(t, os.Symlink(target, filepath.Join(dir, lockName)))

	_, err := Open(dir)
	require.ErrorIs(t, err, ErrInsecure, "Open with a symlinked .lock")
	assert.Contains(t, err.Error(), "is a symbolic link; remove it")
	data, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, content, string(data), "the link's target was written")
	fi, err := os.Stat(target)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o400), fi.Mode().Perm(), "the link's target was chmod-ed")

	// A hard link to another file is refused too.
	dir2 := t.TempDir()
	require.NoError(t, os.Link(target, filepath.Join(dir2, lockName)))
	_, err = Open(dir2)
	require.ErrorIs(t, err, ErrInsecure, "Open with a hard-linked .lock")
	assert.Contains(t, err.Error(), "hard links")
}

// TestRecordSymlinkNotFollowed: a key's file replaced by a symbolic link is
// reported as corrupt by Get and Put (never read through, never written
// through), and Delete with expectedRev 0 removes the link only.
func TestRecordSymlinkNotFollowed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := open(t, dir)
	defer b.Close()
	_, err := b.Put(ctx, "a", []byte("real"), 0)
	require.NoError(t, err)
	// Elsewhere, a valid record of another key: the link would substitute it.
	other := open(t, t.TempDir())
	_, err = other.Put(ctx, "a", []byte("planted"), 0)
	require.NoError(t, err)
	require.NoError(t, other.Close())
	target := other.path("a")
	before, err := os.ReadFile(target)
	require.NoError(t, err)

	path := b.path("a")
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.Symlink(target, path))

	_, _, err = b.Get(ctx, "a")
	require.ErrorIs(t, err, ErrCorrupt, "Get through a symlink")
	_, err = b.Put(ctx, "a", []byte("new"), 0)
	require.ErrorIs(t, err, ErrCorrupt, "Put over a symlink")
	require.NoError(t, b.Delete(ctx, "a", 0))
	after, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the link's target changed")
	_, err = os.Lstat(path)
	assert.True(t, os.IsNotExist(err), "Delete left the link")

	// A FIFO in a key's place is refused without blocking.
	require.NoError(t, unixMkfifo(b.path("f")))
	_, _, err = b.Get(ctx, "f")
	require.ErrorIs(t, err, ErrCorrupt, "Get of a FIFO")
}

// TestOpenRefusesSharedDirectory: a store directory writable by group or
// others, or owned by another user, is refused with how to fix it.
func TestOpenRefusesSharedDirectory(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o770, 0o702, 0o1777} {
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, mode))
		_, err := Open(dir)
		require.ErrorIs(t, err, ErrInsecure, "Open(dir with mode %04o)", mode)
		assert.Contains(t, err.Error(), "fix it with: chmod 700 "+dir)
		_, err = os.Lstat(filepath.Join(dir, lockName))
		assert.True(t, os.IsNotExist(err), "Open created the lock file in a refused directory")
	}
	for _, mode := range []os.FileMode{0o700, 0o755, 0o750} {
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, mode))
		b, err := Open(dir)
		require.NoError(t, err, "Open(dir with mode %04o)", mode)
		require.NoError(t, b.Close())
	}

	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	dir := t.TempDir()
	require.NoError(t, os.Chown(dir, 4242, 4242))
	_, err := Open(dir)
	require.ErrorIs(t, err, ErrInsecure, "Open(dir owned by uid 4242)")
	assert.Contains(t, err.Error(), "owned by uid 4242")
	assert.Contains(t, err.Error(), "chown 0 "+dir)

	// A lock file owned by someone else is refused too.
	dir = t.TempDir()
	lock := filepath.Join(dir, lockName)
	require.NoError(t, os.WriteFile(lock, nil, 0o600))
	require.NoError(t, os.Chown(lock, 4242, 4242))
	_, err = Open(dir)
	require.ErrorIs(t, err, ErrInsecure, "Open with a .lock owned by uid 4242")
}

func unixMkfifo(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return unix.Mkfifo(path, 0o600)
}
