package backendtest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
)

func batchWriteCases() []testCase {
	return []testCase{
		{"PutMany", testPutMany},
		{"PutManyConflictsAreIndependent", testPutManyConflicts},
		{"PutManyEmpty", testPutManyEmpty},
		{"PutManyRejectsDuplicateKeys", testPutManyDuplicates},
	}
}

func batchWriter(t *testing.T, b backend.Backend) backend.BatchWriter {
	t.Helper()
	bw, ok := b.(backend.BatchWriter)
	if !ok {
		t.Skipf("%T does not implement backend.BatchWriter", b)
	}
	return bw
}

// testPutMany: creates and updates land with the revisions reported, and
// later Puts see those revisions.
func testPutMany(t *testing.T, b backend.Backend) {
	bw := batchWriter(t, b)
	r1 := mustPut(t, b, "old", []byte("1"), 0)
	writes := []backend.Write{
		{Key: "new/a", Value: []byte("va"), ExpectedRev: 0},
		{Key: "old", Value: []byte("2"), ExpectedRev: r1},
		{Key: "new/deep/b", Value: nil, ExpectedRev: 0},
	}
	res, err := bw.PutMany(t.Context(), writes)
	require.NoError(t, err, "PutMany")
	require.Len(t, res, len(writes))
	for i, w := range writes {
		require.NoError(t, res[i].Err, "PutMany write %d (%q)", i, w.Key)
		got, rev, err := b.Get(t.Context(), w.Key)
		require.NoError(t, err, "Get(%q) after PutMany", w.Key)
		assert.Equal(t, string(w.Value), string(got), "Get(%q) value", w.Key)
		assert.Equal(t, res[i].Rev, rev, "Get(%q) revision = the one PutMany reported", w.Key)
	}
	assert.Greater(t, res[1].Rev, r1, "revision increases")
	_, err = b.Put(t.Context(), "old", []byte("3"), res[1].Rev)
	assert.NoError(t, err, "Put with the revision PutMany returned")
}

// testPutManyConflicts: a write whose revision does not match fails with
// ErrConflict, writes nothing, and does not stop the others.
func testPutManyConflicts(t *testing.T, b backend.Backend) {
	bw := batchWriter(t, b)
	r := mustPut(t, b, "taken", []byte("mine"), 0)
	res, err := bw.PutMany(t.Context(), []backend.Write{
		{Key: "before", Value: []byte("x")},
		{Key: "taken", Value: []byte("theirs")},
		{Key: "stale", Value: []byte("y"), ExpectedRev: 42},
		{Key: "", Value: []byte("z")},
		{Key: "after", Value: []byte("w")},
	})
	require.NoError(t, err, "PutMany")
	require.Len(t, res, 5)
	assert.NoError(t, res[0].Err)
	assert.True(t, errors.Is(res[1].Err, backend.ErrConflict), "create over an existing key: err = %v, want ErrConflict", res[1].Err)
	assert.True(t, errors.Is(res[2].Err, backend.ErrConflict), "update of a missing key: err = %v, want ErrConflict", res[2].Err)
	assert.True(t, errors.Is(res[3].Err, backend.ErrInvalidKey), "empty key: err = %v, want ErrInvalidKey", res[3].Err)
	assert.NoError(t, res[4].Err)
	got, rev, err := b.Get(t.Context(), "taken")
	require.NoError(t, err)
	assert.Equal(t, "mine", string(got), "a conflicting write changed nothing")
	assert.Equal(t, r, rev)
	_, _, err = b.Get(t.Context(), "stale")
	assert.True(t, errors.Is(err, backend.ErrNotFound), "Get(stale) err = %v, want ErrNotFound", err)
	for _, k := range []string{"before", "after"} {
		_, _, err := b.Get(t.Context(), k)
		assert.NoError(t, err, "Get(%q)", k)
	}
}

func testPutManyEmpty(t *testing.T, b backend.Backend) {
	res, err := batchWriter(t, b).PutMany(t.Context(), nil)
	require.NoError(t, err)
	assert.Empty(t, res)
}

func testPutManyDuplicates(t *testing.T, b backend.Backend) {
	_, err := batchWriter(t, b).PutMany(t.Context(), []backend.Write{{Key: "k", Value: []byte("1")}, {Key: "k", Value: []byte("2")}})
	assert.True(t, errors.Is(err, backend.ErrInvalidKey), "PutMany with a key twice: err = %v, want ErrInvalidKey", err)
	_, _, err = b.Get(t.Context(), "k")
	assert.True(t, errors.Is(err, backend.ErrNotFound), "nothing written: Get err = %v", err)
}
