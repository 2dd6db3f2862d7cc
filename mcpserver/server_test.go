package mcpserver_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/mcpserver"
)

// TestListToolsNamesSchemasAnnotations: the client sees the product's tool
// names, each with a description, an object input schema naming its
// required fields, and annotations that say what it changes;
// run_with_secrets only when the operator allows a command.
func TestListToolsNamesSchemasAnnotations(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/*"}})

	names := func(cs *mcp.ClientSession) map[string]*mcp.Tool {
		res, err := cs.ListTools(ctx, nil)
		require.NoError(t, err, "ListTools")
		m := map[string]*mcp.Tool{}
		for _, tl := range res.Tools {
			m[tl.Name] = tl
		}
		return m
	}
	base := []string{"check_approval_status", "get_secret", "list_secrets", "list_versions", "request_approval", "rotate_secret", "set_secret"}
	tools := names(e.connect(t, mcpserver.Token(tok), nil))
	assert.ElementsMatch(t, base, keys(tools), "tools without --allow-run")

	tools = names(e.connect(t, mcpserver.Token(tok), &mcpserver.Options{AllowRun: []string{"psql *"}}))
	require.ElementsMatch(t, append(base, "run_with_secrets"), keys(tools), "tools with --allow-run")

	required := map[string][]string{
		"get_secret": {"path"}, "list_secrets": nil, "list_versions": {"path"},
		"set_secret": {"path", "value"}, "rotate_secret": {"path", "value"},
		"request_approval": {"reason", "scopes"}, "check_approval_status": {"id"},
		"run_with_secrets": {"argv", "env"},
	}
	props := map[string][]string{
		"get_secret": {"path", "version"}, "list_secrets": {"prefix", "tags", "tier", "type"}, "list_versions": {"path"},
		"set_secret": {"description", "path", "tags", "tier", "type", "value"}, "rotate_secret": {"grace_seconds", "path", "value"},
		"request_approval": {"max_uses", "reason", "scopes", "ttl"}, "check_approval_status": {"id"},
		"run_with_secrets": {"argv", "env", "timeout_seconds"},
	}
	for name, tl := range tools {
		assert.NotEmpty(t, tl.Description, "%s: description", name)
		var schema struct {
			Type       string                    `json:"type"`
			Required   []string                  `json:"required"`
			Properties map[string]map[string]any `json:"properties"`
		}
		j, _ := json.Marshal(tl.InputSchema)
		require.NoError(t, json.Unmarshal(j, &schema))
		assert.Equal(t, "object", schema.Type, "%s: schema type", name)
		sort.Strings(schema.Required)
		assert.Equal(t, required[name], schema.Required, "%s: required", name)
		assert.ElementsMatch(t, props[name], keys(schema.Properties), "%s: properties", name)
		for p, ps := range schema.Properties {
			assert.NotEmpty(t, ps["description"], "%s.%s: description", name, p)
		}
		require.NotNil(t, tl.Annotations, "%s: annotations", name)
	}
	for _, name := range []string{"get_secret", "list_secrets", "list_versions"} {
		a := tools[name].Annotations
		assert.True(t, a.ReadOnlyHint && a.IdempotentHint, "%s: read-only and idempotent", name)
	}
	for _, name := range []string{"set_secret", "rotate_secret", "run_with_secrets"} {
		a := tools[name].Annotations
		assert.False(t, a.ReadOnlyHint, "%s: not read-only", name)
		require.NotNil(t, a.DestructiveHint, name)
		assert.True(t, *a.DestructiveHint, "%s: destructive", name)
		assert.False(t, a.IdempotentHint, "%s: not idempotent", name)
	}
	for _, name := range []string{"request_approval", "check_approval_status"} {
		a := tools[name].Annotations
		assert.False(t, a.ReadOnlyHint, "%s: not read-only", name)
		require.NotNil(t, a.DestructiveHint, name)
		assert.False(t, *a.DestructiveHint, "%s: not destructive", name)
	}
	assert.True(t, tools["check_approval_status"].Annotations.IdempotentHint)
	assert.True(t, *tools["run_with_secrets"].Annotations.OpenWorldHint, "run_with_secrets reaches outside the vault")
	assert.False(t, *tools["get_secret"].Annotations.OpenWorldHint)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestNewRejectsBadOptions: the principal must be explicit, reveal and
// patterns valid.
func TestNewRejectsBadOptions(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		p    mcpserver.Principal
		opts *mcpserver.Options
	}{
		"zero principal":  {mcpserver.Principal{}, nil},
		"empty token":     {mcpserver.Token(""), nil},
		"bad reveal":      {mcpserver.WholeVault(), &mcpserver.Options{Reveal: "all"}},
		"empty pattern":   {mcpserver.WholeVault(), &mcpserver.Options{AllowRun: []string{" "}}},
		"negative output": {mcpserver.WholeVault(), &mcpserver.Options{OutputLimit: -1}},
	} {
		_, err := mcpserver.New(e.v, tc.p, tc.opts)
		assert.ErrorIs(t, err, mcpserver.ErrInvalidOptions, name)
	}
	_, err := mcpserver.New(nil, mcpserver.WholeVault(), nil)
	assert.ErrorIs(t, err, mcpserver.ErrInvalidOptions, "nil vault")
}

// noCanary fails if a canary value shows in s.
func noCanary(t testing.TB, what, s string, canaries ...string) {
	t.Helper()
	for _, c := range canaries {
		assert.False(t, strings.Contains(s, c), "%s holds the value %q", what, c)
	}
}
