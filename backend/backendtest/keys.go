package backendtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
)

func keyCases() []testCase {
	return []testCase{
		{"KeysAreOpaque", testKeysAreOpaque},
		{"KeysMaxLength", testKeysMaxLength},
		{"InvalidKeys", testInvalidKeys},
	}
}

// OddKeys are valid keys that a backend mapping keys onto names (files,
// paths, URLs) could mangle or confuse with one another. The conformance
// suite stores all of them in one backend and checks that each keeps its own
// value. They are exported for implementation-specific tests, which must
// not modify the slice.
var OddKeys = []string{
	"a", "A", "b", "B", "ab", "aB", "Ab", "AB",
	"a/b", "a/B", "A/b",
	"a/b/c", "a/bc", "a/b.c",
	".", "..", "...", "./a", "../a", "a/.", "a/..", "a/./b", "a/../b", ".hidden", "a/.hidden",
	"/", "//", "/a", "a/", "a//b", "a///b", "//a//",
	" ", "a b", " a", "a ", "a\tb", "a\nb", "a\rb", "\x01", "\x7f",
	"%", "%%", "%41", "%2F", "a%2Fb", "a%2fb", "100%", "%zz",
	"~", "a~", "a~/b", "~a", ",", ",v", "a,v", "a,v/b", "a/,v",
	"_", "a_b", "-", "a-b", "+", "a+b", "=", "&", "#", "?", "*", "\\", "a\\b", ":", "a:b", "\"", "'", "<>", "|",
	".lock", ".tmp-1", "a/.tmp-1", "con", "CON", "nul", "aux.txt", "lpt1",
	"é", "e\u0301", "É", "ß", "ss", "SS", "ǅ", "ı", "I", "i", "İ", "K", "\u212a",
	"ключ", "КЛЮЧ", "秘密/鍵", "🔑", "a/🔑/b", "\ufeff", "\u200b", "\ufffd",
}

func testKeysAreOpaque(t *testing.T, b backend.Backend) {
	revs := make(map[string]int64, len(OddKeys))
	for _, k := range OddKeys {
		require.NoError(t, backend.ValidateKey(k), "ValidateKey(%q)", k)
		rev, err := b.Put(t.Context(), k, []byte("value of "+k), 0)
		if !assert.NoError(t, err, "Put(%q, rev 0)", k) {
			continue
		}
		revs[k] = rev
	}
	for _, k := range OddKeys {
		if rev, ok := revs[k]; ok {
			assertStored(t, b, k, []byte("value of "+k), rev)
		}
	}
	assertList(t, b, "", sorted(OddKeys...))
	// Each key can be updated and deleted on its own.
	for _, k := range OddKeys {
		rev, ok := revs[k]
		if !ok {
			continue
		}
		rev, err := b.Put(t.Context(), k, []byte("updated "+k), rev)
		if assert.NoError(t, err, "Put(%q, rev %d)", k, revs[k]) {
			assertStored(t, b, k, []byte("updated "+k), rev)
		}
	}
	for i, k := range OddKeys {
		if i%2 == 0 {
			assert.NoError(t, b.Delete(t.Context(), k, 0), "Delete(%q, 0)", k)
		}
	}
	var rest []string
	for i, k := range OddKeys {
		if i%2 == 0 {
			assertMissing(t, b, k)
		} else {
			rest = append(rest, k)
			_, _, err := b.Get(t.Context(), k)
			assert.NoError(t, err, "Get(%q) after deleting other keys", k)
		}
	}
	assertList(t, b, "", sorted(rest...))
}

// LongKeys are valid keys of exactly backend.MaxKeyLen bytes, shaped to
// stress a backend that maps keys onto file names or paths. They are
// exported for implementation-specific tests, which must not modify the
// slice.
var LongKeys = func() []string {
	pad := func(prefix string, fill string) string {
		s := prefix
		for len(s)+len(fill) <= backend.MaxKeyLen {
			s += fill
		}
		return s + strings.Repeat("x", backend.MaxKeyLen-len(s))
	}
	seg600 := strings.Repeat("s", 600)
	return []string{
		strings.Repeat("a", backend.MaxKeyLen),
		strings.Repeat("A", backend.MaxKeyLen),
		strings.Repeat("%", backend.MaxKeyLen),
		strings.Repeat("/", backend.MaxKeyLen),
		strings.Repeat("é", backend.MaxKeyLen/2),
		pad("", "a/"),
		pad("", "A/"),
		pad("", "Ab"),
		pad("", "🔑/"),
		pad("p/", "秘"),
		pad("x/"+seg600+"/", "y"),
		pad("x/"+seg600+"/", "Y/"),
		pad(strings.Repeat("Q", 600)+"/", "z"),
	}
}()

func testKeysMaxLength(t *testing.T, b backend.Backend) {
	revs := make(map[string]int64, len(LongKeys))
	for _, k := range LongKeys {
		require.Len(t, k, backend.MaxKeyLen, "test key length")
		rev, err := b.Put(t.Context(), k, []byte(k[:16]), 0)
		if assert.NoError(t, err, "Put(%.40q..., rev 0) with a %d-byte key", k, len(k)) {
			revs[k] = rev
		}
	}
	for _, k := range LongKeys {
		if rev, ok := revs[k]; ok {
			assertStored(t, b, k, []byte(k[:16]), rev)
		}
	}
	assertList(t, b, "", sorted(LongKeys...))
	seg := "x/" + strings.Repeat("s", 600) + "/"
	var want []string
	for _, k := range LongKeys {
		if strings.HasPrefix(k, seg) {
			want = append(want, k)
		}
	}
	assertList(t, b, seg, sorted(want...))
	assertList(t, b, seg[:300], sorted(want...))
	for _, k := range LongKeys {
		assert.NoError(t, b.Delete(t.Context(), k, 0), "Delete(%.40q..., 0)", k)
	}
	assertList(t, b, "", nil)
	// A prefix longer than any key matches nothing.
	assertList(t, b, strings.Repeat("a", backend.MaxKeyLen+1), nil)
}

// InvalidKeys are keys every Backend must reject with ErrInvalidKey.
// Callers must not modify the slice.
var InvalidKeys = []string{
	"",
	"\x00",
	"a\x00b",
	"a/\x00",
	strings.Repeat("a", backend.MaxKeyLen+1),
	strings.Repeat("é", backend.MaxKeyLen/2) + "a",
	"\xff",
	"a/\xc3",
	"\xc3\x28",
	"\xed\xa0\x80", // UTF-16 surrogate half
}

func testInvalidKeys(t *testing.T, b backend.Backend) {
	ctx := t.Context()
	for _, k := range InvalidKeys {
		require.Error(t, backend.ValidateKey(k), "ValidateKey(%.40q)", k)
		_, _, err := b.Get(ctx, k)
		assert.ErrorIs(t, err, backend.ErrInvalidKey, "Get(%.40q) err = %v, want ErrInvalidKey", k, err)
		_, err = b.Put(ctx, k, []byte("v"), 0)
		assert.ErrorIs(t, err, backend.ErrInvalidKey, "Put(%.40q) err = %v, want ErrInvalidKey", k, err)
		err = b.Delete(ctx, k, 0)
		assert.ErrorIs(t, err, backend.ErrInvalidKey, "Delete(%.40q) err = %v, want ErrInvalidKey", k, err)
		if bb, ok := b.(backend.Batcher); ok {
			_, err = bb.GetMany(ctx, []string{"ok", k})
			assert.ErrorIs(t, err, backend.ErrInvalidKey, "GetMany([ok %.40q]) err = %v, want ErrInvalidKey", k, err)
		}
	}
	// Nothing was written.
	assertList(t, b, "", nil)
}
