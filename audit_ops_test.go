package agentvault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// TestEveryOperationIsAudited: the read-only and administrative operations
// that used to write nothing (GetMetadata, the token, approval and agent
// listings, GetApproval, audit queries and verification, Rewrap) each
// write their event, naming the caller.
func TestEveryOperationIsAudited(t *testing.T) {
	v, _ := newVault(t)
	create(t, v, "app/db", "x")
	actx := agentvault.ContextWithActor(ctx, "alice")

	_, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	var are *agentvault.ApprovalRequiredError
	require.True(t, errors.As(err, &are), "RequestToken err = %v, want *ApprovalRequiredError", err)

	calls := []struct {
		event string
		call  func() error
	}{
		{agentvault.EventSecretMetadataRead, func() error { _, err := v.GetMetadata(actx, "app/db"); return err }},
		{agentvault.EventTokenListed, func() error { _, err := v.ListTokens(actx); return err }},
		{agentvault.EventApprovalRead, func() error { _, err := v.GetApproval(actx, are.ApprovalID); return err }},
		{agentvault.EventApprovalListed, func() error { _, err := v.ListApprovals(actx); return err }},
		{agentvault.EventAgentListed, func() error { _, err := v.ListAgents(actx); return err }},
		{agentvault.EventVaultRewrapped, func() error { _, err := v.Rewrap(actx, agentvault.RewrapOptions{}); return err }},
		{agentvault.EventOrphansRemoved, func() error { _, err := v.RemoveOrphans(actx); return err }},
	}
	for _, c := range calls {
		require.NoError(t, c.call(), c.event)
	}
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{ActorID: "alice"})
	require.NoError(t, err)
	got := map[string]agentvault.AuditEvent{}
	for _, e := range evs {
		got[e.Event] = e
	}
	for _, c := range calls {
		e, ok := got[c.event]
		if !assert.True(t, ok, "no %s event; got %v", c.event, keys(got)) {
			continue
		}
		assert.Equal(t, agentvault.OutcomeAllowed, e.Outcome, c.event)
		assert.Equal(t, agentvault.ActorHuman, e.Actor.Kind, c.event)
	}
	assert.Equal(t, "app/db", got[agentvault.EventSecretMetadataRead].Path)
	assert.Equal(t, "v1", got[agentvault.EventSecretMetadataRead].Version)
	assert.Equal(t, are.ApprovalID, got[agentvault.EventApprovalRead].ApprovalID)
	assert.True(t, strings.Contains(got[agentvault.EventVaultRewrapped].Reason, "secrets 1"), "rewrap reason %q", got[agentvault.EventVaultRewrapped].Reason)

	// A failed metadata read is audited too.
	_, err = v.GetMetadata(actx, "app/missing")
	require.ErrorIs(t, err, agentvault.ErrNotFound)
	evs, err = v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretMetadataRead, PathPrefix: "app/missing"})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, agentvault.OutcomeFailed, evs[0].Outcome)
	assert.Equal(t, "not_found", evs[0].Reason)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
