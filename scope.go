package agentvault

import (
	"fmt"
	"strings"

	"github.com/gobwas/glob"
)

// ScopeAction is what a scope allows: reading, writing (create and
// update), deleting, or all three ("*").
type ScopeAction string

// The scope actions.
const (
	ActionRead   ScopeAction = "read"
	ActionWrite  ScopeAction = "write"
	ActionDelete ScopeAction = "delete"
	ActionAll    ScopeAction = "*"
)

// MaxScopes is the largest number of scopes one token or agent may carry.
const MaxScopes = 64

// Scope is a parsed scope string "secrets:<action>:<pattern>", for example
// "secrets:read:production/openai/*".
//
// The pattern is a glob over secret paths (github.com/gobwas/glob, with no
// separator): '*' matches any run of characters including '/', so
// "secrets:write:staging/*" covers the whole staging namespace and
// "secrets:*:*" is full access; '?' matches one character; "[abc]",
// "[a-z]", "[!abc]" and "[!a-z]" match one character of (or outside) a list
// or range; "{a,b*}" matches any of its comma-separated alternatives.
// Everything else is literal. Patterns are at most 512 bytes of path
// characters (A-Z a-z 0-9 . _ - /) and those metacharacters; braces do not
// nest, lists do not contain '-', and there is no escape character (no path
// character needs one). A path is checked with ValidatePath before it is
// matched, so no pattern can match "..", "//", encoded or non-ASCII forms.
//
// A Scope is immutable and safe for concurrent use. The zero Scope allows
// nothing.
type Scope struct {
	Action  ScopeAction
	Pattern string
	g       []glob.Glob // one per brace expansion of Pattern
	minLen  []int       // the shortest string each of g can match
}

// maxExpansions bounds the number of plain globs a pattern's braces expand to.
const maxExpansions = 64

// ParseScope parses "secrets:<read|write|delete|*>:<pattern>". The error
// wraps ErrInvalidInput and says what is wrong.
func ParseScope(s string) (Scope, error) {
	rest, ok := strings.CutPrefix(s, "secrets:")
	if !ok {
		return Scope{}, scopeErr(s, `must start with "secrets:" (secrets:<read|write|delete|*>:<pattern>)`)
	}
	act, pat, ok := strings.Cut(rest, ":")
	if !ok {
		return Scope{}, scopeErr(s, "missing ':<pattern>' (secrets:<read|write|delete|*>:<pattern>)")
	}
	a := ScopeAction(act)
	switch a {
	case ActionRead, ActionWrite, ActionDelete, ActionAll:
	default:
		return Scope{}, scopeErr(s, fmt.Sprintf("unknown action %q (want read, write, delete or *)", truncate(act, 16)))
	}
	if err := validatePattern(pat); err != nil {
		return Scope{}, scopeErr(s, err.Error())
	}
	alts := expandBraces(pat)
	if len(alts) > maxExpansions {
		return Scope{}, scopeErr(s, fmt.Sprintf("braces expand to %d patterns, more than %d", len(alts), maxExpansions))
	}
	sc := Scope{Action: a, Pattern: pat, g: make([]glob.Glob, len(alts)), minLen: make([]int, len(alts))}
	for i, alt := range alts {
		g, err := glob.Compile(alt)
		if err != nil {
			return Scope{}, scopeErr(s, "pattern does not compile: "+err.Error())
		}
		sc.g[i], sc.minLen[i] = g, minMatchLen(alt)
	}
	return sc, nil
}

// ParseScopes parses every scope of ss; see ParseScope.
func ParseScopes(ss []string) ([]Scope, error) {
	if len(ss) == 0 {
		return nil, fmt.Errorf("%w: no scopes", ErrInvalidInput)
	}
	if len(ss) > MaxScopes {
		return nil, fmt.Errorf("%w: %d scopes, more than %d", ErrInvalidInput, len(ss), MaxScopes)
	}
	out := make([]Scope, len(ss))
	for i, s := range ss {
		sc, err := ParseScope(s)
		if err != nil {
			return nil, err
		}
		out[i] = sc
	}
	return out, nil
}

func scopeErr(s, why string) error {
	return fmt.Errorf("%w: scope %q: %s", ErrInvalidInput, truncate(s, 96), why)
}

// String returns the scope in its textual form.
func (s Scope) String() string { return "secrets:" + string(s.Action) + ":" + s.Pattern }

// Match reports whether path is a valid path (see ValidatePath) matched by
// the scope's pattern, whatever the action.
func (s Scope) Match(path string) (ok bool) {
	if s.g == nil || ValidatePath(path) != nil {
		return false
	}
	defer func() {
		if recover() != nil { // gobwas must never take the process down
			ok = false
		}
	}()
	for i, g := range s.g {
		// gobwas matches "a*a" against "a" (its prefix-suffix matcher lets
		// the two overlap); no string shorter than the pattern's fixed
		// part can match, so check that first.
		if len(path) >= s.minLen[i] && g.Match(path) {
			return true
		}
	}
	return false
}

// minMatchLen returns the length of the shortest string a brace-free
// validated pattern matches: one per literal, '?' or class; none per '*'.
func minMatchLen(p string) int {
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

// expandBraces rewrites a validated pattern into brace-free globs, one per
// combination of alternatives, with every run of '*' collapsed to one.
// gobwas/glob mis-matches (and can panic on) some patterns that combine
// alternatives with wildcards, or use "**" without separators; the
// differential test in scope_test.go found them. Brace-free patterns with
// single stars it matches correctly. Expansion stops early past
// maxExpansions (the caller rejects the pattern).
func expandBraces(p string) []string {
	out := []string{""}
	for len(p) > 0 {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			out = appendAll(out, p)
			break
		}
		out = appendAll(out, p[:i])
		j := i + strings.IndexByte(p[i:], '}')
		alts := strings.Split(p[i+1:j], ",")
		next := make([]string, 0, len(out)*len(alts))
		for _, o := range out {
			for _, a := range alts {
				next = append(next, o+a)
			}
			if len(next) > maxExpansions {
				return next
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

func appendAll(out []string, s string) []string {
	for i := range out {
		out[i] += s
	}
	return out
}

// Allows reports whether the scope permits action on path: its action is
// action or ActionAll, and its pattern matches path (see Match).
func (s Scope) Allows(action ScopeAction, path string) bool {
	return s.permits(action) && s.Match(path)
}

func (s Scope) permits(action ScopeAction) bool {
	return s.Action == ActionAll || s.Action == action
}

// Covers reports, conservatively, whether s allows everything c allows: every
// action of c is an action of s, and every path c's pattern can match is
// matched by s's pattern. It is true only when the patterns are equal, when
// c's pattern is a literal path that s matches, or when s's pattern is a
// literal prefix followed by a single final '*' (as in "production/*" or
// "*") and c's pattern starts with that same literal prefix. Other pairs are
// reported as not covered even when they are, so a ceiling never grants
// more than it says.
func (s Scope) Covers(c Scope) bool {
	if s.g == nil || c.g == nil {
		return false
	}
	if s.Action != ActionAll && s.Action != c.Action {
		return false
	}
	if s.Pattern == c.Pattern {
		return true
	}
	if isLiteral(c.Pattern) {
		return s.Match(c.Pattern)
	}
	prefix, ok := strings.CutSuffix(s.Pattern, "*")
	if !ok || !isLiteral(prefix) {
		return false
	}
	return len(c.Pattern) >= len(prefix) && c.Pattern[:len(prefix)] == prefix
}

func isLiteral(p string) bool { return !strings.ContainsAny(p, "*?[]{},!\\") }

// validatePattern checks the pattern grammar described on Scope.
func validatePattern(p string) error {
	if p == "" {
		return fmt.Errorf("empty pattern")
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("pattern is %d bytes, longer than %d", len(p), MaxPathLen)
	}
	inBrace, alt := false, 0 // alt: bytes in the current alternative
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case segmentByte(c) || c == '/' || c == '*' || c == '?':
			alt++
		case c == '[':
			end, err := bracketEnd(p, i)
			if err != nil {
				return err
			}
			i, alt = end, alt+1
		case c == '{':
			if inBrace {
				return fmt.Errorf("nested '{' at byte %d (braces do not nest)", i)
			}
			inBrace, alt = true, 0
		case c == ',' && inBrace:
			if alt == 0 {
				return fmt.Errorf("empty alternative before byte %d", i)
			}
			alt = 0
		case c == '}' && inBrace:
			if alt == 0 {
				return fmt.Errorf("empty alternative before byte %d", i)
			}
			inBrace, alt = false, 1
		default:
			return fmt.Errorf("unexpected %q at byte %d (allowed: A-Z a-z 0-9 . _ - / * ? [...] {a,b})", rune(c), i)
		}
	}
	if inBrace {
		return fmt.Errorf("unclosed '{'")
	}
	return nil
}

// bracketEnd checks the class starting at p[i] == '[' and returns the index
// of its ']'.
func bracketEnd(p string, i int) (int, error) {
	j := i + 1
	if j < len(p) && p[j] == '!' {
		j++
	}
	start := j
	for j < len(p) && p[j] != ']' {
		if !segmentByte(p[j]) {
			return 0, fmt.Errorf("unexpected %q in [...] at byte %d", rune(p[j]), j)
		}
		j++
	}
	if j >= len(p) {
		return 0, fmt.Errorf("unclosed '[' at byte %d", i)
	}
	body := p[start:j]
	switch {
	case body == "":
		return 0, fmt.Errorf("empty [...] at byte %d", i)
	case len(body) == 3 && body[1] == '-':
		if body[0] > body[2] {
			return 0, fmt.Errorf("range %q at byte %d is reversed", body, i)
		}
	case strings.Contains(body, "-"):
		return 0, fmt.Errorf("[...] at byte %d: use one range [a-z] or a list without '-'", i)
	}
	return j, nil
}
