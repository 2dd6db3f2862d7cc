package main

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

func TestSetGetRoundTrip(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()

	assert.Equal(t, "created production/openai/api-key v1\n", s.ok("", "set", "production/openai/api-key", "sk-one"))
	assert.Equal(t, "sk-one", s.ok("", "get", "production/openai/api-key"))
	assert.Equal(t, "updated production/openai/api-key v2\n", s.ok("sk-two\n", "set", "production/openai/api-key"))
	assert.Equal(t, "sk-two", s.ok("", "get", "production/openai/api-key"))
	assert.Equal(t, "updated production/openai/api-key v3\n", s.ok("sk-three\n", "set", "production/openai/api-key", "-"))
	assert.Equal(t, "sk-three", s.ok("", "get", "production/openai/api-key"))

	// create: new path only.
	assert.Equal(t, "created c/one v1\n", s.ok("", "create", "c/one", "first"))
	assert.Equal(t, "created c/two v1\n", s.ok("from-stdin\n", "create", "c/two"))
	assert.Equal(t, "created c/three v1\n", s.ok("dash\n", "create", "c/three", "-"))
	assert.Equal(t, "from-stdin", s.ok("", "get", "c/two"))
	assert.Equal(t, "dash", s.ok("", "get", "c/three"))
	stderr := s.fails(exitError, canary, "create", "c/one")
	assert.Equal(t, "ass: create c/one: secret already exists\n", stderr)
	s.fails(exitError, "", "create", "c/one", canary, "--tier", "critical")
	assert.Equal(t, "first", s.ok("", "get", "c/one"), "a failed create changed the secret")
	assert.Len(t, decodeArray(t, s.ok("", "versions", "c/one", "--json")), 1)

	// Exactly one trailing newline is removed from stdin, unless --raw.
	for _, tc := range []struct {
		stdin, want string
		raw         bool
	}{
		{"a\n", "a", false},
		{"a\r\n", "a", false},
		{"a\n\n", "a\n", false},
		{"a\r\n\r\n", "a\r\n", false},
		{"a\r", "a\r", false},
		{"\n", "", false},
		{"", "", false},
		{"  spaced  \n", "  spaced  ", false},
		{"a\n", "a\n", true},
		{"a\r\n", "a\r\n", true},
		{"multi\nline\n", "multi\nline\n", true},
	} {
		args := []string{"set", "nl/x"}
		if tc.raw {
			args = append(args, "--raw")
		}
		if tc.want == "" {
			args = append(args, "--allow-empty") // refused without (TestEmptyValueRefused)
		}
		s.ok(tc.stdin, args...)
		assert.Equal(t, tc.want, s.ok("", "get", "nl/x"), "set from stdin %q (raw %v)", tc.stdin, tc.raw)
	}
	// A VALUE argument is stored as given, newline included.
	s.ok("", "set", "nl/arg", "ends\n")
	assert.Equal(t, "ends\n", s.ok("", "get", "nl/arg"))

	// Binary values round-trip byte for byte.
	var bin strings.Builder
	for i := 0; i < 256; i++ {
		bin.WriteByte(byte(i))
	}
	bin.WriteString("\x00\xff\n")
	s.ok(bin.String(), "set", "bin/all-bytes", "--raw")
	assert.Equal(t, bin.String(), s.ok("", "get", "bin/all-bytes"))
	stderr = s.fails(exitError, "", "get", "bin/all-bytes", "--json")
	assert.Contains(t, stderr, "not UTF-8")

	// A value that starts with "-" goes after "--".
	s.ok("", "set", "dash/v", "--", "-----BEGIN KEY-----")
	assert.Equal(t, "-----BEGIN KEY-----", s.ok("", "get", "dash/v"))
	s.ok("", "set", "--tier", "critical", "--", "dash/w", "-x")
	assert.Equal(t, "-x", s.ok("", "get", "dash/w"))
}

func TestStdinLimit(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	max := agentvault.DefaultMaxValueSize
	full := strings.Repeat("k", max)
	s.ok(full+"\n", "set", "big/ok")
	assert.Equal(t, full, s.ok("", "get", "big/ok"))
	s.ok(full+"\r\n", "set", "big/ok2")
	assert.Equal(t, full, s.ok("", "get", "big/ok2"))

	for _, stdin := range []string{full + "k", full + "kk\n", full + "\n\n", full + canary + "\n"} {
		stderr := s.fails(exitUsage, stdin, "set", "big/no")
		assert.Equal(t, "ass: set big/no: value read from stdin is larger than the limit of 65536 bytes\n", stderr)
	}
	s.fails(exitUsage, full+"\n", "set", "big/no", "--raw")
	s.fails(exitNotFound, "", "get", "big/no")
	// The library enforces the same limit on a VALUE argument.
	assert.Contains(t, s.fails(exitUsage, "", "set", "big/no", full+"k"), "larger than the limit of 65536")
	s.fails(exitNotFound, "", "get", "big/no")
}

func TestSetFlags(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	before := time.Now().UTC()
	out := s.ok("sk-live\n", "set", "production/stripe/key",
		"--type", "payment_credential", "--tier", "critical",
		"--tag", "team=payments", "--tag", "env=prod", "--tag", "note=a=b",
		"--description", "Stripe live key", "--expires-in", "90d")
	assert.Equal(t, "created production/stripe/key v1\n", out)

	j := s.getJSON("production/stripe/key")
	assert.Equal(t, "sk-live", j["value"])
	assert.Equal(t, "payment_credential", j["type"])
	assert.Equal(t, "critical", j["tier"])
	assert.Equal(t, map[string]any{"team": "payments", "env": "prod", "note": "a=b"}, j["tags"])
	assert.Equal(t, "Stripe live key", j["description"])
	exp, err := time.Parse(time.RFC3339, j["expires_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, before.Add(90*24*time.Hour), exp, time.Minute)

	// set on an existing secret: new version, tags merged, other metadata kept.
	out = s.ok("sk-live-2\n", "set", "production/stripe/key", "--tag", "env=live", "--tag", "rotated=yes")
	assert.Equal(t, "updated production/stripe/key v2\n", out)
	j = s.getJSON("production/stripe/key")
	assert.Equal(t, "v2", j["version"])
	assert.Equal(t, map[string]any{"team": "payments", "env": "live", "note": "a=b", "rotated": "yes"}, j["tags"])
	assert.Equal(t, "critical", j["tier"])
	assert.Equal(t, "payment_credential", j["type"])
	assert.Equal(t, "Stripe live key", j["description"])
	assert.Equal(t, exp.Format(time.RFC3339), mustTime(t, j["expires_at"]).Format(time.RFC3339))

	// set with metadata flags changes them with the new version.
	s.ok("", "set", "production/stripe/key", "v3", "--tier", "standard", "--description", "", "--expires-at", "2099-01-02T03:04:05Z", "--type", "api_key")
	j = s.getJSON("production/stripe/key")
	assert.Equal(t, "standard", j["tier"])
	assert.Equal(t, "api_key", j["type"])
	assert.Equal(t, "", j["description"])
	assert.Equal(t, "2099-01-02T03:04:05Z", j["expires_at"])

	// create takes the same flags; flags may come before the arguments.
	s.ok("", "create", "--tier", "standard", "--expires-at", "2099-12-31T23:59:59+01:00", "c/x", "v", "--type", "ssh_key")
	j = s.getJSON("c/x")
	assert.Equal(t, "standard", j["tier"])
	assert.Equal(t, "ssh_key", j["type"])
	assert.Equal(t, "2099-12-31T22:59:59Z", j["expires_at"])
	assert.Equal(t, map[string]any{}, j["tags"])

	s.ok("", "create", "c/all", "v", "--type", "certificate", "--tier", "sensitive", "--tag", "a=1", "--tag", "b=2",
		"--description", "all flags", "--expires-in", "36h")
	j = s.getJSON("c/all")
	assert.Equal(t, "certificate", j["type"])
	assert.Equal(t, "sensitive", j["tier"])
	assert.Equal(t, map[string]any{"a": "1", "b": "2"}, j["tags"])
	assert.Equal(t, "all flags", j["description"])
	assert.WithinDuration(t, time.Now().Add(36*time.Hour), mustTime(t, j["expires_at"]), time.Minute)

	// Defaults: custom, sensitive, no tags, no expiry.
	s.ok("", "set", "d/x", "v")
	j = s.getJSON("d/x")
	assert.Equal(t, "custom", j["type"])
	assert.Equal(t, "sensitive", j["tier"])
	assert.Equal(t, map[string]any{}, j["tags"])
	assert.Equal(t, "", j["description"])
	assert.Nil(t, j["expires_at"])

	// --json prints the metadata, never the value.
	m := decodeObject(t, s.ok("", "set", "j/x", canary, "--json", "--tag", "k=v"))
	assert.Equal(t, []string{"created_at", "created_by", "description", "expired", "expires_at", "path", "status", "tags", "tier", "type", "updated_at", "version"}, keys(m))
	assert.Equal(t, "j/x", m["path"])
	assert.Equal(t, "v1", m["version"])
	m = decodeObject(t, s.ok("", "--json", "set", "j/x", canary))
	assert.Equal(t, "v2", m["version"])
	m = decodeObject(t, s.ok("", "create", "j/y", canary, "--json"))
	assert.Equal(t, "v1", m["version"])

	// An expiry in the past is refused by create (nothing written).
	stderr := s.fails(exitUsage, "", "create", "past/x", canary, "--expires-at", "2020-01-01T00:00:00Z")
	assert.Contains(t, stderr, "not in the future")
	s.fails(exitNotFound, "", "get", "past/x")
}

func TestGetJSONAndVersions(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.env["ASS_ACTOR"] = "deploy-bot"
	s.ok("one\n", "set", "p/k", "--tag", "team=ml", "--description", "d")
	s.ok("two\n", "set", "p/k")

	j := s.getJSON("p/k")
	assert.Equal(t, []string{"created_at", "created_by", "description", "expired", "expires_at", "path", "tags", "tier", "type", "updated_at", "value", "version"}, keys(j))
	assert.Equal(t, "p/k", j["path"])
	assert.Equal(t, "two", j["value"])
	assert.Equal(t, "v2", j["version"])
	assert.Equal(t, "custom", j["type"])
	assert.Equal(t, "sensitive", j["tier"])
	assert.Equal(t, map[string]any{"team": "ml"}, j["tags"])
	assert.Equal(t, "d", j["description"])
	assert.Equal(t, "deploy-bot", j["created_by"])
	assert.Nil(t, j["expires_at"])
	created, updated := mustTime(t, j["created_at"]), mustTime(t, j["updated_at"])
	assert.False(t, updated.Before(created))
	assert.WithinDuration(t, time.Now(), created, time.Minute)

	assert.Equal(t, "one", s.ok("", "get", "p/k", "--version", "v1"))
	assert.Equal(t, "one", s.ok("", "get", "--version=v1", "p/k"))
	assert.Equal(t, "one", s.ok("", "get", "p/k", "--version", "1"))
	assert.Equal(t, "two", s.ok("", "get", "p/k", "--version", "v2"))
	j = s.getJSON("p/k", "--version", "v1")
	assert.Equal(t, "one", j["value"])
	assert.Equal(t, "v1", j["version"])

	assert.Equal(t, "ass: get p/k v9: secret not found\n", s.fails(exitNotFound, "", "get", "p/k", "--version", "v9"))
	assert.Contains(t, s.fails(exitUsage, "", "get", "p/k", "--version", "latest"), `version "latest" is not of the form v1`)
	assert.Equal(t, "ass: get p/none: secret not found\n", s.fails(exitNotFound, "", "get", "p/none"))
	assert.Contains(t, s.fails(exitUsage, "", "get", "bad//path"), "invalid path")
	assert.Contains(t, s.fails(exitError, "", "get", "p/k", "--kms", "env://NOPE"), "NOPE is not set")
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("v\n", "set", "u/x", "--tag", "a=1", "--tag", "b=2", "--description", "old", "--expires-in", "48h")

	out := s.ok("", "update", "u/x", "--tag", "b=20", "--tag", "c=3")
	assert.Equal(t, "updated u/x (metadata only; active version v1)\n", out)
	j := s.getJSON("u/x")
	assert.Equal(t, map[string]any{"a": "1", "b": "20", "c": "3"}, j["tags"])
	assert.Equal(t, "old", j["description"])

	s.ok("", "update", "u/x", "--clear-tags", "--tag", "only=this")
	assert.Equal(t, map[string]any{"only": "this"}, s.getJSON("u/x")["tags"])
	s.ok("", "update", "u/x", "--clear-tags")
	assert.Equal(t, map[string]any{}, s.getJSON("u/x")["tags"])

	s.ok("", "update", "u/x", "--description", "new text", "--tier", "critical", "--type", "oauth_token")
	j = s.getJSON("u/x")
	assert.Equal(t, "new text", j["description"])
	assert.Equal(t, "critical", j["tier"])
	assert.Equal(t, "oauth_token", j["type"])
	s.ok("", "update", "u/x", "--description", "")
	assert.Equal(t, "", s.getJSON("u/x")["description"])

	s.ok("", "update", "u/x", "--expires-at", "2099-05-06T07:08:09Z")
	assert.Equal(t, "2099-05-06T07:08:09Z", s.getJSON("u/x")["expires_at"])
	s.ok("", "update", "u/x", "--expires-in", "30d")
	assert.WithinDuration(t, time.Now().Add(30*24*time.Hour), mustTime(t, s.getJSON("u/x")["expires_at"]), time.Minute)
	s.ok("", "update", "u/x", "--no-expiry")
	assert.Nil(t, s.getJSON("u/x")["expires_at"])

	m := decodeObject(t, s.ok("", "update", "u/x", "--tag", "k=v", "--json"))
	assert.Equal(t, map[string]any{"k": "v"}, m["tags"])
	assert.NotContains(t, m, "value")

	// Metadata changes create no version.
	vs := decodeArray(t, s.ok("", "versions", "u/x", "--json"))
	assert.Len(t, vs, 1)
	assert.Equal(t, "v", s.ok("", "get", "u/x"))

	assert.Equal(t, "ass: update u/none: secret not found\n", s.fails(exitNotFound, "", "update", "u/none", "--tag", "a=b"))
	assert.Equal(t, "ass: update u/none: secret not found\n", s.fails(exitNotFound, "", "update", "u/none", "--tier", "standard"))
	assert.Contains(t, s.fails(exitUsage, "", "update", "u/x", "--description", strings.Repeat("d", 1025)), "description is 1025 bytes")
}

func TestExpired(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("old\n", "set", "production/x")
	s.ok(canary+"\n", "set", "production/x", "--expires-in", "1s")
	s.ok("", "set", "production/soon", "v", "--expires-in", "1s")
	time.Sleep(1100 * time.Millisecond)

	assert.Equal(t, "ass: get production/x: secret expired\n", s.fails(exitExpired, "", "get", "production/x"))
	assert.Equal(t, "ass: get production/x v1: secret expired\n", s.fails(exitExpired, "", "get", "production/x", "--version", "v1"))
	s.fails(exitExpired, "", "get", "production/x", "--json")

	// Still listed (marked), still has versions.
	list := s.ok("", "list")
	assert.Regexp(t, `production/x\s+custom\s+sensitive\s+v2\s+\S+\s+\S+ \(expired\)`, list)
	assert.Len(t, decodeArray(t, s.ok("", "versions", "production/x", "--json")), 2)

	// A new value on an expired secret is stored but not served; set says so.
	r := s.run("fresh\n", "set", "production/soon")
	require.Equal(t, 0, r.code)
	assert.Equal(t, "updated production/soon v2\n", r.stdout)
	assert.Contains(t, r.stderr, "ass: note: production/soon expired at")
	s.fails(exitExpired, "", "get", "production/soon")

	// Extending or clearing the expiry serves it again.
	s.ok("", "update", "production/x", "--no-expiry")
	assert.Equal(t, canary, s.ok("", "get", "production/x"))
	s.ok("", "update", "production/soon", "--expires-in", "1h")
	assert.Equal(t, "fresh", s.ok("", "get", "production/soon"))
}

func TestDelete(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("v\n", "set", "d/x")
	s.ok("v\n", "set", "d/y")
	assert.Equal(t, "deleted d/x\n", s.ok("", "delete", "d/x"))
	assert.Equal(t, "ass: get d/x: secret not found\n", s.fails(exitNotFound, "", "get", "d/x"))
	assert.Equal(t, "ass: delete d/x: secret not found\n", s.fails(exitNotFound, "", "delete", "d/x"))
	assert.Equal(t, map[string]any{"path": "d/y", "deleted": true}, decodeObject(t, s.ok("", "delete", "d/y", "--json")))
	assert.Equal(t, "[]\n", s.ok("", "list", "--json"))
	// A deleted path starts again at v1.
	assert.Equal(t, "created d/x v1\n", s.ok("", "set", "d/x", "again"))
}

// TestCanaryNeverPrinted runs failing commands that carry a secret value
// and checks that the value appears in no output (run also checks stderr
// of every command in every test).
func TestCanaryNeverPrinted(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok(canary+"\n", "set", "c/exists")
	cases := []struct {
		stdin string
		args  []string
		code  int
	}{
		{"", []string{"create", "c/exists", canary}, exitError},
		{canary, []string{"create", "c/exists"}, exitError},
		{canary, []string{"create", "c/exists", "-"}, exitError},
		{"", []string{"set", canary + " with space", "v"}, exitUsage},
		{"", []string{"set", "c/" + canary + "/ä", canary}, exitUsage},
		{"", []string{"set", "c//" + canary, canary}, exitUsage},
		{"", []string{"create", "/" + canary, canary}, exitUsage},
		{"", []string{"set", "c/x", "-" + canary}, exitUsage},
		{"", []string{"set", "c/x", "--" + canary}, exitUsage},
		{"", []string{"set", "c/x", canary, "extra"}, exitUsage},
		{"", []string{"set", "c/x", canary, "--tier", "bogus"}, exitUsage},
		{"", []string{"set", "c/x", canary, "--tag", "bad"}, exitUsage},
		{"", []string{"set", "c/x", canary, "--expires-in", "1h", "--expires-at", "2099-01-01T00:00:00Z"}, exitUsage},
		{"", []string{"create", "c/y", canary, "--expires-at", "2000-01-01T00:00:00Z"}, exitUsage},
		{"", []string{"set", "c/y", canary, "--description", strings.Repeat("x", 2000)}, exitUsage},
		{"", []string{"set", "c/y", canary, "--tag", strings.Repeat("k", 200) + "=v"}, exitUsage},
		{strings.Repeat(canary, 3000), []string{"set", "c/y"}, exitUsage},
		{canary, []string{"set", "c/y", "--kms", "env://UNSET_VAR"}, exitError},
		{canary, []string{"set", "c/y", "--backend", "redis://:" + canary + "@127.0.0.1:1"}, exitError}, // nothing listens on port 1: refused
		{"", []string{"get", "c/exists", "--version", "v7"}, exitNotFound},
		{"", []string{"get", "c/exists", "--kms", "env://K"}, exitError},
	}
	s.env["K"] = base64.StdEncoding.EncodeToString(make([]byte, 32)) // not this vault's key
	for _, tc := range cases {
		r := s.run(tc.stdin, tc.args...)
		assert.Equal(t, tc.code, r.code, "ass %q: stderr %q", tc.args, r.stderr)
		if tc.code != exitOK {
			assert.NotContains(t, r.stdout+r.stderr, canary, "ass %q", tc.args)
			assert.NotContains(t, r.stdout+r.stderr, "CANARY", "ass %q (part of the value)", tc.args)
		}
	}
	s.fails(exitNotFound, "", "get", "c/y")
	assert.Equal(t, canary, s.ok("", "get", "c/exists"))
	assert.NotContains(t, s.ok("", "list"), canary)
}

func mustTime(t *testing.T, v any) time.Time {
	t.Helper()
	str, ok := v.(string)
	require.True(t, ok, "time %v is not a string", v)
	tm, err := time.Parse(time.RFC3339, str)
	require.NoError(t, err, "time %q is not RFC 3339", str)
	return tm
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestCheckPathQuietly(t *testing.T) {
	for _, p := range []string{"a", "production/openai/api-key", "A.b_c-d/0"} {
		assert.NoError(t, checkPathQuietly(p), "checkPathQuietly(%q)", p)
	}
	for _, tc := range []struct{ path, want string }{
		{"", "segment 1"},
		{"/a", "segment 1"},
		{"a/", "segment 2"},
		{"a//b", "segment 2"},
		{"a/../b", "segment 2"},
		{"a/b c", "segment 2"},
		{strings.Repeat("a/", 33) + "a", "more than 32 segments"},
		{strings.Repeat("a", 513), "513 bytes, longer than 512"},
	} {
		err := checkPathQuietly(tc.path)
		require.Error(t, err, "checkPathQuietly(%q)", tc.path)
		assert.Contains(t, err.Error(), tc.want, "checkPathQuietly(%q)", tc.path)
		assert.NotContains(t, err.Error(), "b c", "checkPathQuietly(%q) echoed the path", tc.path)
	}
}

// TestConcurrentSet starts several "ass set" processes on one new path at
// once: exactly one creates it, every other adds a version, none is lost.
func TestConcurrentSet(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	const n = 6
	results := make(chan result, n)
	for i := range n {
		go func() { results <- s.run("", "set", "race/x", fmt.Sprintf("value-%d", i)) }()
	}
	created := 0
	for range n {
		r := <-results
		require.Equal(t, 0, r.code, "stderr %q", r.stderr)
		if strings.HasPrefix(r.stdout, "created race/x v1") {
			created++
		} else {
			assert.Regexp(t, `^updated race/x v[2-6]\n$`, r.stdout)
		}
	}
	assert.Equal(t, 1, created)
	vs := decodeArray(t, s.ok("", "versions", "race/x", "--json"))
	require.Len(t, vs, n)
	assert.Equal(t, true, vs[n-1]["is_active"])
}
