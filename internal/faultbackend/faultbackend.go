// Package faultbackend wraps a backend.Backend and makes chosen calls fail,
// for tests of what agentvault does when storage fails: a full disk
// (ENOSPC), an I/O error (EIO), a timeout, or a write that landed but
// reported an error (an ambiguous write: the reply lost, the fsync of the
// directory failed after the rename).
//
// A Backend is safe for concurrent use. Its zero value is not usable: call
// New.
package faultbackend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"

	"github.com/agentvault/agentvault/backend"
)

// Injected errors. Each wraps the errno or context error it imitates, so
// errors.Is(err, syscall.ENOSPC) holds.
var (
	ErrNoSpace = fmt.Errorf("faultbackend: injected: %w", syscall.ENOSPC)
	ErrIO      = fmt.Errorf("faultbackend: injected: %w", syscall.EIO)
	ErrTimeout = fmt.Errorf("faultbackend: injected: %w", context.DeadlineExceeded)
)

// Op names a Backend method.
type Op string

// The methods faults can be injected into.
const (
	OpGet     Op = "get"
	OpGetMany Op = "getmany"
	OpPut     Op = "put"
	OpDelete  Op = "delete"
	OpList    Op = "list"
)

// Fault describes which calls fail and how.
type Fault struct {
	Ops       []Op   // the methods it applies to; empty: Put and Delete (the writes)
	KeyPrefix string // only calls on keys (or List prefixes) starting with this; "": all
	Nth       int    // fail only the Nth matching call, counted from 1 after Inject; 0: every matching call
	Err       error  // the error returned
	// After performs the call on the wrapped Backend first and then
	// returns Err anyway (only for Put and Delete): the write landed but
	// the caller is told it failed.
	After bool
}

// Backend is a backend.Backend that injects faults into the one it wraps.
type Backend struct {
	inner backend.Backend
	mu    sync.Mutex
	fault *Fault
	seen  int        // matching calls since Inject
	calls map[Op]int // every call, by method
	fired int
	key   string // the key of the last call a fault failed
	op    Op     // the method of the last call a fault failed
}

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.Batcher = (*Backend)(nil)
)

// New wraps inner. Until Inject, every call passes through.
func New(inner backend.Backend) *Backend {
	return &Backend{inner: inner, calls: map[Op]int{}}
}

// Inject replaces the active fault with f (nil: none).
func (b *Backend) Inject(f *Fault) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fault, b.seen, b.fired = f, 0, 0
}

// Fired reports how many calls the active fault has failed.
func (b *Backend) Fired() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fired
}

// FiredKey returns the key (or List prefix) of the last call a fault
// failed.
func (b *Backend) FiredKey() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.key
}

// FiredOp returns the method of the last call a fault failed.
func (b *Backend) FiredOp() Op {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.op
}

// Calls reports how many calls of op the Backend has received.
func (b *Backend) Calls(op Op) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[op]
}

// decide counts a call and returns the fault to apply, if any.
func (b *Backend) decide(op Op, key string) *Fault {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls[op]++
	f := b.fault
	if f == nil || !strings.HasPrefix(key, f.KeyPrefix) {
		return nil
	}
	ops := f.Ops
	if len(ops) == 0 {
		ops = []Op{OpPut, OpDelete}
	}
	match := false
	for _, o := range ops {
		match = match || o == op
	}
	if !match {
		return nil
	}
	b.seen++
	if f.Nth != 0 && b.seen != f.Nth {
		return nil
	}
	b.fired++
	b.key, b.op = key, op
	return f
}

// Get returns the active fault's error for a matching call, else the wrapped Get's result.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, int64, error) {
	if f := b.decide(OpGet, key); f != nil {
		return nil, 0, f.Err
	}
	return b.inner.Get(ctx, key)
}

// Put fails a matching call with the fault's error, before or (After) after
// the wrapped Put; other calls pass through.
func (b *Backend) Put(ctx context.Context, key string, value []byte, expectedRev int64) (int64, error) {
	if f := b.decide(OpPut, key); f != nil {
		if !f.After {
			return 0, f.Err
		}
		if _, err := b.inner.Put(ctx, key, value, expectedRev); err != nil {
			return 0, err
		}
		return 0, f.Err
	}
	return b.inner.Put(ctx, key, value, expectedRev)
}

// Delete fails a matching call like Put.
func (b *Backend) Delete(ctx context.Context, key string, expectedRev int64) error {
	if f := b.decide(OpDelete, key); f != nil {
		if !f.After {
			return f.Err
		}
		if err := b.inner.Delete(ctx, key, expectedRev); err != nil {
			return err
		}
		return f.Err
	}
	return b.inner.Delete(ctx, key, expectedRev)
}

// List returns the active fault's error for a matching call, else the wrapped List's result.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	if f := b.decide(OpList, prefix); f != nil {
		return nil, f.Err
	}
	return b.inner.List(ctx, prefix)
}

// GetMany uses the wrapped Backend's GetMany if it has one, else Get per
// key. A fault on OpGetMany matches when the first key has the fault's
// prefix.
func (b *Backend) GetMany(ctx context.Context, keys []string) ([]backend.Item, error) {
	first := ""
	if len(keys) > 0 {
		first = keys[0]
	}
	if f := b.decide(OpGetMany, first); f != nil {
		return nil, f.Err
	}
	if bb, ok := b.inner.(backend.Batcher); ok {
		return bb.GetMany(ctx, keys)
	}
	out := make([]backend.Item, len(keys))
	for i, k := range keys {
		val, rev, err := b.inner.Get(ctx, k)
		switch {
		case err == nil:
			out[i] = backend.Item{Key: k, Value: val, Rev: rev}
		case isNotFound(err):
			out[i] = backend.Item{Key: k}
		default:
			return nil, err
		}
	}
	return out, nil
}

// Close closes the wrapped Backend.
func (b *Backend) Close() error { return b.inner.Close() }

func isNotFound(err error) bool { return errors.Is(err, backend.ErrNotFound) }
