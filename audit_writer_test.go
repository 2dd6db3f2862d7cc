package agentvault_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
)

// TestAuditWriterIDContinuesChain: short-lived vault instances (CLI runs)
// with one writer id append to one chain, so deleting an earlier run's
// event is detected.
func TestAuditWriterIDContinuesChain(t *testing.T) {
	b := membackend.New()
	for run := 0; run < 3; run++ {
		v, err := agentvault.New(b, testKey(t), agentvault.WithAuditWriterID("cli-host1"))
		require.NoError(t, err)
		create(t, v, fmt.Sprintf("run/%d", run), "x")
		get(t, v, fmt.Sprintf("run/%d", run))
		require.NoError(t, v.Close())
	}
	v, err := agentvault.New(b, testKey(t), agentvault.WithAuditWriterID("cli-host1"))
	require.NoError(t, err)
	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Writers, "one chain across runs")
	assert.Equal(t, 6, rep.Events)

	keys, err := b.List(ctx, "audit/cli-host1/")
	require.NoError(t, err)
	require.Len(t, keys, 6)
	require.NoError(t, b.Delete(ctx, keys[2], 0)) // an event of the second run
	_, err = v.VerifyAudit(ctx)
	var ie *agentvault.AuditIntegrityError
	require.True(t, errors.As(err, &ie), "VerifyAudit err = %v, want *AuditIntegrityError", err)
	assert.Equal(t, uint64(3), ie.Seq)
}

// TestAuditWriterIDShared: concurrent instances sharing a writer id keep one
// valid chain with every event in it.
func TestAuditWriterIDShared(t *testing.T) {
	b := membackend.New()
	const instances, each = 4, 25
	var wg sync.WaitGroup
	for i := 0; i < instances; i++ {
		v, err := agentvault.New(b, testKey(t), agentvault.WithAuditWriterID("shared"))
		require.NoError(t, err)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < each; j++ {
				_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: fmt.Sprintf("s/%d-%d", i, j), Value: agentvault.StringValue("x")})
				assert.NoError(t, err)
			}
		}(i)
	}
	wg.Wait()
	v, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.Equal(t, instances*each, rep.Events)
	events, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretCreated})
	require.NoError(t, err)
	assert.Len(t, events, instances*each)

	_, err = agentvault.New(b, testKey(t), agentvault.WithAuditWriterID("bad id/"))
	require.ErrorIs(t, err, agentvault.ErrInvalidInput)
}
