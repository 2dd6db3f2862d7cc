// Command agents shows agentvault's agent access on an in-memory vault: a
// registered agent with a scope ceiling, a scoped token for a standard
// secret, an approval flow for a sensitive one, and the audit trail.
//
//	go run ./examples/agents
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("agents: %v", err)
	}
}

func run() error {
	ctx := context.Background()
	owner := agentvault.ContextWithActor(ctx, "alice") // the human who runs the vault
	approver := agentvault.ContextWithActor(ctx, "bob")

	keys, err := localkms.New("example", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		return err
	}
	notify := agentvault.NotifierFunc(func(_ context.Context, n agentvault.ApprovalNotice) error {
		fmt.Printf("  [notifier] %s %s (%s tier, %d approver(s))\n", n.Event, n.Approval.ID, n.Approval.Tier, n.Approval.Required)
		return nil
	})
	v, err := agentvault.New(membackend.New(), keys, agentvault.WithNotifier(notify))
	if err != nil {
		return err
	}
	defer v.Close()

	for _, s := range []struct {
		path, value string
		tier        agentvault.AccessTier
	}{
		{"production/gemini/base-url", "https://generativelanguage.googleapis.com", agentvault.TierStandard},
		{"production/gemini/api-key", "AIza-example-key", agentvault.TierSensitive},
	} {
		if _, err := v.CreateSecret(owner, agentvault.CreateSecretInput{Path: s.path, Value: agentvault.StringValue(s.value), Tier: s.tier}); err != nil {
			return err
		}
	}

	fmt.Println("1. Register an agent whose ceiling is read access to production/gemini/*")
	agent, key, err := v.CreateAgent(owner, agentvault.CreateAgentInput{Name: "gemini-bot", Scopes: []string{"secrets:read:production/gemini/*"}})
	if err != nil {
		return err
	}
	fmt.Printf("   agent %s (%s), key %v (shown once to the operator)\n", agent.ID, agent.Name, key)
	agentCtx := agentvault.ContextWithAgentKey(ctx, key.Reveal())

	fmt.Println("2. The agent asks for a single-use token to a standard secret: issued at once")
	tok, err := v.RequestToken(agentCtx, agentvault.TokenRequest{Scopes: []string{"secrets:read:production/gemini/base-url"}, MaxUses: 1})
	if err != nil {
		return err
	}
	fmt.Printf("   token %s, tier %s, expires %s, value %v\n", tok.Accessor, tok.Tier, tok.ExpiresAt.Format("15:04:05"), tok.Value)
	sess := v.Session(tok.Value.Reveal())
	s, err := sess.GetSecret(ctx, "production/gemini/base-url")
	if err != nil {
		return err
	}
	fmt.Printf("   read %s = %s\n", s.Path, s.Value.Reveal())
	_, err = sess.GetSecret(ctx, "production/gemini/base-url")
	fmt.Printf("   second read: %v (exhausted: %v)\n", err, errors.Is(err, agentvault.ErrTokenExhausted))

	fmt.Println("3. Beyond its ceiling the agent gets nothing")
	_, err = v.RequestToken(agentCtx, agentvault.TokenRequest{Scopes: []string{"secrets:read:production/*"}})
	fmt.Printf("   %v (scope denied: %v)\n", err, errors.Is(err, agentvault.ErrScopeDenied))

	fmt.Println("4. A token for the sensitive API key needs a human's approval")
	_, err = v.RequestToken(agentCtx, agentvault.TokenRequest{Scopes: []string{"secrets:read:production/gemini/*"}, Description: "summarise tickets"})
	var need *agentvault.ApprovalRequiredError
	if !errors.As(err, &need) {
		return fmt.Errorf("expected an approval request, got %v", err)
	}
	fmt.Printf("   approval required: %s\n", need.ApprovalID)
	if _, err := v.RedeemApproval(agentCtx, need.ApprovalID); err != nil {
		fmt.Printf("   redeem too early: %v\n", err)
	}
	if _, err := v.Approve(agentCtx, need.ApprovalID); err != nil {
		fmt.Printf("   the agent approving itself: %v\n", err)
	}
	if _, err := v.Approve(approver, need.ApprovalID); err != nil {
		return err
	}
	fmt.Println("   bob approved")
	tok2, err := v.RedeemApproval(agentCtx, need.ApprovalID)
	if err != nil {
		return err
	}
	s, err = v.Session(tok2.Value.Reveal()).GetSecret(ctx, "production/gemini/api-key")
	if err != nil {
		return err
	}
	fmt.Printf("   token %s (tier %s) read %s: %d bytes\n", tok2.Accessor, tok2.Tier, s.Path, s.Value.Len())
	_, err = v.RedeemApproval(agentCtx, need.ApprovalID)
	fmt.Printf("   redeem again: %v\n", err)

	fmt.Println("5. Revoke it")
	if err := v.RevokeToken(owner, tok2.Accessor); err != nil {
		return err
	}
	_, err = v.Session(tok2.Value.Reveal()).GetSecret(ctx, "production/gemini/api-key")
	fmt.Printf("   %v\n", err)

	fmt.Println("6. The audit trail (no values, no tokens), verified")
	events, err := v.QueryAudit(ctx, agentvault.AuditQuery{})
	if err != nil {
		return err
	}
	for _, e := range events {
		fmt.Printf("   %-20s %-8s %-6s %-30s %-28s %s\n", e.Event, e.Outcome, e.Actor.Kind, e.Actor.ID, e.Path, e.Reason)
	}
	rep, err := v.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("   verified %d events in %d chain(s)\n", rep.Events, rep.Writers)
	fmt.Fprintln(os.Stderr, "ok")
	return nil
}
