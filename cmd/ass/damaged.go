package main

import (
	"errors"
	"fmt"

	"github.com/agentvault/agentvault"
)

// exitDamaged: the command did its work, except for stored records that
// could not be read (they fail their integrity check: altered or
// corrupted), each named in a warning on stderr. See "ass doctor".
const exitDamaged = 7

// damagedError ends a command that skipped unreadable records: exit 7,
// after its output.
type damagedError struct {
	op   string
	n    int
	what string // "record", "audit entry"
	// stopped: the command did nothing rather than work without them
	// (ass run does not start its command with secrets missing).
	stopped bool
	detail  string // with stopped: what is wrong, instead of the count
}

func (e *damagedError) Error() string {
	what := plural(e.n, e.what)
	if e.what == "audit entry" && e.n != 1 {
		what = fmt.Sprintf("%d audit entries", e.n)
	}
	if e.detail != "" {
		return e.op + ": " + e.detail
	}
	if e.stopped {
		return fmt.Sprintf(`%s: %s could not be read (integrity check failed: record altered or corrupted): nothing was run. Run "ass doctor"`, e.op, what)
	}
	return fmt.Sprintf(`%s: %s could not be read (integrity check failed: record altered or corrupted) and %s skipped; the rest was done. Run "ass doctor"`,
		e.op, what, map[bool]string{true: "was", false: "were"}[e.n == 1])
}

func (e *damagedError) Unwrap() error { return agentvault.ErrIntegrity }

// damaged returns the error that ends op after n skipped records: nil
// when there were none.
func damaged(op string, n int, what string) error {
	if n == 0 {
		return nil
	}
	return &damagedError{op: op, n: n, what: what}
}

// skipUnreadable takes apart the error of a library call that skipped
// unreadable records (an *agentvault.UnreadableError or
// *agentvault.UnreadableAuditError) and returned the rest: it writes one
// warning line per record to stderr and returns how many there were, and
// no error. Any other error is returned as it is.
func (c *cli) skipUnreadable(op string, err error) (int, error) {
	var ue *agentvault.UnreadableError
	var ae *agentvault.UnreadableAuditError
	var names []string
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ue):
		names = ue.Paths
	case errors.As(err, &ae):
		names = ae.Keys
	default:
		return 0, err
	}
	for _, n := range names {
		c.warnUnreadable(op, n)
	}
	return len(names), nil
}

// warnUnreadable writes the warning line for one unreadable record.
func (c *cli) warnUnreadable(op, name string) {
	fmt.Fprintf(c.stderr, "ass: warning: %s: integrity check failed: record altered or corrupted: %s\n", op, oneLine(name))
}
