package agentvault_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// TestSessionOps checks the Session's metadata, versions, rollback, rotate
// and import operations: each is refused outside the token's scopes and
// above its tier, counts against MaxUses (GetMetadata excepted), and is
// audited with the token as actor.
func TestSessionOps(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "app/a", "one", agentvault.TierStandard)
	two := agentvault.StringValue("two")
	_, err := v.UpdateSecret(ctx, "app/a", agentvault.UpdateSecretInput{Value: &two})
	require.NoError(t, err)
	createTier(t, v, "other/a", "o", agentvault.TierStandard)
	w := v.Session(requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:write:app/*"}}).Value.Reveal())
	r := v.Session(requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}}).Value.Reveal())
	one := v.Session(requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:*:app/*"}, MaxUses: 1}).Value.Reveal())
	createTier(t, v, "app/crit", "c", agentvault.TierCritical) // after the tokens: standard ones
	nv := agentvault.StringValue("three")

	// Out of scope: every operation refused with ErrScopeDenied.
	_, err = w.GetMetadata(ctx, "other/a")
	assert.ErrorIs(t, err, agentvault.ErrScopeDenied, "GetMetadata(other/a)")
	_, err = w.ListVersions(ctx, "app/a")
	assert.ErrorIs(t, err, agentvault.ErrScopeDenied, "ListVersions with a write token")
	_, err = r.Rollback(ctx, "app/a", "v1")
	assert.ErrorIs(t, err, agentvault.ErrScopeDenied, "Rollback with a read token")
	_, err = r.RotateSecret(ctx, "app/a", agentvault.RotateOptions{Value: &nv})
	assert.ErrorIs(t, err, agentvault.ErrScopeDenied, "RotateSecret with a read token")
	_, err = w.ImportEnv(ctx, strings.NewReader("A=1\n"), agentvault.ImportOptions{Namespace: "other", Tier: agentvault.TierStandard})
	assert.ErrorIs(t, err, agentvault.ErrScopeDenied, "ImportEnv into other/")
	// Above the token's tier.
	_, err = w.GetMetadata(ctx, "app/crit")
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "GetMetadata(app/crit)")
	_, err = w.Rollback(ctx, "app/crit", "v1")
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "Rollback(app/crit)")
	_, err = w.RotateSecret(ctx, "app/crit", agentvault.RotateOptions{Value: &nv})
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "RotateSecret(app/crit)")
	_, err = w.ImportEnv(ctx, strings.NewReader("B=1\n"), agentvault.ImportOptions{Namespace: "app", Tier: agentvault.TierCritical})
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "ImportEnv creating a critical secret")
	_, err = w.ImportEnv(ctx, strings.NewReader("crit=1\nnew=2\n"), agentvault.ImportOptions{Namespace: "app", Overwrite: true})
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "ImportEnv overwriting a critical secret")
	_, err = v.GetMetadata(ctx, "app/new")
	assert.ErrorIs(t, err, agentvault.ErrNotFound, "a refused import writes nothing")
	_, err = w.ImportEnv(ctx, strings.NewReader("1BAD=x\n"), agentvault.ImportOptions{Namespace: "app"})
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "ImportEnv of a bad .env file")

	// In scope: allowed.
	m, err := w.GetMetadata(ctx, "app/a")
	require.NoError(t, err)
	assert.Equal(t, "v2", m.Version)
	vs, err := r.ListVersions(ctx, "app/a")
	require.NoError(t, err)
	assert.Len(t, vs, 2)
	m, err = w.Rollback(ctx, "app/a", "v1")
	require.NoError(t, err)
	assert.Equal(t, "v1", m.Version)
	res, err := w.RotateSecret(ctx, "app/a", agentvault.RotateOptions{Value: &nv})
	require.NoError(t, err)
	assert.Equal(t, "v3", res.Version)
	ir, err := w.ImportEnv(ctx, strings.NewReader("NEW=x\n"), agentvault.ImportOptions{Namespace: "app"})
	require.NoError(t, err)
	assert.Equal(t, 1, ir.Created)
	got, err := v.GetMetadata(ctx, "app/NEW")
	require.NoError(t, err)
	assert.Equal(t, agentvault.TierStandard, got.Tier, "a standard token imports standard secrets by default")

	// Every event of the write token names it.
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{ActorKind: agentvault.ActorToken, ActorID: w.Accessor()})
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, e := range evs {
		seen[e.Event+"/"+string(e.Outcome)] = true
		assert.Equal(t, w.Accessor(), e.TokenAccessor, "event %s", e.Event)
	}
	for _, want := range []string{"secret.metadata_read/allowed", "secret.rolled_back/allowed", "secret.rotated/allowed", "secret.imported/allowed", "token.denied/denied"} {
		assert.True(t, seen[want], "no %s event by the token; got %v", want, seen)
	}
	for _, e := range evs {
		if e.Event == "secret.created" || e.Event == "secret.imported" {
			assert.Equal(t, agentvault.ActorToken, e.Actor.Kind)
		}
	}

	// MaxUses: a metadata read is free, the others count.
	_, err = one.GetMetadata(ctx, "app/a")
	require.NoError(t, err)
	_, err = one.ListVersions(ctx, "app/a")
	require.NoError(t, err)
	_, err = one.Rollback(ctx, "app/a", "v2")
	assert.ErrorIs(t, err, agentvault.ErrTokenExhausted)
	_, err = one.ImportEnv(ctx, strings.NewReader("Z=1\n"), agentvault.ImportOptions{Namespace: "app"})
	assert.ErrorIs(t, err, agentvault.ErrTokenExhausted)
}
