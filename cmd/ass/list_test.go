package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func listPaths(t *testing.T, s *sandbox, args ...string) []string {
	t.Helper()
	items := decodeArray(t, s.ok("", append([]string{"list", "--json"}, args...)...))
	paths := make([]string, len(items))
	for i, it := range items {
		paths[i] = it["path"].(string)
	}
	return paths
}

func TestList(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	assert.Equal(t, "no secrets\n", s.ok("", "list"))
	assert.Equal(t, "[]\n", s.ok("", "list", "--json"))

	s.ok(canary+"-1\n", "set", "production/openai/api-key", "--type", "api_key", "--tier", "standard", "--tag", "team=ml", "--tag", "env=prod")
	s.ok(canary+"-2\n", "set", "production/db/password", "--type", "db_credential", "--tier", "critical", "--tag", "team=core", "--expires-in", "10d")
	s.ok(canary+"-3\n", "set", "staging/openai/api-key", "--type", "api_key", "--tag", "team=ml", "--tag", "env=staging", "--expires-in", "100d")
	s.ok(canary+"-4\n", "set", "production/openai/api-key")

	out := s.ok("", "list")
	assert.NotContains(t, out, canary, "list printed a value")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 4)
	assert.Regexp(t, `^PATH\s+TYPE\s+TIER\s+VERSION\s+UPDATED\s+EXPIRES$`, lines[0])
	assert.Regexp(t, `^production/db/password\s+db_credential\s+critical\s+v1\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, lines[1])
	assert.Regexp(t, `^production/openai/api-key\s+api_key\s+standard\s+v2\s+\S+\s+-$`, lines[2])
	assert.Regexp(t, `^staging/openai/api-key\s+api_key\s+sensitive\s+v1\s+`, lines[3])
	// Columns are aligned: every line has TYPE at the same offset.
	col := strings.Index(lines[0], "TYPE")
	for _, l := range lines[1:] {
		assert.Equal(t, byte(' '), l[col-1], "line %q", l)
		assert.NotEqual(t, byte(' '), l[col], "line %q", l)
	}

	js := s.ok("", "list", "--json")
	assert.NotContains(t, js, canary, "list --json printed a value")
	items := decodeArray(t, js)
	require.Len(t, items, 3)
	assert.Equal(t, []string{"created_at", "created_by", "description", "expires_at", "path", "tags", "tier", "type", "updated_at", "version"}, keys(items[0]))
	assert.Equal(t, "production/openai/api-key", items[1]["path"])
	assert.Equal(t, "v2", items[1]["version"])
	assert.Nil(t, items[1]["expires_at"])
	assert.Equal(t, map[string]any{"team": "ml", "env": "prod"}, items[1]["tags"])

	all := []string{"production/db/password", "production/openai/api-key", "staging/openai/api-key"}
	assert.Equal(t, all, listPaths(t, s))
	assert.Equal(t, all[:2], listPaths(t, s, "production/"))
	assert.Equal(t, all[:2], listPaths(t, s, "prod"))
	assert.Equal(t, []string{"production/openai/api-key"}, listPaths(t, s, "production/openai"))
	assert.Empty(t, listPaths(t, s, "dev/"))
	assert.Equal(t, []string{"production/openai/api-key", "staging/openai/api-key"}, listPaths(t, s, "--type", "api_key"))
	assert.Equal(t, []string{"production/db/password"}, listPaths(t, s, "--tier", "critical"))
	assert.Equal(t, []string{"staging/openai/api-key"}, listPaths(t, s, "--tier", "sensitive"))
	assert.Equal(t, []string{"production/openai/api-key", "staging/openai/api-key"}, listPaths(t, s, "--tag", "team=ml"))
	assert.Equal(t, []string{"staging/openai/api-key"}, listPaths(t, s, "--tag", "team=ml", "--tag", "env=staging"))
	assert.Empty(t, listPaths(t, s, "--tag", "team=ml", "--tag", "env=dev"))
	assert.Equal(t, []string{"production/db/password"}, listPaths(t, s, "--expiring-within", "30d"))
	assert.Equal(t, []string{"production/db/password", "staging/openai/api-key"}, listPaths(t, s, "--expiring-within", "2400h"))
	assert.Empty(t, listPaths(t, s, "--expiring-within", "1h"))
	assert.Equal(t, []string{"production/openai/api-key"}, listPaths(t, s, "production/", "--type", "api_key", "--tier", "standard", "--tag", "env=prod"))
	// Flags and the prefix in any order, with the global --json first.
	assert.Equal(t, []string{"staging/openai/api-key"}, func() []string {
		items := decodeArray(t, s.ok("", "--json", "list", "--type", "api_key", "staging"))
		return []string{items[0]["path"].(string)}
	}())

	assert.Equal(t, "no secrets\n", s.ok("", "list", "dev/"))
	assert.Contains(t, s.fails(exitUsage, "", "list", "bad prefix"), "invalid path")
}
