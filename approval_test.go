package agentvault_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

var (
	bob   = agentvault.ContextWithActor(ctx, "bob") // requester
	alice = agentvault.ContextWithActor(ctx, "alice")
	carol = agentvault.ContextWithActor(ctx, "carol")
)

// requireApproval requests a token that must wait for approval and returns
// the approval id.
func requireApproval(t *testing.T, v *agentvault.AgentVault, c context.Context, req agentvault.TokenRequest) string {
	t.Helper()
	tok, err := v.RequestToken(c, req)
	require.Nil(t, tok)
	require.ErrorIs(t, err, agentvault.ErrApprovalRequired)
	var are *agentvault.ApprovalRequiredError
	require.True(t, errors.As(err, &are), "RequestToken err = %T, want *ApprovalRequiredError", err)
	require.NotEmpty(t, are.ApprovalID)
	return are.ApprovalID
}

func TestApprovalSensitive(t *testing.T) {
	var mu sync.Mutex
	var notices []agentvault.ApprovalNotice
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithNotifier(agentvault.NotifierFunc(func(_ context.Context, n agentvault.ApprovalNotice) error {
		mu.Lock()
		notices = append(notices, n)
		mu.Unlock()
		return nil
	})))
	createTier(t, v, "production/openai/key", "sk", agentvault.TierSensitive)
	createTier(t, v, "production/flags", "on", agentvault.TierStandard)

	// Only standard secrets matched: issued at once.
	requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:production/flags"}})

	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:production/*"}, MaxUses: 3})
	a, err := v.GetApproval(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, agentvault.ApprovalPending, a.State)
	assert.Equal(t, agentvault.TierSensitive, a.Tier)
	assert.Equal(t, 1, a.Required)
	assert.Equal(t, "bob", a.RequestedBy.ID)

	_, err = v.RedeemApproval(bob, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalPending, "redeem before approval")
	_, err = v.Approve(bob, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalForbidden, "self-approval")

	a, err = v.Approve(alice, id)
	require.NoError(t, err)
	assert.Equal(t, agentvault.ApprovalApproved, a.State)
	_, err = v.Approve(carol, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalClosed, "approve an approved request")

	_, err = v.RedeemApproval(alice, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalForbidden, "someone else redeems")
	tok, err := v.RedeemApproval(bob, id)
	require.NoError(t, err)
	assert.Equal(t, agentvault.TierSensitive, tok.Tier)
	assert.Equal(t, id, tok.ApprovalID)
	assert.Equal(t, 3, tok.MaxUses)
	s, err := v.Session(tok.Value.Reveal()).GetSecret(ctx, "production/openai/key")
	require.NoError(t, err)
	assert.Equal(t, "sk", s.Value.Reveal())

	_, err = v.RedeemApproval(bob, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalClosed, "redeem twice")
	_, err = v.Approve(carol, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalClosed, "replayed approval")
	a, err = v.GetApproval(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, agentvault.ApprovalRedeemed, a.State)
	assert.Equal(t, tok.Accessor, a.TokenAccessor)

	createTier(t, v, "production/critical", "c", agentvault.TierCritical)
	_, err = v.Session(tok.Value.Reveal()).GetSecret(ctx, "production/critical")
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "a critical secret created later")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, notices, 2)
	assert.Equal(t, agentvault.EventApprovalRequested, notices[0].Event)
	assert.Equal(t, agentvault.EventApprovalGranted, notices[1].Event)
	assert.Equal(t, id, notices[0].Approval.ID)
}

func TestApprovalCriticalTwoApproversAndDelay(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithApprovalRule("payments/*", agentvault.TierCritical,
		agentvault.TierRule{Approvers: 2, Delay: 5 * time.Minute}))
	createTier(t, v, "payments/stripe", "sk", agentvault.TierCritical)
	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:payments/*"}, WaiveApproval: true})
	a, err := v.Approve(alice, id)
	require.NoError(t, err)
	assert.Equal(t, agentvault.ApprovalPending, a.State, "one of two approvals")
	_, err = v.Approve(alice, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalForbidden, "the same approver twice")
	a, err = v.Approve(carol, id)
	require.NoError(t, err)
	assert.Equal(t, agentvault.ApprovalApproved, a.State)
	_, err = v.RedeemApproval(bob, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalPending, "inside the delay")
	clk.Add(5*time.Minute - time.Nanosecond)
	_, err = v.RedeemApproval(bob, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalPending, "1ns before the delay ends")
	clk.Add(time.Nanosecond)
	tok, err := v.RedeemApproval(bob, id)
	require.NoError(t, err)
	assert.Equal(t, agentvault.TierCritical, tok.Tier)

	// Cancelled during the delay: never redeemable.
	id = requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:payments/*"}})
	_, err = v.Approve(alice, id)
	require.NoError(t, err)
	_, err = v.Approve(carol, id)
	require.NoError(t, err)
	a, err = v.CancelApproval(alice, id)
	require.NoError(t, err)
	assert.Equal(t, agentvault.ApprovalCancelled, a.State)
	clk.Add(time.Hour)
	_, err = v.RedeemApproval(bob, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalClosed)
}

func TestApprovalExpiryDenyWaive(t *testing.T) {
	clk := newClock()
	policy := agentvault.DefaultApprovalPolicy()
	policy.Sensitive.Waivable = true
	policy.TTL = 10 * time.Minute
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithApprovalPolicy(policy))
	createTier(t, v, "app/key", "x", agentvault.TierSensitive)

	// Approve after expiry.
	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	clk.Add(10 * time.Minute)
	_, err := v.Approve(alice, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalExpired, "approve at expiry")
	_, err = v.Approve(carol, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalExpired, "approve after expiry")
	_, err = v.RedeemApproval(bob, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalExpired)
	ev, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventApprovalTimedOut})
	require.NoError(t, err)
	assert.Len(t, ev, 1, "approval.timed_out once")

	// Approved, but not redeemed within the TTL.
	id = requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	_, err = v.Approve(alice, id)
	require.NoError(t, err)
	clk.Add(10 * time.Minute)
	_, err = v.RedeemApproval(bob, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalExpired, "redeem after expiry")

	// Denied.
	id = requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	a, err := v.Deny(alice, id, "not today")
	require.NoError(t, err)
	assert.Equal(t, agentvault.ApprovalDenied, a.State)
	assert.Equal(t, "not today", a.Reason)
	_, err = v.Approve(carol, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalClosed, "approve a denied request")
	_, err = v.RedeemApproval(bob, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalClosed)

	// Waived: the policy lets sensitive requests skip approval.
	tok, err := v.RequestToken(bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}, WaiveApproval: true})
	require.NoError(t, err)
	assert.Equal(t, agentvault.TierSensitive, tok.Tier)

	pending, err := v.ListApprovals(ctx, agentvault.ApprovalPending)
	require.NoError(t, err)
	assert.Empty(t, pending)
	all, err := v.ListApprovals(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 3)

	_, err = v.Approve(alice, "apr_00000000000000000000")
	assert.ErrorIs(t, err, agentvault.ErrNotFound)
	_, err = v.Approve(alice, "bogus")
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput)
}

func TestApprovalConcurrentRedeemOnce(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "app/key", "x", agentvault.TierSensitive)
	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	_, err := v.Approve(alice, id)
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.RedeemApproval(bob, id); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, agentvault.ErrApprovalClosed) {
				t.Errorf("RedeemApproval: %v", err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, wins, "an approval is redeemed once")
}
