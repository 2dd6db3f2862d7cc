package agentvault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms"
	"github.com/agentvault/agentvault/kms/kmstest"
)

// TestTamperEveryByte flips each byte of a stored record, one at a time:
// every read must fail with ErrIntegrity or return exactly the original
// value, never another value and never a panic.
func TestTamperEveryByte(t *testing.T) {
	v, b := newVault(t)
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{
		Path: "prod/db", Value: agentvault.StringValue("original-one"), Tier: agentvault.TierCritical,
		Tags: map[string]string{"env": "prod"}, Description: "d", ExpiresIn: time.Hour,
	})
	require.NoError(t, err)
	update(t, v, "prod/db", "original-two")
	raw, rev, err := b.Get(ctx, "s/prod/db")
	require.NoError(t, err)

	// A fresh vault on the same store, so no cache hides the tampering.
	for i := range raw {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(raw)
			bad[i] ^= mask
			rev, err = b.Put(ctx, "s/prod/db", bad, rev)
			require.NoError(t, err)
			fresh, err := agentvault.New(b, testKey(t))
			require.NoError(t, err)
			for _, ver := range []string{"", "v1", "v2"} {
				var opts []agentvault.GetOption
				want := "original-two"
				if ver != "" {
					opts = append(opts, agentvault.AtVersion(ver))
					want = map[string]string{"v1": "original-one", "v2": "original-two"}[ver]
				}
				s, err := fresh.GetSecret(ctx, "prod/db", opts...)
				if err == nil {
					require.Equal(t, want, s.Value.Reveal(), "byte %d ^ %#x: read %q returned another value", i, mask, ver)
					continue
				}
				require.ErrorIs(t, err, agentvault.ErrIntegrity, "byte %d ^ %#x: GetSecret(%q) err = %v, want ErrIntegrity", i, mask, ver, err)
			}
			_, err = fresh.ListSecrets(ctx, agentvault.ListFilter{})
			require.ErrorIs(t, err, agentvault.ErrIntegrity, "byte %d: ListSecrets", i)
			fresh.Close()
		}
	}
	// Truncations.
	for n := 0; n < len(raw); n += 7 {
		rev, err = b.Put(ctx, "s/prod/db", raw[:n], rev)
		require.NoError(t, err)
		fresh, err := agentvault.New(b, testKey(t))
		require.NoError(t, err)
		_, err = fresh.GetSecret(ctx, "prod/db")
		require.ErrorIs(t, err, agentvault.ErrIntegrity, "truncated to %d bytes", n)
	}
}

// TestRecordMovedIsRejected copies a valid record to another path, and into
// another vault that uses the same key-encryption key.
func TestRecordMovedIsRejected(t *testing.T) {
	v, b := newVault(t)
	create(t, v, "prod/a", "value-a")
	create(t, v, "prod/b", "value-b")
	raw, _, err := b.Get(ctx, "s/prod/a")
	require.NoError(t, err)
	_, rev, err := b.Get(ctx, "s/prod/b")
	require.NoError(t, err)
	_, err = b.Put(ctx, "s/prod/b", raw, rev)
	require.NoError(t, err)
	_, err = v.GetSecret(ctx, "prod/b")
	require.ErrorIs(t, err, agentvault.ErrIntegrity, "record copied to another path")

	// Another vault, same KEK: its MAC key and vault id differ.
	other := membackend.New()
	v2, err := agentvault.New(other, testKey(t))
	require.NoError(t, err)
	create(t, v2, "prod/a", "other")
	_, rev, err = other.Get(ctx, "s/prod/a")
	require.NoError(t, err)
	_, err = other.Put(ctx, "s/prod/a", raw, rev)
	require.NoError(t, err)
	_, err = v2.GetSecret(ctx, "prod/a")
	require.ErrorIs(t, err, agentvault.ErrIntegrity, "record copied to another vault")
}

const canary = "CANARY-sk-live-7f3a9c2e51"

// TestCanaryNeverLeaks checks that a secret value appears in no error, no
// fmt verb, no JSON and no slog output.
func TestCanaryNeverLeaks(t *testing.T) {
	v, b := newVault(t)
	s, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "leak/test", Value: agentvault.StringValue(canary), Tags: map[string]string{"k": "v"}})
	require.NoError(t, err)
	got := get(t, v, "leak/test")
	require.Equal(t, canary, got.Value.Reveal())

	var outputs []string
	for _, x := range []any{got, *got, got.Value, &got.Value, s, agentvault.CreateSecretInput{Path: "x", Value: agentvault.StringValue(canary)}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
			outputs = append(outputs, fmt.Sprintf(verb, x))
		}
		j, err := json.Marshal(x)
		require.NoError(t, err)
		outputs = append(outputs, string(j))
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("secret", "s", x, "v", got.Value)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("secret", "s", x, "v", got.Value)
		outputs = append(outputs, buf.String())
	}
	outputs = append(outputs, fmt.Sprint(got.Value), fmt.Sprintln(got.Value), got.Value.String(), got.Value.GoString())
	// Errors from every failure path with the canary in play.
	val := agentvault.StringValue(canary)
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "leak/test", Value: val})
	outputs = append(outputs, err.Error())
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "leak/big", Value: agentvault.StringValue(strings.Repeat(canary, 10000))})
	outputs = append(outputs, err.Error(), fmt.Sprintf("%+v", err))
	_, err = v.UpdateSecret(ctx, "leak/test", agentvault.UpdateSecretInput{Value: &val, IfVersion: "v9"})
	outputs = append(outputs, err.Error(), fmt.Sprintf("%#v", err))
	raw, rev, _ := b.Get(ctx, "s/leak/test")
	raw[len(raw)/2] ^= 1
	_, _ = b.Put(ctx, "s/leak/test", raw, rev)
	fresh, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	_, err = fresh.GetSecret(ctx, "leak/test")
	require.Error(t, err)
	outputs = append(outputs, err.Error(), fmt.Sprintf("%#v", err))

	for _, o := range outputs {
		assert.NotContains(t, o, canary)
		assert.NotContains(t, o, fmt.Sprintf("%x", canary))
	}
	assert.Contains(t, fmt.Sprintf("%v", got), "[REDACTED]")
}

func TestWarmReadsMakeNoKMSCalls(t *testing.T) {
	counting := kmstest.NewCounting(testKey(t))
	b := membackend.New()
	v, err := agentvault.New(b, counting)
	require.NoError(t, err)
	counting.Reset()

	create(t, v, "a", "x")
	assert.EqualValues(t, 1, counting.Encrypts(), "CreateSecret makes one KMS call")
	assert.EqualValues(t, 0, counting.Decrypts())
	counting.Reset()
	for i := 0; i < 100; i++ {
		get(t, v, "a")
	}
	assert.EqualValues(t, 0, counting.Encrypts()+counting.Decrypts(), "reads after create are warm")

	// A second vault on the same store unwraps once, then stays warm.
	v2, err := agentvault.New(b, counting)
	require.NoError(t, err)
	counting.Reset()
	for i := 0; i < 100; i++ {
		get(t, v2, "a")
	}
	assert.EqualValues(t, 1, counting.Decrypts(), "one unwrap, then cached")

	// With the cache disabled every read unwraps.
	v3, err := agentvault.New(b, counting, agentvault.WithKeyCache(0, 0))
	require.NoError(t, err)
	counting.Reset()
	for i := 0; i < 5; i++ {
		get(t, v3, "a")
	}
	assert.EqualValues(t, 5, counting.Decrypts())

	// A cached data key is used for maxAge at most, then unwrapped again.
	v4, err := agentvault.New(b, counting, agentvault.WithKeyCache(16, time.Millisecond))
	require.NoError(t, err)
	counting.Reset()
	get(t, v4, "a")
	require.EqualValues(t, 1, counting.Decrypts())
	time.Sleep(5 * time.Millisecond)
	get(t, v4, "a")
	assert.EqualValues(t, 2, counting.Decrypts(), "a data key older than maxAge is not used")
}

func TestKMSFailureWritesNothing(t *testing.T) {
	b := membackend.New()
	k := &flakyKMS{KeyProvider: testKey(t)}
	k.fail.Store(true)
	_, err := agentvault.New(b, k)
	require.ErrorIs(t, err, errKMSDown, "New while the KMS is down")
	k.fail.Store(false)
	v, err := agentvault.New(b, k)
	require.NoError(t, err)
	create(t, v, "a", "x")

	k.fail.Store(true)
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "b", Value: agentvault.StringValue("y")})
	require.ErrorIs(t, err, errKMSDown)
	val := agentvault.StringValue("z")
	_, err = v.UpdateSecret(ctx, "a", agentvault.UpdateSecretInput{Value: &val})
	require.ErrorIs(t, err, errKMSDown)
	keys, err := b.List(ctx, "s/")
	require.NoError(t, err)
	assert.Equal(t, []string{"s/a"}, keys, "nothing written while the KMS is down")
	vs, err := v.ListVersions(ctx, "a")
	require.NoError(t, err)
	assert.Len(t, vs, 1)
	assert.Equal(t, "x", get(t, v, "a").Value.Reveal(), "warm reads keep working")
}

var errKMSDown = errors.New("kms unreachable")

type flakyKMS struct {
	kms.KeyProvider
	fail atomic.Bool
}

func (f *flakyKMS) Encrypt(ctx context.Context, pt, aad []byte) ([]byte, error) {
	if f.fail.Load() {
		return nil, errKMSDown
	}
	return f.KeyProvider.Encrypt(ctx, pt, aad)
}

func (f *flakyKMS) Decrypt(ctx context.Context, ct, aad []byte) ([]byte, error) {
	if f.fail.Load() {
		return nil, errKMSDown
	}
	return f.KeyProvider.Decrypt(ctx, ct, aad)
}
