package agentvault

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// TierRule is what a token request needs when it matches secrets of one tier.
type TierRule struct {
	// Approvers is the number of distinct approvers needed (at least 1;
	// a smaller value counts as 1).
	Approvers int
	// Delay is how long after the last approval the token can be redeemed:
	// a window in which anyone may still cancel. Default 0.
	Delay time.Duration
	// Waivable lets a request with WaiveApproval skip approval for this
	// tier. Ignored for critical secrets, which always need approval.
	Waivable bool
	// From restricts who may approve: approver names, and groups as
	// "group:NAME" (ApproverInput.Groups); an approver must match one
	// entry. When several rules with From apply to one request, an
	// approver must match each. Default empty: any approver.
	From []string
}

// ApprovalPolicy says who must approve a token request that matches
// sensitive or critical secrets. The zero value is not useful; start from
// DefaultApprovalPolicy.
type ApprovalPolicy struct {
	Sensitive TierRule      // default: 1 approver, no delay, not waivable
	Critical  TierRule      // default: 2 approvers, no delay
	TTL       time.Duration // how long a request stays open for approval, and an approved one for redemption; default 1h
}

// DefaultApprovalPolicy returns the default policy: one approver for
// sensitive secrets, two distinct approvers for critical ones, no delay,
// requests open for an hour.
func DefaultApprovalPolicy() ApprovalPolicy {
	return ApprovalPolicy{
		Sensitive: TierRule{Approvers: 1},
		Critical:  TierRule{Approvers: 2},
		TTL:       DefaultApprovalTTL,
	}
}

type pathRule struct {
	pattern string
	tier    AccessTier
	rule    TierRule

	once  sync.Once
	scope Scope
	err   error
}

// compiled parses the rule's pattern once.
func (r *pathRule) compiled() (Scope, error) {
	r.once.Do(func() {
		r.scope, r.err = ParseScope("secrets:*:" + r.pattern)
		if r.err == nil && !r.tier.Valid() {
			r.err = fmt.Errorf("%w: approval rule %q: unknown tier %q", ErrInvalidInput, r.pattern, r.tier)
		}
	})
	return r.scope, r.err
}

// ruleFor returns the rule that applies to one secret.
func (v *AgentVault) ruleFor(path string, tier AccessTier) (TierRule, error) {
	a := &v.opts.access
	for i := range a.rules {
		r := &a.rules[i]
		sc, err := r.compiled()
		if err != nil {
			return TierRule{}, fmt.Errorf("vault option WithApprovalRule: %w", err)
		}
		if r.tier == tier && sc.Match(path) {
			return r.rule, nil
		}
	}
	if tier == TierCritical {
		return a.policy.Critical, nil
	}
	return a.policy.Sensitive, nil
}

// need is what a token request needs: its tier, and the approvers (0: none)
// and delay its approval needs.
type need struct {
	tier      AccessTier
	approvers int
	delay     time.Duration
	from      [][]string // the From lists of the rules that apply
}

// approvalNeed finds the secrets the requested scopes match, whatever
// their action, and combines the rules that apply to them: the most
// approvers, the longest delay, and a waiver only when every sensitive
// secret's rule allows it and no secret is critical. A record that cannot
// be read counts as critical if a requested scope matches it (fail closed)
// and is ignored otherwise (one corrupt record elsewhere never blocks a
// request).
func (v *AgentVault) approvalNeed(ctx context.Context, spec *tokenSpec) (need, error) {
	metas, bad, err := v.listAll(ctx)
	if err != nil {
		return need{}, err
	}
	n := need{tier: TierStandard}
	waivable := true
	add := func(path string, tier AccessTier) error {
		if tier == TierStandard || !anyMatch(spec.scopes, path) {
			return nil
		}
		if tier.Rank() > n.tier.Rank() {
			n.tier = tier
		}
		r, err := v.ruleFor(path, tier)
		if err != nil {
			return err
		}
		n.approvers = max(n.approvers, r.Approvers, 1)
		n.delay = max(n.delay, r.Delay)
		n.addFrom(r.From)
		waivable = waivable && r.Waivable && tier != TierCritical
		return nil
	}
	for i := range metas {
		if err := ctxEvery(ctx, i); err != nil {
			return need{}, err
		}
		if err := add(metas[i].Path, metas[i].Tier); err != nil {
			return need{}, err
		}
	}
	for i, p := range bad {
		if err := ctxEvery(ctx, i); err != nil {
			return need{}, err
		}
		if err := add(p, TierCritical); err != nil {
			return need{}, err
		}
	}
	if n.approvers > 0 && spec.waive && waivable {
		n.approvers, n.delay, n.from = 0, 0, nil
	}
	return n, nil
}

// addFrom adds a rule's From list, once.
func (n *need) addFrom(from []string) {
	if len(from) == 0 {
		return
	}
	for _, f := range n.from {
		if slices.Equal(f, from) {
			return
		}
	}
	n.from = append(n.from, slices.Clone(from))
}

func anyMatch(scopes []Scope, path string) bool {
	for _, s := range scopes {
		if s.Match(path) {
			return true
		}
	}
	return false
}

// ctxEvery returns ctx's error on every 64th step i of a loop that
// matches scopes against many paths, so that a cancelled or expired caller
// stops it.
func ctxEvery(ctx context.Context, i int) error {
	if i%64 != 0 {
		return nil
	}
	return ctx.Err()
}

// listAll returns the metadata of every readable secret and the paths of
// the records that cannot be read, unaudited.
func (v *AgentVault) listAll(ctx context.Context) ([]SecretMetadata, []string, error) {
	return v.listSecrets(ctx, ListFilter{})
}
