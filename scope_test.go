package agentvault_test

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// refMatch is the test oracle: a direct backtracking matcher for the
// pattern grammar documented on agentvault.Scope, written independently of
// the NFA in scope_match.go. It assumes a pattern that validatePattern accepted.
func refMatch(pattern, s string) bool {
	// Expand the (non-nested) braces into plain alternatives first.
	if i := strings.IndexByte(pattern, '{'); i >= 0 {
		j := i + strings.IndexByte(pattern[i:], '}')
		for _, alt := range strings.Split(pattern[i+1:j], ",") {
			if refMatch(pattern[:i]+alt+pattern[j+1:], s) {
				return true
			}
		}
		return false
	}
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for k := 0; k <= len(s); k++ {
			if refMatch(pattern[1:], s[k:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && refMatch(pattern[1:], s[1:])
	case '[':
		end := strings.IndexByte(pattern, ']')
		body, neg := pattern[1:end], false
		if body[0] == '!' {
			body, neg = body[1:], true
		}
		if s == "" {
			return false
		}
		var in bool
		if len(body) == 3 && body[1] == '-' {
			in = s[0] >= body[0] && s[0] <= body[2]
		} else {
			in = strings.IndexByte(body, s[0]) >= 0
		}
		return in != neg && refMatch(pattern[end+1:], s[1:])
	default:
		return s != "" && s[0] == pattern[0] && refMatch(pattern[1:], s[1:])
	}
}

// The alphabet is small so that random patterns and paths match often.
const alpha = "ab.-_"

func randLit(r *rand.Rand) byte { return alpha[r.IntN(len(alpha))] }

func randAtom(r *rand.Rand, inBrace bool) string {
	switch n := r.IntN(20); {
	case n < 9:
		return string(randLit(r))
	case n < 11:
		return "/"
	case n < 14:
		return "*"
	case n < 15:
		return "**"
	case n < 16:
		return "?"
	case n < 18:
		neg := ""
		if r.IntN(2) == 0 {
			neg = "!"
		}
		if r.IntN(2) == 0 {
			lo, hi := byte('a'+r.IntN(3)), byte('a'+r.IntN(3))
			if lo > hi {
				lo, hi = hi, lo
			}
			return "[" + neg + string([]byte{lo, '-', hi}) + "]"
		}
		var b strings.Builder
		for k := 1 + r.IntN(3); k > 0; k-- {
			c := randLit(r)
			for c == '-' {
				c = randLit(r)
			}
			b.WriteByte(c)
		}
		return "[" + neg + b.String() + "]"
	default:
		if inBrace {
			return string(randLit(r))
		}
		var alts []string
		for k := 1 + r.IntN(3); k > 0; k-- {
			alts = append(alts, randSeq(r, 1+r.IntN(3), true))
		}
		return "{" + strings.Join(alts, ",") + "}"
	}
}

func randSeq(r *rand.Rand, n int, inBrace bool) string {
	var b strings.Builder
	for ; n > 0; n-- {
		b.WriteString(randAtom(r, inBrace))
	}
	return b.String()
}

func randPath(r *rand.Rand) string {
	segs := make([]string, 1+r.IntN(3))
	for i := range segs {
		var b strings.Builder
		for k := 1 + r.IntN(3); k > 0; k-- {
			b.WriteByte("ab_-"[r.IntN(4)])
		}
		segs[i] = b.String()
	}
	return strings.Join(segs, "/")
}

// TestScopeDifferential compares the production matcher (the NFA behind
// Scope.Match) with refMatch on 10^5 random pattern/path pairs.
func TestScopeDifferential(t *testing.T) {
	seed := uint64(1)
	if v, err := strconv.ParseUint(os.Getenv("AGENTVAULT_SCOPE_SEED"), 10, 64); err == nil {
		seed = v // explore other seeds; the default keeps the test reproducible
	}
	r := rand.New(rand.NewPCG(seed, 2))
	const n = 100_000
	disagree, matched := 0, 0
	for i := 0; i < n; i++ {
		pat := randSeq(r, 1+r.IntN(6), false)
		sc, err := agentvault.ParseScope("secrets:read:" + pat)
		for err != nil && (strings.Contains(err.Error(), "braces expand") || strings.Contains(err.Error(), "wildcards")) {
			pat = randSeq(r, 1+r.IntN(6), false)
			sc, err = agentvault.ParseScope("secrets:read:" + pat)
		}
		require.NoError(t, err, "ParseScope(%q)", pat)
		path := randPath(r)
		if i%4 == 0 { // half the time, a path built to fit the pattern's shape
			path = strings.Trim(strings.NewReplacer("*", "a", "?", "b", "[", "", "]", "", "{", "", "}", "", ",", "", "!", "").Replace(pat), "/")
			if agentvault.ValidatePath(path) != nil {
				path = randPath(r)
			}
		}
		got, want := sc.Match(path), refMatch(pat, path)
		if got != want {
			disagree++
			if disagree <= 10 {
				t.Errorf("pattern %q path %q: Scope.Match = %v, reference = %v", pat, path, got, want)
			}
		}
		if want {
			matched++
		}
	}
	assert.Zero(t, disagree, "disagreements in %d pairs", n)
	assert.Greater(t, matched, n/20, "too few matching pairs to be a useful test")
	t.Logf("%d pairs, %d matched, %d disagreements", n, matched, disagree)
}

func TestParseScope(t *testing.T) {
	good := map[string]agentvault.ScopeAction{
		"secrets:read:production/openai/*":              agentvault.ActionRead,
		"secrets:read:production/stripe/webhook-secret": agentvault.ActionRead,
		"secrets:write:staging/*":                       agentvault.ActionWrite,
		"secrets:delete:tmp/?":                          agentvault.ActionDelete,
		"secrets:*:myapp/*":                             agentvault.ActionAll,
		"secrets:*:*":                                   agentvault.ActionAll,
		"secrets:read:{prod,staging}/db/[a-c]*":         agentvault.ActionRead,
		"secrets:read:x/[!abc]":                         agentvault.ActionRead,
	}
	for s, act := range good {
		sc, err := agentvault.ParseScope(s)
		if assert.NoError(t, err, "ParseScope(%q)", s) {
			assert.Equal(t, act, sc.Action)
			assert.Equal(t, s, sc.String())
		}
	}
	bad := []string{
		"", "secrets", "secrets:read", "secret:read:x", "secrets:admin:x", "secrets:READ:x", "secrets:read:",
		"secrets:read:a[", "secrets:read:a[]", "secrets:read:a[c-a]", "secrets:read:a[a-c-d]", "secrets:read:{a,b",
		"secrets:read:{a,{b}}", "secrets:read:{a,}", "secrets:read:{}", "secrets:read:a}", "secrets:read:a,b",
		"secrets:read:a\\*", "secrets:read:a b", "secrets:read:é", "secrets:read:a\x00", "secrets:read:" + strings.Repeat("a", 513),
	}
	for _, s := range bad {
		_, err := agentvault.ParseScope(s)
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "ParseScope(%q)", s)
	}
}

func TestScopeSemantics(t *testing.T) {
	sc := mustScope(t, "secrets:write:staging/*")
	assert.True(t, sc.Allows(agentvault.ActionWrite, "staging/a/b/c"), "* crosses '/'")
	assert.False(t, sc.Allows(agentvault.ActionRead, "staging/a"))
	assert.False(t, sc.Allows(agentvault.ActionWrite, "staging"))
	all := mustScope(t, "secrets:*:*")
	for _, a := range []agentvault.ScopeAction{agentvault.ActionRead, agentvault.ActionWrite, agentvault.ActionDelete} {
		assert.True(t, all.Allows(a, "any/path"))
	}
}

// TestScopeAdversarialPaths: paths that are not valid paths never match,
// whatever the pattern, because ValidatePath rejects them first.
func TestScopeAdversarialPaths(t *testing.T) {
	all := mustScope(t, "secrets:*:*")
	ns := mustScope(t, "secrets:read:production/*")
	for _, p := range []string{
		"", "..", "production/..", "production/../staging/x", "production//x", "/production/x", "production/x/",
		"production/%2e%2e/staging", "production/%2F..", "production/x%00", "production/x\x00y", "production/./x",
		"production/\u2024\u2024/x", // one-dot leaders
		"production\u2215x",         // division slash
		"prоduction/x",              // Cyrillic o
		"production/ｘ",              // full-width x
		"production/x\n", "production/x y", "production\\x", strings.Repeat("a/", 40) + "a",
	} {
		assert.False(t, all.Match(p), "secrets:*:* matched %q", p)
		assert.False(t, ns.Allows(agentvault.ActionRead, p), "production/* matched %q", p)
		assert.Error(t, agentvault.ValidatePath(p), "ValidatePath(%q)", p)
	}
}

func TestScopeCovers(t *testing.T) {
	cases := []struct {
		ceiling, req string
		want         bool
	}{
		{"secrets:*:*", "secrets:read:anything/{a,b}", true},
		{"secrets:read:production/*", "secrets:read:production/openai/*", true},
		{"secrets:read:production/*", "secrets:read:production/x", true},
		{"secrets:read:production/*", "secrets:write:production/x", false},
		{"secrets:*:production/*", "secrets:delete:production/x", true},
		{"secrets:read:production/*", "secrets:read:prod*", false},
		{"secrets:read:production/*", "secrets:read:*", false},
		{"secrets:read:production/*", "secrets:read:productionX/*", false},
		{"secrets:read:production/{a,b}", "secrets:read:production/a", true},
		{"secrets:read:production/{a,b}", "secrets:read:production/{a,b}", true},
		{"secrets:read:production/{a,b}", "secrets:read:production/?", false},
		{"secrets:read:production/a?", "secrets:read:production/a*", false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, mustScope(t, c.ceiling).Covers(mustScope(t, c.req)), "%s covers %s", c.ceiling, c.req)
	}
}

func mustScope(t *testing.T, s string) agentvault.Scope {
	t.Helper()
	sc, err := agentvault.ParseScope(s)
	require.NoError(t, err, "ParseScope(%q)", s)
	return sc
}

// TestParseScopeRefusesComplexPatterns: issue 18 — a pattern with too many
// '*' runs or brace combinations is refused when the scope is parsed (at
// token request time), with an error that says which limit it broke.
func TestParseScopeRefusesComplexPatterns(t *testing.T) {
	issue18 := strings.Repeat("*[!Z]?", 24) + "*Z*" // 26 runs of '*'
	for _, pat := range []string{
		issue18,
		strings.Repeat("a*", agentvault.MaxScopeStars+1),
		strings.Repeat("*/", agentvault.MaxScopeStars) + "x*",
	} {
		_, err := agentvault.ParseScope("secrets:read:" + pat)
		require.ErrorIs(t, err, agentvault.ErrInvalidInput, "ParseScope(%q)", pat)
		assert.Contains(t, err.Error(), "more than 16 '*' wildcards")
	}
	v, _ := newVault(t)
	_, err := v.RequestToken(bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:" + issue18}})
	require.ErrorIs(t, err, agentvault.ErrInvalidInput, "RequestToken with the issue's pattern")
	assert.Contains(t, err.Error(), "wildcards")

	_, err = agentvault.ParseScope("secrets:read:{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}")
	require.ErrorIs(t, err, agentvault.ErrInvalidInput)
	assert.Contains(t, err.Error(), "braces expand to more than 64 alternatives")

	for _, pat := range []string{
		strings.Repeat("a*", agentvault.MaxScopeStars),
		strings.Repeat("**a", agentvault.MaxScopeStars), // a run of '*' counts once
		"{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}",
		"{" + strings.Repeat("a,", 63) + "b}",
	} {
		_, err := agentvault.ParseScope("secrets:read:" + pat)
		assert.NoError(t, err, "ParseScope(%q)", pat)
	}
}

// TestScopeMatchPathological: issue 18 — the shape of the issue's pattern,
// within the limits, against the longest paths: the answers must be right.
// (The backtracking matcher this replaced took 12 s for these; the issue's
// 26-star pattern ran 60 s on a 69-byte path. BenchmarkScopeMatch measures
// the NFA on them.)
func TestScopeMatchPathological(t *testing.T) {
	sc := mustScope(t, "secrets:read:"+strings.Repeat("*[!Z]?", agentvault.MaxScopeStars-2)+"*Z*")
	noZ := strings.Repeat(strings.Repeat("a", 63)+"/", 7) + strings.Repeat("b", 63) // 511 bytes
	require.NoError(t, agentvault.ValidatePath(noZ))
	assert.False(t, sc.Match(noZ), "no Z in the path")
	withZ := noZ[:len(noZ)-1] + "Z"
	assert.True(t, sc.Match(withZ), "Z after 28 other bytes")
	assert.False(t, sc.Match("Z"+noZ[1:]), "Z too early to leave 28 bytes before it")

	many := mustScope(t, "secrets:read:"+strings.Repeat("*a", agentvault.MaxScopeStars-1)+"*")
	assert.False(t, many.Match(strings.Repeat("b", 480)+"/"+strings.Repeat("a", 11)))
	assert.True(t, many.Match(strings.Repeat("b", 480)+"/"+strings.Repeat("a", 11)+"/b"+"aaaa"))
}
