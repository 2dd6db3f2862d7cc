package agentvault_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

func createTier(t testing.TB, v *agentvault.AgentVault, path, value string, tier agentvault.AccessTier) {
	t.Helper()
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: path, Value: agentvault.StringValue(value), Tier: tier})
	require.NoError(t, err, "CreateSecret(%q)", path)
}

func requestToken(t testing.TB, v *agentvault.AgentVault, req agentvault.TokenRequest) *agentvault.Token {
	t.Helper()
	tok, err := v.RequestToken(ctx, req)
	require.NoError(t, err, "RequestToken(%v)", req.Scopes)
	return tok
}

func TestTokenIssueAndUse(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "production/openai/api-key", "sk-1", agentvault.TierStandard)
	createTier(t, v, "production/stripe/key", "sk-2", agentvault.TierStandard)
	createTier(t, v, "staging/db", "pw", agentvault.TierStandard)

	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:production/openai/*"}, Description: "gpt agent"})
	raw := tok.Value.Reveal()
	assert.True(t, strings.HasPrefix(raw, "ast_tok_"), "token %q lacks prefix", tok.Accessor)
	assert.GreaterOrEqual(t, len(raw)-len("ast_tok_"), 43, "at least 256 bits")
	assert.Equal(t, agentvault.TierStandard, tok.Tier)
	assert.Equal(t, time.Hour, tok.ExpiresAt.Sub(tok.IssuedAt), "default TTL")

	s := v.Session(raw)
	got, err := s.GetSecret(ctx, "production/openai/api-key")
	require.NoError(t, err)
	assert.Equal(t, "sk-1", got.Value.Reveal())

	_, err = s.GetSecret(ctx, "production/stripe/key")
	assert.ErrorIs(t, err, agentvault.ErrScopeDenied, "GetSecret outside scope")
	_, err = s.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "production/openai/new", Value: agentvault.StringValue("x")})
	assert.ErrorIs(t, err, agentvault.ErrScopeDenied, "write with a read token")
	assert.ErrorIs(t, s.DeleteSecret(ctx, "production/openai/api-key"), agentvault.ErrScopeDenied)
	_, err = s.GetSecret(ctx, "production/../production/openai/api-key")
	assert.ErrorIs(t, err, agentvault.ErrInvalidPath)

	list, err := s.ListSecrets(ctx, agentvault.ListFilter{})
	require.NoError(t, err)
	require.Len(t, list, 1, "ListSecrets through a token shows only covered paths")
	assert.Equal(t, "production/openai/api-key", list[0].Path)

	// The raw value is stored nowhere: only its hash.
	infos, err := v.ListTokens(ctx)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.Equal(t, tok.Accessor, infos[0].Accessor)
}

func TestTokenReadWriteDelete(t *testing.T) {
	v, _ := newVault(t)
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:*:staging/*"}})
	s := v.Session(tok.Value.Reveal())
	sec, err := s.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "staging/app/key", Value: agentvault.StringValue("v1")})
	require.NoError(t, err)
	assert.Equal(t, agentvault.TierStandard, sec.Tier, "a standard token creates standard secrets by default")
	assert.Equal(t, "token:"+tok.Accessor, sec.CreatedBy)
	_, err = s.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "staging/app/hot", Value: agentvault.StringValue("v"), Tier: agentvault.TierCritical})
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "create above the token's tier")
	nv := agentvault.StringValue("v2")
	m, err := s.UpdateSecret(ctx, "staging/app/key", agentvault.UpdateSecretInput{Value: &nv})
	require.NoError(t, err)
	assert.Equal(t, "v2", m.Version)
	_, err = s.UpdateSecret(ctx, "staging/app/key", agentvault.UpdateSecretInput{Tier: agentvault.TierSensitive})
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "raise the tier above the token's")
	require.NoError(t, s.DeleteSecret(ctx, "staging/app/key"))
	_, err = v.GetSecret(ctx, "staging/app/key")
	assert.ErrorIs(t, err, agentvault.ErrNotFound)
}

func TestTokenNeverPrinted(t *testing.T) {
	var logBuf bytes.Buffer
	v, b := newVault(t, agentvault.WithAuditWriter(&logBuf))
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}})
	raw := tok.Value.Reveal()
	var out bytes.Buffer
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		fmt.Fprintf(&out, f+"\n", tok)
		fmt.Fprintf(&out, f+"\n", *tok)
		fmt.Fprintf(&out, f+"\n", tok.Value)
		fmt.Fprintf(&out, f+"\n", v.Session(raw))
	}
	j, err := json.Marshal(tok)
	require.NoError(t, err)
	out.Write(j)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("token", "tok", tok.Value, "all", tok)
	_, err = v.Session(raw+"x").GetSecret(ctx, "a")
	out.WriteString(err.Error())
	c := agentvault.ContextWithAgentKey(ctx, raw)
	fmt.Fprintf(&out, "%v", c)
	assert.NotContains(t, out.String(), raw[len("ast_tok_"):])
	assert.NotContains(t, logBuf.String(), raw[len("ast_tok_"):])
	keys, err := b.List(ctx, "")
	require.NoError(t, err)
	for _, k := range keys {
		val, _, err := b.Get(ctx, k)
		require.NoError(t, err)
		assert.NotContains(t, k+string(val), raw[len("ast_tok_"):], "backend key %s", k)
	}
}

func TestTokenExpiryBoundaries(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now))
	createTier(t, v, "app/key", "x", agentvault.TierStandard)
	const ttl = 30 * time.Minute
	for _, c := range []struct {
		offset time.Duration
		want   error
	}{{ttl - time.Nanosecond, nil}, {ttl, agentvault.ErrTokenExpired}, {ttl + time.Nanosecond, agentvault.ErrTokenExpired}} {
		tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}, TTL: ttl})
		clk.Add(c.offset)
		_, err := v.Session(tok.Value.Reveal()).GetSecret(ctx, "app/key")
		if c.want == nil {
			assert.NoError(t, err, "GetSecret at TTL%+v", c.offset-ttl)
		} else {
			assert.ErrorIs(t, err, c.want, "GetSecret at TTL%+v", c.offset-ttl)
		}
	}
}

func TestTokenRequestValidation(t *testing.T) {
	v, _ := newVault(t, agentvault.WithTokenTTL(10*time.Minute, 2*time.Hour))
	for name, req := range map[string]agentvault.TokenRequest{
		"no scopes":     {},
		"bad scope":     {Scopes: []string{"secrets:read:a["}},
		"bad action":    {Scopes: []string{"secrets:admin:*"}},
		"ttl over max":  {Scopes: []string{"secrets:read:*"}, TTL: 2*time.Hour + time.Second},
		"negative ttl":  {Scopes: []string{"secrets:read:*"}, TTL: -time.Second},
		"negative uses": {Scopes: []string{"secrets:read:*"}, MaxUses: -1},
		"bad ip":        {Scopes: []string{"secrets:read:*"}, AllowedIPs: []string{"10.0.0.300"}},
	} {
		_, err := v.RequestToken(ctx, req)
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, name)
	}
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}})
	assert.Equal(t, 10*time.Minute, tok.ExpiresAt.Sub(tok.IssuedAt), "WithTokenTTL default")
	tok = requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}, TTL: 2 * time.Hour})
	assert.Equal(t, 2*time.Hour, tok.ExpiresAt.Sub(tok.IssuedAt))
}

func TestTokenRevokeUnknownIP(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "app/key", "x", agentvault.TierStandard)
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}})
	s := v.Session(tok.Value.Reveal())
	_, err := s.GetSecret(ctx, "app/key")
	require.NoError(t, err)
	require.NoError(t, v.RevokeToken(ctx, tok.Accessor))
	_, err = s.GetSecret(ctx, "app/key")
	assert.ErrorIs(t, err, agentvault.ErrTokenRevoked)
	assert.ErrorIs(t, v.RevokeToken(ctx, "acc_000000000000000000000000"), agentvault.ErrTokenUnknown)
	assert.ErrorIs(t, v.RevokeToken(ctx, "nope"), agentvault.ErrInvalidInput)

	for _, bad := range []string{"", "ast_tok_", "ast_tok_" + strings.Repeat("A", 43), strings.Repeat("x", 51), tok.Value.Reveal() + "="} {
		_, err := v.Session(bad).GetSecret(ctx, "app/key")
		assert.ErrorIs(t, err, agentvault.ErrTokenUnknown, "token %q", bad)
	}

	ipTok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}, AllowedIPs: []string{"10.0.1.50", "192.168.0.0/16"}})
	is := v.Session(ipTok.Value.Reveal())
	for ip, ok := range map[string]bool{"10.0.1.50": true, "192.168.7.9": true, "::ffff:10.0.1.50": true, "10.0.1.51": false, "2001:db8::1": false} {
		_, err := is.GetSecret(agentvault.ContextWithClientIP(ctx, netip.MustParseAddr(ip)), "app/key")
		if ok {
			assert.NoError(t, err, "from %s", ip)
		} else {
			assert.ErrorIs(t, err, agentvault.ErrIPDenied, "from %s", ip)
		}
	}
	_, err = is.GetSecret(ctx, "app/key")
	assert.ErrorIs(t, err, agentvault.ErrIPDenied, "no client IP in the context")
}

// TestTokenTierAtReadTime: a token never reads above the tier it was
// issued for, including secrets raised or created later.
func TestTokenTierAtReadTime(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "app/a", "x", agentvault.TierStandard)
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	s := v.Session(tok.Value.Reveal())
	_, err := s.GetSecret(ctx, "app/a")
	require.NoError(t, err)
	_, err = v.UpdateSecret(ctx, "app/a", agentvault.UpdateSecretInput{Tier: agentvault.TierCritical})
	require.NoError(t, err)
	_, err = s.GetSecret(ctx, "app/a")
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "after the tier was raised")
	assert.ErrorIs(t, err, agentvault.ErrScopeDenied)
	createTier(t, v, "app/b", "y", agentvault.TierSensitive)
	_, err = s.GetSecret(ctx, "app/b")
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "a sensitive secret created later")
	list, err := s.ListSecrets(ctx, agentvault.ListFilter{})
	require.NoError(t, err)
	assert.Empty(t, list, "secrets above the token's tier are not listed")
}

// TestTokenMaxUsesConcurrent: MaxUses 5, 64 concurrent callers, exactly 5
// succeed, on every backend, every round.
func TestTokenMaxUsesConcurrent(t *testing.T) {
	backends := map[string]func(t *testing.T) backend.Backend{
		"memory": func(*testing.T) backend.Backend { return membackend.New() },
		"file": func(t *testing.T) backend.Backend {
			fb, err := filebackend.Open(t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { fb.Close() })
			return fb
		},
		"redis": func(t *testing.T) backend.Backend {
			rb, err := redisbackend.New(redistest.StartServer(t).Client(t))
			require.NoError(t, err)
			return rb
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			// Two vaults on one backend: uses are counted in storage, not in memory.
			v1, err := agentvault.New(b, testKey(t))
			require.NoError(t, err)
			v2, err := agentvault.New(b, testKey(t))
			require.NoError(t, err)
			createTier(t, v1, "app/key", "x", agentvault.TierStandard)
			for round := 0; round < 3; round++ {
				tok := requestToken(t, v1, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}, MaxUses: 5})
				var ok, exhausted atomic.Int32
				var wg sync.WaitGroup
				for i := 0; i < 64; i++ {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						v := v1
						if i%2 == 1 {
							v = v2
						}
						_, err := v.Session(tok.Value.Reveal()).GetSecret(ctx, "app/key")
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, agentvault.ErrTokenExhausted):
							exhausted.Add(1)
						default:
							t.Errorf("GetSecret: %v", err)
						}
					}(i)
				}
				wg.Wait()
				assert.Equal(t, int32(5), ok.Load(), "round %d successes", round)
				assert.Equal(t, int32(59), exhausted.Load(), "round %d exhausted", round)
				infos, err := v2.ListTokens(ctx)
				require.NoError(t, err)
				assert.Equal(t, 5, infos[len(infos)-1].Uses)
			}
		})
	}
}

func TestTokenRecordTamper(t *testing.T) {
	v, b := newVault(t)
	createTier(t, v, "app/key", "x", agentvault.TierStandard)
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}, MaxUses: 1})
	keys, err := b.List(ctx, "tok/")
	require.NoError(t, err)
	require.Len(t, keys, 1)
	raw, rev, err := b.Get(ctx, keys[0])
	require.NoError(t, err)
	forged := bytes.Replace(raw, []byte(`"max_uses":1`), []byte(`"max_uses":0`), 1)
	require.NotEqual(t, raw, forged)
	_, err = b.Put(ctx, keys[0], forged, rev)
	require.NoError(t, err)
	_, err = v.Session(tok.Value.Reveal()).GetSecret(ctx, "app/key")
	assert.ErrorIs(t, err, agentvault.ErrIntegrity, "a token record changed in storage")
}
