package redisbackend_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// TestClusterSpread checks that with the default prefix and shard count a
// vault's keys really spread over several hash slots and every node of a
// 3-master Cluster, and that List and GetMany still see all of them.
func TestClusterSpread(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	client := cl.Client(t)
	ctx := t.Context()
	b, err := redisbackend.New(client) // default prefix and shards
	require.NoError(t, err, "New")

	const n = 300
	var keys []string
	for i := range n {
		k := fmt.Sprintf("s/team%d/key%03d", i%3, i)
		keys = append(keys, k)
		_, err := b.Put(ctx, k, []byte("v"+k), 0)
		require.NoError(t, err, "Put(%q)", k)
	}
	slices.Sort(keys)

	slots := map[int64]bool{}
	records := 0
	for _, node := range cl.Nodes {
		reply, err := node.Do("KEYS", "*") // test-only: the backend never scans
		require.NoError(t, err, "KEYS on %s", node.Addr)
		nodeKeys := reply.([]any)
		nodeRecords := 0
		for _, k := range nodeKeys {
			key := k.(string)
			if !strings.Contains(key, "}:k:") {
				continue
			}
			nodeRecords++
			slot, err := node.Do("CLUSTER", "KEYSLOT", key)
			require.NoError(t, err, "CLUSTER KEYSLOT %q", key)
			slots[slot.(int64)] = true
		}
		records += nodeRecords
		t.Logf("node %s holds %d records, %d keys in all", node.Addr, nodeRecords, len(nodeKeys))
		assert.Positive(t, nodeRecords, "records on node %s", node.Addr)
	}
	assert.Equal(t, n, records, "records over all nodes")
	assert.Len(t, slots, redisbackend.DefaultIndexShards, "distinct hash slots of the records")

	got, err := b.List(ctx, "")
	require.NoError(t, err, "List")
	assert.Equal(t, keys, got, "List(\"\")")
	got, err = b.List(ctx, "s/team1/")
	require.NoError(t, err, "List")
	assert.Len(t, got, n/3, "List(%q)", "s/team1/")
	items, err := b.GetMany(ctx, keys)
	require.NoError(t, err, "GetMany")
	for i, it := range items {
		assert.Equal(t, "v"+keys[i], string(it.Value), "GetMany item %d", i)
	}
	for _, k := range keys[:n/2] {
		require.NoError(t, b.Delete(ctx, k, 0), "Delete(%q)", k)
	}
	got, err = b.List(ctx, "s/")
	require.NoError(t, err, "List after Delete")
	assert.Equal(t, keys[n/2:], got, "List after deleting half")
}
