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
// event is detected; with events one key each and in a log.
func TestAuditWriterIDContinuesChain(t *testing.T) {
	for _, layout := range auditLayouts {
		t.Run(layout, func(t *testing.T) {
			b, mb := layoutBackend(layout)
			for run := 0; run < 3; run++ {
				v, err := agentvault.New(b, testKey(t), agentvault.WithAuditWriterID("cli-host1"))
				require.NoError(t, err)
				create(t, v, fmt.Sprintf("run/%d", run), "x")
				get(t, v, fmt.Sprintf("run/%d", run))
				require.NoError(t, v.Close())
			}
			v, err := agentvault.New(b, testKey(t), agentvault.WithAuditWriterID("cli-host1"))
			require.NoError(t, err)
			defer v.Close()
			rep, err := v.VerifyAudit(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, rep.Writers, "one chain across runs")
			assert.Equal(t, 6, rep.Events)

			chains := storedChains(t, mb)
			require.Len(t, chains, 1)
			require.Len(t, chains[0].records, 6)
			// delete an event of the second run
			nb := chains[0].edit(func(r [][]byte) [][]byte { r[2] = nil; return r })
			nv, err := agentvault.New(nb, testKey(t))
			require.NoError(t, err)
			defer nv.Close()
			_, err = nv.VerifyAudit(ctx)
			var ie *agentvault.AuditIntegrityError
			require.True(t, errors.As(err, &ie), "VerifyAudit err = %v, want *AuditIntegrityError", err)
			assert.Equal(t, uint64(3), ie.Seq)
			assert.Equal(t, "deleted", ie.Problem)
		})
	}
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
