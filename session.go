package agentvault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/agentvault/agentvault/internal/record"
	"sync"
	"time"
)

// Session is a token-bound view of a vault: the operations an agent holding
// a scoped token may perform. Every call checks, in order, that the token
// exists (ErrTokenUnknown), is not revoked (ErrTokenRevoked) or expired
// (ErrTokenExpired), that the caller's IP is allowed (ErrIPDenied); for a
// token issued to an agent, that the agent, as stored now, is not disabled
// (ErrUnauthorized) and allows the caller's IP (ErrIPDenied); that a scope
// of the token, and the agent's current ceiling, allow the action on the
// path (ErrScopeDenied), that the secret's
// current tier is not above the token's (ErrTierDenied), and finally
// counts the use against MaxUses (ErrTokenExhausted) with a conditional
// write, so concurrent callers in any number of processes get exactly
// MaxUses successes. Refused calls do not count as uses.
//
// Each call writes one audit event: the secret's event (secret.read, …)
// with the token as actor when it succeeds or fails on the secret itself,
// token.expired when the token's TTL has lapsed, token.denied for every
// other refusal.
//
// A Session holds only the token's hash, never its value. It is safe for
// concurrent use. Get one with AgentVault.Session.
type Session struct {
	v        *AgentVault
	key      string // tok/<hex sha256>; "" for a malformed token
	accessor string

	once   sync.Once
	scopes []Scope
	serr   error
}

// Session returns a Session for the raw token value (as returned by
// RequestToken or RedeemApproval, "ast_tok_…"). It does no I/O: a token
// that is malformed or unknown fails on first use with ErrTokenUnknown.
func (v *AgentVault) Session(token string) *Session {
	s := &Session{v: v}
	if key, err := tokenKey(token); err == nil {
		s.key = key
		h, _ := hex.DecodeString(key[len(tokenKeyPfx):])
		s.accessor = accessorOf([32]byte(h[:sha256.Size]))
	}
	return s
}

// Accessor returns the token's accessor ("" for a malformed token).
func (s *Session) Accessor() string { return s.accessor }

// String names the session by accessor; it never shows the token.
func (s *Session) String() string { return "agentvault.Session(" + s.accessor + ")" }

// GoString is String.
func (s *Session) GoString() string { return s.String() }

func (s *Session) parsedScopes(rec *tokenRecord) ([]Scope, error) {
	s.once.Do(func() { s.scopes, s.serr = ParseScopes(rec.Scopes) })
	if s.serr != nil {
		return nil, fmt.Errorf("%w: token scopes: %w", ErrIntegrity, s.serr)
	}
	return s.scopes, nil
}

// check loads the token and applies every check that does not need the
// secret. action "" skips the scope check (ListSecrets filters instead).
func (s *Session) check(ctx context.Context, action ScopeAction, path string) (*tokenRecord, []Scope, error) {
	if s.v.closed.Load() {
		return nil, nil, ErrClosed
	}
	if s.key == "" {
		return nil, nil, ErrTokenUnknown
	}
	rec, _, err := s.v.loadToken(ctx, s.key)
	if err != nil {
		return nil, nil, err
	}
	if err := s.v.tokenUsable(ctx, rec); err != nil {
		return rec, nil, err
	}
	if err := s.v.bindAgent(ctx, rec); err != nil {
		return rec, nil, err
	}
	scopes, err := s.parsedScopes(rec)
	if err != nil {
		return rec, nil, err
	}
	if action != "" {
		if err := ValidatePath(path); err != nil {
			return rec, nil, err
		}
		if !allowedBy(scopes, action, path) {
			return rec, nil, fmt.Errorf("%w: no scope of token %s allows %s on %s", ErrScopeDenied, rec.Accessor, action, path)
		}
		if !rec.ceilingAllows(action, path) {
			return rec, nil, fmt.Errorf("%w: the current ceiling of agent %s does not allow %s on %s", ErrScopeDenied, rec.IssuedTo.ID, action, path)
		}
	}
	return rec, scopes, nil
}

// tokenUsable checks revocation, expiry, uses left and the caller's IP.
func (v *AgentVault) tokenUsable(ctx context.Context, rec *tokenRecord) error {
	switch {
	case rec.Revoked:
		return ErrTokenRevoked
	case !v.opts.now().Before(time.Unix(0, rec.ExpiresAt)):
		return ErrTokenExpired
	case rec.MaxUses > 0 && rec.Uses >= rec.MaxUses:
		return ErrTokenExhausted
	case !ipAllowed(ctx, rec.AllowedIPs):
		return ErrIPDenied
	}
	return nil
}

func allowedBy(scopes []Scope, action ScopeAction, path string) bool {
	for _, sc := range scopes {
		if sc.Allows(action, path) {
			return true
		}
	}
	return false
}

// use counts one use of a token with MaxUses, re-checking it under the
// conditional write.
func (s *Session) use(ctx context.Context, rec *tokenRecord) error {
	if rec.MaxUses == 0 {
		return nil
	}
	return s.v.updateToken(ctx, s.key, func(r *tokenRecord) error {
		if err := s.v.tokenUsable(ctx, r); err != nil {
			return err
		}
		r.Uses++
		return nil
	})
}

func tierAllowed(rec *tokenRecord, tier AccessTier) error {
	if tier.Rank() > rec.Tier.Rank() {
		return fmt.Errorf("%w: secret is %s, token %s is for %s", ErrTierDenied, tier, rec.Accessor, rec.Tier)
	}
	return nil
}

// event returns the base of the call's audit event.
func (s *Session) event(event, path string) *AuditEvent {
	return &AuditEvent{Event: event, Actor: Actor{Kind: ActorToken, ID: s.accessor}, Path: auditPath(path), TokenAccessor: s.accessor}
}

// finish writes the call's audit event and wraps err.
func (s *Session) finish(ctx context.Context, op, event, path string, m *SecretMetadata, err error) error {
	e := s.event(event, path)
	if event == EventSecretListed && validPrefix(path) == nil {
		e.Path = path
	}
	switch {
	case errors.Is(err, ErrTokenExpired):
		e.Event = EventTokenExpired
	case errors.Is(err, ErrExpired) && event == EventSecretRead:
		e.Event = EventSecretExpired
	case errors.Is(err, ErrTokenUnknown), errors.Is(err, ErrTokenRevoked), errors.Is(err, ErrTokenExhausted),
		errors.Is(err, ErrIPDenied), errors.Is(err, ErrScopeDenied), errors.Is(err, ErrUnauthorized):
		e.Event = EventTokenDenied
	}
	if m != nil {
		e.Version, e.Type, e.Tier = m.Version, m.Type, m.Tier
	}
	werr := s.v.emit(ctx, e.finish(err))
	if err == nil && werr != nil && event == EventSecretRead && s.v.opts.access.failClosed {
		err = werr
	}
	if err == nil {
		return nil
	}
	return opErr(op, safePath(path, err), "", err)
}

// GetSecret returns the active version of the secret at path (or the one
// named with AtVersion, "previous" included) if a read scope covers path
// and the token's tier covers both the secret's current tier and the
// version's own: a version written while the secret had a higher tier
// keeps that tier (see AgentVault.UpdateSecret), else ErrTierDenied.
func (s *Session) GetSecret(ctx context.Context, path string, opts ...GetOption) (*Secret, error) {
	if err := s.v.enter(); err != nil {
		return nil, opErr("get", "", "", err)
	}
	defer s.v.leave()
	sec, written, werr, err := s.getSecret(ctx, path, opts)
	if written { // the read's event is written (see readPredicted)
		if werr != nil && s.v.opts.access.failClosed {
			return nil, opErr("get", safePath(path, werr), "", werr)
		}
		return sec, nil
	}
	var m *SecretMetadata
	if sec != nil {
		m = &sec.SecretMetadata
	}
	if err := s.finish(ctx, "get", EventSecretRead, path, m, err); err != nil {
		return nil, err
	}
	return sec, nil
}

// getSecret is GetSecret but for the event. written says the read's event
// is already written (the one-round-trip read of readPredicted, taken for
// a token without a use limit: a limited token's use is a write between
// the authorization and the decryption), with werr its write error.
func (s *Session) getSecret(ctx context.Context, path string, opts []GetOption) (sec *Secret, written bool, werr, err error) {
	var o getOptions
	for _, opt := range opts {
		opt(&o)
	}
	tok, _, err := s.check(ctx, ActionRead, path)
	if err != nil {
		return nil, false, nil, err
	}
	v := s.v
	want, err := wantVersion(o.version)
	if err != nil {
		return nil, false, nil, err
	}
	gate := func(rec *record.Secret) error {
		tier, _ := tierFromRank(rec.Tier)
		return tierAllowed(tok, tier)
	}
	if tok.MaxUses == 0 {
		p := v.readPredicted(ctx, path, o.version, want,
			func() *AuditEvent { return s.event(EventSecretRead, path) },
			func(rec *record.Secret, ver *record.Version) error {
				if err := gate(rec); err != nil {
					return err
				}
				return tierAllowed(tok, versionTier(rec, ver))
			},
			func(r *auditRead) (*Secret, error) {
				rec, err := v.readRecord(path, r)
				if err != nil {
					return nil, err
				}
				return s.readFrom(ctx, path, o.version, want, tok, gate, rec)
			})
		if p.read {
			return p.secret, p.written, p.werr, p.err
		}
	}
	rec, _, err := v.load(ctx, path)
	if err != nil {
		return nil, false, nil, err
	}
	sec, err = s.readFrom(ctx, path, o.version, want, tok, gate, rec)
	return sec, false, nil, err
}

// readFrom is getSecret once the record is loaded: the tier checks (the
// secret's, in gate, and the version's), the token's use, the value.
func (s *Session) readFrom(ctx context.Context, path, version string, want uint32, tok *tokenRecord, gate func(*record.Secret) error, rec *record.Secret) (*Secret, error) {
	v := s.v
	rec, ver, err := v.selectVersion(ctx, rec, version, want, gate)
	if err != nil {
		return nil, err
	}
	// The version itself may need more: its tier floor (the tier in force
	// when it was written, if the secret's tier was lowered since).
	if err := tierAllowed(tok, versionTier(rec, ver)); err != nil {
		return nil, fmt.Errorf("%w (version %s was written at that tier)", err, FormatVersion(ver.Number))
	}
	if err := s.use(ctx, tok); err != nil {
		return nil, err
	}
	pt, err := v.open(ctx, path, rec, ver)
	if err != nil {
		return nil, err
	}
	return &Secret{SecretMetadata: metadata(rec, ver.Number), Value: SecretValue{b: pt}}, nil
}

// ListSecrets lists, like AgentVault.ListSecrets, only the secrets that a
// read scope of the token (and its agent's current ceiling) covers and
// whose tier is within the token's. Unreadable records are skipped; those
// the token's read scopes cover are reported, to a critical-tier token
// only, with the results as an *UnreadableError (see UnreadableError).
func (s *Session) ListSecrets(ctx context.Context, f ListFilter) ([]SecretMetadata, error) {
	if err := s.v.enter(); err != nil {
		return nil, opErr("list", "", "", err)
	}
	defer s.v.leave()
	out, err := s.listSecrets(ctx, f)
	if err := s.finish(ctx, "list", EventSecretListed, f.Prefix, nil, err); err != nil {
		var ue *UnreadableError
		if errors.As(err, &ue) {
			return out, err
		}
		return nil, err
	}
	return out, nil
}

func (s *Session) listSecrets(ctx context.Context, f ListFilter) ([]SecretMetadata, error) {
	tok, scopes, err := s.check(ctx, "", "")
	if err != nil {
		return nil, err
	}
	all, bad, err := s.v.listSecrets(withoutAudit(ctx), f)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for i, m := range all {
		if err := ctxEvery(ctx, i); err != nil {
			return nil, err
		}
		if allowedBy(scopes, ActionRead, m.Path) && tok.ceilingAllows(ActionRead, m.Path) && tierAllowed(tok, m.Tier) == nil {
			out = append(out, m)
		}
	}
	var shown []string
	if tierAllowed(tok, TierCritical) == nil {
		for _, p := range bad {
			if allowedBy(scopes, ActionRead, p) && tok.ceilingAllows(ActionRead, p) {
				shown = append(shown, p)
			}
		}
	}
	if err := s.use(ctx, tok); err != nil {
		return nil, err
	}
	if len(shown) > 0 {
		return out, &UnreadableError{Paths: shown}
	}
	return out, nil
}

// CreateSecret creates a secret if a write scope covers in.Path. The tier
// may not be above the token's; when unset it defaults to the token's tier
// if that is standard (else to sensitive, as AgentVault.CreateSecret).
// CreatedBy is "token:" + the accessor.
func (s *Session) CreateSecret(ctx context.Context, in CreateSecretInput) (*Secret, error) {
	if err := s.v.enter(); err != nil {
		return nil, opErr("create", "", "", err)
	}
	defer s.v.leave()
	sec, err := s.createSecret(ctx, in)
	var m *SecretMetadata
	if sec != nil {
		m = &sec.SecretMetadata
	}
	if err := s.finish(ctx, "create", EventSecretCreated, in.Path, m, err); err != nil {
		return nil, err
	}
	return sec, nil
}

func (s *Session) createSecret(ctx context.Context, in CreateSecretInput) (*Secret, error) {
	tok, _, err := s.check(ctx, ActionWrite, in.Path)
	if err != nil {
		return nil, err
	}
	if in.Tier == "" && tok.Tier == TierStandard {
		in.Tier = TierStandard
	}
	if in.Tier == "" {
		in.Tier = TierSensitive
	}
	if err := tierAllowed(tok, in.Tier); err != nil {
		return nil, err
	}
	if err := s.use(ctx, tok); err != nil {
		return nil, err
	}
	return s.v.CreateSecret(s.innerCtx(ctx), in)
}

// innerCtx is the context of the vault call a Session makes: unaudited
// (the Session writes the event) and acting as the token, which the
// events written beneath it anyway (secret.version_pruned) name as actor.
func (s *Session) innerCtx(ctx context.Context) context.Context {
	return s.actingCtx(withoutAudit(ctx))
}

// UpdateSecret updates a secret if a write scope covers path and both its
// current tier and any new tier are within the token's. Through a Session
// a tier can only be raised: a new tier below the current one fails with
// ErrTierDenied (lowering is the vault owner's act, AgentVault.UpdateSecret).
// The tier checks run again inside the conditional write, so a tier changed
// concurrently is seen.
func (s *Session) UpdateSecret(ctx context.Context, path string, in UpdateSecretInput) (*SecretMetadata, error) {
	if err := s.v.enter(); err != nil {
		return nil, opErr("update", "", "", err)
	}
	defer s.v.leave()
	m, err := s.updateSecret(ctx, path, in)
	if err := s.finish(ctx, "update", EventSecretUpdated, path, m, err); err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Session) updateSecret(ctx context.Context, path string, in UpdateSecretInput) (*SecretMetadata, error) {
	tok, _, err := s.check(ctx, ActionWrite, path)
	if err != nil {
		return nil, err
	}
	if in.Tier != "" {
		if err := tierAllowed(tok, in.Tier); err != nil {
			return nil, err
		}
	}
	guard := noTierLowering(tok, in)
	rec, _, err := s.v.load(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := guard(rec); err != nil {
		return nil, err
	}
	if err := s.use(ctx, tok); err != nil {
		return nil, err
	}
	// The guard runs again inside the conditional write, so a tier changed
	// in between is seen.
	return s.v.updateSecret(s.innerCtx(ctx), path, in, guard)
}

// secretTier checks that the token's tier covers every stored version of
// the secret at path (the current tier and every version's floor).
// authorize runs every check a Session call on one existing secret needs:
// the token (state, IP, agent), a scope for action on path, a tier covering
// every stored version of the secret, then counts the use.
func (s *Session) authorize(ctx context.Context, action ScopeAction, path string) error {
	tok, _, err := s.check(ctx, action, path)
	if err != nil {
		return err
	}
	if err := s.secretTier(ctx, tok, path); err != nil {
		return err
	}
	return s.use(ctx, tok)
}

func (s *Session) secretTier(ctx context.Context, tok *tokenRecord, path string) error {
	rec, _, err := s.v.load(ctx, path)
	if err != nil {
		return err
	}
	return tierAllowed(tok, highestTier(rec))
}

// DeleteSecret deletes a secret if a delete scope covers path and the
// token's tier covers every stored version's (the current tier, and the
// tier each older version was written at).
func (s *Session) DeleteSecret(ctx context.Context, path string) error {
	if err := s.v.enter(); err != nil {
		return opErr("delete", "", "", err)
	}
	defer s.v.leave()
	err := s.deleteSecret(ctx, path)
	return s.finish(ctx, "delete", EventSecretDeleted, path, nil, err)
}

func (s *Session) deleteSecret(ctx context.Context, path string) error {
	if err := s.authorize(ctx, ActionDelete, path); err != nil {
		return err
	}
	return s.v.DeleteSecret(s.innerCtx(ctx), path)
}

// Check reports the token's state without using it: its info if it is
// usable now from this caller, else the reason it is not. It is audited
// as token.used (or token.denied / token.expired).
func (s *Session) Check(ctx context.Context) (*TokenInfo, error) {
	if err := s.v.enter(); err != nil {
		return nil, opErr("token check", "", "", err)
	}
	defer s.v.leave()
	tok, _, err := s.check(ctx, "", "")
	if err := s.finish(ctx, "token check", EventTokenUsed, "", nil, err); err != nil {
		return nil, err
	}
	info := tok.info()
	return &info, nil
}
