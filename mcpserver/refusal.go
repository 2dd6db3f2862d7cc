package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/agentvault/agentvault"
)

// Refusal is a tool call that did not happen. A tool handler returns it as
// its error, and the SDK turns it into a tool result with isError whose
// text is the one sentence saying what to do next (never a protocol error,
// never a value).
type Refusal struct{ msg string }

func (r *Refusal) Error() string { return r.msg }

func refusal(format string, args ...any) error {
	return &Refusal{msg: fmt.Sprintf(format, args...)}
}

// refuse turns a vault error into a refusal. what names the operation
// ("read dev/db"), for the sentence. Library messages never hold values;
// only the messages of invalid input are passed on, and they name the
// field, not its content.
func (s *server) refuse(err error, what string) error {
	var ar *agentvault.ApprovalRequiredError
	switch {
	case errors.As(err, &ar):
		return refusal("Approval required: a human must approve request %s (ass approvals approve %s); then call check_approval_status with id %q.", ar.ApprovalID, ar.ApprovalID, ar.ApprovalID)
	case errors.Is(err, agentvault.ErrTierDenied):
		return refusal("Refused to %s: the secret's tier is above what this token was approved for; call request_approval for a token covering it.", what)
	case errors.Is(err, agentvault.ErrScopeDenied):
		return refusal("Refused to %s: no scope of this token allows it; call request_approval with a scope that covers it.", what)
	case errors.Is(err, agentvault.ErrTokenExpired):
		return refusal("Refused to %s: the token has expired; call request_approval for a new one (or ask the operator to restart the server with a fresh ASS_TOKEN).", what)
	case errors.Is(err, agentvault.ErrTokenExhausted):
		return refusal("Refused to %s: the token's max uses are spent; call request_approval for a new token.", what)
	case errors.Is(err, agentvault.ErrTokenRevoked):
		return refusal("Refused to %s: the token was revoked; ask the operator for a new one.", what)
	case errors.Is(err, agentvault.ErrTokenUnknown):
		return refusal("Refused to %s: the token is not known to this vault; ask the operator to start the server with a valid ASS_TOKEN.", what)
	case errors.Is(err, agentvault.ErrIPDenied):
		return refusal("Refused to %s: this client's address is not in the token's IP allowlist; ask the operator.", what)
	case errors.Is(err, agentvault.ErrUnauthorized):
		return refusal("Refused to %s: the agent key is not accepted by this vault; ask the operator to check ASS_AGENT_KEY.", what)
	case errors.Is(err, agentvault.ErrExpired):
		return refusal("Cannot %s: the secret has expired; a human must extend or clear its expiry (ass update --expires-in/--clear-expiry).", what)
	case errors.Is(err, agentvault.ErrNotFound):
		return refusal("Cannot %s: no such secret or version; call list_secrets to see the secrets in reach.", what)
	case errors.Is(err, agentvault.ErrAlreadyExists):
		return refusal("Cannot %s: the secret already exists; call set_secret again to update it.", what)
	case errors.Is(err, agentvault.ErrApprovalPending):
		return refusal("Approval still pending; ask a human to approve it (ass approvals approve ID), then call check_approval_status again.")
	case errors.Is(err, agentvault.ErrApprovalExpired):
		return refusal("The approval request expired; call request_approval again.")
	case errors.Is(err, agentvault.ErrApprovalClosed):
		return refusal("The approval request was denied, cancelled or already redeemed; call request_approval again if access is still needed.")
	case errors.Is(err, agentvault.ErrApprovalForbidden):
		return refusal("This server may not redeem that approval: only the agent that requested it can; check the id.")
	case errors.Is(err, agentvault.ErrInvalidPath):
		// Not the library's message: it quotes the offending segment, and
		// what was passed as a path may be a value.
		return refusal("Invalid input to %s: a path is 1 to 32 segments of A-Z a-z 0-9 . _ - joined by single '/' (no leading or trailing '/', at most 512 bytes); fix it and call again.", what)
	case errors.Is(err, agentvault.ErrInvalidInput):
		return refusal("Invalid input to %s: %s; fix it and call again.", what, reason(err))
	case errors.Is(err, agentvault.ErrConflict):
		return refusal("Cannot %s: the secret changed concurrently; call again.", what)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return refusal("Cannot %s: the call was cancelled or timed out; call again.", what)
	}
	return refusal("Cannot %s: the vault failed (%s); tell the operator.", what, reason(err))
}

// reason is an error's message without the library's prefixes.
func reason(err error) string {
	var ae *agentvault.Error
	if errors.As(err, &ae) && ae.Err != nil {
		err = ae.Err
	}
	return strings.ReplaceAll(err.Error(), "agentvault: ", "")
}
