package agentvault_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
)

// TestNewRefusesOrphanedStore: New never creates a configuration over a
// backend that holds secrets (the configuration was lost): that would
// split the vault. Restoring the configuration reads everything again.
func TestNewRefusesOrphanedStore(t *testing.T) {
	v, b := newVault(t)
	create(t, v, "app/a", "one")
	require.NoError(t, v.Close())
	raw, rev, err := b.Get(ctx, "meta/vault")
	require.NoError(t, err)
	require.NoError(t, b.Delete(ctx, "meta/vault", rev))

	_, err = agentvault.New(b, testKey(t))
	require.ErrorIs(t, err, agentvault.ErrNoConfig, "New over secrets without a configuration")
	_, _, err = b.Get(ctx, "meta/vault")
	assert.ErrorIs(t, err, backend.ErrNotFound, "New wrote a configuration")
	_, err = agentvault.Open(b, testKey(t))
	assert.ErrorIs(t, err, agentvault.ErrNoVault)

	_, err = b.Put(ctx, "meta/vault", raw, 0)
	require.NoError(t, err)
	v2, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	defer v2.Close()
	got, err := v2.GetSecret(ctx, "app/a")
	require.NoError(t, err)
	assert.Equal(t, "one", got.Value.Reveal())
}
