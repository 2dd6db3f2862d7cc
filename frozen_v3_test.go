package agentvault_test

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

var updateVectorV3 = flag.Bool("update-vector-v3", false, "rewrite testdata/frozen-v3.json (only when deliberately adding a new format)")

const frozenFileV3 = "testdata/frozen-v3.json"

// frozenV3Time is when the format version 3 vector was written.
var frozenV3Time = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// TestFrozenVectorV3 keeps records written by format version 3 (version
// tier floors: a critical secret lowered to standard) readable forever,
// floors included: a standard token reads the version written after the
// lowering, never the critical-era ones.
func TestFrozenVectorV3(t *testing.T) {
	if *updateVectorV3 {
		writeFrozenVectorV3(t)
	}
	fv, rec, v := openFrozen(t, frozenFileV3)
	require.Equal(t, "AVSR\x03", string(rec[:5]), "the vector is a format version 3 record")

	s, err := v.GetSecret(ctx, fv.Path)
	require.NoError(t, err)
	assert.Equal(t, fv.Active, s.Version)
	assert.Equal(t, agentvault.TierStandard, s.Tier)
	for ver, want := range fv.Values {
		s, err := v.GetSecret(ctx, fv.Path, agentvault.AtVersion(ver))
		require.NoError(t, err, "GetSecret(%s)", ver)
		assert.Equal(t, want, s.Value.Reveal(), "GetSecret(%s)", ver)
	}
	std := v.Session(requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:" + fv.Path}}).Value.Reveal())
	s, err = std.GetSecret(ctx, fv.Path)
	require.NoError(t, err)
	assert.Equal(t, fv.Values["v3"], s.Value.Reveal())
	for _, ver := range []string{"v1", "v2"} {
		_, err := std.GetSecret(ctx, fv.Path, agentvault.AtVersion(ver))
		assert.ErrorIs(t, err, agentvault.ErrTierDenied, "standard token reads critical-era %s", ver)
	}
	// Writing over the old record still works, and keeps the floors.
	val := agentvault.StringValue("after")
	_, err = v.UpdateSecret(ctx, fv.Path, agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err)
	_, err = std.GetSecret(ctx, fv.Path, agentvault.AtVersion("v1"))
	assert.ErrorIs(t, err, agentvault.ErrTierDenied)
}

func writeFrozenVectorV3(t *testing.T) {
	key := []byte("frozen-vector-key-32-bytes-long!")
	k, err := localkms.New("frozen-1", key)
	require.NoError(t, err)
	b := membackend.New()
	now := frozenV3Time
	v, err := agentvault.New(b, k, agentvault.WithClock(func() time.Time { return now }), agentvault.WithActor("vector-writer"))
	require.NoError(t, err)
	const path = "production/vector/lowered-key"
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{
		Path: path, Value: agentvault.StringValue("critical-one"), Type: agentvault.TypeAPIKey, Tier: agentvault.TierCritical,
	})
	require.NoError(t, err)
	for _, in := range []agentvault.UpdateSecretInput{
		{Value: ptrValue("critical-two")},
		{Tier: agentvault.TierStandard},
		{Value: ptrValue("standard-three")},
	} {
		_, err = v.UpdateSecret(ctx, path, in)
		require.NoError(t, err)
	}
	cfg, _, err := b.Get(ctx, "meta/vault")
	require.NoError(t, err)
	rec, _, err := b.Get(ctx, "s/"+path)
	require.NoError(t, err)
	fv := frozenVector{KeyID: "frozen-1", KeyHex: hex.EncodeToString(key), ConfigHex: hex.EncodeToString(cfg),
		Path: path, RecordHex: hex.EncodeToString(rec), Active: "v3",
		Values: map[string]string{"v1": "critical-one", "v2": "critical-two", "v3": "standard-three"}}
	out, err := json.MarshalIndent(fv, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(frozenFileV3, append(out, '\n'), 0o644))
}

func ptrValue(s string) *agentvault.SecretValue {
	v := agentvault.StringValue(s)
	return &v
}
