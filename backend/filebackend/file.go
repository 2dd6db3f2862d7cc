package filebackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/agentvault/agentvault/backend"
)

// Backend stores each key in its own file below a directory.
//
// A Backend is safe for concurrent use by multiple goroutines, and any
// number of Backends, in this process or in others, may share a directory:
// Put and Delete serialize on an exclusive lock on the directory's lock
// file, and Get and List read files that are only ever replaced atomically.
// The zero value is not usable; call Open.
type Backend struct {
	root string // absolute, clean store directory
	base string // root + "/", prepended to encoded names
	now  func() int64

	// sem is a one-slot semaphore held by Put, Delete and Close; unlike a
	// mutex, waiting for it respects the caller's context. It guards lock.
	sem    chan struct{}
	lock   *os.File // the lock file, open until Close
	lockFD int
	closed atomic.Bool
}

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.Batcher = (*Backend)(nil)
)

// maxPath is the longest path the kernel accepts, terminating NUL included.
const maxPath = 4096

// Open opens the store in dir, creating dir (mode 0700) and its lock file
// if they do not exist. dir is made absolute first, so a later change of
// working directory does not move the store. The absolute path of dir must
// leave room for the longest encoded key: it may be at most 988 bytes long.
func Open(dir string, opts ...Option) (*Backend, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if dir == "" {
		return nil, errors.New("filebackend: open: empty directory path")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("filebackend: open %s: %w", dir, err)
	}
	if len(root)+1+maxEncodedLen >= maxPath {
		return nil, fmt.Errorf("filebackend: open %s: directory path longer than %d bytes leaves no room for keys", root, maxPath-2-maxEncodedLen)
	}
	if err := ensureRoot(root); err != nil {
		return nil, fmt.Errorf("filebackend: open %s: %w", root, err)
	}
	lock, err := openLockFile(filepath.Join(root, lockName))
	if err != nil {
		return nil, fmt.Errorf("filebackend: open %s: lock file: %w", root, err)
	}
	sweepTemp(root, lock)
	base := root + "/"
	if root == "/" {
		base = root
	}
	return &Backend{
		root:   root,
		base:   base,
		now:    func() int64 { return o.now().UnixNano() },
		sem:    make(chan struct{}, 1),
		lock:   lock,
		lockFD: int(lock.Fd()),
	}, nil
}

// ensureRoot creates root and any missing parents, with mode 0700 and
// synced into their parents, and checks that root is a directory owned by
// the current user and writable by no one else.
func ensureRoot(root string) error {
	created, err := mkdirs("/", root)
	if err != nil {
		return err
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := syncDir(filepath.Dir(created[i])); err != nil {
			return err
		}
	}
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errors.New("not a directory")
	}
	return checkRoot(root, fi)
}

// Dir returns the absolute path of the store directory.
func (b *Backend) Dir() string { return b.root }

// path returns the absolute path of key's file.
func (b *Backend) path(key string) string { return b.base + encodeKey(key) }

// check validates key, ctx and the open state, in that order.
func (b *Backend) check(ctx context.Context, op, key string) error {
	if err := backend.ValidateKey(key); err != nil {
		return fmt.Errorf("filebackend: %s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filebackend: %s %q: %w", op, key, err)
	}
	if b.closed.Load() {
		return fmt.Errorf("filebackend: %s %q: %w", op, key, backend.ErrClosed)
	}
	return nil
}

// Get returns the value stored at key and its revision. It takes no lock.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, int64, error) {
	if err := b.check(ctx, "get", key); err != nil {
		return nil, 0, err
	}
	return b.get(key)
}

func (b *Backend) get(key string) ([]byte, int64, error) {
	path := b.path(key)
	data, err := readRecordFile(path)
	if err != nil {
		if notExist(err) {
			return nil, 0, fmt.Errorf("filebackend: get %q: %w", key, backend.ErrNotFound)
		}
		return nil, 0, fmt.Errorf("filebackend: get %q: %w", key, err)
	}
	value, rev, err := decodeRecord(data)
	if err != nil {
		return nil, 0, fmt.Errorf("filebackend: get %q: %s: %w", key, path, err)
	}
	return value, rev, nil
}

// Put stores value at key if the key's revision is expectedRev (0: if the
// key does not exist) and returns the new revision. The new revision is the
// largest of the key's current revision plus one, the store's highest
// recorded revision plus one, and the clock in Unix nanoseconds.
func (b *Backend) Put(ctx context.Context, key string, value []byte, expectedRev int64) (int64, error) {
	if err := b.check(ctx, "put", key); err != nil {
		return 0, err
	}
	path := b.path(key)
	// A mismatch seen without the lock is a valid answer: revisions only
	// move forward, so the Put would have failed at the time of the read.
	if cur, exists, err := readRev(path); err == nil && cur != expectedRev {
		return 0, conflict("put", key, expectedRev, cur, exists)
	}

	unlock, err := b.acquire(ctx, "put", key)
	if err != nil {
		return 0, err
	}
	defer unlock()
	cur, exists, err := readRev(path)
	if err != nil {
		return 0, fmt.Errorf("filebackend: put %q: %s: %w", key, path, err)
	}
	if cur != expectedRev {
		return 0, conflict("put", key, expectedRev, cur, exists)
	}
	if cur == math.MaxInt64 {
		return 0, fmt.Errorf("filebackend: put %q: revisions exhausted", key)
	}
	high := readHighRev(b.lock)
	rev := max(cur+1, b.now())
	if high < math.MaxInt64 {
		rev = max(rev, high+1)
	}
	header := appendHeader(make([]byte, 0, headerSize), rev, value)
	end := beginWrite(b.lock)
	err = writeAtomic(b.root, path, header, value)
	end()
	if err != nil {
		return 0, fmt.Errorf("filebackend: put %q: %w", key, err)
	}
	// Not synced: until the key is deleted its file holds rev durably, and
	// Delete syncs the record of the revision it removes.
	_ = writeHighRev(b.lock, max(rev, high), false)
	return rev, nil
}

// Delete removes key if its revision is expectedRev, or whatever its
// revision when expectedRev is 0, and then removes the key's directories
// that became empty. A file that is not a valid record (see ErrCorrupt) can
// be removed with expectedRev 0.
func (b *Backend) Delete(ctx context.Context, key string, expectedRev int64) error {
	if err := b.check(ctx, "delete", key); err != nil {
		return err
	}
	path := b.path(key)
	unlock, err := b.acquire(ctx, "delete", key)
	if err != nil {
		return err
	}
	defer unlock()
	cur, exists, err := readRev(path)
	switch {
	case !exists && err == nil:
		return fmt.Errorf("filebackend: delete %q: %w", key, backend.ErrNotFound)
	case err != nil && (expectedRev != 0 || !errors.Is(err, ErrCorrupt)):
		return fmt.Errorf("filebackend: delete %q: %s: %w", key, path, err)
	case err != nil:
		cur = b.now() // unknown revision of a corrupt file
	case expectedRev != 0 && cur != expectedRev:
		return conflict("delete", key, expectedRev, cur, exists)
	}
	// Durably record the revision before it disappears with the file, so
	// that it is never handed out again, even if the clock goes back. (Put
	// records revisions without syncing, so this syncs even when the
	// recorded value is already high enough.)
	if err := writeHighRev(b.lock, max(readHighRev(b.lock), cur), true); err != nil {
		return fmt.Errorf("filebackend: delete %q: %w", key, err)
	}
	if err := sys.remove(path); err != nil {
		return fmt.Errorf("filebackend: delete %q: %w", key, err)
	}
	dir := filepath.Dir(path)
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("filebackend: delete %q: %w", key, err)
	}
	removeEmptyDirs(b.root, dir)
	return nil
}

// List returns the keys starting with prefix, in ascending byte order. It
// decodes file names and reads no file. It takes no lock: a key created or
// deleted while List runs may or may not be listed, and every other key is.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("filebackend: list %q: %w", prefix, err)
	}
	if b.closed.Load() {
		return nil, fmt.Errorf("filebackend: list %q: %w", prefix, backend.ErrClosed)
	}
	if len(prefix) > backend.MaxKeyLen {
		return nil, nil
	}
	// Walk from the directory the prefix's complete segments name; its last
	// segment, possibly partial, prunes that directory's entries.
	segs := strings.Split(prefix, "/")
	start := b.root
	if len(segs) > 1 {
		start = b.base + encodeDir(segs[:len(segs)-1])
	}
	esc := string(escape(nil, segs[len(segs)-1]))

	var keys []string
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if notExist(err) {
				return nil // removed by a concurrent Delete, or never created
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if path == start {
			return nil
		}
		name := d.Name()
		if name[0] == '.' || (filepath.Dir(path) == start && !mayHold(name, esc)) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !strings.HasSuffix(name, leafSuffix) {
			return nil
		}
		if key, ok := decodeKey(path[len(b.base):]); ok && strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filebackend: list %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// GetMany returns one Item per key, in the order given, reading each
// key's file in turn (not at a single point in time). Missing keys get an
// Item with a nil Value and Rev 0.
func (b *Backend) GetMany(ctx context.Context, keys []string) ([]backend.Item, error) {
	for _, k := range keys {
		if err := backend.ValidateKey(k); err != nil {
			return nil, fmt.Errorf("filebackend: get many: %w", err)
		}
	}
	items := make([]backend.Item, len(keys))
	for i, k := range keys {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("filebackend: get many: %w", err)
		}
		if b.closed.Load() {
			return nil, fmt.Errorf("filebackend: get many: %w", backend.ErrClosed)
		}
		items[i].Key = k
		v, rev, err := b.get(k)
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		items[i].Value, items[i].Rev = v, rev
	}
	return items, nil
}

// Close waits for a Put or Delete in progress and closes the lock file.
// It leaves the directory as it is. Every later call, including Close,
// returns backend.ErrClosed.
func (b *Backend) Close() error {
	b.sem <- struct{}{}
	defer func() { <-b.sem }()
	if b.closed.Swap(true) {
		return fmt.Errorf("filebackend: close: %w", backend.ErrClosed)
	}
	if err := b.lock.Close(); err != nil {
		return fmt.Errorf("filebackend: close: %w", err)
	}
	return nil
}

// acquire takes the in-process semaphore and the cross-process lock,
// honouring ctx, and returns the function releasing both.
func (b *Backend) acquire(ctx context.Context, op, key string) (func(), error) {
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("filebackend: %s %q: %w", op, key, ctx.Err())
	}
	if b.closed.Load() {
		<-b.sem
		return nil, fmt.Errorf("filebackend: %s %q: %w", op, key, backend.ErrClosed)
	}
	if err := flock(ctx, b.lockFD); err != nil {
		<-b.sem
		return nil, fmt.Errorf("filebackend: %s %q: lock %s: %w", op, key, b.lock.Name(), err)
	}
	if err := ctx.Err(); err != nil {
		_ = funlock(b.lockFD)
		<-b.sem
		return nil, fmt.Errorf("filebackend: %s %q: %w", op, key, err)
	}
	return func() {
		// Closing the lock file would release the lock too; an error here
		// leaves the lock held until Close, which the next acquire reports.
		_ = funlock(b.lockFD)
		<-b.sem
	}, nil
}

// readRev returns the revision in the header of the file at path, and
// whether the file exists. A missing file is revision 0 and no error.
func readRev(path string) (rev int64, exists bool, err error) {
	f, size, err := openRecord(path)
	if err != nil {
		if notExist(err) {
			return 0, false, nil
		}
		return 0, true, err
	}
	defer f.Close()
	var h [headerSize]byte
	n, err := io.ReadFull(f, h[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, true, err
	}
	rev, err = parseHeader(h[:n], size)
	return rev, true, err
}

// notExist reports whether err means the file, or a directory on its
// path, does not exist.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func conflict(op, key string, expected, current int64, exists bool) error {
	if !exists {
		return fmt.Errorf("filebackend: %s %q: expected revision %d, key does not exist: %w", op, key, expected, backend.ErrConflict)
	}
	return fmt.Errorf("filebackend: %s %q: expected revision %d, current %d: %w", op, key, expected, current, backend.ErrConflict)
}
