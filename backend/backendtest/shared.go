package backendtest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
)

func sharedCases() []testCase {
	return []testCase{
		{"GetShared", testGetShared},
		{"GetSharedSurvivesPut", testGetSharedSurvivesPut},
	}
}

func sharedGetter(t *testing.T, b backend.Backend) backend.SharedGetter {
	t.Helper()
	sg, ok := b.(backend.SharedGetter)
	if !ok {
		t.Skipf("%T does not implement backend.SharedGetter", b)
	}
	return sg
}

// testGetShared: GetShared returns what Get returns, and the same errors.
func testGetShared(t *testing.T, b backend.Backend) {
	sg := sharedGetter(t, b)
	rev := mustPut(t, b, "a", []byte("value"), 0)
	got, gotRev, err := sg.GetShared(t.Context(), "a")
	require.NoError(t, err, "GetShared(a)")
	assert.Equal(t, "value", string(got), "GetShared(a) value")
	assert.Equal(t, rev, gotRev, "GetShared(a) revision")
	mustPut(t, b, "empty", nil, 0)
	got, _, err = sg.GetShared(t.Context(), "empty")
	require.NoError(t, err, "GetShared(empty)")
	assert.NotNil(t, got, "GetShared(empty) of an existing empty value")
	_, _, err = sg.GetShared(t.Context(), "missing")
	assert.True(t, errors.Is(err, backend.ErrNotFound), "GetShared(missing) err = %v, want ErrNotFound", err)
	_, _, err = sg.GetShared(t.Context(), "")
	assert.True(t, errors.Is(err, backend.ErrInvalidKey), "GetShared(\"\") err = %v, want ErrInvalidKey", err)
}

// testGetSharedSurvivesPut: a slice GetShared returned keeps its bytes
// after later Puts and a Delete of the key (the backend never modifies it).
func testGetSharedSurvivesPut(t *testing.T, b backend.Backend) {
	sg := sharedGetter(t, b)
	rev := mustPut(t, b, "k", []byte("first"), 0)
	got, _, err := sg.GetShared(t.Context(), "k")
	require.NoError(t, err)
	rev = mustPut(t, b, "k", []byte("SECOND"), rev)
	assert.Equal(t, "first", string(got), "slice from GetShared after a Put")
	require.NoError(t, b.Delete(t.Context(), "k", rev))
	assert.Equal(t, "first", string(got), "slice from GetShared after a Delete")
}
