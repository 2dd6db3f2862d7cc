package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	mcpSensitive = "CANARY-mcp-sensitive-3c9e"
	mcpCritical  = "CANARY-mcp-critical-a71f"
)

// mcpSandbox is a vault with a standard, a sensitive and a critical
// secret under dev/app, and a token for the standard one only.
func mcpSandbox(t *testing.T) (*sandbox, string) {
	s := newSandbox(t)
	s.init()
	s.ok("std-mcp-value", "set", "dev/app/api-key", "--tier", "standard")
	s.ok(mcpSensitive, "set", "dev/app/db-password", "--tier", "sensitive")
	s.ok(mcpCritical, "set", "dev/app/signing-key", "--tier", "critical")
	r := s.run("", "token", "request", "--scope", "secrets:read:dev/app/api-key", "--description", "mcp test")
	require.Equal(t, 0, r.code, "token request: %s", r.stderr)
	return s, strings.TrimSpace(r.stdout)
}

// command is the exec.Cmd of "ass args…" in the sandbox's environment.
func (s *sandbox) command(args ...string) *exec.Cmd {
	cmd := exec.Command(assBin, args...)
	vars := map[string]string{"ASS_HOME": s.home, "USER": "tester", "HOME": filepath.Dir(s.home)}
	maps.Copy(vars, s.env)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASS_") && !strings.HasPrefix(kv, "USER=") && !strings.HasPrefix(kv, "HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range vars {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	return cmd
}

// lockedWriter collects a subprocess's stderr.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
func (w *lockedWriter) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.b.String() }

// startMCP starts "ass mcp args…" as an MCP client would and connects the
// SDK's client to it over stdio.
func startMCP(t *testing.T, s *sandbox, args ...string) (*mcp.ClientSession, *lockedWriter) {
	t.Helper()
	cmd := s.command(append([]string{"mcp"}, args...)...)
	stderr := &lockedWriter{}
	cmd.Stderr = stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "ass-test", Version: "v0"}, nil)
	cs, err := client.Connect(context.Background(), &mcp.CommandTransport{Command: cmd}, nil)
	require.NoError(t, err, "connect to ass mcp (stderr %q)", stderr.String())
	t.Cleanup(func() { cs.Close() })
	return cs, stderr
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (*mcp.CallToolResult, string) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	require.NoError(t, err, "CallTool(%s): a refusal must be a result, not a protocol error", name)
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	if res.StructuredContent != nil {
		j, _ := json.Marshal(res.StructuredContent)
		b.Write(j)
	}
	return res, b.String()
}

// TestMCPStdioThroughToken: "ass mcp" started as a subprocess with
// ASS_TOKEN serves every tool over stdio through the token: it lists the
// tools, reads the secret in scope, refuses the rest as tool results, and
// never shows a value or the token on stderr. The calls are audited via
// mcp.
func TestMCPStdioThroughToken(t *testing.T) {
	s, tok := mcpSandbox(t)
	s.env["ASS_TOKEN"] = tok
	cs, stderr := startMCP(t, s)

	init := cs.InitializeResult()
	require.NotNil(t, init)
	assert.Equal(t, "agentvault", init.ServerInfo.Name)
	tools, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
		assert.NotNil(t, tl.Annotations, tl.Name)
		assert.NotNil(t, tl.InputSchema, tl.Name)
	}
	sort.Strings(names)
	assert.Equal(t, []string{"check_approval_status", "get_secret", "list_secrets", "list_versions", "request_approval", "rotate_secret", "set_secret"}, names)

	res, out := callTool(t, cs, "get_secret", map[string]any{"path": "dev/app/api-key"})
	require.False(t, res.IsError, out)
	assert.Contains(t, out, `"value":"std-mcp-value"`)

	_, out = callTool(t, cs, "list_secrets", map[string]any{})
	assert.Contains(t, out, "dev/app/api-key")
	assert.NotContains(t, out, "db-password", "out-of-scope paths are not named")

	_, out = callTool(t, cs, "list_versions", map[string]any{"path": "dev/app/api-key"})
	assert.Contains(t, out, `"version":"v1"`)

	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"get_secret", map[string]any{"path": "dev/app/db-password"}, "no scope"},
		{"get_secret", map[string]any{"path": "dev/app/nope"}, "no scope"},
		{"set_secret", map[string]any{"path": "dev/app/api-key", "value": "x"}, "no scope"},
		{"rotate_secret", map[string]any{"path": "dev/app/api-key", "value": "x"}, "no scope"},
		{"request_approval", map[string]any{"scopes": []string{"secrets:*:*"}, "reason": "all"}, "ASS_AGENT_KEY"},
		{"check_approval_status", map[string]any{"id": "apr_00000000000000000000"}, "ASS_AGENT_KEY"},
	} {
		res, out := callTool(t, cs, tc.tool, tc.args)
		assert.True(t, res.IsError, "%s: want a refusal, got %s", tc.tool, out)
		assert.Contains(t, out, tc.want, tc.tool)
		assert.NotContains(t, out, mcpSensitive)
	}
	require.NoError(t, cs.Close())
	assert.NotContains(t, stderr.String(), tok, "stderr shows the token")
	assert.NotContains(t, stderr.String(), "std-mcp-value")

	delete(s.env, "ASS_TOKEN")
	audit := s.ok("", "audit", "--json")
	assert.Contains(t, audit, `"via":"mcp"`)
	assert.NotContains(t, audit, "std-mcp-value")
	assert.NotContains(t, audit, mcpSensitive)
}

// TestMCPOperatorWithholdsAboveReveal: --operator warns on stderr, and
// values above --reveal never reach a result or stderr.
func TestMCPOperatorWithholdsAboveReveal(t *testing.T) {
	s, _ := mcpSandbox(t)
	cs, stderr := startMCP(t, s, "--operator")
	for _, p := range []string{"dev/app/db-password", "dev/app/signing-key"} {
		res, out := callTool(t, cs, "get_secret", map[string]any{"path": p})
		require.False(t, res.IsError, out)
		assert.Contains(t, out, `"revealed":false`)
		assert.Contains(t, out, "run_with_secrets")
		assert.NotContains(t, out, mcpSensitive)
		assert.NotContains(t, out, mcpCritical)
	}
	require.NoError(t, cs.Close())
	assert.Contains(t, stderr.String(), "warning: --operator")
	assert.NotContains(t, stderr.String(), "CANARY")

	cs, _ = startMCP(t, s, "--operator", "--reveal", "critical", "--allow-run", "true")
	_, out := callTool(t, cs, "get_secret", map[string]any{"path": "dev/app/signing-key"})
	assert.Contains(t, out, mcpCritical, "--reveal critical reveals critical values")
	tools, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	assert.Len(t, tools.Tools, 8, "run_with_secrets is offered with --allow-run")
}

// TestMCPRefusesBadSetup: no token without --operator, both together, a
// bad --reveal, a non-loopback --http: usage errors, nothing served.
func TestMCPRefusesBadSetup(t *testing.T) {
	s, tok := mcpSandbox(t)
	assert.Contains(t, s.fails(exitUsage, "", "mcp"), "ASS_TOKEN is not set")
	assert.Contains(t, s.fails(exitUsage, "", "mcp", "--operator", "--http", "127.0.0.1:0"), "--http needs a token")
	s.env["ASS_TOKEN"] = tok
	assert.Contains(t, s.fails(exitUsage, "", "mcp", "--operator"), "unset ASS_TOKEN")
	assert.Contains(t, s.fails(exitUsage, "", "mcp", "--reveal", "all"), "--reveal")
	assert.Contains(t, s.fails(exitUsage, "", "mcp", "--http", "0.0.0.0:8080"), "not a loopback address")
	s.env["ASS_TOKEN"] = ""
	s.env["ASS_AGENT_KEY"] = "ast_agent_x"
	assert.Contains(t, s.fails(exitUsage, "", "mcp"), "ASS_TOKEN is not set")
}

// bearer adds an Authorization header to every request.
type bearer struct{ tok string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return http.DefaultTransport.RoundTrip(r)
}

// TestMCPHTTPBearer: with --http the server listens on loopback and
// serves only clients presenting the token as bearer.
func TestMCPHTTPBearer(t *testing.T) {
	s, tok := mcpSandbox(t)
	s.env["ASS_TOKEN"] = tok
	cmd := s.command("mcp", "--http", "127.0.0.1:0")
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stderr = pw
	require.NoError(t, cmd.Start())
	pw.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	m := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/`).FindStringSubmatch(line)
	require.NotNil(t, m, "stderr %q", line)
	assert.NotContains(t, line, tok)
	url := "http://" + m[1] + "/"

	resp, err := http.Post(url, "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no bearer")
	resp, err = (&http.Client{Transport: bearer{"ast_tok_wrong"}}).Post(url, "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "wrong bearer")

	client := mcp.NewClient(&mcp.Implementation{Name: "ass-test", Version: "v0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{tok}}, MaxRetries: -1}, nil)
	require.NoError(t, err)
	defer cs.Close()
	res, out := callTool(t, cs, "get_secret", map[string]any{"path": "dev/app/api-key"})
	require.False(t, res.IsError, out)
	assert.Contains(t, out, "std-mcp-value")
}

// TestMCPStdioApprovalFlowAndWrites: over stdio, an agent's server (its
// key in ASS_AGENT_KEY, a standard token in ASS_TOKEN) writes and rotates
// the secret its token covers, asks for a sensitive one, a human approves
// with "ass approvals approve", check_approval_status switches the server
// to the new token and get_secret then returns the value. The transcript
// is logged (go test -v).
func TestMCPStdioApprovalFlowAndWrites(t *testing.T) {
	s, _ := mcpSandbox(t)
	r := s.run("", "agents", "create", "coder", "--scope", "secrets:*:dev/*")
	require.Equal(t, 0, r.code, r.stderr)
	key := strings.TrimSpace(r.stdout)
	s.env["ASS_AGENT_KEY"] = key
	r = s.run("", "token", "request", "--scope", "secrets:*:dev/app/api-key")
	require.Equal(t, 0, r.code, r.stderr)
	tok := strings.TrimSpace(r.stdout)
	s.env["ASS_TOKEN"] = tok
	cs, stderr := startMCP(t, s, "--reveal", "sensitive")
	delete(s.env, "ASS_TOKEN")
	delete(s.env, "ASS_AGENT_KEY")

	step := func(tool string, args map[string]any) (*mcp.CallToolResult, string) {
		t.Helper()
		res, out := callTool(t, cs, tool, args)
		a, _ := json.Marshal(args)
		t.Logf("→ %s %s\n← isError=%v %s", tool, a, res.IsError, out)
		return res, out
	}
	res, out := step("set_secret", map[string]any{"path": "dev/app/api-key", "value": "std-mcp-value-2", "description": "rotated by the agent"})
	require.False(t, res.IsError, out)
	assert.Contains(t, out, `"action":"updated"`)
	assert.NotContains(t, out, "std-mcp-value-2", "the value is not echoed")
	res, out = step("rotate_secret", map[string]any{"path": "dev/app/api-key", "value": "std-mcp-value-3", "grace_seconds": 60})
	require.False(t, res.IsError, out)
	assert.Contains(t, out, `"replaced":"v2"`)
	res, out = step("get_secret", map[string]any{"path": "dev/app/api-key", "version": "previous"})
	require.False(t, res.IsError, out)
	assert.Contains(t, out, `"value":"std-mcp-value-2"`)

	res, out = step("get_secret", map[string]any{"path": "dev/app/db-password"})
	require.True(t, res.IsError, out)
	res, out = step("request_approval", map[string]any{"scopes": []string{"secrets:read:dev/app/db-password"}, "ttl": "15m", "reason": "run the nightly migration"})
	require.False(t, res.IsError, out)
	m := regexp.MustCompile(`"approval_id":"(apr_[0-9a-f]{20})"`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	id := m[1]
	res, out = step("check_approval_status", map[string]any{"id": id})
	require.False(t, res.IsError, out)
	assert.Contains(t, out, `"status":"pending"`)

	s.ok("", "approvals", "approve", id, "--actor", "alice")
	t.Logf("(human) ass approvals approve %s --actor alice", id)

	res, out = step("check_approval_status", map[string]any{"id": id})
	require.False(t, res.IsError, out)
	assert.Contains(t, out, `"status":"issued"`)
	assert.NotContains(t, out, "ast_tok_", "the new token's value never reaches the model")
	res, out = step("get_secret", map[string]any{"path": "dev/app/db-password"})
	require.False(t, res.IsError, out)
	assert.Contains(t, out, mcpSensitive)
	res, out = step("get_secret", map[string]any{"path": "dev/app/signing-key"})
	require.True(t, res.IsError, out)
	assert.NotContains(t, out, mcpCritical)

	require.NoError(t, cs.Close())
	for _, secret := range []string{tok, key, mcpSensitive, mcpCritical, "std-mcp-value"} {
		assert.NotContains(t, stderr.String(), secret)
	}
}
