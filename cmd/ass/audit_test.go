package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend/filebackend"
)

// auditLines decodes "ass audit --json" output: one object per line.
func auditLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), "line %q", sc.Text())
		evs = append(evs, e)
	}
	require.NoError(t, sc.Err())
	return evs
}

// auditLogs returns the audit log segments of a file store, by chain.
func auditLogs(t *testing.T, store string) map[string]string {
	t.Helper()
	chains := map[string]string{}
	segs, err := filepath.Glob(filepath.Join(store, ".logs", "*", "*.log"))
	require.NoError(t, err)
	for _, s := range segs {
		name, err := url.PathUnescape(filepath.Base(filepath.Dir(s))) // the file backend escapes names
		require.NoError(t, err)
		if w, ok := strings.CutPrefix(name, "audit."); ok {
			chains[w] = s
		}
	}
	return chains
}

func TestAudit(t *testing.T) {
	t.Parallel()
	b := newAccessBox(t)
	b.ok(canary, "set", "prod/api", "--tier", "standard")
	b.ok("x", "set", "staging/api", "--tier", "standard")
	b.ok("A=1\nB=2\n", "import", "-", "--namespace", "imp")
	b.ok("", "export", "--namespace", "imp") // one run, three events: a chain of three entries
	assert.Equal(t, canary, b.ok("", "get", "prod/api", "--actor", "bob"))
	tok, acc := b.token("token", "request", "--scope", "secrets:read:prod/*")
	assert.Equal(t, canary, b.ok("", "get", "prod/api", "--token", tok))
	b.fails(exitDenied, "", "get", "staging/api", "--token", tok)
	b.fails(exitNotFound, "", "get", "prod/missing")

	table := b.ok("", "audit")
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	assert.Regexp(t, `^TIME\s+EVENT\s+OUTCOME\s+ACTOR\s+PATH\s+VERSION\s+TIER\s+REF\s+REASON$`, lines[0])
	assert.Regexp(t, `secret\.read\s+allowed\s+human:bob\s+prod/api\s+v1\s+standard`, table)
	assert.Regexp(t, `token\.issued\s+allowed\s+human:tester\s+-\s+-\s+standard\s+`+acc, table)
	assert.Regexp(t, `secret\.read\s+allowed\s+token:`+acc+`\s+prod/api\s+v1\s+standard\s+`+acc, table)
	assert.Regexp(t, `token\.denied\s+denied\s+token:`+acc+`\s+staging/api\s+.*scope_denied`, table)
	assert.Regexp(t, `secret\.read\s+failed\s+human:tester\s+prod/missing\s+.*not_found`, table)

	out := b.ok("", "audit", "--json")
	assert.NotContains(t, out, canary)
	assert.NotContains(t, out, tok)
	all := auditLines(t, out)
	require.Equal(t, len(lines)-1, len(all), "one JSON line per event")
	for _, e := range all {
		for _, f := range []string{"id", "time", "event", "actor", "outcome", "writer", "seq", "hash"} {
			assert.Contains(t, e, f)
		}
	}
	count := func(args ...string) []map[string]any {
		t.Helper()
		return auditLines(t, b.ok("", append([]string{"audit", "--json"}, args...)...))
	}
	reads := count("--event", "secret.read")
	assert.Len(t, reads, 5) // 2 by the export
	assert.Len(t, count("--event", "secret.read", "--path", "imp/"), 2)
	for _, e := range reads {
		assert.Equal(t, "secret.read", e["event"])
	}
	tokens := count("--event", "token")
	assert.Len(t, tokens, 2) // issued, denied
	for _, e := range tokens {
		assert.True(t, strings.HasPrefix(e["event"].(string), "token."), e["event"])
	}
	assert.Equal(t, tokens, count("--event", "token."))
	for _, e := range count("--path", "staging/") {
		assert.Equal(t, "staging/api", e["path"])
	}
	assert.Len(t, count("--path", "prod/api", "--event", "secret.read"), 2)
	byToken := count("--actor-kind", "token")
	assert.Len(t, byToken, 2)
	for _, e := range byToken {
		assert.Equal(t, map[string]any{"kind": "token", "id": acc}, e["actor"])
	}
	bob := count("--actor", "bob")
	require.Len(t, bob, 1)
	assert.Equal(t, "secret.read", bob[0]["event"])
	assert.Len(t, count("--limit", "2"), 2)
	assert.Equal(t, all[len(all)-2:], count("--limit", "2"))
	assert.Len(t, count("--since", "1h"), len(all))
	assert.Len(t, count("--since", "1d", "--until", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), len(all))
	assert.Empty(t, count("--since", "2099-01-01T00:00:00Z"))
	assert.Empty(t, count("--until", "24h"))
	assert.Equal(t, "no events\n", b.ok("", "audit", "--event", "approval"))

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "x"}, "audit: wrong number of arguments: want no arguments"},
		{[]string{"audit", "--since", "yesterday"}, `audit: invalid --since: "yesterday" is neither an RFC 3339 time`},
		{[]string{"audit", "--until", "-1h"}, "audit: invalid --until"},
		{[]string{"audit", "--actor-kind", "robot"}, `audit: invalid --actor-kind: unknown actor kind "robot"`},
		{[]string{"audit", "--limit", "-1"}, "audit: --limit must be 0 (all) or more"},
		{[]string{"audit", "--verify", "--path", "prod/"}, "audit: --verify checks the whole trail: --path does not apply"},
	} {
		assert.Contains(t, b.fails(exitUsage, "", tc.args...), tc.want, "ass %q", tc.args)
	}

	// Verify: intact, then one stored entry altered, then one deleted.
	ok := b.ok("", "audit", "--verify")
	assert.Regexp(t, `^ok: \d+ events in \d+ chains?\n$`, ok)
	vj := decodeObject(t, b.ok("", "audit", "--verify", "--json"))
	assert.Equal(t, true, vj["ok"])
	assert.EqualValues(t, len(all), vj["events"])

	store := filepath.Join(b.home, "store")
	var writer, seg string
	var raw []byte
	for w, file := range auditLogs(t, store) {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		if bytes.Count(data, []byte("\n")) >= 2 { // the export
			writer, seg, raw = w, file, data
			break
		}
	}
	require.NotEmpty(t, seg, "no chain with two entries")

	// Someone with write access to the store rewrites an entry: the HMAC
	// does not verify.
	altered := bytes.Replace(raw, []byte(`"outcome":"`), []byte(`"outcome":"x`), 1)
	require.NoError(t, os.WriteFile(seg, altered, 0o600))
	stderr := b.fails(exitError, "", "audit", "--verify")
	assert.Regexp(t, `^ass: audit verify: the trail is not intact: chain `+writer+` entry 1 \(log audit.`+writer+` record 1\) modified: hash does not verify\n$`, stderr)
	assert.Contains(t, b.fails(exitDamaged, "", "audit"), "integrity check failed") // the rest is listed (TestOneBadRecord)
	// Restored, it verifies again.
	require.NoError(t, os.WriteFile(seg, raw, 0o600))
	assert.Equal(t, ok, b.ok("", "audit", "--verify"))
	// An entry deleted.
	require.NoError(t, os.WriteFile(seg, raw[bytes.IndexByte(raw, '\n')+1:], 0o600))
	assert.Regexp(t, `^ass: audit verify: the trail is not intact: chain `+writer+` entry 1 .* deleted: entries 1 to 1 are missing\n$`,
		b.fails(exitError, "", "audit", "--verify"))
}

// tamper rewrites the value at key in a file store and returns the old one.
func tamper(t *testing.T, store, key string, change func([]byte) []byte) []byte {
	t.Helper()
	fb, err := filebackend.Open(store)
	require.NoError(t, err)
	defer fb.Close()
	ctx := context.Background()
	v, rev, err := fb.Get(ctx, key)
	require.NoError(t, err)
	nv := change(append([]byte(nil), v...))
	require.NotEqual(t, v, nv, "tamper changed nothing")
	_, err = fb.Put(ctx, key, nv, rev)
	require.NoError(t, err)
	return v
}

// TestAuditOneChainPerMachine: the help says what --verify reports, one
// chain for every run of ass on this machine (issue 17 item 13).
func TestAuditOneChainPerMachine(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("v1", "set", "a/x")
	s.ok("v2", "set", "a/x")
	s.ok("", "get", "a/x")
	rep := decodeObject(t, s.ok("", "audit", "--verify", "--json"))
	assert.EqualValues(t, 1, rep["chains"], "three runs of ass on one machine: one chain")
	help := s.ok("", "help", "audit")
	assert.NotContains(t, help, "each ass run writes")
	assert.Contains(t, help, "Every run of ass on one machine\nappends to that machine's chain")
}
