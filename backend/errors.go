package backend

import (
	"fmt"
	"unicode/utf8"
)

func errInvalidKey(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidKey, reason)
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
