package main

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvNameReason(t *testing.T) {
	for name, want := range map[string]envReason{
		"DATABASE_URL": envOK, "_X": envOK, "A1": envOK, "OPENAI_API_KEY": envOK,
		"PATH": envDangerous, "BASH_ENV": envDangerous, "ENV": envDangerous, "IFS": envDangerous,
		"LD_PRELOAD": envDangerous, "LD_LIBRARY_PATH": envDangerous, "LD_AUDIT": envDangerous,
		"DYLD_INSERT_LIBRARIES": envDangerous, "BASH_FUNC_echo%%": envBadName, "BASH_FUNC_X": envDangerous,
		"NODE_OPTIONS": envDangerous, "PYTHONPATH": envDangerous, "GIT_SSH_COMMAND": envDangerous,
		"GIT_CONFIG_COUNT": envDangerous, "PERL5OPT": envDangerous, "PS4": envDangerous,
		"SHELLOPTS": envDangerous, "BASHOPTS": envDangerous, "PROMPT_COMMAND": envDangerous,
		"JAVA_TOOL_OPTIONS": envDangerous, "_JAVA_OPTIONS": envDangerous, "HOME": envDangerous,
		"HTTPS_PROXY": envDangerous, "GLIBC_TUNABLES": envDangerous, "JAVA_HOME": envDangerous,
		"NPM_CONFIG_SCRIPT_SHELL": envDangerous, "RUSTC_WRAPPER": envDangerous, "NODE_ENV": envOK,
		"ASS_TOKEN": envOwn, "ASS_KMS": envOwn,
		"lower": envBadName, "Mixed": envBadName, "A.B": envBadName, "A-B": envBadName, "1A": envBadName, "": envBadName,
	} {
		assert.Equal(t, want, envNameReason(name), "envNameReason(%q)", name)
	}
	p := newEnvPolicy("env://VAULT_KEY", []string{"PATH", "lower"})
	assert.Equal(t, envOK, p.check("PATH"), "--allow-env PATH")
	assert.Equal(t, envOK, p.check("lower"), "--allow-env lower")
	assert.Equal(t, envOwn, p.check("VAULT_KEY"), "the env:// key variable")
	assert.Equal(t, envDangerous, p.check("LD_PRELOAD"))
}

// TestRunRefusesHijackVariables plants variables that take over a shell or
// the dynamic linker, as a principal that may only write secrets could, and
// runs a real bash: none of them reaches it, the BASH_ENV payload never
// runs, and ass says what it skipped.
func TestRunRefusesHijackVariables(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	require.NoError(t, err, "bash is needed for this test")
	s := newSandbox(t)
	s.init()
	dir := t.TempDir()
	leak := filepath.Join(dir, "leak")
	evil := filepath.Join(dir, "evil")
	require.NoError(t, os.Mkdir(evil, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(evil, "echo"), []byte("#!/bin/sh\ntouch "+leak+".path\n"), 0o700))
	payload := "$(env > " + leak + ")"
	s.ok("", "set", "prod/SECRET", canary)
	planted := map[string]string{
		"BASH_ENV": payload, "ENV": payload, "PATH": evil, "LD_PRELOAD": filepath.Join(dir, "evil.so"),
		"LD_LIBRARY_PATH": evil, "NODE_OPTIONS": "--require " + leak, "PYTHONPATH": evil,
		"GIT_SSH_COMMAND": "touch " + leak, "IFS": "e", "PERL5OPT": "-Mevil", "PS4": payload,
		"SHELLOPTS": "xtrace", "BASHOPTS": "xtrace", "PROMPT_COMMAND": "touch " + leak,
		"BASH_FUNC_X": payload, "HOME": evil, "ASS_BACKEND": "file://" + evil,
	}
	for k, v := range planted {
		s.ok(v, "set", "prod/"+k, "--raw")
	}
	s.ok("", "set", "prod/lower_case", "x")
	r := s.run("", "run", "--namespace", "prod", "--", bash, "-c", `echo started; printf '%s' "$SECRET"`)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "started\n"+canary, r.stdout)
	assert.NoFileExists(t, leak, "the planted BASH_ENV ran")
	assert.NoFileExists(t, leak+".path", "the planted PATH was used")
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	require.Len(t, lines, 3, r.stderr)
	assert.Equal(t, "ass: warning: run: skipped 16 secrets whose name changes how programs are found, loaded or run (--allow-env NAME passes one): "+
		"prod/BASHOPTS, prod/BASH_ENV, prod/BASH_FUNC_X, prod/ENV, prod/GIT_SSH_COMMAND, prod/HOME, prod/IFS, prod/LD_LIBRARY_PATH, prod/LD_PRELOAD, prod/NODE_OPTIONS and 6 more",
		lines[0])
	assert.Equal(t, "ass: warning: run: skipped 1 secret whose name is ass's own configuration or credential (--allow-env NAME passes one): prod/ASS_BACKEND", lines[1])
	assert.Equal(t, "ass: warning: run: skipped 1 secret whose name is not an upper-case variable name ([A-Z_][A-Z0-9_]*) (--allow-env NAME passes one): prod/lower_case", lines[2])

	// The child's environment holds none of them: the human's own PATH
	// and HOME are what the command sees.
	s.env["HOME_MARK"] = "human"
	out := s.run("", "run", "--namespace", "prod", "--", "env").stdout
	for k, v := range planted {
		assert.NotContains(t, out, "\n"+k+"="+v+"\n", "%s reached the command", k)
	}
	assert.Contains(t, out, "\nPATH="+os.Getenv("PATH")+"\n")

	// --allow-env lets one name through, and only that one.
	r = s.run("", "run", "--namespace", "prod", "--allow-env", "PERL5OPT", "--allow-env", "lower_case", "--", bash, "-c", `printf '%s|%s|%s' "$PERL5OPT" "$lower_case" "${BASH_ENV-unset}"`)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "-Mevil|x|unset", r.stdout)
	assert.NotContains(t, r.stderr, "prod/PERL5OPT")
	assert.NotContains(t, r.stderr, "prod/lower_case")
	assert.NoFileExists(t, leak)
	assert.Contains(t, s.fails(exitUsage, "", "run", "--namespace", "prod", "--allow-env", "A=B", "--", "true"), "invalid --allow-env")
}

// TestRunDropsOwnCredentials: the command never inherits ass's own
// variables (ASS_*, the master key of an env:// URL) unless named.
func TestRunDropsOwnCredentials(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	store := filepath.Join(t.TempDir(), "store")
	s.env["VAULT_KEY"] = key
	s.env["ASS_KMS"] = "env://VAULT_KEY"
	s.env["ASS_BACKEND"] = "file://" + store
	s.env["OTHER_VAR"] = "kept"
	s.init()
	s.ok("", "set", "prod/SECRET", canary, "--tier", "standard")
	// With a token set, run reads through it (and every credential is
	// dropped from the command's environment).
	r := s.run("", "token", "request", "--scope", "secrets:read:prod/*")
	require.Equal(t, 0, r.code, r.stderr)
	s.env["ASS_TOKEN"] = strings.TrimSpace(r.stdout)
	s.env["ASS_AGENT_KEY"] = "not-a-real-agent-key"
	out := s.ok("", "run", "--namespace", "prod", "--", "env")
	assert.Contains(t, out, "\nSECRET="+canary+"\n")
	assert.Contains(t, out, "\nOTHER_VAR=kept\n")
	for _, k := range []string{"VAULT_KEY", "ASS_KMS", "ASS_BACKEND", "ASS_TOKEN", "ASS_AGENT_KEY", "ASS_HOME"} {
		assert.NotContains(t, "\n"+out, "\n"+k+"=", "%s reached the command", k)
	}
	assert.NotContains(t, out, key)
	// The human may pass one on purpose.
	out = s.ok("", "run", "--namespace", "prod", "--allow-env", "ASS_BACKEND", "--", "env")
	assert.Contains(t, out, "\nASS_BACKEND=file://"+store+"\n")
	assert.NotContains(t, out, key)
}

func TestRunNameClashFails(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("A=base-a\nB=base-b\n", "import", "--namespace", "base")
	s.ok("B=over-b\nC=over-c\n", "import", "--namespace", "over")
	stderr := s.fails(exitError, "", "run", "--namespace", "base", "--namespace", "over", "--", "sh", "-c", "echo ran")
	assert.Equal(t, "ass: run: variable B is defined twice, by base/B and by over/B: remove one, or run with one of the namespaces\n", stderr)
	// The same namespace twice is no clash.
	assert.Equal(t, "base-b", s.ok("", "run", "--namespace", "base", "--namespace", "base/", "--", "sh", "-c", `printf %s "$B"`))
}

func TestImportWarnsHijackNames(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	r := s.run("A=1\nBASH_ENV='$(id)'\nLD_PRELOAD=/tmp/x.so\nASS_TOKEN=x\nlower=1\n", "import", "--namespace", "prod")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, ""+
		"ass: warning: import: 2 variables whose name changes how programs are found, loaded or run; \"ass run\" will not pass them without --allow-env NAME: BASH_ENV (line 2), LD_PRELOAD (line 3)\n"+
		"ass: warning: import: 1 variable whose name is ass's own configuration or credential; \"ass run\" will not pass them without --allow-env NAME: ASS_TOKEN (line 4)\n",
		r.stderr)
}
