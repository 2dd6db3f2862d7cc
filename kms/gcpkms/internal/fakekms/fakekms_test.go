package fakekms

import (
	"context"
	"testing"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const key = "projects/p/locations/global/keyRings/r/cryptoKeys/k"

func start(t *testing.T) (*Server, kmspb.KeyManagementServiceClient) {
	t.Helper()
	s, err := Start()
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	require.NoError(t, s.CreateKey(key))
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return s, kmspb.NewKeyManagementServiceClient(conn)
}

func TestChecksumsAndFlags(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	pt, aad := []byte("plaintext"), []byte("aad")

	// Without checksums: works, flags false.
	resp, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: pt, AdditionalAuthenticatedData: aad})
	require.NoError(t, err)
	assert.False(t, resp.GetVerifiedPlaintextCrc32C())
	assert.False(t, resp.GetVerifiedAdditionalAuthenticatedDataCrc32C())
	assert.Equal(t, crc(resp.GetCiphertext()), resp.GetCiphertextCrc32C().GetValue())
	assert.Equal(t, key+"/cryptoKeyVersions/1", resp.GetName())

	// With correct checksums: flags true.
	resp, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: pt, AdditionalAuthenticatedData: aad,
		PlaintextCrc32C: wrapperspb.Int64(crc(pt)), AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc(aad))})
	require.NoError(t, err)
	assert.True(t, resp.GetVerifiedPlaintextCrc32C())
	assert.True(t, resp.GetVerifiedAdditionalAuthenticatedDataCrc32C())
	ct := resp.GetCiphertext()

	// Wrong request checksums: INVALID_ARGUMENT.
	_, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: pt, PlaintextCrc32C: wrapperspb.Int64(crc(pt) ^ 1)})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: pt, AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc(aad) ^ 1)})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: ct, AdditionalAuthenticatedData: aad, CiphertextCrc32C: wrapperspb.Int64(crc(ct) ^ 1)})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: ct, AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc(aad) ^ 1)})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))

	dresp, err := c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: ct, AdditionalAuthenticatedData: aad,
		CiphertextCrc32C: wrapperspb.Int64(crc(ct)), AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc(aad))})
	require.NoError(t, err)
	assert.Equal(t, pt, dresp.GetPlaintext())
	assert.Equal(t, crc(pt), dresp.GetPlaintextCrc32C().GetValue())
	assert.True(t, dresp.GetUsedPrimary())

	// AAD is bound.
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: ct, AdditionalAuthenticatedData: []byte("other")})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
}

func TestKeysAndVersions(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	other := "projects/p/locations/global/keyRings/r/cryptoKeys/other"
	require.NoError(t, s.CreateKey(other))
	assert.Error(t, s.CreateKey(other), "CreateKey twice")
	assert.Error(t, s.CreateKey("bad"), "CreateKey(bad name)")

	resp, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: []byte("x")})
	require.NoError(t, err)
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: other, Ciphertext: resp.GetCiphertext()})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "ciphertext of another key")
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key + "x", Ciphertext: resp.GetCiphertext()})
	assert.Equal(t, codes.NotFound, status.Code(err), "unknown key")

	v2, err := s.RotateKey(key)
	require.NoError(t, err)
	resp2, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: []byte("x")})
	require.NoError(t, err)
	assert.Equal(t, v2, resp2.GetName())
	// Encrypt with an explicit version.
	resp1, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key + "/cryptoKeyVersions/1", Plaintext: []byte("x")})
	require.NoError(t, err)
	assert.Equal(t, key+"/cryptoKeyVersions/1", resp1.GetName())
	d, err := c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: resp1.GetCiphertext()})
	require.NoError(t, err)
	assert.False(t, d.GetUsedPrimary())

	require.NoError(t, s.DisableVersion(v2))
	_, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: []byte("x")})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.NoError(t, s.DestroyVersion(v2))
	assert.Error(t, s.EnableVersion(v2), "a destroyed version cannot be enabled")
}

func TestSwitches(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	s.FailNext(codes.PermissionDenied, 1)
	_, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: []byte("x")})
	assert.Equal(t, codes.PermissionDenied, status.Code(err))
	_, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: []byte("x")})
	assert.NoError(t, err, "FailNext(_, 1) failed more than one call")

	// An Encrypt fault leaves Decrypt alone, and the other way round.
	s.SetFault(CiphertextCRCWrong, -1)
	resp, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: []byte("x")})
	require.NoError(t, err)
	assert.NotEqual(t, crc(resp.GetCiphertext()), resp.GetCiphertextCrc32C().GetValue())
	s.SetFault(PlaintextByteFlipped, 1)
	d, err := c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: resp.GetCiphertext()})
	require.NoError(t, err)
	assert.NotEqual(t, crc(d.GetPlaintext()), d.GetPlaintextCrc32C().GetValue())
	d, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: resp.GetCiphertext()})
	require.NoError(t, err)
	assert.Equal(t, []byte("x"), d.GetPlaintext(), "SetFault(_, 1) applied twice")
	enc, dec := s.Calls()
	assert.Equal(t, 3, enc)
	assert.Equal(t, 2, dec)
	for _, f := range append(append([]Fault{NoFault}, EncryptFaults...), DecryptFaults...) {
		assert.NotContains(t, f.String(), "Fault(", "Fault %d has no name", int(f))
	}
}
