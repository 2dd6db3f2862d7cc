package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/agentvault/agentvault"
)

// Scoped tokens, approvals and agents (the library's access API).
//
// Whoever runs ass holds the vault's key, so these commands do not guard
// the vault against the person running them: they issue and manage tokens
// for agents, and let a command read through a token (get and list with
// --token or ASS_TOKEN) exactly as an agent embedding the library would.
// Token values and agent keys are printed on stdout only, never on stderr.

// scopesFlag collects repeatable --scope flags, each checked when parsed.
type scopesFlag []string

func (f *scopesFlag) String() string { return strings.Join(*f, " ") }

func (f *scopesFlag) Set(s string) error {
	if _, err := agentvault.ParseScope(s); err != nil {
		return errors.New(libReason(err))
	}
	*f = append(*f, s)
	return nil
}

// ipsFlag collects repeatable --allow-ip flags: IPs or CIDRs.
type ipsFlag []string

func (f *ipsFlag) String() string { return strings.Join(*f, " ") }

func (f *ipsFlag) Set(s string) error {
	var err error
	if strings.Contains(s, "/") {
		_, err = netip.ParsePrefix(s)
	} else {
		_, err = netip.ParseAddr(s)
	}
	if err != nil {
		return fmt.Errorf("%q is not an IP address or CIDR (want e.g. 10.0.1.50 or 10.0.0.0/8)", truncate(s, 64))
	}
	*f = append(*f, s)
	return nil
}

// clientIPFlag is --client-ip: the caller's address, for tokens and agents
// with an IP allowlist.
type clientIPFlag struct{ ip netip.Addr }

func (f *clientIPFlag) String() string {
	if !f.ip.IsValid() {
		return ""
	}
	return f.ip.String()
}

func (f *clientIPFlag) Set(s string) error {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("%q is not an IP address", truncate(s, 64))
	}
	f.ip = ip
	return nil
}

const clientIPUsage = "the caller's `IP`, for a token's or agent's IP allowlist"

// accessCtx is the context of an access operation: the agent of
// ASS_AGENT_KEY when it is set, and the client IP (--client-ip, already
// on c.ctx) when given.
func (c *cli) accessCtx() context.Context {
	ctx := c.ctx
	if k := c.cred.agentKey; k != "" {
		ctx = agentvault.ContextWithAgentKey(ctx, k)
	}
	return ctx
}

const tokenHelp = `With --token TOKEN, or $ASS_TOKEN, the command goes through that scoped token
as an agent's would: it must be valid and unexpired, have uses left, allow
the caller's IP (--client-ip) and have a scope covering the path (read for
get, list, versions, export, run and expiring; write for set, create,
update, rotate, rollback and import; delete for delete), and the secret's
tier must be within the token's; otherwise exit 6. Commands that are not
about secrets (init, token, approvals, agents, audit, rewrap, key,
lifecycle, doctor) are refused with a token (exit 6). Prefer ASS_TOKEN to
--token: command-line flags are visible to other users in the process list.`

// subArgs checks the arguments after a subcommand: want names them.
func subArgs(sub string, args []string, want string) error {
	if len(args) != len(strings.Fields(want)) {
		return usagef("wrong number of arguments: want %s", strings.TrimSpace(sub+" "+want))
	}
	return nil
}

// notWith refuses flags given to a subcommand they do not apply to.
func (c *cli) notWith(sub string, names ...string) error {
	for _, n := range names {
		if c.set[n] {
			return usagef("--%s does not apply to %s", n, sub)
		}
	}
	return nil
}

// tokenJSON is a new token as "ass token request --json" prints it: the
// value and the token's details.
type tokenJSON struct {
	Token string `json:"token"`
	agentvault.TokenInfo
}

// printToken prints a new token: its value alone on stdout, so that
// TOKEN=$(ass token request …) works, and its details on stderr.
func (c *cli) printToken(tok *agentvault.Token) error {
	if c.g.json {
		return writeJSON(c.stdout, tokenJSON{Token: tok.Value.Reveal(), TokenInfo: tok.TokenInfo})
	}
	if _, err := fmt.Fprintln(c.stdout, tok.Value.Reveal()); err != nil {
		return err
	}
	uses := "unlimited uses"
	if tok.MaxUses > 0 {
		uses = plural(tok.MaxUses, "use")
	}
	fmt.Fprintf(c.stderr, "ass: token %s issued: %s tier, expires %s, %s\n",
		tok.Accessor, tok.Tier, formatTime(tok.ExpiresAt), uses)
	return nil
}

// approvalRequired is a token request waiting for approvers: exit 5, with
// what to do next.
type approvalRequired struct {
	are *agentvault.ApprovalRequiredError
	err error
}

func (e *approvalRequired) Error() string {
	id := e.are.ApprovalID
	return fmt.Sprintf(`approval required: %s (%s tier, %s needed: an approver runs "ass approvals approve %s", then you run "ass token redeem %s")`,
		id, e.are.Tier, plural(e.are.Approvers, "approval"), id, id)
}

func (e *approvalRequired) Unwrap() error { return e.err }

// approvalNeeded turns RequestToken's approval-required error into an
// approvalRequired, printing {"approval_id","tier","approvers"} with --json.
func (c *cli) approvalNeeded(err error) error {
	var are *agentvault.ApprovalRequiredError
	if !errors.As(err, &are) {
		return err
	}
	if c.g.json {
		_ = writeJSON(c.stdout, map[string]any{"approval_id": are.ApprovalID, "tier": are.Tier, "approvers": are.Approvers})
	}
	return &approvalRequired{are: are, err: err}
}

var tokenCommand = &command{
	name: "token",
	// An agent requests and redeems its own tokens.
	withAgentKey: func(args []string) bool { return args[0] == "request" || args[0] == "redeem" },
	args:         "request | redeem APPROVAL_ID | revoke ACCESSOR | list",
	summary:      "issue, redeem, revoke and list scoped tokens for agents",
	details: `ass token request --scope SCOPE… [--ttl 1h] [--max-uses N] [--allow-ip IP…]
    Issues a token limited to its scopes, for --ttl (default 1h, at most 24h),
    and prints its value alone on stdout (TOKEN=$(ass token request …)), then
    its accessor, tier and expiry on stderr. A scope is
    secrets:<read|write|delete|*>:<glob>, e.g. secrets:read:production/openai/*
    ('*' crosses '/'). The highest tier among the existing secrets the scopes
    match decides: standard is issued at once; sensitive needs one approval
    and critical two distinct ones. Then nothing is issued: the request is
    recorded, its id printed, and ass exits 5; once approved, the requester
    runs "ass token redeem ID" (the same --actor, or the same ASS_AGENT_KEY).
    With ASS_AGENT_KEY set the request is made as that agent, within its
    ceiling (ass agents).
ass token redeem APPROVAL_ID
    Issues the token of an approved request, once; output as for request.
ass token revoke ACCESSOR
    Revokes a token (named by its accessor, acc_…): every later use fails.
ass token list
    Lists every token, never a value: ACCESSOR STATE TIER EXPIRES USES
    ISSUED_TO SCOPES.

--json: request and redeem print {"token","accessor","scopes","tier",
"issued_to","issued_at","expires_at","max_uses","uses",…}; a request that
needs approval prints {"approval_id","tier","approvers"} and exits 5. list
prints an array of the same objects without "token", with "state": active,
expired, spent or revoked.`,
	minArgs: 1, maxArgs: 2,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		var scopes scopesFlag
		var ips ipsFlag
		var ttl durationFlag
		fs.Var(&scopes, "scope", "a `SCOPE`, secrets:<read|write|delete|*>:<glob> (repeatable; request)")
		fs.Var(&ttl, "ttl", "the token's lifetime, a `DURATION` (default 1h, at most 24h; request)")
		maxUses := fs.Int("max-uses", 0, "spend the token after `N` uses (default 0: unlimited; request)")
		fs.Var(&ips, "allow-ip", "`IP` or CIDR the token may be used from (repeatable; request)")
		desc := fs.String("description", "", "describe the request with `TEXT`, shown in listings and to approvers (request)")
		waive := fs.Bool("waive-approval", false, "skip a sensitive-tier approval where the policy allows it (the default policy does not; request)")
		requestFlags := []string{"scope", "ttl", "max-uses", "allow-ip", "description", "waive-approval"}
		return func(c *cli, args []string) (rerr error) {
			sub, rest := args[0], args[1:]
			var err error
			switch sub {
			case "request":
				err = subArgs(sub, rest, "")
				if err == nil && len(scopes) == 0 {
					err = usagef("request needs --scope (e.g. --scope 'secrets:read:production/*')")
				}
				if err == nil && *maxUses < 0 {
					err = usagef("--max-uses must be 0 (unlimited) or more")
				}
			case "redeem":
				err = subArgs(sub, rest, "APPROVAL_ID")
			case "revoke":
				err = subArgs(sub, rest, "ACCESSOR")
			case "list":
				err = subArgs(sub, rest, "")
			default:
				return usagef("unknown subcommand %q (want request, redeem, revoke or list)", truncate(sub, 32))
			}
			if err == nil && sub != "request" {
				err = c.notWith(sub, requestFlags...)
			}
			if err == nil && sub != "request" && sub != "redeem" {
				err = c.notWith(sub, "client-ip")
			}
			if err != nil {
				return err
			}
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			switch sub {
			case "request":
				tok, err := s.vault.RequestToken(c.accessCtx(), agentvault.TokenRequest{
					Scopes: scopes, TTL: time.Duration(ttl), MaxUses: *maxUses, AllowedIPs: ips,
					Description: *desc, WaiveApproval: *waive,
				})
				if err != nil {
					return c.approvalNeeded(err)
				}
				return c.printToken(tok)
			case "redeem":
				tok, err := s.vault.RedeemApproval(c.accessCtx(), rest[0])
				if err != nil {
					return err
				}
				return c.printToken(tok)
			case "revoke":
				if err := s.vault.RevokeToken(c.ctx, rest[0]); err != nil {
					if errors.Is(err, agentvault.ErrTokenUnknown) {
						// Nothing to revoke is not an access refusal.
						return &exitStatus{code: exitNotFound, err: errors.New(describe(err))}
					}
					return err
				}
				if c.g.json {
					return writeJSON(c.stdout, map[string]any{"accessor": rest[0], "revoked": true})
				}
				_, err := fmt.Fprintf(c.stdout, "revoked %s\n", rest[0])
				return err
			}
			ts, err := s.vault.ListTokens(c.ctx)
			bad, err := c.skipUnreadable("token list", err)
			if err != nil {
				return err
			}
			defer func() {
				if rerr == nil {
					rerr = damaged("token list", bad, "record")
				}
			}()
			if c.g.json {
				return writeJSON(c.stdout, toTokenInfoJSON(ts, time.Now()))
			}
			if len(ts) == 0 {
				_, err := fmt.Fprintln(c.stdout, "no tokens")
				return err
			}
			now := time.Now()
			rows := make([][]string, len(ts))
			for i, t := range ts {
				uses := "-"
				if t.MaxUses > 0 {
					uses = strconv.Itoa(t.Uses) + "/" + strconv.Itoa(t.MaxUses)
				}
				rows[i] = []string{t.Accessor, tokenState(t, now), string(t.Tier), formatTime(t.ExpiresAt),
					uses, actorString(t.IssuedTo), strings.Join(t.Scopes, " ")}
			}
			return writeTable(c.stdout, []string{"ACCESSOR", "STATE", "TIER", "EXPIRES", "USES", "ISSUED_TO", "SCOPES"}, rows)
		}
	},
}

// tokenState is a token's state for listings: revoked, expired, spent or
// active.
func tokenState(t agentvault.TokenInfo, now time.Time) string {
	switch {
	case t.Revoked:
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		return "spent"
	}
	return "active"
}

func actorString(a agentvault.Actor) string {
	if a.Kind == "" {
		return a.ID
	}
	return string(a.Kind) + ":" + a.ID
}

var approvalsCommand = &command{
	name: "approvals",
	// An agent cancels its own requests (and is refused approve and deny
	// by the library, with its reason).
	withAgentKey: func(args []string) bool { return args[0] == "approve" || args[0] == "deny" || args[0] == "cancel" },
	args:         "list | statement ID | approve ID | deny ID | cancel ID | show ID",
	summary:      "review the token requests that wait for approval",
	details: `ass approvals list [--all]
    Lists the open requests (pending, or approved and not yet redeemed), or
    with --all every request: ID STATE TIER VOTES REQUESTED_BY EXPIRES SCOPES.
ass approvals statement ID [--decision approve|deny|cancel]
    Prints the statement an approver signs (default: to approve), e.g.
    ass approvals statement ID > st && ssh-keygen -Y sign -n agentvault-approval -f KEY st
    writes st.sig for --signature.
ass approvals approve ID [--signature FILE | --key FILE]
    Approves a pending request. Once approvers are registered (ass
    approvers) the approval must be signed: --signature reads an SSHSIG
    signature of the statement; --key signs with a private key file
    (passphrase asked on the terminal); with neither, ssh-agent
    (SSH_AUTH_SOCK) signs with the registered approver's key it holds. The
    approver is the key's owner. Without registered approvers, the approver
    is --actor. The requester cannot approve its own request, nor anyone
    twice; critical secrets need two approvers. With the last approval the
    requester can redeem it (ass token redeem ID).
ass approvals deny ID [--reason TEXT] [--signature FILE | --key FILE]
    Refuses a pending request (signed as for approve, over the deny
    statement); --reason is recorded with it.
ass approvals cancel ID [--signature FILE | --key FILE]
    Withdraws a request not yet redeemed: the requester, or (once approvers
    are registered) an approver signing the cancel statement.
ass approvals show ID
    The request, and who approved or decided it, with key fingerprints.

Not with ASS_AGENT_KEY set: agents cannot approve or deny.
--json: list prints an array of requests, the others the request as changed;
"ttl" and "delay" are durations ("1h0m0s"), "ready_at" is there once approved.`,
	minArgs: 1, maxArgs: 2,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		all := fs.Bool("all", false, "list every request, not only open ones (list)")
		reason := fs.String("reason", "", "why the request is denied, `TEXT` (deny)")
		sigFile := fs.String("signature", "", "the SSHSIG signature `FILE` of the statement (approve, deny, cancel)")
		keyFile := fs.String("key", "", "sign with the private key `FILE` (approve, deny, cancel)")
		decision := fs.String("decision", "approve", "the `DECISION` the statement is for: approve, deny or cancel (statement)")
		return func(c *cli, args []string) error {
			sub, rest := args[0], args[1:]
			var err error
			switch sub {
			case "list":
				err = subArgs(sub, rest, "")
			case "approve", "deny", "cancel", "statement", "show":
				err = subArgs(sub, rest, "ID")
			default:
				return usagef("unknown subcommand %q (want list, statement, approve, deny, cancel or show)", truncate(sub, 32))
			}
			if err == nil && sub != "list" {
				err = c.notWith(sub, "all")
			}
			if err == nil && sub != "deny" {
				err = c.notWith(sub, "reason")
			}
			if err == nil && sub != "statement" {
				err = c.notWith(sub, "decision")
			}
			if err == nil && (sub == "list" || sub == "statement" || sub == "show") {
				err = c.notWith(sub, "signature", "key")
			}
			if err == nil && c.set["signature"] && c.set["key"] {
				err = usagef("--signature and --key exclude each other")
			}
			if err != nil {
				return err
			}
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := c.accessCtx()
			var a *agentvault.Approval
			switch sub {
			case "list":
				return c.listApprovals(s, *all)
			case "statement":
				st, err := s.vault.ApprovalStatement(c.ctx, rest[0], agentvault.Decision(*decision))
				if err != nil {
					return err
				}
				_, err = c.stdout.Write(st)
				return err
			case "show":
				return c.showApproval(s, rest[0])
			}
			var sig []byte
			if c.cred.agentKey == "" {
				d := agentvault.DecisionApprove
				if sub != "approve" {
					d = agentvault.Decision(sub)
				}
				if sig, err = c.signature(s, rest[0], d, *sigFile, *keyFile); err != nil {
					return err
				}
			}
			switch sub {
			case "approve":
				a, err = s.vault.ApproveSigned(ctx, rest[0], sig)
			case "deny":
				a, err = s.vault.DenySigned(ctx, rest[0], *reason, sig)
			case "cancel":
				a, err = s.vault.CancelSigned(ctx, rest[0], sig)
			}
			if errors.Is(err, agentvault.ErrSignatureRequired) {
				err = &hintError{err: err, hint: " (pass --signature FILE, --key FILE, or run ssh-agent holding a registered approver's key)"}
			}
			if err != nil {
				return err
			}
			if c.g.json {
				return writeJSON(c.stdout, toApprovalJSON(a))
			}
			_, err = fmt.Fprintln(c.stdout, approvalOutcome(sub, a, time.Now()))
			return err
		}
	},
}

// approvalOutcome is the line approve, deny and cancel print.
func approvalOutcome(sub string, a *agentvault.Approval, now time.Time) string {
	switch sub {
	case "deny":
		return "denied " + a.ID
	case "cancel":
		return "cancelled " + a.ID
	}
	votes := fmt.Sprintf("%d of %d approvals", len(a.Votes), a.Required)
	if n := len(a.Votes); n > 0 && a.Votes[n-1].Fingerprint != "" {
		votes = fmt.Sprintf("signed by %s (%s), %s", a.Votes[n-1].Approver.ID, a.Votes[n-1].Fingerprint, votes)
	}
	if a.State != agentvault.ApprovalApproved {
		return fmt.Sprintf("approved %s: %s, waiting for %d more", a.ID, votes, a.Required-len(a.Votes))
	}
	redeem := fmt.Sprintf(`the requester can now run "ass token redeem %s"`, a.ID)
	if a.ReadyAt.After(now) {
		redeem = fmt.Sprintf(`the requester can run "ass token redeem %s" from %s (it can be cancelled until then)`, a.ID, formatTime(a.ReadyAt))
	}
	return fmt.Sprintf("approved %s: %s; %s", a.ID, votes, redeem)
}

func (c *cli) listApprovals(s *session, all bool) (rerr error) {
	var states []agentvault.ApprovalState
	if !all {
		states = []agentvault.ApprovalState{agentvault.ApprovalPending, agentvault.ApprovalApproved}
	}
	as, err := s.vault.ListApprovals(c.ctx, states...)
	bad, err := c.skipUnreadable("approvals list", err)
	if err != nil {
		return err
	}
	defer func() {
		if rerr == nil {
			rerr = damaged("approvals list", bad, "record")
		}
	}()
	if c.g.json {
		return writeJSON(c.stdout, toApprovalsJSON(as))
	}
	if len(as) == 0 {
		msg := "no open approval requests"
		if all {
			msg = "no approval requests"
		}
		_, err := fmt.Fprintln(c.stdout, msg)
		return err
	}
	rows := make([][]string, len(as))
	for i, a := range as {
		rows[i] = []string{a.ID, string(a.State), string(a.Tier), fmt.Sprintf("%d/%d", len(a.Votes), a.Required),
			actorString(a.RequestedBy), formatTime(a.ExpiresAt), strings.Join(a.Scopes, " ")}
	}
	return writeTable(c.stdout, []string{"ID", "STATE", "TIER", "VOTES", "REQUESTED_BY", "EXPIRES", "SCOPES"}, rows)
}

// agentJSON is "ass agents create --json": the agent and its key.
type agentJSON struct {
	Key string `json:"key"`
	*agentvault.Agent
}

var agentsCommand = &command{
	name:    "agents",
	args:    "create NAME | list | disable ID | enable ID",
	summary: "register agents: principals that request tokens with a key",
	details: `ass agents create NAME --scope SCOPE… [--allow-ip IP…] [--description TEXT]
    Registers an agent whose tokens can never exceed its scopes (its ceiling)
    and prints its key alone on stdout, this once: the vault keeps only a
    hash. Give it to the agent as ASS_AGENT_KEY; "ass token request" then acts
    as the agent. With --allow-ip the agent may request only from those
    addresses (--client-ip), and its tokens are limited to them.
ass agents list
    Lists the agents, never a key: ID NAME DISABLED CEILING IPS CREATED.
ass agents disable ID, ass agents enable ID
    A disabled agent's key is refused (exit 6); tokens it already holds
    stay valid until they expire or are revoked (ass token revoke).

--json: create prints {"key","id","name","scopes",…}, list an array of
agents, disable and enable the agent.`,
	minArgs: 1, maxArgs: 2,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		var scopes scopesFlag
		var ips ipsFlag
		fs.Var(&scopes, "scope", "a `SCOPE` of the agent's ceiling, secrets:<read|write|delete|*>:<glob> (repeatable; create)")
		fs.Var(&ips, "allow-ip", "`IP` or CIDR the agent may request from (repeatable; create)")
		desc := fs.String("description", "", "describe the agent with `TEXT` (create)")
		return func(c *cli, args []string) (rerr error) {
			sub, rest := args[0], args[1:]
			var err error
			switch sub {
			case "create":
				err = subArgs(sub, rest, "NAME")
				if err == nil && len(scopes) == 0 {
					err = usagef("create needs --scope, the agent's ceiling (e.g. --scope 'secrets:read:staging/*')")
				}
			case "list":
				err = subArgs(sub, rest, "")
			case "disable", "enable":
				err = subArgs(sub, rest, "ID")
			default:
				return usagef("unknown subcommand %q (want create, list, disable or enable)", truncate(sub, 32))
			}
			if err == nil && sub != "create" {
				err = c.notWith(sub, "scope", "allow-ip", "description")
			}
			if err != nil {
				return err
			}
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			switch sub {
			case "create":
				ag, key, err := s.vault.CreateAgent(c.ctx, agentvault.CreateAgentInput{
					Name: rest[0], Scopes: scopes, AllowedIPs: ips, Description: *desc,
				})
				if err != nil {
					return err
				}
				if c.g.json {
					return writeJSON(c.stdout, agentJSON{Key: key.Reveal(), Agent: ag})
				}
				if _, err := fmt.Fprintln(c.stdout, key.Reveal()); err != nil {
					return err
				}
				fmt.Fprintf(c.stderr, "ass: agent %s (%s) created; its key, above, is shown only this once\n", ag.ID, cleanCell(ag.Name))
				return nil
			case "disable", "enable":
				off := sub == "disable"
				ag, err := s.vault.UpdateAgent(c.ctx, rest[0], agentvault.UpdateAgentInput{Disabled: &off})
				if err != nil {
					return err
				}
				if c.g.json {
					return writeJSON(c.stdout, ag)
				}
				_, err = fmt.Fprintf(c.stdout, "%sd agent %s (%s)\n", sub, ag.ID, cleanCell(ag.Name))
				return err
			}
			ags, err := s.vault.ListAgents(c.ctx)
			bad, err := c.skipUnreadable("agents list", err)
			if err != nil {
				return err
			}
			defer func() {
				if rerr == nil {
					rerr = damaged("agents list", bad, "record")
				}
			}()
			if c.g.json {
				return writeJSON(c.stdout, ags)
			}
			if len(ags) == 0 {
				_, err := fmt.Fprintln(c.stdout, "no agents")
				return err
			}
			rows := make([][]string, len(ags))
			for i, a := range ags {
				disabled := "no"
				if a.Disabled {
					disabled = "yes"
				}
				rows[i] = []string{a.ID, a.Name, disabled, strings.Join(a.Scopes, " "), strings.Join(a.AllowedIPs, " "), formatTime(a.CreatedAt)}
			}
			return writeTable(c.stdout, []string{"ID", "NAME", "DISABLED", "CEILING", "IPS", "CREATED"}, rows)
		}
	},
}
