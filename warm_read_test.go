package agentvault_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/kmstest"
)

// TestWarmReadDataKeyAgesOut: the data key a warm read keeps with the
// cached record is the cache's entry, used for maxAge at most: once older
// it is unwrapped again, and reads after that are warm again.
func TestWarmReadDataKeyAgesOut(t *testing.T) {
	counting := kmstest.NewCounting(testKey(t))
	b := membackend.New()
	w, err := agentvault.New(b, counting)
	require.NoError(t, err)
	create(t, w, "a", "x")
	v, err := agentvault.New(b, counting, agentvault.WithKeyCache(16, 20*time.Millisecond))
	require.NoError(t, err)
	counting.Reset()
	for range 5 { // cold, then warm: the key is kept with the record
		assert.Equal(t, "x", get(t, v, "a").Value.Reveal())
	}
	require.EqualValues(t, 1, counting.Decrypts(), "one unwrap, then warm")
	time.Sleep(40 * time.Millisecond)
	for range 5 {
		assert.Equal(t, "x", get(t, v, "a").Value.Reveal())
	}
	assert.EqualValues(t, 2, counting.Decrypts(), "a data key older than maxAge is unwrapped again, once")
}

// TestWarmReadSeesEveryChange: a vault whose reads of a path are warm (the
// record and its active data key cached) reads exactly what the store holds
// after another vault changes it (a new value, a rollback to an older
// version, a metadata-only change, a delete and re-create), and fails with
// ErrIntegrity when the stored head is tampered with, even when the
// tampered bytes have the same length.
func TestWarmReadSeesEveryChange(t *testing.T) {
	b := membackend.New()
	key := testKey(t)
	reader, err := agentvault.New(b, key, agentvault.WithAudit(false))
	require.NoError(t, err)
	writer, err := agentvault.New(b, key, agentvault.WithAudit(false))
	require.NoError(t, err)
	warm := func(want, version string) {
		t.Helper()
		for range 3 {
			s := get(t, reader, "p/k")
			require.Equal(t, want, s.Value.Reveal())
			require.Equal(t, version, s.Version)
		}
	}
	create(t, writer, "p/k", "one")
	warm("one", "v1")
	update(t, writer, "p/k", "two")
	warm("two", "v2")
	_, err = writer.Rollback(ctx, "p/k", "v1")
	require.NoError(t, err)
	warm("one", "v1")
	d := "described"
	_, err = writer.UpdateSecret(ctx, "p/k", agentvault.UpdateSecretInput{Description: &d})
	require.NoError(t, err)
	warm("one", "v1")
	assert.Equal(t, "described", get(t, reader, "p/k").Description)
	require.NoError(t, writer.DeleteSecret(ctx, "p/k"))
	_, err = reader.GetSecret(ctx, "p/k")
	require.ErrorIs(t, err, agentvault.ErrNotFound)
	create(t, writer, "p/k", "again")
	warm("again", "v1")

	raw, rev, err := b.Get(ctx, "s/p/k")
	require.NoError(t, err)
	bad := bytes.Clone(raw)
	bad[len(bad)/2] ^= 1
	_, err = b.Put(ctx, "s/p/k", bad, rev)
	require.NoError(t, err)
	for range 2 {
		_, err = reader.GetSecret(ctx, "p/k")
		require.ErrorIs(t, err, agentvault.ErrIntegrity)
	}
}

// TestWarmReadStillChecksPathAndActor: a path a warm read skips validating
// is one the cache holds, so another spelling of it is validated and
// refused as before, and the context's actor is checked on every read.
func TestWarmReadStillChecksPathAndActor(t *testing.T) {
	v, _ := newVault(t, agentvault.WithAudit(false))
	create(t, v, "p/k", "x")
	get(t, v, "p/k")
	get(t, v, "p/k")
	for _, p := range []string{"p//k", "/p/k", "p/k/", "p/./k", "", "p/" + agentvault.TokenPrefix + "abc"} {
		_, err := v.GetSecret(ctx, p)
		require.Error(t, err, "%q", p)
		assert.NotErrorIs(t, err, agentvault.ErrNotFound, "%q", p)
	}
	_, err := v.GetSecret(agentvault.ContextWithActor(ctx, "bad\x00actor"), "p/k")
	require.ErrorIs(t, err, agentvault.ErrInvalidInput)
	v.Close()
	_, err = v.GetSecret(ctx, "p/k")
	require.ErrorIs(t, err, agentvault.ErrClosed)
}
