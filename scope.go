package agentvault

import (
	"fmt"
	"strings"
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
// The pattern is a glob over secret paths: '*' matches any run of
// characters including '/', so "secrets:write:staging/*" covers the whole staging namespace and
// "secrets:*:*" is full access; '?' matches one character; "[abc]",
// "[a-z]", "[!abc]" and "[!a-z]" match one character of (or outside) a list
// or range; "{a,b*}" matches any of its comma-separated alternatives.
// Everything else is literal. Patterns are at most 512 bytes of path
// characters (A-Z a-z 0-9 . _ - /) and those metacharacters; braces do not
// nest, lists do not contain '-', and there is no escape character (no path
// character needs one). A path is checked with ValidatePath before it is
// matched, so no pattern can match "..", "//", encoded or non-ASCII forms.
//
// A pattern holds at most MaxScopeStars runs of '*' and its braces expand
// to at most MaxScopeAlternatives combinations; ParseScope refuses more.
// Matching never backtracks: its time is linear in the path's length (times
// the pattern's length / 64), whatever the pattern — tens of microseconds
// at most for any valid pattern and path. The vault's loops that match
// scopes against every secret (tier evaluation of a token request, a
// session's listing) stop with the caller's context error when it ends.
//
// A Scope is immutable and safe for concurrent use. The zero Scope allows
// nothing.
type Scope struct {
	Action  ScopeAction
	Pattern string
	m       *matcher
}

// Limits on a scope pattern's complexity, beyond its length (MaxPathLen).
const (
	// MaxScopeStars is the most runs of '*' a pattern may hold.
	MaxScopeStars = 16
	// MaxScopeAlternatives is the most combinations a pattern's brace
	// groups may expand to ("{a,b}/{c,d}" expands to 4).
	MaxScopeAlternatives = 64
)

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
	return Scope{Action: a, Pattern: pat, m: compileMatcher(pat)}, nil
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
func (s Scope) Match(path string) bool {
	return s.m != nil && ValidatePath(path) == nil && s.m.match(path)
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
	if s.m == nil || c.m == nil {
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
	stars := 0
	combos, alts := 1, 0 // combinations so far; alternatives of the open group
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '*':
			if i == 0 || p[i-1] != '*' {
				if stars++; stars > MaxScopeStars {
					return fmt.Errorf("more than %d '*' wildcards (runs of '*' count once)", MaxScopeStars)
				}
			}
			alt++
		case segmentByte(c) || c == '/' || c == '?':
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
			inBrace, alt, alts = true, 0, 1
		case c == ',' && inBrace:
			if alt == 0 {
				return fmt.Errorf("empty alternative before byte %d", i)
			}
			alt, alts = 0, alts+1
		case c == '}' && inBrace:
			if alt == 0 {
				return fmt.Errorf("empty alternative before byte %d", i)
			}
			inBrace, alt = false, 1
			if combos *= alts; combos > MaxScopeAlternatives {
				return fmt.Errorf("braces expand to more than %d alternatives", MaxScopeAlternatives)
			}
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
