package agentvault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
)

func corrupt(t *testing.T, b backend.Backend, path string) {
	t.Helper()
	raw, rev, err := b.Get(ctx, "s/"+path)
	require.NoError(t, err)
	raw[len(raw)/2] ^= 0xff
	_, err = b.Put(ctx, "s/"+path, raw, rev)
	require.NoError(t, err)
}

// TestCorruptRecordDoesNotDenyService: one corrupt record outside a
// token's scope neither fails nor is named in its listing, and does not
// block token requests that do not cover it; a request whose scope covers
// it needs critical approval (fail closed). Direct listings and critical
// tokens covering it get the readable results plus an *UnreadableError.
func TestCorruptRecordDoesNotDenyService(t *testing.T) {
	v, b := newVault(t)
	createTier(t, v, "app/a", "A", agentvault.TierStandard)
	createTier(t, v, "app/b", "B", agentvault.TierStandard)
	createTier(t, v, "hidden/zz", "Z", agentvault.TierStandard)
	appTok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	allStd := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}})
	corrupt(t, b, "hidden/zz")
	fresh, err := agentvault.New(b, testKey(t)) // no cached copy of the good record
	require.NoError(t, err)
	t.Cleanup(func() { fresh.Close() })

	list, err := fresh.Session(appTok.Value.Reveal()).ListSecrets(ctx, agentvault.ListFilter{})
	require.NoError(t, err, "ListSecrets through a token whose scope excludes the corrupt record")
	assert.Len(t, list, 2)

	list, err = fresh.Session(allStd.Value.Reveal()).ListSecrets(ctx, agentvault.ListFilter{})
	require.NoError(t, err, "ListSecrets through a standard token: an unreadable record's tier is unknown, so it is not named")
	assert.Len(t, list, 2)

	_, err = fresh.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	require.NoError(t, err, "RequestToken for a scope that does not cover the corrupt record")
	for _, scope := range []string{"secrets:read:hidden/*", "secrets:write:*"} {
		_, err = fresh.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{scope}, WaiveApproval: true})
		var are *agentvault.ApprovalRequiredError
		require.True(t, errors.As(err, &are), "RequestToken(%s) err = %v, want ApprovalRequiredError", scope, err)
		assert.Equal(t, agentvault.TierCritical, are.Tier, "RequestToken(%s) covering an unreadable record", scope)
	}

	list, err = fresh.ListSecrets(ctx, agentvault.ListFilter{})
	assert.ErrorIs(t, err, agentvault.ErrIntegrity)
	var ue *agentvault.UnreadableError
	require.True(t, errors.As(err, &ue), "ListSecrets err = %v, want *UnreadableError", err)
	assert.Equal(t, []string{"hidden/zz"}, ue.Paths)
	require.Len(t, list, 2, "the readable secrets are listed alongside the error")
	assert.Equal(t, "app/a", list[0].Path)

	id := requireApproval(t, fresh, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}})
	_, err = fresh.Approve(alice, id)
	require.NoError(t, err)
	_, err = fresh.Approve(carol, id)
	require.NoError(t, err)
	crit, err := fresh.RedeemApproval(bob, id)
	require.NoError(t, err)
	require.Equal(t, agentvault.TierCritical, crit.Tier)
	list, err = fresh.Session(crit.Value.Reveal()).ListSecrets(ctx, agentvault.ListFilter{})
	require.True(t, errors.As(err, &ue), "critical token covering the record: err = %v, want *UnreadableError", err)
	assert.Equal(t, []string{"hidden/zz"}, ue.Paths)
	assert.Len(t, list, 2)
}

// TestCorruptAccessRecordsListed: one corrupt token, approval or agent
// record does not hide the others from ListTokens, ListApprovals and
// ListAgents; it is reported by accessor or id.
func TestCorruptAccessRecordsListed(t *testing.T) {
	v, b := newVault(t)
	createTier(t, v, "sens/k", "K", agentvault.TierSensitive)
	t1 := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	a1 := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:sens/*"}})
	requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:sens/*"}})
	g1, _, err := v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "one", Scopes: []string{"secrets:read:*"}})
	require.NoError(t, err)
	_, _, err = v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "two", Scopes: []string{"secrets:read:*"}})
	require.NoError(t, err)

	flip := func(key string) {
		raw, rev, err := b.Get(ctx, key)
		require.NoError(t, err)
		raw[len(raw)-2] ^= 0x01
		_, err = b.Put(ctx, key, raw, rev)
		require.NoError(t, err)
	}
	keys, err := b.List(ctx, "tok/"+strings.TrimPrefix(t1.Accessor, "acc_"))
	require.NoError(t, err)
	require.Len(t, keys, 1)
	flip(keys[0])
	flip("appr/" + a1)
	flip("agent/" + g1.ID)

	var ue *agentvault.UnreadableError
	toks, err := v.ListTokens(ctx)
	require.True(t, errors.As(err, &ue), "ListTokens err = %v, want *UnreadableError", err)
	assert.Equal(t, []string{t1.Accessor}, ue.Paths)
	assert.Len(t, toks, 1)
	aprs, err := v.ListApprovals(ctx)
	require.True(t, errors.As(err, &ue), "ListApprovals err = %v, want *UnreadableError", err)
	assert.Equal(t, []string{a1}, ue.Paths)
	assert.Len(t, aprs, 1)
	ags, err := v.ListAgents(ctx)
	require.True(t, errors.As(err, &ue), "ListAgents err = %v, want *UnreadableError", err)
	assert.Equal(t, []string{g1.ID}, ue.Paths)
	require.Len(t, ags, 1)
	assert.Equal(t, "two", ags[0].Name)
	assert.ErrorIs(t, err, agentvault.ErrIntegrity)
}
