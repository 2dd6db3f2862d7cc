package backendtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
	"github.com/agentvault/agentvault/backend/membackend"
)

func TestIncrement(t *testing.T) {
	ctx := t.Context()
	b := membackend.New()
	n, err := backendtest.ReadCounter(ctx, b, "c")
	require.NoError(t, err, "ReadCounter(missing)")
	assert.Zero(t, n, "ReadCounter(missing)")
	for want := int64(1); want <= 3; want++ {
		n, err := backendtest.Increment(ctx, b, "c")
		require.NoError(t, err, "Increment")
		assert.Equal(t, want, n, "Increment")
	}
	n, err = backendtest.ReadCounter(ctx, b, "c")
	require.NoError(t, err, "ReadCounter")
	assert.Equal(t, int64(3), n, "ReadCounter")

	_, err = b.Put(ctx, "bad", []byte("x"), 0)
	require.NoError(t, err)
	_, err = backendtest.Increment(ctx, b, "bad")
	assert.ErrorContains(t, err, "counter", "Increment(non-number)")
	_, err = backendtest.ReadCounter(ctx, b, "bad")
	assert.ErrorContains(t, err, "counter", "ReadCounter(non-number)")
}

func TestAppend(t *testing.T) {
	ctx := t.Context()
	b := membackend.New()
	items, err := backendtest.ReadList(ctx, b, "l")
	require.NoError(t, err, "ReadList(missing)")
	assert.Nil(t, items, "ReadList(missing)")
	for _, item := range []string{"g0-0", "g1-0", "g0-1", ""} {
		require.NoError(t, backendtest.Append(ctx, b, "l", item), "Append(%q)", item)
	}
	items, err = backendtest.ReadList(ctx, b, "l")
	require.NoError(t, err, "ReadList")
	assert.Equal(t, []string{"g0-0", "g1-0", "g0-1", ""}, items, "ReadList")
	assert.Error(t, backendtest.Append(ctx, b, "l", "a\nb"), "Append(item with newline)")
}

func TestUpdateStops(t *testing.T) {
	b := membackend.New()
	boom := errors.New("boom")
	err := backendtest.Update(t.Context(), b, "k", func([]byte, bool) ([]byte, error) { return nil, boom })
	assert.ErrorIs(t, err, boom, "Update with a failing modify")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = backendtest.Update(ctx, b, "k", func([]byte, bool) ([]byte, error) { return []byte("v"), nil })
	assert.ErrorIs(t, err, context.Canceled, "Update with a canceled context")

	err = backendtest.Update(t.Context(), b, "", func([]byte, bool) ([]byte, error) { return []byte("v"), nil })
	assert.ErrorIs(t, err, backend.ErrInvalidKey, "Update of an invalid key")
}
