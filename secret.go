package agentvault

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// SecretType classifies a secret for display, filtering, audit enrichment
// and rotation routing. It never grants or denies access.
type SecretType string

// The secret types.
const (
	TypeAPIKey            SecretType = "api_key"
	TypeOAuthToken        SecretType = "oauth_token"
	TypeDBCredential      SecretType = "db_credential"
	TypeSSHKey            SecretType = "ssh_key"
	TypePaymentCredential SecretType = "payment_credential"
	TypeCertificate       SecretType = "certificate"
	TypeCustom            SecretType = "custom" // the default
)

var secretTypes = []SecretType{TypeAPIKey, TypeOAuthToken, TypeDBCredential, TypeSSHKey,
	TypePaymentCredential, TypeCertificate, TypeCustom}

// SecretTypes returns every secret type, in documentation order.
func SecretTypes() []SecretType { return append([]SecretType(nil), secretTypes...) }

// Valid reports whether t is one of the known types.
func (t SecretType) Valid() bool {
	for _, k := range secretTypes {
		if t == k {
			return true
		}
	}
	return false
}

// ParseSecretType returns the type named s, or an error wrapping ErrInvalidInput.
func ParseSecretType(s string) (SecretType, error) {
	t := SecretType(s)
	if !t.Valid() {
		names := make([]string, len(secretTypes))
		for i, k := range secretTypes {
			names[i] = string(k)
		}
		return "", fmt.Errorf("%w: unknown type %q (want one of %s)", ErrInvalidInput, truncate(s, 32), strings.Join(names, ", "))
	}
	return t, nil
}

const redacted = "[REDACTED]"

// SecretValue holds a secret's plaintext. It never prints it: String,
// GoString, every fmt verb, JSON, text marshalling and slog all give
// "[REDACTED]". Reveal and Bytes return the plaintext, as copies.
//
// The zero SecretValue is an empty value. A SecretValue is immutable and
// safe for concurrent use.
type SecretValue struct {
	b []byte
}

// NewValue returns a SecretValue holding a copy of b.
func NewValue(b []byte) SecretValue { return SecretValue{b: append([]byte{}, b...)} }

// StringValue returns a SecretValue holding s.
func StringValue(s string) SecretValue { return SecretValue{b: []byte(s)} }

// Reveal returns the plaintext as a string.
func (v SecretValue) Reveal() string { return string(v.b) }

// Bytes returns a copy of the plaintext.
func (v SecretValue) Bytes() []byte { return append([]byte{}, v.b...) }

// Len returns the plaintext's length in bytes (not secret: ciphertext sizes reveal it anyway).
func (v SecretValue) Len() int { return len(v.b) }

// Equal reports whether v and w hold the same plaintext.
func (v SecretValue) Equal(w SecretValue) bool { return string(v.b) == string(w.b) }

// String returns "[REDACTED]".
func (SecretValue) String() string { return redacted }

// GoString returns "[REDACTED]".
func (SecretValue) GoString() string { return redacted }

// Format prints "[REDACTED]" for every verb (%v %+v %#v %s %q %x %d …).
func (SecretValue) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON returns "[REDACTED]" as a JSON string.
func (SecretValue) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText returns "[REDACTED]".
func (SecretValue) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue makes slog print "[REDACTED]".
func (SecretValue) LogValue() slog.Value { return slog.StringValue(redacted) }

// SecretMetadata is everything about a secret except its value: what
// ListSecrets returns. The zero ExpiresAt means the secret never expires.
type SecretMetadata struct {
	Path        string            `json:"path"`
	Type        SecretType        `json:"type"`
	Tier        AccessTier        `json:"tier"`
	Tags        map[string]string `json:"tags,omitempty"`
	Description string            `json:"description,omitempty"`
	CreatedBy   string            `json:"created_by"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	Version     string            `json:"version"` // the active version, e.g. "v3"
	ExpiresAt   time.Time         `json:"expires_at"`

	// PreviousVersion is the version that was active before the last
	// rotation, when that rotation gave it a grace period, and GraceEndsAt
	// is when the grace ends (or ended): until then the previous version is
	// readable as AtVersion("previous"). Both are zero without a grace period.
	PreviousVersion string    `json:"previous_version,omitempty"`
	GraceEndsAt     time.Time `json:"grace_ends_at,omitzero"`

	// RotateEvery is the secret's rotation schedule (zero: none) and
	// NextRotationAt when the next scheduled rotation is due (see
	// SetRotationSchedule).
	RotateEvery    time.Duration `json:"rotate_every,omitempty"`
	NextRotationAt time.Time     `json:"next_rotation_at,omitzero"`
}

// InGrace reports whether the previous version is still readable as
// "previous" at now.
func (m *SecretMetadata) InGrace(now time.Time) bool {
	return m.PreviousVersion != "" && now.Before(m.GraceEndsAt)
}

// Expired reports whether the secret's expiry is set and not after now.
func (m *SecretMetadata) Expired(now time.Time) bool {
	return !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt)
}

// Secret is one version of a secret, with its value. Version is the version
// returned (the active one unless another was asked for).
type Secret struct {
	SecretMetadata
	Value SecretValue `json:"value"`
}

// CreateSecretInput describes a new secret. Path and Value are required.
type CreateSecretInput struct {
	Path        string
	Value       SecretValue
	Type        SecretType        // default TypeCustom
	Tier        AccessTier        // default TierSensitive
	Tags        map[string]string // at most 64; keys 1–128 bytes, values up to 512 bytes
	Description string            // up to 1 KiB
	ExpiresAt   time.Time         // zero: never; must be in the future
	ExpiresIn   time.Duration     // alternative to ExpiresAt, relative to now
}

// UpdateSecretInput changes a secret. Nil or zero fields are left as they
// are. A new Value creates a new version and makes it active; every other
// field changes metadata only and creates no version.
type UpdateSecretInput struct {
	Value       *SecretValue      // new version with this value
	Type        SecretType        // "" keeps the type
	Tier        AccessTier        // "" keeps the tier
	Tags        map[string]string // nil keeps the tags; non-nil replaces them all (an empty map removes them)
	SetTags     map[string]string // adds or changes these tags, keeping the others (applied after Tags)
	RemoveTags  []string          // removes these tag keys (applied before SetTags)
	Description *string           // nil keeps the description
	ExpiresAt   *time.Time        // set or extend the expiry (a past time stops serving at once)
	ExpiresIn   time.Duration     // set the expiry to now + ExpiresIn
	ClearExpiry bool              // remove the expiry
	IfVersion   string            // if set, fail with ErrConflict unless this is the active version

	// GracePeriod, with a new Value, keeps the version it replaces readable
	// as AtVersion("previous") (and safe from retention) for this long.
	// Zero: no grace period (the replaced version is an ordinary inactive
	// version at once).
	GracePeriod time.Duration
}

// ListFilter selects secrets for ListSecrets. Zero fields match everything.
type ListFilter struct {
	Prefix         string            // path prefix, e.g. "production/" or "production/open"
	Type           SecretType        // exact type
	Tier           AccessTier        // exact tier
	Tags           map[string]string // every tag must be present with this value
	ExpiringWithin time.Duration     // only secrets whose expiry is set and at most this far away (already expired included)
}

// VersionInfo describes one version of a secret. A version removed by the
// retention policy is listed with Pruned set and only its Version filled in.
type VersionInfo struct {
	Version   string    `json:"version"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	CreatedBy string    `json:"created_by,omitempty"`
	IsActive  bool      `json:"is_active"`

	// IsPrevious marks the version readable as "previous" until
	// GraceEndsAt (set while the grace lasts, and after it until the next
	// activation).
	IsPrevious  bool      `json:"is_previous,omitempty"`
	GraceEndsAt time.Time `json:"grace_ends_at,omitzero"`
	Pruned      bool      `json:"pruned,omitempty"` // removed by the retention policy: no value is stored

	// MinTier is set when reading this version through a token needs a
	// higher tier than the secret's current one: the tier the version was
	// written at, kept when the secret's tier was lowered since.
	MinTier AccessTier `json:"min_tier,omitempty"`
}

// Input limits.
const (
	DefaultMaxValueSize = 64 << 10 // bytes; change with WithMaxValueSize
	MaxTags             = 64
	MaxTagKeyLen        = 128
	MaxTagValueLen      = 512
	MaxDescriptionLen   = 1024
	MaxActorLen         = 256
	MaxPathLen          = 512
	MaxPathSegments     = 32
)

// ValidatePath checks p against the path grammar: 1–32 segments joined by
// '/', each segment one or more of A–Z a–z 0–9 '.' '_' '-' and not "." or
// "..", no leading, trailing or doubled '/', at most 512 bytes, and no
// credential: a path containing the token prefix "ast_tok_" or the agent
// key prefix "ast_agent_" is refused (a token pasted where a path belongs
// must not reach an error message or the audit trail). Paths are
// case-sensitive and used exactly as given (there is no normalisation, so
// the string checked is the string stored and authenticated). The error
// wraps ErrInvalidPath and names the offending segment (never a
// credential).
func ValidatePath(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty path", ErrInvalidPath)
	}
	if hasCredential(p) {
		return errCredentialPath
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidPath, len(p), MaxPathLen)
	}
	if p[0] == '/' {
		return fmt.Errorf("%w: leading '/'", ErrInvalidPath)
	}
	if p[len(p)-1] == '/' {
		return fmt.Errorf("%w: trailing '/'", ErrInvalidPath)
	}
	seg, start := 0, 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		seg++
		if seg > MaxPathSegments {
			return fmt.Errorf("%w: more than %d segments", ErrInvalidPath, MaxPathSegments)
		}
		s := p[start:i]
		if err := validateSegment(seg, s); err != nil {
			return err
		}
		start = i + 1
	}
	return nil
}

func validateSegment(n int, s string) error {
	switch s {
	case "":
		return fmt.Errorf("%w: segment %d is empty (doubled '/')", ErrInvalidPath, n)
	case ".", "..":
		return fmt.Errorf("%w: segment %d is %q", ErrInvalidPath, n, s)
	}
	for i := 0; i < len(s); i++ {
		if !segmentByte(s[i]) {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return fmt.Errorf("%w: segment %d %q contains %q (allowed: A-Z a-z 0-9 . _ -)",
				ErrInvalidPath, n, truncate(s, 64), r)
		}
	}
	return nil
}

func segmentByte(c byte) bool { return segmentBytes[c] }

// segmentBytes marks the bytes allowed in a path segment: A-Z a-z 0-9 . _ -
var segmentBytes = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	return t
}()

// validPrefix checks a ListFilter prefix: path characters and '/' only.
func validPrefix(p string) error {
	if hasCredential(p) {
		return errCredentialPath
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("%w: prefix is %d bytes, longer than %d", ErrInvalidPath, len(p), MaxPathLen)
	}
	for i := 0; i < len(p); i++ {
		if !segmentByte(p[i]) && p[i] != '/' {
			r, _ := utf8.DecodeRuneInString(p[i:])
			return fmt.Errorf("%w: prefix %q contains %q", ErrInvalidPath, truncate(p, 64), r)
		}
	}
	return nil
}

func validateTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: %d tags, more than %d", ErrInvalidInput, len(tags), MaxTags)
	}
	for k, v := range tags {
		if k == "" {
			return fmt.Errorf("%w: empty tag key", ErrInvalidInput)
		}
		if err := noCredential("tag key", k); err != nil {
			return err
		}
		if len(k) > MaxTagKeyLen {
			return fmt.Errorf("%w: tag key %q… is %d bytes, longer than %d", ErrInvalidInput, truncate(k, 32), len(k), MaxTagKeyLen)
		}
		if len(v) > MaxTagValueLen {
			return fmt.Errorf("%w: tag %q value is %d bytes, longer than %d", ErrInvalidInput, truncate(k, 32), len(v), MaxTagValueLen)
		}
		if !printable(k) {
			return fmt.Errorf("%w: tag key %q is not printable UTF-8", ErrInvalidInput, truncate(k, 32))
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("%w: tag %q value is not valid UTF-8", ErrInvalidInput, truncate(k, 32))
		}
	}
	return nil
}

func validateDescription(d string) error {
	if err := noCredential("description", d); err != nil {
		return err
	}
	if len(d) > MaxDescriptionLen {
		return fmt.Errorf("%w: description is %d bytes, longer than %d", ErrInvalidInput, len(d), MaxDescriptionLen)
	}
	if !utf8.ValidString(d) {
		return fmt.Errorf("%w: description is not valid UTF-8", ErrInvalidInput)
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func sortedTagKeys(tags map[string]string) []string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// errCredentialPath refuses a path or prefix that holds a credential.
var errCredentialPath = fmt.Errorf("%w: it holds a credential (%s… or %s…): refused and not recorded", ErrInvalidPath, TokenPrefix, AgentKeyPrefix)

// hasCredential reports whether s contains a token or agent key prefix:
// such a string is never echoed in an error, stored as a name or recorded
// in the audit trail.
func hasCredential(s string) bool {
	// Both prefixes start with credentialStem: one scan finds either.
	for i := strings.Index(s, credentialStem); i >= 0; {
		if rest := s[i:]; strings.HasPrefix(rest, TokenPrefix) || strings.HasPrefix(rest, AgentKeyPrefix) {
			return true
		}
		j := strings.Index(s[i+1:], credentialStem)
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// credentialStem is what TokenPrefix and AgentKeyPrefix start with.
const credentialStem = "ast_"

// noCredential refuses a non-path input (a name, description, reason,
// scope) that holds a credential. what names the field.
func noCredential(what, s string) error {
	if hasCredential(s) {
		return fmt.Errorf("%w: %s holds a credential (%s… or %s…): refused and not recorded", ErrInvalidInput, what, TokenPrefix, AgentKeyPrefix)
	}
	return nil
}

// truncate shortens s for an error message, on a rune boundary. A string
// holding a credential is shown as "[REDACTED]".
func truncate(s string, n int) string {
	if hasCredential(s) {
		return redacted
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

type actorKey struct{}

// ContextWithActor returns a context carrying the acting principal's id
// (a user, service or agent name). It is recorded as created_by on what the
// call creates and as the actor of audit events and approvals, and
// overrides the vault's WithActor default. The id must be 1–MaxActorLen
// bytes of valid UTF-8 with no control or format characters and no
// credential; it is used byte for byte, never truncated or re-encoded. A
// call whose context carries any other id fails with ErrInvalidInput if it
// touches a secret (directly, through a Session, or by ImportEnv, Rewrap or
// rotation), requests, approves, denies, cancels, redeems or revokes a
// token, or creates or changes an agent; calls that only read the audit
// trail or list tokens, approvals or agents go on. In every case the audit
// event names the actor "[invalid actor]", never the id given.
func ContextWithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFromContext returns the actor set by ContextWithActor, if any.
func ActorFromContext(ctx context.Context) (string, bool) {
	a, ok := ctx.Value(actorKey{}).(string)
	return a, ok && a != ""
}
