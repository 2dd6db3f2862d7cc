package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runChildOf runs "ass ARGS" like sandbox.run, without its checks for a
// failing ass: here the exit status and stderr may be the command's.
func (s *sandbox) runChildOf(stdin string, args ...string) result {
	s.t.Helper()
	cmd := exec.Command(assBin, args...)
	env := []string{"ASS_HOME=" + s.home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASS_") {
			env = append(env, kv)
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
	return r
}

// printVar is a command that prints $1's value exactly.
func printVar(name string) []string {
	return []string{"--", "sh", "-c", `printf %s "$` + name + `"`}
}

func TestRunPassesSecrets(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok(trickyEnv, "import", "--namespace", "prod")
	s.ok("", "set", "prod/sub/NESTED", "nested")
	s.ok("", "set", "prod/1BAD", "bad")
	// Names that are not upper-case variable names are skipped with a
	// warning (see TestRunRefusesHijackVariables).
	r := s.run("", "run", "--namespace", "prod", "--", "true")
	assert.Equal(t, "ass: warning: run: skipped 1 secret in subfolders of prod (--recursive injects NS/A/B as A_B, or give --namespace prod/sub): prod/sub/NESTED\n"+
		"ass: warning: run: skipped 2 secrets whose name is not an upper-case variable name ([A-Z_][A-Z0-9_]*) (--allow-env NAME passes one): prod/1BAD, prod/dotted.name-x\n", r.stderr)
	s.ok("", "delete", "prod/1BAD")
	s.ok("", "delete", "prod/sub/NESTED") // see TestRunSubfolders

	// Values arrive byte-exact; ass prints nothing of its own (ok checks
	// that stderr is empty).
	for _, name := range []string{"PLAIN", "NEWLINES", "CRLF", "SPACES", "DOLLAR", "UNICODE", "MULTI", "BACKSLASH", "CANARY", "EMPTY"} {
		got := s.ok("", append([]string{"run", "--namespace", "prod", "--allow-env", "dotted.name-x"}, printVar(name)...)...)
		want := s.ok("", "get", "prod/"+name)
		assert.Equal(t, want, got, "$%s", name)
	}
	// Only direct children with variable names; the rest of the
	// environment is kept.
	s.env["FROM_PARENT"] = "parent"
	out := s.ok("", "run", "--namespace", "prod", "--allow-env", "dotted.name-x", "--", "sh", "-c", `printf '%s|%s|%s' "${NESTED-unset}" "$FROM_PARENT" "$dotted_name"`)
	assert.Equal(t, "unset|parent|", out)
	out = s.ok("", "run", "--namespace", "prod", "--allow-env", "dotted.name-x", "--", "env")
	assert.Contains(t, out, "\ndotted.name-x=1\n", "names with . and - are passed when allowed")
	assert.Contains(t, out, "\nFROM_PARENT=parent\n")
	assert.NotContains(t, out, "1BAD=")
	assert.NotContains(t, out, "NESTED=")

	// Arguments after "--" are the command's, flags included.
	out = s.ok("", "run", "--namespace", "prod", "--allow-env", "dotted.name-x", "--", "sh", "-c", `printf '%s ' "$@"`, "sh", "--namespace", "--", "-x", "")
	assert.Equal(t, "--namespace -- -x  ", out)
	// stdin is the command's.
	assert.Equal(t, "piped input", s.ok("piped input", "run", "--namespace", "prod", "--allow-env", "dotted.name-x", "--", "cat"))
}

func TestRunExitStatus(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("", "set", "ns/VAR", canary)
	for _, tc := range []struct {
		script string
		code   int
	}{
		{"exit 0", 0},
		{"exit 1", 1},
		{"exit 2", 2},
		{"exit 7", 7},
		{"exit 255", 255},
		{`kill -TERM $$`, 128 + int(syscall.SIGTERM)},
		{`kill -KILL $$`, 128 + int(syscall.SIGKILL)},
	} {
		r := s.runChildOf("", "run", "--namespace", "ns", "--", "sh", "-c", "echo out; echo err >&2; "+tc.script)
		assert.Equal(t, tc.code, r.code, "sh -c %q", tc.script)
		assert.Equal(t, "out\n", r.stdout, "sh -c %q", tc.script)
		assert.Equal(t, "err\n", r.stderr, "sh -c %q: ass printed something of its own", tc.script)
	}
	// The command's stderr is its own, secrets included.
	r := s.runChildOf("", "run", "--namespace", "ns", "--", "sh", "-c", `printf %s "$VAR" >&2; exit 3`)
	assert.Equal(t, 3, r.code)
	assert.Equal(t, canary, r.stderr)

	// Commands that cannot run: 127 and 126, one line from ass.
	stderr := s.fails(127, "", "run", "--namespace", "ns", "--", "no-such-command-ass-test")
	assert.Equal(t, "ass: run: no-such-command-ass-test: command not found\n", stderr)
	s.fails(127, "", "run", "--namespace", "ns", "--", filepath.Join(t.TempDir(), "missing"))
	notExec := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\necho hi\n"), 0o600))
	stderr = s.fails(126, "", "run", "--namespace", "ns", "--", notExec)
	assert.Equal(t, "ass: run: "+notExec+": permission denied\n", stderr)
}

func TestRunKeepExisting(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("", "set", "ns/VAR", "from-vault")
	s.ok("", "set", "ns/ONLY_VAULT", "vault-only")
	s.env["VAR"] = "from-env"
	assert.Equal(t, "from-vault", s.ok("", append([]string{"run", "--namespace", "ns"}, printVar("VAR")...)...))
	assert.Equal(t, "from-env", s.ok("", append([]string{"run", "--namespace", "ns", "--keep-existing"}, printVar("VAR")...)...))
	assert.Equal(t, "vault-only", s.ok("", append([]string{"run", "--keep-existing", "--namespace", "ns"}, printVar("ONLY_VAULT")...)...))
	// The secret replaces the inherited variable: exactly one definition.
	out := s.ok("", "run", "--namespace", "ns", "--", "env")
	assert.Equal(t, 1, strings.Count(out, "\nVAR="), out)
}

func TestRunTwoNamespaces(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("A=base-a\nB=base-b\n", "import", "--namespace", "base")
	s.ok("C=over-c\n", "import", "--namespace", "over")
	script := []string{"--", "sh", "-c", `printf '%s %s %s' "$A" "$B" "$C"`}
	assert.Equal(t, "base-a base-b over-c", s.ok("", append([]string{"run", "--namespace", "base", "--namespace", "over"}, script...)...))
	// --keep-existing still lets the environment win over both.
	s.env["B"] = "env-b"
	assert.Equal(t, "base-a env-b over-c", s.ok("", append([]string{"run", "--namespace", "base", "--namespace", "over", "--keep-existing"}, script...)...))
	// An empty namespace adds nothing, with a warning (TestRunEmptyNamespace).
	s.env["B"] = ""
	r := s.run("", append([]string{"run", "--namespace", "none"}, script...)...)
	assert.Equal(t, "  ", r.stdout)
}

func TestRunWarnings(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("", "set", "ns/GOOD", "good")
	s.ok("", "set", "ns/OLD", canary)
	s.ok("", "update", "ns/OLD", "--expires-at", "2001-01-01T00:00:00Z")
	s.ok("a\x00b", "set", "ns/NUL", "--raw")
	s.ok("\xff\xfe", "set", "ns/LATIN", "--raw")
	r := s.run("", "run", "--namespace", "ns", "--", "sh", "-c", `printf '%s|%s|%s' "$GOOD" "${OLD-unset}" "${NUL-unset}"; printf %s "$LATIN" | od -An -tx1`)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "good|unset|unset ff fe\n", r.stdout, "non-UTF-8 values are passed")
	assert.Equal(t, ""+
		"ass: warning: run: skipped 1 secret that expired: ns/OLD (expired 2001-01-01T00:00:00Z)\n"+
		"ass: warning: run: skipped 1 secret whose value holds a NUL byte: ns/NUL\n", r.stderr)
}

func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("", "set", "ns/VAR", canary)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--namespace", "ns", "env"}, `run: missing "--" before the command: want -- COMMAND [ARG...]`},
		{[]string{"run", "--namespace", "ns"}, `run: missing "--" before the command`},
		{[]string{"run", "--namespace", "ns", "--"}, "run: wrong number of arguments: want -- COMMAND [ARG...]"},
		{[]string{"run", "env", "--namespace", "ns", "--", "env"}, `run: unexpected argument before "--"`},
		{[]string{"run", "--", "env"}, "run: --namespace is required"},
		{[]string{"run", "--namespace", "", "--", "env"}, "run: invalid --namespace: empty namespace"},
		{[]string{"run", "--namespace", "ns", "--json", "--", "env"}, "run: --json does not apply"},
		{[]string{"run", "--namespace", "ns", "--bogus", "--", "env"}, "run: unknown flag --bogus"},
	} {
		stderr := s.fails(exitUsage, "", tc.args...)
		assert.Contains(t, stderr, tc.want, "ass %q", tc.args)
		assert.Contains(t, stderr, `(see "ass help run")`, "ass %q", tc.args)
	}
	// --help after "--" belongs to the command.
	assert.Contains(t, s.ok("", "run", "--namespace", "ns", "--", "sh", "-c", `echo "$1"`, "sh", "--help"), "--help")
	help := s.ok("", "help", "run")
	assert.True(t, strings.HasPrefix(help, "Usage: ass run [FLAGS] -- COMMAND [ARG...]\n"), help)
	for _, want := range []string{"--namespace NS", "--keep-existing", "repeatable", "128+N", "127"} {
		assert.Contains(t, help, want)
	}
	// No vault: an error before anything runs.
	other := newSandbox(t)
	stderr := other.fails(exitError, "", "run", "--namespace", "ns", "--", "sh", "-c", "echo ran")
	assert.Contains(t, stderr, `no vault at`)
}

// TestRunForwardsSignals sends SIGTERM and SIGINT to ass while its command
// runs: the command gets them and ass exits with the command's status.
func TestRunForwardsSignals(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("", "set", "ns/VAR", canary)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		script := `trap 'echo "got $VAR"; exit 42' ` + strings.TrimPrefix(sigName(sig), "SIG") + `; echo ready; while :; do sleep 0.05; done`
		cmd := exec.Command(assBin, "run", "--namespace", "ns", "--", "sh", "-c", script)
		cmd.Env = append(os.Environ(), "ASS_HOME="+s.home)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := bufio.NewScanner(stdout)
		require.True(t, lines.Scan(), "no output from the command")
		require.Equal(t, "ready", lines.Text())
		require.NoError(t, cmd.Process.Signal(sig))
		done := make(chan error, 1)
		go func() {
			var rest []string
			for lines.Scan() {
				rest = append(rest, lines.Text())
			}
			assert.Equal(t, []string{"got " + canary}, rest, "%v", sig)
			done <- cmd.Wait()
		}()
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%v: ass run did not exit", sig)
		}
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%v", sig)
		assert.Equal(t, 42, ee.ExitCode(), "%v: exit status", sig)
		assert.Empty(t, stderr.String(), "%v", sig)
	}
}

func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

func TestChildEnv(t *testing.T) {
	base := []string{"PATH=/bin", "A=env-a", "B=env-b", "EMPTY="}
	vars := map[string]string{"A": "v-a", "C": "v-c", "EMPTY": "v-empty"}
	assert.Equal(t, []string{"PATH=/bin", "B=env-b", "A=v-a", "C=v-c", "EMPTY=v-empty"}, childEnv(base, vars, false))
	assert.Equal(t, []string{"PATH=/bin", "A=env-a", "B=env-b", "EMPTY=", "C=v-c"}, childEnv(base, vars, true),
		"--keep-existing: a variable set to the empty string exists")
}

// TestRunEmptyNamespace: a namespace that injects nothing is a warning, and
// with --strict an error that starts nothing (issue 17 item 3).
func TestRunEmptyNamespace(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("", "set", "production/db/PASSWORD", "pw")
	s.ok("", "set", "other/lower", "x")

	r := s.run("", "run", "--namespace", "nope", "--", "sh", "-c", "printf ran")
	assert.Equal(t, 0, r.code)
	assert.Equal(t, "ran", r.stdout)
	assert.Equal(t, "ass: warning: run: namespace nope injects nothing: no secrets directly under it (--strict makes this an error)\n", r.stderr)

	stderr := s.fails(exitNotFound, "", "run", "--strict", "--namespace", "nope", "--", "sh", "-c", "printf ran")
	assert.Equal(t, "ass: run: namespace nope injects nothing: no secrets directly under it (--strict); nothing was started\n", stderr)
	stderr = s.fails(exitNotFound, "", "run", "--strict", "--namespace", "other", "--", "sh", "-c", "printf ran")
	assert.Contains(t, stderr, "namespace other injects nothing: every secret under it was skipped")

	// Every secret in a subfolder: both warnings.
	r = s.run("", "run", "--namespace", "production", "--", "sh", "-c", `printf %s "${PASSWORD-unset}"`)
	assert.Equal(t, "unset", r.stdout)
	assert.Equal(t, "ass: warning: run: skipped 1 secret in subfolders of production (--recursive injects NS/A/B as A_B, or give --namespace production/db): production/db/PASSWORD\n"+
		"ass: warning: run: namespace production injects nothing: no secrets directly under it (--strict makes this an error)\n", r.stderr)
	// Covered by another --namespace: no warning about the subfolder.
	assert.Equal(t, "pw", s.ok("", "run", "--namespace", "production/db", "--", "sh", "-c", `printf %s "$PASSWORD"`))
}

// TestRunRecursive: --recursive injects NS/A/B as A_B; a name two secrets
// map to is an error naming both (issue 17 item 3).
func TestRunRecursive(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("", "set", "production/DB/PASSWORD", "pw")
	s.ok("", "set", "production/API_KEY", "k")
	s.ok("", "set", "production/cache/url", "u")
	r := s.run("", "run", "--recursive", "--namespace", "production", "--", "sh", "-c", `printf '%s|%s|%s' "$DB_PASSWORD" "$API_KEY" "${cache_url-unset}"`)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "pw|k|unset", r.stdout)
	assert.Contains(t, r.stderr, "production/cache/url", "a mapped name that is not upper case is refused with a warning")

	s.ok("", "set", "production/DB_PASSWORD", "clash")
	stderr := s.fails(exitError, "", "run", "--recursive", "--namespace", "production", "--", "true")
	assert.Contains(t, stderr, "variable DB_PASSWORD is defined twice")
}
