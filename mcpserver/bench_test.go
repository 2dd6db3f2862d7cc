package mcpserver_test

import (
	"os"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/mcpserver"
)

// pipeSession connects a client to srv over two OS pipes with the stdio
// framing (newline-delimited JSON-RPC), as `ass mcp` is reached, minus the
// process boundary.
func pipeSession(b *testing.B, srv *mcp.Server) *mcp.ClientSession {
	b.Helper()
	sr, cw, err := os.Pipe() // client → server
	require.NoError(b, err)
	cr, sw, err := os.Pipe() // server → client
	require.NoError(b, err)
	ss, err := srv.Connect(ctx, &mcp.IOTransport{Reader: sr, Writer: sw}, nil)
	require.NoError(b, err)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "v0"}, nil).Connect(ctx, &mcp.IOTransport{Reader: cr, Writer: cw}, nil)
	require.NoError(b, err)
	b.Cleanup(func() { cs.Close(); ss.Wait() })
	return cs
}

// BenchmarkGetSecretMCP compares, in one run, a get_secret tool call over
// the in-memory transport and over stdio-framed OS pipes with a direct
// Session.GetSecret of the same standard secret through the same token.
// Each reports ns/op; the MCP ones also report x-direct, their cost as a
// multiple of the direct call measured in the same run.
//
//	cd mcpserver && GOWORK=off go test -run '^$' -bench GetSecretMCP -benchtime 2000x
func BenchmarkGetSecretMCP(b *testing.B) {
	e := newEnv(b)
	tok := e.token(b, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/app/api-key"}})
	sess := e.v.Session(tok)
	srv, err := mcpserver.New(e.v, mcpserver.Token(tok), nil)
	require.NoError(b, err)
	args := &mcp.CallToolParams{Name: "get_secret", Arguments: map[string]any{"path": "dev/app/api-key"}}

	direct := func() {
		if _, err := sess.GetSecret(ctx, "dev/app/api-key"); err != nil {
			b.Fatal(err)
		}
	}
	viaMCP := func(cs *mcp.ClientSession) func() {
		return func() {
			res, err := cs.CallTool(ctx, args)
			if err != nil || res.IsError {
				b.Fatal(err, res)
			}
		}
	}
	measure := func(n int, f func()) time.Duration {
		start := time.Now()
		for range n {
			f()
		}
		return time.Since(start)
	}
	inMem := viaMCP(connectServer(b, srv))
	pipes := viaMCP(pipeSession(b, srv))

	var d, m, p time.Duration
	b.ResetTimer()
	// Interleave in chunks so drift (GC, the growing audit trail) hits all three alike.
	for done := 0; done < b.N; {
		n := min(100, b.N-done)
		d += measure(n, direct)
		m += measure(n, inMem)
		p += measure(n, pipes)
		done += n
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(d.Nanoseconds())/n, "direct-ns/op")
	b.ReportMetric(float64(m.Nanoseconds())/n, "inmem-ns/op")
	b.ReportMetric(float64(p.Nanoseconds())/n, "stdio-ns/op")
	b.ReportMetric(float64(m)/float64(d), "inmem-x-direct")
	b.ReportMetric(float64(p)/float64(d), "stdio-x-direct")
}
