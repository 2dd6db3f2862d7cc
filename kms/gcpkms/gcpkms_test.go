package gcpkms

import (
	"context"
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"sync/atomic"
	"testing"
	"time"

	gcpkmsapi "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/agentvault/agentvault/kms"
	"github.com/agentvault/agentvault/kms/gcpkms/internal/fakekms"
	"github.com/agentvault/agentvault/kms/kmstest"
)

// fake is a fakekms server and a real client connected to it.
type fake struct {
	srv    *fakekms.Server
	client *gcpkmsapi.KeyManagementClient
}

// clientOptions connect a client to the fake: plaintext gRPC on loopback,
// no credentials.
func clientOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithoutAuthentication(),
	}
}

func startFake(t *testing.T) *fake {
	t.Helper()
	srv, err := fakekms.Start()
	require.NoError(t, err, "fakekms.Start")
	t.Cleanup(srv.Stop)
	client, err := gcpkmsapi.NewKeyManagementClient(context.Background(), clientOptions(srv.Addr())...)
	require.NoError(t, err, "NewKeyManagementClient")
	t.Cleanup(func() { _ = client.Close() })
	return &fake{srv: srv, client: client}
}

var keySeq atomic.Int64

// newKey creates a CryptoKey on the fake and returns its name.
func (f *fake) newKey(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("projects/agentvault-test/locations/europe-west2/keyRings/ring/cryptoKeys/key-%d", keySeq.Add(1))
	require.NoError(t, f.srv.CreateKey(name), "CreateKey(%s)", name)
	return name
}

func mustNew(t *testing.T, client KMSClient, keyName string, opts ...Option) *Provider {
	t.Helper()
	p, err := New(client, keyName, opts...)
	require.NoError(t, err, "New(%q)", keyName)
	return p
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// noRetry turns off the generated client's retries, for tests of errors.
var noRetry = WithCallOptions(gax.WithRetry(func() gax.Retryer { return nil }))

func TestConformance(t *testing.T) {
	f := startFake(t)
	kmstest.Run(t, func(t *testing.T) kms.KeyProvider {
		return mustNew(t, f.client, f.newKey(t))
	})
}

func TestChecksumsSent(t *testing.T) {
	f := startFake(t)
	p := mustNew(t, f.client, f.newKey(t))
	ctx := context.Background()
	pt, aad := randBytes(t, 32), []byte("vault/prod/db/v1")
	ct, err := p.Encrypt(ctx, pt, aad)
	require.NoError(t, err, "Encrypt")
	crc := func(b []byte) int64 { return int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))) }

	enc := f.srv.LastEncryptRequest()
	require.NotNil(t, enc)
	assert.Equal(t, p.KeyID(), enc.GetName())
	assert.Equal(t, aad, enc.GetAdditionalAuthenticatedData())
	require.NotNil(t, enc.GetPlaintextCrc32C(), "EncryptRequest.plaintext_crc32c")
	assert.Equal(t, crc(pt), enc.GetPlaintextCrc32C().GetValue())
	require.NotNil(t, enc.GetAdditionalAuthenticatedDataCrc32C(), "EncryptRequest.additional_authenticated_data_crc32c")
	assert.Equal(t, crc(aad), enc.GetAdditionalAuthenticatedDataCrc32C().GetValue())

	_, err = p.Decrypt(ctx, ct, aad)
	require.NoError(t, err, "Decrypt")
	dec := f.srv.LastDecryptRequest()
	require.NotNil(t, dec)
	assert.Equal(t, p.KeyID(), dec.GetName(), "Decrypt must name the key")
	require.NotNil(t, dec.GetCiphertextCrc32C(), "DecryptRequest.ciphertext_crc32c")
	assert.Equal(t, crc(ct), dec.GetCiphertextCrc32C().GetValue())
	require.NotNil(t, dec.GetAdditionalAuthenticatedDataCrc32C(), "DecryptRequest.additional_authenticated_data_crc32c")
	assert.Equal(t, crc(aad), dec.GetAdditionalAuthenticatedDataCrc32C().GetValue())

	// Empty aad still gets its checksum, so the verified flag is set.
	_, err = p.Encrypt(ctx, pt, nil)
	require.NoError(t, err, "Encrypt(nil aad)")
	assert.NotNil(t, f.srv.LastEncryptRequest().GetAdditionalAuthenticatedDataCrc32C())
}

func TestCorruptEncryptResponses(t *testing.T) {
	f := startFake(t)
	p := mustNew(t, f.client, f.newKey(t))
	ctx := context.Background()
	for _, fault := range fakekms.EncryptFaults {
		t.Run(fault.String(), func(t *testing.T) {
			f.srv.SetFault(fault, -1)
			defer f.srv.SetFault(fakekms.NoFault, 0)
			before, _ := f.srv.Calls()
			ct, err := p.Encrypt(ctx, randBytes(t, 32), []byte("aad"))
			assert.Nil(t, ct, "Encrypt(%s) returned a ciphertext", fault)
			assert.ErrorIs(t, err, ErrCorruptResponse, "Encrypt(%s)", fault)
			assert.ErrorIs(t, err, kms.ErrUnavailable, "Encrypt(%s)", fault)
			after, _ := f.srv.Calls()
			assert.Equal(t, attempts, after-before, "Encrypt(%s): calls made", fault)

			// One corrupted response is retried.
			f.srv.SetFault(fault, 1)
			pt := randBytes(t, 32)
			ct, err = p.Encrypt(ctx, pt, []byte("aad"))
			require.NoError(t, err, "Encrypt(%s once)", fault)
			got, err := p.Decrypt(ctx, ct, []byte("aad"))
			require.NoError(t, err, "Decrypt after Encrypt(%s once)", fault)
			assert.Equal(t, pt, got)
		})
	}
}

func TestCorruptDecryptResponses(t *testing.T) {
	f := startFake(t)
	p := mustNew(t, f.client, f.newKey(t))
	ctx := context.Background()
	pt := randBytes(t, 32)
	ct, err := p.Encrypt(ctx, pt, []byte("aad"))
	require.NoError(t, err, "Encrypt")
	for _, fault := range fakekms.DecryptFaults {
		t.Run(fault.String(), func(t *testing.T) {
			f.srv.SetFault(fault, -1)
			defer f.srv.SetFault(fakekms.NoFault, 0)
			_, before := f.srv.Calls()
			got, err := p.Decrypt(ctx, ct, []byte("aad"))
			assert.Nil(t, got, "Decrypt(%s) returned plaintext", fault)
			assert.ErrorIs(t, err, ErrCorruptResponse, "Decrypt(%s)", fault)
			assert.ErrorIs(t, err, kms.ErrUnavailable, "Decrypt(%s)", fault)
			assert.NotErrorIs(t, err, kms.ErrDecrypt, "Decrypt(%s): corruption in transit is not an integrity failure of the ciphertext", fault)
			_, after := f.srv.Calls()
			assert.Equal(t, attempts, after-before, "Decrypt(%s): calls made", fault)

			f.srv.SetFault(fault, 2)
			got, err = p.Decrypt(ctx, ct, []byte("aad"))
			require.NoError(t, err, "Decrypt(%s twice, then clean)", fault)
			assert.Equal(t, pt, got)
		})
	}
}

func TestCorruptResponseWithDecryptKeys(t *testing.T) {
	// Corruption on the primary stops the search: it is ErrUnavailable.
	f := startFake(t)
	p := mustNew(t, f.client, f.newKey(t), WithDecryptKeys(f.newKey(t)))
	ct, err := p.Encrypt(context.Background(), randBytes(t, 32), nil)
	require.NoError(t, err)
	f.srv.SetFault(fakekms.PlaintextByteFlipped, -1)
	_, err = p.Decrypt(context.Background(), ct, nil)
	assert.ErrorIs(t, err, ErrCorruptResponse)
	_, decrypts := f.srv.Calls()
	assert.Equal(t, attempts, decrypts, "Decrypt tried another key after a corrupted response")
}

func TestStatusMapping(t *testing.T) {
	f := startFake(t)
	p := mustNew(t, f.client, f.newKey(t), noRetry)
	ctx := context.Background()
	ct, err := p.Encrypt(ctx, randBytes(t, 32), nil)
	require.NoError(t, err)
	sentinels := []error{kms.ErrDecrypt, kms.ErrKeyNotFound, kms.ErrKeyDisabled, kms.ErrPermission, kms.ErrUnavailable, kms.ErrInvalidInput}
	for _, tc := range []struct {
		code         codes.Code
		onEncrypt    error
		onDecrypt    error
		retriedByGax bool
	}{
		{codes.InvalidArgument, kms.ErrInvalidInput, kms.ErrDecrypt, false},
		{codes.NotFound, kms.ErrKeyNotFound, kms.ErrKeyNotFound, false},
		{codes.FailedPrecondition, kms.ErrKeyDisabled, kms.ErrKeyDisabled, false},
		{codes.PermissionDenied, kms.ErrPermission, kms.ErrPermission, false},
		{codes.Unauthenticated, kms.ErrPermission, kms.ErrPermission, false},
		{codes.Unavailable, kms.ErrUnavailable, kms.ErrUnavailable, true},
		{codes.DeadlineExceeded, kms.ErrUnavailable, kms.ErrUnavailable, true},
		{codes.ResourceExhausted, kms.ErrUnavailable, kms.ErrUnavailable, false},
		{codes.Internal, kms.ErrUnavailable, kms.ErrUnavailable, false},
		{codes.Aborted, kms.ErrUnavailable, kms.ErrUnavailable, false},
		{codes.Unknown, nil, nil, false},
		{codes.Unimplemented, nil, nil, false},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			f.srv.FailNext(tc.code, -1)
			defer f.srv.FailNext(codes.OK, 0)
			check := func(op string, err error, want error) {
				t.Helper()
				require.Error(t, err, "%s with %s", op, tc.code)
				for _, s := range sentinels {
					if s == want {
						assert.ErrorIs(t, err, s, "%s with %s", op, tc.code)
					} else {
						assert.NotErrorIs(t, err, s, "%s with %s", op, tc.code)
					}
				}
				// The status stays reachable.
				assert.Equal(t, tc.code, status.Code(err), "status.Code(%s error)", op)
				st, ok := status.FromError(err)
				assert.True(t, ok, "status.FromError(%s error)", op)
				assert.Equal(t, tc.code, st.Code())
				var apiErr *apierror.APIError
				if assert.ErrorAs(t, err, &apiErr, "errors.As(%s error, *apierror.APIError)", op) {
					assert.Equal(t, tc.code, apiErr.GRPCStatus().Code())
				}
			}
			out, err := p.Encrypt(ctx, randBytes(t, 32), nil)
			assert.Nil(t, out)
			check("Encrypt", err, tc.onEncrypt)
			out, err = p.Decrypt(ctx, ct, nil)
			assert.Nil(t, out)
			check("Decrypt", err, tc.onDecrypt)
		})
	}
}

func TestUnavailableRetriedByClient(t *testing.T) {
	// With the generated client's default call options, a passing
	// UNAVAILABLE is retried and the call succeeds.
	f := startFake(t)
	p := mustNew(t, f.client, f.newKey(t))
	f.srv.FailNext(codes.Unavailable, 1)
	_, err := p.Encrypt(context.Background(), randBytes(t, 32), nil)
	require.NoError(t, err, "Encrypt after one UNAVAILABLE")
	enc, _ := f.srv.Calls()
	assert.Equal(t, 2, enc)
}

func TestServerStopped(t *testing.T) {
	f := startFake(t)
	key := f.newKey(t)
	p := mustNew(t, f.client, key, noRetry)
	ctx := context.Background()
	ct, err := p.Encrypt(ctx, randBytes(t, 32), nil)
	require.NoError(t, err)
	f.srv.Stop()

	start := time.Now()
	_, err = p.Encrypt(ctx, randBytes(t, 32), nil)
	assert.ErrorIs(t, err, kms.ErrUnavailable, "Encrypt with the server stopped")
	assert.Equal(t, codes.Unavailable, status.Code(err))
	_, err = p.Decrypt(ctx, ct, nil)
	assert.ErrorIs(t, err, kms.ErrUnavailable, "Decrypt with the server stopped")
	assert.Less(t, time.Since(start), 5*time.Second)

	// With the default retries, a deadline bounds the call.
	p = mustNew(t, f.client, key)
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = p.Decrypt(dctx, ct, nil)
	assert.ErrorIs(t, err, kms.ErrUnavailable, "Decrypt with the server stopped, default retries, deadline")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestCancelledMidCall(t *testing.T) {
	f := startFake(t)
	p := mustNew(t, f.client, f.newKey(t))
	f.srv.FailNext(codes.Unavailable, -1) // the client keeps retrying
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := p.Encrypt(ctx, randBytes(t, 32), nil)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestWrongKeyAndAAD(t *testing.T) {
	f := startFake(t)
	k1, k2 := f.newKey(t), f.newKey(t)
	p1, p2 := mustNew(t, f.client, k1), mustNew(t, f.client, k2)
	ctx := context.Background()
	ct, err := p1.Encrypt(ctx, randBytes(t, 32), []byte("a"))
	require.NoError(t, err)
	_, err = p2.Decrypt(ctx, ct, []byte("a"))
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(ciphertext of key 1) with key 2")
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = p1.Decrypt(ctx, ct, []byte("b"))
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(wrong aad)")
}

func TestDisabledAndDestroyedVersions(t *testing.T) {
	f := startFake(t)
	key := f.newKey(t)
	p := mustNew(t, f.client, key)
	ctx := context.Background()
	ct, err := p.Encrypt(ctx, randBytes(t, 32), nil)
	require.NoError(t, err)
	v1 := key + "/cryptoKeyVersions/1"

	require.NoError(t, f.srv.DisableVersion(v1))
	_, err = p.Encrypt(ctx, randBytes(t, 32), nil)
	assert.ErrorIs(t, err, kms.ErrKeyDisabled, "Encrypt with the primary version disabled")
	_, err = p.Decrypt(ctx, ct, nil)
	assert.ErrorIs(t, err, kms.ErrKeyDisabled, "Decrypt under a disabled version")
	assert.Equal(t, codes.FailedPrecondition, status.Code(err))

	require.NoError(t, f.srv.EnableVersion(v1))
	_, err = p.Decrypt(ctx, ct, nil)
	require.NoError(t, err, "Decrypt after EnableVersion")

	require.NoError(t, f.srv.DestroyVersion(v1))
	_, err = p.Decrypt(ctx, ct, nil)
	assert.ErrorIs(t, err, kms.ErrKeyDisabled, "Decrypt under a destroyed version")
}

func TestUnknownKey(t *testing.T) {
	f := startFake(t)
	ctx := context.Background()
	ct, err := mustNew(t, f.client, f.newKey(t)).Encrypt(ctx, randBytes(t, 32), nil)
	require.NoError(t, err)
	p := mustNew(t, f.client, "projects/agentvault-test/locations/europe-west2/keyRings/ring/cryptoKeys/missing")
	_, err = p.Encrypt(ctx, randBytes(t, 32), nil)
	assert.ErrorIs(t, err, kms.ErrKeyNotFound, "Encrypt with an unknown key")
	_, err = p.Decrypt(ctx, ct, nil)
	assert.ErrorIs(t, err, kms.ErrKeyNotFound, "Decrypt with an unknown key")
}

func TestRotationWithinKey(t *testing.T) {
	f := startFake(t)
	key := f.newKey(t)
	p := mustNew(t, f.client, key)
	ctx := context.Background()
	pt := randBytes(t, 32)
	ctV1, err := p.Encrypt(ctx, pt, nil)
	require.NoError(t, err)
	v2, err := f.srv.RotateKey(key)
	require.NoError(t, err)
	assert.Equal(t, key, p.KeyID(), "KeyID() after a version rotation")
	ctV2, err := p.Encrypt(ctx, pt, nil)
	require.NoError(t, err)
	assert.Equal(t, key+"/cryptoKeyVersions/2", v2)
	for name, ct := range map[string][]byte{"v1": ctV1, "v2": ctV2} {
		got, err := p.Decrypt(ctx, ct, nil)
		require.NoError(t, err, "Decrypt(%s ciphertext) after rotation", name)
		assert.Equal(t, pt, got)
	}
}

func TestRotationWithDecryptKeys(t *testing.T) {
	f := startFake(t)
	oldKey, newKey := f.newKey(t), f.newKey(t)
	ctx := context.Background()
	pt := randBytes(t, 32)
	ctOld, err := mustNew(t, f.client, oldKey).Encrypt(ctx, pt, []byte("a"))
	require.NoError(t, err)

	p := mustNew(t, f.client, newKey, WithDecryptKeys(oldKey))
	assert.Equal(t, newKey, p.KeyID())
	_, before := f.srv.Calls()
	got, err := p.Decrypt(ctx, ctOld, []byte("a"))
	require.NoError(t, err, "Decrypt(old-key ciphertext) with WithDecryptKeys")
	assert.Equal(t, pt, got)
	_, after := f.srv.Calls()
	assert.Equal(t, 2, after-before, "primary, then the old key")

	ctNew, err := p.Encrypt(ctx, pt, []byte("a"))
	require.NoError(t, err)
	_, before = f.srv.Calls()
	_, err = p.Decrypt(ctx, ctNew, []byte("a"))
	require.NoError(t, err)
	_, after = f.srv.Calls()
	assert.Equal(t, 1, after-before, "a primary-key ciphertext costs one call")

	_, err = p.Decrypt(ctx, ctOld, []byte("b"))
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(old ciphertext, wrong aad)")

	_, err = mustNew(t, f.client, newKey).Decrypt(ctx, ctOld, []byte("a"))
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(old ciphertext) without WithDecryptKeys")

	// A disabled old key's error wins over the primary's ErrDecrypt.
	require.NoError(t, f.srv.DisableVersion(oldKey+"/cryptoKeyVersions/1"))
	_, err = p.Decrypt(ctx, ctOld, []byte("a"))
	assert.ErrorIs(t, err, kms.ErrKeyDisabled)
}

func TestInputValidation(t *testing.T) {
	f := startFake(t)
	p := mustNew(t, f.client, f.newKey(t))
	ctx := context.Background()
	for name, pt := range map[string][]byte{"nil": nil, "empty": {}, "oversized": make([]byte, kms.MaxPlaintext+1)} {
		_, err := p.Encrypt(ctx, pt, nil)
		assert.ErrorIs(t, err, kms.ErrInvalidInput, "Encrypt(%s plaintext)", name)
	}
	_, err := p.Encrypt(ctx, []byte("dek"), make([]byte, maxAAD+1))
	assert.ErrorIs(t, err, kms.ErrInvalidInput, "Encrypt(oversized aad)")
	for name, ct := range map[string][]byte{"nil": nil, "empty": {}, "oversized": make([]byte, maxCiphertext+1)} {
		_, err := p.Decrypt(ctx, ct, nil)
		assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(%s ciphertext)", name)
	}
	_, err = p.Decrypt(ctx, []byte("ct"), make([]byte, maxAAD+1))
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(oversized aad)")
	enc, dec := f.srv.Calls()
	assert.Zero(t, enc+dec, "invalid input reached the server")
}

func TestNewValidation(t *testing.T) {
	const good = "projects/p/locations/global/keyRings/r/cryptoKeys/k"
	f := &stubClient{}
	for name, tc := range map[string]struct {
		client KMSClient
		key    string
		opts   []Option
	}{
		"nil client":            {nil, good, nil},
		"empty key":             {f, "", nil},
		"key version":           {f, good + "/cryptoKeyVersions/1", nil},
		"key ring":              {f, "projects/p/locations/global/keyRings/r", nil},
		"leading slash":         {f, "/" + good, nil},
		"trailing slash":        {f, good + "/", nil},
		"space":                 {f, "projects/p/locations/global/keyRings/r/cryptoKeys/k k", nil},
		"bad decrypt key":       {f, good, []Option{WithDecryptKeys("alias/x")}},
		"duplicate decrypt key": {f, good, []Option{WithDecryptKeys(good)}},
		"client options to New": {f, good, []Option{WithClientOptions(option.WithoutAuthentication())}},
	} {
		_, err := New(tc.client, tc.key, tc.opts...)
		assert.ErrorIs(t, err, kms.ErrInvalidInput, "New(%s)", name)
	}
	p, err := New(f, "projects/example.com:p/locations/europe-west2/keyRings/r_1/cryptoKeys/k-2")
	require.NoError(t, err, "New(domain-scoped project)")
	assert.NoError(t, p.Close(), "Close of a Provider from New")
	assert.False(t, f.closed, "Close closed the caller's client")
}

// stubClient is a KMSClient that answers nothing; it records Close.
type stubClient struct{ closed bool }

func (*stubClient) Encrypt(context.Context, *kmspb.EncryptRequest, ...gax.CallOption) (*kmspb.EncryptResponse, error) {
	return nil, status.Error(codes.Unimplemented, "stub")
}

func (*stubClient) Decrypt(context.Context, *kmspb.DecryptRequest, ...gax.CallOption) (*kmspb.DecryptResponse, error) {
	return nil, status.Error(codes.Unimplemented, "stub")
}

func (s *stubClient) Close() error { s.closed = true; return nil }

func TestNilResponses(t *testing.T) {
	p := mustNew(t, nilClient{}, "projects/p/locations/global/keyRings/r/cryptoKeys/k")
	_, err := p.Encrypt(context.Background(), []byte("dek"), nil)
	assert.ErrorIs(t, err, ErrCorruptResponse)
	_, err = p.Decrypt(context.Background(), []byte("ct"), nil)
	assert.ErrorIs(t, err, ErrCorruptResponse)
}

type nilClient struct{}

func (nilClient) Encrypt(context.Context, *kmspb.EncryptRequest, ...gax.CallOption) (*kmspb.EncryptResponse, error) {
	return nil, nil
}

func (nilClient) Decrypt(context.Context, *kmspb.DecryptRequest, ...gax.CallOption) (*kmspb.DecryptResponse, error) {
	return nil, nil
}
