package backendtest

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
)

func crudCases() []testCase {
	return []testCase{
		{"GetMissing", testGetMissing},
		{"PutCreate", testPutCreate},
		{"PutCreateExisting", testPutCreateExisting},
		{"PutMissingWithRevision", testPutMissingWithRevision},
		{"PutStaleRevision", testPutStaleRevision},
		{"PutNegativeRevision", testPutNegativeRevision},
		{"PutUpdate", testPutUpdate},
		{"RevisionsNeverRepeat", testRevisionsNeverRepeat},
		{"DeleteUnconditional", testDeleteUnconditional},
		{"DeleteConditional", testDeleteConditional},
		{"DeleteStaleRevision", testDeleteStaleRevision},
		{"DeleteMissing", testDeleteMissing},
		{"GetReturnsCopy", testGetReturnsCopy},
		{"PutCopiesValue", testPutCopiesValue},
		{"EmptyValue", testEmptyValue},
		{"LargeValue", testLargeValue},
	}
}

// mustPut stores value at key, failing the test on any error.
func mustPut(t *testing.T, b backend.Backend, key string, value []byte, expectedRev int64) int64 {
	t.Helper()
	rev, err := b.Put(t.Context(), key, value, expectedRev)
	require.NoError(t, err, "Put(%q, rev %d)", key, expectedRev)
	require.Greater(t, rev, int64(0), "Put(%q, rev %d) rev", key, expectedRev)
	return rev
}

// mustGet reads key, failing the test on any error.
func mustGet(t *testing.T, b backend.Backend, key string) ([]byte, int64) {
	t.Helper()
	v, rev, err := b.Get(t.Context(), key)
	require.NoError(t, err, "Get(%q)", key)
	return v, rev
}

// assertStored checks that key holds value at revision rev.
func assertStored(t *testing.T, b backend.Backend, key string, value []byte, rev int64) {
	t.Helper()
	v, r, err := b.Get(t.Context(), key)
	if !assert.NoError(t, err, "Get(%q)", key) {
		return
	}
	assert.True(t, bytes.Equal(v, value), "Get(%q) value = %q, want %q", key, trunc(v), trunc(value))
	assert.Equal(t, rev, r, "Get(%q) rev", key)
}

// assertMissing checks that Get(key) returns ErrNotFound.
func assertMissing(t *testing.T, b backend.Backend, key string) {
	t.Helper()
	_, _, err := b.Get(t.Context(), key)
	assert.ErrorIs(t, err, backend.ErrNotFound, "Get(%q) err = %v, want ErrNotFound", key, err)
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func testGetMissing(t *testing.T, b backend.Backend) {
	v, rev, err := b.Get(t.Context(), "missing")
	assert.ErrorIs(t, err, backend.ErrNotFound, "Get(%q) err = %v, want ErrNotFound", "missing", err)
	assert.Nil(t, v, "Get(%q) value on error", "missing")
	assert.Zero(t, rev, "Get(%q) rev on error", "missing")
}

func testPutCreate(t *testing.T, b backend.Backend) {
	rev, err := b.Put(t.Context(), "k", []byte("v1"), 0)
	require.NoError(t, err, "Put(%q, rev 0)", "k")
	assert.Greater(t, rev, int64(0), "Put(%q, rev 0) rev", "k")
	assertStored(t, b, "k", []byte("v1"), rev)
}

func testPutCreateExisting(t *testing.T, b backend.Backend) {
	rev := mustPut(t, b, "k", []byte("first"), 0)
	_, err := b.Put(t.Context(), "k", []byte("second"), 0)
	assert.ErrorIs(t, err, backend.ErrConflict, "Put(%q, rev 0) on existing key err = %v, want ErrConflict", "k", err)
	assertStored(t, b, "k", []byte("first"), rev)
}

func testPutMissingWithRevision(t *testing.T, b backend.Backend) {
	_, err := b.Put(t.Context(), "k", []byte("v"), 12345)
	assert.ErrorIs(t, err, backend.ErrConflict, "Put(%q, rev 12345) on missing key err = %v, want ErrConflict", "k", err)
	assertMissing(t, b, "k")
}

func testPutStaleRevision(t *testing.T, b backend.Backend) {
	r1 := mustPut(t, b, "k", []byte("v1"), 0)
	r2 := mustPut(t, b, "k", []byte("v2"), r1)
	_, err := b.Put(t.Context(), "k", []byte("v3"), r1)
	assert.ErrorIs(t, err, backend.ErrConflict, "Put(%q, stale rev %d) err = %v, want ErrConflict", "k", r1, err)
	_, err = b.Put(t.Context(), "k", []byte("v3"), r2+1000)
	assert.ErrorIs(t, err, backend.ErrConflict, "Put(%q, future rev %d) err = %v, want ErrConflict", "k", r2+1000, err)
	assertStored(t, b, "k", []byte("v2"), r2)
}

func testPutNegativeRevision(t *testing.T, b backend.Backend) {
	_, err := b.Put(t.Context(), "k", []byte("v"), -1)
	assert.ErrorIs(t, err, backend.ErrConflict, "Put(%q, rev -1) on missing key err = %v, want ErrConflict", "k", err)
	assertMissing(t, b, "k")
	rev := mustPut(t, b, "k", []byte("v"), 0)
	_, err = b.Put(t.Context(), "k", []byte("w"), -rev)
	assert.ErrorIs(t, err, backend.ErrConflict, "Put(%q, rev %d) err = %v, want ErrConflict", "k", -rev, err)
	assertStored(t, b, "k", []byte("v"), rev)
}

func testPutUpdate(t *testing.T, b backend.Backend) {
	r1 := mustPut(t, b, "k", []byte("v1"), 0)
	r2, err := b.Put(t.Context(), "k", []byte("v2"), r1)
	require.NoError(t, err, "Put(%q, rev %d)", "k", r1)
	assert.NotEqual(t, r1, r2, "Put(%q, rev %d) returned the same revision", "k", r1)
	assert.Greater(t, r2, r1, "Put(%q, rev %d) rev", "k", r1)
	assertStored(t, b, "k", []byte("v2"), r2)

	// Many updates: every revision is new and larger than the one before.
	seen := map[int64]bool{r1: true, r2: true}
	prev := r2
	for i := range 20 {
		r, err := b.Put(t.Context(), "k", []byte{byte(i)}, prev)
		require.NoError(t, err, "Put(%q, rev %d)", "k", prev)
		assert.False(t, seen[r], "Put(%q) returned revision %d twice", "k", r)
		assert.Greater(t, r, prev, "Put(%q, rev %d) rev", "k", prev)
		seen[r] = true
		prev = r
	}
	assertStored(t, b, "k", []byte{19}, prev)
}

func testRevisionsNeverRepeat(t *testing.T, b backend.Backend) {
	ctx := t.Context()
	r1 := mustPut(t, b, "k", []byte("old1"), 0)
	r2 := mustPut(t, b, "k", []byte("old2"), r1)
	require.NoError(t, b.Delete(ctx, "k", r2), "Delete(%q, rev %d)", "k", r2)
	r3 := mustPut(t, b, "k", []byte("new"), 0)
	assert.NotEqual(t, r1, r3, "Put(%q) after Delete reused revision %d", "k", r1)
	assert.NotEqual(t, r2, r3, "Put(%q) after Delete reused revision %d", "k", r2)

	for _, stale := range []int64{r1, r2} {
		_, err := b.Put(ctx, "k", []byte("overwrite"), stale)
		assert.ErrorIs(t, err, backend.ErrConflict, "Put(%q, pre-delete rev %d) err = %v, want ErrConflict", "k", stale, err)
		err = b.Delete(ctx, "k", stale)
		assert.ErrorIs(t, err, backend.ErrConflict, "Delete(%q, pre-delete rev %d) err = %v, want ErrConflict", "k", stale, err)
	}
	assertStored(t, b, "k", []byte("new"), r3)

	// Again, several times: no revision is ever handed out twice for a key.
	seen := map[int64]bool{r1: true, r2: true, r3: true}
	prev := r3
	for range 10 {
		require.NoError(t, b.Delete(ctx, "k", 0), "Delete(%q, 0)", "k")
		r := mustPut(t, b, "k", []byte("again"), 0)
		assert.False(t, seen[r], "Put(%q) after Delete reused revision %d", "k", r)
		seen[r] = true
		_, err := b.Put(ctx, "k", []byte("overwrite"), prev)
		assert.ErrorIs(t, err, backend.ErrConflict, "Put(%q, pre-delete rev %d) err = %v, want ErrConflict", "k", prev, err)
		prev = r
	}
}

func testDeleteUnconditional(t *testing.T, b backend.Backend) {
	mustPut(t, b, "k", []byte("v"), 0)
	require.NoError(t, b.Delete(t.Context(), "k", 0), "Delete(%q, 0)", "k")
	assertMissing(t, b, "k")
	// The key can be created again.
	rev := mustPut(t, b, "k", []byte("again"), 0)
	assertStored(t, b, "k", []byte("again"), rev)
}

func testDeleteConditional(t *testing.T, b backend.Backend) {
	r1 := mustPut(t, b, "k", []byte("v1"), 0)
	r2 := mustPut(t, b, "k", []byte("v2"), r1)
	require.NoError(t, b.Delete(t.Context(), "k", r2), "Delete(%q, rev %d)", "k", r2)
	assertMissing(t, b, "k")
}

func testDeleteStaleRevision(t *testing.T, b backend.Backend) {
	r1 := mustPut(t, b, "k", []byte("v1"), 0)
	r2 := mustPut(t, b, "k", []byte("v2"), r1)
	err := b.Delete(t.Context(), "k", r1)
	assert.ErrorIs(t, err, backend.ErrConflict, "Delete(%q, stale rev %d) err = %v, want ErrConflict", "k", r1, err)
	err = b.Delete(t.Context(), "k", -1)
	assert.ErrorIs(t, err, backend.ErrConflict, "Delete(%q, rev -1) err = %v, want ErrConflict", "k", err)
	assertStored(t, b, "k", []byte("v2"), r2)
}

func testDeleteMissing(t *testing.T, b backend.Backend) {
	err := b.Delete(t.Context(), "missing", 0)
	assert.ErrorIs(t, err, backend.ErrNotFound, "Delete(%q, 0) err = %v, want ErrNotFound", "missing", err)
	err = b.Delete(t.Context(), "missing", 42)
	assert.ErrorIs(t, err, backend.ErrNotFound, "Delete(%q, 42) err = %v, want ErrNotFound", "missing", err)

	// Deleted twice: the second Delete finds nothing.
	mustPut(t, b, "k", []byte("v"), 0)
	require.NoError(t, b.Delete(t.Context(), "k", 0), "Delete(%q, 0)", "k")
	err = b.Delete(t.Context(), "k", 0)
	assert.ErrorIs(t, err, backend.ErrNotFound, "second Delete(%q, 0) err = %v, want ErrNotFound", "k", err)
}

func testGetReturnsCopy(t *testing.T, b backend.Backend) {
	rev := mustPut(t, b, "k", []byte("original"), 0)
	v, _ := mustGet(t, b, "k")
	for i := range v {
		v[i] = 'X'
	}
	_ = append(v[:0], "appended"...)
	assertStored(t, b, "k", []byte("original"), rev)
}

func testPutCopiesValue(t *testing.T, b backend.Backend) {
	value := []byte("original")
	rev := mustPut(t, b, "k", value, 0)
	for i := range value {
		value[i] = 'X'
	}
	assertStored(t, b, "k", []byte("original"), rev)
}

func testEmptyValue(t *testing.T, b backend.Backend) {
	for _, value := range [][]byte{nil, {}} {
		rev := mustPut(t, b, "empty", value, 0)
		v, r := mustGet(t, b, "empty")
		assert.Empty(t, v, "Get(%q) value", "empty")
		assert.Equal(t, rev, r, "Get(%q) rev", "empty")
		require.NoError(t, b.Delete(t.Context(), "empty", r), "Delete(%q, rev %d)", "empty", r)
	}
	// An empty value can be replaced by a non-empty one and back.
	r1 := mustPut(t, b, "k", nil, 0)
	r2 := mustPut(t, b, "k", []byte("x"), r1)
	r3 := mustPut(t, b, "k", []byte{}, r2)
	v, r := mustGet(t, b, "k")
	assert.Empty(t, v, "Get(%q) value", "k")
	assert.Equal(t, r3, r, "Get(%q) rev", "k")
}

func testLargeValue(t *testing.T, b backend.Backend) {
	value := pattern(1<<20, 1)
	rev := mustPut(t, b, "big", value, 0)
	assertStored(t, b, "big", value, rev)

	// Replacing a large value with a smaller one leaves no trailing bytes.
	small := pattern(1000, 2)
	rev = mustPut(t, b, "big", small, rev)
	assertStored(t, b, "big", small, rev)
}

// pattern returns n deterministic bytes covering every byte value.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}
