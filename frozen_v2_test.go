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

var updateVectorV2 = flag.Bool("update-vector-v2", false, "rewrite testdata/frozen-v2.json (only when deliberately adding a new format)")

const frozenFileV2 = "testdata/frozen-v2.json"

// frozenV2Time is when the format version 2 vector was written.
var frozenV2Time = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

// TestFrozenVectorV2 keeps records written by format version 2 (a grace
// period and a rotation schedule) readable forever.
func TestFrozenVectorV2(t *testing.T) {
	if *updateVectorV2 {
		writeFrozenVectorV2(t)
	}
	clk := &fakeClock{t: frozenV2Time.Add(30 * time.Minute)}
	fv, rec, v := openFrozen(t, frozenFileV2, agentvault.WithClock(clk.Now))
	require.Equal(t, "AVSR\x02", string(rec[:5]), "the vector is a format version 2 record")

	s, err := v.GetSecret(ctx, fv.Path)
	require.NoError(t, err)
	assert.Equal(t, fv.Active, s.Version)
	assert.Equal(t, fv.Values[fv.Active], s.Value.Reveal())
	assert.Equal(t, agentvault.TypeAPIKey, s.Type)
	assert.Equal(t, "v1", s.PreviousVersion)
	assert.Equal(t, frozenV2Time.Add(time.Hour), s.GraceEndsAt)
	assert.Equal(t, 30*24*time.Hour, s.RotateEvery)
	assert.Equal(t, frozenV2Time.Add(30*24*time.Hour), s.NextRotationAt)
	prev, err := v.GetSecret(ctx, fv.Path, agentvault.AtVersion("previous"))
	require.NoError(t, err)
	assert.Equal(t, fv.Values["v1"], prev.Value.Reveal())
	for ver, want := range fv.Values {
		s, err := v.GetSecret(ctx, fv.Path, agentvault.AtVersion(ver))
		require.NoError(t, err, "GetSecret(%s)", ver)
		assert.Equal(t, want, s.Value.Reveal(), "GetSecret(%s)", ver)
	}
	clk.Add(30 * time.Minute)
	_, err = v.GetSecret(ctx, fv.Path, agentvault.AtVersion("previous"))
	assert.ErrorIs(t, err, agentvault.ErrNotFound, "previous after the grace")
	// Writing over the old record still works.
	val := agentvault.StringValue("after")
	_, err = v.UpdateSecret(ctx, fv.Path, agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err)
}

func writeFrozenVectorV2(t *testing.T) {
	key := []byte("frozen-vector-key-32-bytes-long!")
	k, err := localkms.New("frozen-1", key)
	require.NoError(t, err)
	b := membackend.New()
	now := frozenV2Time
	v, err := agentvault.New(b, k, agentvault.WithClock(func() time.Time { return now }), agentvault.WithActor("vector-writer"))
	require.NoError(t, err)
	const path = "production/vector/rotated-key"
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{
		Path: path, Value: agentvault.StringValue("key-one"), Type: agentvault.TypeAPIKey, Tier: agentvault.TierSensitive,
	})
	require.NoError(t, err)
	_, err = v.SetRotationSchedule(ctx, path, 30*24*time.Hour, time.Hour)
	require.NoError(t, err)
	val := agentvault.StringValue("key-two")
	_, err = v.RotateSecret(ctx, path, agentvault.RotateOptions{Value: &val, GracePeriod: time.Hour})
	require.NoError(t, err)
	cfg, _, err := b.Get(ctx, "meta/vault")
	require.NoError(t, err)
	rec, _, err := b.Get(ctx, "s/"+path)
	require.NoError(t, err)
	fv := frozenVector{KeyID: "frozen-1", KeyHex: hex.EncodeToString(key), ConfigHex: hex.EncodeToString(cfg),
		Path: path, RecordHex: hex.EncodeToString(rec), Active: "v2",
		Values: map[string]string{"v1": "key-one", "v2": "key-two"}}
	out, err := json.MarshalIndent(fv, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(frozenFileV2, append(out, '\n'), 0o644))
}
