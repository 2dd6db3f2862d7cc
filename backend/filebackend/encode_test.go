package filebackend

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
)

func TestEncodeKey(t *testing.T) {
	s200 := strings.Repeat("s", 200)
	tests := []struct {
		key, want string
	}{
		{"a", "a,v"},
		{"A", "%41,v"},
		{"s/prod/API_KEY", "s/prod/%41%50%49%5f%4b%45%59,v"},
		{"abc-xyz-0189", "abc-xyz-0189,v"},
		{"a/b/c", "a/b/c,v"},
		{"a//b", "a/%/b,v"},
		{"/a", "%/a,v"},
		{"a/", "a/%,v"},
		{"/", "%/%,v"},
		{".", "%2e,v"},
		{"..", "%2e%2e,v"},
		{"a/../b", "a/%2e%2e/b,v"},
		{".lock", "%2elock,v"},
		{"%", "%25,v"},
		{"%41", "%2541,v"},
		{"~", "%7e,v"},
		{",v", "%2cv,v"},
		{"a b", "a%20b,v"},
		{"é", "%c3%a9,v"},
		{"\n", "%0a,v"},
		{s200, s200 + ",v"},
		{s200 + "t", s200 + "~/t,v"},
		{s200 + "/t", s200 + "/t,v"},
		{"x/" + s200 + "tt/y", "x/" + s200 + "~/tt/y,v"},
		// A chunk never ends inside "%xx": 199 literals then "%41" cut after 199.
		{s200[:199] + "A", s200[:199] + "~/%41,v"},
		{s200[:198] + "A", s200[:198] + "~/%41,v"},
		{s200[:197] + "A", s200[:197] + "%41,v"},
		{s200[:197] + "AB", s200[:197] + "%41~/%42,v"},
	}
	for _, tt := range tests {
		got := encodeKey(tt.key)
		assert.Equal(t, tt.want, got, "encodeKey(%q)", tt.key)
		key, ok := decodeKey(got)
		assert.True(t, ok, "decodeKey(%q) ok", got)
		assert.Equal(t, tt.key, key, "decodeKey(%q)", got)
	}
}

func TestDecodeKeyRejects(t *testing.T) {
	for _, rel := range []string{
		"", ",v", "a", "a/b", "a,v/", "a~,v", "a/b~,v",
		"A,v", "a_b,v", "a.b,v", "a b,v", "a%,v/x",
		"%61,v",             // escaped literal: non-canonical spelling of "a,v"
		"%2D,v", "%2e%2E,v", // uppercase hex
		"%2,v", "%zz,v", "%%,v", "%/%%,v",
		"a//b,v", "/a,v", "a/,v", // empty components: an empty segment is "%"
		"%00,v",          // NUL
		"%ff,v", "%c3,v", // invalid UTF-8
		"s~/t,v", // a chunk split where encodeKey would not split
		"~/a,v", "%~/a,v",
		".tmp-123", ".lock", "a/.tmp-1",
	} {
		key, ok := decodeKey(rel)
		assert.False(t, ok, "decodeKey(%q) = %q, want not ok", rel, key)
	}
}

// checkName checks every property the package documentation promises for
// key's encoded name.
func checkName(t *testing.T, key string) {
	t.Helper()
	rel := encodeKey(key)
	got, ok := decodeKey(rel)
	if !ok || got != key {
		t.Errorf("decodeKey(encodeKey(%q)) = %q, %v; want the key back", key, got, ok)
	}
	if len(rel) > maxEncodedLen {
		t.Errorf("len(encodeKey(%.40q)) = %d, above maxEncodedLen %d", key, len(rel), maxEncodedLen)
	}
	if rel != strings.ToLower(rel) {
		t.Errorf("encodeKey(%q) = %q has uppercase letters", key, rel)
	}
	for i := 0; i < len(rel); i++ {
		if c := rel[i]; !literal(c) && !strings.ContainsRune("%~,/", rune(c)) {
			t.Errorf("encodeKey(%q) = %q contains %q", key, rel, c)
		}
	}
	for _, comp := range strings.Split(rel, "/") {
		if comp == "" || comp[0] == '.' || len(comp) > chunkMax+len(leafSuffix) {
			t.Errorf("encodeKey(%.40q) has component %q (%d bytes)", key, comp, len(comp))
		}
	}
	if dir, ok := strings.CutSuffix(rel, leafSuffix); !ok || strings.Contains(dir, ",") {
		t.Errorf("encodeKey(%q) = %q: ',' outside the suffix", key, rel)
	}
}

func TestEncodeKeyProperties(t *testing.T) {
	keys := append(append([]string{}, backendtest.OddKeys...), backendtest.LongKeys...)
	for _, k := range keys {
		checkName(t, k)
	}
	// Names of keys that differ only in case differ in more than case.
	assert.NotEqual(t, strings.ToLower(encodeKey("A")), strings.ToLower(encodeKey("a")))
	assert.NotEqual(t, strings.ToLower(encodeKey("Secret/Key")), strings.ToLower(encodeKey("secret/key")))
}

// randomKey returns a valid key of up to backend.MaxKeyLen bytes drawn
// from an alphabet rich in the bytes the encoding treats specially.
func randomKey(r *rand.Rand) string {
	alphabet := []string{"a", "z", "0", "-", "A", "Z", "/", "/", "/", ".", "%", "~", ",", "_", " ", "é", "É", "🔑", "\x01", "v"}
	n := r.IntN(backend.MaxKeyLen + 1)
	if r.IntN(4) == 0 {
		n = r.IntN(8) + 1
	}
	var b strings.Builder
	for b.Len() < n {
		s := alphabet[r.IntN(len(alphabet))]
		if r.IntN(10) == 0 {
			s = strings.Repeat(s, r.IntN(300))
		}
		if b.Len()+len(s) > backend.MaxKeyLen {
			break
		}
		b.WriteString(s)
	}
	if b.Len() == 0 {
		return "k"
	}
	return b.String()
}

func TestEncodeKeyRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	folded := make(map[string]string, n) // lowercased name → key
	for range n {
		key := randomKey(r)
		require.NoError(t, backend.ValidateKey(key), "randomKey() = %q", key)
		checkName(t, key)
		// Lowercasing the key's letters, if it changes the key, must not
		// give a name equal to the original's under case folding.
		for _, k := range []string{key, strings.ToLower(key), strings.ToUpper(key)} {
			if !utf8.ValidString(k) || len(k) > backend.MaxKeyLen {
				continue
			}
			name := strings.ToLower(encodeKey(k))
			if prev, ok := folded[name]; ok && prev != k {
				t.Fatalf("keys %q and %q map to names equal up to case: %q", prev, k, name)
			}
			folded[name] = k
		}
	}
}

func TestMayHold(t *testing.T) {
	long := encodeKey(strings.Repeat("Q", 100)) // 300 escaped bytes, two chunks
	first := strings.SplitN(long, "/", 2)[0]
	tests := []struct {
		name, esc string
		want      bool
	}{
		{"abc,v", "", true},
		{"abc,v", "ab", true},
		{"abc", "ab", true},
		{"abc", "abc", true},
		{"abc,v", "abd", false},
		{"ab", "abc", false},
		{"%", "a", false},
		{first, "%51", true},
		{first, strings.Repeat("%51", 80), true}, // prefix longer than the first chunk
		{first, strings.Repeat("%51", 60) + "x", false},
		{first, "%52", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, mayHold(tt.name, tt.esc), "mayHold(%.30q, %.30q)", tt.name, tt.esc)
	}
}

// FuzzEncodeKey checks the name properties for arbitrary valid keys.
func FuzzEncodeKey(f *testing.F) {
	for _, k := range backendtest.OddKeys {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if backend.ValidateKey(key) != nil {
			return
		}
		checkName(t, key)
	})
}

// FuzzDecodeKey checks that decodeKey never panics and only accepts the
// canonical names of valid keys.
func FuzzDecodeKey(f *testing.F) {
	for _, k := range backendtest.OddKeys {
		f.Add(encodeKey(k))
	}
	f.Add("%61,v")
	f.Fuzz(func(t *testing.T, rel string) {
		key, ok := decodeKey(rel)
		if !ok {
			return
		}
		if backend.ValidateKey(key) != nil || encodeKey(key) != rel {
			t.Fatalf("decodeKey(%q) = %q, not the key encoded as %q", rel, key, rel)
		}
	})
}
