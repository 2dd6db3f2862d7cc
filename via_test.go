package agentvault_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// TestContextWithViaRecordedInAudit: the surface named with ContextWithVia
// is recorded in the events of a direct call and of a Session call, the
// chain still verifies, and an invalid name is ignored, not truncated.
func TestContextWithViaRecordedInAudit(t *testing.T) {
	v, _ := newVault(t)
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "dev/a", Value: agentvault.StringValue("v1"), Tier: agentvault.TierStandard})
	require.NoError(t, err)
	tok, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/*"}})
	require.NoError(t, err)

	mcpCtx := agentvault.ContextWithVia(ctx, "mcp")
	_, err = v.Session(tok.Value.Reveal()).GetSecret(mcpCtx, "dev/a")
	require.NoError(t, err)
	_, err = v.GetSecret(mcpCtx, "dev/a")
	require.NoError(t, err)
	_, err = v.GetSecret(agentvault.ContextWithVia(ctx, "Not Valid!"), "dev/a")
	require.NoError(t, err)

	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{})
	require.NoError(t, err)
	var vias []string
	for _, e := range evs {
		if e.Event == agentvault.EventSecretRead {
			vias = append(vias, e.Via)
		}
	}
	assert.Equal(t, []string{"mcp", "mcp", ""}, vias, "Via of the three reads")
	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err, "VerifyAudit")
	assert.NotZero(t, rep)
}
