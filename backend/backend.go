// Package backend defines the storage interface that agentvault persists
// through, and the errors every implementation returns.
//
// Users of agentvault never call a Backend directly: they pass one to
// agentvault.New. Implementers provide the four methods below and run the
// conformance suite in package backendtest:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t) })
//	}
//
// A Backend stores opaque byte values under string keys. It knows nothing of
// secrets, versions, tokens or audit: all of that lives once, above it, in
// package agentvault. Values handed to a Backend are already encrypted and
// authenticated; a Backend is not trusted for confidentiality or integrity,
// only for durability and for the atomicity of a conditional Put.
//
// # Revisions
//
// Every stored value carries a revision: an int64 greater than zero that
// increases on every successful Put. Put takes the revision the caller last
// saw; 0 means "create only". A mismatch writes nothing and returns
// ErrConflict. An implementation must not hand out the same revision to a key
// twice, even across Delete and re-create (so a writer holding a revision from
// before a Delete can never overwrite the new value): a global counter, or
// max(old+1, wall-clock nanoseconds), both do.
//
// # Keys
//
// Keys are non-empty UTF-8 strings of at most MaxKeyLen bytes, without NUL. agentvault uses
// '/'-separated keys such as "s/production/openai/api-key"; implementations
// must treat them as opaque (case-sensitive, any byte but NUL) and list them
// in byte order.
//
// # Optional capabilities
//
// Extra capabilities are separate interfaces found by type assertion (see
// Batcher, BatchWriter and SharedGetter), never extra methods on Backend.
package backend

import (
	"context"
	"errors"
	"strings"
)

// MaxKeyLen is the longest key, in bytes, every Backend must accept.
const MaxKeyLen = 1024

// Errors returned by every Backend. Implementations wrap them with %w and
// callers test them with errors.Is.
var (
	// ErrNotFound is returned by Get and Delete when the key does not exist.
	ErrNotFound = errors.New("backend: key not found")

	// ErrConflict is returned by Put and Delete when the key's current
	// revision is not the expected one (including Put with revision 0 on a key
	// that exists). Nothing is written.
	ErrConflict = errors.New("backend: revision conflict")

	// ErrInvalidKey is returned when a key is empty, longer than MaxKeyLen,
	// not valid UTF-8, or contains NUL.
	ErrInvalidKey = errors.New("backend: invalid key")

	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("backend: closed")

	// ErrCorrupt is returned (wrapped) by Get, GetMany, Put and Delete
	// when what is stored for a key cannot be parsed by the backend itself:
	// a truncated or damaged file, a malformed Redis entry. Implementations
	// wrap it (or an error whose Is reports it) for every such failure, so
	// that agentvault reports damaged storage as agentvault.ErrIntegrity,
	// like any other tampering.
	ErrCorrupt = errors.New("backend: stored data is corrupt")
)

// Backend is durable key-value storage with conditional writes.
//
// Every method returns an error wrapping ctx.Err() if ctx is done before it
// acts. Implementations must be safe for concurrent use by multiple goroutines.
// File and Redis implementations must also be safe for concurrent use by
// multiple processes sharing the same store.
type Backend interface {
	// Get returns the value stored at key and its revision, or ErrNotFound.
	// The returned slice belongs to the caller.
	Get(ctx context.Context, key string) (value []byte, rev int64, err error)

	// Put stores value at key if the key's current revision equals
	// expectedRev (0: only if the key does not exist) and returns the new
	// revision. On mismatch it writes nothing and returns ErrConflict. A Put
	// that returns nil is durable; one that returns an error either wrote
	// nothing or, for errors other than ErrConflict, may have written the
	// whole value (never part of it).
	Put(ctx context.Context, key string, value []byte, expectedRev int64) (rev int64, err error)

	// Delete removes key if its current revision equals expectedRev, or
	// whatever its revision when expectedRev is 0. It returns ErrNotFound when
	// the key does not exist and ErrConflict on a revision mismatch.
	Delete(ctx context.Context, key string, expectedRev int64) error

	// List returns the keys that start with prefix (every key for ""), in
	// ascending byte order. Values are not read.
	List(ctx context.Context, prefix string) ([]string, error)

	// Close releases resources the Backend created. It does not close
	// clients the caller passed in.
	Close() error
}

// Item is one key's value and revision, as returned by Batcher.GetMany.
type Item struct {
	Key   string
	Value []byte // nil when the key does not exist; non-nil, maybe empty, when it does
	Rev   int64  // 0 when the key does not exist
}

// Batcher is an optional capability: a Backend that can read many keys in
// fewer round trips than one Get each. agentvault uses it for listings.
type Batcher interface {
	// GetMany returns one Item per key, in the order given. A missing key is
	// not an error: its Item has a nil Value and Rev 0.
	GetMany(ctx context.Context, keys []string) ([]Item, error)
}

// Write is one conditional Put of a batch (see BatchWriter).
type Write struct {
	Key         string
	Value       []byte
	ExpectedRev int64 // as Put's expectedRev: 0 creates only
}

// WriteResult is the outcome of one Write: its new revision, or the error
// Put would have returned (ErrConflict when its revision did not match).
type WriteResult struct {
	Rev int64
	Err error
}

// BatchWriter is an optional capability: a Backend that can apply many
// conditional Puts in fewer round trips, and fewer syncs, than one Put
// each. agentvault uses it for imports.
type BatchWriter interface {
	// PutMany applies each Write as Put would and returns one WriteResult
	// per Write, in order. The writes are independent: one that fails its
	// revision check (or any other check) is reported in its WriteResult
	// and does not stop the others, and the batch is not atomic. When
	// PutMany returns a nil error, every Write whose Err is nil is
	// durable. A non-nil error means the batch as a whole failed (a closed
	// backend, a cancelled ctx, a lost connection): any subset of the
	// writes, each whole or not at all, may then have been applied. Keys
	// of one batch must be distinct.
	PutMany(ctx context.Context, writes []Write) ([]WriteResult, error)
}

// SharedGetter is an optional capability: a Backend that can return a
// stored value without copying it. agentvault uses it on its read path
// when the Backend offers it.
type SharedGetter interface {
	// GetShared is Get, except that the returned slice may be shared with
	// the Backend and with other callers: the caller must not modify it,
	// and the Backend never modifies it either (a later Put stores a new
	// slice). Two calls that return the same revision of a key may return
	// the same slice.
	GetShared(ctx context.Context, key string) (value []byte, rev int64, err error)
}

// ValidateKey reports whether key is acceptable to every Backend, returning
// an error wrapping ErrInvalidKey if not. Implementations call it first in
// every method that takes a key.
func ValidateKey(key string) error {
	if key == "" {
		return errInvalidKey("empty key")
	}
	if len(key) > MaxKeyLen {
		return errInvalidKey("key longer than 1024 bytes")
	}
	if strings.IndexByte(key, 0) >= 0 {
		return errInvalidKey("key contains NUL")
	}
	if !utf8Valid(key) {
		return errInvalidKey("key is not valid UTF-8")
	}
	return nil
}
