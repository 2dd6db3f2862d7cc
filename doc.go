// Package agentvault keeps secrets for applications and AI agents: API keys,
// OAuth tokens, database credentials, SSH keys, payment credentials. It runs
// in your process; there is no server.
//
// Start with New, giving it a Backend (where encrypted records are stored)
// and a KeyProvider (what wraps the data keys):
//
//	store, _ := filebackend.Open("/var/lib/myapp/vault")   // or membackend.New(), redisbackend.New(client)
//	keys, _ := localkms.LoadFile("/etc/myapp/vault.key")   // or awskms / gcpkms
//	vault, err := agentvault.New(store, keys, agentvault.WithActor("deploy-bot"))
//
//	vault.CreateSecret(ctx, agentvault.CreateSecretInput{
//		Path:  "production/openai/api-key",
//		Value: agentvault.StringValue("sk-proj-…"),
//		Type:  agentvault.TypeAPIKey,
//		Tier:  agentvault.TierStandard,
//		Tags:  map[string]string{"team": "ml"},
//		ExpiresIn: 90 * 24 * time.Hour,
//	})
//	s, err := vault.GetSecret(ctx, "production/openai/api-key")
//	use(s.Value.Reveal())
//
// Secrets live at paths such as "production/openai/api-key" (see
// ValidatePath for the grammar). Each secret has a type (for display and
// routing, never access control), an access tier (standard, sensitive,
// critical), tags, a description, who created it and when, and an optional
// expiry. Every new value is a new immutable version ("v1", "v2", …);
// ListVersions lists them, GetSecret with AtVersion reads any of them,
// Rollback makes an earlier one active again without re-encrypting anything.
// An expired secret is kept and listed, but GetSecret refuses its value with
// ErrExpired until the expiry is extended or cleared.
//
// Values are SecretValue: fmt, JSON and slog print "[REDACTED]"; call Reveal
// or Bytes to get the plaintext.
//
// # Agents: scoped tokens, approvals, audit
//
// Hand an agent a token, not the vault. RequestToken issues a short-lived
// token ("ast_tok_…", stored only as a hash) for scopes such as
// "secrets:read:production/openai/*" (see ParseScope: `*` crosses '/'),
// with a TTL (default 1h, at most 24h), an optional use limit and an
// optional IP allowlist. Session(token) gives the agent GetSecret,
// GetMetadata, ListSecrets, ListVersions, CreateSecret, UpdateSecret,
// RotateSecret, Rollback, ImportEnv and DeleteSecret limited to those
// scopes and the token's tier, each audited with the token as actor:
//
//	tok, err := vault.RequestToken(ctx, agentvault.TokenRequest{
//		Scopes: []string{"secrets:read:production/openai/*"}, TTL: 15 * time.Minute, MaxUses: 10,
//	})
//	// hand tok.Value.Reveal() to the agent; it calls:
//	s, err := vault.Session(raw).GetSecret(ctx, "production/openai/api-key")
//
// The highest tier among the secrets the scopes reach decides issuance:
// standard tokens are issued at once; sensitive and critical ones fail with
// an *ApprovalRequiredError carrying an approval id, which humans approve
// (Approve; distinct approvers, never the requester; 1 for sensitive and 2
// for critical by default, optionally with a cancellable delay) before
// RedeemApproval issues the token once. A token never reads a secret above
// the tier it was issued for. Agents (CreateAgent) get a key and a scope
// ceiling their token requests cannot exceed. A Notifier (a Go func or a
// signed webhook) tells approvers about requests.
//
// Every operation — allowed, denied or failed — writes exactly one audit
// event (secret.read, token.issued, approval.granted, …) to an append-only,
// hash-chained trail in the backend (WithAudit, on by default) and/or a
// JSON-lines writer (WithAuditWriter). Events never contain values or raw
// tokens. QueryAudit filters the trail; VerifyAudit finds the first
// modified, deleted or reordered entry. WithAuditFailClosed withholds a
// value whose read could not be audited. An audited read costs one extra
// backend write (on the file backend, an fsync): turn the store off with
// WithAudit(false) where that matters and keep a JSON-lines writer instead.
//
// # Lifecycle: expiry notices, rotation, retention
//
// RunOnce (or Run, which repeats it; or CheckExpirations, RotateDue and
// PruneVersions separately, from your own cron) does the time-driven work:
// it sends expiry notices 7 days and 1 day before a secret expires (through
// WithExpiryNotifier: a Go func or a signed webhook), records secret.expired,
// runs due rotations (SetRotationSchedule) and prunes old versions
// (WithRetention: inactive versions older than 90 days by default, or beyond
// a count; the active version and one in its grace period never are). Every
// such step is claimed through the backend, so several processes running
// the scheduler never duplicate it and a restart resumes what a crashed
// process claimed once its lease ends (notices are at-least-once across
// such a crash, and carry a stable ID for de-duplication).
//
// RotateSecret produces the next value with a Rotator registered per
// secret type or path pattern (WithRotator, WithPathRotator) or takes a
// given one, writes it as a new version, checks it (RotationVerifier) and
// only then activates it; on failure the previous version stays active. A
// grace period keeps the previous version readable as
// AtVersion(PreviousVersion) until GraceEndsAt.
//
// # Encryption
//
// Each version is sealed with AES-256-GCM under its own random 256-bit data
// key (DEK); the DEK is wrapped by the KeyProvider. Both the value
// ciphertext and the wrapped DEK are bound, through their additional
// authenticated data, to the vault's random id, the secret's path and the
// version number, so a ciphertext copied to another path, version or vault
// does not open. Each stored record (metadata and all version envelopes) is
// authenticated with HMAC-SHA256 under a per-vault key that the KeyProvider
// wraps once, so the tier, expiry, active version and tags cannot be changed
// by someone who can only write to storage. Unwrapped DEKs are cached in
// memory (bounded in size and age, see WithKeyCache) so a warm read makes no
// KeyProvider call.
//
// # Threat model
//
// agentvault protects secrets against anyone who can read or modify the
// storage (files, Redis) but does not hold the key-encryption key: they learn
// paths, metadata sizes and version counts, but no value, and any change they
// make is detected (ErrIntegrity) rather than served. They can delete
// records, and they can replace a secret's record with an older authentic
// record of the same secret (a rollback of its whole state); detecting that
// needs trusted state outside the storage, which agentvault does not keep.
// Anyone holding both the storage and the key (or the ability to call the
// KMS) can read everything. A process using an AgentVault holds unwrapped
// data keys in memory. Secret values, keys and tokens never appear in errors,
// logs or panics; paths, types, tiers, tags and descriptions are not secret
// and do appear.
//
// # Errors
//
// Methods return an *Error naming the operation, path and version, wrapping
// one of the sentinels (ErrNotFound, ErrAlreadyExists, ErrExpired,
// ErrInvalidPath, ErrInvalidInput, ErrIntegrity, ErrConflict, ErrClosed) or
// the backend or KeyProvider error behind the failure. Use errors.Is.
//
// One damaged record does not hide the others: ListSecrets, QueryAudit and
// Rewrap skip records that fail their integrity check and return the rest
// with an error wrapping *UnreadableError (or *UnreadableAuditError) and
// ErrIntegrity; Doctor checks every record, version and audit chain. New
// refuses to create a configuration over a backend that already holds
// secrets (ErrNoConfig): a lost configuration must be restored, never
// replaced.
//
// # Concurrency
//
// An AgentVault is safe for concurrent use. Several AgentVaults, in one
// process or in many on many machines, may share one backend (file or
// Redis): every write is a conditional write retried on conflict, so
// concurrent updates each get their own version number and none is lost.
//
// # Compatibility
//
// The storage format is versioned and frozen: records written by this
// version stay readable by later ones (frozen test vectors check it). An
// unknown format version is an error, never a guess.
package agentvault
