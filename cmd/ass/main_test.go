package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// assBin is the ass binary built once by TestMain.
var assBin string

// canary is a secret value the tests store; it must never appear in any
// error output (checked on every run).
const canary = "sk-CANARY-5b1e8d1f0c-never-print"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ass-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	assBin = filepath.Join(dir, "ass")
	build := exec.Command("go", "build", "-o", assBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building ass:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of ass did.
type result struct {
	stdout string
	stderr string
	code   int
}

// sandbox is an ASS_HOME that does not exist yet, and environment
// variables for the runs.
type sandbox struct {
	t    *testing.T
	home string
	env  map[string]string
}

func newSandbox(t *testing.T) *sandbox {
	return &sandbox{t: t, home: filepath.Join(t.TempDir(), "ass-home"), env: map[string]string{}}
}

// run runs ass with args and stdin. Every run is checked: stderr never
// holds the canary, and is empty or exactly one line.
func (s *sandbox) run(stdin string, args ...string) result {
	s.t.Helper()
	cmd := exec.Command(assBin, args...)
	vars := map[string]string{"ASS_HOME": s.home, "USER": "tester", "HOME": filepath.Dir(s.home)}
	maps.Copy(vars, s.env) // "" removes a variable
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASS_") && !strings.HasPrefix(kv, "USER=") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	for k, v := range vars {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		s.t.Fatalf("run ass %q: %v", args, err)
	}
	assert.NotContains(s.t, r.stderr, canary, "ass %q: stderr holds the canary value", args)
	if r.code != 0 {
		assert.NotContains(s.t, r.stdout, canary, "ass %q failed but printed the canary value", args)
		// One error line, after any "ass: warning: " lines (records skipped).
		lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		if last := lines[len(lines)-1]; wantsJSON(args) || strings.HasPrefix(last, "{") {
			// Under --json the error is one JSON object.
			var e errorJSON
			assert.NoError(s.t, json.Unmarshal([]byte(last), &e), "ass %q: stderr %q: the last line is not a JSON error", args, r.stderr)
			assert.Equal(s.t, r.code, e.Error.ExitCode, "ass %q: JSON error %q", args, last)
		} else {
			assert.True(s.t, strings.HasPrefix(r.stderr, "ass: "), "ass %q: stderr %q does not start with \"ass: \"", args, r.stderr)
		}
		for _, l := range lines[:len(lines)-1] {
			assert.True(s.t, strings.HasPrefix(l, "ass: warning: "), "ass %q: stderr %q is not one line after warnings", args, r.stderr)
		}
		assert.True(s.t, strings.HasSuffix(r.stderr, "\n"), "ass %q: stderr %q does not end in a newline", args, r.stderr)
	}
	return r
}

// ok runs ass, requires success with nothing on stderr, and returns stdout.
func (s *sandbox) ok(stdin string, args ...string) string {
	s.t.Helper()
	r := s.run(stdin, args...)
	require.Equal(s.t, 0, r.code, "ass %q: exit %d, stderr %q", args, r.code, r.stderr)
	require.Empty(s.t, r.stderr, "ass %q: stderr", args)
	return r.stdout
}

// fails runs ass and requires exit code want; it returns stderr, with a
// JSON error (under --json; its shape is checked by run) as the text line
// "ass: MESSAGE" it stands for.
func (s *sandbox) fails(want int, stdin string, args ...string) string {
	s.t.Helper()
	r := s.run(stdin, args...)
	require.Equal(s.t, want, r.code, "ass %q: exit %d, want %d; stderr %q", args, r.code, want, r.stderr)
	return textError(r.stderr)
}

// textError turns a JSON error on the last line of stderr into "ass: MESSAGE".
func textError(stderr string) string {
	lines := strings.SplitAfter(stderr, "\n")
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return stderr
	}
	var e errorJSON
	if json.Unmarshal([]byte(lines[len(lines)-1]), &e) != nil || e.Error.Code == "" {
		return stderr
	}
	return strings.Join(lines[:len(lines)-1], "") + "ass: " + e.Error.Message + "\n"
}

func (s *sandbox) init() {
	s.t.Helper()
	s.ok("", "init")
}

// getJSON runs "ass get PATH --json" and decodes it.
func (s *sandbox) getJSON(path string, extra ...string) map[string]any {
	s.t.Helper()
	return decodeObject(s.t, s.ok("", append([]string{"get", path, "--json"}, extra...)...))
}

func decodeObject(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m), "decode %q", s)
	return m
}

func decodeArray(t *testing.T, s string) []map[string]any {
	t.Helper()
	var m []map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m), "decode %q", s)
	return m
}

func TestHelp(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	main := s.ok("", "help")
	for _, want := range []string{"init", "set", "create", "get", "update", "list", "versions", "rollback", "delete",
		"--backend", "--kms", "--actor", "--json", "ASS_HOME", "ASS_BACKEND", "ASS_KMS", "ASS_ACTOR",
		"file://DIR", "mem://", "local://FILE", "env://VAR", "Exit codes", "3  secret or version not found", "4  secret expired"} {
		assert.Contains(t, main, want, "ass help")
	}
	assert.Equal(t, main, s.ok("", "--help"))
	assert.Equal(t, main, s.ok("", "-h"))

	for _, c := range commands {
		text := s.ok("", "help", c.name)
		assert.True(t, strings.HasPrefix(text, "Usage: ass "+c.name), "ass help %s: %q", c.name, text)
		assert.Equal(t, text, s.ok("", c.name, "--help"), "ass %s --help", c.name)
		assert.Equal(t, text, s.ok("", c.name, "-h"), "ass %s -h", c.name)
	}
	set := s.ok("", "help", "set")
	for _, f := range []string{"--type", "--tier", "--tag KEY=VALUE", "--description", "--expires-in DURATION", "--expires-at TIME", "--raw", "api_key"} {
		assert.Contains(t, set, f, "ass help set")
	}
	update := s.ok("", "help", "update")
	for _, f := range []string{"--tag", "--clear-tags", "--description", "--tier", "--type", "--expires-in", "--expires-at", "--no-expiry"} {
		assert.Contains(t, update, f, "ass help update")
	}
	list := s.ok("", "help", "list")
	for _, f := range []string{"--type", "--tier", "--tag", "--expiring-within"} {
		assert.Contains(t, list, f, "ass help list")
	}
	assert.Contains(t, s.ok("", "help", "get"), "--version vN")
	// Help needs no vault and creates none.
	assert.NoDirExists(t, s.home)
}

func TestVersion(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	out := s.ok("", "--version")
	assert.Regexp(t, `^ass \S+ \(go[^)]+\)\n$`, out)
	assert.Equal(t, out, s.ok("", "--json", "--version"))
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok(canary, "set", "p/x")
	cases := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"--json"}, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "a", "b"}, "wrong number of arguments"},
		{[]string{"init", "extra"}, "init: wrong number of arguments: want no arguments"},
		{[]string{"set"}, "set: wrong number of arguments: want PATH [VALUE|-]"},
		{[]string{"set", "p/x", "v", "extra"}, "set: wrong number of arguments"},
		{[]string{"create"}, "create: wrong number of arguments"},
		{[]string{"create", "p/y", "v", "extra"}, "create: wrong number of arguments"},
		{[]string{"get"}, "get: wrong number of arguments: want PATH"},
		{[]string{"get", "p/x", "p/y"}, "get: wrong number of arguments"},
		{[]string{"update"}, "update: wrong number of arguments"},
		{[]string{"list", "a", "b"}, "list: wrong number of arguments: want [PREFIX]"},
		{[]string{"versions"}, "versions: wrong number of arguments"},
		{[]string{"rollback", "p/x"}, "rollback: wrong number of arguments: want PATH vN"},
		{[]string{"rollback", "p/x", "v1", "v2"}, "rollback: wrong number of arguments"},
		{[]string{"delete"}, "delete: wrong number of arguments"},
		{[]string{"delete", "p/x", "p/y"}, "delete: wrong number of arguments"},
		{[]string{"list", "--tga", "x"}, "list: unknown flag --tga"},
		{[]string{"get", "p/x", "--raw"}, "get: unknown flag --raw"},
		{[]string{"update", "p/x", "--version", "v1"}, "update: unknown flag --version"},
		{[]string{"set", "p/x", "v", "--bogus"}, "set: unknown flag --bogus"},
		{[]string{"set", "p/x", "--bogus"}, "set: argument 2 is an unknown flag (not shown"},
		{[]string{"get", "p/x", "--version"}, "get: flag --version needs a value"},
		{[]string{"set", "p/x", "v", "--tag"}, "set: flag --tag needs a value"},
		{[]string{"set", "p/x", "v", "--tag", "novalue"}, `set: invalid --tag: "novalue" is not KEY=VALUE`},
		{[]string{"set", "p/x", "v", "--tag", "=v"}, `set: invalid --tag: "=v" has an empty key`},
		{[]string{"update", "p/x", "--tag", "x"}, `update: invalid --tag: "x" is not KEY=VALUE`},
		{[]string{"list", "--tag", "x"}, `list: invalid --tag: "x" is not KEY=VALUE`},
		{[]string{"set", "p/x", "v", "--expires-in", "soon"}, `set: invalid --expires-in: "soon" is not a duration`},
		{[]string{"set", "p/x", "v", "--expires-in", "-5h"}, `invalid --expires-in: "-5h" is not a positive duration`},
		{[]string{"set", "p/x", "v", "--expires-in", "0d"}, `invalid --expires-in: "0d" is not a positive duration`},
		{[]string{"create", "p/y", "v", "--expires-in", "1.5d"}, `create: invalid --expires-in: "1.5d" is not a duration`},
		{[]string{"update", "p/x", "--expires-in", "x"}, "update: invalid --expires-in"},
		{[]string{"list", "--expiring-within", "x"}, "list: invalid --expiring-within"},
		{[]string{"set", "p/x", "v", "--expires-at", "tomorrow"}, `set: invalid --expires-at: "tomorrow" is not an RFC 3339 time`},
		{[]string{"update", "p/x", "--expires-at", "2027-01-01"}, "update: invalid --expires-at"},
		{[]string{"set", "p/x", "v", "--expires-in", "1h", "--expires-at", "2099-01-01T00:00:00Z"}, "set: --expires-in and --expires-at cannot be combined"},
		{[]string{"update", "p/x", "--expires-in", "1h", "--no-expiry"}, "update: --expires-in and --no-expiry cannot be combined"},
		{[]string{"update", "p/x", "--expires-at", "2099-01-01T00:00:00Z", "--no-expiry"}, "--expires-at and --no-expiry cannot be combined"},
		{[]string{"set", "p/x", "v", "--tier", "secret"}, `set: invalid --tier: unknown tier "secret" (want standard, sensitive or critical)`},
		{[]string{"update", "p/x", "--tier", "x"}, "update: invalid --tier"},
		{[]string{"list", "--tier", "x"}, "list: invalid --tier"},
		{[]string{"set", "p/x", "v", "--type", "password"}, `set: invalid --type: unknown type "password" (want one of api_key,`},
		{[]string{"list", "--type", "x"}, "list: invalid --type"},
		{[]string{"update", "p/x", "--type", "x"}, "update: invalid --type"},
		{[]string{"update", "p/x"}, "update: nothing to update"},
		{[]string{"update", "p/x", "--json"}, "update: nothing to update"},
		{[]string{"list", "--json=maybe"}, "list: flag --json takes no value"},
		{[]string{"list", "--backend", "s3://user:hunter2@bucket/0"}, `list: unknown --backend scheme in "s3://REDACTED@bucket/0" (supported: file://DIR, mem://, redis://`},
		{[]string{"list", "--backend", "/tmp/store"}, `list: invalid --backend "/tmp/store": want one of file://DIR, mem://, redis://`},
		{[]string{"list", "--kms", "vault://x"}, "list: unknown --kms scheme in \"vault://x\" (supported: local://FILE, env://VAR, awskms://"},
		{[]string{"list", "--backend", "file://"}, "list: file:// needs a directory"},
		{[]string{"list", "--backend", "mem://x"}, "list: mem:// takes nothing after the scheme"},
		{[]string{"list", "--kms", "local://"}, "list: local:// needs a key file"},
		{[]string{"list", "--kms", "env://"}, "list: env:// needs a variable name"},
	}
	for _, tc := range cases {
		stderr := s.fails(exitUsage, "", tc.args...)
		assert.Contains(t, stderr, tc.want, "ass %q", tc.args)
		assert.Contains(t, stderr, `(see "ass help`, "ass %q: no hint", tc.args)
	}
	assert.NotContains(t, s.fails(exitError, "", "list", "--backend", "redis://:hunter2@127.0.0.1:1/0?password=hunter2"), "hunter2")
	assert.NotContains(t, s.fails(exitError, "", "list", "--backend", "redis://:hunter2@127.0.0.1:1/0"), "hunter2")
	// Nothing was changed by any of them.
	assert.Equal(t, canary, s.ok("", "get", "p/x"))
	assert.Len(t, decodeArray(t, s.ok("", "versions", "p/x", "--json")), 1)
	assert.Len(t, decodeArray(t, s.ok("", "list", "--json")), 1)
}

func TestGlobalFlagsAnywhere(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	dir := filepath.Join(t.TempDir(), "store")
	key := filepath.Join(t.TempDir(), "key")
	s.ok("", "--backend", "file://"+dir, "--kms", "local://"+key, "init")
	s.ok("", "--backend", "file://"+dir, "--kms="+"local://"+key, "set", "a/b", "one", "--actor", "alice")
	s.ok("", "set", "--backend", "file://"+dir, "a/b", "two", "--kms", "local://"+key, "-actor=bob")
	s.env["ASS_BACKEND"] = "file://" + dir
	s.env["ASS_KMS"] = "local://" + key
	vs := decodeArray(t, s.ok("", "--json", "versions", "a/b"))
	require.Len(t, vs, 2)
	assert.Equal(t, "alice", vs[0]["created_by"])
	assert.Equal(t, "bob", vs[1]["created_by"])
	// Without --actor, ASS_ACTOR or USER, the actor is "cli".
	s.env["USER"] = ""
	s.ok("", "set", "a/b", "three")
	vs = decodeArray(t, s.ok("", "--json", "versions", "a/b"))
	assert.Equal(t, "cli", vs[2]["created_by"])
	s.env["ASS_ACTOR"] = "carol"
	s.ok("", "set", "a/b", "four")
	s.ok("", "set", "a/b", "five", "--actor", "dave")
	vs = decodeArray(t, s.ok("", "--json", "versions", "a/b"))
	assert.Equal(t, "carol", vs[3]["created_by"])
	assert.Equal(t, "dave", vs[4]["created_by"], "--actor overrides ASS_ACTOR")
	// Flags override the environment.
	s.fails(exitError, "", "get", "a/b", "--kms", "local://"+filepath.Join(t.TempDir(), "none"))
	assert.NoDirExists(t, s.home, "only the named store and key were used")
}

func TestDescribe(t *testing.T) {
	lib := &agentvault.Error{Op: "get", Path: "production/x", Version: "v3", Err: agentvault.ErrExpired}
	cases := []struct {
		err  error
		msg  string
		code int
	}{
		{lib, "get production/x: secret expired", exitExpired},
		{versioned{lib}, "get production/x v3: secret expired", exitExpired},
		{&agentvault.Error{Op: "rollback", Path: "a", Version: "v9", Err: fmt.Errorf("%w: no version v9", agentvault.ErrNotFound)}, "rollback a: secret not found: no version v9", exitNotFound},
		{&agentvault.Error{Op: "open", Err: agentvault.ErrIntegrity}, "open: integrity check failed", exitError},
		{&agentvault.Error{Op: "create", Path: "a", Err: agentvault.ErrAlreadyExists}, "create a: secret already exists", exitError},
		{usagef("bad"), "bad", exitUsage},
		{errors.New("plain"), "plain", exitError},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.msg, describe(tc.err), "describe(%#v)", tc.err)
		assert.Equal(t, tc.code, exitCode(tc.err), "exitCode(%#v)", tc.err)
	}
	assert.Equal(t, "a b c", oneLine("a\nb\r\nc"))
}

func TestFindCommand(t *testing.T) {
	cases := []struct {
		args []string
		want int
	}{
		{nil, -1},
		{[]string{"list"}, 0},
		{[]string{"--json", "list"}, 1},
		{[]string{"--backend", "mem://", "list"}, 2},
		{[]string{"--backend=mem://", "--kms", "env://K", "-actor", "me", "get", "x"}, 5},
		{[]string{"--version"}, -1},
		{[]string{"--", "list"}, -1},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, findCommand(tc.args), "findCommand(%q)", tc.args)
	}
}

// newTestCLI is an in-process ass on ASS_HOME home.
func newTestCLI(t *testing.T, home, stdin string) (*cli, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &cli{
		ctx: t.Context(), getenv: func(k string) string {
			if k == "ASS_HOME" {
				return home
			}
			return ""
		},
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, stdinFD: -1,
	}, &out, &errb
}

// TestInProcessTerminal runs the command in process to check what only a
// terminal changes: get adds a newline.
func TestInProcessTerminal(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	newCLI := func(tty bool, stdin string) (*cli, *bytes.Buffer, *bytes.Buffer) {
		c, out, errb := newTestCLI(t, home, stdin)
		c.stdoutTTY = tty
		return c, out, errb
	}
	c, _, errb := newCLI(false, "")
	require.Equal(t, exitOK, c.run([]string{"init"}), errb.String())
	c, _, errb = newCLI(false, "value\n")
	require.Equal(t, exitOK, c.run([]string{"set", "a/b"}), errb.String())
	c, out, _ := newCLI(false, "")
	require.Equal(t, exitOK, c.run([]string{"get", "a/b"}))
	assert.Equal(t, "value", out.String(), "get to a pipe")
	c, out, _ = newCLI(true, "")
	require.Equal(t, exitOK, c.run([]string{"get", "a/b"}))
	assert.Equal(t, "value\n", out.String(), "get to a terminal")
	c, out, _ = newCLI(true, "")
	require.Equal(t, exitOK, c.run([]string{"get", "a/b", "--json"}))
	assert.Equal(t, "value", decodeObject(t, out.String())["value"], "get --json to a terminal")
}
