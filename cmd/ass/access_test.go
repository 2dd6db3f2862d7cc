package main

import (
	"bytes"

	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// accessBox is a sandbox that also remembers the bearer credentials it has
// seen (token values, agent keys) and checks that no run prints one on
// stderr.
type accessBox struct {
	*sandbox
	hidden []string
}

func newAccessBox(t *testing.T) *accessBox {
	s := newSandbox(t)
	s.init()
	return &accessBox{sandbox: s}
}

func (b *accessBox) run(stdin string, args ...string) result {
	b.t.Helper()
	r := b.sandbox.run(stdin, args...)
	for _, h := range b.hidden {
		assert.NotContains(b.t, r.stderr, h, "ass %q: a credential on stderr", args)
	}
	return r
}

func (b *accessBox) ok(stdin string, args ...string) string {
	b.t.Helper()
	r := b.run(stdin, args...)
	require.Equal(b.t, 0, r.code, "ass %q: exit %d, stderr %q", args, r.code, r.stderr)
	require.Empty(b.t, r.stderr, "ass %q: stderr", args)
	return r.stdout
}

func (b *accessBox) fails(want int, stdin string, args ...string) string {
	b.t.Helper()
	r := b.run(stdin, args...)
	require.Equal(b.t, want, r.code, "ass %q: exit %d, want %d; stderr %q", args, r.code, want, r.stderr)
	return r.stderr
}

var (
	tokenRe    = regexp.MustCompile(`^ast_tok_[A-Za-z0-9_-]{43}$`)
	issuedRe   = regexp.MustCompile(`^ass: token (acc_[0-9a-f]{24}) issued: (\w+) tier, expires \S+, (.+)\n$`)
	approvalRe = regexp.MustCompile(`approval required: (apr_[0-9a-f]{20}) \((\w+) tier, (\d) approvals? needed`)
	agentKeyRe = regexp.MustCompile(`^ast_agent_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$`)
)

// token runs a command that issues a token (token request or redeem) and
// returns the token and its accessor.
func (b *accessBox) token(args ...string) (tok, accessor string) {
	b.t.Helper()
	r := b.run("", args...)
	require.Equal(b.t, 0, r.code, "ass %q: exit %d, stderr %q", args, r.code, r.stderr)
	tok = strings.TrimSuffix(r.stdout, "\n")
	require.Regexp(b.t, tokenRe, tok, "ass %q: stdout is not the token alone", args)
	m := issuedRe.FindStringSubmatch(r.stderr)
	require.NotNil(b.t, m, "ass %q: stderr %q", args, r.stderr)
	assert.NotContains(b.t, r.stderr, tok)
	b.hidden = append(b.hidden, tok)
	return tok, m[1]
}

// approval runs a token request that needs approval and returns its id.
func (b *accessBox) approval(tier string, approvers string, args ...string) string {
	b.t.Helper()
	stderr := b.fails(exitApproval, "", args...)
	m := approvalRe.FindStringSubmatch(stderr)
	require.NotNil(b.t, m, "stderr %q", stderr)
	assert.Equal(b.t, tier, m[2])
	assert.Equal(b.t, approvers, m[3])
	return m[1]
}

func TestTokenReadThrough(t *testing.T) {
	t.Parallel()
	b := newAccessBox(t)
	b.ok(canary, "set", "prod/api", "--tier", "standard")
	b.ok("other", "set", "prod/other", "--tier", "standard")
	b.ok("staging", "set", "staging/api", "--tier", "standard")

	tok, acc := b.token("token", "request", "--scope", "secrets:read:prod/api*", "--description", "ci job")
	assert.Equal(t, canary, b.ok("", "get", "prod/api", "--token", tok))
	b.env["ASS_TOKEN"] = tok
	assert.Equal(t, canary, b.ok("", "get", "prod/api"))
	j := decodeObject(t, b.ok("", "get", "prod/api", "--json"))
	assert.Equal(t, canary, j["value"])
	// Outside the scope: access denied, exit 6, whether or not the secret exists.
	stderr := b.fails(exitDenied, "", "get", "prod/other")
	assert.Equal(t, "ass: access denied: get prod/other: scope does not allow this: no scope of token "+acc+" allows read on prod/other\n", stderr)
	assert.Contains(t, b.fails(exitDenied, "", "get", "nope/x"), "access denied")
	// A read scope covers the path only: ass list through the token shows only it.
	ls := decodeArray(t, b.ok("", "list", "--json"))
	require.Len(t, ls, 1)
	assert.Equal(t, "prod/api", ls[0]["path"])
	assert.Contains(t, b.ok("", "list"), "prod/api")
	assert.NotContains(t, b.ok("", "list"), "staging/api")
	delete(b.env, "ASS_TOKEN")
	assert.Len(t, decodeArray(t, b.ok("", "list", "--json")), 3, "without a token, list sees everything")
	// A flag overrides the environment.
	b.env["ASS_TOKEN"] = "ast_tok_bogus"
	assert.Contains(t, b.fails(exitDenied, "", "get", "prod/api"), "access denied: get prod/api: unknown token")
	assert.Equal(t, canary, b.ok("", "get", "prod/api", "--token", tok))
	delete(b.env, "ASS_TOKEN")

	// token list: the token's details, never its value.
	list := b.ok("", "token", "list")
	assert.Regexp(t, acc+`\s+active\s+standard\s+\S+\s+-\s+human:tester\s+secrets:read:prod/api\*`, list)
	js := b.ok("", "token", "list", "--json")
	assert.NotContains(t, js, tok)
	infos := decodeArray(t, js)
	require.Len(t, infos, 1)
	assert.Equal(t, acc, infos[0]["accessor"])
	assert.Equal(t, "ci job", infos[0]["description"])

	// Revoked: every use is refused.
	assert.Equal(t, "revoked "+acc+"\n", b.ok("", "token", "revoke", acc))
	assert.Contains(t, b.fails(exitDenied, "", "get", "prod/api", "--token", tok), "access denied: get prod/api: token revoked")
	assert.Contains(t, b.fails(exitDenied, "", "list", "--token", tok), "token revoked")
	assert.Regexp(t, acc+`\s+revoked`, b.ok("", "token", "list"))
	assert.Equal(t, canary, b.ok("", "get", "prod/api"), "the vault key still reads")

	// Max uses: exactly N reads, then exhausted; refused reads do not count.
	tok2, acc2 := b.token("token", "request", "--scope", "secrets:read:prod/*", "--max-uses", "2", "--ttl", "10m")
	b.fails(exitDenied, "", "get", "staging/api", "--token", tok2)
	assert.Equal(t, canary, b.ok("", "get", "prod/api", "--token", tok2))
	assert.Equal(t, "other", b.ok("", "get", "prod/other", "--token", tok2))
	assert.Contains(t, b.fails(exitDenied, "", "get", "prod/api", "--token", tok2), "token uses exhausted")
	assert.Regexp(t, acc2+`\s+spent\s+standard\s+\S+\s+2/2`, b.ok("", "token", "list"))

	// An IP allowlist: the caller's --client-ip must be in it.
	tok3, _ := b.token("token", "request", "--scope", "secrets:read:prod/api", "--allow-ip", "10.0.0.0/8", "--allow-ip", "192.168.1.7")
	assert.Contains(t, b.fails(exitDenied, "", "get", "prod/api", "--token", tok3), "client IP not allowed")
	assert.Contains(t, b.fails(exitDenied, "", "get", "prod/api", "--token", tok3, "--client-ip", "192.168.1.8"), "client IP not allowed")
	assert.Equal(t, canary, b.ok("", "get", "prod/api", "--token", tok3, "--client-ip", "10.20.30.40"))
	assert.Equal(t, canary, b.ok("", "get", "prod/api", "--token", tok3, "--client-ip", "192.168.1.7"))

	// --json: the token and its details on stdout, nothing on stderr.
	out := b.ok("", "token", "request", "--scope", "secrets:read:prod/api", "--json", "--max-uses", "1")
	tj := decodeObject(t, out)
	require.Regexp(t, tokenRe, tj["token"])
	b.hidden = append(b.hidden, tj["token"].(string))
	assert.Equal(t, "standard", tj["tier"])
	assert.EqualValues(t, 1, tj["max_uses"])
	assert.Equal(t, []any{"secrets:read:prod/api"}, tj["scopes"])
	assert.Regexp(t, `^acc_`, tj["accessor"])
	assert.Equal(t, canary, b.ok("", "get", "prod/api", "--token", tj["token"].(string)))

	// The audit trail names tokens by accessor only.
	audit := b.ok("", "audit", "--json")
	for _, h := range b.hidden {
		assert.NotContains(t, audit, h)
	}
	assert.NotContains(t, audit, canary)
}

func TestTokenUsageErrors(t *testing.T) {
	t.Parallel()
	b := newAccessBox(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token"}, "token: wrong number of arguments: want request | redeem APPROVAL_ID"},
		{[]string{"token", "frob"}, `token: unknown subcommand "frob" (want request, redeem, revoke or list)`},
		{[]string{"token", "request"}, "token: request needs --scope"},
		{[]string{"token", "request", "extra", "--scope", "secrets:read:*"}, "token: wrong number of arguments: want request"},
		{[]string{"token", "request", "--scope", "read:prod/*"}, `token: invalid --scope: scope "read:prod/*": must start with "secrets:"`},
		{[]string{"token", "request", "--scope", "secrets:peek:*"}, `unknown action "peek"`},
		{[]string{"token", "request", "--scope", "secrets:read:*", "--allow-ip", "10.0.0.300"}, `token: invalid --allow-ip: "10.0.0.300" is not an IP address or CIDR`},
		{[]string{"token", "request", "--scope", "secrets:read:*", "--max-uses", "-1"}, "token: --max-uses must be 0 (unlimited) or more"},
		{[]string{"token", "request", "--scope", "secrets:read:*", "--ttl", "soon"}, "token: invalid --ttl"},
		{[]string{"token", "request", "--scope", "secrets:read:*", "--client-ip", "me"}, `token: invalid --client-ip: "me" is not an IP address`},
		{[]string{"token", "redeem"}, "token: wrong number of arguments: want redeem APPROVAL_ID"},
		{[]string{"token", "revoke"}, "token: wrong number of arguments: want revoke ACCESSOR"},
		{[]string{"token", "list", "x"}, "token: wrong number of arguments: want list"},
		{[]string{"token", "list", "--scope", "secrets:read:*"}, "token: --scope does not apply to list"},
		{[]string{"token", "revoke", "acc_x", "--client-ip", "10.0.0.1"}, "token: --client-ip does not apply to revoke"},
		{[]string{"approvals"}, "approvals: wrong number of arguments"},
		{[]string{"approvals", "approve"}, "approvals: wrong number of arguments: want approve ID"},
		{[]string{"approvals", "list", "x"}, "approvals: wrong number of arguments: want list"},
		{[]string{"approvals", "approve", "apr_x", "--reason", "ok"}, "approvals: --reason does not apply to approve"},
		{[]string{"approvals", "deny", "apr_x", "--all"}, "approvals: --all does not apply to deny"},
		{[]string{"approvals", "vote", "x"}, `approvals: unknown subcommand "vote"`},
		{[]string{"agents", "create"}, "agents: wrong number of arguments: want create NAME"},
		{[]string{"agents", "create", "bot"}, "agents: create needs --scope"},
		{[]string{"agents", "list", "--scope", "secrets:read:*"}, "agents: --scope does not apply to list"},
		{[]string{"agents", "delete", "x"}, `agents: unknown subcommand "delete"`},
		{[]string{"get", "p/x", "--client-ip", "::g"}, `get: invalid --client-ip: "::g" is not an IP address`},
		{[]string{"get", "p/x", "--token"}, "get: flag --token needs a value"},
	} {
		stderr := b.fails(exitUsage, "", tc.args...)
		assert.Contains(t, stderr, tc.want, "ass %q", tc.args)
		assert.Contains(t, stderr, `(see "ass help`, "ass %q", tc.args)
	}
	// The library's limits: exit 2 (a bad flag value or argument) with its reason.
	assert.Contains(t, b.fails(exitUsage, "", "token", "request", "--scope", "secrets:read:*", "--ttl", "48h"), "token TTL 48h0m0s out of range")
	assert.Contains(t, b.fails(exitUsage, "", "token", "revoke", "acc_nope"), "not a token accessor")
	assert.Equal(t, "ass: token revoke: unknown token: no token with accessor acc_0123456789abcdef01234567\n",
		b.fails(exitNotFound, "", "token", "revoke", "acc_0123456789abcdef01234567"))
	assert.Contains(t, b.fails(exitUsage, "", "approvals", "approve", "apr_nope"), "not an approval id")
	assert.Contains(t, b.fails(exitNotFound, "", "approvals", "approve", "apr_0123456789abcdef0123"), "no approval apr_0123456789abcdef0123")
	assert.Equal(t, "no tokens\n", b.ok("", "token", "list"))
	assert.Equal(t, "[]\n", b.ok("", "token", "list", "--json"))
	assert.Equal(t, "no open approval requests\n", b.ok("", "approvals", "list"))
	assert.Equal(t, "no agents\n", b.ok("", "agents", "list"))
}

func TestTokenApproval(t *testing.T) {
	t.Parallel()
	b := newAccessBox(t)
	b.ok(canary, "set", "prod/db", "--tier", "critical")
	b.ok("mid", "set", "prod/mid") // sensitive, the default
	b.ok("std", "set", "prod/std", "--tier", "standard")
	b.ok("sens", "set", "prod/sens", "--tier", "sensitive")
	b.env["ASS_ACTOR"] = "alice"

	// A critical secret: two approvers, never the requester.
	id := b.approval("critical", "2", "token", "request", "--scope", "secrets:read:prod/db", "--ttl", "30m", "--description", "migration")
	stderr := b.fails(exitApproval, "", "token", "redeem", id)
	assert.Equal(t, "ass: redeem: approval pending: 0 of 2 approvals\n", stderr)
	list := b.ok("", "approvals", "list")
	assert.Regexp(t, id+`\s+pending\s+critical\s+0/2\s+human:alice\s+\S+\s+secrets:read:prod/db`, list)

	assert.Contains(t, b.fails(exitDenied, "", "approvals", "approve", id), "access denied: approve: not allowed to act on this approval: alice requested it and cannot approve it")
	assert.Equal(t, "approved "+id+": 1 of 2 approvals, waiting for 1 more\n", b.ok("", "approvals", "approve", id, "--actor", "bob"))
	assert.Contains(t, b.fails(exitDenied, "", "approvals", "approve", id, "--actor", "bob"), "bob already approved it")
	b.fails(exitApproval, "", "token", "redeem", id)
	out := b.ok("", "approvals", "approve", id, "--actor", "carol")
	assert.Equal(t, "approved "+id+`: 2 of 2 approvals; the requester can now run "ass token redeem `+id+`"`+"\n", out)
	assert.Contains(t, b.fails(exitDenied, "", "token", "redeem", id, "--actor", "bob"), "only the requester may redeem it")

	tok, acc := b.token("token", "redeem", id)
	assert.Equal(t, canary, b.ok("", "get", "prod/db", "--token", tok))
	assert.Equal(t, "critical", decodeObject(t, b.ok("", "get", "prod/db", "--token", tok, "--json"))["tier"])
	assert.Regexp(t, acc+`\s+active\s+critical`, b.ok("", "token", "list"))
	assert.Contains(t, b.fails(exitError, "", "token", "redeem", id), "redeem: approval closed: the request was redeemed")
	assert.Equal(t, "no open approval requests\n", b.ok("", "approvals", "list"))
	all := decodeArray(t, b.ok("", "approvals", "list", "--all", "--json"))
	require.Len(t, all, 1)
	assert.Equal(t, "redeemed", all[0]["state"])
	assert.Equal(t, acc, all[0]["token_accessor"])
	assert.Len(t, all[0]["votes"], 2)

	// A sensitive secret: one approval; --json gives the id on stdout.
	r := b.run("", "token", "request", "--scope", "secrets:read:prod/m*", "--json")
	require.Equal(t, exitApproval, r.code, r.stderr)
	aj := decodeObject(t, r.stdout)
	assert.Equal(t, "sensitive", aj["tier"])
	assert.EqualValues(t, 1, aj["approvers"])
	id2 := aj["approval_id"].(string)
	assert.Contains(t, r.stderr, "approval required: "+id2+" (sensitive tier, 1 approval needed")
	assert.Contains(t, b.ok("", "approvals", "approve", id2, "--actor", "bob"), "1 of 1 approvals; the requester can now run")
	tok2, _ := b.token("token", "redeem", id2)
	assert.Equal(t, "mid", b.ok("", "get", "prod/mid", "--token", tok2))
	// The token is limited to the tier it was approved for.
	b.ok("", "update", "prod/mid", "--tier", "critical")
	assert.Contains(t, b.fails(exitDenied, "", "get", "prod/mid", "--token", tok2), "secret tier above the token's tier")
	// --waive-approval: the default policy allows no waiver.
	idW := b.approval("sensitive", "1", "token", "request", "--scope", "secrets:read:prod/sens", "--waive-approval")

	// Deny and cancel.
	id3 := b.approval("critical", "2", "token", "request", "--scope", "secrets:read:prod/*")
	assert.Equal(t, "denied "+id3+"\n", b.ok("", "approvals", "deny", id3, "--reason", "not today", "--actor", "bob"))
	assert.Contains(t, b.fails(exitError, "", "token", "redeem", id3), "approval closed: the request was denied")
	assert.Contains(t, b.fails(exitError, "", "approvals", "deny", id3, "--actor", "carol"), "approval closed: the request was denied")
	id4 := b.approval("critical", "2", "token", "request", "--scope", "secrets:read:prod/db")
	b.ok("", "approvals", "approve", id4, "--actor", "bob")
	cj := decodeObject(t, b.ok("", "approvals", "cancel", id4, "--json"))
	assert.Equal(t, "cancelled", cj["state"])
	assert.Contains(t, b.fails(exitError, "", "token", "redeem", id4), "the request was cancelled")
	assert.Contains(t, b.fails(exitError, "", "approvals", "approve", id4, "--actor", "carol"), "the request was cancelled")
	states := map[string]string{}
	for _, a := range decodeArray(t, b.ok("", "approvals", "list", "--all", "--json")) {
		states[a["id"].(string)] = a["state"].(string)
		if a["id"] == id3 {
			assert.Equal(t, "not today", a["reason"])
		}
	}
	assert.Equal(t, map[string]string{id: "redeemed", id2: "redeemed", idW: "pending", id3: "denied", id4: "cancelled"}, states)
	open := decodeArray(t, b.ok("", "approvals", "list", "--json"))
	require.Len(t, open, 1)
	assert.Equal(t, idW, open[0]["id"])
}

func TestAgents(t *testing.T) {
	t.Parallel()
	b := newAccessBox(t)
	b.ok(canary, "set", "ci/deploy-key", "--tier", "standard")
	b.ok("crit", "set", "ci/root", "--tier", "critical")
	b.ok("prod", "set", "prod/x", "--tier", "standard")

	// The key is printed once, alone, on stdout; stderr names the agent.
	r := b.run("", "agents", "create", "deploy-bot", "--scope", "secrets:read:ci/*", "--description", "CI deployer")
	require.Equal(t, 0, r.code, r.stderr)
	key := strings.TrimSuffix(r.stdout, "\n")
	require.Regexp(t, agentKeyRe, key)
	b.hidden = append(b.hidden, key)
	m := regexp.MustCompile(`^ass: agent (agt_[0-9a-f]{24}) \(deploy-bot\) created; its key, above, is shown only this once\n$`).FindStringSubmatch(r.stderr)
	require.NotNil(t, m, "stderr %q", r.stderr)
	assert.NotContains(t, r.stderr, key)
	agentID := m[1]

	list := b.ok("", "agents", "list")
	assert.Regexp(t, agentID+`\s+deploy-bot\s+no\s+secrets:read:ci/\*\s+-\s+\S+`, list)
	assert.NotContains(t, list, key)
	js := b.ok("", "agents", "list", "--json")
	assert.NotContains(t, js, key)
	assert.NotContains(t, js, "key_hash")
	ags := decodeArray(t, js)
	require.Len(t, ags, 1)
	assert.Equal(t, "CI deployer", ags[0]["description"])
	assert.Equal(t, "tester", ags[0]["created_by"])

	// Requests made with the key act as the agent, within its ceiling.
	b.env["ASS_AGENT_KEY"] = key
	tok, acc := b.token("token", "request", "--scope", "secrets:read:ci/deploy-key")
	assert.Equal(t, canary, b.ok("", "get", "ci/deploy-key", "--token", tok))
	assert.Contains(t, b.fails(exitDenied, "", "token", "request", "--scope", "secrets:read:prod/*"),
		"access denied: token request: scope does not allow this: secrets:read:prod/* is beyond agent "+agentID+"'s ceiling")
	assert.Contains(t, b.fails(exitDenied, "", "token", "request", "--scope", "secrets:*:ci/*"), "beyond agent")
	// An agent's critical request needs approval; agents cannot approve.
	id := b.approval("critical", "2", "token", "request", "--scope", "secrets:read:ci/root")
	assert.Contains(t, b.fails(exitDenied, "", "approvals", "approve", id), "agents cannot approve")
	assert.Contains(t, b.fails(exitDenied, "", "approvals", "deny", id), "agents cannot deny")
	delete(b.env, "ASS_AGENT_KEY")
	b.ok("", "approvals", "approve", id, "--actor", "alice")
	b.ok("", "approvals", "approve", id, "--actor", "bob")
	assert.Contains(t, b.fails(exitDenied, "", "token", "redeem", id), "only the requester may redeem it")
	b.env["ASS_AGENT_KEY"] = key
	tok2, _ := b.token("token", "redeem", id)
	assert.Equal(t, "crit", b.ok("", "get", "ci/root", "--token", tok2))

	// A malformed or unknown key is refused.
	b.env["ASS_AGENT_KEY"] = "ast_agent_nope"
	assert.Contains(t, b.fails(exitDenied, "", "token", "request", "--scope", "secrets:read:ci/*"), "access denied: token request: unauthorized: malformed agent key")
	delete(b.env, "ASS_AGENT_KEY")

	infos := decodeArray(t, b.ok("", "token", "list", "--json"))
	require.Len(t, infos, 2)
	assert.Equal(t, acc, infos[0]["accessor"])
	assert.Equal(t, map[string]any{"kind": "agent", "id": agentID}, infos[0]["issued_to"])

	// Disabled: the key is refused; enabled again: accepted.
	assert.Equal(t, "disabled agent "+agentID+" (deploy-bot)\n", b.ok("", "agents", "disable", agentID))
	assert.Regexp(t, agentID+`\s+deploy-bot\s+yes`, b.ok("", "agents", "list"))
	b.env["ASS_AGENT_KEY"] = key
	assert.Contains(t, b.fails(exitDenied, "", "token", "request", "--scope", "secrets:read:ci/*"), "is disabled")
	delete(b.env, "ASS_AGENT_KEY")
	b.ok("", "agents", "enable", agentID)
	b.env["ASS_AGENT_KEY"] = key
	b.token("token", "request", "--scope", "secrets:read:ci/deploy-key")
	delete(b.env, "ASS_AGENT_KEY")

	// An agent with an IP policy requests from an allowed --client-ip only.
	r = b.run("", "agents", "create", "edge", "--scope", "secrets:read:prod/*", "--allow-ip", "10.0.0.0/8", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr)
	aj := decodeObject(t, r.stdout)
	key2 := aj["key"].(string)
	require.Regexp(t, agentKeyRe, key2)
	b.hidden = append(b.hidden, key2)
	assert.Equal(t, "edge", aj["name"])
	assert.Equal(t, []any{"10.0.0.0/8"}, aj["allowed_ips"])
	b.env["ASS_AGENT_KEY"] = key2
	assert.Contains(t, b.fails(exitDenied, "", "token", "request", "--scope", "secrets:read:prod/x"), "client IP not allowed")
	tok3, _ := b.token("token", "request", "--scope", "secrets:read:prod/x", "--client-ip", "10.9.9.9")
	delete(b.env, "ASS_AGENT_KEY")
	// Its token inherits the agent's allowlist.
	b.fails(exitDenied, "", "get", "prod/x", "--token", tok3)
	assert.Equal(t, "prod", b.ok("", "get", "prod/x", "--token", tok3, "--client-ip", "10.1.1.1"))

	assert.Contains(t, b.fails(exitNotFound, "", "agents", "disable", "agt_000000000000000000000000"), "not found")
	// Agent keys never reach the audit trail.
	audit := b.ok("", "audit", "--json")
	for _, h := range b.hidden {
		assert.NotContains(t, audit, h)
	}
	assert.Contains(t, audit, `"event":"agent.created"`)
	assert.Contains(t, audit, `"event":"agent.updated"`)
}

func TestAccessHelp(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	main := s.ok("", "help")
	for _, want := range []string{"token", "approvals", "agents", "audit", "rewrap", "key",
		"5  approval required or pending", "6  access denied", "ASS_TOKEN", "ASS_AGENT_KEY"} {
		assert.Contains(t, main, want, "ass help")
	}
	for cmd, flags := range map[string][]string{
		"get":       {"--token TOKEN", "--client-ip", "ASS_TOKEN"},
		"list":      {"--token TOKEN"},
		"token":     {"--scope SCOPE", "--ttl DURATION", "--max-uses N", "--allow-ip IP", "--description TEXT", "--waive-approval", "exits 5"},
		"approvals": {"--all", "--reason TEXT"},
		"agents":    {"--scope SCOPE", "--allow-ip IP", "--description TEXT", "ASS_AGENT_KEY"},
		"audit":     {"--path PREFIX", "--event EVENT", "--actor-kind KIND", "--since TIME", "--until TIME", "--limit N", "--verify", "JSON lines"},
		"rewrap":    {"--from-kms URL", "Rewrapped N data keys in M secrets (K already current)"},
		"key":       {"local://", "ass rewrap --from-kms OLD --kms NEW"},
	} {
		text := s.ok("", "help", cmd)
		for _, f := range flags {
			assert.Contains(t, text, f, "ass help %s", cmd)
		}
		assert.Contains(t, text, `exit codes: see "ass help"`, "ass help %s", cmd)
	}
	// The global flags and the exit codes are in ass help, once.
	usage := s.ok("", "help")
	for _, want := range []string{"--token TOKEN", "--client-ip IP", "6  access denied"} {
		assert.Contains(t, usage, want, "ass help")
	}
}

func TestAccessExitCodes(t *testing.T) {
	op := func(err error) error { return &agentvault.Error{Op: "get", Path: "p/x", Err: err} }
	for _, tc := range []struct {
		err  error
		code int
	}{
		{op(&agentvault.ApprovalRequiredError{ApprovalID: "apr_x", Tier: agentvault.TierCritical, Approvers: 2}), exitApproval},
		{op(agentvault.ErrApprovalPending), exitApproval},
		{op(agentvault.ErrScopeDenied), exitDenied},
		{op(agentvault.ErrTierDenied), exitDenied},
		{op(agentvault.ErrIPDenied), exitDenied},
		{op(agentvault.ErrTokenExpired), exitDenied},
		{op(agentvault.ErrTokenExhausted), exitDenied},
		{op(agentvault.ErrTokenRevoked), exitDenied},
		{op(agentvault.ErrTokenUnknown), exitDenied},
		{op(agentvault.ErrUnauthorized), exitDenied},
		{op(agentvault.ErrApprovalForbidden), exitDenied},
		{op(agentvault.ErrApprovalClosed), exitError},
		{op(agentvault.ErrApprovalExpired), exitError},
		{op(agentvault.ErrExpired), exitExpired},
	} {
		assert.Equal(t, tc.code, exitCode(tc.err), "exitCode(%v)", tc.err)
	}
	var out, errb bytes.Buffer
	c := &cli{stdout: &out, stderr: &errb}
	assert.Equal(t, exitDenied, c.fail(nil, op(agentvault.ErrTokenRevoked)))
	assert.Equal(t, "ass: access denied: get p/x: token revoked\n", errb.String())
}
