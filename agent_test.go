package agentvault_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

func TestAgentCeiling(t *testing.T) {
	v, b := newVault(t)
	createTier(t, v, "production/gemini/key", "g", agentvault.TierStandard)
	createTier(t, v, "production/openai/key", "o", agentvault.TierSensitive)
	ag, key, err := v.CreateAgent(alice, agentvault.CreateAgentInput{Name: "gemini-bot", Scopes: []string{"secrets:read:production/gemini/*", "secrets:*:scratch/*"}})
	require.NoError(t, err)
	raw := key.Reveal()
	assert.True(t, strings.HasPrefix(raw, agentvault.AgentKeyPrefix))
	assert.Equal(t, "[REDACTED]", fmt.Sprintf("%v", key))
	assert.Equal(t, "alice", ag.CreatedBy)

	actx := agentvault.ContextWithAgentKey(ctx, raw)
	tok, err := v.RequestToken(actx, agentvault.TokenRequest{Scopes: []string{"secrets:read:production/gemini/key"}})
	require.NoError(t, err)
	assert.Equal(t, agentvault.Actor{Kind: agentvault.ActorAgent, ID: ag.ID}, tok.IssuedTo)
	_, err = v.RequestToken(actx, agentvault.TokenRequest{Scopes: []string{"secrets:write:scratch/{a,b}/*"}})
	require.NoError(t, err, "covered by secrets:*:scratch/*")
	for _, beyond := range []string{"secrets:read:production/*", "secrets:read:production/openai/key", "secrets:write:production/gemini/key", "secrets:read:*"} {
		_, err = v.RequestToken(actx, agentvault.TokenRequest{Scopes: []string{beyond}})
		assert.ErrorIs(t, err, agentvault.ErrScopeDenied, "agent requests %s", beyond)
	}

	// The key is stored only as a hash.
	keys, err := b.List(ctx, "")
	require.NoError(t, err)
	for _, k := range keys {
		val, _, err := b.Get(ctx, k)
		require.NoError(t, err)
		assert.NotContains(t, string(val), raw[len(raw)-43:], "key %s", k)
	}

	for _, bad := range []string{"", "ast_agent_x", raw[:len(raw)-1] + "A", strings.Replace(raw, ag.ID[4:5], "f", 1)} {
		_, err = v.RequestToken(agentvault.ContextWithAgentKey(ctx, bad), agentvault.TokenRequest{Scopes: []string{"secrets:read:production/gemini/key"}})
		if bad != raw {
			assert.ErrorIs(t, err, agentvault.ErrUnauthorized, "agent key %q", bad)
		}
	}

	// Agents cannot approve; their requests are theirs to redeem.
	_, err = v.UpdateAgent(alice, ag.ID, agentvault.UpdateAgentInput{Scopes: []string{"secrets:read:production/*"}})
	require.NoError(t, err)
	id := requireApproval(t, v, actx, agentvault.TokenRequest{Scopes: []string{"secrets:read:production/openai/*"}})
	_, err = v.Approve(actx, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalForbidden)
	_, err = v.Approve(alice, id)
	require.NoError(t, err)
	_, err = v.RedeemApproval(bob, id)
	assert.ErrorIs(t, err, agentvault.ErrApprovalForbidden, "a human redeems an agent's approval")
	tok, err = v.RedeemApproval(actx, id)
	require.NoError(t, err)
	assert.Equal(t, agentvault.TierSensitive, tok.Tier)

	disabled := true
	_, err = v.UpdateAgent(alice, ag.ID, agentvault.UpdateAgentInput{Disabled: &disabled})
	require.NoError(t, err)
	_, err = v.RequestToken(actx, agentvault.TokenRequest{Scopes: []string{"secrets:read:production/gemini/key"}})
	assert.ErrorIs(t, err, agentvault.ErrUnauthorized, "disabled agent")

	list, err := v.ListAgents(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.True(t, list[0].Disabled)
	assert.Equal(t, []string{"secrets:read:production/*"}, list[0].Scopes)

	for _, name := range []string{agentvault.EventAgentCreated, agentvault.EventAgentUpdated} {
		ev, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: name})
		require.NoError(t, err)
		assert.NotEmpty(t, ev, name)
		assert.Equal(t, ag.ID, ev[0].AgentID)
	}
}

func TestAgentIPPolicy(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "app/key", "x", agentvault.TierStandard)
	_, key, err := v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "ci", Scopes: []string{"secrets:read:app/*"}, AllowedIPs: []string{"10.0.0.0/8"}})
	require.NoError(t, err)
	in := agentvault.ContextWithClientIP(agentvault.ContextWithAgentKey(ctx, key.Reveal()), netip.MustParseAddr("10.1.2.3"))
	out := agentvault.ContextWithClientIP(agentvault.ContextWithAgentKey(ctx, key.Reveal()), netip.MustParseAddr("11.1.2.3"))
	_, err = v.RequestToken(out, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	assert.ErrorIs(t, err, agentvault.ErrIPDenied)
	_, err = v.RequestToken(in, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}, AllowedIPs: []string{"12.0.0.1"}})
	assert.ErrorIs(t, err, agentvault.ErrIPDenied, "token allowlist outside the agent's")
	tok, err := v.RequestToken(in, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.0/8"}, tok.AllowedIPs, "the token inherits the agent's IP policy")
	_, err = v.Session(tok.Value.Reveal()).GetSecret(out, "app/key")
	assert.ErrorIs(t, err, agentvault.ErrIPDenied)
	_, err = v.Session(tok.Value.Reveal()).GetSecret(in, "app/key")
	assert.NoError(t, err)
}

func TestAgentValidation(t *testing.T) {
	v, _ := newVault(t)
	for name, in := range map[string]agentvault.CreateAgentInput{
		"no name":   {Scopes: []string{"secrets:read:*"}},
		"no scopes": {Name: "x"},
		"bad scope": {Name: "x", Scopes: []string{"secrets:read:["}},
		"bad ip":    {Name: "x", Scopes: []string{"secrets:read:*"}, AllowedIPs: []string{"nope"}},
	} {
		_, _, err := v.CreateAgent(ctx, in)
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, name)
	}
	_, err := v.UpdateAgent(ctx, "agt_000000000000000000000000", agentvault.UpdateAgentInput{})
	assert.ErrorIs(t, err, agentvault.ErrNotFound)
}
