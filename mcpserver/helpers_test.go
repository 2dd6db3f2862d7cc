package mcpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
	"github.com/agentvault/agentvault/mcpserver"
)

var ctx = context.Background()

// Canary values: they must never appear in a result, log line or audit
// event unless revealed.
const (
	standardValue  = "std-value-0001"
	sensitiveValue = "CANARY-sensitive-7f3a9c1e"
	criticalValue  = "CANARY-critical-b81d44e2"
)

// lockedBuffer is a goroutine-safe bytes.Buffer (the audit writer and the
// logger write from tool calls running concurrently).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is a vault with three secrets under dev/ (one per tier), one under
// prod/, a capture of its audit trail and of the server's log.
type env struct {
	v     *agentvault.AgentVault
	clock *fakeClock
	audit *lockedBuffer
	log   *lockedBuffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{clock: &fakeClock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}, audit: &lockedBuffer{}, log: &lockedBuffer{}}
	k, err := localkms.New("test-key", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	v, err := agentvault.New(membackend.New(), k, agentvault.WithClock(e.clock.Now), agentvault.WithAuditWriter(e.audit))
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	e.v = v
	for _, s := range []struct{ path, value string }{
		{"dev/app/api-key", standardValue}, {"dev/app/db-password", sensitiveValue}, {"dev/app/signing-key", criticalValue},
		{"prod/app/api-key", "prod-value-0002"},
	} {
		tier := agentvault.TierStandard
		switch s.value {
		case sensitiveValue:
			tier = agentvault.TierSensitive
		case criticalValue:
			tier = agentvault.TierCritical
		}
		_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: s.path, Value: agentvault.StringValue(s.value), Tier: tier, Type: agentvault.TypeAPIKey})
		require.NoError(t, err, "CreateSecret(%q)", s.path)
	}
	return e
}

// token issues a token as the operator, approving it if needed.
func (e *env) token(t testing.TB, req agentvault.TokenRequest) string {
	t.Helper()
	tok, err := e.v.RequestToken(agentvault.ContextWithActor(ctx, "requester"), req)
	var ar *agentvault.ApprovalRequiredError
	if errors.As(err, &ar) {
		for i := range ar.Approvers {
			_, err = e.v.Approve(agentvault.ContextWithActor(ctx, fmt.Sprintf("approver-%d", i)), ar.ApprovalID)
			require.NoError(t, err, "Approve")
		}
		tok, err = e.v.RedeemApproval(agentvault.ContextWithActor(ctx, "requester"), ar.ApprovalID)
	}
	require.NoError(t, err, "RequestToken(%v)", req.Scopes)
	return tok.Value.Reveal()
}

// connect mounts a server on the in-memory transport and returns the SDK
// client's session.
func (e *env) connect(t testing.TB, p mcpserver.Principal, opts *mcpserver.Options) *mcp.ClientSession {
	t.Helper()
	if opts == nil {
		opts = &mcpserver.Options{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(e.log, nil))
	}
	srv, err := mcpserver.New(e.v, p, opts)
	require.NoError(t, err, "mcpserver.New")
	return connectServer(t, srv)
}

func connectServer(t testing.TB, srv *mcp.Server) *mcp.ClientSession {
	t.Helper()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	require.NoError(t, err)
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v0"}, nil)
	cs, err := client.Connect(ctx, ct, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close(); ss.Wait() })
	return cs
}

// call calls a tool; a protocol error fails the test (refusals are results).
func call(t testing.TB, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	require.NoError(t, err, "CallTool(%s) must not be a protocol error", name)
	return res
}

// text is everything a result shows the model: its text content and its
// structured content.
func text(res *mcp.CallToolResult) string {
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
	return b.String()
}

// structured decodes a successful result's structured content into out.
func structured(t testing.TB, res *mcp.CallToolResult, out any) {
	t.Helper()
	require.False(t, res.IsError, "unexpected refusal: %s", text(res))
	j, err := json.Marshal(res.StructuredContent)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(j, out))
}

// requireRefusal checks a refusal: isError, one sentence, no structured
// content, containing each of want.
func requireRefusal(t testing.TB, res *mcp.CallToolResult, want ...string) string {
	t.Helper()
	msg := text(res)
	require.True(t, res.IsError, "want a refusal, got %s", msg)
	require.Nil(t, res.StructuredContent, "a refusal carries no structured content")
	require.NotContains(t, msg, "\n", "a refusal is one line")
	for _, w := range want {
		require.Contains(t, msg, w)
	}
	return msg
}

// mcpClient is a client session with its test.
type mcpClient struct {
	t  *testing.T
	cs *mcp.ClientSession
}
