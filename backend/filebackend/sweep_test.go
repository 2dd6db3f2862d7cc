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
	// What a writer killed mid-write leaves: the lock file's mark, and
	// its temporary files.
	writeMark(b.lock, markWriting)
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

	// The mark is cleared: the next Open does not walk the store again.
	assert.Equal(t, byte(markIdle), readMark(b.lock), "the lock file's mark after the sweep")
}

// TestPutMarksWriteInProgress: the lock file's mark is set while a Put
// writes and cleared when it returns, also when it failed.
func TestPutMarksWriteInProgress(t *testing.T) {
	ctx := context.Background()
	b, err := Open(t.TempDir())
	require.NoError(t, err)
	defer b.Close()
	mark := func() byte { return readMark(b.lock) }
	var during byte
	orig := sys
	t.Cleanup(func() { sys = orig })
	sys.rename = func(from, to string) error {
		during = mark()
		return orig.rename(from, to)
	}
	_, err = b.Put(ctx, "k", []byte("v"), 0)
	require.NoError(t, err)
	assert.Equal(t, byte(1), during, "mark while writing")
	assert.Equal(t, byte(0), mark(), "mark after the Put")

	sys.rename = func(from, to string) error { return os.ErrPermission }
	_, err = b.Put(ctx, "k2", []byte("v"), 0)
	require.Error(t, err)
	assert.Equal(t, byte(0), mark(), "mark after a failed Put")
}

// TestLeftoverMarkSurvivesLaterWrites: when a writer died mid-write (the
// mark still says writing), the next Put does not clear it, so the next
// Open still sweeps the leftover.
func TestLeftoverMarkSurvivesLaterWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := Open(dir)
	require.NoError(t, err)
	writeMark(b.lock, markWriting) // a writer killed mid-write
	tmp := filepath.Join(dir, ".tmp-1")
	require.NoError(t, os.WriteFile(tmp, []byte("half"), 0o600))
	_, err = b.Put(ctx, "k", []byte("v"), 0)
	require.NoError(t, err)
	assert.Equal(t, byte(markDied), readMark(b.lock), "mark after a Put that found a dead writer's")
	require.NoError(t, b.Close())

	b, err = Open(dir)
	require.NoError(t, err)
	defer b.Close()
	_, err = os.Stat(tmp)
	assert.ErrorIs(t, err, os.ErrNotExist, "the leftover after Open")
	assert.Equal(t, byte(markIdle), readMark(b.lock))
}

// TestOpenKeepsTempFilesWhileLocked: while another holder has the store's
// lock (a writer between creating its temporary file and renaming it, with
// the mark set), Open removes nothing.
func TestOpenKeepsTempFilesWhileLocked(t *testing.T) {
	dir := t.TempDir()
	holder, err := Open(dir)
	require.NoError(t, err)
	defer holder.Close()
	require.NoError(t, unix.Flock(holder.lockFD, unix.LOCK_EX))
	defer funlock(holder.lockFD)
	writeMark(holder.lock, markWriting)
	tmp := filepath.Join(dir, ".tmp-789")
	require.NoError(t, os.WriteFile(tmp, []byte("in progress"), 0o600))

	b, err := Open(dir)
	require.NoError(t, err)
	defer b.Close()
	_, err = os.Stat(tmp)
	assert.NoError(t, err, "Open removed a temporary file while the store's lock was held")
}
