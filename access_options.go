package agentvault

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"
)

// Defaults of the access options.
const (
	DefaultTokenTTL    = time.Hour      // RequestToken without a TTL
	DefaultMaxTokenTTL = 24 * time.Hour // the longest TTL RequestToken accepts
	DefaultApprovalTTL = time.Hour      // how long an approval request stays open
)

// accessOptions holds the settings of tokens, approvals, agents and audit,
// plus the per-vault state they share (New calls defaultOptions once per
// vault, so the pointer is never shared between vaults).
type accessOptions struct {
	tokenTTL       time.Duration
	maxTokenTTL    time.Duration
	policy         ApprovalPolicy
	rules          []pathRule
	auditStore     bool      // write audit events to the backend
	auditWriter    io.Writer // and/or as JSON lines here
	failClosed     bool
	notifiers      []Notifier
	trustedCallers bool // WithTrustedCallerApprovals
	requireSigned  bool // WithRequireSignedApprovals
	st             *accessState
	writerIDSet    bool
}

func defaultAccessOptions() accessOptions {
	return accessOptions{
		tokenTTL:    DefaultTokenTTL,
		maxTokenTTL: DefaultMaxTokenTTL,
		policy:      DefaultApprovalPolicy(),
		auditStore:  true,
		st:          newAccessState(),
	}
}

// accessState is the mutable per-vault state of this feature.
type accessState struct {
	keyOnce sync.Once
	key     []byte // MAC key for token, approval, agent and audit records

	audit    auditWriterState
	instance string // this vault instance's id: owner of lifecycle claims
}

func newAccessState() *accessState {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		panic("agentvault: crypto/rand failed: " + err.Error())
	}
	return &accessState{audit: auditWriterState{writer: hex.EncodeToString(id[:8])}, instance: hex.EncodeToString(id[8:])}
}

// WithAuditWriterID names this vault's audit chain, instead of a random id
// per AgentVault. The vault continues the chain stored under that id, so
// short-lived processes (a CLI, a cron job) append to one long chain where
// removing any but the newest entries is detected. On a backend with logs
// (backend.Appender: the file and Redis backends) a new process finds the
// chain's head by reading the log's last entry, whatever the chain's
// length. Processes may share an id: each write is conditional on the
// chain's head (an Append after the last record, or a create-only Put of
// the next sequence number), and a writer that finds the head moved chains
// on from the newer entry. id is
// 1–64 characters of A–Z a–z 0–9 . _ -; New fails on anything else.
func WithAuditWriterID(id string) Option {
	return func(o *options) {
		o.access.st.audit.writer, o.access.st.audit.resume = id, true
		o.access.writerIDSet = true
	}
}

// validate checks the access options New cannot take as given.
func (a *accessOptions) validate() error {
	if !a.writerIDSet {
		return nil
	}
	id := a.st.audit.writer
	ok := id != "" && len(id) <= 64
	for i := 0; ok && i < len(id); i++ {
		ok = segmentByte(id[i])
	}
	if !ok || hasCredential(id) {
		return fmt.Errorf("%w: audit writer id %q: want 1–64 characters of A-Z a-z 0-9 . _ -, not a credential", ErrInvalidInput, truncate(id, 64))
	}
	return nil
}

// WithTokenTTL sets the TTL of tokens requested without one (default 1
// hour) and the longest TTL a request may ask for (default 24 hours).
// Requests over the maximum fail with ErrInvalidInput.
func WithTokenTTL(def, max time.Duration) Option {
	return func(o *options) { o.access.tokenTTL, o.access.maxTokenTTL = def, max }
}

// WithApprovalPolicy replaces the vault-wide approval policy (default
// DefaultApprovalPolicy). Per-path rules (WithApprovalRule) override it.
func WithApprovalPolicy(p ApprovalPolicy) Option {
	return func(o *options) { o.access.policy = p }
}

// WithApprovalRule overrides the approval policy of the given tier for the
// secrets whose path pattern matches (pattern as in Scope, e.g.
// "payments/*"). Rules are tried in the order given; the first one that
// matches a secret's path and tier applies to it. An invalid pattern or
// tier makes RequestToken fail with ErrInvalidInput.
func WithApprovalRule(pattern string, tier AccessTier, rule TierRule) Option {
	return func(o *options) {
		o.access.rules = append(o.access.rules, pathRule{pattern: pattern, tier: tier, rule: rule})
	}
}

// WithAudit turns the audit trail in the backend on or off. Default on:
// every operation appends one event (see AuditEvent) and returns only once
// it is durable. On a backend with logs (backend.Appender) each writer's
// events go to its own append-only log, and the events of concurrent
// operations share one write (group commit); on others each event is one
// create-only Put.
// With it off, events still go to a WithAuditWriter writer if one is set.
func WithAudit(on bool) Option { return func(o *options) { o.access.auditStore = on } }

// WithAuditWriter also writes every audit event to w, as one JSON object per
// line, in order, with its hash-chain fields (VerifyAuditLog checks such a
// log). Writes to w are serialised. Default none.
func WithAuditWriter(w io.Writer) Option { return func(o *options) { o.access.auditWriter = w } }

// WithAuditFailClosed makes reads fail closed: when the audit event of a
// GetSecret (direct or through a token), RequestToken or RedeemApproval
// cannot be written, the value or token is not returned and the call fails
// with ErrAuditFailed. Other operations have already taken effect when their
// event is written; they report nothing. Default off (fail open: the event is
// lost and the call succeeds).
func WithAuditFailClosed(on bool) Option { return func(o *options) { o.access.failClosed = on } }

// WithNotifier adds a Notifier told about every new approval request and
// every decision on one (see Notifier, NotifierFunc, WebhookNotifier).
// Default none.
func WithNotifier(n Notifier) Option {
	return func(o *options) { o.access.notifiers = append(o.access.notifiers, n) }
}

// WithTrustedCallerApprovals keeps caller-named approvals (Approve, Deny,
// CancelApproval without a signature, the approver being the context's
// actor) once approvers are registered, for an application that
// authenticates people itself. Their votes and audit events say
// "unsigned (trusted caller)". Default off: once any approver is
// registered (AddApprover), every approval and denial must be signed.
// Signed decisions are accepted either way.
func WithTrustedCallerApprovals() Option {
	return func(o *options) { o.access.trustedCallers = true }
}

// WithRequireSignedApprovals requires signed approvals, denials and
// cancellations (by anyone but the requester) even while no approver is
// registered, instead of only once one is. Without it, someone able to
// delete records from the storage could delete every approver record and
// so bring back caller-named approvals; with it, that only blocks
// approvals. WithTrustedCallerApprovals, if also given, still lets
// callers approve unsigned once approvers are registered. Default off.
func WithRequireSignedApprovals() Option {
	return func(o *options) { o.access.requireSigned = true }
}
