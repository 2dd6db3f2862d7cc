package filebackend

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/agentvault/agentvault/backend"
)

var _ backend.BatchWriter = (*Backend)(nil)

// PutMany applies each write as Put would, under one hold of the store's
// lock: each value goes to a temporary file that is synced (one fsync per
// file) and renamed over its key's file, and each directory touched is
// synced once at the end (one directory fsync per directory per batch,
// instead of one per Put). A failure to sync a directory fails the writes
// into it (they may or may not survive a crash).
func (b *Backend) PutMany(ctx context.Context, writes []backend.Write) ([]backend.WriteResult, error) {
	seen := make(map[string]struct{}, len(writes))
	for _, w := range writes {
		if _, dup := seen[w.Key]; dup {
			return nil, fmt.Errorf("filebackend: put many: key %q twice in one batch: %w", w.Key, backend.ErrInvalidKey)
		}
		seen[w.Key] = struct{}{}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("filebackend: put many: %w", err)
	}
	out := make([]backend.WriteResult, len(writes))
	if len(writes) == 0 {
		return out, nil
	}
	unlock, err := b.acquire(ctx, "put many", writes[0].Key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	high := readHighRev(b.lock)
	dirs := map[string][]int{} // directory → the writes renamed into it
	var created []string       // directories made, outermost first per write
	for i, w := range writes {
		if err := b.check(ctx, "put", w.Key); err != nil {
			out[i].Err = err
			continue
		}
		rev, dir, made, err := b.putLocked(w, high)
		created = append(created, made...)
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Rev, high = rev, max(high, rev)
		dirs[dir] = append(dirs[dir], i)
	}
	for dir, idx := range dirs {
		if err := syncDir(dir); err != nil {
			for _, i := range idx {
				out[i] = backend.WriteResult{Err: fmt.Errorf("filebackend: put %q: sync %s: %w", writes[i].Key, dir, err)}
			}
		}
	}
	// A directory created is an entry in its parent (see writeAtomic).
	synced := map[string]bool{}
	for i := len(created) - 1; i >= 0; i-- {
		if p := filepath.Dir(created[i]); !synced[p] {
			synced[p] = true
			_ = syncDir(p)
		}
	}
	_ = writeHighRev(b.lock, high, false)
	return out, nil
}

// putLocked writes one value of a batch (the lock held), syncing its file
// but not its directory. It returns the new revision, the directory and
// the directories it created.
func (b *Backend) putLocked(w backend.Write, high int64) (int64, string, []string, error) {
	path := b.path(w.Key)
	cur, exists, err := readRev(path)
	if err != nil {
		return 0, "", nil, fmt.Errorf("filebackend: put %q: %s: %w", w.Key, path, err)
	}
	if cur != w.ExpectedRev {
		return 0, "", nil, conflict("put", w.Key, w.ExpectedRev, cur, exists)
	}
	if cur == math.MaxInt64 {
		return 0, "", nil, fmt.Errorf("filebackend: put %q: revisions exhausted", w.Key)
	}
	rev := max(cur+1, b.now())
	if high < math.MaxInt64 {
		rev = max(rev, high+1)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPattern)
	var made []string
	if errors.Is(err, fs.ErrNotExist) {
		if made, err = mkdirs(b.root, dir); err == nil {
			f, err = os.CreateTemp(dir, tmpPattern)
		}
	}
	if err != nil {
		return 0, "", made, fmt.Errorf("filebackend: put %q: %w", w.Key, err)
	}
	tmp := f.Name()
	if err := writeSyncClose(f, appendHeader(make([]byte, 0, headerSize), rev, w.Value), w.Value); err != nil {
		os.Remove(tmp)
		return 0, "", made, fmt.Errorf("filebackend: put %q: %w", w.Key, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, "", made, fmt.Errorf("filebackend: put %q: %w", w.Key, err)
	}
	return rev, dir, made, nil
}
