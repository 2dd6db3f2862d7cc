package agentvault

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
	"github.com/agentvault/agentvault/kms/localkms"
)

// TestFlushBatchOfReads: a batch holding reads and another event is
// written with one GetAppend when every read's record is at its predicted
// revision; when one is not, no read's event is appended (each read has
// its result, to go on the normal way) and the other event is still
// written. The chain verifies.
func TestFlushBatchOfReads(t *testing.T) {
	ctx := context.Background()
	k, err := localkms.New("k", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	rb, err := redisbackend.New(redistest.StartServer(t).Client(t))
	require.NoError(t, err)
	v, err := New(rb, k, WithAuditWriterID("w1"))
	require.NoError(t, err)
	defer v.Close()
	for _, p := range []string{"p/a", "p/b"} {
		_, err = v.CreateSecret(ctx, CreateSecretInput{Path: p, Value: StringValue("x")})
		require.NoError(t, err)
	}
	_, revA, err := v.load(ctx, "p/a")
	require.NoError(t, err)
	_, revB, err := v.load(ctx, "p/b")
	require.NoError(t, err)
	two := StringValue("y")
	_, err = v.UpdateSecret(ctx, "p/b", UpdateSecretInput{Value: &two})
	require.NoError(t, err)
	_, revB2, err := v.load(ctx, "p/b")
	require.NoError(t, err)
	logLen := func() int {
		recs, err := rb.ReadLog(ctx, "audit.w1")
		require.NoError(t, err)
		return len(recs)
	}
	batch := func(revB int64) ([]*AuditEvent, []*auditRead) {
		read := func(p string) *AuditEvent { return v.event(ctx, EventSecretRead, p).finish(nil) }
		return []*AuditEvent{read("p/a"), v.event(ctx, EventSecretListed, "").finish(nil), read("p/b")},
			[]*auditRead{{key: secretPrefix + "p/a", rev: revA}, nil, {key: secretPrefix + "p/b", rev: revB}}
	}

	before := logLen()
	events, reads := batch(revB) // p/b moved on since revB
	for _, err := range v.flushAudit(ctx, events, reads) {
		assert.NoError(t, err)
	}
	for _, r := range []*auditRead{reads[0], reads[2]} {
		assert.True(t, r.done, "the read was made")
		assert.False(t, r.appended, "appended although p/b moved on")
		assert.NoError(t, r.err)
		assert.NotEmpty(t, r.value)
	}
	assert.Equal(t, revA, reads[0].curRev)
	assert.Equal(t, revB2, reads[2].curRev)
	assert.Equal(t, before+1, logLen(), "only the event without a read is written")

	events, reads = batch(revB2)
	for _, err := range v.flushAudit(ctx, events, reads) {
		assert.NoError(t, err)
	}
	assert.True(t, reads[0].appended && reads[2].appended)
	assert.Equal(t, before+4, logLen(), "the three events in one write")

	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.Equal(t, before+4, rep.Events)
}
