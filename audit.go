package agentvault

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/agentvault/agentvault/backend"
)

// Audit event names, in the product's "resource.action" form.
const (
	EventSecretCreated      = "secret.created"
	EventSecretRead         = "secret.read"
	EventSecretUpdated      = "secret.updated"
	EventSecretDeleted      = "secret.deleted"
	EventSecretRolledBack   = "secret.rolled_back"
	EventSecretImported     = "secret.imported"
	EventSecretExpired      = "secret.expired"       // a read refused because the secret expired
	EventSecretListed       = "secret.listed"        // ListSecrets, ListVersions (not in the product's catalogue)
	EventSecretMetadataRead = "secret.metadata_read" // GetMetadata

	EventTokenIssued  = "token.issued"
	EventTokenUsed    = "token.used" // Session.Check: a token presented and accepted without a secret operation
	EventTokenRevoked = "token.revoked"
	EventTokenExpired = "token.expired" // a use refused because the token's TTL lapsed
	EventTokenDenied  = "token.denied"  // a request or use refused: unknown, revoked, exhausted, IP, scope, tier
	EventTokenListed  = "token.listed"  // ListTokens

	EventApprovalRequested = "approval.requested"
	EventApprovalGranted   = "approval.granted"
	EventApprovalDenied    = "approval.denied" // also a cancellation (Reason "cancelled")
	EventApprovalTimedOut  = "approval.timed_out"
	EventApprovalRead      = "approval.read"   // GetApproval
	EventApprovalListed    = "approval.listed" // ListApprovals

	EventApproverAdded   = "approver.added"   // AddApprover; Approver and Fingerprint (of the first key) say which
	EventApproverRemoved = "approver.removed" // RemoveApprover
	EventApproverListed  = "approver.listed"  // ListApprovers

	EventAgentCreated = "agent.created"
	EventAgentUpdated = "agent.updated"
	EventAgentListed  = "agent.listed" // ListAgents

	EventVaultRewrapped = "vault.rewrapped" // Rewrap; Reason holds the counts
	// EventOrphansRemoved: RemoveOrphans; Reason holds the count.
	EventOrphansRemoved = "vault.orphans_removed"
)

// Outcome says how an audited operation ended.
type Outcome string

// The outcomes.
const (
	OutcomeAllowed Outcome = "allowed" // the operation was performed
	OutcomeDenied  Outcome = "denied"  // refused by policy: scope, tier, token state, expiry, approval rules
	OutcomeFailed  Outcome = "failed"  // an error: invalid input, not found, storage or key failure

	// OutcomePending marks a write-ahead event: written before the change
	// it announces (an ImportEnv write), so that a crash cannot leave the
	// change without an event. An event with the same ImportID and Path and
	// another outcome follows unless the process died in between.
	OutcomePending Outcome = "pending"
)

// ActorKind says what kind of principal acted.
type ActorKind string

// The actor kinds.
const (
	ActorHuman   ActorKind = "human"   // a caller named with ContextWithActor
	ActorService ActorKind = "service" // the vault's default actor (WithActor)
	ActorAgent   ActorKind = "agent"   // a registered agent (ContextWithAgentKey); ID is the agent id
	ActorToken   ActorKind = "token"   // a Session; ID is the token accessor
	ActorSystem  ActorKind = "system"
)

// Actor identifies who performed an audited operation.
type Actor struct {
	Kind ActorKind `json:"kind"`
	ID   string    `json:"id"`
}

// AuditEvent is one entry of the audit trail. It never holds a secret
// value, a raw token or an agent key.
//
// Every AgentVault writes its events as its own hash chain: Writer is a
// random id chosen by New, Seq counts from 1, Prev is the Hash of the
// writer's previous event ("" for the first), and Hash is HMAC-SHA256, under
// a key derived from the vault's MAC key, of the event's JSON without Hash.
// Because the hash is keyed, someone who can write to the storage but does
// not hold the vault key cannot forge, alter, reorder or re-chain events.
type AuditEvent struct {
	ID            string     `json:"id"` // writer:seq
	Time          time.Time  `json:"time"`
	Event         string     `json:"event"`
	Actor         Actor      `json:"actor"`
	Path          string     `json:"path,omitempty"` // a secret path, a ListSecrets prefix, an import namespace
	Version       string     `json:"version,omitempty"`
	Type          SecretType `json:"type,omitempty"`
	Tier          AccessTier `json:"tier,omitempty"`
	TokenAccessor string     `json:"token_accessor,omitempty"`
	ApprovalID    string     `json:"approval_id,omitempty"`
	AgentID       string     `json:"agent_id,omitempty"`
	Approver      string     `json:"approver,omitempty"`    // approval.granted|denied, approver.*: the registered approver (or trusted caller) deciding
	Fingerprint   string     `json:"fingerprint,omitempty"` // the SHA256 fingerprint of the SSH key that signed, or of an added approver's key
	ImportID      string     `json:"import_id,omitempty"`   // ImportEnv: the import this event belongs to
	Via           string     `json:"via,omitempty"`         // the surface the call came through (ContextWithVia), e.g. "mcp"
	Outcome       Outcome    `json:"outcome"`
	Reason        string     `json:"reason,omitempty"`
	Writer        string     `json:"writer"`
	Seq           uint64     `json:"seq"`
	Prev          string     `json:"prev"`
	Hash          string     `json:"hash,omitempty"`
}

// ErrAuditFailed is returned, with WithAuditFailClosed, when the audit event
// of a read could not be written: the value is withheld.
var ErrAuditFailed = errors.New("agentvault: audit event could not be written")

const auditPrefix = "audit/"

// auditWriterState is the chain state of this vault's writer (see
// submit in audit_log.go for the group commit).
type auditWriterState struct {
	mu       sync.Mutex // guards pending and flushing
	pending  *auditBatch
	flushing bool // a leader is writing a batch

	// The chain, touched only by the leader of the batch being written.
	writer string
	resume bool // WithAuditWriterID: continue the stored chain before the first event
	seq    uint64
	prev   string
	last   []byte    // the newest record of the writer's log as stored (backend.Appender)
	stale  bool      // an Append failed: the log's tail is unknown
	mac    hash.Hash // HMAC-SHA256 under the access key
	clock  timeCache // the date and time of the last event's second, encoded
	memo   sealMemo  // encodings repeating from one event to the next

	spare atomic.Pointer[AuditEvent] // a free event (see auditEvents)

	// Scratch reused from one batch to the next by its leader: the sealed
	// lines (valid until the next batch), the lone event of a batch of one,
	// and the copy of the newest stored line.
	buf     []byte
	hashes  stringBlock // the events' hash strings
	sum     [sha256.Size]byte
	lines   [][]byte
	errs    []error
	one     [1]*AuditEvent
	oneRead [1]*auditRead
	lastBuf []byte
	logName string
	app     backend.Appender // the backend's Appender, when appSet
	isLog   bool
	appSet  bool
}

type noAuditKey struct{}

// withoutAudit marks a context for internal calls whose event the caller
// writes itself (ImportEnv's creates, a Session's operations).
func withoutAudit(ctx context.Context) context.Context {
	return context.WithValue(ctx, noAuditKey{}, true)
}

func (v *AgentVault) auditing(ctx context.Context) bool {
	a := &v.opts.access
	return (a.auditStore || a.auditWriter != nil) && ctx.Value(noAuditKey{}) == nil
}

// emit appends e to the audit trail. It fills in the time, id and chain
// fields, and returns once e is durable, or ErrAuditFailed (wrapping the
// cause) when it could not be written. Concurrent events share one write
// (see submit).
func (v *AgentVault) emit(ctx context.Context, e *AuditEvent) error {
	if !v.auditing(ctx) || !v.gate.enterNested() {
		return nil // closed, and called outside any operation
	}
	defer v.gate.leave()
	e.scrub()
	e.Time = v.opts.now().UTC()
	e.Via = viaFromContext(ctx)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrAuditFailed, err)
	}
	// The batch may be written by another operation's call: the write
	// must not fail because this one's context ends meanwhile. (A context
	// that cannot be canceled is used as it is.)
	wctx := ctx
	if ctx.Done() != nil {
		wctx = context.WithoutCancel(ctx)
	}
	return v.opts.access.st.audit.submit(e, nil, func(events []*AuditEvent, reads []*auditRead) []error {
		return v.flushAudit(wctx, events, reads)
	})
}

// scrub is the last line of defence against recording a credential: any
// caller-supplied field that holds a token or agent key prefix is replaced
// (the path dropped, others "[REDACTED]"). The entry points refuse such
// input before this; scrub covers any that did not.
func (e *AuditEvent) scrub() {
	if hasCredential(e.Path) {
		e.Path = ""
	}
	redact(&e.Actor.ID)
	redact(&e.Version)
	redact(&e.Reason)
	redact(&e.TokenAccessor)
	redact(&e.ApprovalID)
	redact(&e.AgentID)
	redact(&e.ImportID)
	redact(&e.Approver)
}

func redact(f *string) {
	if *f != "" && hasCredential(*f) {
		*f = redacted
	}
}

// seal sets e's chain fields for the next sequence number and returns its
// JSON encoding. The caller leads the batch being written.
func (st *auditWriterState) seal(e *AuditEvent, key []byte) []byte {
	return st.appendSealed(make([]byte, 0, 512), e, key)
}

// appendSealed is seal appending to dst. The hash is the HMAC of the bytes
// stored, the line up to its hash field. json.Marshal of the sealed event
// with ID set to "writer:seq" gives the same bytes (Hash is the last
// field); e.ID itself is left as it was, to save building that string
// (TestAuditSealMatchesJSON).
func (st *auditWriterState) appendSealed(dst []byte, e *AuditEvent, key []byte) []byte {
	e.Writer, e.Seq, e.Prev, e.Hash = st.writer, st.seq+1, st.prev, ""
	m := &st.memo
	m.forWriter(st.writer)
	start := len(dst)
	dst = append(dst, m.id...)
	seqAt := len(dst)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	seqEnd := len(dst)
	dst = append(dst, `","time":"`...)
	dst = st.clock.appendTime(dst, e.Time)
	dst = m.appendRest(dst, e)
	dst = append(dst, m.chain...)
	dst = append(dst, dst[seqAt:seqEnd]...) // the seq's digits again
	dst = append(dst, `,"prev":`...)
	dst = m.appendPrev(dst, e.Prev)
	dst = append(dst, '}')
	if st.mac == nil {
		st.mac = hmac.New(sha256.New, key)
	}
	st.mac.Reset()
	st.mac.Write(auditDomain)
	st.mac.Write(dst[start:])
	dst = append(dst[:len(dst)-1], auditHashOpen...)
	dst = hex.AppendEncode(dst, st.mac.Sum(st.sum[:0]))
	e.Hash = st.hashes.string(dst[len(dst)-auditHashLen:])
	m.hash = e.Hash
	return append(dst, '"', '}')
}

// adopt handles a Put that failed with an error yet wrote the event: if the
// entry at the next sequence number is ours and authentic, the chain moves
// past it. The caller leads the batch being written.
func (st *auditWriterState) adopt(ctx context.Context, v *AgentVault, key []byte) bool {
	raw, _, err := v.b.Get(ctx, auditKey(st.writer, st.seq+1))
	if err != nil {
		return false
	}
	e, err := parseAuditEvent(raw, key)
	if err != nil || e.Writer != st.writer || e.Seq != st.seq+1 || e.Prev != st.prev {
		return false
	}
	st.seq, st.prev = e.Seq, e.Hash
	return true
}

// maxAdopt bounds how many entries of other writers sharing a writer id one
// emit chains past before giving up.
const maxAdopt = 1000

// resumeChain continues the chain stored under this writer id: the next
// event follows the newest authentic entry. With a log (app not nil) that
// is the log's last record, read in O(1); a chain stored only as one key
// per event (before logs, or on a backend without them) is listed once.
// The caller leads the batch being written.
func (st *auditWriterState) resumeChain(ctx context.Context, v *AgentVault, app backend.Appender, key []byte) error {
	if app != nil {
		if err := st.syncTail(ctx, app, key); err != nil {
			return err
		}
		if st.last != nil {
			st.resume = false
			return nil
		}
	}
	keys, err := v.b.List(ctx, auditPrefix+st.writer+"/")
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		raw, _, err := v.b.Get(ctx, keys[len(keys)-1])
		if err != nil {
			return err
		}
		e, err := parseAuditEvent(raw, key)
		if err != nil {
			return err
		}
		if e.Writer != st.writer {
			return fmt.Errorf("%w: newest entry belongs to writer %q", ErrIntegrity, e.Writer)
		}
		st.seq, st.prev = e.Seq, e.Hash
	}
	st.resume = false
	return nil
}

func auditKey(writer string, seq uint64) string {
	var digits [20]byte
	for i := range digits {
		digits[len(digits)-1-i] = byte('0' + seq%10)
		seq /= 10
	}
	return auditPrefix + writer + "/" + string(digits[:])
}

var auditDomain = []byte("agentvault audit v1\x00")

func auditMAC(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(auditDomain)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// auditHashSuffix is how every sealed event ends: the hash, the last field.
const (
	auditHashOpen = `,"hash":"`
	auditHashLen  = 2 * sha256.Size
)

// parseAuditEvent decodes one stored or logged event and checks its hash.
// The hash is verified over the exact bytes stored (the line with its
// trailing hash field cut off), never over a re-encoding, so no content of
// an event (invalid UTF-8, escapes) can make an authentic entry fail.
func parseAuditEvent(raw []byte, key []byte) (*AuditEvent, error) {
	n := len(raw) - len(auditHashOpen) - auditHashLen - 2
	if n < 1 || string(raw[n:n+len(auditHashOpen)]) != auditHashOpen || string(raw[len(raw)-2:]) != `"}` {
		return nil, errors.New("not an audit event: no trailing hash field")
	}
	h := string(raw[n+len(auditHashOpen) : len(raw)-2])
	body := make([]byte, 0, n+1)
	body = append(append(body, raw[:n]...), '}')
	var e AuditEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("not an audit event: %w", err)
	}
	if e.Hash != "" {
		return nil, errors.New("not an audit event: two hash fields")
	}
	e.Hash = h
	if !hmac.Equal([]byte(h), []byte(auditMAC(key, body))) {
		return &e, errors.New("hash does not verify")
	}
	return &e, nil
}

// event starts an audit event for a direct call: the actor is the caller
// named in the context (human) or the vault's default (service).
func (v *AgentVault) event(ctx context.Context, name, path string) *AuditEvent {
	if acc, ok := tokenActor(ctx); ok { // a Session's call (Session.actingCtx)
		return &AuditEvent{Event: name, Actor: Actor{Kind: ActorToken, ID: acc}, Path: path, TokenAccessor: acc}
	}
	return &AuditEvent{Event: name, Actor: v.callerActor(ctx), Path: path}
}

// stringBlock makes strings by copying bytes into a shared block, one
// allocation for many strings. Each string's bytes are written once, before
// the string exists, and never again (the block only grows into capacity
// no string covers yet), so the strings are as immutable as any other.
type stringBlock struct{ buf []byte }

func (sb *stringBlock) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(sb.buf)-len(sb.buf) < len(b) {
		sb.buf = make([]byte, 0, max(64*auditHashLen, len(b)))
	}
	start := len(sb.buf)
	sb.buf = append(sb.buf, b...)
	return unsafe.String(&sb.buf[start], len(b))
}

// auditEvents recycles the events of auditSecret, the audit of every
// direct secret operation: emit returns only once the event's batch is
// written, and nothing keeps the event after that (the batch's leader is
// done with it before the batch's operations are released). The writer
// state's spare slot holds one event first (one atomic swap each way, for
// the common case of one operation at a time); the pool takes the rest.
var auditEvents = sync.Pool{New: func() any { return new(AuditEvent) }}

// pooledEvent is event with the event taken from the spare slot or
// auditEvents; the caller hands it back with releaseEvent once emit has
// returned.
func (v *AgentVault) pooledEvent(ctx context.Context, name, path string) *AuditEvent {
	e := v.opts.access.st.audit.spare.Swap(nil)
	if e == nil {
		e = auditEvents.Get().(*AuditEvent)
	}
	e.Event, e.Path = name, path
	if acc, ok := tokenActor(ctx); ok {
		e.Actor, e.TokenAccessor = Actor{Kind: ActorToken, ID: acc}, acc
	} else {
		e.Actor = v.callerActor(ctx)
	}
	return e
}

func (v *AgentVault) releaseEvent(e *AuditEvent) {
	*e = AuditEvent{}
	if !v.opts.access.st.audit.spare.CompareAndSwap(nil, e) {
		auditEvents.Put(e)
	}
}

// callerActor is ctxActor without the error: for audit events only, it
// names an invalid context actor with the placeholder invalidActor.
func (v *AgentVault) callerActor(ctx context.Context) Actor {
	a, _ := v.ctxActor(ctx)
	return a
}

// finish records err's outcome and reason on e.
func (e *AuditEvent) finish(err error) *AuditEvent {
	e.Outcome, e.Reason = outcomeOf(err)
	return e
}

// outcomeOf classifies an operation's error as an outcome and a short
// reason code (never the error text, which may quote input).
func outcomeOf(err error) (Outcome, string) {
	switch {
	case err == nil:
		return OutcomeAllowed, ""
	case errors.Is(err, ErrExpired):
		return OutcomeDenied, "secret_expired"
	case errors.Is(err, ErrTokenExpired):
		return OutcomeDenied, "token_expired"
	case errors.Is(err, ErrTokenExhausted):
		return OutcomeDenied, "token_exhausted"
	case errors.Is(err, ErrTokenRevoked):
		return OutcomeDenied, "token_revoked"
	case errors.Is(err, ErrTokenUnknown):
		return OutcomeDenied, "token_unknown"
	case errors.Is(err, ErrUnauthorized):
		return OutcomeDenied, "unauthorized"
	case errors.Is(err, ErrIPDenied):
		return OutcomeDenied, "ip_denied"
	case errors.Is(err, ErrTierDenied):
		return OutcomeDenied, "tier_denied"
	case errors.Is(err, ErrScopeDenied):
		return OutcomeDenied, "scope_denied"
	case errors.Is(err, ErrApprovalRequired):
		return OutcomeDenied, "approval_required"
	case errors.Is(err, ErrApprovalPending):
		return OutcomeDenied, "approval_pending"
	case errors.Is(err, ErrApprovalExpired):
		return OutcomeDenied, "approval_expired"
	case errors.Is(err, ErrApprovalClosed):
		return OutcomeDenied, "approval_closed"
	case errors.Is(err, ErrApprovalForbidden):
		return OutcomeDenied, "approval_forbidden"
	case errors.Is(err, ErrNotFound):
		return OutcomeFailed, "not_found"
	case errors.Is(err, ErrAlreadyExists):
		return OutcomeFailed, "already_exists"
	case errors.Is(err, ErrInvalidPath):
		return OutcomeFailed, "invalid_path"
	case errors.Is(err, ErrInvalidInput):
		return OutcomeFailed, "invalid_input"
	case errors.Is(err, ErrConflict):
		return OutcomeFailed, "conflict"
	case errors.Is(err, ErrIntegrity):
		return OutcomeFailed, "integrity"
	case errors.Is(err, ErrClosed):
		return OutcomeFailed, "closed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return OutcomeFailed, "canceled"
	}
	return OutcomeFailed, "error"
}

// auditPath is the path to record for an operation: none when the path is
// invalid (an invalid "path" may be a value pasted in the wrong place).
func auditPath(p string) string {
	if ValidatePath(p) != nil {
		return ""
	}
	return p
}

// auditSecret writes the one event of a direct secret operation. m, when
// set, supplies version, type and tier. With fail-closed audit, a failure to
// write turns a successful read into ErrAuditFailed.
func (v *AgentVault) auditSecret(ctx context.Context, name, path string, m *SecretMetadata, err error) error {
	return v.auditSecretValid(ctx, name, path, false, m, err)
}

// auditSecretValid is auditSecret; validPath says path passed ValidatePath
// already (false: not known).
func (v *AgentVault) auditSecretValid(ctx context.Context, name, path string, validPath bool, m *SecretMetadata, err error) error {
	if !v.auditing(ctx) {
		return err
	}
	if errors.Is(err, ErrExpired) && name == EventSecretRead {
		name = EventSecretExpired
	}
	apath := path
	if !validPath {
		apath = auditPath(path)
	}
	e := v.pooledEvent(ctx, name, apath)
	defer v.releaseEvent(e)
	if name == EventSecretListed && validPrefix(path) == nil {
		e.Path = path
	}
	if m != nil {
		e.Version, e.Type, e.Tier = m.Version, m.Type, m.Tier
	} else {
		var ae *Error
		if errors.As(err, &ae) {
			e.Version = ae.Version
		}
	}
	werr := v.emit(ctx, e.finish(err))
	if werr != nil && err == nil && name == EventSecretRead && v.opts.access.failClosed {
		return &Error{Op: "get", Path: path, Err: werr}
	}
	return err
}

// AuditQuery selects audit events. Zero fields match everything.
type AuditQuery struct {
	PathPrefix string    // events whose Path starts with this
	Event      string    // exact event name, or a prefix ending in "." ("token.")
	ActorKind  ActorKind // exact
	ActorID    string    // exact
	Since      time.Time // Time >= Since
	Until      time.Time // Time < Until
	Limit      int       // at most this many (the newest); 0 for all
}

func (q *AuditQuery) match(e *AuditEvent) bool {
	switch {
	case q.PathPrefix != "" && !strings.HasPrefix(e.Path, q.PathPrefix):
		return false
	case q.Event != "" && e.Event != q.Event && !(strings.HasSuffix(q.Event, ".") && strings.HasPrefix(e.Event, q.Event)):
		return false
	case q.ActorKind != "" && e.Actor.Kind != q.ActorKind:
		return false
	case q.ActorID != "" && e.Actor.ID != q.ActorID:
		return false
	case !q.Since.IsZero() && e.Time.Before(q.Since):
		return false
	case !q.Until.IsZero() && !e.Time.Before(q.Until):
		return false
	}
	return true
}

// QueryAudit returns the stored audit events that match q, oldest first
// (by time, then writer and sequence). Every event is authenticated; an
// event that fails its hash check is skipped, and the others are returned
// with an error wrapping an *UnreadableAuditError that names the skipped
// entries (and ErrIntegrity; use VerifyAudit to locate the first break).
// Reading the audit trail (QueryAudit, VerifyAudit, VerifyAuditLog) is the
// one thing not itself audited: each read would append to the chains it
// reads.
func (v *AgentVault) QueryAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	const op = "audit query"
	if err := v.enter(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	defer v.leave()
	keys, err := v.b.List(ctx, auditPrefix)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	items, bad, err := v.getReadable(ctx, keys)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	key := v.accessKey()
	var out []AuditEvent
	add := func(raw []byte, where string) {
		e, err := parseAuditEvent(raw, key)
		if err != nil {
			bad = append(bad, where) // skipped, reported below
			return
		}
		if q.match(e) {
			out = append(out, *e)
		}
	}
	for _, it := range items {
		if it.Value != nil {
			add(it.Value, it.Key)
		}
	}
	logs, records, err := v.readAuditLogs(ctx)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	for i, log := range logs {
		for j, raw := range records[i] {
			add(raw, auditLogWhere(log, j))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		if a.Writer != b.Writer {
			return a.Writer < b.Writer
		}
		return a.Seq < b.Seq
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	if len(bad) > 0 {
		return out, &Error{Op: op, Err: &UnreadableAuditError{Keys: bad}}
	}
	return out, nil
}

// AuditReport summarises a successful verification.
type AuditReport struct {
	Writers int `json:"writers"` // chains checked
	Events  int `json:"events"`  // events checked
}

// AuditIntegrityError locates the first broken entry of an audit chain. It
// unwraps to ErrIntegrity.
type AuditIntegrityError struct {
	Writer  string // the chain
	Seq     uint64 // the first sequence number that does not verify
	Key     string // the backend key, or "line N" for a log
	Problem string // "modified", "deleted" or "reordered"
	Detail  string
}

func (e *AuditIntegrityError) Error() string {
	return fmt.Sprintf("agentvault: audit chain %s: entry %d (%s) %s: %s", e.Writer, e.Seq, e.Key, e.Problem, e.Detail)
}

func (e *AuditIntegrityError) Unwrap() error { return ErrIntegrity }

// VerifyAudit checks every audit chain stored in the backend and returns an
// *AuditIntegrityError for the first entry that was modified (its hash does
// not verify, or the entry before it was replaced), deleted (a gap in the
// sequence) or reordered (an authentic entry stored under another sequence
// number or chain). Chains are checked one after another, each from its
// first entry.
//
// A chain may be stored one key per event (audit/<writer>/<seq>: on
// backends without logs, and chains written before logs existed), in the
// writer's log (backend.Appender), or both: the log then continues the
// chain the keys hold.
//
// Limits: a chain only proves what is linked to it. Deleting the newest
// entries of a chain, or a whole chain, leaves no gap and is not detected
// from the backend alone; keep a copy elsewhere (WithAuditWriter to an
// append-only destination, checked with VerifyAuditLog) to detect it.
func (v *AgentVault) VerifyAudit(ctx context.Context) (*AuditReport, error) {
	if err := v.enter(); err != nil {
		return nil, &Error{Op: "audit verify", Err: err}
	}
	defer v.leave()
	keys, err := v.b.List(ctx, auditPrefix)
	if err != nil {
		return nil, &Error{Op: "audit verify", Err: err}
	}
	items, err := v.getMany(ctx, keys)
	if errors.Is(err, ErrIntegrity) {
		return nil, v.locateUnreadable(ctx, keys, err)
	}
	if err != nil {
		return nil, &Error{Op: "audit verify", Err: err}
	}
	c := chainChecker{key: v.accessKey(), next: map[string]*chainPos{}}
	for _, it := range items {
		writer, seqStr, ok := strings.Cut(strings.TrimPrefix(it.Key, auditPrefix), "/")
		seq, perr := strconv.ParseUint(seqStr, 10, 64)
		if !ok || perr != nil || it.Value == nil {
			return nil, &AuditIntegrityError{Writer: writer, Key: it.Key, Problem: "modified", Detail: "not an audit entry key"}
		}
		if err := c.check(writer, seq, it.Key, it.Value); err != nil {
			return nil, err
		}
	}
	// The logs continue the chains stored one key per event (if any).
	logs, records, err := v.readAuditLogs(ctx)
	if err != nil {
		return nil, &Error{Op: "audit verify", Err: err}
	}
	for i, log := range logs {
		writer := strings.TrimPrefix(log, auditLogPrefix)
		seqs := make([]uint64, len(records[i]))
		for j, raw := range records[i] {
			seqs[j] = auditSeqOf(raw)
		}
		for j, raw := range records[i] {
			// An entry found later in the log than its place: reordered
			// (rather than the entries before it deleted).
			want := uint64(1)
			if pos := c.next[writer]; pos != nil {
				want = pos.seq
			}
			if seqs[j] > want && slices.Contains(seqs[j+1:], want) {
				return nil, &AuditIntegrityError{Writer: writer, Seq: want, Key: auditLogWhere(log, j), Problem: "reordered", Detail: "entry out of sequence"}
			}
			if err := c.checkNext(writer, auditLogWhere(log, j), raw); err != nil {
				return nil, err
			}
		}
	}
	return &AuditReport{Writers: len(c.next), Events: c.events}, nil
}

// locateUnreadable finds the audit entry the storage could not read back
// (a truncated or damaged file) and reports it as modified.
func (v *AgentVault) locateUnreadable(ctx context.Context, keys []string, batchErr error) error {
	for _, k := range keys {
		if _, _, err := v.b.Get(ctx, k); errors.Is(err, ErrIntegrity) {
			writer, seqStr, _ := strings.Cut(strings.TrimPrefix(k, auditPrefix), "/")
			seq, _ := strconv.ParseUint(seqStr, 10, 64)
			return &AuditIntegrityError{Writer: writer, Seq: seq, Key: k, Problem: "modified", Detail: "the stored entry is unreadable (truncated or damaged)"}
		}
	}
	return &Error{Op: "audit verify", Err: batchErr}
}

// VerifyAuditLog checks a JSON-lines audit log written by WithAuditWriter
// (by this vault or another AgentVault on the same storage): every chain in
// it must start at sequence 1 and continue without gaps, in line order.
func (v *AgentVault) VerifyAuditLog(r io.Reader) (*AuditReport, error) {
	if err := v.enter(); err != nil {
		return nil, &Error{Op: "audit verify", Err: err}
	}
	defer v.leave()
	c := chainChecker{key: v.accessKey(), next: map[string]*chainPos{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if err := c.checkNext("", "line "+strconv.Itoa(n), line); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return &AuditReport{Writers: len(c.next), Events: c.events}, nil
}

type chainPos struct {
	seq  uint64 // the next expected sequence number
	prev string // the hash of the entry before it
}

type chainChecker struct {
	key    []byte
	next   map[string]*chainPos
	events int
}

// auditSeqOf returns the seq field of an encoded event, 0 if none.
func auditSeqOf(line []byte) uint64 {
	var hdr struct {
		Seq uint64 `json:"seq"`
	}
	_ = json.Unmarshal(line, &hdr)
	return hdr.Seq
}

// checkNext verifies the next entry of a log: of writer's chain, or, for
// writer "", of the chain the entry names.
func (c *chainChecker) checkNext(writer, where string, line []byte) error {
	var hdr struct {
		Writer string `json:"writer"`
		Seq    uint64 `json:"seq"`
	}
	if err := json.Unmarshal(line, &hdr); err != nil {
		return &AuditIntegrityError{Writer: writer, Key: where, Problem: "modified", Detail: "not JSON"}
	}
	if writer == "" {
		writer = hdr.Writer
	}
	pos := c.next[writer]
	seq := uint64(1)
	if pos != nil {
		seq = pos.seq
	}
	if hdr.Seq > seq && hdr.Writer == writer {
		seq = hdr.Seq // a gap: check reports the missing entries as deleted
	}
	return c.check(writer, seq, where, line)
}

// check verifies the entry found at (writer, seq).
func (c *chainChecker) check(writer string, seq uint64, where string, raw []byte) error {
	pos := c.next[writer]
	if pos == nil {
		pos = &chainPos{seq: 1}
		c.next[writer] = pos
	}
	fail := func(s uint64, problem, detail string) error {
		return &AuditIntegrityError{Writer: writer, Seq: s, Key: where, Problem: problem, Detail: detail}
	}
	if seq > pos.seq {
		return fail(pos.seq, "deleted", fmt.Sprintf("entries %d to %d are missing", pos.seq, seq-1))
	}
	if seq < pos.seq {
		return fail(seq, "reordered", "entry out of sequence")
	}
	e, err := parseAuditEvent(raw, c.key)
	if err != nil {
		return fail(seq, "modified", err.Error())
	}
	if e.Writer != writer || e.Seq != seq {
		return fail(seq, "reordered", fmt.Sprintf("holds entry %d of chain %s", e.Seq, e.Writer))
	}
	if e.Prev != pos.prev {
		return fail(seq-1, "modified", "the entry before this one is not the one it was chained to")
	}
	pos.seq, pos.prev = seq+1, e.Hash
	c.events++
	return nil
}

// The deferred audit hooks of the direct methods (vault.go, version.go,
// import.go): each takes pointers to the method's named results.

// auditGet is GetSecret's: validPath says path passed ValidatePath (else
// the event's path is decided as auditPath decides it).
func (v *AgentVault) auditGet(ctx context.Context, path string, validPath bool, out **Secret, err *error) {
	var m *SecretMetadata
	if *out != nil {
		m = &(*out).SecretMetadata
	}
	if *err = v.auditSecretValid(ctx, EventSecretRead, path, validPath, m, *err); *err != nil {
		*out = nil
	}
}

func (v *AgentVault) auditCreate(ctx context.Context, path string, out **Secret, err *error) {
	var m *SecretMetadata
	if *out != nil {
		m = &(*out).SecretMetadata
	}
	*err = v.auditSecret(ctx, EventSecretCreated, path, m, *err)
}

func (v *AgentVault) auditMeta(ctx context.Context, event, path string, out **SecretMetadata, err *error) {
	*err = v.auditSecret(ctx, event, path, *out, *err)
}

func (v *AgentVault) auditErr(ctx context.Context, event, path string, err *error) {
	*err = v.auditSecret(ctx, event, path, nil, *err)
}

// auditOp writes the one event of an operation on no particular secret
// (a listing of tokens, approvals or agents, an audit query). id, when set,
// is an approval id to record.
func (v *AgentVault) auditOp(ctx context.Context, event, approvalID string, err *error) {
	if !v.auditing(ctx) {
		return
	}
	e := v.event(ctx, event, "")
	if validApprovalID(approvalID) {
		e.ApprovalID = approvalID
	}
	_ = v.emit(ctx, e.finish(*err))
}

// auditImport writes ImportEnv's summary event (path: the namespace); its
// Reason holds the counts. The per-secret events are written by importOne.
func (v *AgentVault) auditImport(ctx context.Context, opts ImportOptions, id string, res **ImportResult, err *error) {
	if !v.auditing(ctx) {
		return
	}
	e := v.event(ctx, EventSecretImported, auditPath(opts.Namespace))
	e.ImportID = id
	e.finish(*err)
	if r := *res; r != nil {
		counts := fmt.Sprintf("created %d, updated %d, skipped %d", r.Created, r.Updated, r.Skipped)
		if r.DryRun {
			counts = "dry run: " + counts
		}
		if e.Reason != "" {
			counts = e.Reason + "; " + counts
		}
		e.Reason = counts
	}
	_ = v.emit(ctx, e)
}
