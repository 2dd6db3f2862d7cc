package agentvault

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// issue18Pattern is the pattern of issue 18 that took over 60 s of CPU per
// match under the backtracking matcher: "*[!Z]?" 24 times, then "*Z*". It
// has 26 runs of '*', so ParseScope now refuses it; the benchmarks run it
// through the matcher directly to show the matcher alone is linear.
var issue18Pattern = strings.Repeat("*[!Z]?", 24) + "*Z*"

// adversarialPattern returns a random valid pattern of up to 512 bytes with
// MaxScopeStars runs of '*' spread among '?', classes and literals, and
// sometimes a brace group of starred alternatives: shapes that make a
// backtracking matcher explode.
func adversarialPattern(r *rand.Rand) string {
	var b strings.Builder
	stars := 0
	for b.Len() < 480 {
		switch k := r.IntN(10); {
		case k < 2 && stars < MaxScopeStars:
			b.WriteByte('*')
			stars++
		case k < 4:
			b.WriteString("[!Z]")
		case k < 5 && stars <= MaxScopeStars-2:
			b.WriteString("{*a?,?*b}")
			stars += 2
		case k < 6:
			b.WriteByte('a')
		default:
			b.WriteByte('?')
		}
	}
	if stars < MaxScopeStars {
		b.WriteByte('*')
	}
	return b.String()
}

func benchPaths(n int) []string {
	r := rand.New(rand.NewPCG(3, 4))
	out := make([]string, n)
	for i := range out {
		p := make([]byte, MaxPathLen)
		for k := range p {
			p[k] = "ab"[r.IntN(2)]
		}
		for k := 16; k < len(p)-1; k += 16 + r.IntN(16) {
			p[k] = '/'
		}
		out[i] = string(p)
		if err := ValidatePath(out[i]); err != nil {
			panic(err)
		}
	}
	return out
}

// BenchmarkScopeMatch measures one Match of adversarial patterns against
// MaxPathLen-byte paths (issue 18 asks for under 1 ms each):
//
//	GOWORK=off go test -run '^$' -bench BenchmarkScopeMatch -benchtime 2000x .
func BenchmarkScopeMatch(b *testing.B) {
	paths := benchPaths(16)
	b.Run("issue18-pattern/69-byte-path", func(b *testing.B) {
		m := compileMatcher(issue18Pattern)
		path := strings.Repeat("a", 69)
		for b.Loop() {
			if m.match(path) {
				b.Fatal("matched a path without Z")
			}
		}
	})
	b.Run("issue18-pattern/512-byte-paths", func(b *testing.B) {
		m := compileMatcher(issue18Pattern)
		i := 0
		for b.Loop() {
			m.match(paths[i%len(paths)])
			i++
		}
	})
	b.Run("star-then-511-questions", func(b *testing.B) {
		// The most live NFA nodes a valid pattern can have.
		sc, err := ParseScope("secrets:read:*" + strings.Repeat("?", MaxPathLen-1))
		if err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			sc.Match(paths[i%len(paths)])
			i++
		}
	})
	b.Run("random-adversarial", func(b *testing.B) {
		r := rand.New(rand.NewPCG(5, 6))
		scopes := make([]Scope, 64)
		for i := range scopes {
			sc, err := ParseScope("secrets:read:" + adversarialPattern(r))
			if err != nil {
				b.Fatal(err)
			}
			scopes[i] = sc
		}
		i := 0
		for b.Loop() {
			scopes[i%len(scopes)].Match(paths[i%len(paths)])
			i++
		}
	})
	b.Run("production-star", func(b *testing.B) {
		sc, _ := ParseScope("secrets:read:production/*")
		path := "production/" + paths[0][:MaxPathLen-len("production/")]
		for b.Loop() {
			sc.Match(path)
		}
	})
}
