package backendtest

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
)

func listCases() []testCase {
	return []testCase{
		{"ListEmptyStore", testListEmptyStore},
		{"ListAll", testListAll},
		{"ListPrefix", testListPrefix},
		{"ListByteOrder", testListByteOrder},
		{"ListPartialUTF8Prefix", testListPartialUTF8Prefix},
		{"ListAfterDelete", testListAfterDelete},
		{"ListReturnsCopy", testListReturnsCopy},
	}
}

// putKeys creates every key, with the key itself as value.
func putKeys(t *testing.T, b backend.Backend, keys ...string) {
	t.Helper()
	for _, k := range keys {
		mustPut(t, b, k, []byte(k), 0)
	}
}

// assertList checks that List(prefix) returns exactly want, in that order.
func assertList(t *testing.T, b backend.Backend, prefix string, want []string) {
	t.Helper()
	got, err := b.List(t.Context(), prefix)
	if !assert.NoError(t, err, "List(%q)", prefix) {
		return
	}
	if len(want) == 0 {
		assert.Empty(t, got, "List(%q)", prefix)
		return
	}
	assert.Equal(t, want, got, "List(%q)", prefix)
}

// sorted returns a sorted copy of keys (byte order).
func sorted(keys ...string) []string {
	s := slices.Clone(keys)
	slices.Sort(s)
	return s
}

func testListEmptyStore(t *testing.T, b backend.Backend) {
	for _, prefix := range []string{"", "a", "a/", "a/b/c"} {
		assertList(t, b, prefix, nil)
	}
}

var listKeys = []string{
	"a",
	"a/b",
	"a/b/c",
	"a/bc",
	"a/bc/d",
	"a/c",
	"ab",
	"b",
	"b/a",
	"s/production/openai/api-key",
	"s/production/stripe/key",
	"s/staging/openai/api-key",
}

func testListAll(t *testing.T, b backend.Backend) {
	putKeys(t, b, listKeys...)
	assertList(t, b, "", sorted(listKeys...))
}

func testListPrefix(t *testing.T, b backend.Backend) {
	putKeys(t, b, listKeys...)
	tests := []struct {
		prefix string
		want   []string
	}{
		// A key that is a prefix of other keys is listed with them.
		{"a", []string{"a", "a/b", "a/b/c", "a/bc", "a/bc/d", "a/c", "ab"}},
		{"a/", []string{"a/b", "a/b/c", "a/bc", "a/bc/d", "a/c"}},
		// Partial segments match: "a/b" matches "a/bc".
		{"a/b", []string{"a/b", "a/b/c", "a/bc", "a/bc/d"}},
		{"a/b/", []string{"a/b/c"}},
		{"a/bc", []string{"a/bc", "a/bc/d"}},
		{"a/b/c", []string{"a/b/c"}},
		{"a/b/c/", nil},
		{"a/d", nil},
		{"ab", []string{"ab"}},
		{"ab/", nil},
		{"b", []string{"b", "b/a"}},
		{"s/production/", []string{"s/production/openai/api-key", "s/production/stripe/key"}},
		{"s/prod", []string{"s/production/openai/api-key", "s/production/stripe/key"}},
		{"s/production/openai/api-key", []string{"s/production/openai/api-key"}},
		{"s/production/openai/api-key/", nil},
		{"s/production/openai/api-keys", nil},
		{"s/", []string{"s/production/openai/api-key", "s/production/stripe/key", "s/staging/openai/api-key"}},
		{"c", nil},
		{"A", nil},
		{"/", nil},
	}
	for _, tt := range tests {
		assertList(t, b, tt.prefix, tt.want)
	}
}

func testListByteOrder(t *testing.T, b backend.Backend) {
	// Byte order, not path-component order: '-' < '.' < '/' < '0' < 'A' < '_' < 'a' < '~' < 0x80.
	keys := []string{"a~", "aé", "ab", "a_b", "aB", "a0", "a/b", "a.b", "a-b", "a", "a/B", "a/a", "a//b", "Z", "z"}
	putKeys(t, b, keys...)
	want := sorted(keys...)
	assertList(t, b, "", want)
	assertList(t, b, "a", want[1:len(want)-1]) // all but "Z" and "z"
}

func testListPartialUTF8Prefix(t *testing.T, b backend.Backend) {
	// "é" is 0xC3 0xA9; a prefix may end inside a multi-byte character.
	putKeys(t, b, "é", "é/x", "ê", "e")
	assertList(t, b, "\xc3", []string{"é", "é/x", "ê"})
	assertList(t, b, "é", []string{"é", "é/x"})
}

func testListAfterDelete(t *testing.T, b backend.Backend) {
	putKeys(t, b, "a/b/c", "a/b/d", "a/e")
	require.NoError(t, b.Delete(t.Context(), "a/b/c", 0), "Delete(%q, 0)", "a/b/c")
	assertList(t, b, "a/", []string{"a/b/d", "a/e"})
	require.NoError(t, b.Delete(t.Context(), "a/b/d", 0), "Delete(%q, 0)", "a/b/d")
	assertList(t, b, "a/", []string{"a/e"})
	assertList(t, b, "a/b", nil)
	require.NoError(t, b.Delete(t.Context(), "a/e", 0), "Delete(%q, 0)", "a/e")
	assertList(t, b, "", nil)
	// Keys can be created again under the emptied prefix.
	putKeys(t, b, "a/b/c")
	assertList(t, b, "", []string{"a/b/c"})
}

func testListReturnsCopy(t *testing.T, b backend.Backend) {
	putKeys(t, b, "x/1", "x/2")
	got, err := b.List(t.Context(), "x/")
	require.NoError(t, err, "List(%q)", "x/")
	require.Len(t, got, 2, "List(%q)", "x/")
	got[0] = "mutated"
	_ = append(got[:1], "appended")
	assertList(t, b, "x/", []string{"x/1", "x/2"})
}
