package agentvault_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

var ctx = context.Background()

// fakeClock is a settable time source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func testKey(t testing.TB) *localkms.Keyring {
	t.Helper()
	k, err := localkms.New("test-key", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	return k
}

func newVault(t testing.TB, opts ...agentvault.Option) (*agentvault.AgentVault, backend.Backend) {
	t.Helper()
	b := membackend.New()
	v, err := agentvault.New(b, testKey(t), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	return v, b
}

func create(t testing.TB, v *agentvault.AgentVault, path, value string) *agentvault.Secret {
	t.Helper()
	s, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: path, Value: agentvault.StringValue(value)})
	require.NoError(t, err, "CreateSecret(%q)", path)
	return s
}

func update(t testing.TB, v *agentvault.AgentVault, path, value string) {
	t.Helper()
	val := agentvault.StringValue(value)
	_, err := v.UpdateSecret(ctx, path, agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err, "UpdateSecret(%q)", path)
}

func get(t testing.TB, v *agentvault.AgentVault, path string, opts ...agentvault.GetOption) *agentvault.Secret {
	t.Helper()
	s, err := v.GetSecret(ctx, path, opts...)
	require.NoError(t, err, "GetSecret(%q)", path)
	return s
}

func TestCreateDefaultsAndGet(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithActor("ops"))
	s := create(t, v, "production/openai/api-key", "sk-1")
	assert.Equal(t, agentvault.TypeCustom, s.Type)
	assert.Equal(t, agentvault.TierSensitive, s.Tier)
	assert.Equal(t, "v1", s.Version)
	assert.Equal(t, "ops", s.CreatedBy)
	assert.Equal(t, clk.Now(), s.CreatedAt)
	assert.Equal(t, clk.Now(), s.UpdatedAt)
	assert.True(t, s.ExpiresAt.IsZero())

	got := get(t, v, "production/openai/api-key")
	assert.Equal(t, "sk-1", got.Value.Reveal())
	assert.Equal(t, "v1", got.Version)
	assert.Equal(t, s.SecretMetadata, got.SecretMetadata)
}

func TestCreateAllFields(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now))
	c := agentvault.ContextWithActor(ctx, "alice")
	s, err := v.CreateSecret(c, agentvault.CreateSecretInput{
		Path: "production/postgres/main", Value: agentvault.StringValue("postgres://u:p@h/db"),
		Type: agentvault.TypeDBCredential, Tier: agentvault.TierCritical,
		Tags: map[string]string{"env": "production", "service": "postgres"}, Description: "main db",
		ExpiresIn: 24 * time.Hour,
	})
	require.NoError(t, err)
	got := get(t, v, "production/postgres/main")
	assert.Equal(t, s.SecretMetadata, got.SecretMetadata)
	assert.Equal(t, "alice", got.CreatedBy)
	assert.Equal(t, agentvault.TypeDBCredential, got.Type)
	assert.Equal(t, agentvault.TierCritical, got.Tier)
	assert.Equal(t, map[string]string{"env": "production", "service": "postgres"}, got.Tags)
	assert.Equal(t, "main db", got.Description)
	assert.Equal(t, clk.Now().Add(24*time.Hour), got.ExpiresAt)
}

func TestCreateExistingFails(t *testing.T) {
	v, _ := newVault(t)
	create(t, v, "a/b", "one")
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "a/b", Value: agentvault.StringValue("two")})
	require.ErrorIs(t, err, agentvault.ErrAlreadyExists, "CreateSecret(existing)")
	assert.Equal(t, "one", get(t, v, "a/b").Value.Reveal(), "existing value must be untouched")
}

func TestGetMissing(t *testing.T) {
	v, _ := newVault(t)
	_, err := v.GetSecret(ctx, "no/such")
	require.ErrorIs(t, err, agentvault.ErrNotFound)
	var ae *agentvault.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "get", ae.Op)
	assert.Equal(t, "no/such", ae.Path)
	assert.Equal(t, "agentvault: get no/such: secret not found", err.Error())

	create(t, v, "a", "x")
	_, err = v.GetSecret(ctx, "a", agentvault.AtVersion("v2"))
	require.ErrorIs(t, err, agentvault.ErrNotFound, "GetSecret(a, v2)")
	assert.Contains(t, err.Error(), "v2")
}

func TestVersionsUpdateRollback(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now))
	create(t, v, "p/k", "one")
	clk.Add(time.Minute)
	update(t, v, "p/k", "two")
	clk.Add(time.Minute)
	update(t, v, "p/k", "three")

	s := get(t, v, "p/k")
	assert.Equal(t, "three", s.Value.Reveal())
	assert.Equal(t, "v3", s.Version)
	for i, want := range []string{"one", "two", "three"} {
		old := get(t, v, "p/k", agentvault.AtVersion(fmt.Sprintf("v%d", i+1)))
		assert.Equal(t, want, old.Value.Reveal(), "GetSecret(v%d)", i+1)
		assert.Equal(t, fmt.Sprintf("v%d", i+1), old.Version)
	}

	vs, err := v.ListVersions(ctx, "p/k")
	require.NoError(t, err)
	require.Len(t, vs, 3)
	for i, vi := range vs {
		assert.Equal(t, fmt.Sprintf("v%d", i+1), vi.Version)
		assert.Equal(t, i == 2, vi.IsActive)
		assert.Equal(t, newClock().Now().Add(time.Duration(i)*time.Minute), vi.CreatedAt)
	}

	m, err := v.Rollback(ctx, "p/k", "v1")
	require.NoError(t, err)
	assert.Equal(t, "v1", m.Version)
	assert.Equal(t, "one", get(t, v, "p/k").Value.Reveal())
	vs, err = v.ListVersions(ctx, "p/k")
	require.NoError(t, err)
	assert.True(t, vs[0].IsActive)
	assert.False(t, vs[2].IsActive)

	update(t, v, "p/k", "four")
	s = get(t, v, "p/k")
	assert.Equal(t, "v4", s.Version, "the update after a rollback is max+1")
	assert.Equal(t, "four", s.Value.Reveal())

	_, err = v.Rollback(ctx, "p/k", "v9")
	require.ErrorIs(t, err, agentvault.ErrNotFound)
	_, err = v.Rollback(ctx, "p/k", "9")
	require.ErrorIs(t, err, agentvault.ErrInvalidInput)
	_, err = v.Rollback(ctx, "missing", "v1")
	require.ErrorIs(t, err, agentvault.ErrNotFound)
}

func TestMetadataUpdateCreatesNoVersion(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now))
	create(t, v, "p/k", "one")
	clk.Add(time.Hour)
	desc := "new description"
	exp := clk.Now().Add(48 * time.Hour)
	m, err := v.UpdateSecret(ctx, "p/k", agentvault.UpdateSecretInput{
		Tags: map[string]string{"team": "x"}, Description: &desc, Tier: agentvault.TierCritical,
		Type: agentvault.TypeAPIKey, ExpiresAt: &exp,
	})
	require.NoError(t, err)
	assert.Equal(t, "v1", m.Version)
	assert.Equal(t, clk.Now(), m.UpdatedAt)
	assert.NotEqual(t, m.CreatedAt, m.UpdatedAt)
	vs, err := v.ListVersions(ctx, "p/k")
	require.NoError(t, err)
	assert.Len(t, vs, 1)
	s := get(t, v, "p/k")
	assert.Equal(t, "one", s.Value.Reveal())
	assert.Equal(t, agentvault.TierCritical, s.Tier)
	assert.Equal(t, agentvault.TypeAPIKey, s.Type)
	assert.Equal(t, "new description", s.Description)
	assert.Equal(t, map[string]string{"team": "x"}, s.Tags)
	assert.Equal(t, exp, s.ExpiresAt)

	// An empty non-nil map removes all tags; nil keeps them.
	_, err = v.UpdateSecret(ctx, "p/k", agentvault.UpdateSecretInput{Tags: map[string]string{}})
	require.NoError(t, err)
	assert.Nil(t, get(t, v, "p/k").Tags)
}

func TestExpiry(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now))
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "e/k", Value: agentvault.StringValue("x"), ExpiresIn: time.Hour})
	require.NoError(t, err)

	clk.Add(time.Hour - time.Nanosecond)
	get(t, v, "e/k") // one nanosecond before expiry: served
	clk.Add(time.Nanosecond)
	_, err = v.GetSecret(ctx, "e/k")
	require.ErrorIs(t, err, agentvault.ErrExpired, "GetSecret at the expiry instant")
	_, err = v.GetSecret(ctx, "e/k", agentvault.AtVersion("v1"))
	require.ErrorIs(t, err, agentvault.ErrExpired, "historical versions are refused too")

	list, err := v.ListSecrets(ctx, agentvault.ListFilter{})
	require.NoError(t, err)
	require.Len(t, list, 1, "expired secrets stay listed")
	assert.True(t, list[0].Expired(clk.Now()))

	// Extend: served again.
	_, err = v.UpdateSecret(ctx, "e/k", agentvault.UpdateSecretInput{ExpiresIn: time.Hour})
	require.NoError(t, err)
	get(t, v, "e/k")
	// Clear: never expires.
	_, err = v.UpdateSecret(ctx, "e/k", agentvault.UpdateSecretInput{ClearExpiry: true})
	require.NoError(t, err)
	clk.Add(1000 * time.Hour)
	assert.True(t, get(t, v, "e/k").ExpiresAt.IsZero())
	// A past expiry stops serving at once.
	past := clk.Now().Add(-time.Second)
	_, err = v.UpdateSecret(ctx, "e/k", agentvault.UpdateSecretInput{ExpiresAt: &past})
	require.NoError(t, err)
	_, err = v.GetSecret(ctx, "e/k")
	require.ErrorIs(t, err, agentvault.ErrExpired)
}

func TestListSecretsFilters(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now))
	in := []agentvault.CreateSecretInput{
		{Path: "production/openai/api-key", Type: agentvault.TypeAPIKey, Tier: agentvault.TierStandard, Tags: map[string]string{"team": "ml", "env": "prod"}, ExpiresIn: 3 * 24 * time.Hour},
		{Path: "production/postgres/main", Type: agentvault.TypeDBCredential, Tier: agentvault.TierCritical, Tags: map[string]string{"env": "prod"}},
		{Path: "production/openaix", Type: agentvault.TypeAPIKey, ExpiresIn: 30 * 24 * time.Hour},
		{Path: "staging/openai/api-key", Type: agentvault.TypeAPIKey, Tags: map[string]string{"team": "ml"}},
	}
	for _, c := range in {
		c.Value = agentvault.StringValue("secret-" + c.Path)
		_, err := v.CreateSecret(ctx, c)
		require.NoError(t, err)
	}
	paths := func(f agentvault.ListFilter) []string {
		t.Helper()
		list, err := v.ListSecrets(ctx, f)
		require.NoError(t, err, "ListSecrets(%+v)", f)
		out := []string{}
		for _, m := range list {
			out = append(out, m.Path)
		}
		return out
	}
	assert.Equal(t, []string{"production/openai/api-key", "production/openaix", "production/postgres/main", "staging/openai/api-key"}, paths(agentvault.ListFilter{}))
	assert.Equal(t, []string{"production/openai/api-key", "production/openaix", "production/postgres/main"}, paths(agentvault.ListFilter{Prefix: "production/"}))
	assert.Equal(t, []string{"production/openai/api-key"}, paths(agentvault.ListFilter{Prefix: "production/openai/"}))
	assert.Equal(t, []string{"production/openai/api-key", "production/openaix"}, paths(agentvault.ListFilter{Prefix: "production/openai"}))
	assert.Equal(t, []string{"production/postgres/main"}, paths(agentvault.ListFilter{Type: agentvault.TypeDBCredential}))
	assert.Equal(t, []string{"production/openai/api-key"}, paths(agentvault.ListFilter{Tier: agentvault.TierStandard}))
	assert.Equal(t, []string{"production/openai/api-key", "staging/openai/api-key"}, paths(agentvault.ListFilter{Tags: map[string]string{"team": "ml"}}))
	assert.Equal(t, []string{"production/openai/api-key"}, paths(agentvault.ListFilter{Tags: map[string]string{"team": "ml", "env": "prod"}}))
	assert.Equal(t, []string{}, paths(agentvault.ListFilter{Tags: map[string]string{"team": "nope"}}))
	assert.Equal(t, []string{"production/openai/api-key"}, paths(agentvault.ListFilter{ExpiringWithin: 7 * 24 * time.Hour}))
	assert.Equal(t, []string{"production/openai/api-key", "production/openaix"}, paths(agentvault.ListFilter{ExpiringWithin: 30 * 24 * time.Hour}))

	_, err := v.ListSecrets(ctx, agentvault.ListFilter{Prefix: "bad*"})
	require.ErrorIs(t, err, agentvault.ErrInvalidPath)
	_, err = v.ListSecrets(ctx, agentvault.ListFilter{Tier: "secret"})
	require.ErrorIs(t, err, agentvault.ErrInvalidInput)
}

func TestDelete(t *testing.T) {
	v, _ := newVault(t)
	create(t, v, "a/b", "x")
	require.NoError(t, v.DeleteSecret(ctx, "a/b"))
	_, err := v.GetSecret(ctx, "a/b")
	require.ErrorIs(t, err, agentvault.ErrNotFound)
	require.ErrorIs(t, v.DeleteSecret(ctx, "a/b"), agentvault.ErrNotFound)
	// The path can be reused, starting again at v1.
	s := create(t, v, "a/b", "y")
	assert.Equal(t, "v1", s.Version)
	assert.Equal(t, "y", get(t, v, "a/b").Value.Reveal())
}

func TestClosed(t *testing.T) {
	v, _ := newVault(t)
	create(t, v, "a", "x")
	require.NoError(t, v.Close())
	_, err := v.GetSecret(ctx, "a")
	require.ErrorIs(t, err, agentvault.ErrClosed)
	_, err = v.ListSecrets(ctx, agentvault.ListFilter{})
	require.ErrorIs(t, err, agentvault.ErrClosed)
}

func TestReopenSameBackend(t *testing.T) {
	b := membackend.New()
	k := testKey(t)
	v1, err := agentvault.New(b, k)
	require.NoError(t, err)
	create(t, v1, "a", "x")
	v2, err := agentvault.New(b, k)
	require.NoError(t, err)
	assert.Equal(t, "x", get(t, v2, "a").Value.Reveal())

	other, err := localkms.New("other", []byte("ffffffffffffffffffffffffffffffff"))
	require.NoError(t, err)
	_, err = agentvault.New(b, other)
	require.ErrorIs(t, err, agentvault.ErrIntegrity, "New with the wrong key")
	assert.Contains(t, err.Error(), "cannot unwrap")
}

func TestConcurrentUpdatesGetDistinctVersions(t *testing.T) {
	v, _ := newVault(t)
	create(t, v, "c/k", "init")
	const workers, each = 16, 20
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				val := agentvault.StringValue(fmt.Sprintf("w%d-%d", w, i))
				_, err := v.UpdateSecret(ctx, "c/k", agentvault.UpdateSecretInput{Value: &val})
				assert.NoError(t, err)
			}
		}(w)
	}
	wg.Wait()
	vs, err := v.ListVersions(ctx, "c/k")
	require.NoError(t, err)
	require.Len(t, vs, workers*each+1)
	seen := map[string]bool{}
	for i, vi := range vs {
		require.Equal(t, fmt.Sprintf("v%d", i+1), vi.Version)
		s := get(t, v, "c/k", agentvault.AtVersion(vi.Version))
		require.False(t, seen[s.Value.Reveal()], "value %s stored twice", vi.Version)
		seen[s.Value.Reveal()] = true
	}
	assert.Len(t, seen, workers*each+1)
}

func TestIfVersion(t *testing.T) {
	v, _ := newVault(t)
	create(t, v, "a", "x")
	val := agentvault.StringValue("y")
	_, err := v.UpdateSecret(ctx, "a", agentvault.UpdateSecretInput{Value: &val, IfVersion: "v1"})
	require.NoError(t, err)
	_, err = v.UpdateSecret(ctx, "a", agentvault.UpdateSecretInput{Value: &val, IfVersion: "v1"})
	require.ErrorIs(t, err, agentvault.ErrConflict)
}

func TestEmptyValue(t *testing.T) {
	v, _ := newVault(t)
	create(t, v, "empty", "")
	assert.Equal(t, "", get(t, v, "empty").Value.Reveal())
}

func TestValueSizeLimit(t *testing.T) {
	v, _ := newVault(t)
	ok := strings.Repeat("x", agentvault.DefaultMaxValueSize)
	create(t, v, "big", ok)
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "bigger", Value: agentvault.StringValue(ok + "x")})
	require.ErrorIs(t, err, agentvault.ErrInvalidInput)
	assert.Contains(t, err.Error(), "65537 bytes")

	small, _ := newVault(t, agentvault.WithMaxValueSize(10))
	_, err = small.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "a", Value: agentvault.StringValue("12345678901")})
	require.ErrorIs(t, err, agentvault.ErrInvalidInput)
	_, err = agentvault.New(membackend.New(), testKey(t), agentvault.WithMaxValueSize(0))
	require.Error(t, err)
}

func TestInputErrors(t *testing.T) {
	clk := newClock()
	v, b := newVault(t, agentvault.WithClock(clk.Now))
	manyTags := map[string]string{}
	for i := 0; i < 65; i++ {
		manyTags[fmt.Sprintf("k%d", i)] = "v"
	}
	cases := []struct {
		name string
		in   agentvault.CreateSecretInput
		want error
		msg  string
	}{
		{"bad type", agentvault.CreateSecretInput{Path: "a", Type: "password"}, agentvault.ErrInvalidInput, `unknown type "password"`},
		{"bad tier", agentvault.CreateSecretInput{Path: "a", Tier: "secret"}, agentvault.ErrInvalidInput, `unknown tier "secret"`},
		{"65 tags", agentvault.CreateSecretInput{Path: "a", Tags: manyTags}, agentvault.ErrInvalidInput, "65 tags"},
		{"empty tag key", agentvault.CreateSecretInput{Path: "a", Tags: map[string]string{"": "v"}}, agentvault.ErrInvalidInput, "empty tag key"},
		{"long tag key", agentvault.CreateSecretInput{Path: "a", Tags: map[string]string{strings.Repeat("k", 129): "v"}}, agentvault.ErrInvalidInput, "129 bytes"},
		{"long tag value", agentvault.CreateSecretInput{Path: "a", Tags: map[string]string{"k": strings.Repeat("v", 513)}}, agentvault.ErrInvalidInput, "513 bytes"},
		{"control char tag key", agentvault.CreateSecretInput{Path: "a", Tags: map[string]string{"a\nb": "v"}}, agentvault.ErrInvalidInput, "not printable"},
		{"long description", agentvault.CreateSecretInput{Path: "a", Description: strings.Repeat("d", 1025)}, agentvault.ErrInvalidInput, "1025 bytes"},
		{"both expiries", agentvault.CreateSecretInput{Path: "a", ExpiresIn: time.Hour, ExpiresAt: clk.Now().Add(time.Hour)}, agentvault.ErrInvalidInput, "not both"},
		{"past expiry", agentvault.CreateSecretInput{Path: "a", ExpiresAt: clk.Now()}, agentvault.ErrInvalidInput, "not in the future"},
		{"negative expires-in", agentvault.CreateSecretInput{Path: "a", ExpiresIn: -time.Second}, agentvault.ErrInvalidInput, "negative"},
		{"bad path", agentvault.CreateSecretInput{Path: "a//b"}, agentvault.ErrInvalidPath, "segment 2 is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.CreateSecret(ctx, c.in)
			require.ErrorIs(t, err, c.want, "CreateSecret(%s)", c.name)
			assert.Contains(t, err.Error(), c.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "agentvault: create "), "error %q names the operation", err)
		})
	}
	keys, err := b.List(ctx, "s/")
	require.NoError(t, err)
	assert.Empty(t, keys, "nothing is written on bad input")

	create(t, v, "a", "x")
	val := agentvault.StringValue("y")
	zero := time.Time{}
	updates := []struct {
		name string
		in   agentvault.UpdateSecretInput
		msg  string
	}{
		{"bad tier", agentvault.UpdateSecretInput{Tier: "x"}, "unknown tier"},
		{"bad type", agentvault.UpdateSecretInput{Type: "x"}, "unknown type"},
		{"two expiries", agentvault.UpdateSecretInput{ExpiresIn: time.Hour, ClearExpiry: true}, "only one"},
		{"zero expires-at", agentvault.UpdateSecretInput{ExpiresAt: &zero}, "ClearExpiry"},
		{"bad if-version", agentvault.UpdateSecretInput{Value: &val, IfVersion: "1"}, "not of the form"},
		{"too many tags", agentvault.UpdateSecretInput{Tags: manyTags}, "65 tags"},
	}
	for _, c := range updates {
		_, err := v.UpdateSecret(ctx, "a", c.in)
		require.ErrorIs(t, err, agentvault.ErrInvalidInput, "UpdateSecret(%s)", c.name)
		assert.Contains(t, err.Error(), c.msg, "UpdateSecret(%s)", c.name)
	}
	vs, err := v.ListVersions(ctx, "a")
	require.NoError(t, err)
	assert.Len(t, vs, 1, "failed updates add no version")
	_, err = v.GetSecret(ctx, "a", agentvault.AtVersion("v01"))
	require.ErrorIs(t, err, agentvault.ErrInvalidInput)
	_, err = v.UpdateSecret(ctx, "missing", agentvault.UpdateSecretInput{Value: &val})
	require.ErrorIs(t, err, agentvault.ErrNotFound)
}

func TestPathGrammar(t *testing.T) {
	long := strings.Repeat("a", 511)
	segs33 := strings.TrimSuffix(strings.Repeat("a/", 33), "/")
	segs32 := strings.TrimSuffix(strings.Repeat("a/", 32), "/")
	cases := []struct {
		path string
		ok   bool
		msg  string
	}{
		{"production/openai/api-key", true, ""},
		{"openai-key", true, ""},
		{"a.b_c-D/E9", true, ""},
		{"...", true, ""},
		{".hidden/x", true, ""},
		{long + "b", true, ""},
		{segs32, true, ""},
		{"", false, "empty path"},
		{long + "bc", false, "513 bytes"},
		{segs33, false, "more than 32 segments"},
		{"/a", false, "leading '/'"},
		{"a/", false, "trailing '/'"},
		{"a//b", false, "segment 2 is empty"},
		{"a/../b", false, `segment 2 is ".."`},
		{"a/./b", false, `segment 2 is "."`},
		{"..", false, `segment 1 is ".."`},
		{"a/b*", false, `contains '*'`},
		{"a:b", false, `contains ':'`},
		{"a\x00b", false, `contains '\x00'`},
		{"a b", false, `contains ' '`},
		{"a/é", false, `contains 'é'`},
		{"a/%2e%2e", false, `contains '%'`},
		{"a\\b", false, `contains '\\'`},
		{"a/b?", false, `contains '?'`},
		{"ａ", false, `contains 'ａ'`},
	}
	v, _ := newVault(t)
	for _, c := range cases {
		err := agentvault.ValidatePath(c.path)
		if c.ok {
			assert.NoError(t, err, "ValidatePath(%q)", c.path)
			continue
		}
		require.ErrorIs(t, err, agentvault.ErrInvalidPath, "ValidatePath(%q)", c.path)
		assert.Contains(t, err.Error(), c.msg, "ValidatePath(%q)", c.path)
		// Every method refuses it before doing anything else.
		_, err = v.GetSecret(ctx, c.path)
		assert.ErrorIs(t, err, agentvault.ErrInvalidPath, "GetSecret(%q)", c.path)
		val := agentvault.StringValue("x")
		_, err = v.UpdateSecret(ctx, c.path, agentvault.UpdateSecretInput{Value: &val})
		assert.ErrorIs(t, err, agentvault.ErrInvalidPath, "UpdateSecret(%q)", c.path)
		assert.ErrorIs(t, v.DeleteSecret(ctx, c.path), agentvault.ErrInvalidPath, "DeleteSecret(%q)", c.path)
		_, err = v.ListVersions(ctx, c.path)
		assert.ErrorIs(t, err, agentvault.ErrInvalidPath, "ListVersions(%q)", c.path)
		_, err = v.Rollback(ctx, c.path, "v1")
		assert.ErrorIs(t, err, agentvault.ErrInvalidPath, "Rollback(%q)", c.path)
	}
	// Case-sensitive: two distinct secrets.
	create(t, v, "Prod/KEY", "upper")
	create(t, v, "prod/key", "lower")
	assert.Equal(t, "upper", get(t, v, "Prod/KEY").Value.Reveal())
	assert.Equal(t, "lower", get(t, v, "prod/key").Value.Reveal())
}

func TestErrorsUnwrapBackendFailures(t *testing.T) {
	b := &failingBackend{Backend: membackend.New()}
	v, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	create(t, v, "a", "x")
	b.fail = errors.New("disk on fire")
	_, err = v.GetSecret(ctx, "a")
	require.ErrorIs(t, err, b.fail)
	assert.Equal(t, "agentvault: get a: disk on fire", err.Error())
}

type failingBackend struct {
	backend.Backend
	fail error
}

func (f *failingBackend) Get(ctx context.Context, key string) ([]byte, int64, error) {
	if f.fail != nil {
		return nil, 0, f.fail
	}
	return f.Backend.Get(ctx, key)
}
