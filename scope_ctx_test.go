package agentvault

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

// cancelOnGetMany cancels a context once a batch read (the listing every
// scope-matching loop starts from) has returned.
type cancelOnGetMany struct {
	*membackend.Backend
	cancel context.CancelFunc
}

func (b *cancelOnGetMany) GetMany(ctx context.Context, keys []string) ([]backend.Item, error) {
	items, err := b.Backend.GetMany(ctx, keys)
	if b.cancel != nil {
		b.cancel()
	}
	return items, err
}

// TestScopeLoopsHonourContext: issue 18 — the loops that match scopes
// against every secret (a token request's tier evaluation, a session's
// listing) stop when the caller's context ends, instead of running on.
func TestScopeLoopsHonourContext(t *testing.T) {
	k, err := localkms.New("k", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	b := &cancelOnGetMany{Backend: membackend.New()}
	v, err := New(b, k)
	require.NoError(t, err)
	bg := ContextWithActor(context.Background(), "alice")
	for _, p := range []string{"app/a", "app/b"} {
		_, err = v.CreateSecret(bg, CreateSecretInput{Path: p, Value: StringValue("x"), Tier: TierStandard})
		require.NoError(t, err)
	}
	_, err = v.CreateSecret(bg, CreateSecretInput{Path: "app/s", Value: StringValue("x"), Tier: TierSensitive})
	require.NoError(t, err)

	sc, err := ParseScopes([]string{"secrets:read:app/*"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(bg)
	b.cancel = cancel
	_, err = v.approvalNeed(ctx, &tokenSpec{scopes: sc})
	assert.ErrorIs(t, err, context.Canceled, "approvalNeed after the caller cancelled")

	b.cancel = nil
	tok, err := v.RequestToken(bg, TokenRequest{Scopes: []string{"secrets:read:app/a"}})
	require.NoError(t, err)
	s := v.Session(tok.Value.Reveal())
	ctx, cancel = context.WithCancel(bg)
	b.cancel = cancel
	_, err = s.listSecrets(ctx, ListFilter{})
	assert.ErrorIs(t, err, context.Canceled, "Session.listSecrets after the caller cancelled")
}
