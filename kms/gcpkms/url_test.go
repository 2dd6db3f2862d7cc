package gcpkms

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/kms"
)

func TestParseURL(t *testing.T) {
	const name = "projects/acme-prod/locations/europe-west2/keyRings/agentvault/cryptoKeys/kek"
	for _, u := range []string{"gcpkms://" + name, "gcpkms:///" + name} {
		got, err := parseURL(u)
		require.NoError(t, err, "parseURL(%q)", u)
		assert.Equal(t, name, got)
	}
	for _, u := range []string{
		"",
		"gcpkms://",
		"awskms://alias/x",
		"GCPKMS://" + name,
		"gcpkms://" + name + "?x=1",
		"gcpkms://" + name + "#f",
		"gcpkms://" + name + "/cryptoKeyVersions/1",
		"gcpkms://projects/p/locations/l/keyRings/r",
		"gcpkms:////" + name,
	} {
		_, err := parseURL(u)
		assert.ErrorIs(t, err, kms.ErrInvalidInput, "parseURL(%q)", u)
	}
}

func TestOpenURL(t *testing.T) {
	f := startFake(t)
	key := f.newKey(t)
	ctx := context.Background()
	p, err := OpenURL(ctx, "gcpkms://"+key, WithClientOptions(clientOptions(f.srv.Addr())...))
	require.NoError(t, err, "OpenURL")
	assert.Equal(t, key, p.KeyID())
	pt := randBytes(t, 32)
	ct, err := p.Encrypt(ctx, pt, []byte("aad"))
	require.NoError(t, err, "Encrypt through an OpenURL provider")
	got, err := mustNew(t, f.client, key).Decrypt(ctx, ct, []byte("aad"))
	require.NoError(t, err)
	assert.Equal(t, pt, got)
	require.NoError(t, p.Close(), "Close closes the client OpenURL made")
	_, err = p.Encrypt(ctx, pt, nil)
	assert.Error(t, err, "Encrypt after Close")

	_, err = OpenURL(ctx, "gcpkms://"+key, WithDecryptKeys(key), WithClientOptions(clientOptions(f.srv.Addr())...))
	assert.ErrorIs(t, err, kms.ErrInvalidInput, "OpenURL with a duplicate key")
	_, err = OpenURL(ctx, "gcpkms://nope")
	assert.ErrorIs(t, err, kms.ErrInvalidInput)
}
