package mcpserver

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPatternMatch: '*' matches any run (spaces included), the rest is
// literal and the whole line must match.
func TestPatternMatch(t *testing.T) {
	for _, tc := range []struct {
		pat, line string
		want      bool
	}{
		{"psql *", "psql -c select 1", true},
		{"psql *", "psql ", true},
		{"psql *", "psql", false},
		{"psql *", "xpsql -c 1", false},
		{"psql", "psql", true},
		{"psql", "psql -c 1", false},
		{"./migrate.sh", "./migrate.sh; rm -rf /", false},
		{"git * status", "git -C repo status", true},
		{"git * status", "git -C repo status --porcelain", false},
		{"*", "anything at all", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "acb", false},
		{"ab*ba", "aba", false}, // prefix and suffix may not overlap
		{"*.sh", "run.sh", true},
	} {
		p, err := parsePattern(tc.pat)
		assert.NoError(t, err)
		assert.Equal(t, tc.want, p.match(tc.line), "pattern %q on %q", tc.pat, tc.line)
	}
	for _, bad := range []string{"", "  ", "a\nb", "a\x00"} {
		_, err := parsePattern(bad)
		assert.ErrorIs(t, err, ErrInvalidOptions, "parsePattern(%q)", bad)
	}
}

// TestPatternMatchLinear: a pathological line is matched quickly (one
// strings.Index per star), not by backtracking.
func TestPatternMatchLinear(t *testing.T) {
	p, _ := parsePattern(strings.Repeat("a*", 50) + "b")
	assert.False(t, p.match(strings.Repeat("a", 100000)))
}

// TestEnvNameOK refuses loader, shell and credential variables.
func TestEnvNameOK(t *testing.T) {
	for _, ok := range []string{"DATABASE_URL", "OPENAI_API_KEY", "GOOGLE_API_KEY", "PGPASSWORD", "X", "_TOKEN2"} {
		assert.True(t, envNameOK(ok), ok)
	}
	for _, bad := range []string{"", "PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "BASH_ENV", "ENV", "IFS",
		"NODE_OPTIONS", "PYTHONSTARTUP", "PERL5OPT", "ASS_TOKEN", "ASS_AGENT_KEY", "HOME", "GIT_SSH_COMMAND", "GOFLAGS",
		"lower", "1ABC", "A-B", "A B", "A=B"} {
		assert.False(t, envNameOK(bad), bad)
	}
}

// TestMaskerForms: every form of every value is replaced, longest first.
func TestMaskerForms(t *testing.T) {
	m := newMasker(map[string]string{"A": "p@ss word/+?", "B": "", "C": "p@ss"})
	in := "p@ss word/+? cEBzcyB3b3JkLys/ cEBzcyB3b3JkLys_ 7040737320776f72642f2b3f 7040737320776F72642F2B3F p%40ss+word%2F%2B%3F p@ss%20word%2F+%3F and p@ss"
	got := string(m.mask([]byte(in), len(in)))
	assert.Equal(t, strings.Repeat("[REDACTED:A] ", 6)+"[REDACTED:A] and [REDACTED:C]", got)
	assert.Equal(t, "abc", string(newMasker(nil).mask([]byte("abcdef"), 3)))
}
