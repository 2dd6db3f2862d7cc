package agentvault_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// prunedVersionEvents returns the versions of path the trail records as pruned.
func prunedVersionEvents(t *testing.T, v *agentvault.AgentVault, path string) []string {
	t.Helper()
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{PathPrefix: path, Event: agentvault.EventSecretVersionPruned})
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		out = append(out, e.Version)
	}
	return out
}

// TestImportOverwritePruneIsAudited: a version the retention policy removes
// while ImportEnv updates a secret gets its secret.version_pruned event,
// like one removed by UpdateSecret (found by the kill -9 campaign: the
// import's unaudited inner update dropped it).
func TestImportOverwritePruneIsAudited(t *testing.T) {
	v, _ := newVault(t, agentvault.WithRetention(agentvault.RetentionPolicy{MaxVersions: 1}))
	for _, val := range []string{"1", "2"} {
		_, err := v.ImportEnv(ctx, strings.NewReader("K="+val+"\n"), agentvault.ImportOptions{Namespace: "ns", Overwrite: true, Tier: agentvault.TierStandard})
		require.NoError(t, err)
	}
	vs, err := v.ListVersions(ctx, "ns/K")
	require.NoError(t, err)
	require.True(t, vs[0].Pruned, "v1 pruned by the second import")
	assert.Equal(t, []string{"v1"}, prunedVersionEvents(t, v, "ns/K"))
	_, err = v.VerifyAudit(ctx)
	require.NoError(t, err)
}

// TestSessionUpdatePruneIsAudited: the same through a token's Session.
func TestSessionUpdatePruneIsAudited(t *testing.T) {
	v, _ := newVault(t, agentvault.WithRetention(agentvault.RetentionPolicy{MaxVersions: 1}))
	createTier(t, v, "app/k", "1", agentvault.TierStandard)
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:*:app/*"}})
	val := agentvault.StringValue("2")
	_, err := v.Session(tok.Value.Reveal()).UpdateSecret(ctx, "app/k", agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err)
	assert.Equal(t, []string{"v1"}, prunedVersionEvents(t, v, "app/k"))
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretVersionPruned})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	upd, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretUpdated})
	require.NoError(t, err)
	require.Len(t, upd, 1)
	t.Logf("pruned by %+v, updated by %+v", evs[0].Actor, upd[0].Actor)
	assert.Equal(t, upd[0].Actor, evs[0].Actor, "pruned by the token's update")
}
