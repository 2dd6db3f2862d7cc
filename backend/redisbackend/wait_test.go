package redisbackend_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// TestWaitWithoutReplicasFails: a write that no replica confirms returns
// ErrNotReplicated, never success, for Put and Delete.
func TestWaitWithoutReplicasFails(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	b, err := redisbackend.New(srv.Client(t), redisbackend.WithWait(1), redisbackend.WithWaitTimeout(50*time.Millisecond))
	require.NoError(t, err, "New")
	ctx := t.Context()
	_, err = b.Put(ctx, "k", []byte("v"), 0)
	require.ErrorIs(t, err, redisbackend.ErrNotReplicated, "Put with WithWait(1) on a server without replicas")
	assert.Contains(t, err.Error(), `put "k"`, "error names the operation and key")
	assert.Contains(t, err.Error(), "0 of 1 replicas", "error says how many replicas confirmed")
	// "May have written": the master applied it. This Backend does not
	// serve it unconfirmed; another one does.
	_, _, err = b.Get(ctx, "k")
	require.ErrorIs(t, err, redisbackend.ErrNotReplicated, "Get of an unconfirmed Put through the same Backend")
	other, err := redisbackend.New(srv.Client(t), redisbackend.WithWait(0))
	require.NoError(t, err, "New")
	_, rev, err := other.Get(ctx, "k")
	require.NoError(t, err, "Get after an unconfirmed Put through another Backend")
	err = b.Delete(ctx, "k", rev)
	require.ErrorIs(t, err, redisbackend.ErrNotReplicated, "Delete with WithWait(1) on a server without replicas")

	// wait=0 in a URL turns it off again; wait=1 in a URL turns it on.
	off, err := redisbackend.Open("redis://"+srv.Addr+"/0?wait=0", redisbackend.WithWait(1))
	require.NoError(t, err, "Open wait=0")
	defer off.Close()
	_, err = off.Put(ctx, "k2", []byte("v"), 0)
	assert.NoError(t, err, "Put with wait=0")
	on, err := redisbackend.Open("redis://" + srv.Addr + "/0?wait=1&wait_timeout=50ms")
	require.NoError(t, err, "Open wait=1")
	defer on.Close()
	_, err = on.Put(ctx, "k3", []byte("v"), 0)
	assert.ErrorIs(t, err, redisbackend.ErrNotReplicated, "Put through Open(?wait=1)")
}

// TestWaitConfirmedByReplica: with WithWait(1) a Put returns only once the
// replica has the write, so reading the replica right after sees it.
func TestWaitConfirmedByReplica(t *testing.T) {
	t.Parallel()
	master := redistest.StartServer(t)
	replica := redistest.StartReplica(t, master)
	b, err := redisbackend.New(master.Client(t), redisbackend.WithWait(1))
	require.NoError(t, err, "New")
	ctx := t.Context()
	rc := replica.Client(t)
	r, err := redisbackend.New(rc, redisbackend.WithWait(0))
	require.NoError(t, err, "New on the replica")
	for i := range 50 {
		value := []byte(strings.Repeat("x", i*100))
		rev, err := b.Put(ctx, "k", value, 0)
		require.NoError(t, err, "Put %d", i)
		got, grev, err := r.Get(ctx, "k")
		require.NoError(t, err, "Get %d from the replica right after Put", i)
		assert.Equal(t, rev, grev, "replica revision after a confirmed Put %d", i)
		assert.Equal(t, value, got, "replica value after a confirmed Put %d", i)
		require.NoError(t, b.Delete(ctx, "k", rev), "Delete %d", i)
		_, _, err = r.Get(ctx, "k")
		require.Error(t, err, "replica still has the key after a confirmed Delete %d", i)
	}
}

// TestWaitAutoSticky: by default (WaitAuto) a master without replicas is
// written without waiting; once a Backend has seen it with a replica it
// always waits, so a master that loses its replicas (as a demoted one
// does in a failover) fails writes instead of acknowledging them.
func TestWaitAutoSticky(t *testing.T) {
	t.Parallel()
	master := redistest.StartServer(t)
	ctx := t.Context()
	b, err := redisbackend.New(master.Client(t), redisbackend.WithWaitTimeout(time.Second))
	require.NoError(t, err, "New")
	_, err = b.Put(ctx, "alone", []byte("v"), 0)
	require.NoError(t, err, "Put on a master that never had replicas")

	replica := redistest.StartReplica(t, master)
	_, err = b.Put(ctx, "replicated", []byte("v"), 0)
	require.NoError(t, err, "Put on a master with a replica (first sight)")
	got, err := replica.Do("EXISTS", "{agentvault:"+shardTag(t, b, "replicated")+"}:k:replicated")
	require.NoError(t, err, "EXISTS on the replica")
	assert.EqualValues(t, 1, got, "the first write after the replica appeared reached it before Put returned")

	_, err = replica.Do("REPLICAOF", "NO", "ONE")
	require.NoError(t, err, "detach the replica")
	require.Eventually(t, func() bool {
		info, err := master.Do("INFO", "replication")
		return err == nil && strings.Contains(info.(string), "connected_slaves:0")
	}, 10*time.Second, 20*time.Millisecond, "master still lists the replica")
	_, err = b.Put(ctx, "orphaned", []byte("v"), 0)
	require.ErrorIs(t, err, redisbackend.ErrNotReplicated, "Put on a master that lost its replicas")

	// A Backend that never saw the replica does not wait (documented).
	fresh, err := redisbackend.New(master.Client(t))
	require.NoError(t, err, "New")
	_, err = fresh.Put(ctx, "fresh", []byte("v"), 0)
	assert.NoError(t, err, "Put through a Backend that never saw a replica")
}

// shardTag returns the two-digit shard of key, as the layout names it.
func shardTag(t *testing.T, b *redisbackend.Backend, key string) string {
	t.Helper()
	return redisbackend.ShardTagForTest(b, key)
}

// TestWaitCluster: on a Cluster, WAIT goes to the master that owns the
// key's slot: with WithWait(1) and no replicas every write fails, with the
// default (WaitAuto) every write succeeds.
func TestWaitCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	ctx := t.Context()
	def, err := redisbackend.New(cl.Client(t), redisbackend.WithPrefix("auto"))
	require.NoError(t, err, "New")
	strict, err := redisbackend.New(cl.Client(t), redisbackend.WithPrefix("strict"),
		redisbackend.WithWait(1), redisbackend.WithWaitTimeout(20*time.Millisecond))
	require.NoError(t, err, "New WithWait(1)")
	for i := range 16 {
		key := "k" + strings.Repeat("x", i)
		_, err := def.Put(ctx, key, []byte("v"), 0)
		require.NoError(t, err, "default Put %q on a Cluster without replicas", key)
		_, err = strict.Put(ctx, key, []byte("v"), 0)
		require.ErrorIs(t, err, redisbackend.ErrNotReplicated, "WithWait(1) Put %q on a Cluster without replicas", key)
	}
}

// TestWaitOptionErrors: out-of-range replica counts and timeouts are
// rejected with a clear error.
func TestWaitOptionErrors(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	for _, opts := range [][]redisbackend.Option{
		{redisbackend.WithWait(-2)},
		{redisbackend.WithWait(redisbackend.MaxWaitReplicas + 1)},
		{redisbackend.WithWaitTimeout(0)},
	} {
		_, err := redisbackend.New(srv.Client(t), opts...)
		assert.ErrorContains(t, err, "wait", "New with a bad wait option")
	}
	for _, q := range []string{"wait=x", "wait=-1", "wait=17", "wait_timeout=0", "wait_timeout=fast"} {
		_, err := redisbackend.Open("redis://" + srv.Addr + "/0?" + q)
		assert.ErrorContains(t, err, strings.SplitN(q, "=", 2)[0], "Open(?%s)", q)
	}
	b, err := redisbackend.Open("redis://" + srv.Addr + "/0?wait=auto&wait_timeout=250ms&dial_timeout=1s")
	require.NoError(t, err, "Open with wait=auto and go-redis parameters")
	b.Close()
}

// TestUnconfirmedWriteNotServed: a record whose Put returned
// ErrNotReplicated is not served by that Backend until the replicas
// confirm it, so a caller never builds on a write a failover may discard.
func TestUnconfirmedWriteNotServed(t *testing.T) {
	t.Parallel()
	master := redistest.StartServer(t)
	replica := redistest.StartReplica(t, master)
	ctx := t.Context()
	b, err := redisbackend.New(master.Client(t), redisbackend.WithWaitTimeout(time.Second))
	require.NoError(t, err, "New")
	rev1, err := b.Put(ctx, "k", []byte("v1"), 0)
	require.NoError(t, err, "Put v1 with the replica up")

	replica.Pause()
	_, err = b.Put(ctx, "k", []byte("v2"), rev1)
	require.ErrorIs(t, err, redisbackend.ErrNotReplicated, "Put v2 with the replica frozen")
	_, _, err = b.Get(ctx, "k")
	require.ErrorIs(t, err, redisbackend.ErrNotReplicated, "Get of the unconfirmed v2")
	_, err = b.GetMany(ctx, []string{"k"})
	require.ErrorIs(t, err, redisbackend.ErrNotReplicated, "GetMany of the unconfirmed v2")
	other, err := redisbackend.New(master.Client(t))
	require.NoError(t, err, "New")
	value, _, err := other.Get(ctx, "k")
	require.NoError(t, err, "another Backend serves the unconfirmed record (documented)")
	assert.Equal(t, "v2", string(value), "value through another Backend")

	replica.Resume()
	require.Eventually(t, func() bool {
		_, _, err := b.Get(ctx, "k")
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "Get once the replica is back")
	value, _, err = b.Get(ctx, "k")
	require.NoError(t, err, "Get of the confirmed v2")
	assert.Equal(t, "v2", string(value), "value once confirmed")
}

// TestWaitClusterMoved: a waited write goes to the master the client's
// slot map names; when that node answers MOVED (the slot moved, as in a
// Cluster failover), nothing was written, and the write is re-sent to the
// new owner instead of being acknowledged by the old one.
func TestWaitClusterMoved(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	cc := cl.Client(t)
	ctx := t.Context()
	b, err := redisbackend.New(cc, redisbackend.WithPrefix("moved"), redisbackend.WithIndexShards(1))
	require.NoError(t, err, "New")
	_, err = b.List(ctx, "") // loads the client's slot map; writes nothing
	require.NoError(t, err, "List")

	const hashTag = "{moved:00}"
	slot, err := cc.ClusterKeySlot(ctx, hashTag).Result()
	require.NoError(t, err, "CLUSTER KEYSLOT")
	owner, err := cc.MasterForKey(ctx, hashTag)
	require.NoError(t, err, "MasterForKey")
	var target *redistest.Server
	for _, n := range cl.Nodes {
		if n.Addr != owner.Options().Addr {
			target = n
			break
		}
	}
	id, err := target.Do("CLUSTER", "MYID")
	require.NoError(t, err, "CLUSTER MYID")
	// Hand the (empty) slot to target, on every node, behind the client's
	// back.
	for _, n := range append([]*redistest.Server{target}, cl.Nodes...) {
		_, err := n.Do("CLUSTER", "SETSLOT", strconv.FormatInt(slot, 10), "NODE", id.(string))
		require.NoError(t, err, "CLUSTER SETSLOT on %s", n.Addr)
	}

	rev, err := b.Put(ctx, "k", []byte("v"), 0)
	require.NoError(t, err, "Put after the slot moved")
	got, err := target.Do("EXISTS", hashTag+":k:k")
	require.NoError(t, err, "EXISTS on the new owner")
	assert.EqualValues(t, 1, got, "the record is on the slot's new owner")
	value, grev, err := b.Get(ctx, "k")
	require.NoError(t, err, "Get")
	assert.Equal(t, rev, grev, "revision")
	assert.Equal(t, "v", string(value), "value")
}
