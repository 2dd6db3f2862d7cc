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
	assert.Equal(t, []string{"created_at", "created_by", "description", "expired", "expires_at", "path", "tags", "tier", "type", "updated_at", "version"}, keys(items[0]))
	assert.Equal(t, "production/openai/api-key", items[1]["path"])
	assert.Equal(t, "v2", items[1]["version"])
	assert.Nil(t, items[1]["expires_at"])
	assert.Equal(t, map[string]any{"team": "ml", "env": "prod"}, items[1]["tags"])

	all := []string{"production/db/password", "production/openai/api-key", "staging/openai/api-key"}
	assert.Equal(t, all, listPaths(t, s))
	assert.Equal(t, all[:2], listPaths(t, s, "production/"))
	assert.Empty(t, listPaths(t, s, "prod"), "a prefix matches whole segments")
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

// TestListPrefixWholeSegments: "staging" and "staging/" mean the namespace,
// never staging2/… (issue 17 item 4); expiring and audit --path agree.
func TestListPrefixWholeSegments(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	for _, p := range []string{"staging/a", "staging/b/c", "staging2/x", "stagingx"} {
		s.ok("v", "set", p, "--expires-in", "1h")
	}
	paths := func(args ...string) []string {
		var out []string
		for _, m := range decodeArray(t, s.ok("", append(args, "--json")...)) {
			out = append(out, m["path"].(string))
		}
		return out
	}
	want := []string{"staging/a", "staging/b/c"}
	assert.Equal(t, want, paths("list", "staging"))
	assert.Equal(t, want, paths("list", "staging/"))
	assert.Equal(t, []string{"staging/b/c"}, paths("list", "staging/b"))
	assert.Equal(t, want, paths("expiring", "staging"))
	assert.Equal(t, []string{"stagingx"}, paths("list", "stagingx"), "a prefix that is a secret's path lists it")
	assert.Len(t, paths("list"), 4)
	assert.Empty(t, paths("list", "stag"), "a prefix inside a segment matches nothing")

	for _, e := range auditLines(t, s.ok("", "audit", "--path", "staging", "--json")) {
		assert.True(t, e["path"] == "staging" || strings.HasPrefix(e["path"].(string), "staging/"), "audit --path staging: %v", e["path"])
	}
	assert.Len(t, auditLines(t, s.ok("", "audit", "--path", "staging", "--json", "--limit", "1")), 1)
}

// TestListCapsLongColumns: a long path is cut in the middle in the table,
// so other rows keep their width; --json has it whole (issue 17 item 9).
func TestListCapsLongColumns(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	long := "production/" + strings.Repeat("very-long-segment/", 25) + "api-key"
	s.ok("v", "set", long)
	s.ok("v", "set", "a/b")
	out := s.ok("", "list")
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		assert.LessOrEqual(t, len([]rune(l)), 140, "line %q", l)
	}
	assert.Contains(t, out, "production/very-long-segment/…ment/very-long-segment/api-key  custom")
	assert.Equal(t, long, decodeArray(t, s.ok("", "list", "--json"))[1]["path"])
	assert.Equal(t, "production/…ain/api-key", capCell("production/openai/main/api-key", 23))
	assert.Equal(t, "short", capCell("short", 23))
}
