package agentvault_test

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

var updateVectorV4 = flag.Bool("update-vector-v4", false, "rewrite testdata/frozen-v4.json (only when deliberately adding a new format)")

const frozenFileV4 = "testdata/frozen-v4.json"

// frozenStore is a whole stored vault: every backend key and its value.
type frozenStore struct {
	KeyID   string            `json:"key_id"`
	KeyHex  string            `json:"key_hex"`
	Path    string            `json:"path"`
	Records map[string]string `json:"records"` // backend key → hex value
	Values  map[string]string `json:"values"`
	Active  string            `json:"active"`
}

func openFrozenStore(t *testing.T, fs *frozenStore) (*membackend.Backend, *agentvault.AgentVault) {
	t.Helper()
	b := membackend.New()
	keys := make([]string, 0, len(fs.Records))
	for k := range fs.Records {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val, err := hex.DecodeString(fs.Records[k])
		require.NoError(t, err)
		_, err = b.Put(ctx, k, val, 0)
		require.NoError(t, err)
	}
	key, err := hex.DecodeString(fs.KeyHex)
	require.NoError(t, err)
	kp, err := localkms.New(fs.KeyID, key)
	require.NoError(t, err)
	v, err := agentvault.New(b, kp)
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	return b, v
}

// TestFrozenVectorV4 keeps a store written by record format version 4 (a
// head plus version records, tier floors included) readable forever.
func TestFrozenVectorV4(t *testing.T) {
	if *updateVectorV4 {
		writeFrozenVectorV4(t)
	}
	data, err := os.ReadFile(frozenFileV4)
	require.NoError(t, err)
	var fs frozenStore
	require.NoError(t, json.Unmarshal(data, &fs))
	head, err := hex.DecodeString(fs.Records["s/"+fs.Path])
	require.NoError(t, err)
	require.Equal(t, "AVSR\x04", string(head[:5]), "the vector is a format version 4 head")
	require.Contains(t, fs.Records, "sv/"+fs.Path+"@1", "the vector has version records")
	_, v := openFrozenStore(t, &fs)

	s, err := v.GetSecret(ctx, fs.Path)
	require.NoError(t, err)
	assert.Equal(t, fs.Active, s.Version)
	for ver, want := range fs.Values {
		s, err := v.GetSecret(ctx, fs.Path, agentvault.AtVersion(ver))
		require.NoError(t, err, "GetSecret(%s)", ver)
		assert.Equal(t, want, s.Value.Reveal(), "GetSecret(%s)", ver)
	}
	std := v.Session(requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:" + fs.Path}}).Value.Reveal())
	_, err = std.GetSecret(ctx, fs.Path, agentvault.AtVersion("v1"))
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "the critical-era floor holds")
	s, err = std.GetSecret(ctx, fs.Path)
	require.NoError(t, err)
	assert.Equal(t, fs.Values[fs.Active], s.Value.Reveal())
}

func writeFrozenVectorV4(t *testing.T) {
	key := []byte("frozen-vector-key-32-bytes-long!")
	k, err := localkms.New("frozen-1", key)
	require.NoError(t, err)
	b := membackend.New()
	now := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	v, err := agentvault.New(b, k, agentvault.WithClock(func() time.Time { return now }), agentvault.WithActor("vector-writer"))
	require.NoError(t, err)
	const path = "production/vector/head-key"
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{
		Path: path, Value: agentvault.StringValue("critical-one"), Type: agentvault.TypeAPIKey, Tier: agentvault.TierCritical,
		Tags: map[string]string{"env": "prod"}, Description: "frozen vector v4",
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
	fs := frozenStore{KeyID: "frozen-1", KeyHex: hex.EncodeToString(key), Path: path, Records: map[string]string{},
		Active: "v3", Values: map[string]string{"v1": "critical-one", "v2": "critical-two", "v3": "standard-three"}}
	keys, err := b.List(ctx, "")
	require.NoError(t, err)
	for _, key := range keys {
		if key != "meta/vault" && key != "s/"+path && key[:3] != "sv/" {
			continue
		}
		val, _, err := b.Get(ctx, key)
		require.NoError(t, err)
		fs.Records[key] = hex.EncodeToString(val)
	}
	out, err := json.MarshalIndent(fs, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(frozenFileV4, append(out, '\n'), 0o644))
}

// TestOldStoreUpgradesInPlace: a store written by the format 1, 2 and 3
// writers opens, reads every version, and is rewritten as format 4 (head
// plus version records) on its next write, keeping values and tier floors.
func TestOldStoreUpgradesInPlace(t *testing.T) {
	for _, file := range []string{frozenFile, frozenFileV2, frozenFileV3} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			var fv frozenVector
			require.NoError(t, json.Unmarshal(data, &fv))
			fs := frozenStore{KeyID: fv.KeyID, KeyHex: fv.KeyHex, Path: fv.Path, Values: fv.Values, Active: fv.Active,
				Records: map[string]string{"meta/vault": fv.ConfigHex, "s/" + fv.Path: fv.RecordHex}}
			b, v := openFrozenStore(t, &fs)
			floors := map[string]agentvault.AccessTier{}
			before, err := v.ListVersions(ctx, fv.Path)
			require.NoError(t, err)
			for _, vi := range before {
				floors[vi.Version] = vi.MinTier
			}
			_, err = v.UpdateSecret(ctx, fv.Path, agentvault.UpdateSecretInput{Value: ptrValue("upgraded")})
			require.NoError(t, err)

			head, _, err := b.Get(ctx, "s/"+fv.Path)
			require.NoError(t, err)
			assert.Equal(t, "AVSR\x04", string(head[:5]), "rewritten as format 4")
			keys, err := b.List(ctx, "sv/")
			require.NoError(t, err)
			assert.Len(t, keys, len(fv.Values), "one version record per version displaced by the upgrade")
			for ver, want := range fv.Values {
				assert.Equal(t, want, get(t, v, fv.Path, agentvault.AtVersion(ver)).Value.Reveal(), ver)
			}
			assert.Equal(t, "upgraded", get(t, v, fv.Path).Value.Reveal())
			after, err := v.ListVersions(ctx, fv.Path)
			require.NoError(t, err)
			for _, vi := range after {
				if want, ok := floors[vi.Version]; ok {
					assert.Equal(t, want, vi.MinTier, "floor of %s", vi.Version)
				}
			}
			// And a fresh vault on the upgraded store reads it too.
			v2, err := agentvault.New(b, testKeyFor(t, &fs))
			require.NoError(t, err)
			for ver, want := range fv.Values {
				assert.Equal(t, want, get(t, v2, fv.Path, agentvault.AtVersion(ver)).Value.Reveal(), ver)
			}
		})
	}
}

func testKeyFor(t *testing.T, fs *frozenStore) *localkms.Keyring {
	key, err := hex.DecodeString(fs.KeyHex)
	require.NoError(t, err)
	kp, err := localkms.New(fs.KeyID, key)
	require.NoError(t, err)
	return kp
}
