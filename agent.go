package agentvault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/agentvault/agentvault/backend"
)

// AgentKeyPrefix starts every agent key.
const AgentKeyPrefix = "ast_agent_"

const (
	agentKeyPfx   = "agent/"
	agentIDHexLen = 24
	agentKeyLen   = len(AgentKeyPrefix) + agentIDHexLen + 1 + 43
	maxNameLen    = 128
)

// Agent is a registered agent principal: it requests tokens with its key
// (ContextWithAgentKey), within its scope ceiling and IP policy.
type Agent struct {
	ID          string    `json:"id"` // "agt_" + 24 hex digits
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Scopes      []string  `json:"scopes"`                // the ceiling: every scope a token requests must be covered (Scope.Covers)
	AllowedIPs  []string  `json:"allowed_ips,omitempty"` // IPs/CIDRs the agent may request from; its tokens stay within them
	Disabled    bool      `json:"disabled"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// CreateAgentInput registers an agent. Name and Scopes are required.
type CreateAgentInput struct {
	Name        string   // 1–128 printable bytes
	Description string   // up to 1 KiB
	Scopes      []string // the ceiling, as scope strings
	AllowedIPs  []string // optional IPs or CIDRs
}

// UpdateAgentInput changes an agent. Nil fields are left as they are.
type UpdateAgentInput struct {
	Description *string
	Scopes      []string // nil keeps the ceiling
	AllowedIPs  []string // nil keeps the list; empty non-nil clears it
	Disabled    *bool    // a disabled agent's key is refused (ErrUnauthorized)
}

type agentRecord struct {
	Agent
	KeyHash string `json:"key_hash"` // hex SHA-256 of the key
	scopes  []Scope
}

type agentKeyCtx struct{}

// ContextWithAgentKey returns a context carrying an agent key: RequestToken,
// RedeemApproval and CancelApproval then act as that agent. The key is
// held as a Credential, so printing the context does not reveal it.
func ContextWithAgentKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, agentKeyCtx{}, Credential{key})
}

func agentKeyFromContext(ctx context.Context) (string, bool) {
	c, ok := ctx.Value(agentKeyCtx{}).(Credential)
	return c.s, ok
}

// requester identifies who asks for a token: the agent of the context's
// key, or the caller.
func (v *AgentVault) requester(ctx context.Context) (Actor, *agentRecord, error) {
	key, ok := agentKeyFromContext(ctx)
	if !ok {
		who, err := v.ctxActor(ctx)
		return who, nil, err
	}
	who := Actor{Kind: ActorAgent}
	if len(key) != agentKeyLen || !strings.HasPrefix(key, AgentKeyPrefix) || key[len(AgentKeyPrefix)+agentIDHexLen] != '_' {
		return who, nil, fmt.Errorf("%w: malformed agent key", ErrUnauthorized)
	}
	id := "agt_" + key[len(AgentKeyPrefix):len(AgentKeyPrefix)+agentIDHexLen]
	if _, err := hex.DecodeString(id[4:]); err != nil {
		return who, nil, fmt.Errorf("%w: malformed agent key", ErrUnauthorized)
	}
	rec, _, err := v.loadAgent(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return who, nil, fmt.Errorf("%w: unknown agent key", ErrUnauthorized)
	}
	if err != nil {
		return who, nil, err
	}
	h := sha256.Sum256([]byte(key))
	if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(h[:])), []byte(rec.KeyHash)) != 1 {
		return who, nil, fmt.Errorf("%w: unknown agent key", ErrUnauthorized)
	}
	who.ID = rec.ID
	if rec.Disabled {
		return who, rec, fmt.Errorf("%w: agent %s is disabled", ErrUnauthorized, rec.ID)
	}
	if !ipAllowed(ctx, rec.AllowedIPs) {
		return who, rec, fmt.Errorf("%w: agent %s may not request from this address", ErrIPDenied, rec.ID)
	}
	return who, rec, nil
}

// bound checks a token request against the agent's ceiling and IP policy,
// and narrows the token's allowlist to the agent's when it has none.
func (r *agentRecord) bound(_ context.Context, spec *tokenSpec) error {
	for _, want := range spec.scopes {
		ok := false
		for _, c := range r.scopes {
			if c.Covers(want) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%w: %s is beyond agent %s's ceiling", ErrScopeDenied, want, r.ID)
		}
	}
	if len(r.AllowedIPs) == 0 {
		return nil
	}
	agentNets, _ := parseIPList(r.AllowedIPs)
	if len(spec.ips) == 0 {
		spec.ips = agentNets
		return nil
	}
	for _, p := range spec.ips {
		inside := false
		for _, a := range agentNets {
			if a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
				inside = true
				break
			}
		}
		if !inside {
			return fmt.Errorf("%w: allowed IP %s is outside agent %s's IP policy", ErrIPDenied, p, r.ID)
		}
	}
	return nil
}

// bindAgent applies to a token issued to an agent the agent's state as it
// is now, read from storage at every use (no cache, so a change made by any
// process binds at once): a disabled or vanished agent's tokens are refused
// (ErrUnauthorized), the caller must be inside the agent's current IP
// policy (ErrIPDenied), and the token's scopes are cut down to the agent's
// current ceiling (rec.ceilingAllows). It costs one backend read, for agent
// tokens only.
func (v *AgentVault) bindAgent(ctx context.Context, rec *tokenRecord) error {
	if rec.IssuedTo.Kind != ActorAgent {
		return nil
	}
	ag, _, err := v.loadAgent(ctx, rec.IssuedTo.ID)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrInvalidInput):
		return fmt.Errorf("%w: the agent token %s was issued to no longer exists", ErrUnauthorized, rec.Accessor)
	case err != nil:
		return err
	case ag.Disabled:
		return fmt.Errorf("%w: agent %s is disabled", ErrUnauthorized, ag.ID)
	case !ipAllowed(ctx, ag.AllowedIPs):
		return fmt.Errorf("%w: outside agent %s's IP policy", ErrIPDenied, ag.ID)
	}
	rec.agentBound, rec.ceiling = true, ag.scopes
	return nil
}

func (v *AgentVault) loadAgent(ctx context.Context, id string) (*agentRecord, int64, error) {
	if !strings.HasPrefix(id, "agt_") || len(id) != 4+agentIDHexLen {
		return nil, 0, fmt.Errorf("%w: not an agent id (agt_ + 24 hex digits)", ErrInvalidInput)
	}
	key := agentKeyPfx + id
	raw, rev, err := v.b.Get(ctx, key)
	if err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			return nil, 0, fmt.Errorf("%w: no agent %s", ErrNotFound, id)
		}
		return nil, 0, err
	}
	var rec agentRecord
	if err := v.openJSON("agent", key, raw, &rec); err != nil {
		return nil, 0, err
	}
	if rec.scopes, err = ParseScopes(rec.Scopes); err != nil {
		return nil, 0, fmt.Errorf("%w: agent %s: %w", ErrIntegrity, id, err)
	}
	return &rec, rev, nil
}

func validateAgentFields(name *string, desc *string, scopes, ips []string) error {
	if name != nil {
		if err := validateName("agent name", *name, maxNameLen); err != nil {
			return err
		}
	}
	if desc != nil {
		if err := validateDescription(*desc); err != nil {
			return err
		}
	}
	if scopes != nil {
		if err := scopesNoCredential(scopes); err != nil {
			return err
		}
		if _, err := ParseScopes(scopes); err != nil {
			return err
		}
	}
	_, err := parseIPList(ips)
	return err
}

// CreateAgent registers an agent and returns it with its key, shown this
// once (the vault keeps only its SHA-256 hash). Audited as agent.created.
func (v *AgentVault) CreateAgent(ctx context.Context, in CreateAgentInput) (ag *Agent, key Credential, err error) {
	const op = "agent create"
	if err := v.enter(); err != nil {
		return nil, Credential{}, &Error{Op: op, Err: err}
	}
	defer v.leave()
	e := v.event(ctx, EventAgentCreated, "")
	defer func() { _ = v.emit(ctx, e.finish(err)) }()
	if _, err := v.ctxActor(ctx); err != nil {
		return nil, Credential{}, &Error{Op: op, Err: err}
	}
	if err := validateAgentFields(&in.Name, &in.Description, in.Scopes, in.AllowedIPs); err != nil {
		return nil, Credential{}, &Error{Op: op, Err: err}
	}
	if in.Scopes == nil {
		return nil, Credential{}, &Error{Op: op, Err: fmt.Errorf("%w: an agent needs a scope ceiling", ErrInvalidInput)}
	}
	var idb [agentIDHexLen / 2]byte
	var secret [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, Credential{}, &Error{Op: op, Err: err}
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, Credential{}, &Error{Op: op, Err: err}
	}
	idHex := hex.EncodeToString(idb[:])
	raw := AgentKeyPrefix + idHex + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	clear(secret[:])
	h := sha256.Sum256([]byte(raw))
	now := v.opts.now().UTC()
	ips, _ := parseIPList(in.AllowedIPs)
	rec := &agentRecord{Agent: Agent{
		ID: "agt_" + idHex, Name: in.Name, Description: in.Description, Scopes: canonicalScopes(in.Scopes),
		AllowedIPs: prefixStrings(ips), CreatedBy: e.Actor.ID, CreatedAt: now, UpdatedAt: now,
	}, KeyHash: hex.EncodeToString(h[:])}
	e.AgentID = rec.ID
	k := agentKeyPfx + rec.ID
	if _, err := v.b.Put(ctx, k, v.sealJSON("agent", k, rec), 0); err != nil {
		return nil, Credential{}, &Error{Op: op, Err: err}
	}
	out := rec.Agent
	return &out, Credential{raw}, nil
}

// UpdateAgent changes an agent's description, ceiling, IP policy or
// disabled flag. The change binds the agent's tokens already issued, and
// its approved requests, at their next use: a disabled agent's tokens are
// refused (ErrUnauthorized), and a token can do at most what both its own
// scopes and the agent's current ceiling allow. Audited as agent.updated.
func (v *AgentVault) UpdateAgent(ctx context.Context, id string, in UpdateAgentInput) (ag *Agent, err error) {
	const op = "agent update"
	if err := v.enter(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	defer v.leave()
	e := v.event(ctx, EventAgentUpdated, "")
	defer func() { _ = v.emit(ctx, e.finish(err)) }()
	if _, err := v.ctxActor(ctx); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	if err := validateAgentFields(nil, in.Description, in.Scopes, in.AllowedIPs); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	if in.Scopes != nil && len(in.Scopes) == 0 {
		return nil, &Error{Op: op, Err: fmt.Errorf("%w: an agent needs a scope ceiling", ErrInvalidInput)}
	}
	for attempt := 0; ; attempt++ {
		rec, rev, err := v.loadAgent(ctx, id)
		if err != nil {
			return nil, &Error{Op: op, Err: err}
		}
		e.AgentID = rec.ID
		if in.Description != nil {
			rec.Description = *in.Description
		}
		if in.Scopes != nil {
			rec.Scopes = canonicalScopes(in.Scopes)
		}
		if in.AllowedIPs != nil {
			ips, _ := parseIPList(in.AllowedIPs)
			rec.AllowedIPs = prefixStrings(ips)
		}
		if in.Disabled != nil {
			rec.Disabled = *in.Disabled
		}
		rec.UpdatedAt = v.opts.now().UTC()
		k := agentKeyPfx + rec.ID
		_, err = v.b.Put(ctx, k, v.sealJSON("agent", k, rec), rev)
		if err == nil {
			out := rec.Agent
			return &out, nil
		}
		if !errors.Is(err, backend.ErrConflict) || attempt >= v.opts.maxRetries {
			return nil, &Error{Op: op, Err: err}
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, &Error{Op: op, Err: err}
		}
	}
}

// ListAgents returns every registered agent, by name. Audited as
// agent.listed. Agent records that cannot be read are skipped and reported,
// by id, as an *UnreadableError alongside the others.
func (v *AgentVault) ListAgents(ctx context.Context) (_ []Agent, err error) {
	const op = "agent list"
	if err := v.enter(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	defer v.leave()
	defer v.auditOp(ctx, EventAgentListed, "", &err)
	keys, err := v.b.List(ctx, agentKeyPfx)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	out := []Agent{}
	var bad []string
	for _, k := range keys {
		rec, _, err := v.loadAgent(ctx, strings.TrimPrefix(k, agentKeyPfx))
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case errors.Is(err, ErrIntegrity), errors.Is(err, ErrInvalidInput):
			bad = append(bad, strings.TrimPrefix(k, agentKeyPfx))
			continue
		case err != nil:
			return nil, &Error{Op: op, Err: err}
		}
		out = append(out, rec.Agent)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(bad) > 0 {
		sort.Strings(bad)
		return out, &Error{Op: op, Err: &UnreadableError{Paths: bad}}
	}
	return out, nil
}

func canonicalScopes(ss []string) []string {
	sc, _ := ParseScopes(ss)
	out := make([]string, len(sc))
	for i, s := range sc {
		out[i] = s.String()
	}
	return out
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
