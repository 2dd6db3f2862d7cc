package mcpserver_test

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/mcpserver"
)

// TestMain lets the test binary serve as the command run_with_secrets
// runs: "<test binary> mcp-helper MODE ARGS…".
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "mcp-helper" {
		helper(os.Args[2], os.Args[3:])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// encodings are the forms of a value that run_with_secrets masks.
func encodings(v string) []string {
	b := []byte(v)
	return []string{v, base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)), url.QueryEscape(v), url.PathEscape(v)}
}

func helper(mode string, args []string) {
	switch mode {
	case "print": // every encoding of each named variable, on stdout and stderr
		for _, name := range args {
			for _, f := range encodings(os.Getenv(name)) {
				fmt.Printf("%s=%s\n", name, f)
				fmt.Fprintf(os.Stderr, "%s: <%s>\n", name, f)
			}
		}
		fmt.Printf("ASS_TOKEN=%q KEEP=%q\n", os.Getenv("ASS_TOKEN"), os.Getenv("KEEP"))
	case "sleep":
		fmt.Println("sleeping")
		time.Sleep(time.Minute)
	case "spawn": // a grandchild that would outlive a kill of this process alone
		child := exec.Command(os.Args[0], "mcp-helper", "sleep")
		if err := child.Start(); err != nil {
			fmt.Println("spawn:", err)
			return
		}
		fmt.Printf("grandchild %d\n", child.Process.Pid)
		time.Sleep(time.Minute)
	case "flood":
		chunk := strings.Repeat("y", 4096)
		for range 256 {
			fmt.Print(chunk)
			fmt.Fprint(os.Stderr, chunk)
		}
	case "straddle": // many values, padding, then one value crossing the kept bytes
		n, _ := strconv.Atoi(args[1])
		v := os.Getenv(args[0])
		fmt.Print(strings.Repeat(v, 10) + strings.Repeat("x", n) + v)
	case "exit":
		os.Exit(7)
	}
}

// runEnv is a vault, a token reading dev/* up to critical, and a server
// allowing the test binary's helper modes.
func runEnv(t *testing.T, opts mcpserver.Options) (*env, *mcpClient) {
	t.Helper()
	e := newEnv(t)
	tok := e.token(t, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/*"}})
	if opts.AllowRun == nil {
		opts.AllowRun = []string{os.Args[0] + " mcp-helper *"}
	}
	return e, &mcpClient{t: t, cs: e.connect(t, mcpserver.Token(tok), &opts)}
}

func (c *mcpClient) run(args map[string]any) (*mcpserver.RunOutput, string) {
	c.t.Helper()
	res := call(c.t, c.cs, "run_with_secrets", args)
	if res.IsError {
		return nil, text(res)
	}
	var out mcpserver.RunOutput
	structured(c.t, res, &out)
	return &out, text(res)
}

// TestRunWithSecretsMasksValuesAndEncodings: the command gets the secrets
// in its environment (and not the server's ASS_* variables); its stdout
// and stderr come back with each value and its base64, base64url, hex and
// URL-encoded forms replaced by [REDACTED:NAME]; nothing of a value
// reaches the result, the log or the audit trail.
func TestRunWithSecretsMasksValuesAndEncodings(t *testing.T) {
	e, c := runEnv(t, mcpserver.Options{RunEnv: []string{"ASS_TOKEN=server-own-token", "KEEP=kept", "DB_PASSWORD=from-env"}})
	out, all := c.run(map[string]any{
		"argv": []string{os.Args[0], "mcp-helper", "print", "DB_PASSWORD", "SIGNING_KEY", "API_KEY"},
		"env":  map[string]string{"DB_PASSWORD": "dev/app/db-password", "SIGNING_KEY": "dev/app/signing-key", "API_KEY": "dev/app/api-key"},
	})
	require.NotNil(t, out, all)
	assert.Equal(t, 0, out.ExitCode)
	for _, name := range []string{"DB_PASSWORD", "SIGNING_KEY", "API_KEY"} {
		assert.Equal(t, 9, strings.Count(out.Stdout, name+"=[REDACTED:"+name+"]"), "stdout forms of %s:\n%s", name, out.Stdout)
		assert.Equal(t, 9, strings.Count(out.Stderr, name+": <[REDACTED:"+name+"]>"), "stderr forms of %s:\n%s", name, out.Stderr)
	}
	assert.Contains(t, out.Stdout, `ASS_TOKEN="" KEEP="kept"`, "ASS_* never reaches the child; the rest of RunEnv does")
	for _, v := range []string{sensitiveValue, criticalValue, standardValue} {
		for _, f := range encodings(v) {
			noCanary(t, "run_with_secrets result", all, f)
			noCanary(t, "log", e.log.String(), f)
			noCanary(t, "audit", e.audit.String(), f)
		}
	}
	assert.NotContains(t, all, "server-own-token")
}

// TestRunWithSecretsRefusals: argv outside the allowlist, loader and
// credential variables, out-of-scope secrets: refused, and nothing runs.
func TestRunWithSecretsRefusals(t *testing.T) {
	marker := t.TempDir() + "/ran"
	_, c := runEnv(t, mcpserver.Options{AllowRun: []string{os.Args[0] + " mcp-helper exit", "touch " + marker}})
	for name, tc := range map[string]struct {
		args map[string]any
		want string
	}{
		"outside allowlist":   {map[string]any{"argv": []string{os.Args[0], "mcp-helper", "print"}, "env": map[string]string{}}, "--allow-run"},
		"shell":               {map[string]any{"argv": []string{"sh", "-c", "touch " + marker}, "env": map[string]string{}}, "--allow-run"},
		"prefix only":         {map[string]any{"argv": []string{os.Args[0], "mcp-helper", "exit", "more"}, "env": map[string]string{}}, "--allow-run"},
		"empty argv":          {map[string]any{"argv": []string{}, "env": map[string]string{}}, "argv is empty"},
		"PATH":                {map[string]any{"argv": []string{"touch", marker}, "env": map[string]string{"PATH": "dev/app/api-key"}}, "not an allowed variable name"},
		"LD_PRELOAD":          {map[string]any{"argv": []string{"touch", marker}, "env": map[string]string{"LD_PRELOAD": "dev/app/api-key"}}, "not an allowed variable name"},
		"BASH_ENV":            {map[string]any{"argv": []string{"touch", marker}, "env": map[string]string{"BASH_ENV": "dev/app/api-key"}}, "not an allowed variable name"},
		"ASS_TOKEN":           {map[string]any{"argv": []string{"touch", marker}, "env": map[string]string{"ASS_TOKEN": "dev/app/api-key"}}, "not an allowed variable name"},
		"lower case":          {map[string]any{"argv": []string{"touch", marker}, "env": map[string]string{"path": "dev/app/api-key"}}, "not an allowed variable name"},
		"out of scope secret": {map[string]any{"argv": []string{"touch", marker}, "env": map[string]string{"K": "prod/app/api-key"}}, "no scope"},
		"missing secret":      {map[string]any{"argv": []string{"touch", marker}, "env": map[string]string{"K": "dev/none"}}, "no such secret"},
	} {
		out, msg := c.run(tc.args)
		assert.Nil(t, out, "%s: want a refusal", name)
		assert.Contains(t, msg, tc.want, name)
		assert.NoFileExists(t, marker, "%s: nothing runs", name)
	}
	out, msg := c.run(map[string]any{"argv": []string{os.Args[0], "mcp-helper", "exit"}, "env": map[string]string{}})
	require.NotNil(t, out, msg)
	assert.Equal(t, 7, out.ExitCode, "the exit status is reported")
}

// TestRunWithSecretsKillsAtTimeout: a command still running at its
// timeout is killed and reported as timed out.
func TestRunWithSecretsKillsAtTimeout(t *testing.T) {
	_, c := runEnv(t, mcpserver.Options{})
	out, msg := c.run(map[string]any{"argv": []string{os.Args[0], "mcp-helper", "sleep"}, "env": map[string]string{}, "timeout_seconds": 1})
	require.NotNil(t, out, msg)
	assert.True(t, out.TimedOut)
	assert.Equal(t, -1, out.ExitCode)
	assert.Equal(t, "sleeping\n", out.Stdout, "output before the kill is kept")
}

// TestRunWithSecretsKillsProcessGroup: what the command started dies
// with it at the timeout.
func TestRunWithSecretsKillsProcessGroup(t *testing.T) {
	_, c := runEnv(t, mcpserver.Options{})
	out, msg := c.run(map[string]any{"argv": []string{os.Args[0], "mcp-helper", "spawn"}, "env": map[string]string{}, "timeout_seconds": 1})
	require.NotNil(t, out, msg)
	require.True(t, out.TimedOut)
	m := regexp.MustCompile(`grandchild (\d+)`).FindStringSubmatch(out.Stdout)
	require.NotNil(t, m, "stdout %q", out.Stdout)
	pid, _ := strconv.Atoi(m[1])
	proc, _ := os.FindProcess(pid)
	assert.Eventually(t, func() bool { return proc.Signal(syscall.Signal(0)) != nil }, 10*time.Second, 20*time.Millisecond,
		"grandchild %d still runs after the timeout", pid)
}

// TestRunWithSecretsCapsOutput: each stream is cut at OutputLimit bytes
// and reported truncated.
func TestRunWithSecretsCapsOutput(t *testing.T) {
	_, c := runEnv(t, mcpserver.Options{OutputLimit: 1000})
	out, msg := c.run(map[string]any{"argv": []string{os.Args[0], "mcp-helper", "flood"}, "env": map[string]string{}})
	require.NotNil(t, out, msg)
	assert.Equal(t, strings.Repeat("y", 1000), out.Stdout)
	assert.Equal(t, strings.Repeat("y", 1000), out.Stderr)
	assert.True(t, out.StdoutTruncated)
	assert.True(t, out.StderrTruncated)
	assert.Equal(t, 0, out.ExitCode)
}

// TestRunWithSecretsMasksAcrossTheCap: a value cut by the cap leaks no
// prefix, even after earlier (shorter) replacements shift the text.
func TestRunWithSecretsMasksAcrossTheCap(t *testing.T) {
	const limit = 1000
	_, c := runEnv(t, mcpserver.Options{OutputLimit: limit})
	v := sensitiveValue
	longest := len(hex.EncodeToString([]byte(v)))
	for _, start := range []int{limit - 3, limit, limit + 5, limit + longest - len(v)/2} {
		pad := start - 10*len(v)
		out, msg := c.run(map[string]any{"argv": []string{os.Args[0], "mcp-helper", "straddle", "V", strconv.Itoa(pad)}, "env": map[string]string{"V": "dev/app/db-password"}})
		require.NotNil(t, out, msg)
		assert.NotContains(t, out.Stdout, v[:6], "value starting at byte %d: a prefix leaked", start)
		assert.True(t, out.StdoutTruncated)
	}
}
