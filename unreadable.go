package agentvault

import (
	"strconv"
	"strings"
)

// UnreadableError reports stored records that a listing skipped because
// they could not be read: they failed authentication (altered, truncated,
// copied from elsewhere) or could not be parsed. It unwraps to
// ErrIntegrity.
//
// ListSecrets returns it (wrapped in an *Error) together with the metadata
// of every readable secret that matched, so one corrupt record never hides
// the others: callers that want the partial listing use errors.As and keep
// the results; callers that only check err see an ErrIntegrity failure.
// Through a Session, only unreadable records that a read scope of the token
// (and its agent's ceiling) covers are reported, and only to a token
// issued for the critical tier (an unreadable record's tier is unknown, so
// it is treated as critical); the others are skipped silently and never
// named.
//
// ListTokens, ListApprovals and ListAgents report unreadable records the
// same way, naming them by token accessor, approval id or agent id.
type UnreadableError struct {
	Paths []string // the secrets' paths (or accessors, ids), sorted
}

func (e *UnreadableError) Error() string {
	var b strings.Builder
	b.WriteString("agentvault: ")
	b.WriteString(strconv.Itoa(len(e.Paths)))
	b.WriteString(" record(s) could not be read (integrity check failed: record altered or corrupted): ")
	const show = 10
	for i, p := range e.Paths {
		if i == show {
			b.WriteString(", and " + strconv.Itoa(len(e.Paths)-show) + " more")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p)
	}
	return b.String()
}

// Unwrap returns ErrIntegrity.
func (e *UnreadableError) Unwrap() error { return ErrIntegrity }
