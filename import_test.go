package agentvault_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/membackend"
)

const envSample = `# app settings
export OPENAI_API_KEY=sk-proj-abc
DB_PASSWORD="p@ss word"
DB_URL='postgres://u:p@h/db'
STRIPE_SECRET_KEY=sk_live_x # inline comment
STRIPE_WEBHOOK=whsec_y
DB_READONLY_URL=ro
LOG_LEVEL=debug
`

func TestImportEnv(t *testing.T) {
	v, _ := newVault(t)
	res, err := v.ImportEnv(ctx, strings.NewReader(envSample), agentvault.ImportOptions{
		Namespace: "production", Tier: agentvault.TierStandard,
		TierPrefixes: map[string]agentvault.AccessTier{"DB_": agentvault.TierCritical, "DB_READONLY_": agentvault.TierSensitive, "STRIPE_": agentvault.TierSensitive},
		TypePrefixes: map[string]agentvault.SecretType{"DB_": agentvault.TypeDBCredential, "OPENAI_": agentvault.TypeAPIKey},
	})
	require.NoError(t, err)
	assert.Equal(t, 7, res.Created)
	assert.Equal(t, 0, res.Skipped)
	want := map[string]struct {
		tier agentvault.AccessTier
		typ  agentvault.SecretType
		val  string
	}{
		"production/OPENAI_API_KEY":    {agentvault.TierStandard, agentvault.TypeAPIKey, "sk-proj-abc"},
		"production/DB_PASSWORD":       {agentvault.TierCritical, agentvault.TypeDBCredential, "p@ss word"},
		"production/DB_URL":            {agentvault.TierCritical, agentvault.TypeDBCredential, "postgres://u:p@h/db"},
		"production/STRIPE_SECRET_KEY": {agentvault.TierSensitive, agentvault.TypeCustom, "sk_live_x"},
		"production/STRIPE_WEBHOOK":    {agentvault.TierSensitive, agentvault.TypeCustom, "whsec_y"},
		"production/DB_READONLY_URL":   {agentvault.TierSensitive, agentvault.TypeDBCredential, "ro"},
		"production/LOG_LEVEL":         {agentvault.TierStandard, agentvault.TypeCustom, "debug"},
	}
	require.Len(t, res.Secrets, len(want))
	assert.Equal(t, "OPENAI_API_KEY", res.Secrets[0].Variable, "file order kept")
	assert.Equal(t, 2, res.Secrets[0].Line)
	for _, s := range res.Secrets {
		w, ok := want[s.Path]
		require.True(t, ok, s.Path)
		assert.Equal(t, agentvault.ImportCreated, s.Action, s.Path)
		assert.Equal(t, w.tier, s.Tier, s.Path)
		assert.Equal(t, w.typ, s.Type, s.Path)
		got := get(t, v, s.Path)
		assert.Equal(t, w.val, got.Value.Reveal(), s.Path)
		assert.Equal(t, w.tier, got.Tier, s.Path)
		assert.Equal(t, w.typ, got.Type, s.Path)
	}

	// Re-running is idempotent.
	res, err = v.ImportEnv(ctx, strings.NewReader(envSample), agentvault.ImportOptions{Namespace: "production"})
	require.NoError(t, err)
	assert.Equal(t, 0, res.Created)
	assert.Equal(t, 7, res.Skipped)
	for _, s := range res.Secrets {
		assert.Equal(t, agentvault.ImportSkipped, s.Action)
	}

	// Overwrite: a version only where the value changed.
	changed := strings.Replace(envSample, "LOG_LEVEL=debug", "LOG_LEVEL=info", 1) + "NEW_ONE=1\n"
	res, err = v.ImportEnv(ctx, strings.NewReader(changed), agentvault.ImportOptions{Namespace: "production", Overwrite: true})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Created)
	assert.Equal(t, 1, res.Updated)
	assert.Equal(t, 6, res.Skipped)
	s := get(t, v, "production/LOG_LEVEL")
	assert.Equal(t, "info", s.Value.Reveal())
	assert.Equal(t, "v2", s.Version)
	assert.Equal(t, agentvault.TierStandard, s.Tier, "overwrite keeps the existing tier")
	vs, err := v.ListVersions(ctx, "production/DB_URL")
	require.NoError(t, err)
	assert.Len(t, vs, 1, "unchanged values get no new version")
}

func TestImportEnvDryRunWritesNothing(t *testing.T) {
	v, b := newVault(t)
	create(t, v, "staging/LOG_LEVEL", "old")
	res, err := v.ImportEnv(ctx, strings.NewReader(envSample), agentvault.ImportOptions{Namespace: "staging", DryRun: true, Overwrite: true})
	require.NoError(t, err)
	assert.True(t, res.DryRun)
	assert.Equal(t, 6, res.Created)
	assert.Equal(t, 1, res.Updated)
	keys, err := b.List(ctx, "s/")
	require.NoError(t, err)
	assert.Equal(t, []string{"s/staging/LOG_LEVEL"}, keys)
	assert.Equal(t, "old", get(t, v, "staging/LOG_LEVEL").Value.Reveal())
}

func TestImportEnvRejectsBeforeWriting(t *testing.T) {
	v, b := newVault(t, agentvault.WithMaxValueSize(16))
	cases := map[string]struct {
		env  string
		opts agentvault.ImportOptions
		msg  string
	}{
		"parse error":     {"A=1\nB=\"unterminated\n", agentvault.ImportOptions{Namespace: "ns"}, "line 2"},
		"bad name":        {"A=1\n1BAD=2\n", agentvault.ImportOptions{Namespace: "ns"}, "line 2"},
		"value too large": {"A=1\nB=" + strings.Repeat("x", 17) + "\n", agentvault.ImportOptions{Namespace: "ns"}, "variable B (line 2)"},
		"bad namespace":   {"A=1\n", agentvault.ImportOptions{Namespace: "a//b"}, "namespace"},
		"bad tier prefix": {"A=1\n", agentvault.ImportOptions{TierPrefixes: map[string]agentvault.AccessTier{"A": "top"}}, "unknown tier"},
		"bad tier":        {"A=1\n", agentvault.ImportOptions{Tier: "top"}, "unknown tier"},
	}
	for name, c := range cases {
		_, err := v.ImportEnv(ctx, strings.NewReader(c.env), c.opts)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), c.msg, name)
		assert.NotContains(t, err.Error(), "xxxxxxxxxxxxxxxxx", "%s: the value must not be in the error", name)
		keys, err := b.List(ctx, "s/")
		require.NoError(t, err)
		assert.Empty(t, keys, "%s: nothing written", name)
	}
}

func TestImportEnvDuplicatesWarn(t *testing.T) {
	v, _ := newVault(t)
	res, err := v.ImportEnv(ctx, strings.NewReader("A=1\nB=2\nA=3\n"), agentvault.ImportOptions{Namespace: "ns"})
	require.NoError(t, err)
	require.Len(t, res.Warnings, 1)
	assert.Contains(t, res.Warnings[0], "A")
	assert.Equal(t, "3", get(t, v, "ns/A").Value.Reveal(), "last definition wins")
	assert.Equal(t, 2, res.Created)
}

func TestImportEnvResumesAfterBackendFailure(t *testing.T) {
	fb := &putFailer{Backend: membackend.New()}
	v, err := agentvault.New(fb, testKey(t))
	require.NoError(t, err)
	var env strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&env, "VAR_%02d=value-%d\n", i, i)
	}
	fb.failAfter.Store(8) // the 9th write fails
	res, err := v.ImportEnv(ctx, strings.NewReader(env.String()), agentvault.ImportOptions{Namespace: "ns"})
	require.ErrorIs(t, err, errDiskFull)
	assert.Contains(t, err.Error(), "8 of 20 variables done")
	require.NotNil(t, res)
	assert.Equal(t, 8, res.Created)
	require.Len(t, res.Secrets, 8)
	keys, err := fb.List(ctx, "s/")
	require.NoError(t, err)
	assert.Len(t, keys, 8, "the result says exactly what was written")

	fb.failAfter.Store(-1)
	res, err = v.ImportEnv(ctx, strings.NewReader(env.String()), agentvault.ImportOptions{Namespace: "ns"})
	require.NoError(t, err)
	assert.Equal(t, 12, res.Created)
	assert.Equal(t, 8, res.Skipped)
	for i := 0; i < 20; i++ {
		assert.Equal(t, fmt.Sprintf("value-%d", i), get(t, v, fmt.Sprintf("ns/VAR_%02d", i)).Value.Reveal())
	}
}

var errDiskFull = errors.New("disk full")

type putFailer struct {
	backend.Backend
	failAfter atomic.Int64 // writes allowed before failing; -1 never fails
}

// Put fails secret writes ("s/…") once failAfter reaches 0; other writes
// (configuration, audit events) always succeed.
func (p *putFailer) Put(ctx context.Context, key string, val []byte, rev int64) (int64, error) {
	if strings.HasPrefix(key, "s/") {
		if n := p.failAfter.Load(); n == 0 {
			return 0, errDiskFull
		} else if n > 0 {
			p.failAfter.Add(-1)
		}
	}
	return p.Backend.Put(ctx, key, val, rev)
}

// BenchmarkImportEnv10k imports a 10,000-variable .env file into a fresh vault.
func BenchmarkImportEnv10k(b *testing.B) {
	var env strings.Builder
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&env, "SERVICE_%05d_API_KEY=sk-%032d\n", i, i)
	}
	data := env.String()
	for _, bk := range benchBackends(b) {
		b.Run(bk.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				v, err := agentvault.New(bk.open(b), testKey(b))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				res, err := v.ImportEnv(ctx, strings.NewReader(data), agentvault.ImportOptions{Namespace: "production"})
				if err != nil || res.Created != 10000 {
					b.Fatalf("ImportEnv: %v, created %d", err, res.Created)
				}
			}
		})
	}
}
