package agentvault_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// TestCrashCheckerDetects: the kill -9 campaign's checker reports a lost
// acknowledged version, a wrong value, a version that was never written, a
// missing audit event and a token over its limit (so a campaign that
// passes has checked something).
func TestCrashCheckerDetects(t *testing.T) {
	v, _ := newVault(t)
	create(t, v, "c/s0", "a")
	update(t, v, "c/s0", "b")

	lost := newCrashModel()
	require.NoError(t, lost.apply(crashLine{Op: "create", Path: "c/s0", Version: "v1", Value: "a"}))
	require.NoError(t, lost.apply(crashLine{Op: "update", Path: "c/s0", Version: "v2", Value: "b"}))
	require.NoError(t, lost.apply(crashLine{Op: "update", Path: "c/s0", Version: "v3", Value: "c"}))
	assert.ErrorContains(t, lost.check(v, nil, nil), "acknowledged v3 lost")

	wrong := newCrashModel()
	require.NoError(t, wrong.apply(crashLine{Op: "create", Path: "c/s0", Version: "v1", Value: "x"}))
	require.NoError(t, wrong.apply(crashLine{Op: "update", Path: "c/s0", Version: "v2", Value: "b"}))
	assert.ErrorContains(t, wrong.check(v, nil, nil), `v1 reads "a", acknowledged "x"`)

	unacked := newCrashModel()
	require.NoError(t, unacked.apply(crashLine{Op: "create", Path: "c/s0", Version: "v1", Value: "a"}))
	assert.ErrorContains(t, unacked.check(v, nil, nil), "never acknowledged nor in flight")
	landed := newCrashModel()
	require.NoError(t, landed.apply(crashLine{Op: "create", Path: "c/s0", Version: "v1", Value: "a"}))
	assert.NoError(t, landed.check(v, &crashLine{Op: "update", Path: "c/s0", Value: "b"}, nil), "the in-flight update landed")

	skipped := newCrashModel()
	require.NoError(t, skipped.apply(crashLine{Op: "create", Path: "c/s1", Version: "v1", Value: "a"}))
	assert.ErrorContains(t, skipped.apply(crashLine{Op: "update", Path: "c/s1", Version: "v3", Value: "a"}), "reused or skipped")

	owed := newCrashModel()
	require.NoError(t, owed.apply(crashLine{Op: "rewrap"}))
	_, err := owed.checkAudit(v)
	assert.ErrorContains(t, err, "vault.rewrapped")

	createTier(t, v, "tok/x", "t", agentvault.TierStandard)
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:tok/*"}, MaxUses: 1})
	_, err = v.Session(tok.Value.Reveal()).GetSecret(ctx, "tok/x")
	require.NoError(t, err)
	over := newCrashModel()
	over.tokens[tok.Accessor] = &crashToken{max: 1, acked: 2}
	assert.ErrorContains(t, over.checkTokens(v), "2 acknowledged, max 1")
}
