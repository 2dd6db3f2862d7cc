package envfile

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors returned by this package. Parse wraps ErrSyntax or ErrTooLarge in a
// *ParseError; Format and File.WriteTo wrap ErrInvalidEntry. Test them with
// errors.Is.
var (
	// ErrSyntax is returned (inside a *ParseError) when the input is not a
	// well-formed .env file: an invalid variable name, a missing '=', an
	// unterminated quote, text after a closing quote, invalid UTF-8, a NUL
	// byte or a carriage return that does not end a line.
	ErrSyntax = errors.New("envfile: syntax error")

	// ErrTooLarge is returned (inside a *ParseError) when the input exceeds
	// the total size limit (WithMaxBytes), a line exceeds the line length
	// limit (WithMaxLineBytes), or the input defines more distinct
	// variables than WithMaxEntries allows.
	ErrTooLarge = errors.New("envfile: input too large")

	// ErrInvalidEntry is returned by Format and File.WriteTo when an entry
	// cannot be written as a line that Parse reads back exactly: its key is
	// not a valid variable name (see ValidKey), or its value is not valid
	// UTF-8 or contains a NUL byte.
	ErrInvalidEntry = errors.New("envfile: invalid entry")
)

// ParseError describes why Parse rejected its input.
//
// Its message names the line and, where one has been declared, the variable,
// but never contains any part of a value: values are secrets. For the same
// reason the text of a line that does not declare a variable (an invalid
// name, a missing '=') is never quoted either, since it may be a pasted
// secret.
type ParseError struct {
	// Line is the 1-based line the error was found on, or 0 when the error
	// concerns the input as a whole (ErrTooLarge for the total size).
	Line int
	// Key is the variable whose value was being parsed, or "" when the
	// error came before a name was declared (a name and its '=').
	Key string
	// Msg describes the problem, without the "envfile: line N: " prefix.
	Msg string
	// Err is ErrSyntax or ErrTooLarge.
	Err error
}

// Error returns a message like
// "envfile: line 12: unterminated double quote in value of DB_PASS (opened at line 10)".
func (e *ParseError) Error() string {
	if e.Line <= 0 {
		return "envfile: " + e.Msg
	}
	return "envfile: line " + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Unwrap returns e.Err, so that errors.Is(err, ErrSyntax) and
// errors.Is(err, ErrTooLarge) work.
func (e *ParseError) Unwrap() error { return e.Err }

func syntaxErr(line int, key, format string, args ...any) *ParseError {
	return &ParseError{Line: line, Key: key, Msg: fmt.Sprintf(format, args...), Err: ErrSyntax}
}

func tooLargeErr(line int, format string, args ...any) *ParseError {
	return &ParseError{Line: line, Msg: fmt.Sprintf(format, args...), Err: ErrTooLarge}
}

func invalidEntryErr(index int, key, format string, args ...any) error {
	where := "entries[" + strconv.Itoa(index) + "]"
	if key != "" {
		where += " (" + key + ")"
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalidEntry, where, fmt.Sprintf(format, args...))
}
