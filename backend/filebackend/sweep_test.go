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

// TestOpenRemovesLeftoverTempFiles: the temporary files of a writer killed
// before its rename (here planted by hand) are ignored by Get and List and
// removed by the next Open; the records beside them are untouched.
func TestOpenRemovesLeftoverTempFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := Open(dir)
	require.NoError(t, err)
	_, err = b.Put(ctx, "a/b", []byte("kept"), 0)
	require.NoError(t, err)
	require.NoError(t, b.Close())

	leftovers := []string{filepath.Join(dir, ".tmp-123"), filepath.Join(dir, "a", ".tmp-456")}
	for _, p := range leftovers {
		require.NoError(t, os.WriteFile(p, []byte("half a record"), 0o600))
	}
	b, err = Open(dir)
	require.NoError(t, err)
	defer b.Close()
	for _, p := range leftovers {
		_, err := os.Stat(p)
		assert.ErrorIs(t, err, os.ErrNotExist, "Open left %s", p)
	}
	val, _, err := b.Get(ctx, "a/b")
	require.NoError(t, err)
	assert.Equal(t, "kept", string(val))
	keys, err := b.List(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"a/b"}, keys)
}

// TestOpenKeepsTempFilesWhileLocked: while another holder has the store's
// lock (a writer between creating its temporary file and renaming it),
// Open removes nothing.
func TestOpenKeepsTempFilesWhileLocked(t *testing.T) {
	dir := t.TempDir()
	holder, err := Open(dir)
	require.NoError(t, err)
	defer holder.Close()
	require.NoError(t, unix.Flock(holder.lockFD, unix.LOCK_EX))
	defer funlock(holder.lockFD)
	tmp := filepath.Join(dir, ".tmp-789")
	require.NoError(t, os.WriteFile(tmp, []byte("in progress"), 0o600))

	b, err := Open(dir)
	require.NoError(t, err)
	defer b.Close()
	_, err = os.Stat(tmp)
	assert.NoError(t, err, "Open removed a temporary file while the store's lock was held")
}
