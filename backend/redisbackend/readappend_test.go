package redisbackend

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// runGetAppend checks GetAppend's semantics on b; trips, when set, counts
// b's round trips and each call must cost want of them.
func runGetAppend(t *testing.T, b *Backend, trips *roundTrips, want int64, size int) {
	ctx := context.Background()
	rc := func(key string, rev int64) backend.ReadCond { return backend.ReadCond{Key: key, Rev: rev, Size: size} }
	r1, err := b.Put(ctx, "s/one", []byte("value one"), 0)
	require.NoError(t, err)
	r2, err := b.Put(ctx, "s/two", []byte("value two"), 0)
	require.NoError(t, err)
	const log = "audit.w1"
	count := func(f func()) {
		t.Helper()
		if trips != nil {
			trips.trips.Store(0)
		}
		f()
		if trips != nil {
			assert.Equal(t, want, trips.trips.Load(), "round trips")
		}
	}

	// First append to the log (it also records the log's name).
	res, ok, err := b.GetAppend(ctx, []backend.ReadCond{rc("s/one", r1)}, log, nil, [][]byte{[]byte("e1")})
	require.NoError(t, err)
	assert.True(t, ok, "appended")
	require.Len(t, res, 1)
	assert.Equal(t, backend.ReadResult{Value: []byte("value one"), Rev: r1}, res[0])

	// Every revision matches: appended, values returned.
	count(func() {
		res, ok, err = b.GetAppend(ctx, []backend.ReadCond{rc("s/one", r1), rc("s/two", r2)},
			log, []byte("e1"), [][]byte{[]byte("e2"), []byte("e3")})
	})
	require.NoError(t, err)
	assert.True(t, ok, "appended")
	assert.Equal(t, []backend.ReadResult{{Value: []byte("value one"), Rev: r1}, {Value: []byte("value two"), Rev: r2}}, res)

	// One revision moved: nothing appended, both read as they are now.
	r2b, err := b.Put(ctx, "s/two", []byte("value two b"), r2)
	require.NoError(t, err)
	count(func() {
		res, ok, err = b.GetAppend(ctx, []backend.ReadCond{rc("s/one", r1), rc("s/two", r2)},
			log, []byte("e3"), [][]byte{[]byte("e4")})
	})
	require.NoError(t, err)
	assert.False(t, ok, "appended despite a moved revision")
	assert.Equal(t, []backend.ReadResult{{Value: []byte("value one"), Rev: r1}, {Value: []byte("value two b"), Rev: r2b}}, res)

	// A missing key: nothing appended, its result says not found.
	count(func() {
		res, ok, err = b.GetAppend(ctx, []backend.ReadCond{rc("s/gone", r1)}, log, []byte("e3"), [][]byte{[]byte("e4")})
	})
	require.NoError(t, err)
	assert.False(t, ok)
	require.Len(t, res, 1)
	assert.ErrorIs(t, res[0].Err, backend.ErrNotFound)
	assert.Nil(t, res[0].Value)

	// The log moved on: a conflict, nothing appended.
	_, ok, err = b.GetAppend(ctx, []backend.ReadCond{rc("s/one", r1)}, log, []byte("e2"), [][]byte{[]byte("e4")})
	assert.ErrorIs(t, err, backend.ErrConflict)
	assert.False(t, ok)

	// Bad input: nothing written.
	_, _, err = b.GetAppend(ctx, []backend.ReadCond{rc("s/one", 0)}, log, []byte("e3"), [][]byte{[]byte("e4")})
	assert.ErrorIs(t, err, backend.ErrInvalidKey)
	_, _, err = b.GetAppend(ctx, []backend.ReadCond{rc("s/one", r1)}, log, []byte("e3"), [][]byte{[]byte("a\nb")})
	assert.ErrorIs(t, err, backend.ErrInvalidRecord)

	recs, err := b.ReadLog(ctx, log)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("e1"), []byte("e2"), []byte("e3")}, recs)
	logs, err := b.Logs(ctx, "audit.")
	require.NoError(t, err)
	assert.Equal(t, []string{log}, logs)
}

// TestGetAppend: on a single node, reading records and appending to a log
// conditionally on their revisions is one round trip.
func TestGetAppend(t *testing.T) {
	t.Parallel()
	client := redistest.StartServer(t).Client(t)
	trips := &roundTrips{}
	client.AddHook(trips)
	b, err := New(client)
	require.NoError(t, err)
	runGetAppend(t, b, trips, 1, 0)
}

// TestGetAppendSmall: reads expected to be small go through one script
// that returns the records (no MULTI); the semantics are the same, in one
// round trip.
func TestGetAppendSmall(t *testing.T) {
	t.Parallel()
	client := redistest.StartServer(t).Client(t)
	trips := &roundTrips{}
	client.AddHook(trips)
	b, err := New(client)
	require.NoError(t, err)
	runGetAppend(t, b, trips, 1, 64)
}

// TestGetAppendCluster: on a Cluster the records and the log are on
// different slots; GetAppend keeps its semantics in two round trips
// (pipelined GETs, then the Append).
func TestGetAppendCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { client.Close() })
	b, err := New(client)
	require.NoError(t, err)
	runGetAppend(t, b, nil, 0, 0)
	b2, err := New(client, WithPrefix("small"))
	require.NoError(t, err)
	runGetAppend(t, b2, nil, 0, 64)
}

// TestGetAppendLostWrite: a record that contradicts a write this Backend
// acknowledged is not served by GetAppend either.
func TestGetAppendLostWrite(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 16} {
		t.Run(strconv.Itoa(size), func(t *testing.T) { getAppendLostWrite(t, size) })
	}
}

func getAppendLostWrite(t *testing.T, size int) {
	srv := redistest.StartServer(t)
	b, err := New(srv.Client(t))
	require.NoError(t, err)
	ctx := context.Background()
	r1, err := b.Put(ctx, "s/k", []byte("old"), 0)
	require.NoError(t, err)
	old, err := srv.Do("GET", b.dataKey("s/k"))
	require.NoError(t, err)
	_, err = b.Put(ctx, "s/k", []byte("new"), r1)
	require.NoError(t, err)
	// The acknowledged update is lost: the old record is back.
	_, err = srv.Do("SET", b.dataKey("s/k"), old.(string))
	require.NoError(t, err)
	res, ok, err := b.GetAppend(ctx, []backend.ReadCond{{Key: "s/k", Rev: r1, Size: size}}, "audit.w", nil, [][]byte{[]byte("e")})
	require.NoError(t, err)
	assert.True(t, ok, "the script found the expected revision")
	require.Len(t, res, 1)
	assert.ErrorIs(t, res[0].Err, ErrLostWrite)
	assert.Nil(t, res[0].Value)
}

// TestGetAppendRevisionPrecision: revisions are compared exactly, also
// above 2^53 where a Lua number would round 2^53+1 to 2^53.
func TestGetAppendRevisionPrecision(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	b, err := New(srv.Client(t))
	require.NoError(t, err)
	ctx := context.Background()
	const stored = int64(1<<53 + 1)
	_, err = srv.Do("SET", b.dataKey("s/big"), "2 000"+strconv.FormatInt(stored, 10)+" 0123456789abcdef v")
	require.NoError(t, err)
	for _, size := range []int{0, 16} {
		res, ok, err := b.GetAppend(ctx, []backend.ReadCond{{Key: "s/big", Rev: stored - 1, Size: size}}, "audit.p", nil, [][]byte{[]byte("e")})
		require.NoError(t, err)
		assert.False(t, ok, "appended on revision %d, stored %d (size hint %d)", stored-1, stored, size)
		require.Len(t, res, 1)
		assert.Equal(t, backend.ReadResult{Value: []byte("v"), Rev: stored}, res[0])
	}
	recs, err := b.ReadLog(ctx, "audit.p")
	require.NoError(t, err)
	assert.Empty(t, recs)
	for i, size := range []int{0, 16} {
		rec := []byte("e" + strconv.Itoa(i))
		var last []byte
		if i > 0 {
			last = []byte("e0")
		}
		_, ok, err := b.GetAppend(ctx, []backend.ReadCond{{Key: "s/big", Rev: stored, Size: size}}, "audit.p", last, [][]byte{rec})
		require.NoError(t, err)
		assert.True(t, ok, "not appended on the stored revision (size hint %d)", size)
	}
	recs, err = b.ReadLog(ctx, "audit.p")
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("e0"), []byte("e1")}, recs)
}
