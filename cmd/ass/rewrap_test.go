package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/kms/localkms"
)

var (
	rotatedRe = regexp.MustCompile(`^Rotated key file (\S+): new primary key (k-\S+)\n(Rewrapped .*)\n$`)
	keyLineRe = regexp.MustCompile(`(?m)^key `)
)

// fillVault stores secrets with several versions and returns their values
// by path; the canary is one of them.
func fillVault(t *testing.T, b *accessBox) map[string]string {
	t.Helper()
	want := map[string]string{"prod/api": canary, "prod/db": "db-v2", "staging/x": "x-v3"}
	b.ok(canary, "set", "prod/api", "--tier", "standard")
	b.ok("db-v1", "set", "prod/db", "--tier", "critical")
	b.ok("db-v2", "set", "prod/db")
	for _, v := range []string{"x-v1", "x-v2", "x-v3"} {
		b.ok(v, "set", "staging/x", "--tier", "standard")
	}
	return want
}

// checkValues reads every secret, and every version of prod/db and
// staging/x.
func checkValues(t *testing.T, b *accessBox, want map[string]string, extra ...string) {
	t.Helper()
	for p, v := range want {
		assert.Equal(t, v, b.ok("", append([]string{"get", p}, extra...)...), "get %s", p)
	}
	assert.Equal(t, "db-v1", b.ok("", append([]string{"get", "prod/db", "--version", "v1"}, extra...)...))
	assert.Equal(t, "x-v1", b.ok("", append([]string{"get", "staging/x", "--version", "1"}, extra...)...))
}

func TestKeyRotate(t *testing.T) {
	t.Parallel()
	b := newAccessBox(t)
	want := fillVault(t, b)
	keyFile := filepath.Join(b.home, "key")
	tok, _ := b.token("token", "request", "--scope", "secrets:read:prod/api")

	// Nothing to do yet.
	assert.Equal(t, "Rewrapped 0 data keys in 3 secrets (6 already current)\n", b.ok("", "rewrap"))

	out := b.ok("", "key", "rotate")
	m := rotatedRe.FindStringSubmatch(out)
	require.NotNil(t, m, "output %q", out)
	assert.Equal(t, keyFile, m[1])
	first := m[2]
	assert.Equal(t, "Rewrapped 6 data keys in 3 secrets (0 already current)", m[3])
	data, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	assert.Contains(t, string(data), "primary "+first)
	assert.Len(t, keyLineRe.FindAllString(string(data), -1), 2)
	checkValues(t, b, want)
	assert.Equal(t, canary, b.ok("", "get", "prod/api", "--token", tok), "tokens survive a rotation")

	// Twice, and with --json.
	j := decodeObject(t, b.ok("", "key", "rotate", "--json"))
	second := j["key_id"].(string)
	assert.NotEqual(t, first, second)
	assert.EqualValues(t, 6, j["rewrapped"])
	assert.EqualValues(t, 3, j["secrets"])
	assert.EqualValues(t, 0, j["current"])
	data, err = os.ReadFile(keyFile)
	require.NoError(t, err)
	assert.Len(t, keyLineRe.FindAllString(string(data), -1), 3)
	checkValues(t, b, want)
	b.ok("x-v4", "set", "staging/x")
	want["staging/x"] = "x-v4"
	rj := decodeObject(t, b.ok("", "rewrap", "--json"))
	assert.Equal(t, map[string]any{"secrets": 3.0, "rewrapped": 0.0, "current": 7.0, "key_id": second}, rj)
	assert.Regexp(t, `^ok: `, b.ok("", "audit", "--verify"), "the audit trail survives a rotation")
	checkValues(t, b, want)

	// A rotation without the rewrap (as if interrupted): every value still
	// reads, and rewrap finishes the job.
	_, err = localkms.RotateKeyFile(keyFile)
	require.NoError(t, err)
	checkValues(t, b, want)
	assert.Equal(t, "Rewrapped 7 data keys in 3 secrets (0 already current)\n", b.ok("", "rewrap"))

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"key"}, "key: wrong number of arguments: want rotate"},
		{[]string{"key", "spin"}, `key: unknown subcommand "spin" (want rotate)`},
		{[]string{"key", "rotate", "--kms", "env://ASS_TEST_KEY"}, "key: key rotate works on local:// key files only, not env://"},
		{[]string{"key", "rotate", "--kms", "awskms://alias/x?region=eu-west-1"}, "not awskms://"},
		{[]string{"rewrap", "x"}, "rewrap: wrong number of arguments"},
		{[]string{"rewrap", "--from-kms", "local://" + keyFile, "--kms", "local://" + keyFile}, "rewrap: --from-kms names the same key as --kms"},
		{[]string{"rewrap", "--from-kms", "vault://x"}, `rewrap: unknown --from-kms scheme in "vault://x"`},
	} {
		assert.Contains(t, b.fails(exitUsage, "", tc.args...), tc.want, "ass %q", tc.args)
	}
	// A key file that is not this vault's is refused before it is rotated.
	other := filepath.Join(t.TempDir(), "other")
	_, err = localkms.GenerateKeyFile(other)
	require.NoError(t, err)
	before, err := os.ReadFile(other)
	require.NoError(t, err)
	assert.Contains(t, b.fails(exitError, "", "key", "rotate", "--kms", "local://"+other), "integrity check failed")
	after, err := os.ReadFile(other)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

func TestRewrapFromKMS(t *testing.T) {
	t.Parallel()
	b := newAccessBox(t)
	want := fillVault(t, b)
	oldKey := filepath.Join(b.home, "key")
	tok, _ := b.token("token", "request", "--scope", "secrets:read:prod/api")
	newKey := filepath.Join(t.TempDir(), "keys", "new")

	// The new key alone cannot open the vault before the rewrap.
	other := filepath.Join(t.TempDir(), "other")
	_, err := localkms.GenerateKeyFile(other)
	require.NoError(t, err)
	assert.Contains(t, b.fails(exitError, "", "get", "prod/api", "--kms", "local://"+other), "integrity check failed")
	assert.Contains(t, b.fails(exitError, "", "rewrap", "--from-kms", "local://"+filepath.Join(t.TempDir(), "none")), "ass: --from-kms: no key file at")
	// A failed open creates no key file.
	b.fails(exitError, "", "rewrap", "--from-kms", "local://"+other, "--kms", "local://"+newKey)
	assert.NoFileExists(t, newKey)

	// Migrate to a new key file, which is created.
	out := b.ok("", "rewrap", "--from-kms", "local://"+oldKey, "--kms", "local://"+newKey)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3, out)
	assert.Regexp(t, `^Created key file `+regexp.QuoteMeta(newKey)+` \(key id k-\S+\)$`, lines[0])
	assert.Equal(t, "Rewrapped 6 data keys in 3 secrets (0 already current)", lines[1])
	assert.Equal(t, "The vault now opens with --kms local://"+newKey+" alone: local://"+oldKey+" is no longer needed", lines[2])
	fi, err := os.Stat(newKey)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// The old key can go: everything reads with the new one alone.
	require.NoError(t, os.Remove(oldKey))
	b.env["ASS_KMS"] = "local://" + newKey
	checkValues(t, b, want)
	assert.Equal(t, canary, b.ok("", "get", "prod/api", "--token", tok), "tokens survive a migration")
	assert.Regexp(t, `^ok: `, b.ok("", "audit", "--verify"), "the audit trail survives a migration")
	b.ok("new", "set", "prod/new", "--tier", "standard")
	want["prod/new"] = "new"
	assert.Equal(t, "Rewrapped 0 data keys in 4 secrets (7 already current)\n", b.ok("", "rewrap"))

	// A key file rotated without a complete rewrap still has data keys under
	// its earlier keys: --from-kms reaches all of them.
	_, err = localkms.RotateKeyFile(newKey)
	require.NoError(t, err)
	b.ok("api-v2", "set", "prod/api")
	want["prod/api"] = "api-v2"
	// Then on to another provider: a key in an environment variable.
	var raw [32]byte
	_, err = rand.Read(raw[:])
	require.NoError(t, err)
	b.env["ASS_TEST_KEY"] = base64.StdEncoding.EncodeToString(raw[:])
	j := decodeObject(t, b.ok("", "rewrap", "--from-kms", "local://"+newKey, "--kms", "env://ASS_TEST_KEY", "--json"))
	assert.EqualValues(t, 8, j["rewrapped"])
	assert.EqualValues(t, 0, j["current"])
	assert.NotContains(t, j, "created_key_file")
	require.NoError(t, os.Remove(newKey))
	b.env["ASS_KMS"] = "env://ASS_TEST_KEY"
	checkValues(t, b, want)
	assert.Equal(t, canary, b.ok("", "get", "prod/api", "--version", "v1"))
	// Running it again is harmless.
	assert.Equal(t, "Rewrapped 0 data keys in 4 secrets (8 already current)\n", b.ok("", "rewrap"))
}

// TestRewrapProgress runs rewrap in process with stderr as a terminal.
func TestRewrapProgress(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	newCLI := func(tty bool, stdin string) (*cli, *bytes.Buffer, *bytes.Buffer) {
		c, out, errb := newTestCLI(t, home, stdin)
		c.stderrTTY = tty
		return c, out, errb
	}
	c, _, errb := newCLI(false, "")
	require.Equal(t, exitOK, c.run([]string{"init"}), errb.String())
	for i := range 5 {
		c, _, errb = newCLI(false, fmt.Sprintf("v%d", i))
		require.Equal(t, exitOK, c.run([]string{"set", fmt.Sprintf("p/s%d", i)}), errb.String())
	}
	c, out, errb := newCLI(true, "")
	require.Equal(t, exitOK, c.run([]string{"key", "rotate"}), errb.String())
	assert.Contains(t, out.String(), "Rewrapped 5 data keys in 5 secrets (0 already current)\n")
	assert.Regexp(t, `^\rass: rewrapping… 1/5 secrets(\rass: rewrapping… \d/5 secrets)*\rass: rewrapping… 5/5 secrets\r\x1b\[K$`, errb.String())
	// Not a terminal: no progress.
	c, _, errb = newCLI(false, "")
	require.Equal(t, exitOK, c.run([]string{"key", "rotate"}))
	assert.Empty(t, errb.String())
}
