package agentvault_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// TestAgentTokensBoundByCurrentAgent: a token issued to an agent can do at
// most what both its scopes and the agent's ceiling allow now; disabling
// the agent (from another AgentVault on the same storage) stops its tokens
// at their next use, and re-enabling it restores them.
func TestAgentTokensBoundByCurrentAgent(t *testing.T) {
	v, b := newVault(t)
	other, err := agentvault.New(b, testKey(t)) // another process's view of the store
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	createTier(t, v, "app/a", "A", agentvault.TierStandard)
	createTier(t, v, "app/b", "B", agentvault.TierStandard)
	ag, key, err := v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "ci", Scopes: []string{"secrets:*:app/*"}})
	require.NoError(t, err)
	tok, err := v.RequestToken(agentvault.ContextWithAgentKey(ctx, key.Reveal()), agentvault.TokenRequest{Scopes: []string{"secrets:*:app/*"}})
	require.NoError(t, err)
	s := v.Session(tok.Value.Reveal())
	_, err = s.GetSecret(ctx, "app/b")
	require.NoError(t, err)

	_, err = other.UpdateAgent(ctx, ag.ID, agentvault.UpdateAgentInput{Scopes: []string{"secrets:read:app/a"}})
	require.NoError(t, err)
	_, err = s.GetSecret(ctx, "app/b")
	assert.ErrorIs(t, err, agentvault.ErrScopeDenied, "GetSecret(app/b) after the ceiling was narrowed to app/a")
	_, err = s.GetSecret(ctx, "app/a")
	assert.NoError(t, err, "GetSecret(app/a) inside the narrowed ceiling")
	val := agentvault.StringValue("new")
	_, err = s.UpdateSecret(ctx, "app/a", agentvault.UpdateSecretInput{Value: &val})
	assert.ErrorIs(t, err, agentvault.ErrScopeDenied, "UpdateSecret(app/a): the ceiling now allows read only")
	assert.ErrorIs(t, s.DeleteSecret(ctx, "app/b"), agentvault.ErrScopeDenied, "DeleteSecret(app/b)")
	list, err := s.ListSecrets(ctx, agentvault.ListFilter{})
	require.NoError(t, err)
	require.Len(t, list, 1, "ListSecrets after the ceiling was narrowed")
	assert.Equal(t, "app/a", list[0].Path)

	disabled := true
	_, err = other.UpdateAgent(ctx, ag.ID, agentvault.UpdateAgentInput{Disabled: &disabled})
	require.NoError(t, err)
	_, err = s.GetSecret(ctx, "app/a")
	assert.ErrorIs(t, err, agentvault.ErrUnauthorized, "GetSecret with a disabled agent's token")
	_, err = s.ListSecrets(ctx, agentvault.ListFilter{})
	assert.ErrorIs(t, err, agentvault.ErrUnauthorized, "ListSecrets with a disabled agent's token")
	_, err = s.Check(ctx)
	assert.ErrorIs(t, err, agentvault.ErrUnauthorized, "Check with a disabled agent's token")
	ev, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventTokenDenied, ActorID: tok.Accessor})
	require.NoError(t, err)
	require.NotEmpty(t, ev)
	assert.Equal(t, "unauthorized", ev[len(ev)-1].Reason)

	disabled = false
	_, err = other.UpdateAgent(ctx, ag.ID, agentvault.UpdateAgentInput{Disabled: &disabled, AllowedIPs: []string{"10.0.0.0/8"}})
	require.NoError(t, err)
	_, err = s.GetSecret(agentvault.ContextWithClientIP(ctx, netip.MustParseAddr("10.1.1.1")), "app/a")
	assert.NoError(t, err, "re-enabled agent, caller inside its new IP policy")
	_, err = s.GetSecret(agentvault.ContextWithClientIP(ctx, netip.MustParseAddr("11.1.1.1")), "app/a")
	assert.ErrorIs(t, err, agentvault.ErrIPDenied, "caller outside the agent's new IP policy")
}

// TestRedeemAppliesCurrentCeiling: an agent's approved request is checked
// against the agent's ceiling and status at redemption, not as they were
// when it asked.
func TestRedeemAppliesCurrentCeiling(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "sens/k", "K", agentvault.TierSensitive)
	createTier(t, v, "sens/other", "O", agentvault.TierSensitive)
	ag, key, err := v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "ci", Scopes: []string{"secrets:read:sens/*"}})
	require.NoError(t, err)
	ac := agentvault.ContextWithAgentKey(ctx, key.Reveal())
	id := requireApproval(t, v, ac, agentvault.TokenRequest{Scopes: []string{"secrets:read:sens/*"}})
	_, err = v.Approve(alice, id)
	require.NoError(t, err)

	_, err = v.UpdateAgent(ctx, ag.ID, agentvault.UpdateAgentInput{Scopes: []string{"secrets:read:sens/k"}})
	require.NoError(t, err)
	tok, err := v.RedeemApproval(ac, id)
	assert.Nil(t, tok)
	assert.ErrorIs(t, err, agentvault.ErrScopeDenied, "RedeemApproval of sens/* after the ceiling was narrowed to sens/k")

	disabled := true
	_, err = v.UpdateAgent(ctx, ag.ID, agentvault.UpdateAgentInput{Scopes: []string{"secrets:read:sens/*"}, Disabled: &disabled})
	require.NoError(t, err)
	_, err = v.RedeemApproval(ac, id)
	assert.ErrorIs(t, err, agentvault.ErrUnauthorized, "RedeemApproval by a disabled agent")

	disabled = false
	_, err = v.UpdateAgent(ctx, ag.ID, agentvault.UpdateAgentInput{Disabled: &disabled})
	require.NoError(t, err)
	tok, err = v.RedeemApproval(ac, id)
	require.NoError(t, err, "RedeemApproval once the ceiling covers the request again")
	assert.Equal(t, []string{"secrets:read:sens/*"}, tok.Scopes)
}
