package redisbackend_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// TestLostWriteDetected: when Redis serves a key at an older revision than
// one this Backend acknowledged, or other content under the acknowledged
// revision, or a key this Backend deleted, Get and GetMany fail with
// ErrLostWrite instead of serving it. (The records are rewritten raw here,
// as a failover to a replica that missed the writes leaves them.)
func TestLostWriteDetected(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	raw := srv.Client(t)
	ctx := t.Context()
	b, err := redisbackend.New(srv.Client(t))
	require.NoError(t, err, "New")
	other, err := redisbackend.New(srv.Client(t)) // another process
	require.NoError(t, err, "New")
	dk := func(key string) string { return "{agentvault:" + redisbackend.ShardTagForTest(b, key) + "}:k:" + key }

	// A revision going backwards.
	rev1, err := b.Put(ctx, "k", []byte("v1"), 0)
	require.NoError(t, err, "Put v1")
	old, err := raw.Get(ctx, dk("k")).Result()
	require.NoError(t, err, "GET record")
	rev2, err := b.Put(ctx, "k", []byte("v2"), rev1)
	require.NoError(t, err, "Put v2")
	require.NoError(t, raw.Set(ctx, dk("k"), old, 0).Err(), "restore the older record")
	_, _, err = b.Get(ctx, "k")
	require.ErrorIs(t, err, redisbackend.ErrLostWrite, "Get of a key whose acknowledged revision was lost")
	assert.Contains(t, err.Error(), `get "k"`, "error names the key")
	_, err = b.GetMany(ctx, []string{"k"})
	require.ErrorIs(t, err, redisbackend.ErrLostWrite, "GetMany of a key whose acknowledged revision was lost")
	// Another Backend knows nothing of the acknowledgement (documented).
	value, got, err := other.Get(ctx, "k")
	require.NoError(t, err, "Get through another Backend")
	assert.Equal(t, rev1, got, "the other Backend sees the older revision")
	// Once a newer revision is written (here by the other Backend), it is
	// served again.
	rev3, err := other.Put(ctx, "k", []byte("v3"), got)
	require.NoError(t, err, "Put v3 through the other Backend")
	require.Greater(t, rev3, rev2, "a new revision passes the lost one")
	value, got, err = b.Get(ctx, "k")
	require.NoError(t, err, "Get after a newer write")
	assert.Equal(t, rev3, got, "revision after a newer write")
	assert.Equal(t, "v3", string(value), "value after a newer write")

	// The acknowledged revision with other content.
	rev4, err := b.Put(ctx, "k", []byte("v4"), rev3)
	require.NoError(t, err, "Put v4")
	rec, err := raw.Get(ctx, dk("k")).Result()
	require.NoError(t, err, "GET record")
	require.NoError(t, raw.Set(ctx, dk("k"), rec[:len(rec)-2]+"XX", 0).Err(), "rewrite the value under the same revision")
	_, _, err = b.Get(ctx, "k")
	require.ErrorIs(t, err, redisbackend.ErrLostWrite, "Get of other content under revision %d", rev4)

	// A lost Delete.
	rev5, err := b.Put(ctx, "d", []byte("d1"), 0)
	require.NoError(t, err, "Put d")
	rec, err = raw.Get(ctx, dk("d")).Result()
	require.NoError(t, err, "GET record")
	require.NoError(t, b.Delete(ctx, "d", rev5), "Delete d")
	_, _, err = b.Get(ctx, "d")
	require.ErrorIs(t, err, backend.ErrNotFound, "Get after Delete")
	require.NoError(t, raw.Set(ctx, dk("d"), rec, 0).Err(), "restore the deleted record")
	_, _, err = b.Get(ctx, "d")
	require.ErrorIs(t, err, redisbackend.ErrLostWrite, "Get of a key whose acknowledged Delete was lost")

	// The detection can be off (tests measuring the old behaviour).
	off, err := redisbackend.New(srv.Client(t), redisbackend.WithoutLostWriteDetection())
	require.NoError(t, err, "New")
	r6, err := off.Put(ctx, "o", []byte("o1"), 0)
	require.NoError(t, err, "Put o1")
	rec, err = raw.Get(ctx, dk("o")).Result()
	require.NoError(t, err, "GET record")
	_, err = off.Put(ctx, "o", []byte("o2"), r6)
	require.NoError(t, err, "Put o2")
	require.NoError(t, raw.Set(ctx, dk("o"), rec, 0).Err(), "restore the older record")
	_, _, err = off.Get(ctx, "o")
	assert.NoError(t, err, "Get without detection serves the older record")
}
