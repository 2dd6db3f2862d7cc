package awskms

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssdkkms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/kms"
	"github.com/agentvault/agentvault/kms/kmstest"
)

func TestConformance(t *testing.T) {
	server := startLocalKMS(t)
	kmstest.Run(t, func(t *testing.T) kms.KeyProvider {
		p, err := New(server.Client, server.CreateKey(t))
		require.NoError(t, err, "New")
		return p
	})
}

func mustNew(t *testing.T, client KMSAPI, keyID string, opts ...Option) *Provider {
	t.Helper()
	p, err := New(client, keyID, opts...)
	require.NoError(t, err, "New(%q)", keyID)
	return p
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func TestWrongEncryptionContext(t *testing.T) {
	s := startLocalKMS(t)
	p := mustNew(t, s.Client, s.CreateKey(t))
	ctx := context.Background()
	ct, err := p.Encrypt(ctx, randBytes(t, 32), []byte("vault-1/prod/db/v1"))
	require.NoError(t, err, "Encrypt")

	got, err := p.Decrypt(ctx, ct, []byte("vault-1/prod/db/v2"))
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(wrong aad)")
	assert.Nil(t, got, "Decrypt(wrong aad) returned plaintext")
	var sdkErr *types.InvalidCiphertextException
	assert.ErrorAs(t, err, &sdkErr, "Decrypt(wrong aad): errors.As to *types.InvalidCiphertextException")

	// A context made by hand, as another tool would send it, opens the
	// ciphertext: the format is the documented one.
	out, err := s.Client.Decrypt(ctx, &awssdkkms.DecryptInput{
		CiphertextBlob:    ct,
		EncryptionContext: map[string]string{EncryptionContextKey: encryptionContext([]byte("vault-1/prod/db/v1"))[EncryptionContextKey]},
	})
	require.NoError(t, err, "SDK Decrypt with the documented encryption context")
	assert.Len(t, out.Plaintext, 32)

	// Without any context KMS refuses too.
	_, err = s.Client.Decrypt(ctx, &awssdkkms.DecryptInput{CiphertextBlob: ct})
	assert.Error(t, err, "SDK Decrypt without encryption context")
}

func TestDecryptPinnedToOtherKey(t *testing.T) {
	s := startLocalKMS(t)
	k1, k2 := s.CreateKey(t), s.CreateKey(t)
	p1, p2 := mustNew(t, s.Client, k1), mustNew(t, s.Client, k2)
	ctx := context.Background()
	aad := []byte("aad")
	ct, err := p1.Encrypt(ctx, randBytes(t, 32), aad)
	require.NoError(t, err, "Encrypt under key 1")

	got, err := p2.Decrypt(ctx, ct, aad)
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(ciphertext of key 1) with a provider pinned to key 2")
	assert.Nil(t, got)

	// Without KeyId, KMS would have used the key named in the ciphertext.
	_, err = s.Client.Decrypt(ctx, &awssdkkms.DecryptInput{CiphertextBlob: ct, EncryptionContext: encryptionContext(aad)})
	assert.NoError(t, err, "unpinned SDK Decrypt (shows the pin is what refuses)")
}

// countingClient counts the calls it forwards and records the KeyIds.
type countingClient struct {
	KMSAPI
	mu       sync.Mutex
	encrypts int
	decrypts []string
}

func (c *countingClient) Encrypt(ctx context.Context, in *awssdkkms.EncryptInput, o ...func(*awssdkkms.Options)) (*awssdkkms.EncryptOutput, error) {
	c.mu.Lock()
	c.encrypts++
	c.mu.Unlock()
	return c.KMSAPI.Encrypt(ctx, in, o...)
}

func (c *countingClient) Decrypt(ctx context.Context, in *awssdkkms.DecryptInput, o ...func(*awssdkkms.Options)) (*awssdkkms.DecryptOutput, error) {
	c.mu.Lock()
	c.decrypts = append(c.decrypts, aws.ToString(in.KeyId))
	c.mu.Unlock()
	return c.KMSAPI.Decrypt(ctx, in, o...)
}

func TestRotationWithDecryptKeys(t *testing.T) {
	s := startLocalKMS(t)
	oldKey, newKey := s.CreateKey(t), s.CreateKey(t)
	ctx := context.Background()
	aad := []byte("aad")
	pt := randBytes(t, 32)
	ctOld, err := mustNew(t, s.Client, oldKey).Encrypt(ctx, pt, aad)
	require.NoError(t, err, "Encrypt under the old key")

	c := &countingClient{KMSAPI: s.Client}
	p := mustNew(t, c, newKey, WithDecryptKeys(oldKey))
	assert.Equal(t, newKey, p.KeyID(), "KeyID() after rotation")

	got, err := p.Decrypt(ctx, ctOld, aad)
	require.NoError(t, err, "Decrypt(old-key ciphertext) with the old key in WithDecryptKeys")
	assert.Equal(t, pt, got)
	assert.Equal(t, []string{newKey, oldKey}, c.decrypts, "Decrypt tries the primary, then the old key")

	c.decrypts = nil
	ctNew, err := p.Encrypt(ctx, pt, aad)
	require.NoError(t, err, "Encrypt after rotation")
	got, err = p.Decrypt(ctx, ctNew, aad)
	require.NoError(t, err, "Decrypt(new-key ciphertext)")
	assert.Equal(t, pt, got)
	assert.Equal(t, []string{newKey}, c.decrypts, "a primary-key ciphertext costs one call")

	// The new ciphertext is under the new key: the old key alone refuses it.
	_, err = mustNew(t, s.Client, oldKey).Decrypt(ctx, ctNew, aad)
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(new-key ciphertext) pinned to the old key")

	// Wrong aad: every key says ErrDecrypt, and the error is ErrDecrypt.
	c.decrypts = nil
	_, err = p.Decrypt(ctx, ctOld, []byte("other"))
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(old-key ciphertext, wrong aad)")
	assert.Len(t, c.decrypts, 2, "a rejected ciphertext costs one call per key")

	// Without the old key the old ciphertext does not open.
	_, err = mustNew(t, s.Client, newKey).Decrypt(ctx, ctOld, aad)
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(old-key ciphertext) without WithDecryptKeys")
}

func TestRotationOldKeyDisabled(t *testing.T) {
	s := startLocalKMS(t)
	oldKey, newKey := s.CreateKey(t), s.CreateKey(t)
	ctx := context.Background()
	ctOld, err := mustNew(t, s.Client, oldKey).Encrypt(ctx, randBytes(t, 32), nil)
	require.NoError(t, err, "Encrypt under the old key")
	_, err = s.Client.DisableKey(ctx, &awssdkkms.DisableKeyInput{KeyId: &oldKey})
	require.NoError(t, err, "DisableKey(old)")

	p := mustNew(t, s.Client, newKey, WithDecryptKeys(oldKey))
	_, err = p.Decrypt(ctx, ctOld, nil)
	assert.ErrorIs(t, err, kms.ErrKeyDisabled, "Decrypt(ciphertext of a disabled old key): the old key's error wins over the primary's ErrDecrypt")
}

func TestDisabledKey(t *testing.T) {
	s := startLocalKMS(t)
	key := s.CreateKey(t)
	p := mustNew(t, s.Client, key)
	ctx := context.Background()
	ct, err := p.Encrypt(ctx, randBytes(t, 32), nil)
	require.NoError(t, err, "Encrypt before DisableKey")
	_, err = s.Client.DisableKey(ctx, &awssdkkms.DisableKeyInput{KeyId: &key})
	require.NoError(t, err, "DisableKey")

	_, err = p.Encrypt(ctx, randBytes(t, 32), nil)
	assert.ErrorIs(t, err, kms.ErrKeyDisabled, "Encrypt with a disabled key")
	var disabled *types.DisabledException
	assert.ErrorAs(t, err, &disabled, "Encrypt with a disabled key: errors.As to *types.DisabledException")

	got, err := p.Decrypt(ctx, ct, nil)
	assert.ErrorIs(t, err, kms.ErrKeyDisabled, "Decrypt with a disabled key")
	assert.Nil(t, got)

	_, err = s.Client.EnableKey(ctx, &awssdkkms.EnableKeyInput{KeyId: &key})
	require.NoError(t, err, "EnableKey")
	_, err = p.Decrypt(ctx, ct, nil)
	assert.NoError(t, err, "Decrypt after EnableKey")
}

func TestPendingDeletionKey(t *testing.T) {
	s := startLocalKMS(t)
	key := s.CreateKey(t)
	p := mustNew(t, s.Client, key)
	ctx := context.Background()
	_, err := s.Client.ScheduleKeyDeletion(ctx, &awssdkkms.ScheduleKeyDeletionInput{KeyId: &key, PendingWindowInDays: aws.Int32(7)})
	require.NoError(t, err, "ScheduleKeyDeletion")
	_, err = p.Encrypt(ctx, randBytes(t, 32), nil)
	assert.ErrorIs(t, err, kms.ErrKeyDisabled, "Encrypt with a key pending deletion")
	var state *types.KMSInvalidStateException
	assert.ErrorAs(t, err, &state, "errors.As to *types.KMSInvalidStateException")
}

func TestUnknownKey(t *testing.T) {
	s := startLocalKMS(t)
	ctx := context.Background()
	real := mustNew(t, s.Client, s.CreateKey(t))
	ct, err := real.Encrypt(ctx, randBytes(t, 32), nil)
	require.NoError(t, err, "Encrypt")

	for _, id := range []string{
		"arn:aws:kms:eu-west-2:111122223333:key/00000000-0000-4000-8000-000000000000",
		"00000000-0000-4000-8000-000000000000",
		"alias/does-not-exist",
	} {
		p := mustNew(t, s.Client, id)
		_, err := p.Encrypt(ctx, randBytes(t, 32), nil)
		assert.ErrorIs(t, err, kms.ErrKeyNotFound, "Encrypt with unknown key %q", id)
		var nf *types.NotFoundException
		assert.ErrorAs(t, err, &nf, "Encrypt with unknown key %q: errors.As to *types.NotFoundException", id)
		_, err = p.Decrypt(ctx, ct, nil)
		assert.ErrorIs(t, err, kms.ErrKeyNotFound, "Decrypt pinned to unknown key %q", id)
	}
}

func TestAlias(t *testing.T) {
	s := startLocalKMS(t)
	ctx := context.Background()
	key := s.CreateKey(t)
	_, err := s.Client.CreateAlias(ctx, &awssdkkms.CreateAliasInput{AliasName: aws.String("alias/agentvault-test"), TargetKeyId: &key})
	require.NoError(t, err, "CreateAlias")
	p := mustNew(t, s.Client, "alias/agentvault-test")
	assert.Equal(t, "alias/agentvault-test", p.KeyID())
	pt := randBytes(t, 32)
	ct, err := p.Encrypt(ctx, pt, []byte("a"))
	require.NoError(t, err, "Encrypt via alias")
	got, err := p.Decrypt(ctx, ct, []byte("a"))
	require.NoError(t, err, "Decrypt via alias")
	assert.Equal(t, pt, got)
	got, err = mustNew(t, s.Client, key).Decrypt(ctx, ct, []byte("a"))
	require.NoError(t, err, "Decrypt via the alias's key ARN")
	assert.Equal(t, pt, got)
}

func TestServerStopped(t *testing.T) {
	s := startLocalKMS(t)
	p := mustNew(t, s.Client, s.CreateKey(t))
	ctx := context.Background()
	ct, err := p.Encrypt(ctx, randBytes(t, 32), nil)
	require.NoError(t, err, "Encrypt while running")
	s.Stop()

	start := time.Now()
	_, err = p.Encrypt(ctx, randBytes(t, 32), nil)
	assert.ErrorIs(t, err, kms.ErrUnavailable, "Encrypt with the server stopped")
	var sendErr *smithyhttp.RequestSendError
	assert.ErrorAs(t, err, &sendErr, "Encrypt with the server stopped: errors.As to *smithyhttp.RequestSendError")
	got, err := p.Decrypt(ctx, ct, nil)
	assert.ErrorIs(t, err, kms.ErrUnavailable, "Decrypt with the server stopped")
	assert.Nil(t, got)
	assert.Less(t, time.Since(start), 5*time.Second, "failing against a stopped server took too long")
}

func TestServerStoppedStopsTryingKeys(t *testing.T) {
	s := startLocalKMS(t)
	c := &countingClient{KMSAPI: s.Client}
	p := mustNew(t, c, s.CreateKey(t), WithDecryptKeys(s.CreateKey(t), s.CreateKey(t)))
	ct, err := p.Encrypt(context.Background(), randBytes(t, 32), nil)
	require.NoError(t, err, "Encrypt")
	s.Stop()
	_, err = p.Decrypt(context.Background(), ct, nil)
	assert.ErrorIs(t, err, kms.ErrUnavailable, "Decrypt with the server stopped")
	assert.Len(t, c.decrypts, 1, "Decrypt went on to other keys after ErrUnavailable")
}

func TestContextDeadlineMidCall(t *testing.T) {
	// A client that blocks until ctx ends, like a KMS that does not answer.
	block := &fakeClient{wait: true}
	p := mustNew(t, block, "alias/k")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Encrypt(ctx, randBytes(t, 32), nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "Encrypt past its deadline")
	assert.ErrorIs(t, err, kms.ErrUnavailable, "Encrypt past its deadline")

	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err = p.Decrypt(ctx, []byte("ct"), nil)
	assert.ErrorIs(t, err, context.Canceled, "Decrypt cancelled mid-call")
	assert.NotErrorIs(t, err, kms.ErrUnavailable, "Decrypt cancelled by the caller is not the service's fault")
}

// fakeClient is a KMSAPI that records its inputs and answers with err, or
// waits for ctx when wait is set.
type fakeClient struct {
	err   error
	wait  bool
	calls atomic.Int64
	enc   *awssdkkms.EncryptInput
	dec   *awssdkkms.DecryptInput
}

func (f *fakeClient) Encrypt(ctx context.Context, in *awssdkkms.EncryptInput, _ ...func(*awssdkkms.Options)) (*awssdkkms.EncryptOutput, error) {
	f.calls.Add(1)
	f.enc = in
	if f.wait {
		<-ctx.Done()
		return nil, &smithy.OperationError{ServiceID: "KMS", OperationName: "Encrypt", Err: ctx.Err()}
	}
	if f.err != nil {
		return nil, f.err
	}
	return &awssdkkms.EncryptOutput{CiphertextBlob: []byte("ciphertext"), KeyId: in.KeyId}, nil
}

func (f *fakeClient) Decrypt(ctx context.Context, in *awssdkkms.DecryptInput, _ ...func(*awssdkkms.Options)) (*awssdkkms.DecryptOutput, error) {
	f.calls.Add(1)
	f.dec = in
	if f.wait {
		<-ctx.Done()
		return nil, &smithy.OperationError{ServiceID: "KMS", OperationName: "Decrypt", Err: &smithy.CanceledError{Err: ctx.Err()}}
	}
	if f.err != nil {
		return nil, f.err
	}
	return &awssdkkms.DecryptOutput{Plaintext: []byte("plaintext"), KeyId: in.KeyId}, nil
}

func TestRequestsPinKeyAndContext(t *testing.T) {
	f := &fakeClient{}
	p := mustNew(t, f, "arn:aws:kms:eu-west-2:111122223333:key/k")
	ctx := context.Background()
	_, err := p.Encrypt(ctx, []byte("dek"), []byte("aad"))
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:kms:eu-west-2:111122223333:key/k", aws.ToString(f.enc.KeyId), "Encrypt KeyId")
	assert.Equal(t, types.EncryptionAlgorithmSpecSymmetricDefault, f.enc.EncryptionAlgorithm)
	// Frozen: base64(SHA-256("aad")).
	want := map[string]string{"agentvault-aad-sha256": "0BKOKW3j2lnjhIZ08GmdE5+p6vplS4vax8OI4QrKM7o="}
	assert.Equal(t, want, f.enc.EncryptionContext, "Encrypt EncryptionContext")

	_, err = p.Decrypt(ctx, []byte("ct"), []byte("aad"))
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:kms:eu-west-2:111122223333:key/k", aws.ToString(f.dec.KeyId), "Decrypt must pin KeyId")
	assert.Equal(t, want, f.dec.EncryptionContext, "Decrypt EncryptionContext")

	// nil and empty aad are the same context.
	assert.Equal(t, encryptionContext(nil), encryptionContext([]byte{}))
	assert.Equal(t, map[string]string{"agentvault-aad-sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}, encryptionContext(nil))
}

func TestInputValidation(t *testing.T) {
	f := &fakeClient{}
	p := mustNew(t, f, "alias/k")
	ctx := context.Background()
	for name, pt := range map[string][]byte{"nil": nil, "empty": {}, "oversized": make([]byte, kms.MaxPlaintext+1)} {
		_, err := p.Encrypt(ctx, pt, nil)
		assert.ErrorIs(t, err, kms.ErrInvalidInput, "Encrypt(%s plaintext)", name)
	}
	for name, ct := range map[string][]byte{"nil": nil, "empty": {}, "oversized": make([]byte, maxCiphertext+1)} {
		_, err := p.Decrypt(ctx, ct, nil)
		assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(%s ciphertext)", name)
	}
	assert.Zero(t, f.calls.Load(), "invalid input reached the client")
}

func TestNewValidation(t *testing.T) {
	f := &fakeClient{}
	for name, tc := range map[string]struct {
		client KMSAPI
		key    string
		opts   []Option
	}{
		"nil client":             {nil, "alias/k", nil},
		"empty key":              {f, "", nil},
		"key with space":         {f, "alias/a b", nil},
		"key with newline":       {f, "alias/a\nb", nil},
		"non-ASCII key":          {f, "alias/é", nil},
		"long key":               {f, string(bytes.Repeat([]byte("a"), maxKeyIDLen+1)), nil},
		"empty decrypt key":      {f, "alias/k", []Option{WithDecryptKeys("")}},
		"duplicate decrypt key":  {f, "alias/k", []Option{WithDecryptKeys("alias/k")}},
		"config options for New": {f, "alias/k", []Option{WithConfigOptions(func(*config.LoadOptions) error { return nil })}},
	} {
		_, err := New(tc.client, tc.key, tc.opts...)
		assert.ErrorIs(t, err, kms.ErrInvalidInput, "New(%s)", name)
	}
}

func TestEmptyResponses(t *testing.T) {
	p := mustNew(t, emptyClient{}, "alias/k")
	_, err := p.Encrypt(context.Background(), []byte("dek"), nil)
	assert.ErrorIs(t, err, kms.ErrUnavailable, "Encrypt with an empty response")
	_, err = p.Decrypt(context.Background(), []byte("ct"), nil)
	assert.ErrorIs(t, err, kms.ErrUnavailable, "Decrypt with an empty response")
}

type emptyClient struct{}

func (emptyClient) Encrypt(context.Context, *awssdkkms.EncryptInput, ...func(*awssdkkms.Options)) (*awssdkkms.EncryptOutput, error) {
	return &awssdkkms.EncryptOutput{}, nil
}

func (emptyClient) Decrypt(context.Context, *awssdkkms.DecryptInput, ...func(*awssdkkms.Options)) (*awssdkkms.DecryptOutput, error) {
	return &awssdkkms.DecryptOutput{}, nil
}
