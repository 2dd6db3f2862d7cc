package agentvault

import "context"

type viaKey struct{}

// MaxViaLen is the longest name ContextWithVia records.
const MaxViaLen = 32

// ContextWithVia returns a context naming the surface an operation came
// through, such as "mcp" for the MCP server: every audit event written for
// a call with this context records it in AuditEvent.Via. via must be 1 to
// MaxViaLen bytes of lowercase letters, digits, '-' and '_'; any other
// value is ignored (the events record no surface), so an identity is never
// truncated or re-encoded.
func ContextWithVia(ctx context.Context, via string) context.Context {
	if !validVia(via) {
		return ctx
	}
	return context.WithValue(ctx, viaKey{}, via)
}

// viaFromContext returns the surface set by ContextWithVia, or "".
func viaFromContext(ctx context.Context) string {
	s, _ := ctx.Value(viaKey{}).(string)
	return s
}

func validVia(s string) bool {
	if len(s) == 0 || len(s) > MaxViaLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
