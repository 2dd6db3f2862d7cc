package agentvault

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentvault/agentvault/backend"
)

// storage is the vault's view of its Backend: every call's error that
// wraps backend.ErrCorrupt (stored bytes the backend itself cannot parse:
// a truncated file, a malformed Redis entry) also wraps ErrIntegrity, so
// damaged storage is reported like any other tampering, whatever record
// (secret, configuration, token, approval, agent, audit entry) it hit.
// The backend's detail stays wrapped.
type storage struct {
	b backend.Backend
}

var (
	_ backend.Backend      = storage{}
	_ backend.Batcher      = storage{}
	_ backend.SharedGetter = storage{}
	_ backend.BatchWriter  = storage{}
)

func integrityErr(err error) error {
	if err != nil && errors.Is(err, backend.ErrCorrupt) && !errors.Is(err, ErrIntegrity) {
		return fmt.Errorf("%w: %w", ErrIntegrity, err)
	}
	return err
}

func (s storage) Get(ctx context.Context, key string) ([]byte, int64, error) {
	v, rev, err := s.b.Get(ctx, key)
	return v, rev, integrityErr(err)
}

// GetShared reads without a copy when the backend can (the slice must not
// be modified), else like Get.
func (s storage) GetShared(ctx context.Context, key string) ([]byte, int64, error) {
	if sg, ok := s.b.(backend.SharedGetter); ok {
		v, rev, err := sg.GetShared(ctx, key)
		return v, rev, integrityErr(err)
	}
	return s.Get(ctx, key)
}

func (s storage) Put(ctx context.Context, key string, value []byte, expectedRev int64) (int64, error) {
	rev, err := s.b.Put(ctx, key, value, expectedRev)
	return rev, integrityErr(err)
}

func (s storage) Delete(ctx context.Context, key string, expectedRev int64) error {
	return integrityErr(s.b.Delete(ctx, key, expectedRev))
}

func (s storage) List(ctx context.Context, prefix string) ([]string, error) {
	keys, err := s.b.List(ctx, prefix)
	return keys, integrityErr(err)
}

func (s storage) Close() error { return s.b.Close() }

// GetMany reads keys in one batch when the backend can, else one Get each.
func (s storage) GetMany(ctx context.Context, keys []string) ([]backend.Item, error) {
	if bb, ok := s.b.(backend.Batcher); ok {
		items, err := bb.GetMany(ctx, keys)
		return items, integrityErr(err)
	}
	items := make([]backend.Item, len(keys))
	for i, k := range keys {
		val, rev, err := s.b.Get(ctx, k)
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			return nil, integrityErr(err)
		}
		items[i] = backend.Item{Key: k, Value: val, Rev: rev}
	}
	return items, nil
}

// PutMany writes in one batch when the backend can, else one Put each (a
// cancelled ctx fails the writes not yet made).
func (s storage) PutMany(ctx context.Context, writes []backend.Write) ([]backend.WriteResult, error) {
	if bw, ok := s.b.(backend.BatchWriter); ok {
		res, err := bw.PutMany(ctx, writes)
		for i := range res {
			res[i].Err = integrityErr(res[i].Err)
		}
		return res, integrityErr(err)
	}
	res := make([]backend.WriteResult, len(writes))
	for i, w := range writes {
		rev, err := s.b.Put(ctx, w.Key, w.Value, w.ExpectedRev)
		res[i] = backend.WriteResult{Rev: rev, Err: integrityErr(err)}
	}
	return res, nil
}
