package agentvault

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gobwas/glob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// legacyMatch is the matcher Scope used before the NFA of scope_match.go:
// the pattern's braces expanded into plain globs, each compiled by
// gobwas/glob, with a shortest-match guard and a recover (see the git
// history of scope.go). It backtracks, so it is only run here on small
// inputs, to show the NFA keeps its semantics exactly.
func legacyMatch(pat, path string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	for _, alt := range legacyExpand(pat) {
		g, err := glob.Compile(alt)
		if err != nil {
			panic(err)
		}
		if len(path) >= legacyMinLen(alt) && g.Match(path) {
			return true
		}
	}
	return false
}

func legacyMinLen(p string) int {
	n := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*':
		case '[':
			i += strings.IndexByte(p[i:], ']')
			n++
		default:
			n++
		}
	}
	return n
}

func legacyExpand(p string) []string {
	out := []string{""}
	for len(p) > 0 {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			for k := range out {
				out[k] += p
			}
			break
		}
		for k := range out {
			out[k] += p[:i]
		}
		j := i + strings.IndexByte(p[i:], '}')
		var next []string
		for _, o := range out {
			for _, a := range strings.Split(p[i+1:j], ",") {
				next = append(next, o+a)
			}
		}
		out, p = next, p[j+1:]
	}
	for i, o := range out {
		for strings.Contains(o, "**") {
			o = strings.ReplaceAll(o, "**", "*")
		}
		out[i] = o
	}
	return out
}

// smallPattern reports whether pat is small enough for legacyMatch to run
// quickly: a valid pattern of at most 24 bytes and 4 runs of '*'.
func smallPattern(pat string) bool {
	return len(pat) <= 24 && validatePattern(pat) == nil && strings.Count(strings.ReplaceAll(pat, "**", "*"), "*") <= 4
}

// TestScopeMatchesLegacyMatcher compares the NFA with the gobwas-based
// matcher it replaced on random small patterns and paths over a tiny
// alphabet, where matches are frequent.
func TestScopeMatchesLegacyMatcher(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	const atoms = "ab/*?"
	classes := []string{"[ab]", "[!a]", "[a-b]", "[!/]"}
	randPat := func() string {
		var b strings.Builder
		for n := 1 + r.IntN(8); n > 0; n-- {
			switch k := r.IntN(10); {
			case k < 6:
				b.WriteByte(atoms[r.IntN(len(atoms))])
			case k < 8:
				b.WriteString(classes[r.IntN(len(classes))])
			default:
				b.WriteString([]string{"{a,b}", "{a*,b}", "{*/,?}", "{ab,a,*b*}"}[r.IntN(4)])
			}
		}
		return b.String()
	}
	disagree, matched, n := 0, 0, 0
	for n < 50_000 {
		pat := randPat()
		if !smallPattern(pat) {
			continue
		}
		n++
		var b strings.Builder
		for k := 1 + r.IntN(10); k > 0; k-- {
			b.WriteByte("ab/"[r.IntN(3)])
		}
		path := b.String()
		want := ValidatePath(path) == nil && legacyMatch(pat, path)
		sc, err := ParseScope("secrets:read:" + pat)
		require.NoError(t, err, "ParseScope(%q)", pat)
		if got := sc.Match(path); got != want {
			if disagree++; disagree <= 10 {
				t.Errorf("pattern %q path %q: Match = %v, legacy matcher = %v", pat, path, got, want)
			}
		}
		if want {
			matched++
		}
	}
	assert.Zero(t, disagree)
	assert.Greater(t, matched, n/20, "too few matching pairs to be a useful test")
}

// FuzzScopeMatch checks the NFA against the legacy matcher on every small
// valid pattern and path the fuzzer finds.
//
//	go test -run '^$' -fuzz FuzzScopeMatch -fuzztime 60s .
func FuzzScopeMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"production/*", "production/a/b"}, {"a*a", "a"}, {"{a,b*}/[!x]?", "bzz/yq"}, {"*[a-c]", "x/c"},
		{"**", "a"}, {"{a*,*b}c", "abc"}, {"a?/?", "ab/c"}, {"[!/]*", "/x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, path string) {
		if !smallPattern(pat) || len(path) > 32 {
			t.Skip()
		}
		sc, err := ParseScope("secrets:read:" + pat)
		if err != nil {
			t.Fatalf("ParseScope(%q): %v", pat, err)
		}
		want := ValidatePath(path) == nil && legacyMatch(pat, path)
		if got := sc.Match(path); got != want {
			t.Fatalf("pattern %q path %q: Match = %v, legacy matcher = %v", pat, path, got, want)
		}
	})
}
