package agentvault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agentvault/agentvault/backend"
)

// Errors of approvals, returned wrapped in an *Error.
var (
	// ErrApprovalRequired is returned by RequestToken when the request
	// needs approval. The error is an *ApprovalRequiredError: get the id
	// with errors.As.
	ErrApprovalRequired = errors.New("agentvault: approval required")

	// ErrApprovalPending is returned by RedeemApproval while approvals are
	// missing or the delay after the last one has not passed.
	ErrApprovalPending = errors.New("agentvault: approval pending")

	// ErrApprovalExpired is returned when an approval request is acted on
	// after it expired (undecided past its TTL, or approved but not
	// redeemed in time).
	ErrApprovalExpired = errors.New("agentvault: approval expired")

	// ErrApprovalClosed is returned when an approval request was already
	// denied, cancelled or redeemed.
	ErrApprovalClosed = errors.New("agentvault: approval closed")

	// ErrApprovalForbidden is returned when the caller may not do this:
	// approving one's own request, approving twice, approving as an agent,
	// or redeeming someone else's approval.
	ErrApprovalForbidden = errors.New("agentvault: not allowed to act on this approval")
)

// ApprovalRequiredError is the error RequestToken returns when a human must
// approve the request first. It wraps ErrApprovalRequired.
type ApprovalRequiredError struct {
	ApprovalID string
	Tier       AccessTier // the tier that requires approval
	Approvers  int        // distinct approvals needed
}

func (e *ApprovalRequiredError) Error() string {
	return fmt.Sprintf("agentvault: approval required (%s tier, %d approver(s)): approval id %s", e.Tier, e.Approvers, e.ApprovalID)
}

func (e *ApprovalRequiredError) Unwrap() error { return ErrApprovalRequired }

// ApprovalState is where an approval request stands.
type ApprovalState string

// The approval states. Pending and approved requests whose time ran out
// are reported as expired.
const (
	ApprovalPending   ApprovalState = "pending"   // waiting for approvals
	ApprovalApproved  ApprovalState = "approved"  // enough approvals; redeemable from ReadyAt
	ApprovalDenied    ApprovalState = "denied"    // an approver said no
	ApprovalCancelled ApprovalState = "cancelled" // cancelled before redemption
	ApprovalRedeemed  ApprovalState = "redeemed"  // the token was issued
	ApprovalExpired   ApprovalState = "expired"   // time ran out
)

// Vote is one approver's approval.
type Vote struct {
	Approver Actor     `json:"approver"`
	At       time.Time `json:"at"`
	// Fingerprint is the SHA256 fingerprint of the SSH key that signed
	// the approval, and Signature the armored SSHSIG signature over the
	// approve statement (see ApprovalStatement); both empty when the
	// approval was not signed.
	Fingerprint string `json:"fingerprint,omitempty"`
	Signature   string `json:"signature,omitempty"`
	// Trust says how the approver was identified: "signed", "unsigned
	// (trusted caller)" with WithTrustedCallerApprovals while approvers are
	// registered, or empty for a caller-named approval in a vault without
	// registered approvers.
	Trust string `json:"trust,omitempty"`
}

// Trust values of a Vote and of a decision.
const (
	TrustSigned        = "signed"
	TrustTrustedCaller = "unsigned (trusted caller)"
)

// Approval is a token request waiting for (or past) human approval.
type Approval struct {
	ID            string        `json:"id"`
	State         ApprovalState `json:"state"`
	RequestedBy   Actor         `json:"requested_by"`
	Scopes        []string      `json:"scopes"`
	TTL           time.Duration `json:"ttl"` // of the token to issue
	MaxUses       int           `json:"max_uses"`
	AllowedIPs    []string      `json:"allowed_ips,omitempty"`
	Description   string        `json:"description,omitempty"`
	Tier          AccessTier    `json:"tier"`
	Required      int           `json:"required"` // distinct approvals needed
	Delay         time.Duration `json:"delay"`
	Votes         []Vote        `json:"votes,omitempty"`
	CreatedAt     time.Time     `json:"created_at"`
	ExpiresAt     time.Time     `json:"expires_at"`         // pending requests expire then; approved ones at ReadyAt + the policy TTL
	ReadyAt       time.Time     `json:"ready_at,omitempty"` // when an approved request becomes redeemable
	DecidedBy     *Actor        `json:"decided_by,omitempty"`
	Reason        string        `json:"reason,omitempty"`
	TokenAccessor string        `json:"token_accessor,omitempty"`
	// Decision is the signature (or trust) behind a denial or a
	// cancellation by someone other than the requester.
	Decision *Vote `json:"decision,omitempty"`
	// From lists, per approval rule that restricts it, the approvers
	// and "group:NAME"s one of which each approver must be (TierRule.From).
	From [][]string `json:"from,omitempty"`
}

// approvalRecord is what the vault stores at appr/<id>.
type approvalRecord struct {
	ID            string        `json:"id"`
	State         ApprovalState `json:"state"`
	RequestedBy   Actor         `json:"requested_by"`
	Scopes        []string      `json:"scopes"`
	TTL           int64         `json:"ttl"`
	MaxUses       int           `json:"max_uses"`
	AllowedIPs    []string      `json:"allowed_ips,omitempty"`
	Description   string        `json:"description,omitempty"`
	Tier          AccessTier    `json:"tier"`
	Required      int           `json:"required"`
	Delay         int64         `json:"delay"`
	Votes         []Vote        `json:"votes,omitempty"`
	CreatedAt     int64         `json:"created_at"`
	ExpiresAt     int64         `json:"expires_at"`
	ReadyAt       int64         `json:"ready_at,omitempty"`
	DecidedBy     *Actor        `json:"decided_by,omitempty"`
	Reason        string        `json:"reason,omitempty"`
	TokenAccessor string        `json:"token_accessor,omitempty"`
	Decision      *Vote         `json:"decision,omitempty"`
	From          [][]string    `json:"from,omitempty"`
	// RequestExpiresAt is ExpiresAt as the request was opened (ExpiresAt
	// moves on approval); the statement names it.
	RequestExpiresAt int64 `json:"request_expires_at,omitempty"`
}

const approvalKeyPfx = "appr/"

func (r *approvalRecord) public(now time.Time) Approval {
	a := Approval{
		ID: r.ID, State: r.state(now), RequestedBy: r.RequestedBy, Scopes: append([]string(nil), r.Scopes...),
		TTL: time.Duration(r.TTL), MaxUses: r.MaxUses, AllowedIPs: append([]string(nil), r.AllowedIPs...),
		Description: r.Description, Tier: r.Tier, Required: r.Required, Delay: time.Duration(r.Delay),
		Votes: append([]Vote(nil), r.Votes...), CreatedAt: timeUTC(r.CreatedAt), ExpiresAt: timeUTC(r.ExpiresAt),
		DecidedBy: r.DecidedBy, Reason: r.Reason, TokenAccessor: r.TokenAccessor, Decision: r.Decision,
	}
	for _, f := range r.From {
		a.From = append(a.From, append([]string(nil), f...))
	}
	if r.ReadyAt != 0 {
		a.ReadyAt = timeUTC(r.ReadyAt)
	}
	return a
}

// state is the state as of now: open requests past their expiry are expired.
func (r *approvalRecord) state(now time.Time) ApprovalState {
	if (r.State == ApprovalPending || r.State == ApprovalApproved) && !now.Before(time.Unix(0, r.ExpiresAt)) {
		return ApprovalExpired
	}
	return r.State
}

func (v *AgentVault) openApproval(ctx context.Context, who Actor, ag *agentRecord, spec *tokenSpec, n need) (string, error) {
	var rnd [10]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	now := v.opts.now()
	ips := make([]string, len(spec.ips))
	for i, p := range spec.ips {
		ips[i] = p.String()
	}
	rec := &approvalRecord{
		ID: "apr_" + hex.EncodeToString(rnd[:]), State: ApprovalPending, RequestedBy: who, Scopes: spec.raw,
		TTL: int64(spec.ttl), MaxUses: spec.maxUses, AllowedIPs: ips, Description: spec.description,
		Tier: n.tier, Required: n.approvers, Delay: int64(n.delay),
		CreatedAt: now.UnixNano(), ExpiresAt: nanosAfter(now, v.approvalTTL()), From: n.from,
	}
	rec.RequestExpiresAt = rec.ExpiresAt
	key := approvalKeyPfx + rec.ID
	if _, err := v.b.Put(ctx, key, v.sealJSON("approval", key, rec), 0); err != nil {
		return rec.ID, err
	}
	v.notify(ctx, EventApprovalRequested, rec)
	return rec.ID, nil
}

func (v *AgentVault) approvalTTL() time.Duration {
	if t := v.opts.access.policy.TTL; t > 0 {
		return t
	}
	return DefaultApprovalTTL
}

func validApprovalID(id string) bool {
	h, ok := strings.CutPrefix(id, "apr_")
	if !ok || len(h) != 20 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func (v *AgentVault) loadApproval(ctx context.Context, id string) (*approvalRecord, int64, error) {
	if !validApprovalID(id) {
		return nil, 0, fmt.Errorf("%w: not an approval id (apr_ + 20 hex digits)", ErrInvalidInput)
	}
	key := approvalKeyPfx + id
	raw, rev, err := v.b.Get(ctx, key)
	if err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			return nil, 0, fmt.Errorf("%w: no approval %s", ErrNotFound, id)
		}
		return nil, 0, err
	}
	var rec approvalRecord
	if err := v.openJSON("approval", key, raw, &rec); err != nil {
		return nil, 0, err
	}
	return &rec, rev, nil
}

// errTimedOut marks a change refused because the request expired while
// open; the caller records approval.timed_out.
var errTimedOut = fmt.Errorf("%w: the request expired without a decision", ErrApprovalExpired)

// modifyApproval runs a compare-and-swap cycle on an approval record.
// change sees the state as of now; an open request that has expired is
// marked expired (and change is not called) so it times out exactly once.
func (v *AgentVault) modifyApproval(ctx context.Context, id string, change func(*approvalRecord, time.Time) error) (*approvalRecord, error) {
	for attempt := 0; ; attempt++ {
		rec, rev, err := v.loadApproval(ctx, id)
		if err != nil {
			return nil, err
		}
		now := v.opts.now()
		var cerr error
		if rec.state(now) == ApprovalExpired && rec.State != ApprovalExpired {
			rec.State, cerr = ApprovalExpired, errTimedOut
		} else if err := change(rec, now); err != nil {
			return rec, err
		}
		key := approvalKeyPfx + id
		_, err = v.b.Put(ctx, key, v.sealJSON("approval", key, rec), rev)
		if err == nil {
			return rec, cerr
		}
		if !errors.Is(err, backend.ErrConflict) {
			return rec, err
		}
		if attempt >= v.opts.maxRetries {
			return rec, fmt.Errorf("%w: gave up after %d attempts", ErrConflict, attempt+1)
		}
		if err := backoff(ctx, attempt); err != nil {
			return rec, err
		}
	}
}

// notPending is the error for deciding on a request that is not pending.
func notPending(s ApprovalState) error {
	if err := closedErr(s); err != nil {
		return err
	}
	return fmt.Errorf("%w: the request is already %s", ErrApprovalClosed, s)
}

func closedErr(s ApprovalState) error {
	switch s {
	case ApprovalExpired:
		return fmt.Errorf("%w: the request is expired", ErrApprovalExpired)
	case ApprovalPending, ApprovalApproved:
		return nil
	}
	return fmt.Errorf("%w: the request was %s", ErrApprovalClosed, s)
}

// approvalOp wraps one approval operation with its audit event. A Reason
// run sets stays on a successful event.
func (v *AgentVault) approvalOp(ctx context.Context, op, event, id string, run func(e *AuditEvent) (*approvalRecord, error)) (*Approval, error) {
	if err := v.enter(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	defer v.leave()
	e := v.event(ctx, event, "")
	if _, ok := agentKeyFromContext(ctx); ok {
		e.Actor, _, _ = v.requester(ctx) // an agent acting: record it as the agent
	}
	if validApprovalID(id) {
		e.ApprovalID = id
	}
	rec, err := run(e)
	if rec != nil {
		e.Tier = rec.Tier
	}
	if errors.Is(err, errTimedOut) {
		e.Event = EventApprovalTimedOut
		v.notify(ctx, EventApprovalTimedOut, rec)
	}
	if err != nil {
		err = &Error{Op: op, Err: err}
	}
	reason := e.Reason
	e.finish(err)
	if err == nil && reason != "" {
		e.Reason = reason
	}
	_ = v.emit(ctx, e)
	if err != nil {
		return nil, err
	}
	a := rec.public(v.opts.now())
	return &a, nil
}

// Approve records the caller's approval of a pending request, unsigned:
// as ApproveSigned with no signature.
func (v *AgentVault) Approve(ctx context.Context, id string) (*Approval, error) {
	return v.ApproveSigned(ctx, id, nil)
}

// ApproveSigned records an approval of a pending request.
//
// With a signature (the armored or binary SSHSIG signature of the request's
// approve statement, see ApprovalStatement), the approver is the
// registered approver whose key made it, whoever passes it in. Without one
// (nil), the approver is the caller (ContextWithActor, or the vault's
// default actor); that is refused with ErrSignatureRequired once any
// approver is registered, unless the vault was opened with
// WithTrustedCallerApprovals. Either way the approver must not be the
// requester, must not have approved it already (any of its keys counts
// as the same approver), must be one the matching rules' TierRule.From
// allow, and an agent cannot approve. The request becomes approved with
// its last required approval; the token can then be redeemed after the
// policy's delay. Audited as approval.granted with the approver and the
// key's fingerprint.
func (v *AgentVault) ApproveSigned(ctx context.Context, id string, signature []byte) (*Approval, error) {
	return v.approvalOp(ctx, "approve", EventApprovalGranted, id, func(e *AuditEvent) (*approvalRecord, error) {
		if _, ok := agentKeyFromContext(ctx); ok {
			return nil, fmt.Errorf("%w: agents cannot approve", ErrApprovalForbidden)
		}
		d, err := v.decider(ctx, e, signature, DecisionApprove)
		if err != nil {
			return nil, err
		}
		who := d.who
		rec, err := v.modifyApproval(ctx, id, func(r *approvalRecord, now time.Time) error {
			if r.State != ApprovalPending {
				return notPending(r.state(now))
			}
			if err := d.verify(v, r); err != nil {
				return err
			}
			if who.ID == r.RequestedBy.ID {
				return fmt.Errorf("%w: %s requested it and cannot approve it", ErrApprovalForbidden, who.ID)
			}
			for _, vt := range r.Votes {
				if vt.Approver.ID == who.ID {
					return fmt.Errorf("%w: %s already approved it (one approver counts once, whichever key signs)", ErrApprovalForbidden, who.ID)
				}
			}
			if err := d.eligible(r); err != nil {
				return err
			}
			r.Votes = append(r.Votes, d.vote(now))
			if len(r.Votes) >= r.Required {
				r.State = ApprovalApproved
				ready := now.Add(time.Duration(r.Delay))
				r.ReadyAt, r.ExpiresAt = saturatedNanos(ready), nanosAfter(ready, v.approvalTTL())
			}
			return nil
		})
		if err == nil {
			e.Reason = strconv.Itoa(len(rec.Votes)) + " of " + strconv.Itoa(rec.Required) + d.note()
			if rec.State == ApprovalApproved {
				v.notify(ctx, EventApprovalGranted, rec)
			}
		}
		return rec, err
	})
}

// Deny refuses a pending request, unsigned: as DenySigned with no
// signature.
func (v *AgentVault) Deny(ctx context.Context, id, reason string) (*Approval, error) {
	return v.DenySigned(ctx, id, reason, nil)
}

// DenySigned refuses a pending request. reason (up to 1 KiB of printable
// UTF-8, not secret) is kept. The signature, over the request's deny
// statement, and the refusal without one once approvers are registered,
// work as for ApproveSigned. Audited as approval.denied.
func (v *AgentVault) DenySigned(ctx context.Context, id, reason string, signature []byte) (*Approval, error) {
	return v.approvalOp(ctx, "deny", EventApprovalDenied, id, func(e *AuditEvent) (*approvalRecord, error) {
		if _, ok := agentKeyFromContext(ctx); ok {
			return nil, fmt.Errorf("%w: agents cannot deny", ErrApprovalForbidden)
		}
		if err := validateReason(reason); err != nil {
			return nil, err
		}
		d, err := v.decider(ctx, e, signature, DecisionDeny)
		if err != nil {
			return nil, err
		}
		rec, err := v.modifyApproval(ctx, id, func(r *approvalRecord, now time.Time) error {
			if r.State != ApprovalPending {
				return notPending(r.state(now))
			}
			if err := d.verify(v, r); err != nil {
				return err
			}
			who := d.who
			r.State, r.DecidedBy, r.Reason = ApprovalDenied, &who, reason
			r.Decision = d.decision(now)
			return nil
		})
		if err == nil {
			e.Reason = strings.TrimPrefix(d.note(), "; ")
			v.notify(ctx, EventApprovalDenied, rec)
		}
		return rec, err
	})
}

// CancelApproval withdraws a request, unsigned: as CancelSigned with no
// signature.
func (v *AgentVault) CancelApproval(ctx context.Context, id string) (*Approval, error) {
	return v.CancelSigned(ctx, id, nil)
}

// CancelSigned withdraws a request that has not been redeemed: a pending
// one, or an approved one still in its delay window (or redeemable). The
// requester may cancel (an agent only its own requests). Anyone else
// needs, once approvers are registered, a registered approver's signature
// over the cancel statement (unless WithTrustedCallerApprovals); without
// registered approvers any caller may. It is audited as approval.denied
// with reason "cancelled".
func (v *AgentVault) CancelSigned(ctx context.Context, id string, signature []byte) (*Approval, error) {
	return v.approvalOp(ctx, "cancel", EventApprovalDenied, id, func(e *AuditEvent) (*approvalRecord, error) {
		caller, _, err := v.requester(ctx)
		if err != nil {
			return nil, err
		}
		e.Actor = caller
		var d *decider
		if len(signature) > 0 {
			if d, err = v.decider(ctx, e, signature, DecisionCancel); err != nil {
				return nil, err
			}
		}
		rec, err := v.modifyApproval(ctx, id, func(r *approvalRecord, now time.Time) error {
			if err := closedErr(r.state(now)); err != nil {
				return err
			}
			who := caller
			switch {
			case d != nil:
				if err := d.verify(v, r); err != nil {
					return err
				}
				who = d.who
				r.Decision = d.decision(now)
			case caller.Kind == ActorAgent && caller.ID != r.RequestedBy.ID:
				return fmt.Errorf("%w: an agent may cancel only its own requests", ErrApprovalForbidden)
			case caller != r.RequestedBy:
				nd, err := v.decider(ctx, e, nil, DecisionCancel)
				if err != nil {
					return err
				}
				r.Decision = nd.decision(now)
			}
			r.State, r.DecidedBy, r.Reason = ApprovalCancelled, &who, "cancelled"
			return nil
		})
		if err == nil {
			e.Reason = "cancelled"
			v.notify(ctx, EventApprovalDenied, rec)
		}
		return rec, err
	})
}

// GetApproval returns an approval request. Audited as approval.read.
func (v *AgentVault) GetApproval(ctx context.Context, id string) (_ *Approval, err error) {
	if err := v.enter(); err != nil {
		return nil, &Error{Op: "approval get", Err: err}
	}
	defer v.leave()
	defer v.auditOp(ctx, EventApprovalRead, id, &err)
	rec, _, err := v.loadApproval(ctx, id)
	if err != nil {
		return nil, &Error{Op: "approval get", Err: err}
	}
	a := rec.public(v.opts.now())
	return &a, nil
}

// ListApprovals returns the approval requests in the given states (all when
// none are given), oldest first. Audited as approval.listed. Records that
// cannot be read are skipped and reported, by id, as an *UnreadableError
// alongside the others.
func (v *AgentVault) ListApprovals(ctx context.Context, states ...ApprovalState) (_ []Approval, err error) {
	const op = "approval list"
	if err := v.enter(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	defer v.leave()
	defer v.auditOp(ctx, EventApprovalListed, "", &err)
	keys, err := v.b.List(ctx, approvalKeyPfx)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	items, badKeys, err := v.getReadable(ctx, keys)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	now := v.opts.now()
	out := []Approval{}
	var bad []string
	for _, k := range badKeys {
		bad = append(bad, strings.TrimPrefix(k, approvalKeyPfx))
	}
	for _, it := range items {
		if it.Value == nil {
			continue
		}
		var rec approvalRecord
		if err := v.openJSON("approval", it.Key, it.Value, &rec); err != nil {
			bad = append(bad, strings.TrimPrefix(it.Key, approvalKeyPfx))
			continue
		}
		a := rec.public(now)
		if len(states) == 0 || containsState(states, a.State) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	if len(bad) > 0 {
		sort.Strings(bad)
		return out, &Error{Op: op, Err: &UnreadableError{Paths: bad}}
	}
	return out, nil
}

func containsState(ss []ApprovalState, s ApprovalState) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// RedeemApproval issues the token of an approved request, once. Only the
// requester may redeem it (the same agent key, or the same actor), after
// the delay and before it expires. A signed approval counts only while its
// key still belongs to its approver: removing an approver (or its key)
// withdraws the approvals it gave to requests not yet redeemed
// (ErrApprovalForbidden). The token is limited to the tier the
// request was approved for. An agent's request is checked again against
// the agent's current status, ceiling and IP policy: a disabled agent is
// refused (ErrUnauthorized), scopes beyond its ceiling now fail with
// ErrScopeDenied (the approval stays redeemable should the ceiling be
// widened again before it expires).
func (v *AgentVault) RedeemApproval(ctx context.Context, id string) (tok *Token, err error) {
	const op = "redeem"
	if err := v.enter(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	defer v.leave()
	e := &AuditEvent{Event: EventTokenIssued}
	if validApprovalID(id) {
		e.ApprovalID = id
	}
	defer func() {
		if e.Event == EventTokenIssued && err != nil {
			e.Event = EventTokenDenied
		}
		if werr := v.emit(ctx, e.finish(err)); werr != nil && err == nil && v.opts.access.failClosed {
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
	reg, _, err := v.loadRegistry(ctx)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	var spec *tokenSpec
	rec, err := v.modifyApproval(ctx, id, func(r *approvalRecord, now time.Time) error {
		if r.RequestedBy != who {
			return fmt.Errorf("%w: only the requester may redeem it", ErrApprovalForbidden)
		}
		switch st := r.state(now); st {
		case ApprovalPending:
			return fmt.Errorf("%w: %d of %d approvals", ErrApprovalPending, len(r.Votes), r.Required)
		case ApprovalApproved:
			if now.Before(time.Unix(0, r.ReadyAt)) {
				return fmt.Errorf("%w: redeemable from %s", ErrApprovalPending, timeUTC(r.ReadyAt).Format(time.RFC3339))
			}
		default:
			return closedErr(st)
		}
		if err := signedVotesStand(reg, r.Votes); err != nil {
			return err
		}
		s, err := v.validateTokenRequest(TokenRequest{Scopes: r.Scopes, TTL: time.Duration(r.TTL), MaxUses: r.MaxUses,
			AllowedIPs: r.AllowedIPs, Description: r.Description})
		if err != nil {
			return err
		}
		if ag != nil {
			// The agent's ceiling and IP policy as they are now, not as
			// they were when the request was made.
			if err := ag.bound(ctx, s); err != nil {
				return err
			}
		}
		spec = s
		r.State = ApprovalRedeemed
		return nil
	})
	if rec != nil {
		e.Tier = rec.Tier
	}
	if errors.Is(err, errTimedOut) {
		e.Event = EventApprovalTimedOut
	}
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	// The approval is spent before the token exists: a crash in between
	// loses the token, never issues two.
	tok, err = v.issue(ctx, who, spec, rec.Tier, rec.ID)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	e.TokenAccessor = tok.Accessor
	_, _ = v.modifyApproval(context.WithoutCancel(ctx), id, func(r *approvalRecord, _ time.Time) error {
		r.TokenAccessor = tok.Accessor
		return nil
	})
	return tok, nil
}
