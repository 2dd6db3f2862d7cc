package agentvault

import (
	"context"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// invalidActor is the actor id recorded in the audit event of a call
// refused because its context named an invalid actor: the invalid string
// itself is never stored, truncated or re-encoded.
const invalidActor = "[invalid actor]"

// validateName checks an identity string (an actor, approver, requester or
// agent name) or a short free-text reason: 1 to max bytes of valid UTF-8,
// no control or format characters (C0, DEL, C1, U+200B…, bidi controls,
// line and paragraph separators), no credential. Names are compared and
// stored byte for byte, so anything that could be re-encoded or truncated
// into another name is refused. what names the field in the error; the
// value is never quoted.
func validateName(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidInput, what)
	case len(s) > max:
		return fmt.Errorf("%w: %s is %d bytes, longer than %d", ErrInvalidInput, what, len(s), max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidInput, what)
	}
	for i, r := range s {
		if controlRune(r) {
			return fmt.Errorf("%w: %s holds control character U+%04X at byte %d", ErrInvalidInput, what, r, i)
		}
	}
	return noCredential(what, s)
}

// controlRune reports the runes no name may hold.
func controlRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}

// validateReason checks a free-text reason (Deny): like a name but up to
// MaxDescriptionLen bytes, and it may be empty.
func validateReason(s string) error {
	if s == "" {
		return nil
	}
	return validateName("reason", s, MaxDescriptionLen)
}

// ctxActor returns the caller named by the context (ContextWithActor), or
// the vault's default actor. A context actor that fails validateName is an
// error (wrapping ErrInvalidInput); the Actor returned with it is the
// placeholder invalidActor, for the audit event of the refused call.
func (v *AgentVault) ctxActor(ctx context.Context) (Actor, error) {
	a, ok := ActorFromContext(ctx)
	if !ok {
		return Actor{Kind: ActorService, ID: v.opts.actor}, nil
	}
	if err := validateName("actor (ContextWithActor)", a, MaxActorLen); err != nil {
		return Actor{Kind: ActorHuman, ID: invalidActor}, err
	}
	return Actor{Kind: ActorHuman, ID: a}, nil
}
