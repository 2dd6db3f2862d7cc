package agentvault_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
)

// TestInvalidActorNamesRefused: actor names that are not valid UTF-8, hold
// control or format characters, or exceed MaxActorLen are refused with
// ErrInvalidInput wherever they are used, never truncated or re-encoded,
// and the audit trail still verifies and queries.
func TestInvalidActorNamesRefused(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "app/key", "x", agentvault.TierStandard)
	long := strings.Repeat("x", agentvault.MaxActorLen+1)
	for _, name := range []string{"mallory\xff", "victim\uFFFD", "a\x00b", "a\nb", "a\u202eb", "a\u200bb", "a\x7fb", "a\u0085b", long} {
		c := agentvault.ContextWithActor(ctx, name)
		_, err := v.GetSecret(c, "app/key")
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "GetSecret as %q", name)
		_, err = v.CreateSecret(c, agentvault.CreateSecretInput{Path: "app/new", Value: agentvault.StringValue("v")})
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "CreateSecret as %q", name)
		val := agentvault.StringValue("v2")
		_, err = v.UpdateSecret(c, "app/key", agentvault.UpdateSecretInput{Value: &val})
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "UpdateSecret as %q", name)
		assert.ErrorIs(t, v.DeleteSecret(c, "app/key"), agentvault.ErrInvalidInput, "DeleteSecret as %q", name)
		_, err = v.ListSecrets(c, agentvault.ListFilter{})
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "ListSecrets as %q", name)
		_, err = v.RequestToken(c, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "RequestToken as %q", name)
		_, err = v.Approve(c, "apr_00000000000000000000")
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "Approve as %q", name)
		_, _, err = v.CreateAgent(c, agentvault.CreateAgentInput{Name: "a", Scopes: []string{"secrets:read:*"}})
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "CreateAgent as %q", name)
		_, _, err = v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: name, Scopes: []string{"secrets:read:*"}})
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "CreateAgent named %q", name)
		_, err = agentvault.New(membackend.New(), testKey(t), agentvault.WithActor(name))
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "New WithActor(%q)", name)
	}
	assert.Equal(t, "x", get(t, v, "app/key").Value.Reveal(), "no refused call changed the secret")

	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err, "VerifyAudit after refused actors")
	assert.Positive(t, rep.Events)
	events, err := v.QueryAudit(ctx, agentvault.AuditQuery{ActorID: "[invalid actor]"})
	require.NoError(t, err, "QueryAudit after refused actors")
	assert.NotEmpty(t, events, "refused calls are audited under the placeholder actor")
	for _, e := range events {
		assert.Equal(t, agentvault.OutcomeFailed, e.Outcome)
		assert.Equal(t, "invalid_input", e.Reason)
	}

	// A name of exactly MaxActorLen bytes is accepted and recorded whole.
	exact := strings.Repeat("y", agentvault.MaxActorLen)
	s, err := v.CreateSecret(agentvault.ContextWithActor(ctx, exact), agentvault.CreateSecretInput{Path: "app/exact", Value: agentvault.StringValue("v")})
	require.NoError(t, err)
	assert.Equal(t, exact, s.CreatedBy)
}

// TestApprovalIdentityCollisions: names that used to collide after
// re-encoding ("victim\xff" vs "victim\uFFFD") or truncation (two names
// sharing their first 256 bytes) can no longer redeem each other's
// approvals: the colliding forms are refused, and distinct valid names stay
// distinct byte for byte.
func TestApprovalIdentityCollisions(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "sens/k", "s3cret", agentvault.TierSensitive)
	req := agentvault.TokenRequest{Scopes: []string{"secrets:read:sens/*"}}

	_, err := v.RequestToken(agentvault.ContextWithActor(ctx, "victim\xff"), req)
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "requester with invalid UTF-8")
	_, err = v.RequestToken(agentvault.ContextWithActor(ctx, "victim\uFFFD"), req)
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "requester with U+FFFD")

	prefix := strings.Repeat("x", agentvault.MaxActorLen-10)
	_, err = v.RequestToken(agentvault.ContextWithActor(ctx, prefix+strings.Repeat("z", 20)+"-victim"), req)
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "requester over MaxActorLen")

	victim := agentvault.ContextWithActor(ctx, prefix+"-victim")
	attacker := agentvault.ContextWithActor(ctx, prefix+"-attacker")
	id := requireApproval(t, v, victim, req)
	_, err = v.Approve(alice, id)
	require.NoError(t, err)
	_, err = v.RedeemApproval(attacker, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalForbidden, "a name sharing the victim's first %d bytes redeemed its approval", len(prefix))
	tok, err := v.RedeemApproval(victim, id)
	require.NoError(t, err, "the requester redeems")
	assert.Equal(t, prefix+"-victim", tok.IssuedTo.ID)
}

// TestDenyReasonValidated: a deny reason with control characters or
// invalid UTF-8 is refused; the request stays pending.
func TestDenyReasonValidated(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "sens/k", "s3cret", agentvault.TierSensitive)
	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:sens/*"}})
	for _, reason := range []string{"no\xff", "no\x1b[31m", "no\u202e"} {
		_, err := v.Deny(alice, id, reason)
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "Deny reason %q", reason)
	}
	a, err := v.Deny(alice, id, "not today")
	require.NoError(t, err)
	assert.Equal(t, "not today", a.Reason)
}

// TestInvalidActorRefusedOnEverySecretOperation: the operations that reach
// a secret through load or modify refuse an invalid context actor too.
func TestInvalidActorRefusedOnEverySecretOperation(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "app/key", "x", agentvault.TierStandard)
	update(t, v, "app/key", "y")
	c := agentvault.ContextWithActor(ctx, "mallory\xff")
	_, err := v.ListVersions(c, "app/key")
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "ListVersions")
	_, err = v.Rollback(c, "app/key", "v1")
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "Rollback")
	_, err = v.GetMetadata(c, "app/key")
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "GetMetadata")
	_, err = v.SetRotationSchedule(c, "app/key", time.Hour, 0)
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "SetRotationSchedule")
	_, err = v.PruneVersions(c, "app/key")
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "PruneVersions")
	assert.Equal(t, "y", get(t, v, "app/key").Value.Reveal(), "nothing changed")
}
