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

var updateVector = flag.Bool("update-vector", false, "rewrite testdata/frozen-v1.json (only when deliberately adding a new format)")

// frozenVector is a vault written by format version 1: its configuration
// record, one secret record, and the local key that opens them.
type frozenVector struct {
	KeyID     string            `json:"key_id"`
	KeyHex    string            `json:"key_hex"`
	ConfigHex string            `json:"config_hex"`
	Path      string            `json:"path"`
	RecordHex string            `json:"record_hex"`
	Values    map[string]string `json:"values"`
	Active    string            `json:"active"`
}

const frozenFile = "testdata/frozen-v1.json"

// TestFrozenVector keeps records written by format version 1 readable
// forever. If it fails, the storage format changed incompatibly.
func TestFrozenVector(t *testing.T) {
	if *updateVector {
		writeFrozenVector(t)
	}
	fv, _, v := openFrozen(t, frozenFile)
	s, err := v.GetSecret(ctx, fv.Path)
	require.NoError(t, err)
	assert.Equal(t, fv.Active, s.Version)
	assert.Equal(t, fv.Values[fv.Active], s.Value.Reveal())
	assert.Equal(t, agentvault.TypeAPIKey, s.Type)
	assert.Equal(t, agentvault.TierCritical, s.Tier)
	assert.Equal(t, map[string]string{"env": "prod", "team": "ml"}, s.Tags)
	assert.Equal(t, "frozen vector", s.Description)
	assert.Equal(t, "vector-writer", s.CreatedBy)
	assert.Equal(t, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), s.CreatedAt)
	assert.Equal(t, time.Date(2126, 1, 1, 0, 0, 0, 0, time.UTC), s.ExpiresAt)
	for ver, want := range fv.Values {
		s, err := v.GetSecret(ctx, fv.Path, agentvault.AtVersion(ver))
		require.NoError(t, err, "GetSecret(%s)", ver)
		assert.Equal(t, want, s.Value.Reveal(), "GetSecret(%s)", ver)
	}
	// Writing over the old record still works.
	val := agentvault.StringValue("after")
	_, err = v.UpdateSecret(ctx, fv.Path, agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err)
}

// openFrozen loads a frozen vector into a memory backend and opens it with
// its key; it returns the vector, the raw secret record and the vault.
func openFrozen(t *testing.T, file string, opts ...agentvault.Option) (*frozenVector, []byte, *agentvault.AgentVault) {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var fv frozenVector
	require.NoError(t, json.Unmarshal(data, &fv))
	key, err := hex.DecodeString(fv.KeyHex)
	require.NoError(t, err)
	cfg, err := hex.DecodeString(fv.ConfigHex)
	require.NoError(t, err)
	rec, err := hex.DecodeString(fv.RecordHex)
	require.NoError(t, err)
	b := membackend.New()
	_, err = b.Put(ctx, "meta/vault", cfg, 0)
	require.NoError(t, err)
	_, err = b.Put(ctx, "s/"+fv.Path, rec, 0)
	require.NoError(t, err)
	k, err := localkms.New(fv.KeyID, key)
	require.NoError(t, err)
	v, err := agentvault.New(b, k, opts...)
	require.NoError(t, err)
	return &fv, rec, v
}

func writeFrozenVector(t *testing.T) {
	key := []byte("frozen-vector-key-32-bytes-long!")
	k, err := localkms.New("frozen-1", key)
	require.NoError(t, err)
	b := membackend.New()
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	v, err := agentvault.New(b, k, agentvault.WithClock(func() time.Time { return now }), agentvault.WithActor("vector-writer"))
	require.NoError(t, err)
	const path = "production/vector/api-key"
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{
		Path: path, Value: agentvault.StringValue("value-one"), Type: agentvault.TypeAPIKey, Tier: agentvault.TierCritical,
		Tags: map[string]string{"team": "ml", "env": "prod"}, Description: "frozen vector",
		ExpiresAt: time.Date(2126, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	require.NoError(t, err)
	val := agentvault.StringValue("value-two ✓ with unicode")
	_, err = v.UpdateSecret(ctx, path, agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err)
	_, err = v.Rollback(ctx, path, "v1")
	require.NoError(t, err)
	cfg, _, err := b.Get(ctx, "meta/vault")
	require.NoError(t, err)
	rec, _, err := b.Get(ctx, "s/"+path)
	require.NoError(t, err)
	fv := frozenVector{KeyID: "frozen-1", KeyHex: hex.EncodeToString(key), ConfigHex: hex.EncodeToString(cfg),
		Path: path, RecordHex: hex.EncodeToString(rec), Active: "v1",
		Values: map[string]string{"v1": "value-one", "v2": "value-two ✓ with unicode"}}
	out, err := json.MarshalIndent(fv, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll("testdata", 0o755))
	require.NoError(t, os.WriteFile(frozenFile, append(out, '\n'), 0o644))
}
