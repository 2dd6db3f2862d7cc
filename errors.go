package agentvault

import (
	"errors"
	"strings"
)

// Errors returned by AgentVault methods, always wrapped in an *Error that
// names the operation, path and version. Test them with errors.Is.
var (
	// ErrNotFound is returned when no secret exists at the path, or the
	// requested version of it does not exist.
	ErrNotFound = errors.New("agentvault: secret not found")

	// ErrAlreadyExists is returned by CreateSecret when a secret exists at
	// the path. (The hosted product answers 409 Conflict.)
	ErrAlreadyExists = errors.New("agentvault: secret already exists")

	// ErrExpired is returned by GetSecret when the secret's expiry has
	// passed. The secret is kept and listed, but its value is not served
	// until the expiry is extended or cleared. (The hosted product answers
	// 410 Gone.)
	ErrExpired = errors.New("agentvault: secret expired")

	// ErrInvalidPath is returned, before any other work, when a path breaks
	// the path grammar (see ValidatePath). The message names the offending
	// segment.
	ErrInvalidPath = errors.New("agentvault: invalid path")

	// ErrInvalidInput is returned when an argument other than the path is
	// unacceptable: an unknown type or tier, a value, tag or description
	// over its limit, a malformed version id, contradictory expiry fields.
	ErrInvalidInput = errors.New("agentvault: invalid input")

	// ErrIntegrity is returned when stored data fails authentication:
	// a record, ciphertext or wrapped key was modified, truncated, copied
	// from another path or version, or the KeyProvider holds the wrong key;
	// and when the backend finds stored bytes it cannot parse itself (a
	// truncated file: backend.ErrCorrupt, which stays wrapped). This holds
	// for every kind of record: secrets, the vault configuration, tokens,
	// approvals, agents and audit entries. No plaintext is ever returned for
	// such data.
	ErrIntegrity = errors.New("agentvault: integrity check failed")

	// ErrConflict is returned when a write lost a race it could not retry:
	// UpdateSecretInput.IfVersion did not match the active version, or
	// concurrent writers kept changing the secret until the retry budget
	// ran out.
	ErrConflict = errors.New("agentvault: conflicting concurrent update")

	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("agentvault: vault closed")
)

// Error describes a failed operation on one secret. It unwraps to one of the
// sentinel errors above, or to the backend or KeyProvider error behind it.
// Error never contains a secret value.
type Error struct {
	Op      string // the method: "create", "get", "update", "delete", "list", "versions", "rollback"
	Path    string // the secret path, or "" for vault-wide operations
	Version string // "v3", or "" when no particular version is involved
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("agentvault: ")
	b.WriteString(e.Op)
	if e.Path != "" {
		b.WriteByte(' ')
		b.WriteString(noCredentialField(e.Path))
	}
	if e.Version != "" {
		b.WriteByte(' ')
		b.WriteString(noCredentialField(e.Version))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "agentvault: "))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func opErr(op, path, version string, err error) error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return err
	}
	return &Error{Op: op, Path: noCredentialField(path), Version: noCredentialField(version), Err: err}
}

// noCredentialField is s, or "[REDACTED]" if it holds a credential.
func noCredentialField(s string) string {
	if hasCredential(s) {
		return redacted
	}
	return s
}
