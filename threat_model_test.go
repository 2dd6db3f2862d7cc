package agentvault_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
)

// restore puts an earlier copy of a record back, as a storage writer can.
func restore(t *testing.T, b backend.Backend, key string, old []byte) {
	t.Helper()
	_, rev, err := b.Get(ctx, key)
	require.NoError(t, err)
	_, err = b.Put(ctx, key, old, rev)
	require.NoError(t, err)
}

// TestStorageWriterTokenRollback pins what doc.go's threat model says a
// storage writer can and cannot do to a token (issue 18, item 8): restoring
// an earlier authentic copy of its record undoes a revocation and resets
// its use count — a documented limitation, not detected — but cannot
// extend its expiry, and an edited record is refused.
func TestStorageWriterTokenRollback(t *testing.T) {
	clk := newClock()
	v, b := newVault(t, agentvault.WithClock(clk.Now))
	createTier(t, v, "app/a", "x", agentvault.TierStandard)
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}, TTL: time.Hour, MaxUses: 1})
	raw := tok.Value.Reveal()
	sum := sha256.Sum256([]byte(raw))
	key := "tok/" + hex.EncodeToString(sum[:])
	saved, _, err := b.Get(ctx, key)
	require.NoError(t, err, "the token's record is at %s", key)

	_, err = v.Session(raw).GetSecret(ctx, "app/a")
	require.NoError(t, err)
	_, err = v.Session(raw).GetSecret(ctx, "app/a")
	require.ErrorIs(t, err, agentvault.ErrTokenExhausted)
	require.NoError(t, v.RevokeToken(ctx, tok.Accessor))
	revoked, _, err := b.Get(ctx, key)
	require.NoError(t, err)

	// An edited record does not verify.
	edited := bytes.Replace(revoked, []byte(`"revoked":true`), []byte(`"revoked":false`), 1)
	require.NotEqual(t, revoked, edited)
	restore(t, b, key, edited)
	_, err = v.Session(raw).GetSecret(ctx, "app/a")
	assert.ErrorIs(t, err, agentvault.ErrIntegrity, "an edited token record")

	// The limitation: an earlier authentic record is served as current.
	restore(t, b, key, saved)
	_, err = v.Session(raw).GetSecret(ctx, "app/a")
	assert.NoError(t, err, "documented: a restored record undoes the revocation and the use count")

	// ...but only until the token's own expiry, which is inside the record.
	restore(t, b, key, saved)
	clk.Add(time.Hour)
	_, err = v.Session(raw).GetSecret(ctx, "app/a")
	assert.ErrorIs(t, err, agentvault.ErrTokenExpired, "no rollback outlives the token's TTL")
}

// TestStorageWriterApprovalAndAgentRollback: the same limitation for
// approvals and agents, as doc.go states it: a restored approval record
// can be redeemed again (a second token, until the approval expires), and
// a restored agent record re-enables a disabled agent.
func TestStorageWriterApprovalAndAgentRollback(t *testing.T) {
	v, b := newVault(t)
	createTier(t, v, "app/key", "x", agentvault.TierSensitive)
	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	_, err := v.Approve(alice, id)
	require.NoError(t, err)
	saved, _, err := b.Get(ctx, "appr/"+id)
	require.NoError(t, err, "the approval's record is at appr/<id>")
	first, err := v.RedeemApproval(bob, id)
	require.NoError(t, err)
	_, err = v.RedeemApproval(bob, id)
	require.Error(t, err, "redeemed once")
	restore(t, b, "appr/"+id, saved)
	second, err := v.RedeemApproval(bob, id)
	require.NoError(t, err, "documented: a restored approval is redeemed again")
	assert.NotEqual(t, first.Accessor, second.Accessor)

	ag, key, err := v.CreateAgent(alice, agentvault.CreateAgentInput{Name: "bot", Scopes: []string{"secrets:read:app/*"}})
	require.NoError(t, err)
	saved, _, err = b.Get(ctx, "agent/"+ag.ID)
	require.NoError(t, err, "the agent's record is at agent/<id>")
	off := true
	_, err = v.UpdateAgent(alice, ag.ID, agentvault.UpdateAgentInput{Disabled: &off})
	require.NoError(t, err)
	actx := agentvault.ContextWithAgentKey(ctx, key.Reveal())
	_, err = v.RequestToken(actx, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/x"}})
	require.ErrorIs(t, err, agentvault.ErrUnauthorized)
	restore(t, b, "agent/"+ag.ID, saved)
	_, err = v.RequestToken(actx, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/x"}})
	assert.NoError(t, err, "documented: a restored agent record re-enables the agent")
}
