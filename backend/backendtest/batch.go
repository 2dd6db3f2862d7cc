package backendtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
)

func batchCases() []testCase {
	return []testCase{
		{"GetMany", testGetMany},
		{"GetManyEmpty", testGetManyEmpty},
		{"GetManyReturnsCopies", testGetManyReturnsCopies},
	}
}

func batcher(t *testing.T, b backend.Backend) backend.Batcher {
	t.Helper()
	bb, ok := b.(backend.Batcher)
	if !ok {
		t.Skipf("%T does not implement backend.Batcher", b)
	}
	return bb
}

func testGetMany(t *testing.T, b backend.Backend) {
	bb := batcher(t, b)
	r1 := mustPut(t, b, "a", []byte("va"), 0)
	r2 := mustPut(t, b, "b/c", []byte("vbc"), 0)
	r3 := mustPut(t, b, "empty", nil, 0)

	keys := []string{"b/c", "missing", "a", "empty", "b", "a"}
	items, err := bb.GetMany(t.Context(), keys)
	require.NoError(t, err, "GetMany(%q)", keys)
	require.Len(t, items, len(keys), "GetMany(%q) items", keys)
	want := []backend.Item{
		{Key: "b/c", Value: []byte("vbc"), Rev: r2},
		{Key: "missing"},
		{Key: "a", Value: []byte("va"), Rev: r1},
		{Key: "empty", Value: []byte{}, Rev: r3},
		{Key: "b"},
		{Key: "a", Value: []byte("va"), Rev: r1},
	}
	for i, w := range want {
		got := items[i]
		assert.Equal(t, w.Key, got.Key, "GetMany(%q)[%d].Key", keys, i)
		assert.Equal(t, w.Rev, got.Rev, "GetMany(%q)[%d].Rev (key %q)", keys, i, w.Key)
		if w.Rev == 0 {
			assert.Nil(t, got.Value, "GetMany(%q)[%d].Value for missing key %q", keys, i, w.Key)
		} else {
			assert.NotNil(t, got.Value, "GetMany(%q)[%d].Value for existing key %q", keys, i, w.Key)
			assert.Equal(t, string(w.Value), string(got.Value), "GetMany(%q)[%d].Value (key %q)", keys, i, w.Key)
		}
	}
}

func testGetManyEmpty(t *testing.T, b backend.Backend) {
	bb := batcher(t, b)
	for _, keys := range [][]string{nil, {}} {
		items, err := bb.GetMany(t.Context(), keys)
		assert.NoError(t, err, "GetMany(%q)", keys)
		assert.Empty(t, items, "GetMany(%q)", keys)
	}
	items, err := bb.GetMany(t.Context(), []string{"x", "y"})
	require.NoError(t, err, "GetMany([x y]) on an empty store")
	assert.Equal(t, []backend.Item{{Key: "x"}, {Key: "y"}}, items, "GetMany([x y]) on an empty store")
}

func testGetManyReturnsCopies(t *testing.T, b backend.Backend) {
	bb := batcher(t, b)
	rev := mustPut(t, b, "k", []byte("original"), 0)
	items, err := bb.GetMany(t.Context(), []string{"k", "k"})
	require.NoError(t, err, "GetMany([k k])")
	require.Len(t, items, 2, "GetMany([k k])")
	for i := range items[0].Value {
		items[0].Value[i] = 'X'
	}
	assert.Equal(t, "original", string(items[1].Value), "GetMany([k k])[1].Value after changing [0].Value")
	assertStored(t, b, "k", []byte("original"), rev)
}
