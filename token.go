package agentvault

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/agentvault/agentvault/backend"
)

// Errors of scoped tokens, returned wrapped in an *Error. Test them with
// errors.Is.
var (
	// ErrTokenUnknown is returned when a token is malformed or not issued
	// by this vault (or was deleted). It is the "unauthorized" answer.
	ErrTokenUnknown = errors.New("agentvault: unknown token")

	// ErrTokenExpired is returned when a token is used at or after its
	// expiry (issue time + TTL).
	ErrTokenExpired = errors.New("agentvault: token expired")

	// ErrTokenExhausted is returned when a token with MaxUses has been used
	// that many times.
	ErrTokenExhausted = errors.New("agentvault: token uses exhausted")

	// ErrTokenRevoked is returned when a token was revoked (RevokeToken).
	ErrTokenRevoked = errors.New("agentvault: token revoked")

	// ErrScopeDenied is returned when no scope of the token (or of an
	// agent's ceiling, for a token request) allows the action on the path.
	ErrScopeDenied = errors.New("agentvault: scope does not allow this")

	// ErrTierDenied is returned when a token touches a secret whose
	// current tier is above the tier the token was issued (or approved) for.
	// It wraps ErrScopeDenied.
	ErrTierDenied = fmt.Errorf("%w: secret tier above the token's tier", ErrScopeDenied)

	// ErrIPDenied is returned when the caller's IP (ContextWithClientIP) is
	// missing or not in the token's or agent's allowlist.
	ErrIPDenied = errors.New("agentvault: client IP not allowed")

	// ErrUnauthorized is returned when an agent key (ContextWithAgentKey)
	// is malformed, unknown or disabled.
	ErrUnauthorized = errors.New("agentvault: unauthorized")
)

// TokenPrefix starts every token value.
const TokenPrefix = "ast_tok_"

const (
	tokenRandLen  = 32 // bytes of randomness: 256 bits
	tokenLen      = len(TokenPrefix) + 43
	tokenKeyPfx   = "tok/"
	accessorBytes = 12
)

// Credential is a token value or agent key: a bearer secret shown once.
// Like SecretValue it never prints itself (String, GoString, every fmt
// verb, JSON and slog give "[REDACTED]"); Reveal returns it. The zero
// Credential is empty. A Credential is immutable and safe for concurrent use.
type Credential struct{ s string }

// Reveal returns the credential, for handing to the agent that will use it.
func (c Credential) Reveal() string { return c.s }

// String returns "[REDACTED]".
func (Credential) String() string { return redacted }

// GoString returns "[REDACTED]".
func (Credential) GoString() string { return redacted }

// Format prints "[REDACTED]" for every verb.
func (Credential) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON returns "[REDACTED]" as a JSON string.
func (Credential) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText returns "[REDACTED]".
func (Credential) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue makes slog print "[REDACTED]".
func (Credential) LogValue() slog.Value { return slog.StringValue(redacted) }

// TokenRequest asks for a scoped token. Scopes is required.
type TokenRequest struct {
	Scopes      []string      // "secrets:<read|write|delete|*>:<pattern>", at least one (see Scope)
	TTL         time.Duration // 0: the vault default (1h); at most the vault maximum (24h)
	MaxUses     int           // 0: unlimited within the TTL
	AllowedIPs  []string      // IPs or CIDRs ("10.0.1.50", "10.0.0.0/8"); empty: any caller
	Description string        // up to 1 KiB, shown in listings and approvals
	// WaiveApproval asks to skip the approval a sensitive secret would need.
	// It is honoured only where the approval policy makes that tier waivable
	// (TierRule.Waivable); critical secrets always need approval.
	WaiveApproval bool
}

// TokenInfo describes an issued token, never its value.
type TokenInfo struct {
	Accessor    string     `json:"accessor"` // identifies the token in listings and audit
	Scopes      []string   `json:"scopes"`
	Tier        AccessTier `json:"tier"` // the highest tier the token may touch
	Description string     `json:"description,omitempty"`
	IssuedTo    Actor      `json:"issued_to"`
	IssuedAt    time.Time  `json:"issued_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	MaxUses     int        `json:"max_uses"` // 0: unlimited
	Uses        int        `json:"uses"`     // counted for tokens with MaxUses only
	AllowedIPs  []string   `json:"allowed_ips,omitempty"`
	ApprovalID  string     `json:"approval_id,omitempty"`
	Revoked     bool       `json:"revoked"`
}

// Token is a newly issued token. Value is shown this once: the vault
// stores only its SHA-256 hash.
type Token struct {
	Value Credential `json:"value"`
	TokenInfo
}

// tokenRecord is what the vault stores at tok/<hex sha256(value)>.
type tokenRecord struct {
	Accessor    string     `json:"accessor"`
	Scopes      []string   `json:"scopes"`
	Tier        AccessTier `json:"tier"`
	Description string     `json:"description,omitempty"`
	IssuedTo    Actor      `json:"issued_to"`
	IssuedAt    int64      `json:"issued_at"`
	ExpiresAt   int64      `json:"expires_at"`
	MaxUses     int        `json:"max_uses"`
	Uses        int        `json:"uses"`
	AllowedIPs  []string   `json:"allowed_ips,omitempty"`
	ApprovalID  string     `json:"approval_id,omitempty"`
	Revoked     bool       `json:"revoked"`
	RevokedAt   int64      `json:"revoked_at,omitempty"`

	// Not stored: set by Session.check for a token issued to an agent, from
	// the agent's record as it is now.
	agentBound bool
	ceiling    []Scope
}

// ceilingAllows reports whether the current ceiling of the agent the token
// was issued to (if any) allows action on path.
func (r *tokenRecord) ceilingAllows(action ScopeAction, path string) bool {
	return !r.agentBound || allowedBy(r.ceiling, action, path)
}

func (r *tokenRecord) info() TokenInfo {
	return TokenInfo{
		Accessor: r.Accessor, Scopes: append([]string(nil), r.Scopes...), Tier: r.Tier, Description: r.Description,
		IssuedTo: r.IssuedTo, IssuedAt: timeUTC(r.IssuedAt), ExpiresAt: timeUTC(r.ExpiresAt),
		MaxUses: r.MaxUses, Uses: r.Uses, AllowedIPs: append([]string(nil), r.AllowedIPs...),
		ApprovalID: r.ApprovalID, Revoked: r.Revoked,
	}
}

// tokenSpec is a validated TokenRequest.
type tokenSpec struct {
	scopes      []Scope
	raw         []string
	ttl         time.Duration
	maxUses     int
	ips         []netip.Prefix
	description string
	waive       bool
}

func (v *AgentVault) validateTokenRequest(req TokenRequest) (*tokenSpec, error) {
	if err := scopesNoCredential(req.Scopes); err != nil {
		return nil, err
	}
	scopes, err := ParseScopes(req.Scopes)
	if err != nil {
		return nil, err
	}
	a := &v.opts.access
	ttl := req.TTL
	if ttl == 0 {
		ttl = a.tokenTTL
	}
	if ttl <= 0 || ttl > a.maxTokenTTL {
		return nil, fmt.Errorf("%w: token TTL %v out of range (0 < TTL <= %v)", ErrInvalidInput, req.TTL, a.maxTokenTTL)
	}
	if err := storableSpan("token TTL", v.opts.now(), ttl); err != nil {
		return nil, err
	}
	if req.MaxUses < 0 {
		return nil, fmt.Errorf("%w: MaxUses %d is negative", ErrInvalidInput, req.MaxUses)
	}
	ips, err := parseIPList(req.AllowedIPs)
	if err != nil {
		return nil, err
	}
	if err := validateDescription(req.Description); err != nil {
		return nil, err
	}
	raw := make([]string, len(scopes))
	for i, s := range scopes {
		raw[i] = s.String()
	}
	return &tokenSpec{scopes: scopes, raw: raw, ttl: ttl, maxUses: req.MaxUses, ips: ips,
		description: req.Description, waive: req.WaiveApproval}, nil
}

// scopesNoCredential refuses scope strings that hold a credential: they
// are stored, listed and quoted in errors.
func scopesNoCredential(ss []string) error {
	for _, s := range ss {
		if err := noCredential("scope", s); err != nil {
			return err
		}
	}
	return nil
}

// parseIPList parses IPs and CIDRs into prefixes. IPv4-mapped IPv6 forms
// ("::ffff:10.0.0.1", "::ffff:10.0.0.0/104") become their IPv4 prefix, so
// they match IPv4 clients. Zoned addresses ("fe80::1%eth0") are refused:
// the zone would be dropped and the entry would admit the address from
// every interface.
func parseIPList(ss []string) ([]netip.Prefix, error) {
	if len(ss) > MaxScopes {
		return nil, fmt.Errorf("%w: %d allowed IPs, more than %d", ErrInvalidInput, len(ss), MaxScopes)
	}
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := parseIPEntry(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseIPEntry(s string) (netip.Prefix, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: allowed IP %q %s", ErrInvalidInput, truncate(s, 64), why)
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, bad("has an IPv6 zone (%…): zoned addresses are not supported, give the address without its zone")
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, bad("is not an IP or CIDR")
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, bad("is not an IP or CIDR")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return canonicalPrefix(p), nil
}

// canonicalPrefix masks p and rewrites an IPv4-mapped IPv6 prefix as the
// IPv4 prefix it denotes. (A masked prefix is IPv4-mapped only with at
// least 96 bits.)
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if !p.Addr().Is4In6() {
		return p
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
}

// ipAllowed reports whether the context's client IP is in the list (any IP
// when the list is empty). An IPv4-mapped IPv6 client matches IPv4
// entries; a client address with an IPv6 zone matches nothing.
func ipAllowed(ctx context.Context, list []string) bool {
	if len(list) == 0 {
		return true
	}
	ip, ok := ClientIPFromContext(ctx)
	if !ok || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			continue
		}
		if canonicalPrefix(p).Contains(ip) {
			return true
		}
	}
	return false
}

type clientIPKey struct{}

// ContextWithClientIP returns a context carrying the caller's IP address,
// which a Session checks against the token's allowlist (and RequestToken
// against an agent's). A token with an allowlist refuses calls whose
// context carries no IP, or an IPv6 address with a zone; an IPv4-mapped
// IPv6 address is matched as the IPv4 address.
func ContextWithClientIP(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIPFromContext returns the IP set by ContextWithClientIP.
func ClientIPFromContext(ctx context.Context) (netip.Addr, bool) {
	ip, ok := ctx.Value(clientIPKey{}).(netip.Addr)
	return ip, ok && ip.IsValid()
}

// RequestToken issues a scoped token, or opens an approval request.
//
// The requester is the agent whose key the context carries
// (ContextWithAgentKey), else the caller (ContextWithActor or the vault's
// default actor). An agent's token may not exceed its scope ceiling
// (ErrScopeDenied) and must come from an allowed IP (ErrIPDenied).
//
// The highest tier among existing secrets matched by any requested scope
// decides (no match counts as standard): standard → the token is issued at
// once; sensitive → an approval is needed unless the request waives it and
// the policy allows that; critical → an approval is always needed. When an
// approval is needed RequestToken returns an error wrapping
// ErrApprovalRequired, as an *ApprovalRequiredError carrying the approval
// id: once approved, the requester calls RedeemApproval to get the token.
//
// The token may touch secrets up to that tier, checked at every use
// against the secret's current tier.
func (v *AgentVault) RequestToken(ctx context.Context, req TokenRequest) (tok *Token, err error) {
	const op = "token request"
	if err := v.enter(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	defer v.leave()
	e := &AuditEvent{Event: EventTokenIssued}
	defer func() {
		if e.Event == EventTokenIssued && err != nil {
			e.Event = EventTokenDenied
		}
		e.finish(err)
		if e.Event == EventApprovalRequested && errors.Is(err, ErrApprovalRequired) {
			e.Outcome = OutcomeAllowed // the request is recorded; the token waits for approval
		}
		if werr := v.emit(ctx, e); werr != nil && err == nil && v.opts.access.failClosed {
			// The token exists but nobody will ever see its value: revoke it.
			_ = v.revoke(context.WithoutCancel(ctx), tok.Accessor)
			tok, err = nil, &Error{Op: op, Err: werr}
		}
	}()
	who, ag, err := v.requester(ctx)
	e.Actor = who
	if ag != nil {
		e.AgentID = ag.ID
	}
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	spec, err := v.validateTokenRequest(req)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	if ag != nil {
		if err := ag.bound(ctx, spec); err != nil {
			return nil, &Error{Op: op, Err: err}
		}
	}
	need, err := v.approvalNeed(ctx, spec)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	e.Tier = need.tier
	if need.approvers > 0 {
		e.Event = EventApprovalRequested
		id, err := v.openApproval(ctx, who, ag, spec, need)
		e.ApprovalID = id
		if err != nil {
			return nil, &Error{Op: op, Err: err}
		}
		return nil, &Error{Op: op, Err: &ApprovalRequiredError{ApprovalID: id, Tier: need.tier, Approvers: need.approvers}}
	}
	if need.tier != TierStandard {
		e.Reason = "approval_waived"
	}
	tok, err = v.issue(ctx, who, spec, need.tier, "")
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	e.TokenAccessor = tok.Accessor
	return tok, nil
}

// issue creates and stores a token.
func (v *AgentVault) issue(ctx context.Context, who Actor, spec *tokenSpec, tier AccessTier, approvalID string) (*Token, error) {
	var rnd [tokenRandLen]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	raw := TokenPrefix + base64.RawURLEncoding.EncodeToString(rnd[:])
	clear(rnd[:])
	h := sha256.Sum256([]byte(raw))
	now := v.opts.now()
	ips := make([]string, len(spec.ips))
	for i, p := range spec.ips {
		ips[i] = p.String()
	}
	rec := &tokenRecord{
		Accessor: accessorOf(h), Scopes: spec.raw, Tier: tier, Description: spec.description, IssuedTo: who,
		IssuedAt: now.UnixNano(), ExpiresAt: nanosAfter(now, spec.ttl), MaxUses: spec.maxUses,
		AllowedIPs: ips, ApprovalID: approvalID,
	}
	key := tokenKeyPfx + hex.EncodeToString(h[:])
	if _, err := v.b.Put(ctx, key, v.sealJSON("token", key, rec), 0); err != nil {
		return nil, err
	}
	return &Token{Value: Credential{raw}, TokenInfo: rec.info()}, nil
}

// accessorOf derives a token's accessor from its hash: a public handle that
// names the token (and its storage key prefix) without revealing it.
func accessorOf(h [32]byte) string { return "acc_" + hex.EncodeToString(h[:accessorBytes]) }

// tokenKey returns the storage key of a raw token value, or ErrTokenUnknown
// if it is not shaped like a token.
func tokenKey(raw string) (string, error) {
	if len(raw) != tokenLen || !strings.HasPrefix(raw, TokenPrefix) {
		return "", ErrTokenUnknown
	}
	if _, err := base64.RawURLEncoding.DecodeString(raw[len(TokenPrefix):]); err != nil {
		return "", ErrTokenUnknown
	}
	h := sha256.Sum256([]byte(raw))
	return tokenKeyPfx + hex.EncodeToString(h[:]), nil
}

// loadToken reads and authenticates a token record.
func (v *AgentVault) loadToken(ctx context.Context, key string) (*tokenRecord, int64, error) {
	raw, rev, err := v.b.Get(ctx, key)
	if err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			return nil, 0, ErrTokenUnknown
		}
		return nil, 0, err
	}
	var rec tokenRecord
	if err := v.openJSON("token", key, raw, &rec); err != nil {
		return nil, 0, err
	}
	return &rec, rev, nil
}

// RevokeToken revokes the token with the given accessor: every later use
// fails with ErrTokenRevoked. Revoking a revoked token is not an error.
func (v *AgentVault) RevokeToken(ctx context.Context, accessor string) (err error) {
	const op = "token revoke"
	e := &AuditEvent{Event: EventTokenRevoked, Actor: v.callerActor(ctx)}
	if validAccessor(accessor) {
		e.TokenAccessor = accessor
	}
	if err := v.enter(); err != nil {
		return &Error{Op: op, Err: err}
	}
	defer v.leave()
	defer func() { _ = v.emit(ctx, e.finish(err)) }()
	if _, err := v.ctxActor(ctx); err != nil {
		return &Error{Op: op, Err: err}
	}
	if err := v.revoke(ctx, accessor); err != nil {
		return &Error{Op: op, Err: err}
	}
	return nil
}

func validAccessor(a string) bool {
	h, ok := strings.CutPrefix(a, "acc_")
	if !ok || len(h) != 2*accessorBytes {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func (v *AgentVault) revoke(ctx context.Context, accessor string) error {
	if !validAccessor(accessor) {
		return fmt.Errorf("%w: not a token accessor (acc_ + 24 hex digits)", ErrInvalidInput)
	}
	keys, err := v.b.List(ctx, tokenKeyPfx+accessor[len("acc_"):])
	if err != nil {
		return err
	}
	if len(keys) != 1 {
		return fmt.Errorf("%w: no token with accessor %s", ErrTokenUnknown, accessor)
	}
	return v.updateToken(ctx, keys[0], func(r *tokenRecord) error {
		if !r.Revoked {
			r.Revoked, r.RevokedAt = true, v.opts.now().UnixNano()
		}
		return nil
	})
}

// updateToken runs a compare-and-swap cycle on a token record, retrying on
// conflict, so concurrent uses from any number of processes are counted
// exactly.
func (v *AgentVault) updateToken(ctx context.Context, key string, change func(*tokenRecord) error) error {
	for attempt := 0; ; attempt++ {
		rec, rev, err := v.loadToken(ctx, key)
		if err != nil {
			return err
		}
		if err := change(rec); err != nil {
			return err
		}
		_, err = v.b.Put(ctx, key, v.sealJSON("token", key, rec), rev)
		if err == nil {
			return nil
		}
		if !errors.Is(err, backend.ErrConflict) {
			return err
		}
		if attempt >= v.opts.maxRetries {
			return fmt.Errorf("%w: gave up after %d attempts", ErrConflict, attempt+1)
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// ListTokens returns every stored token (expired and revoked ones
// included), never a value, ordered by issue time. Audited as token.listed.
// Token records that cannot be read are skipped and reported, by accessor,
// as an *UnreadableError alongside the others.
func (v *AgentVault) ListTokens(ctx context.Context) (_ []TokenInfo, err error) {
	const op = "token list"
	if err := v.enter(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	defer v.leave()
	defer v.auditOp(ctx, EventTokenListed, "", &err)
	keys, err := v.b.List(ctx, tokenKeyPfx)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	items, badKeys, err := v.getReadable(ctx, keys)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	out := make([]TokenInfo, 0, len(items))
	var bad []string
	for _, k := range badKeys {
		bad = append(bad, accessorOfKey(k))
	}
	for _, it := range items {
		if it.Value == nil {
			continue
		}
		var rec tokenRecord
		if err := v.openJSON("token", it.Key, it.Value, &rec); err != nil {
			bad = append(bad, accessorOfKey(it.Key))
			continue
		}
		out = append(out, rec.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IssuedAt.Before(out[j].IssuedAt) })
	if len(bad) > 0 {
		sort.Strings(bad)
		return out, &Error{Op: op, Err: &UnreadableError{Paths: bad}}
	}
	return out, nil
}

// accessorOfKey names the token stored at a tok/ key by its accessor.
func accessorOfKey(key string) string {
	h := strings.TrimPrefix(key, tokenKeyPfx)
	if len(h) < 2*accessorBytes {
		return "(malformed key)"
	}
	return "acc_" + h[:2*accessorBytes]
}

// accessKey returns the MAC key of token, approval, agent and audit
// records, derived from the vault's MAC key (so it is as protected as that
// key and differs per vault).
func (v *AgentVault) accessKey() []byte {
	st := v.opts.access.st
	st.keyOnce.Do(func() {
		m := hmac.New(sha256.New, v.macKey)
		m.Write([]byte("agentvault access records v1"))
		st.key = m.Sum(nil)
	})
	return st.key
}

// wipeAccessKeys wipes the keys derived from the MAC key (the access key
// and the audit chain's keyed hash). Close calls it once nothing is in flight.
func (v *AgentVault) wipeAccessKeys() {
	st := v.opts.access.st
	st.keyOnce.Do(func() {}) // never derive after this
	clear(st.key)
	st.audit.mu.Lock()
	st.audit.mac = nil
	st.audit.mu.Unlock()
}

const sealMagic = "AVA1"

// sealJSON encodes x as JSON behind a MAC binding it to its purpose and
// storage key, so storage writers can neither forge nor move it.
func (v *AgentVault) sealJSON(purpose, key string, x any) []byte {
	body, err := json.Marshal(x)
	if err != nil {
		panic("agentvault: encode " + purpose + ": " + err.Error()) // our own types: cannot fail
	}
	out := make([]byte, 0, len(sealMagic)+sha256.Size+len(body))
	out = append(out, sealMagic...)
	out = append(out, v.recordMAC(purpose, key, body)...)
	return append(out, body...)
}

func (v *AgentVault) openJSON(purpose, key string, raw []byte, x any) error {
	n := len(sealMagic) + sha256.Size
	if len(raw) < n || string(raw[:len(sealMagic)]) != sealMagic {
		return fmt.Errorf("%w: %s record is malformed", ErrIntegrity, purpose)
	}
	body := raw[n:]
	if !hmac.Equal(raw[len(sealMagic):n], v.recordMAC(purpose, key, body)) {
		return fmt.Errorf("%w: %s record MAC does not verify", ErrIntegrity, purpose)
	}
	if err := json.Unmarshal(body, x); err != nil {
		return fmt.Errorf("%w: %s record: %w", ErrIntegrity, purpose, err)
	}
	return nil
}

func (v *AgentVault) recordMAC(purpose, key string, body []byte) []byte {
	m := hmac.New(sha256.New, v.accessKey())
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(key))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)
}
