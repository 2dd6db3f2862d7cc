package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bashComplete loads "ass completion bash" in a real bash and completes the
// command line words (the last one is the word being completed).
func bashComplete(t *testing.T, s *sandbox, words ...string) []string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "ass.bash")
	require.NoError(t, os.WriteFile(script, []byte(s.ok("", "completion", "bash")), 0o600))
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	prog := `source "$1" || exit 9
complete -p ass || exit 8
COMP_WORDS=(ass ` + strings.Join(quoted, " ") + `)
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_ass
printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", prog, "bash", script)
	env := []string{"PATH=" + filepath.Dir(assBin) + ":" + os.Getenv("PATH"), "ASS_HOME=" + s.home, "HOME=" + filepath.Dir(s.home)}
	for k, v := range s.env {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "bash: %s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Equal(t, "complete -o default -F _ass ass", lines[0], "complete -p ass")
	var got []string
	for _, l := range lines[1:] {
		if l != "" {
			got = append(got, l)
		}
	}
	return got
}

// TestCompletionBash completes commands, subcommands, flags, flag values
// and secret paths in a real bash, the paths through the same access
// checks as ass list (issue 17 item 8).
func TestCompletionBash(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok(canary, "set", "production/openai/api-key", "--tier", "standard")
	s.ok(canary, "set", "production/db/password", "--tier", "standard")
	s.ok(canary, "set", "staging/x", "--tier", "standard")

	assert.Equal(t, []string{"versions", "version"}, bashComplete(t, s, "vers"), "in help order")
	assert.Equal(t, []string{"request", "redeem", "revoke"}, bashComplete(t, s, "token", "re"))
	assert.Equal(t, []string{"--tag", "--tier", "--token", "--type"}, bashComplete(t, s, "set", "p/x", "--t"))
	assert.Equal(t, []string{"critical", "sensitive", "standard"}, bashComplete(t, s, "set", "p/x", "--tier", ""))
	assert.Equal(t, []string{"production/db/password", "production/openai/api-key"}, bashComplete(t, s, "get", "prod"))
	assert.Equal(t, []string{"production", "production/db", "production/openai"}, bashComplete(t, s, "run", "--namespace", "pro"))
	assert.Empty(t, bashComplete(t, s, "get", "production/db/password", ""), "get takes one path")
	assert.Equal(t, []string{"bash", "fish", "zsh"}, bashComplete(t, s, "completion", ""))

	// Through a token: only what it may list.
	r := s.run("", "token", "request", "--scope", "secrets:read:staging/*", "--ttl", "10m")
	require.Equal(t, exitOK, r.code, r.stderr)
	s.env["ASS_TOKEN"] = strings.TrimSpace(r.stdout)
	assert.Equal(t, []string{"staging/x"}, bashComplete(t, s, "get", ""))
	s.env["ASS_TOKEN"] = "ast_tok_not-a-real-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	assert.Empty(t, bashComplete(t, s, "get", ""), "an unusable token lists nothing")
	s.env["ASS_TOKEN"] = ""
	s.env["ASS_AGENT_KEY"] = "ast_agent_0123"
	assert.Empty(t, bashComplete(t, s, "get", ""), "an agent key may not list")
	s.env["ASS_AGENT_KEY"] = ""
	// Never a value.
	out := s.ok("", "__complete", "get", "")
	assert.NotContains(t, out, canary)
}

// TestCompletionScripts: zsh and fish scripts are printed; zsh parses its
// own; an unknown shell is a usage error.
func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	assert.Contains(t, s.ok("", "completion", "fish"), "complete -c ass")
	zsh := s.ok("", "completion", "zsh")
	assert.Contains(t, zsh, "compdef _ass ass")
	if _, err := exec.LookPath("zsh"); err == nil {
		out, err := exec.Command("zsh", "-n", "-c", zsh).CombinedOutput()
		assert.NoError(t, err, "zsh -n: %s", out)
	}
	assert.Contains(t, s.fails(exitUsage, "", "completion", "tcsh"), `unknown shell "tcsh"`)
	assert.Contains(t, s.fails(exitUsage, "", "completion", "bash", "--json"), "--json does not apply")
}
