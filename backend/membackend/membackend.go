// Package membackend is an in-memory backend.Backend, for tests and for
// embedding agentvault where nothing needs to outlive the process.
//
// Call New, or use the zero value:
//
//	b := membackend.New()
//	v, err := agentvault.New(b, keys)
//
// Data lives in the process's memory only; Close discards it.
package membackend

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/agentvault/agentvault/backend"
)

// Backend stores values in a map guarded by a read-write mutex, and logs
// (backend.Appender) as records copied into append-only blocks, guarded by
// a mutex of their own (an append does not hold up reads of values). Revisions
// come from one counter shared by all keys, so they increase on every Put and
// are never handed out twice, even across Delete and re-create. Values are
// copied on the way in and, except by GetShared, on the way out; a stored
// value is never modified, so GetShared can hand it out as it is.
//
// A Backend is safe for concurrent use by multiple goroutines. It cannot be
// shared between processes. The zero value is an empty, open Backend ready
// to use; a Backend must not be copied after first use.
type Backend struct {
	mu      sync.RWMutex // guards entries and lastRev
	entries map[string]entry
	lastRev int64 // last revision handed out, for any key

	lmu  sync.Mutex         // guards logs
	logs map[string]*memLog // backend.Appender (appender.go)

	closed bool // set under both mu and lmu: either one guards reading it
}

type entry struct {
	value []byte
	rev   int64
}

var (
	_ backend.Backend      = (*Backend)(nil)
	_ backend.Batcher      = (*Backend)(nil)
	_ backend.SharedGetter = (*Backend)(nil)
	_ backend.BatchWriter  = (*Backend)(nil)
)

// New returns an empty Backend. It is equivalent to new(Backend).
func New() *Backend { return new(Backend) }

// Get returns a copy of the value stored at key and its revision.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, int64, error) {
	if err := check(ctx, "get", key); err != nil {
		return nil, 0, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, 0, fmt.Errorf("membackend: get %q: %w", key, backend.ErrClosed)
	}
	e, ok := b.entries[key]
	if !ok {
		return nil, 0, fmt.Errorf("membackend: get %q: %w", key, backend.ErrNotFound)
	}
	return clone(e.value), e.rev, nil
}

// GetShared returns the value stored at key, not a copy, and its
// revision: the caller must not modify it (see backend.SharedGetter).
func (b *Backend) GetShared(ctx context.Context, key string) ([]byte, int64, error) {
	if err := check(ctx, "get", key); err != nil {
		return nil, 0, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, 0, fmt.Errorf("membackend: get %q: %w", key, backend.ErrClosed)
	}
	e, ok := b.entries[key]
	if !ok {
		return nil, 0, fmt.Errorf("membackend: get %q: %w", key, backend.ErrNotFound)
	}
	return e.value, e.rev, nil
}

// Put stores a copy of value at key if the key's revision is expectedRev
// (0: if the key does not exist) and returns the new revision.
func (b *Backend) Put(ctx context.Context, key string, value []byte, expectedRev int64) (int64, error) {
	if err := check(ctx, "put", key); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, fmt.Errorf("membackend: put %q: %w", key, backend.ErrClosed)
	}
	e, ok := b.entries[key]
	if e.rev != expectedRev {
		return 0, conflict("put", key, expectedRev, e.rev, ok)
	}
	if b.entries == nil {
		b.entries = make(map[string]entry)
	}
	b.lastRev++
	b.entries[key] = entry{value: clone(value), rev: b.lastRev}
	return b.lastRev, nil
}

// PutMany applies each write as Put would, under one lock hold.
func (b *Backend) PutMany(ctx context.Context, writes []backend.Write) ([]backend.WriteResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("membackend: put many: %w", err)
	}
	if err := distinctKeys(writes); err != nil {
		return nil, fmt.Errorf("membackend: put many: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("membackend: put many: %w", backend.ErrClosed)
	}
	out := make([]backend.WriteResult, len(writes))
	for i, w := range writes {
		if err := backend.ValidateKey(w.Key); err != nil {
			out[i].Err = fmt.Errorf("membackend: put: %w", err)
			continue
		}
		e, ok := b.entries[w.Key]
		if e.rev != w.ExpectedRev {
			out[i].Err = conflict("put", w.Key, w.ExpectedRev, e.rev, ok)
			continue
		}
		if b.entries == nil {
			b.entries = make(map[string]entry)
		}
		b.lastRev++
		b.entries[w.Key] = entry{value: clone(w.Value), rev: b.lastRev}
		out[i].Rev = b.lastRev
	}
	return out, nil
}

func distinctKeys(writes []backend.Write) error {
	seen := make(map[string]struct{}, len(writes))
	for _, w := range writes {
		if _, dup := seen[w.Key]; dup {
			return fmt.Errorf("key %q twice in one batch: %w", w.Key, backend.ErrInvalidKey)
		}
		seen[w.Key] = struct{}{}
	}
	return nil
}

// Delete removes key if its revision is expectedRev, or whatever its
// revision when expectedRev is 0.
func (b *Backend) Delete(ctx context.Context, key string, expectedRev int64) error {
	if err := check(ctx, "delete", key); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("membackend: delete %q: %w", key, backend.ErrClosed)
	}
	e, ok := b.entries[key]
	if !ok {
		return fmt.Errorf("membackend: delete %q: %w", key, backend.ErrNotFound)
	}
	if expectedRev != 0 && e.rev != expectedRev {
		return conflict("delete", key, expectedRev, e.rev, ok)
	}
	delete(b.entries, key)
	return nil
}

// List returns the keys starting with prefix, in ascending byte order.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("membackend: list %q: %w", prefix, err)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, fmt.Errorf("membackend: list %q: %w", prefix, backend.ErrClosed)
	}
	var keys []string
	for k := range b.entries {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// GetMany returns one Item per key, in the order given, read at a single
// point in time. Missing keys get an Item with a nil Value and Rev 0.
func (b *Backend) GetMany(ctx context.Context, keys []string) ([]backend.Item, error) {
	for _, k := range keys {
		if err := backend.ValidateKey(k); err != nil {
			return nil, fmt.Errorf("membackend: get many: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("membackend: get many: %w", err)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, fmt.Errorf("membackend: get many: %w", backend.ErrClosed)
	}
	items := make([]backend.Item, len(keys))
	for i, k := range keys {
		items[i].Key = k
		if e, ok := b.entries[k]; ok {
			items[i].Value, items[i].Rev = clone(e.value), e.rev
		}
	}
	return items, nil
}

// Close discards the stored data. Every later call, including Close,
// returns backend.ErrClosed.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("membackend: close: %w", backend.ErrClosed)
	}
	b.lmu.Lock()
	b.closed = true
	b.entries = nil
	b.logs = nil
	b.lmu.Unlock()
	return nil
}

// check validates key and ctx, in that order.
func check(ctx context.Context, op, key string) error {
	if err := backend.ValidateKey(key); err != nil {
		return fmt.Errorf("membackend: %s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("membackend: %s %q: %w", op, key, err)
	}
	return nil
}

func conflict(op, key string, expected, current int64, exists bool) error {
	if !exists {
		return fmt.Errorf("membackend: %s %q: expected revision %d, key does not exist: %w", op, key, expected, backend.ErrConflict)
	}
	return fmt.Errorf("membackend: %s %q: expected revision %d, current %d: %w", op, key, expected, current, backend.ErrConflict)
}

// clone returns a copy of v that is never nil, so that an empty value is
// told apart from a missing one.
func clone(v []byte) []byte {
	return append(make([]byte, 0, len(v)), v...)
}
