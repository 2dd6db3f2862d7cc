package agentvault_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// TestSessionReadsPreviousDuringGrace: a token reads "previous" exactly as
// the owner does — during the grace period only — and expired secrets are
// refused through a token too.
func TestSessionReadsPreviousDuringGrace(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now))
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "svc/key", Value: agentvault.StringValue("old"), Tier: agentvault.TierStandard})
	require.NoError(t, err)
	val := agentvault.StringValue("new")
	_, err = v.UpdateSecret(ctx, "svc/key", agentvault.UpdateSecretInput{Value: &val, GracePeriod: 15 * time.Minute})
	require.NoError(t, err)

	tok, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:svc/*"}})
	require.NoError(t, err)
	s := v.Session(tok.Value.Reveal())
	prev, err := s.GetSecret(ctx, "svc/key", agentvault.AtVersion(agentvault.PreviousVersion))
	require.NoError(t, err)
	assert.Equal(t, "old", prev.Value.Reveal())
	assert.Equal(t, "v1", prev.Version)

	clk.Add(15 * time.Minute)
	_, err = s.GetSecret(ctx, "svc/key", agentvault.AtVersion(agentvault.PreviousVersion))
	require.ErrorIs(t, err, agentvault.ErrNotFound, "previous after the grace period")
	cur, err := s.GetSecret(ctx, "svc/key")
	require.NoError(t, err)
	assert.Equal(t, "new", cur.Value.Reveal())

	exp := clk.Now()
	_, err = v.UpdateSecret(ctx, "svc/key", agentvault.UpdateSecretInput{ExpiresAt: &exp})
	require.NoError(t, err)
	_, err = s.GetSecret(ctx, "svc/key")
	require.ErrorIs(t, err, agentvault.ErrExpired)
}
