package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentvault/agentvault"
)

// RequestApprovalInput is the input of request_approval.
type RequestApprovalInput struct {
	Scopes  []string `json:"scopes" jsonschema:"the access wanted, each secrets:<read|write|delete|*>:<path pattern>, e.g. secrets:read:production/stripe/*"`
	TTL     string   `json:"ttl,omitempty" jsonschema:"how long the token lasts, e.g. 30m or 2h (default 1h, at most 24h)"`
	MaxUses int      `json:"max_uses,omitempty" jsonschema:"how many operations the token allows (default unlimited within its TTL)"`
	Reason  string   `json:"reason" jsonschema:"why the access is needed, shown to the human who approves"`
}

// TokenSummary describes the token the server acts with: never its value.
type TokenSummary struct {
	Accessor  string    `json:"accessor"`
	Scopes    []string  `json:"scopes"`
	Tier      string    `json:"tier" jsonschema:"the highest tier the token may touch"`
	ExpiresAt time.Time `json:"expires_at"`
	MaxUses   int       `json:"max_uses,omitempty"`
}

// ApprovalOutput is the result of request_approval and
// check_approval_status.
type ApprovalOutput struct {
	Status     string        `json:"status" jsonschema:"issued: the server now acts with the new token; approval_required or pending: a human must approve first"`
	ApprovalID string        `json:"approval_id,omitempty"`
	Token      *TokenSummary `json:"token,omitempty"`
	NextStep   string        `json:"next_step"`
}

// CheckApprovalInput is the input of check_approval_status.
type CheckApprovalInput struct {
	ID string `json:"id" jsonschema:"the approval id from request_approval (apr_…)"`
}

func (s *server) addApprovalTools(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{
		Name: "request_approval",
		Description: "Ask for a scoped token. Access to standard secrets is granted at once and the server switches to the new token; " +
			"sensitive or critical secrets need a human's approval: you get an approval id to pass to check_approval_status.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &no, OpenWorldHint: &no},
	}, handler(s, "request_approval", s.requestApproval))
	mcp.AddTool(srv, &mcp.Tool{
		Name: "check_approval_status",
		Description: "Check an approval request. Once a human has approved it, the token is issued and the server acts with it " +
			"for every later call.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &no, IdempotentHint: true, OpenWorldHint: &no},
	}, handler(s, "check_approval_status", s.checkApproval))
}

// requesterCtx is the context a token request is made in: as the agent of
// Options.AgentKey, else (WholeVault only) as the operator. A token alone
// cannot ask for tokens: that would let it widen its own scopes.
func (s *server) requesterCtx(ctx context.Context) (context.Context, error) {
	if s.opts.AgentKey != "" {
		return agentvault.ContextWithAgentKey(ctx, s.opts.AgentKey), nil
	}
	if s.wholeVault {
		return ctx, nil
	}
	return nil, refusal("This server has no agent identity to ask for tokens with; ask the operator to restart it with ASS_AGENT_KEY set to the agent's key, or to issue a wider ASS_TOKEN.")
}

func (s *server) requestApproval(ctx context.Context, in RequestApprovalInput) (*mcp.CallToolResult, ApprovalOutput, error) {
	var out ApprovalOutput
	rctx, err := s.requesterCtx(ctx)
	if err != nil {
		return nil, out, err
	}
	var ttl time.Duration
	if in.TTL != "" {
		if ttl, err = time.ParseDuration(in.TTL); err != nil || ttl <= 0 {
			return nil, out, refusal("Invalid input to request_approval: ttl is not a positive duration such as 30m or 2h; fix it and call again.")
		}
	}
	if in.Reason == "" {
		return nil, out, refusal("Invalid input to request_approval: reason is empty; say why the access is needed, for the human who approves.")
	}
	tok, err := s.v.RequestToken(rctx, agentvault.TokenRequest{Scopes: in.Scopes, TTL: ttl, MaxUses: in.MaxUses, Description: in.Reason})
	var ar *agentvault.ApprovalRequiredError
	if errors.As(err, &ar) {
		return nil, ApprovalOutput{Status: "approval_required", ApprovalID: ar.ApprovalID, NextStep: fmt.Sprintf(
			"A human must approve request %s (%s tier, %d approver(s)), e.g. with: ass approvals approve %s. Then call check_approval_status with id %q.",
			ar.ApprovalID, ar.Tier, ar.Approvers, ar.ApprovalID, ar.ApprovalID)}, nil
	}
	if err != nil {
		return nil, out, s.refuse(err, "request a token")
	}
	s.switchTo(tok)
	return nil, ApprovalOutput{Status: "issued", Token: summary(&tok.TokenInfo),
		NextStep: "The server now acts with this token for every later call."}, nil
}

func (s *server) checkApproval(ctx context.Context, in CheckApprovalInput) (*mcp.CallToolResult, ApprovalOutput, error) {
	var out ApprovalOutput
	rctx, err := s.requesterCtx(ctx)
	if err != nil {
		return nil, out, err
	}
	tok, err := s.v.RedeemApproval(rctx, in.ID)
	if errors.Is(err, agentvault.ErrApprovalPending) {
		return nil, ApprovalOutput{Status: "pending", ApprovalID: in.ID, NextStep: fmt.Sprintf(
			"Still waiting (%s): a human must approve it, e.g. with: ass approvals approve %s; then call check_approval_status again.",
			reason(err), in.ID)}, nil
	}
	if err != nil {
		return nil, out, s.refuse(err, "redeem that approval")
	}
	s.switchTo(tok)
	return nil, ApprovalOutput{Status: "issued", ApprovalID: in.ID, Token: summary(&tok.TokenInfo),
		NextStep: "Approved: the server now acts with the new token for every later call."}, nil
}

func summary(t *agentvault.TokenInfo) *TokenSummary {
	return &TokenSummary{Accessor: t.Accessor, Scopes: t.Scopes, Tier: string(t.Tier), ExpiresAt: t.ExpiresAt, MaxUses: t.MaxUses}
}
