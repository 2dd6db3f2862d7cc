package mcpserver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/mcpserver"
)

// TestGetSecretRevealsOnlyUpToRevealTier: with each --reveal setting,
// get_secret returns the value of secrets at or below it and only metadata
// plus a pointer to run_with_secrets above it; canary values of withheld
// secrets appear in no result, log line or audit event.
func TestGetSecretRevealsOnlyUpToRevealTier(t *testing.T) {
	paths := map[string]string{"standard": "dev/app/api-key", "sensitive": "dev/app/db-password", "critical": "dev/app/signing-key"}
	values := map[string]string{"standard": standardValue, "sensitive": sensitiveValue, "critical": criticalValue}
	tiers := []string{"standard", "sensitive", "critical"}
	for ri, reveal := range []string{"none", "standard", "sensitive", "critical"} {
		t.Run(reveal, func(t *testing.T) {
			e := newEnv(t)
			tok := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/*"}})
			cs := e.connect(t, mcpserver.Token(tok), &mcpserver.Options{Reveal: reveal, AllowRun: []string{"env"}})
			var withheld []string
			for ti, tier := range tiers {
				res := call(t, cs, "get_secret", map[string]any{"path": paths[tier]})
				var out mcpserver.GetSecretOutput
				structured(t, res, &out)
				assert.Equal(t, paths[tier], out.Secret.Path)
				assert.Equal(t, tier, out.Secret.Tier)
				if ti+1 <= ri {
					assert.True(t, out.Revealed, "%s secret with --reveal %s", tier, reveal)
					assert.Equal(t, values[tier], out.Value)
					continue
				}
				withheld = append(withheld, values[tier])
				assert.False(t, out.Revealed, "%s secret with --reveal %s", tier, reveal)
				assert.Empty(t, out.Value)
				assert.Contains(t, out.Message, "run_with_secrets")
				noCanary(t, "get_secret result", text(res), values[tier])
			}
			noCanary(t, "server log", e.log.String(), withheld...)
			noCanary(t, "audit trail", e.audit.String(), sensitiveValue, criticalValue, standardValue)
		})
	}
}

// TestGetSecretVersion reads an earlier version by name.
func TestGetSecretVersion(t *testing.T) {
	e := newEnv(t)
	val := agentvault.StringValue("std-value-v2")
	_, err := e.v.UpdateSecret(ctx, "dev/app/api-key", agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err)
	cs := e.connect(t, mcpserver.WholeVault(), nil)
	var out mcpserver.GetSecretOutput
	structured(t, call(t, cs, "get_secret", map[string]any{"path": "dev/app/api-key", "version": "v1"}), &out)
	assert.Equal(t, standardValue, out.Value)
	assert.Equal(t, "v1", out.Secret.Version)
	structured(t, call(t, cs, "get_secret", map[string]any{"path": "dev/app/api-key"}), &out)
	assert.Equal(t, "std-value-v2", out.Value)
}

// TestRefusalsAreResultsWithNextStep: every refusal is a tool result with
// isError and one sentence naming the next step — never a protocol error,
// never a value.
func TestRefusalsAreResultsWithNextStep(t *testing.T) {
	e := newEnv(t)
	std := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/app/api-key"}})
	readDev := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:*:dev/*"}, MaxUses: 100})
	short := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/*"}, TTL: time.Minute})
	once := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/app/api-key"}, MaxUses: 1})
	revoked := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/app/api-key"}})
	_, err := e.v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "dev/old", Value: agentvault.StringValue("old-value"),
		Tier: agentvault.TierStandard, ExpiresIn: time.Second})
	require.NoError(t, err)

	stdCS := e.connect(t, mcpserver.Token(std), &mcpserver.Options{Reveal: "critical"})
	devCS := e.connect(t, mcpserver.Token(readDev), &mcpserver.Options{Reveal: "critical"})
	shortCS := e.connect(t, mcpserver.Token(short), nil)
	onceCS := e.connect(t, mcpserver.Token(once), nil)
	revokedCS := e.connect(t, mcpserver.Token(revoked), nil)
	unknownCS := e.connect(t, mcpserver.Token("ast_tok_not-a-real-token"), nil)

	// A standard-tier token reads its secret; a wider one is refused on tier.
	structured(t, call(t, onceCS, "get_secret", map[string]any{"path": "dev/app/api-key"}), &mcpserver.GetSecretOutput{})
	lowTier := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/app/api-key", "secrets:write:dev/new/*"}})
	lowCS := e.connect(t, mcpserver.Token(lowTier), &mcpserver.Options{Reveal: "critical"})
	require.NoError(t, e.v.RevokeToken(ctx, e.accessorOf(t, revoked)))
	e.clock.Add(2 * time.Minute) // short has expired, dev/old too
	val := agentvault.StringValue(standardValue)
	_, err = e.v.UpdateSecret(ctx, "dev/app/api-key", agentvault.UpdateSecretInput{Tier: agentvault.TierSensitive, Value: &val})
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		cs   *mcp.ClientSession
		tool string
		args map[string]any
		want []string
	}{
		{"scope", stdCS, "get_secret", map[string]any{"path": "prod/app/api-key"}, []string{"no scope", "request_approval"}},
		{"scope on write", stdCS, "set_secret", map[string]any{"path": "prod/app/x", "value": "v"}, []string{"no scope", "request_approval"}},
		{"tier", lowCS, "get_secret", map[string]any{"path": "dev/app/api-key"}, []string{"tier", "request_approval"}},
		{"tier on create", lowCS, "set_secret", map[string]any{"path": "dev/new/x", "value": "v", "tier": "critical"}, []string{"tier", "request_approval"}},
		{"not found", devCS, "get_secret", map[string]any{"path": "dev/nope"}, []string{"no such secret", "list_secrets"}},
		{"no such version", devCS, "get_secret", map[string]any{"path": "dev/app/api-key", "version": "v9"}, []string{"no such secret or version"}},
		{"expired secret", devCS, "get_secret", map[string]any{"path": "dev/old"}, []string{"expired", "extend"}},
		{"expired token", shortCS, "get_secret", map[string]any{"path": "dev/app/api-key"}, []string{"token has expired", "request_approval"}},
		{"max uses", onceCS, "get_secret", map[string]any{"path": "dev/app/api-key"}, []string{"max uses are spent", "request_approval"}},
		{"revoked", revokedCS, "list_secrets", map[string]any{}, []string{"revoked"}},
		{"unknown token", unknownCS, "list_versions", map[string]any{"path": "dev/app/api-key"}, []string{"not known", "ASS_TOKEN"}},
		{"invalid path", devCS, "get_secret", map[string]any{"path": "dev//x"}, []string{"Invalid input", "fix it"}},
		{"invalid tier", devCS, "set_secret", map[string]any{"path": "dev/x", "value": "v", "tier": "top"}, []string{"Invalid input"}},
		{"invalid type", devCS, "list_secrets", map[string]any{"type": "password"}, []string{"Invalid input"}},
		{"token cannot mint tokens", devCS, "request_approval", map[string]any{"scopes": []string{"secrets:*:*"}, "reason": "r"}, []string{"ASS_AGENT_KEY"}},
		{"negative grace", devCS, "rotate_secret", map[string]any{"path": "dev/app/api-key", "value": "v", "grace_seconds": -1}, []string{"grace_seconds"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := call(t, tc.cs, tc.tool, tc.args)
			msg := requireRefusal(t, res, tc.want...)
			noCanary(t, "refusal", msg, standardValue, sensitiveValue, criticalValue, "old-value")
		})
	}
}

// TestValueGivenAsPathIsNotEchoed: a value passed where a path belongs is
// not repeated in the refusal, the log or the audit trail.
func TestValueGivenAsPathIsNotEchoed(t *testing.T) {
	e := newEnv(t)
	cs := e.connect(t, mcpserver.WholeVault(), nil)
	const leaked = "sk-live-CANARY value/with spaces"
	for _, tool := range []string{"get_secret", "list_versions", "rotate_secret", "set_secret"} {
		args := map[string]any{"path": leaked}
		if tool == "rotate_secret" || tool == "set_secret" {
			args["value"] = "x"
		}
		res := call(t, cs, tool, args)
		msg := requireRefusal(t, res, "Invalid input")
		noCanary(t, tool+" refusal", msg, "CANARY")
	}
	noCanary(t, "log", e.log.String(), "CANARY")
	noCanary(t, "audit", e.audit.String(), "CANARY")
}

// TestListSecretsNamesOnlyInScopePaths: list_secrets through a token shows
// metadata of the secrets its scopes and tier cover, never another path,
// and never a value.
func TestListSecretsNamesOnlyInScopePaths(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/app/api-key", "secrets:read:dev/app/db-password"}})
	cs := e.connect(t, mcpserver.Token(tok), nil)
	for _, args := range []map[string]any{{}, {"prefix": "prod/"}, {"prefix": "dev/"}, {"tier": "critical"}, {"type": "api_key"}} {
		res := call(t, cs, "list_secrets", args)
		var out mcpserver.ListSecretsOutput
		structured(t, res, &out)
		for _, s := range out.Secrets {
			assert.Contains(t, []string{"dev/app/api-key", "dev/app/db-password"}, s.Path, "list_secrets(%v)", args)
		}
		all := text(res)
		assert.NotContains(t, all, "prod/app", "list_secrets(%v) names an out-of-scope path", args)
		assert.NotContains(t, all, "signing-key", "list_secrets(%v) names an out-of-scope path", args)
		noCanary(t, "list_secrets", all, standardValue, sensitiveValue, criticalValue)
	}
	var out mcpserver.ListSecretsOutput
	structured(t, call(t, cs, "list_secrets", map[string]any{"tags": map[string]string{"team": "x"}}), &out)
	assert.Empty(t, out.Secrets)
	structured(t, call(t, cs, "list_secrets", map[string]any{}), &out)
	assert.Len(t, out.Secrets, 2)
}

// TestListVersions lists versions without values.
func TestListVersions(t *testing.T) {
	e := newEnv(t)
	val := agentvault.StringValue("std-value-v2")
	_, err := e.v.UpdateSecret(ctx, "dev/app/api-key", agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err)
	tok := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/*"}})
	cs := e.connect(t, mcpserver.Token(tok), nil)
	res := call(t, cs, "list_versions", map[string]any{"path": "dev/app/api-key"})
	var out mcpserver.ListVersionsOutput
	structured(t, res, &out)
	require.Len(t, out.Versions, 2)
	assert.Equal(t, "v1", out.Versions[0].Version)
	assert.True(t, out.Versions[1].Active)
	noCanary(t, "list_versions", text(res), standardValue, "std-value-v2")
	requireRefusal(t, call(t, cs, "list_versions", map[string]any{"path": "prod/app/api-key"}), "no scope")
}

// TestAuditedAsTokenViaMCP: every tool call is audited with the token's
// accessor and via "mcp".
func TestAuditedAsTokenViaMCP(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/*"}})
	acc := e.accessorOf(t, tok)
	cs := e.connect(t, mcpserver.Token(tok), nil)
	since := e.clock.Now()
	e.clock.Add(time.Second)
	call(t, cs, "get_secret", map[string]any{"path": "dev/app/api-key"})
	call(t, cs, "get_secret", map[string]any{"path": "prod/app/api-key"})
	call(t, cs, "list_secrets", map[string]any{})
	evs, err := e.v.QueryAudit(ctx, agentvault.AuditQuery{Since: since.Add(time.Millisecond)})
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	events := map[string]bool{}
	for _, ev := range evs {
		assert.Equal(t, "mcp", ev.Via, "event %s", ev.Event)
		assert.Equal(t, acc, ev.TokenAccessor, "event %s", ev.Event)
		events[fmt.Sprintf("%s:%s", ev.Event, ev.Outcome)] = true
	}
	assert.True(t, events["secret.read:allowed"], "the read is audited: %v", events)
	assert.True(t, events["token.denied:denied"], "the refusal is audited: %v", events)
}

func (e *env) accessorOf(t testing.TB, tok string) string {
	t.Helper()
	return e.v.Session(tok).Accessor()
}
