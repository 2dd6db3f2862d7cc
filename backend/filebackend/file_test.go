package filebackend

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return open(t, t.TempDir()) })
}

// open opens a Backend in dir; the test closes it if it does not.
func open(t testing.TB, dir string, opts ...Option) *Backend {
	t.Helper()
	b, err := Open(dir, opts...)
	require.NoError(t, err, "Open(%q)", dir)
	return b
}

func closeOnCleanup(t testing.TB, b *Backend) {
	t.Cleanup(func() { _ = b.Close() })
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "store")
	b := open(t, dir)
	closeOnCleanup(t, b)
	fi, err := os.Stat(dir)
	require.NoError(t, err, "Stat(%q)", dir)
	assert.True(t, fi.IsDir(), "%s is a directory", dir)
	assert.Equal(t, dir, b.Dir(), "Dir()")

	// Opening again, and a second Backend on the same directory, work.
	b2 := open(t, dir)
	closeOnCleanup(t, b2)
}

func TestOpenRelativeDir(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	b := open(t, "store")
	closeOnCleanup(t, b)
	assert.Equal(t, filepath.Join(dir, "store"), b.Dir(), "Dir() for a relative path")
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err := Open(file)
	assert.ErrorContains(t, err, "not a directory", "Open(a file)")

	long := filepath.Join(t.TempDir(), strings.Repeat("d", 250), strings.Repeat("d", 250), strings.Repeat("d", 250), strings.Repeat("d", 250))
	_, err = Open(long)
	assert.ErrorContains(t, err, "leaves no room for keys", "Open(%d-byte path)", len(long))
}

// TestLongestDirectory opens a store in a directory with the longest
// accepted path and stores the keys with the longest encoded names in it.
func TestLongestDirectory(t *testing.T) {
	longest := maxPath - 2 - maxEncodedLen
	dir := t.TempDir()
	for len(dir) < longest {
		dir = filepath.Join(dir, strings.Repeat("d", min(200, longest-len(dir)-1)))
	}
	require.Len(t, dir, longest)
	_, err := Open(dir + "x")
	assert.ErrorContains(t, err, "leaves no room for keys", "Open(%d-byte path)", len(dir)+1)

	b := open(t, dir)
	closeOnCleanup(t, b)
	keys := append([]string{
		strings.Repeat("\x01", backend.MaxKeyLen),
		strings.Repeat("\x01/", backend.MaxKeyLen/2),
	}, backendtest.LongKeys...)
	for _, k := range keys {
		rev, err := b.Put(t.Context(), k, []byte("v"), 0)
		require.NoError(t, err, "Put(%.20q...) with a %d-byte name", k, len(encodeKey(k)))
		_, err = b.Put(t.Context(), k, []byte("w"), rev)
		require.NoError(t, err, "Put(%.20q...) update", k)
	}
	got, err := b.List(t.Context(), "")
	require.NoError(t, err, "List")
	assert.Len(t, got, len(keys), "List")
	for _, k := range keys {
		require.NoError(t, b.Delete(t.Context(), k, 0), "Delete(%.20q...)", k)
	}
}

// TestPermissions checks modes 0700 and 0600 under a umask that would
// otherwise take the owner's permissions away.
func TestPermissions(t *testing.T) {
	old := unix.Umask(0o277)
	t.Cleanup(func() { unix.Umask(old) })

	dir := filepath.Join(t.TempDir(), "store")
	b := open(t, dir)
	closeOnCleanup(t, b)
	for _, k := range []string{"top", "a/b/c/deep", "Upper/Case", strings.Repeat("L", 300) + "/x"} {
		_, err := b.Put(t.Context(), k, []byte("v"), 0)
		require.NoError(t, err, "Put(%q)", k)
	}
	rev, err := b.Put(t.Context(), "top", []byte("w"), mustRev(t, b, "top"))
	require.NoError(t, err, "Put(%q) update", "top")
	require.NoError(t, b.Delete(t.Context(), "top", rev), "Delete(%q)", "top")
	_, err = b.Put(t.Context(), "top", []byte("again"), 0)
	require.NoError(t, err, "Put(%q) re-create", "top")

	n := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		fi, err := d.Info()
		require.NoError(t, err)
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = fs.ModeDir | 0o700
		}
		assert.Equal(t, want, fi.Mode(), "mode of %s", path)
		n++
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, n, 8, "files and directories checked")
}

func mustRev(t *testing.T, b *Backend, key string) int64 {
	t.Helper()
	_, rev, err := b.Get(t.Context(), key)
	require.NoError(t, err, "Get(%q)", key)
	return rev
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir)
	closeOnCleanup(t, b)
	_, err := b.Put(t.Context(), "s/prod/API_KEY", []byte("v"), 0)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "s", "prod", "%41%50%49%5f%4b%45%59,v"))
	assert.NoError(t, err, "file of key %q", "s/prod/API_KEY")
	_, err = os.Stat(filepath.Join(dir, lockName))
	assert.NoError(t, err, "lock file")

	// Delete removes the directories it empties, but not the store's.
	require.NoError(t, b.Delete(t.Context(), "s/prod/API_KEY", 0))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{lockName}, names, "store directory after deleting the only key")
}

func TestTempFileLeftoverIgnored(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir)
	closeOnCleanup(t, b)
	ctx := t.Context()
	rev, err := b.Put(ctx, "a/k", []byte("committed"), 0)
	require.NoError(t, err)

	// A crash between writing and renaming leaves temporary files behind.
	for _, p := range []string{
		filepath.Join(dir, ".tmp-123"),
		filepath.Join(dir, "a", ".tmp-456"),
		filepath.Join(dir, "a", ".tmp-789,v"),
	} {
		require.NoError(t, os.WriteFile(p, []byte("partial garbage"), 0o600))
	}
	v, r, err := b.Get(ctx, "a/k")
	require.NoError(t, err, "Get(%q)", "a/k")
	assert.Equal(t, "committed", string(v), "Get(%q) value", "a/k")
	assert.Equal(t, rev, r, "Get(%q) rev", "a/k")
	keys, err := b.List(ctx, "")
	require.NoError(t, err, "List(%q)", "")
	assert.Equal(t, []string{"a/k"}, keys, "List(%q)", "")

	// Writes still work beside the leftovers.
	_, err = b.Put(ctx, "a/k", []byte("next"), rev)
	require.NoError(t, err, "Put(%q)", "a/k")
	require.NoError(t, b.Delete(ctx, "a/k", 0), "Delete(%q)", "a/k")
	keys, err = b.List(ctx, "")
	require.NoError(t, err, "List(%q)", "")
	assert.Empty(t, keys, "List(%q)", "")
}

func TestForeignFilesIgnored(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir)
	closeOnCleanup(t, b)
	_, err := b.Put(t.Context(), "k", []byte("v"), 0)
	require.NoError(t, err)
	for _, name := range []string{"README", "A,v", "%61,v", "x,v~", "notes.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "Sub"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Sub", "k,v"), []byte("x"), 0o600))
	keys, err := b.List(t.Context(), "")
	require.NoError(t, err)
	assert.Equal(t, []string{"k"}, keys, "List(%q) with foreign files in the store", "")
}

func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir)
	closeOnCleanup(t, b)
	ctx := t.Context()
	_, err := b.Put(ctx, "bad", []byte("s3cr3t-value"), 0)
	require.NoError(t, err)
	path := filepath.Join(dir, "bad,v")

	for _, content := range [][]byte{nil, []byte("AVF"), []byte("not a record, but s3cr3t-value")} {
		require.NoError(t, os.WriteFile(path, content, 0o600))

		_, _, err = b.Get(ctx, "bad")
		assert.ErrorIs(t, err, ErrCorrupt, "Get(%q) of a %d-byte file err = %v, want ErrCorrupt", "bad", len(content), err)
		assert.ErrorIs(t, err, backend.ErrCorrupt, "Get(%q): ErrCorrupt is backend.ErrCorrupt", "bad")
		assert.ErrorContains(t, err, path, "Get(%q) error names the file", "bad")
		assert.NotContains(t, err.Error(), "s3cr3t", "Get(%q) error shows file contents", "bad")

		_, err = b.Put(ctx, "bad", []byte("new"), 0)
		assert.ErrorIs(t, err, ErrCorrupt, "Put(%q, rev 0) over a corrupt file err = %v, want ErrCorrupt", "bad", err)
		_, err = b.Put(ctx, "bad", []byte("new"), 1)
		assert.ErrorIs(t, err, ErrCorrupt, "Put(%q, rev 1) over a corrupt file err = %v, want ErrCorrupt", "bad", err)
		err = b.Delete(ctx, "bad", 1)
		assert.ErrorIs(t, err, ErrCorrupt, "Delete(%q, rev 1) of a corrupt file err = %v, want ErrCorrupt", "bad", err)

		// List does not read values, so it still lists the key.
		keys, err := b.List(ctx, "")
		require.NoError(t, err, "List(%q)", "")
		assert.Equal(t, []string{"bad"}, keys, "List(%q)", "")

		_, err = b.GetMany(ctx, []string{"bad"})
		assert.ErrorIs(t, err, ErrCorrupt, "GetMany([bad]) err = %v, want ErrCorrupt", err)
	}

	// Delete with rev 0 removes a corrupt file, and the key can be reused.
	require.NoError(t, b.Delete(ctx, "bad", 0), "Delete(%q, 0) of a corrupt file", "bad")
	_, err = b.Put(ctx, "bad", []byte("fresh"), 0)
	require.NoError(t, err, "Put(%q, rev 0) after Delete", "bad")
}

// TestRevisionsSurviveClockGoingBack checks that revisions keep
// increasing, across Delete and re-create and across Backends, when the
// clock jumps back.
func TestRevisionsSurviveClockGoingBack(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setClock := func(t time.Time) { mu.Lock(); defer mu.Unlock(); now = t }
	ctx := t.Context()

	b := open(t, dir, WithClock(clock))
	r1, err := b.Put(ctx, "k", []byte("1"), 0)
	require.NoError(t, err)
	assert.Equal(t, now.UnixNano(), r1, "first revision is the clock")
	require.NoError(t, b.Delete(ctx, "k", r1))
	require.NoError(t, b.Close())

	setClock(now.Add(-time.Hour))
	b = open(t, dir, WithClock(clock))
	closeOnCleanup(t, b)
	r2, err := b.Put(ctx, "k", []byte("2"), 0)
	require.NoError(t, err)
	assert.Greater(t, r2, r1, "revision after Delete, clock set back")
	r3, err := b.Put(ctx, "other", []byte("3"), 0)
	require.NoError(t, err)
	assert.Greater(t, r3, r2, "revision of another key, clock set back")
	r4, err := b.Put(ctx, "k", []byte("4"), r2)
	require.NoError(t, err)
	assert.Greater(t, r4, r3, "revision of an update, clock set back")
	_, err = b.Put(ctx, "k", []byte("stale"), r1)
	assert.ErrorIs(t, err, backend.ErrConflict, "Put(%q, pre-delete rev) err = %v, want ErrConflict", "k", err)
}

// TestRevisionsDespiteBadLockFile checks that a damaged lock file does not
// stop writes.
func TestRevisionsDespiteBadLockFile(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir)
	closeOnCleanup(t, b)
	require.NoError(t, os.WriteFile(filepath.Join(dir, lockName), []byte("garbage"), 0o600))
	r1, err := b.Put(t.Context(), "k", []byte("v"), 0)
	require.NoError(t, err, "Put with a damaged lock file")
	r2, err := b.Put(t.Context(), "k", []byte("w"), r1)
	require.NoError(t, err, "Put with a repaired lock file")
	assert.Greater(t, r2, r1)
	assert.Equal(t, r2, readHighRev(b.lock), "highest revision recorded")
}

func TestCloseWaitsForWriters(t *testing.T) {
	b := open(t, t.TempDir())
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := 0; ; j++ {
				_, err := b.Put(ctx, "k", []byte("v"), 0)
				if errors.Is(err, backend.ErrClosed) {
					return
				}
				if err == nil {
					_ = b.Delete(ctx, "k", 0)
				} else if !errors.Is(err, backend.ErrConflict) {
					t.Errorf("goroutine %d: Put: %v", i, err)
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, b.Close())
	wg.Wait()
}

func BenchmarkGet(b *testing.B) {
	be := open(b, b.TempDir())
	closeOnCleanup(b, be)
	value := make([]byte, 1024)
	_, err := be.Put(b.Context(), "s/production/openai/api-key", value, 0)
	require.NoError(b, err)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := be.Get(b.Context(), "s/production/openai/api-key"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPut(b *testing.B) {
	be := open(b, b.TempDir())
	closeOnCleanup(b, be)
	value := make([]byte, 1024)
	rev, err := be.Put(b.Context(), "s/production/openai/api-key", value, 0)
	require.NoError(b, err)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if rev, err = be.Put(b.Context(), "s/production/openai/api-key", value, rev); err != nil {
			b.Fatal(err)
		}
	}
}
