package mcpserver

import (
	"context"
	"errors"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// handler adapts a tool body to the SDK: it gives the body the vault
// context (via mcp, actor, client IP), turns every error into a Refusal
// (a tool result with isError, never a protocol error) and logs the call
// by tool name and outcome only.
func handler[In, Out any](s *server, name string, body func(context.Context, In) (*mcp.CallToolResult, Out, error)) mcp.ToolHandlerFor[In, Out] {
	return func(ctx context.Context, _ *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		res, out, err := body(s.callCtx(ctx), in)
		outcome := "ok"
		if err != nil {
			var r *Refusal
			if !errors.As(err, &r) {
				err = refusal("The call failed (%s); tell the operator.", reason(err))
			}
			outcome = "refused"
		}
		if s.opts.Logger != nil {
			_, acc := s.principal()
			s.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "mcp tool call", slog.String("tool", name),
				slog.String("outcome", outcome), slog.String("token", acc))
		}
		return res, out, err
	}
}
