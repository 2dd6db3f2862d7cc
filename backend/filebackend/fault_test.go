package filebackend

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
)

// faultAt makes the nth call of one step of the seam (sys) fail with err
// and counts that step's calls. "short write" writes half the bytes, then
// fails. It returns the count and the function restoring the seam (also
// called when the test ends).
func faultAt(t *testing.T, step string, nth int, err error) (*int, func()) {
	orig := sys
	restore := func() { sys = orig }
	t.Cleanup(restore)
	calls := new(int)
	fail := func() bool { *calls++; return *calls == nth }
	switch step {
	case "create temp":
		sys.createTemp = func(dir, pattern string) (*os.File, error) {
			if fail() {
				return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
			}
			return orig.createTemp(dir, pattern)
		}
	case "write", "short write":
		sys.write = func(f *os.File, b []byte) (int, error) {
			if fail() {
				n := 0
				if step == "short write" {
					n, _ = orig.write(f, b[:len(b)/2])
				}
				return n, &fs.PathError{Op: "write", Path: f.Name(), Err: err}
			}
			return orig.write(f, b)
		}
	case "fsync", "fsync dir":
		sys.sync = func(f *os.File) error {
			if fail() {
				return &fs.PathError{Op: "sync", Path: f.Name(), Err: err}
			}
			return orig.sync(f)
		}
	case "close":
		sys.close = func(f *os.File) error {
			cerr := orig.close(f)
			if fail() {
				return &fs.PathError{Op: "close", Path: f.Name(), Err: err}
			}
			return cerr
		}
	case "rename":
		sys.rename = func(from, to string) error {
			if fail() {
				return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
			}
			return orig.rename(from, to)
		}
	case "remove":
		sys.remove = func(path string) error {
			if fail() {
				return &fs.PathError{Op: "remove", Path: path, Err: err}
			}
			return orig.remove(path)
		}
	default:
		t.Fatalf("unknown step %q", step)
	}
	return calls, restore
}

func leftoverTemps(t *testing.T, dir string) []string {
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			out = append(out, p)
		}
		return err
	}))
	return out
}

// TestPutFaultAtEveryStep fails each file-system step of a Put in turn
// (ENOSPC, EIO, a short write): the Put returns an error wrapping the
// cause; before the rename the old value stays, after it (the directory
// fsync) the new one is whole; no temporary file is left; a failed fsync
// is not retried; and the next Put succeeds.
func TestPutFaultAtEveryStep(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		step    string
		nth     int
		err     error
		landed  bool // the new value is in place although the Put failed
		syncsAt int  // the step's calls when the Put returns (fsync: exactly once, never retried)
	}{
		{"create temp", 1, syscall.ENOSPC, false, 1},
		{"write", 1, syscall.ENOSPC, false, 1},
		{"short write", 2, syscall.ENOSPC, false, 2},
		{"write", 2, syscall.EIO, false, 2},
		{"fsync", 1, syscall.EIO, false, 1},
		{"close", 1, syscall.EIO, false, 1},
		{"rename", 1, syscall.EIO, false, 1},
		{"fsync dir", 2, syscall.EIO, true, 2},
	}
	for _, c := range cases {
		t.Run(c.step+" "+c.err.Error(), func(t *testing.T) {
			dir := t.TempDir()
			b, err := Open(dir)
			require.NoError(t, err)
			defer b.Close()
			rev, err := b.Put(ctx, "a/b", []byte("old value"), 0)
			require.NoError(t, err)

			calls, restore := faultAt(t, c.step, c.nth, c.err)
			_, err = b.Put(ctx, "a/b", []byte("new value, longer than the old"), rev)
			require.Error(t, err, "Put with %s failing", c.step)
			assert.ErrorIs(t, err, c.err)
			assert.Contains(t, err.Error(), `filebackend: put "a/b"`)
			assert.Equal(t, c.syncsAt, *calls, "calls of %s: a failed step is not retried", c.step)
			restore()

			val, cur, err := b.Get(ctx, "a/b")
			require.NoError(t, err, "Get after a failed Put: nothing half-written")
			if c.landed {
				assert.Equal(t, "new value, longer than the old", string(val))
			} else {
				assert.Equal(t, "old value", string(val))
				assert.Equal(t, rev, cur)
			}
			assert.Empty(t, leftoverTemps(t, dir), "temporary files after a failed Put")
			_, err = b.Put(ctx, "a/b", []byte("next"), cur)
			require.NoError(t, err, "the next Put")
			val, _, err = b.Get(ctx, "a/b")
			require.NoError(t, err)
			assert.Equal(t, "next", string(val))
		})
	}
}

// TestDeleteFaults: a Delete whose remove fails keeps the key; one whose
// directory fsync fails has removed it; both report the cause.
func TestDeleteFaults(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		step   string
		nth    int
		landed bool
	}{{"remove", 1, false}, {"fsync dir", 1, true}} {
		t.Run(c.step, func(t *testing.T) {
			b, err := Open(t.TempDir())
			require.NoError(t, err)
			defer b.Close()
			rev, err := b.Put(ctx, "a/b", []byte("v"), 0)
			require.NoError(t, err)
			_, restore := faultAt(t, c.step, c.nth, syscall.EIO)
			err = b.Delete(ctx, "a/b", rev)
			assert.ErrorIs(t, err, syscall.EIO)
			restore()
			_, _, err = b.Get(ctx, "a/b")
			if c.landed {
				assert.ErrorIs(t, err, backend.ErrNotFound, "Get after the Delete landed")
			} else {
				require.NoError(t, err, "Get after a failed remove")
			}
		})
	}
}
