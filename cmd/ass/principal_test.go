package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inProc runs ass in process on one ASS_HOME with an environment that can
// hold variables set to "" (which the exec-based sandbox cannot).
type inProc struct {
	t    *testing.T
	home string
	env  map[string]string
}

func newInProc(t *testing.T) *inProc {
	return &inProc{t: t, home: filepath.Join(t.TempDir(), "home"), env: map[string]string{}}
}

func (p *inProc) run(stdin string, args ...string) result {
	p.t.Helper()
	c, out, errb := newTestCLI(p.t, p.home, stdin)
	env := map[string]string{"ASS_HOME": p.home, "USER": "tester"}
	for k, v := range p.env {
		env[k] = v
	}
	c.getenv = func(k string) string { return env[k] }
	c.lookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := c.run(args)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func (p *inProc) ok(stdin string, args ...string) string {
	p.t.Helper()
	r := p.run(stdin, args...)
	require.Equal(p.t, exitOK, r.code, "ass %q: stderr %q", args, r.stderr)
	return r.stdout
}

// token issues a token (run without one) and returns it.
func (p *inProc) token(args ...string) string {
	p.t.Helper()
	saved := p.env
	p.env = map[string]string{}
	defer func() { p.env = saved }()
	return strings.TrimSpace(p.ok("", append([]string{"token", "request", "--ttl", "1h"}, args...)...))
}

// TestTokenGovernsEveryCommand runs every command with no token, a read
// token, a write token used outside its scope and an empty token: with a
// token, the secret commands do exactly what the token allows (and are
// audited as it), every other command is refused with exit 6, and an empty
// token is a usage error that reads nothing.
func TestTokenGovernsEveryCommand(t *testing.T) {
	t.Parallel()
	p := newInProc(t)
	p.ok("", "init")
	for _, path := range []string{"sandbox/A", "sandbox/B", "other/A", "other/B"} {
		p.ok("orig-"+path, "set", path, "--tier", "standard")
	}
	envFile := filepath.Join(t.TempDir(), "in.env")
	require.NoError(t, writeFileAtomic(envFile, []byte("C=imported\n"), false))
	readTok := p.token("--scope", "secrets:read:sandbox/*")
	writeTok := p.token("--scope", "secrets:write:sandbox/*", "--scope", "secrets:delete:sandbox/*")

	type access int
	const (
		read    access = iota
		listing        // lists what the token may read: nothing outside its scope
		write
		admin
	)
	// NS is replaced by the namespace the run targets.
	cases := []struct {
		name string
		args []string
		kind access
	}{
		{"get", []string{"get", "NS/A"}, read},
		{"list", []string{"list", "NS/"}, listing},
		{"versions", []string{"versions", "NS/A"}, read},
		{"expiring", []string{"expiring", "NS/"}, listing},
		{"export", []string{"export", "--namespace", "NS"}, listing},
		{"run", []string{"run", "--namespace", "NS", "--", "true"}, listing},
		{"set", []string{"set", "NS/A", "new"}, write},
		{"create", []string{"create", "NS/N", "new"}, write},
		{"update", []string{"update", "NS/A", "--description", "d"}, write},
		{"rotate", []string{"rotate", "NS/A", "rotated"}, write},
		{"rollback", []string{"rollback", "NS/A", "v1"}, write},
		{"import", []string{"import", envFile, "--namespace", "NS"}, write},
		{"delete", []string{"delete", "NS/B"}, write},
		{"init", []string{"init"}, admin},
		{"key rotate", []string{"key", "rotate"}, admin},
		{"rewrap", []string{"rewrap"}, admin},
		{"agents list", []string{"agents", "list"}, admin},
		{"agents create", []string{"agents", "create", "bot", "--scope", "secrets:read:x/*"}, admin},
		{"approvals list", []string{"approvals", "list"}, admin},
		{"approvals approve", []string{"approvals", "approve", "apr_00000000000000000000"}, admin},
		{"audit", []string{"audit"}, admin},
		{"audit --verify", []string{"audit", "--verify"}, admin},
		{"lifecycle run", []string{"lifecycle", "run", "--once"}, admin},
		{"token request", []string{"token", "request", "--scope", "secrets:read:sandbox/A"}, admin},
		{"token list", []string{"token", "list"}, admin},
		{"doctor", []string{"doctor"}, admin},
	}
	args := func(tmpl []string, ns string) []string {
		out := make([]string, len(tmpl))
		for i, a := range tmpl {
			out[i] = strings.ReplaceAll(a, "NS", ns)
		}
		return out
	}
	for _, tc := range cases {
		// Empty token, in the environment or as a flag: exit 2, nothing read.
		p.env = map[string]string{"ASS_TOKEN": ""}
		r := p.run("", args(tc.args, "sandbox")...)
		assert.Equal(t, exitUsage, r.code, "ASS_TOKEN= ass %s: stderr %q", tc.name, r.stderr)
		assert.Contains(t, r.stderr, "ASS_TOKEN is set but empty", "ASS_TOKEN= ass %s", tc.name)
		assert.Empty(t, r.stdout, "ASS_TOKEN= ass %s", tc.name)
		p.env = map[string]string{}
		r = p.run("", append(args(tc.args, "sandbox"), "--token=")...)
		if tc.name != "run" { // after "--" the flag is the child's
			assert.Equal(t, exitUsage, r.code, "ass %s --token '': stderr %q", tc.name, r.stderr)
			assert.Contains(t, r.stderr, "--token is empty", "ass %s --token ''", tc.name)
		}
		p.env = map[string]string{"ASS_AGENT_KEY": ""}
		r = p.run("", args(tc.args, "sandbox")...)
		assert.Equal(t, exitUsage, r.code, "ASS_AGENT_KEY= ass %s: stderr %q", tc.name, r.stderr)
		assert.Contains(t, r.stderr, "ASS_AGENT_KEY is set but empty")

		// A write token outside its scope: refused, whatever the command.
		p.env = map[string]string{"ASS_TOKEN": writeTok}
		r = p.run("", args(tc.args, "other")...)
		if tc.kind == listing {
			assert.Equal(t, exitOK, r.code, "write token: ass %s other/…: stderr %q", tc.name, r.stderr)
			assert.NotContains(t, r.stdout, "other/", "write token: ass %s other/…", tc.name)
			assert.NotContains(t, r.stdout, "orig-", "write token: ass %s other/…", tc.name)
		} else {
			assert.Equal(t, exitDenied, r.code, "write token: ass %s other/…: stderr %q", tc.name, r.stderr)
			assert.Contains(t, r.stderr, "access denied", "write token: ass %s", tc.name)
		}

		// A read token inside its scope: reads work, writes and admin are refused.
		p.env = map[string]string{"ASS_TOKEN": readTok}
		r = p.run("", args(tc.args, "sandbox")...)
		if tc.kind == read || tc.kind == listing {
			assert.Equal(t, exitOK, r.code, "read token: ass %s: stderr %q", tc.name, r.stderr)
		} else {
			assert.Equal(t, exitDenied, r.code, "read token: ass %s: stderr %q", tc.name, r.stderr)
		}
		if tc.kind == admin {
			assert.Contains(t, r.stderr, "ass "+strings.TrimSuffix(tc.name, " --verify")+" cannot run with a token", "read token: ass %s", tc.name)
		}
		p.env = map[string]string{}
	}
	// Nothing outside sandbox/ changed, and no refused write went through.
	for _, path := range []string{"other/A", "other/B"} {
		assert.Equal(t, "orig-"+path, p.ok("", "get", path))
		assert.Len(t, decodeArray(t, p.ok("", "versions", path, "--json")), 1, path)
	}
	r := p.run("", "get", "other/N")
	assert.Equal(t, exitNotFound, r.code)
	r = p.run("", "get", "other/C")
	assert.Equal(t, exitNotFound, r.code)
	assert.Equal(t, "orig-sandbox/A", p.ok("", "get", "sandbox/A"), "the read token wrote nothing")

	// Within its scope the write token writes, audited as the token.
	p.env = map[string]string{"ASS_TOKEN": writeTok}
	for _, tc := range cases {
		if tc.kind != write {
			continue
		}
		r := p.run("", args(tc.args, "sandbox")...)
		assert.Equal(t, exitOK, r.code, "write token: ass %s sandbox/…: stderr %q", tc.name, r.stderr)
	}
	r = p.run("", "get", "sandbox/A")
	assert.Equal(t, exitDenied, r.code, "a write token does not read")
	p.env = map[string]string{}
	sandboxWrites := auditWriters(t, p.ok("", "audit", "--json", "--path", "sandbox/"))
	assert.Positive(t, sandboxWrites["token"], "writes through the token are audited as the token")
	assert.Equal(t, 2, sandboxWrites["human"], "only the two setup writes in sandbox/ are the human's")
	otherWrites := auditWriters(t, p.ok("", "audit", "--json", "--path", "other/"))
	assert.Equal(t, map[string]int{"human": 2}, otherWrites, "other/: only the setup writes, none through a token or as the human with a token set")
}

// auditWriters counts the successful write events of an audit --json
// output by actor kind.
func auditWriters(t *testing.T, out string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Event   string            `json:"event"`
			Actor   map[string]string `json:"actor"`
			Outcome string            `json:"outcome"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &e))
		switch e.Event {
		case "secret.created", "secret.updated", "secret.deleted", "secret.rotated", "secret.rolled_back", "secret.imported":
			if e.Outcome == "allowed" {
				n[e.Actor["kind"]]++
			}
		}
	}
	return n
}

// TestTokenImportCheckedWhole: through a token, an import larger than one
// chunk whose last variable is outside the token's scope writes nothing.
func TestTokenImportCheckedWhole(t *testing.T) {
	t.Parallel()
	p := newInProc(t)
	p.ok("", "init")
	tok := p.token("--scope", "secrets:write:sb/A*")
	var env strings.Builder
	for i := range importChunk + 100 {
		fmt.Fprintf(&env, "A%d=v\n", i)
	}
	env.WriteString("Z=outside\n")
	p.env = map[string]string{"ASS_TOKEN": tok}
	r := p.run(env.String(), "import", "-", "--namespace", "sb", "--tier", "standard")
	assert.Equal(t, exitDenied, r.code, "stderr %q", r.stderr)
	assert.Contains(t, r.stderr, "sb/Z")
	p.env = map[string]string{}
	assert.Equal(t, "no secrets\n", p.ok("", "list", "sb/"), "a refused import wrote nothing")
}

// TestImportAuditedPerSecret: ass import leaves one audit event per
// created or updated secret, at its path, naming the import; through a
// token, with the token as actor.
func TestImportAuditedPerSecret(t *testing.T) {
	t.Parallel()
	p := newInProc(t)
	p.ok("", "init")
	p.ok("DB_PASSWORD=pw\nAPI_KEY=k\n", "import", "-", "--namespace", "staging", "--tier", "standard")
	tok := p.token("--scope", "secrets:write:sandbox/*")
	p.env = map[string]string{"ASS_TOKEN": tok}
	p.ok("DB_PASSWORD=pw2\n", "import", "-", "--namespace", "sandbox", "--tier", "standard")
	p.env = map[string]string{}
	p.ok("DB_PASSWORD=pw3\n", "import", "-", "--namespace", "staging", "--overwrite")

	events := func(path string) []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(p.ok("", "audit", "--json", "--path", path, "--event", "secret.imported")), "\n") {
			var e map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &e), "audit line %q", line)
			if e["path"] == path && e["outcome"] == "allowed" {
				out = append(out, e)
			}
		}
		return out
	}
	assert.Len(t, events("staging/DB_PASSWORD"), 2, "created, then updated")
	assert.Len(t, events("staging/API_KEY"), 1)
	sb := events("sandbox/DB_PASSWORD")
	require.Len(t, sb, 1)
	assert.Equal(t, map[string]any{"kind": "token", "id": sb[0]["token_accessor"]}, sb[0]["actor"], "imported through the token")
}

// TestSecretOpsOnlyThroughPrincipal: no command reaches a secret through
// the vault directly; every secret operation goes through session.p, the
// token's Session when a token is given.
func TestSecretOpsOnlyThroughPrincipal(t *testing.T) {
	t.Parallel()
	direct := regexp.MustCompile(`\.vault\.(GetSecret|GetMetadata|ListSecrets|CreateSecret|UpdateSecret|DeleteSecret|RotateSecret|Rollback|ListVersions|ImportEnv)\(`)
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, line := range strings.Split(string(src), "\n") {
			assert.False(t, direct.MatchString(line), "%s:%d reaches a secret past the token: %s", f, i+1, strings.TrimSpace(line))
		}
	}
}
