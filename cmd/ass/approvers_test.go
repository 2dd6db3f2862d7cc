package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/internal/sshtest"
)

// signedBox is a vault with a critical secret and two registered
// approvers: alice (ed25519) and carol (ecdsa P-384).
type signedBox struct {
	*accessBox
	alice, carol sshtest.Key
}

func newSignedBox(t *testing.T) *signedBox {
	t.Setenv("SSH_AUTH_SOCK", "") // no agent of the caller's
	b := &signedBox{accessBox: newAccessBox(t),
		alice: sshtest.GenKey(t, "ed25519", 0, "alice@laptop"), carol: sshtest.GenKey(t, "ecdsa", 384, "carol@laptop")}
	b.ok(canary, "set", "prod/db", "--tier", "critical")
	out := b.ok("", "approvers", "add", "alice", "--key", b.alice.Path+".pub", "--group", "sre")
	assert.Regexp(t, `^approver alice added: SHA256:\S+\n$`, out)
	b.ok("", "approvers", "add", "carol", "--key", b.carol.Path+".pub")
	return b
}

// TestCLISignedApprovalSession is the session of the issue: bob requests
// a critical token; --actor alice without a signature is refused, naming
// what is missing; alice signs with ssh-keygen (--signature), carol
// through ssh-agent; bob redeems and reads.
func TestCLISignedApprovalSession(t *testing.T) {
	b := newSignedBox(t)
	id := b.approval("critical", "2", "token", "request", "--scope", "secrets:read:prod/*", "--actor", "bob")

	stderr := b.fails(exitDenied, "", "approvals", "approve", id, "--actor", "alice")
	assert.Contains(t, stderr, "a registered approver's signature is required")
	assert.Contains(t, stderr, "alice gave no signature over the approve statement")
	assert.Contains(t, stderr, "--signature FILE, --key FILE, or run ssh-agent")

	st := b.ok("", "approvals", "statement", id)
	assert.True(t, strings.HasPrefix(st, "agentvault approval statement v1\n"), "statement %q", st)
	assert.Contains(t, st, "approval: "+id+"\n")
	assert.Contains(t, st, "decision: approve\n")
	assert.Contains(t, st, "requester: human:bob\n")
	sig := filepath.Join(t.TempDir(), "statement.sig")
	require.NoError(t, os.WriteFile(sig, sshtest.Sign(t, b.alice, "agentvault-approval", []byte(st)), 0o600))
	out := b.ok("", "approvals", "approve", id, "--signature", sig)
	assert.Regexp(t, `^approved `+id+`: signed by alice \(SHA256:\S+\), 1 of 2 approvals, waiting for 1 more\n$`, out)
	stderr = b.fails(exitDenied, "", "approvals", "approve", id, "--signature", sig)
	assert.Contains(t, stderr, "alice already approved it")

	ag := sshtest.StartAgent(t, b.carol)
	b.env["SSH_AUTH_SOCK"] = ag.Socket
	out = b.ok("", "approvals", "approve", id)
	assert.Contains(t, out, "signed by carol (SHA256:")
	assert.Contains(t, out, "2 of 2 approvals")
	delete(b.env, "SSH_AUTH_SOCK")

	show := b.ok("", "approvals", "show", id)
	assert.Contains(t, show, "approval "+id+": approved, critical tier, requested by human:bob, 2 of 2 approvals")
	assert.Regexp(t, `approved\s+human:alice\s+SHA256:\S+\s+signed`, show)
	assert.Regexp(t, `approved\s+human:carol\s+SHA256:\S+\s+signed`, show)
	var a struct {
		Votes []struct {
			Approver    struct{ ID string }
			Fingerprint string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(b.ok("", "approvals", "show", id, "--json")), &a))
	require.Len(t, a.Votes, 2)
	assert.Equal(t, "alice", a.Votes[0].Approver.ID)
	assert.NotEmpty(t, a.Votes[1].Fingerprint)

	tok, _ := b.token("token", "redeem", id, "--actor", "bob")
	b.env["ASS_TOKEN"] = tok
	assert.Equal(t, canary, b.ok("", "get", "prod/db"))
	// Approver management is administrative: refused with a token.
	b.fails(exitDenied, "", "approvers", "list")
	b.fails(exitDenied, "", "approvals", "approve", id, "--signature", sig)
}

func TestCLIApproversManage(t *testing.T) {
	b := newSignedBox(t)
	var list []struct {
		Name   string
		Groups []string
		Keys   []struct{ Fingerprint string }
	}
	require.NoError(t, json.Unmarshal([]byte(b.ok("", "approvers", "list", "--json")), &list))
	require.Len(t, list, 2)
	assert.Equal(t, "alice", list[0].Name)
	assert.Equal(t, []string{"sre"}, list[0].Groups)
	table := b.ok("", "approvers", "list")
	assert.Regexp(t, `(?m)^alice\s+sre\s+`+regexp.QuoteMeta(list[0].Keys[0].Fingerprint)+`$`, table)

	stderr := b.fails(exitUsage, "" /* invalid input: the key is taken */, "approvers", "add", "dave", "--key", b.alice.Path+".pub")
	assert.Contains(t, stderr, "already belongs to approver alice")
	b.fails(exitUsage, "", "approvers", "add", "dave")
	b.fails(exitUsage, "", "approvers", "list", "--key", "x")

	b.ok("", "approvers", "remove", "alice")
	b.fails(exitNotFound, "", "approvers", "remove", "alice")
	// alice's signature no longer counts.
	id := b.approval("critical", "2", "token", "request", "--scope", "secrets:read:prod/*", "--actor", "bob")
	st := b.ok("", "approvals", "statement", id)
	sig := filepath.Join(t.TempDir(), "st.sig")
	require.NoError(t, os.WriteFile(sig, sshtest.Sign(t, b.alice, "agentvault-approval", []byte(st)), 0o600))
	stderr = b.fails(exitDenied, "", "approvals", "approve", id, "--signature", sig)
	assert.Contains(t, stderr, "is not a registered approver's")

	// --key signs with a key file; a deny signature cannot approve.
	deny := filepath.Join(t.TempDir(), "deny.sig")
	require.NoError(t, os.WriteFile(deny, sshtest.Sign(t, b.carol, "agentvault-approval", []byte(b.ok("", "approvals", "statement", id, "--decision", "deny"))), 0o600))
	stderr = b.fails(exitDenied, "", "approvals", "approve", id, "--signature", deny)
	assert.Contains(t, stderr, "not over this request's statement for this decision")
	out := b.ok("", "approvals", "deny", id, "--key", b.carol.Path, "--reason", "not now")
	assert.Equal(t, "denied "+id+"\n", out)

	// mallory cannot cancel someone else's request without a signature.
	id = b.approval("critical", "2", "token", "request", "--scope", "secrets:read:prod/*", "--actor", "bob")
	b.fails(exitDenied, "", "approvals", "cancel", id, "--actor", "mallory")
	b.ok("", "approvals", "cancel", id, "--actor", "bob")
}

func TestCLIApproveWithPassphraseKeyNeedsTerminal(t *testing.T) {
	b := newSignedBox(t)
	kg := sshtest.Tool(t, "ssh-keygen")
	p := filepath.Join(t.TempDir(), "id_pass")
	require.NoError(t, exec.Command(kg, "-q", "-t", "ed25519", "-N", "correct horse", "-f", p).Run())
	b.ok("", "approvers", "add", "dave", "--key", p+".pub")
	id := b.approval("critical", "2", "token", "request", "--scope", "secrets:read:prod/*", "--actor", "bob")
	stderr := b.fails(exitError, "", "approvals", "approve", id, "--key", p)
	assert.Contains(t, stderr, "protected by a passphrase and stdin is not a terminal")
	assert.NotContains(t, stderr, "correct horse")
}
