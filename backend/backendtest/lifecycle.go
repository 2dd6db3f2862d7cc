package backendtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
)

func lifecycleCases() []testCase {
	return []testCase{
		{"ContextCanceled", testContextCanceled},
		{"Closed", testClosed},
	}
}

func testContextCanceled(t *testing.T, b backend.Backend) {
	rev := mustPut(t, b, "k", []byte("v"), 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, _, err := b.Get(ctx, "k")
	assert.ErrorIs(t, err, context.Canceled, "Get(%q) with canceled context err = %v, want context.Canceled", "k", err)
	_, err = b.Put(ctx, "k", []byte("w"), rev)
	assert.ErrorIs(t, err, context.Canceled, "Put(%q) with canceled context err = %v, want context.Canceled", "k", err)
	_, err = b.Put(ctx, "new", []byte("w"), 0)
	assert.ErrorIs(t, err, context.Canceled, "Put(%q) with canceled context err = %v, want context.Canceled", "new", err)
	err = b.Delete(ctx, "k", 0)
	assert.ErrorIs(t, err, context.Canceled, "Delete(%q) with canceled context err = %v, want context.Canceled", "k", err)
	_, err = b.List(ctx, "")
	assert.ErrorIs(t, err, context.Canceled, "List(%q) with canceled context err = %v, want context.Canceled", "", err)
	if bb, ok := b.(backend.Batcher); ok {
		_, err = bb.GetMany(ctx, []string{"k"})
		assert.ErrorIs(t, err, context.Canceled, "GetMany([k]) with canceled context err = %v, want context.Canceled", err)
	}

	// Nothing was written.
	assertStored(t, b, "k", []byte("v"), rev)
	assertMissing(t, b, "new")
}

func testClosed(t *testing.T, b backend.Backend) {
	ctx := t.Context()
	rev := mustPut(t, b, "k", []byte("v"), 0)
	require.NoError(t, b.Close(), "Close()")

	_, _, err := b.Get(ctx, "k")
	assert.ErrorIs(t, err, backend.ErrClosed, "Get(%q) after Close err = %v, want ErrClosed", "k", err)
	_, err = b.Put(ctx, "k", []byte("w"), rev)
	assert.ErrorIs(t, err, backend.ErrClosed, "Put(%q) after Close err = %v, want ErrClosed", "k", err)
	_, err = b.Put(ctx, "new", []byte("w"), 0)
	assert.ErrorIs(t, err, backend.ErrClosed, "Put(%q) after Close err = %v, want ErrClosed", "new", err)
	err = b.Delete(ctx, "k", 0)
	assert.ErrorIs(t, err, backend.ErrClosed, "Delete(%q) after Close err = %v, want ErrClosed", "k", err)
	_, err = b.List(ctx, "")
	assert.ErrorIs(t, err, backend.ErrClosed, "List(%q) after Close err = %v, want ErrClosed", "", err)
	if bb, ok := b.(backend.Batcher); ok {
		_, err = bb.GetMany(ctx, []string{"k"})
		assert.ErrorIs(t, err, backend.ErrClosed, "GetMany([k]) after Close err = %v, want ErrClosed", err)
	}
	err = b.Close()
	assert.ErrorIs(t, err, backend.ErrClosed, "second Close() err = %v, want ErrClosed", err)
}
