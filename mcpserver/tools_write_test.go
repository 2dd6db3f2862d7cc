package mcpserver_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/mcpserver"
)

// TestSetSecretCreatesThenUpdates: set_secret creates a missing secret,
// then updates it as a new version; the value is stored, never echoed; a
// token counts one use per call.
func TestSetSecretCreatesThenUpdates(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:*:dev/new/*"}, MaxUses: 2})
	cs := e.connect(t, mcpserver.Token(tok), nil)

	res := call(t, cs, "set_secret", map[string]any{"path": "dev/new/key", "value": "first-CANARY", "type": "api_key",
		"tags": map[string]string{"team": "core"}, "description": "made by a test"})
	var out mcpserver.SetSecretOutput
	structured(t, res, &out)
	assert.Equal(t, "created", out.Action)
	assert.Equal(t, "v1", out.Secret.Version)
	assert.Equal(t, "standard", out.Secret.Tier, "a standard token creates standard secrets by default")
	assert.Equal(t, "api_key", out.Secret.Type)
	assert.Equal(t, map[string]string{"team": "core"}, out.Secret.Tags)
	noCanary(t, "set_secret result", text(res), "first-CANARY")

	res = call(t, cs, "set_secret", map[string]any{"path": "dev/new/key", "value": "second-CANARY"})
	structured(t, res, &out)
	assert.Equal(t, "updated", out.Action)
	assert.Equal(t, "v2", out.Secret.Version)
	noCanary(t, "set_secret result", text(res), "second-CANARY")

	got, err := e.v.GetSecret(ctx, "dev/new/key")
	require.NoError(t, err)
	assert.Equal(t, "second-CANARY", got.Value.Reveal())
	assert.Equal(t, "token:"+e.accessorOf(t, tok), got.CreatedBy)

	requireRefusal(t, call(t, cs, "set_secret", map[string]any{"path": "dev/new/key", "value": "third"}), "max uses are spent")
	noCanary(t, "audit", e.audit.String(), "first-CANARY", "second-CANARY")
	noCanary(t, "log", e.log.String(), "first-CANARY", "second-CANARY")
}

// TestRotateSecretWithGrace rotates to a new value, keeping the previous
// readable for the grace period.
func TestRotateSecretWithGrace(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:*:dev/app/api-key"}})
	cs := e.connect(t, mcpserver.Token(tok), nil)
	res := call(t, cs, "rotate_secret", map[string]any{"path": "dev/app/api-key", "value": "rotated-CANARY", "grace_seconds": 3600})
	var out mcpserver.RotateSecretOutput
	structured(t, res, &out)
	assert.Equal(t, "v2", out.Secret.Version)
	assert.Equal(t, "v1", out.Replaced)
	noCanary(t, "rotate_secret result", text(res), "rotated-CANARY")

	var g mcpserver.GetSecretOutput
	structured(t, call(t, cs, "get_secret", map[string]any{"path": "dev/app/api-key"}), &g)
	assert.Equal(t, "rotated-CANARY", g.Value)
	structured(t, call(t, cs, "get_secret", map[string]any{"path": "dev/app/api-key", "version": "previous"}), &g)
	assert.Equal(t, standardValue, g.Value, "the previous version stays readable during the grace period")

	requireRefusal(t, call(t, cs, "rotate_secret", map[string]any{"path": "dev/nope", "value": "x"}), "no scope")
}

// TestMaxUsesExactAcrossConcurrentCalls: a token with MaxUses n gives
// exactly n successful get_secret calls, however many run at once.
func TestMaxUsesExactAcrossConcurrentCalls(t *testing.T) {
	const maxUses, calls = 5, 24
	e := newEnv(t)
	tok := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/*"}, MaxUses: maxUses})
	cs := e.connect(t, mcpserver.Token(tok), nil)
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		revealed, refused int
	)
	for range calls {
		wg.Go(func() {
			res := call(t, cs, "get_secret", map[string]any{"path": "dev/app/api-key"})
			mu.Lock()
			defer mu.Unlock()
			if res.IsError {
				assert.Contains(t, text(res), "max uses are spent")
				refused++
			} else {
				revealed++
			}
		})
	}
	wg.Wait()
	assert.Equal(t, maxUses, revealed, "successful reads")
	assert.Equal(t, calls-maxUses, refused, "refused reads")
	toks, err := e.v.ListTokens(ctx)
	require.NoError(t, err)
	for _, ti := range toks {
		if ti.Accessor == e.accessorOf(t, tok) {
			assert.Equal(t, maxUses, ti.Uses)
		}
	}
}
