package mcpserver_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/mcpserver"
)

// TestApprovalFlowEndToEnd: an agent's server, holding a token for
// standard secrets, asks for a sensitive one: request_approval returns the
// approval id and what a human must do; check_approval_status says pending;
// a human approves through the library; check_approval_status redeems the
// token and switches the server to it; the next get_secret succeeds.
func TestApprovalFlowEndToEnd(t *testing.T) {
	e := newEnv(t)
	_, agentKey, err := e.v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "coder", Scopes: []string{"secrets:read:dev/*"}})
	require.NoError(t, err)
	agentCtx := agentvault.ContextWithAgentKey(ctx, agentKey.Reveal())
	first, err := e.v.RequestToken(agentCtx, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/app/api-key"}})
	require.NoError(t, err)
	cs := e.connect(t, mcpserver.Token(first.Value.Reveal()), &mcpserver.Options{AgentKey: agentKey.Reveal(), Reveal: "sensitive"})

	requireRefusal(t, call(t, cs, "get_secret", map[string]any{"path": "dev/app/db-password"}), "no scope", "request_approval")

	// Beyond the agent's ceiling: refused, no approval opened.
	requireRefusal(t, call(t, cs, "request_approval", map[string]any{"scopes": []string{"secrets:read:prod/*"}, "reason": "deploy"}), "no scope")

	res := call(t, cs, "request_approval", map[string]any{"scopes": []string{"secrets:read:dev/app/db-password"}, "ttl": "30m", "max_uses": 3, "reason": "run the migration"})
	var out mcpserver.ApprovalOutput
	structured(t, res, &out)
	assert.Equal(t, "approval_required", out.Status)
	require.NotEmpty(t, out.ApprovalID)
	assert.Contains(t, out.NextStep, "ass approvals approve "+out.ApprovalID)
	assert.Contains(t, out.NextStep, "check_approval_status")
	id := out.ApprovalID

	structured(t, call(t, cs, "check_approval_status", map[string]any{"id": id}), &out)
	assert.Equal(t, "pending", out.Status)
	assert.Contains(t, out.NextStep, "ass approvals approve "+id)
	requireRefusal(t, call(t, cs, "get_secret", map[string]any{"path": "dev/app/db-password"}), "no scope")

	a, err := e.v.Approve(agentvault.ContextWithActor(ctx, "alice"), id)
	require.NoError(t, err, "a human approves through the library")
	assert.Equal(t, "run the migration", a.Description)

	res = call(t, cs, "check_approval_status", map[string]any{"id": id})
	structured(t, res, &out)
	assert.Equal(t, "issued", out.Status)
	require.NotNil(t, out.Token)
	assert.Equal(t, "sensitive", out.Token.Tier)
	assert.Equal(t, 3, out.Token.MaxUses)
	assert.NotContains(t, text(res), agentvault.TokenPrefix, "the token value never reaches the model")

	var g mcpserver.GetSecretOutput
	structured(t, call(t, cs, "get_secret", map[string]any{"path": "dev/app/db-password"}), &g)
	assert.True(t, g.Revealed)
	assert.Equal(t, sensitiveValue, g.Value)

	evs, err := e.v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretRead})
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	last := evs[len(evs)-1]
	assert.Equal(t, out.Token.Accessor, last.TokenAccessor, "the read is audited as the new token")
	assert.Equal(t, "mcp", last.Via)

	// Redeemed once: a second check is a refusal that says so.
	requireRefusal(t, call(t, cs, "check_approval_status", map[string]any{"id": id}), "already redeemed")
	requireRefusal(t, call(t, cs, "check_approval_status", map[string]any{"id": "apr_nope"}), "Invalid input")
}

// TestRequestApprovalIssuesStandardAtOnce: a standard-tier request is
// issued at once and the server switches to it; with WholeVault the
// operator is the requester.
func TestRequestApprovalIssuesStandardAtOnce(t *testing.T) {
	e := newEnv(t)
	cs := e.connect(t, mcpserver.WholeVault(), &mcpserver.Options{Actor: "operator"})
	res := call(t, cs, "request_approval", map[string]any{"scopes": []string{"secrets:read:prod/app/api-key"}, "reason": "narrow down"})
	var out mcpserver.ApprovalOutput
	structured(t, res, &out)
	assert.Equal(t, "issued", out.Status)
	require.NotNil(t, out.Token)
	assert.NotContains(t, text(res), agentvault.TokenPrefix)
	// Now acting through the narrow token.
	requireRefusal(t, call(t, cs, "get_secret", map[string]any{"path": "dev/app/api-key"}), "no scope")
	var g mcpserver.GetSecretOutput
	structured(t, call(t, cs, "get_secret", map[string]any{"path": "prod/app/api-key"}), &g)
	assert.Equal(t, "prod-value-0002", g.Value)

	requireRefusal(t, call(t, cs, "request_approval", map[string]any{"scopes": []string{"secrets:read:x/*"}, "reason": "r", "ttl": "forever"}), "ttl")
	requireRefusal(t, call(t, cs, "request_approval", map[string]any{"scopes": []string{"secrets:fly:x/*"}, "reason": "r"}), "Invalid input")
}
