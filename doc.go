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
// the tier it was issued for, nor a version written while the secret's
// tier was above it: each version keeps the tier in force when it was
// written, and only the vault owner (AgentVault.UpdateSecret, audited as
// secret.tier_lowered) can lower a tier; through a Session a tier can only
// be raised. Agents (CreateAgent) get a key and a scope ceiling their token
// requests cannot exceed; an agent's tokens are bound at every use to the
// agent as it is stored then (disabling it, or narrowing its ceiling or IP
// policy, takes effect at once, in every process). A Notifier (a Go func
// or a signed webhook, whose receiver can refuse replays with
// VerifyWebhookOnce) tells approvers about requests, within the caller's
// deadline.
//
// Approvals can be made unforgeable: register approvers with their SSH
// public keys (AddApprover; ass approvers add NAME --key FILE). From then
// on every approval, denial and (by anyone but the requester)
// cancellation must carry an SSHSIG signature, namespace
// "agentvault-approval", over the request's statement (ApprovalStatement:
// a canonical, versioned text naming the vault, the request, its
// requester, scopes, tier, token TTL and uses, its expiry and the
// decision), made with ssh-keygen -Y sign, SignStatement with a key file,
// or ssh-agent; ApproveSigned, DenySigned and CancelSigned check it. The
// approver is the owner of the key, never the requester, and counts once
// whichever of its keys signs; TierRule.From can limit approvers to names
// or groups. Notices carry the statements, so a webhook receiver can
// collect a signature. WithTrustedCallerApprovals keeps caller-named
// approvals for an application that authenticates people itself (marked
// "unsigned (trusted caller)"); WithRequireSignedApprovals requires
// signatures even before any approver is registered.
//
// Every operation — allowed, denied or failed, metadata reads and listings
// included — writes an audit event (secret.read, token.issued,
// approval.granted, …; ImportEnv also two per secret it writes, one of them
// before the write) to an append-only, hash-chained trail in the backend
// (WithAudit, on by default) and/or a JSON-lines writer (WithAuditWriter).
// Reading the trail itself (QueryAudit, VerifyAudit) is not audited. Events
// never contain values or raw tokens. QueryAudit filters the trail;
// VerifyAudit finds the first modified, deleted or reordered entry.
// WithAuditFailClosed withholds a value whose read could not be audited.
// Every call returns only after its event is durable. On the file and Redis
// backends each writer's events go to an append-only log and the events of
// concurrent calls share one write (group commit: on the file backend one
// fsync per group), so an audited read costs one append, and a process
// resuming a chain (WithAuditWriterID) reads only the log's last entry.
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
// Storage readers (anyone who can read the files or the Redis keys, or a
// backup of them) learn no secret value, data key, raw token or agent key:
// values are encrypted, data keys and the vault's MAC key are wrapped by
// the KeyProvider, and tokens and agent keys are stored only as SHA-256
// hashes of 256 random bits. Everything else is stored in clear text:
//
//   - each secret's full path (also in the storage key names: file names on
//     the file backend, Redis key names), type, tier, description, tags,
//     created_by, creation, update and expiry times, rotation schedule and
//     grace period, active version, and for every version its number,
//     creator, creation time, KMS key id and the exact length of its value
//     (the ciphertext is the value plus 16 bytes);
//   - each token's accessor, scopes, tier, description, holder, issue and
//     expiry times, use limit and count, IP allowlist, approval id and
//     whether it is revoked;
//   - each approval request (requester, scopes, description, votes with
//     approvers' names, state, reasons) and each agent (name, description,
//     scope ceiling, IP allowlist, disabled flag, creator);
//   - the whole audit trail: who did what to which path, when, with which
//     token, approval or agent, and the outcome (never a value or raw token);
//   - lifecycle claims, whose key names carry paths and expiry times.
//
// Storage writers (anyone who can modify the storage without the
// KeyProvider) cannot forge or edit anything: every record is
// authenticated with HMAC-SHA256 under the vault's MAC key and bound to
// its storage key, ciphertexts are bound to their vault, path and version,
// and a changed or moved record fails with ErrIntegrity instead of being
// served. They can:
//
//   - delete any record: a secret (all its versions), a token (it stops
//     working), an approval, an agent, lifecycle claims (an expiry notice
//     may then be sent again), the vault's configuration (New then starts
//     a new vault on the same storage, in which every earlier record fails
//     with ErrIntegrity), and audit entries — VerifyAudit detects a
//     deletion inside a chain, but not of a chain's newest entries (a log
//     cut short) nor of a whole chain (keep a copy with WithAuditWriter
//     and VerifyAuditLog);
//   - put back an earlier authentic copy of any record, which is served as
//     current (a rollback): a secret's whole state returns (a deleted
//     secret reappears, pruned versions and an earlier active value come
//     back, an earlier tier, expiry or rotation schedule applies again); a
//     token's record returns un-revoked and with its earlier use count,
//     until the token's own expiry (at most the maximum token TTL, 24 h by
//     default; no rollback extends it); an approval returns to an earlier
//     state, so an approved request already redeemed can be redeemed again
//     for a second token, and a denial or cancellation is undone, until the
//     approval expires; an agent's record returns to an earlier state,
//     re-enabling a disabled agent or restoring a wider ceiling or IP list,
//     with no time limit;
//   - deny service (fill, lock or corrupt the storage).
//
// agentvault does not detect rollbacks. A counter or version kept in the
// same storage would not help, since a writer can roll it back together
// with the records; detection needs state the writer cannot reach (a KMS-
// or remote-held counter), which agentvault does not keep. A revocation
// or a disabled agent therefore holds against a storage writer only as
// long as the storage does: protect write access to the storage as you
// would the ability to issue tokens. The audit trail written elsewhere
// (WithAuditWriter) records every revocation, use and redemption, so a
// rollback shows there after the fact.
//
// A token is a bearer credential: whoever holds it can use it, from the
// IPs its allowlist admits (as reported by ContextWithClientIP, which the
// embedding program sets). A token with read scopes reads the values, at
// any version (AtVersion) whose tier floor is at most the token's, and
// lists the metadata of the secrets its read scopes match whose tier is at
// most the token's, including secrets created after it was issued; nothing
// else. A token with only write scopes reads no value and lists nothing,
// but within its write scopes and up to its tier it can create secrets,
// write new values that readers (and `ass run`) will then get, change
// their type, description, tags and expiry, raise (never lower) their
// tier, learn which paths exist (create and update report it) and their
// metadata (UpdateSecret returns it); earlier versions stay and every
// write is audited. `ass run` never injects a name that changes how a
// program loads or runs (PATH, LD_*, BASH_ENV, …) unless the human names
// it, and `ass export` output is inert when sourced, so a write-only
// principal cannot turn a value into code run by the human; it can still
// set ordinary variables a program reads (a DATABASE_URL pointing at its
// own server). Delete scopes delete secrets the same way.
// Scopes are checked on every use; a token cannot widen its own.
//
// The process holding an AgentVault holds the KeyProvider's access, the
// MAC key and cached data keys in memory: it can read and write
// everything, issue any token and write any audit event. Actor identities
// (ContextWithActor, which unsigned approvals' "distinct approvers" rely
// on) and client IPs come from that process and are not authenticated by
// agentvault; signed approvals are attributable to the holder of a
// registered SSH key, whatever process passes them in (the process can
// still add an approver: registering approvers is the key holder's
// administrative act, audited as approver.added). Anyone holding both the storage and the KeyProvider's key
// (or the ability to call the KMS) can read everything. Secret values,
// keys and tokens never appear in errors, logs, audit events or panics;
// paths, types, tiers, tags and descriptions are not secret and do appear.
//
// A path, prefix, scope, name or description that holds a token or agent
// key prefix ("ast_tok_", "ast_agent_") is refused and shown as
// "[REDACTED]", so a credential pasted in the wrong place is not recorded.
// Actor and agent names are checked (valid UTF-8, no control characters,
// at most MaxActorLen bytes) and compared byte for byte; audit hashes are
// verified over the exact stored bytes, so no input can raise a false
// tamper alarm.
//
// # Errors
//
// Methods return an *Error naming the operation, path and version, wrapping
// one of the sentinels (ErrNotFound, ErrAlreadyExists, ErrExpired,
// ErrInvalidPath, ErrInvalidInput, ErrIntegrity, ErrConflict, ErrClosed) or
// the backend or KeyProvider error behind the failure. Use errors.Is.
// Listings (ListSecrets, ListTokens, ListApprovals, ListAgents) skip
// records that fail authentication and return the rest together with an
// error wrapping an *UnreadableError (and ErrIntegrity) that names the
// skipped ones, so one corrupt record never hides the others.
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
// An AgentVault is safe for concurrent use. Close waits for the operations
// in progress to finish before it wipes the keys, and refuses new ones
// (ErrClosed); no write is ever sealed with a wiped key. Several AgentVaults, in one
// process or in many on many machines, may share one backend (file or
// Redis): every write is a conditional write retried on conflict, so
// concurrent updates each get their own version number and none is lost.
//
// # Compatibility
//
// The storage format is versioned and frozen: records written by this
// version stay readable by later ones (frozen test vectors check it). An
// unknown format version is an error, never a guess.
//
// A secret is stored as a small head (record format 4: its metadata, its
// version table with each version's tier floor, and the active version's
// envelope) plus one record per other stored version, so reading the
// active version costs one backend read, and reading or updating does not
// slow down as versions accumulate. Records of formats 1 to 3 (every
// version in one record) stay readable and are rewritten as format 4 on
// their next write; a process of an older release cannot read format 4.
// Version records are authenticated and bound to their secret, version
// and incarnation (a secret deleted and created again); a crash between
// writing a version record and its head leaves at most an orphan record,
// which Doctor reports and RunOnce removes.
package agentvault
