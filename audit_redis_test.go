package agentvault_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// TestRedisAuditLog: on Redis, events go to the writer's log; concurrent
// reads all land in one chain, and a resumed chain continues it.
func TestRedisAuditLog(t *testing.T) {
	client := redistest.StartServer(t).Client(t)
	rb, err := redisbackend.New(client)
	require.NoError(t, err)
	v, err := agentvault.New(rb, testKey(t), agentvault.WithAuditWriterID("svc"))
	require.NoError(t, err)
	create(t, v, "app/key", "x")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				_, err := v.GetSecret(ctx, "app/key")
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, v.Close())
	logged, err := rb.ReadLog(ctx, "audit.svc")
	require.NoError(t, err)
	assert.Len(t, logged, 81, "every event in the writer's log")

	v, err = agentvault.New(rb, testKey(t), agentvault.WithAuditWriterID("svc"))
	require.NoError(t, err)
	defer v.Close()
	get(t, v, "app/key")
	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.Equal(t, agentvault.AuditReport{Writers: 1, Events: 82}, *rep)
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretRead})
	require.NoError(t, err)
	assert.Len(t, evs, 81)
}
