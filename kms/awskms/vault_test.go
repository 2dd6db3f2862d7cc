package awskms

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/kmstest"
	"github.com/agentvault/agentvault/kms/localkms"
)

// TestVaultOnAWSKMS runs the vault over local-kms: one KMS call per
// CreateSecret, none per warm read, a failing KMS writes nothing, and a
// vault on a local key migrates to AWS KMS with Rewrap.
func TestVaultOnAWSKMS(t *testing.T) {
	ctx := context.Background()
	server := startLocalKMS(t)
	p, err := New(server.Client, server.CreateKey(t))
	require.NoError(t, err)
	counting := kmstest.NewCounting(p)

	// Start on a local key, then migrate to AWS KMS.
	local, err := localkms.New("local-1", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	b := membackend.New()
	v, err := agentvault.New(b, local, agentvault.WithAudit(false))
	require.NoError(t, err)
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "prod/old", Value: agentvault.StringValue("from-local")})
	require.NoError(t, err)

	mig, err := agentvault.New(b, counting, agentvault.WithPreviousKeyProvider(local), agentvault.WithAudit(false))
	require.NoError(t, err)
	res, err := mig.Rewrap(ctx, agentvault.RewrapOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Rewrapped)

	v, err = agentvault.New(b, counting, agentvault.WithAudit(false)) // AWS KMS alone now
	require.NoError(t, err)
	counting.Reset()
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "prod/new", Value: agentvault.StringValue("on-aws")})
	require.NoError(t, err)
	assert.EqualValues(t, 1, counting.Encrypts()+counting.Decrypts(), "a CreateSecret makes one KMS call")

	s, err := v.GetSecret(ctx, "prod/old")
	require.NoError(t, err)
	assert.Equal(t, "from-local", s.Value.Reveal())
	counting.Reset()
	for i := 0; i < 20; i++ {
		for _, path := range []string{"prod/old", "prod/new"} {
			_, err := v.GetSecret(ctx, path)
			require.NoError(t, err)
		}
	}
	assert.EqualValues(t, 0, counting.Encrypts()+counting.Decrypts(), "warm reads make no KMS call")

	// KMS down: fail closed, nothing written, no other key used.
	server.Stop()
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "prod/while-down", Value: agentvault.StringValue("x")})
	require.Error(t, err)
	keys, err := b.List(ctx, "s/")
	require.NoError(t, err)
	assert.Equal(t, []string{"s/prod/new", "s/prod/old"}, keys)
}
