package agentvault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hiddeco/sshsig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/agentvault/agentvault"
)

// approverKey is an in-memory approver key.
type approverKey struct {
	signer ssh.Signer
	line   string // authorized_keys form
}

func newEd25519(t testing.TB) approverKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return keyFromSigner(t, priv)
}

func keyFromSigner(t testing.TB, priv any) approverKey {
	t.Helper()
	s, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return approverKey{signer: s, line: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))}
}

func addApprover(t testing.TB, v *agentvault.AgentVault, name string, groups []string, keys ...approverKey) {
	t.Helper()
	in := agentvault.ApproverInput{Name: name, Groups: groups}
	for _, k := range keys {
		in.Keys = append(in.Keys, k.line)
	}
	_, err := v.AddApprover(ctx, in)
	require.NoError(t, err, "AddApprover(%q)", name)
}

// sign signs request id's statement for decision d with k.
func sign(t testing.TB, v *agentvault.AgentVault, id string, d agentvault.Decision, k approverKey) []byte {
	t.Helper()
	st, err := v.ApprovalStatement(ctx, id, d)
	require.NoError(t, err, "ApprovalStatement(%s, %s)", id, d)
	sig, err := agentvault.SignStatement(st, k.signer)
	require.NoError(t, err)
	return sig
}

// signedSetup is a vault with a critical secret and two registered
// approvers, alice and carol; bob requests.
type signedSetup struct {
	v            *agentvault.AgentVault
	clk          *fakeClock
	alice, carol approverKey
	audit        *strings.Builder
	mu           *sync.Mutex
}

func newSignedSetup(t testing.TB, opts ...agentvault.Option) *signedSetup {
	t.Helper()
	s := &signedSetup{clk: newClock(), alice: newEd25519(t), carol: newEd25519(t), audit: &strings.Builder{}, mu: &sync.Mutex{}}
	opts = append([]agentvault.Option{agentvault.WithClock(s.clk.Now), agentvault.WithAuditWriter(lockedWriter{s.mu, s.audit})}, opts...)
	s.v, _ = newVault(t, opts...)
	createTier(t, s.v, "prod/db", "pw", agentvault.TierCritical)
	addApprover(t, s.v, "alice", []string{"sre"}, s.alice)
	addApprover(t, s.v, "carol", nil, s.carol)
	return s
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (s *signedSetup) events(t *testing.T, name string) []agentvault.AuditEvent {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []agentvault.AuditEvent
	for _, l := range strings.Split(strings.TrimSpace(s.audit.String()), "\n") {
		var e agentvault.AuditEvent
		require.NoError(t, json.Unmarshal([]byte(l), &e))
		if e.Event == name {
			out = append(out, e)
		}
	}
	return out
}

func (s *signedSetup) request(t *testing.T) string {
	t.Helper()
	return requireApproval(t, s.v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:prod/*"}, TTL: 15 * time.Minute, MaxUses: 2})
}

func TestSignedApprovalTwoApproversThenRedeem(t *testing.T) {
	s := newSignedSetup(t)
	id := s.request(t)

	a, err := s.v.ApproveSigned(ctx, id, sign(t, s.v, id, agentvault.DecisionApprove, s.alice))
	require.NoError(t, err, "ApproveSigned(alice)")
	assert.Equal(t, agentvault.ApprovalPending, a.State)
	require.Len(t, a.Votes, 1)
	assert.Equal(t, agentvault.Actor{Kind: agentvault.ActorHuman, ID: "alice"}, a.Votes[0].Approver)
	assert.Equal(t, ssh.FingerprintSHA256(s.alice.signer.PublicKey()), a.Votes[0].Fingerprint)
	assert.Equal(t, agentvault.TrustSigned, a.Votes[0].Trust)
	assert.Contains(t, a.Votes[0].Signature, "BEGIN SSH SIGNATURE")

	// Whoever passes the signature in, the vote is carol's.
	a, err = s.v.ApproveSigned(bob, id, sign(t, s.v, id, agentvault.DecisionApprove, s.carol))
	require.NoError(t, err, "ApproveSigned(carol)")
	assert.Equal(t, agentvault.ApprovalApproved, a.State)
	assert.Equal(t, "carol", a.Votes[1].Approver.ID)

	tok, err := s.v.RedeemApproval(bob, id)
	require.NoError(t, err, "RedeemApproval")
	got, err := s.v.Session(tok.Value.Reveal()).GetSecret(ctx, "prod/db")
	require.NoError(t, err)
	assert.Equal(t, "pw", got.Value.Reveal())

	granted := s.events(t, agentvault.EventApprovalGranted)
	require.Len(t, granted, 2)
	assert.Equal(t, "alice", granted[0].Approver)
	assert.Equal(t, "alice", granted[0].Actor.ID)
	assert.Equal(t, ssh.FingerprintSHA256(s.alice.signer.PublicKey()), granted[0].Fingerprint)
	assert.Equal(t, "2 of 2; signed", granted[1].Reason)
	assert.Equal(t, ssh.FingerprintSHA256(s.carol.signer.PublicKey()), granted[1].Fingerprint)
}

func TestSignedApprovalRefusals(t *testing.T) {
	mallory := newEd25519(t)
	cases := []struct {
		name string
		// sig returns the signature to present for request id.
		sig  func(t *testing.T, s *signedSetup, id string) []byte
		want error
		msg  string
	}{
		{"unsigned when approvers exist", func(*testing.T, *signedSetup, string) []byte { return nil },
			agentvault.ErrSignatureRequired, "alice gave no signature over the approve statement"},
		{"unregistered key", func(t *testing.T, s *signedSetup, id string) []byte {
			return sign(t, s.v, id, agentvault.DecisionApprove, mallory)
		}, agentvault.ErrBadSignature, "is not a registered approver's"},
		{"wrong key (signature claims alice's key, made by another)", func(t *testing.T, s *signedSetup, id string) []byte {
			st, err := s.v.ApprovalStatement(ctx, id, agentvault.DecisionApprove)
			require.NoError(t, err)
			return forgeKey(t, st, mallory, s.alice)
		}, agentvault.ErrBadSignature, "is not over this request's statement"},
		{"wrong namespace", func(t *testing.T, s *signedSetup, id string) []byte {
			st, err := s.v.ApprovalStatement(ctx, id, agentvault.DecisionApprove)
			require.NoError(t, err)
			return signNS(t, st, s.alice, "file")
		}, agentvault.ErrBadSignature, `namespace "file"`},
		{"another approval's statement", func(t *testing.T, s *signedSetup, id string) []byte {
			other := s.request(t)
			return sign(t, s.v, other, agentvault.DecisionApprove, s.alice)
		}, agentvault.ErrBadSignature, "not over this request's statement"},
		{"another vault's statement", func(t *testing.T, s *signedSetup, id string) []byte {
			st, err := s.v.ApprovalStatement(ctx, id, agentvault.DecisionApprove)
			require.NoError(t, err)
			lines := strings.Split(string(st), "\n")
			for i, l := range lines {
				if strings.HasPrefix(l, "vault: ") {
					lines[i] = "vault: " + strings.Repeat("0", len(l)-len("vault: "))
				}
			}
			sig, err := agentvault.SignStatement([]byte(strings.Join(lines, "\n")), s.alice.signer)
			require.NoError(t, err)
			return sig
		}, agentvault.ErrBadSignature, "not over this request's statement"},
		{"the other decision", func(t *testing.T, s *signedSetup, id string) []byte {
			return sign(t, s.v, id, agentvault.DecisionDeny, s.alice)
		}, agentvault.ErrBadSignature, "not over this request's statement"},
		{"after the request expired", func(t *testing.T, s *signedSetup, id string) []byte {
			sig := sign(t, s.v, id, agentvault.DecisionApprove, s.alice)
			s.clk.Add(2 * time.Hour)
			return sig
		}, agentvault.ErrApprovalExpired, "expired"},
		{"after the approver was removed", func(t *testing.T, s *signedSetup, id string) []byte {
			sig := sign(t, s.v, id, agentvault.DecisionApprove, s.alice)
			require.NoError(t, s.v.RemoveApprover(ctx, "alice"))
			return sig
		}, agentvault.ErrBadSignature, "is not a registered approver's"},
		{"by the requester, with a registered key", func(t *testing.T, s *signedSetup, id string) []byte {
			bobKey := newEd25519(t)
			addApprover(t, s.v, "bob", nil, bobKey)
			return sign(t, s.v, id, agentvault.DecisionApprove, bobKey)
		}, agentvault.ErrApprovalForbidden, "bob requested it and cannot approve it"},
		{"one approver twice, with another of its keys", func(t *testing.T, s *signedSetup, id string) []byte {
			second := newEd25519(t)
			require.NoError(t, s.v.RemoveApprover(ctx, "carol"))
			addApprover(t, s.v, "carol", nil, s.carol, second)
			_, err := s.v.ApproveSigned(ctx, id, sign(t, s.v, id, agentvault.DecisionApprove, s.carol))
			require.NoError(t, err)
			return sign(t, s.v, id, agentvault.DecisionApprove, second)
		}, agentvault.ErrApprovalForbidden, "carol already approved it"},
		{"garbage", func(*testing.T, *signedSetup, string) []byte { return []byte("not a signature") },
			agentvault.ErrBadSignature, "not an SSH signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSignedSetup(t)
			id := s.request(t)
			sig := tc.sig(t, s, id)
			a, err := s.v.ApproveSigned(alice, id, sig)
			require.Error(t, err, "ApproveSigned: want refused")
			assert.Nil(t, a)
			assert.ErrorIs(t, err, tc.want, "ApproveSigned err = %v", err)
			if tc.want != agentvault.ErrApprovalExpired {
				assert.ErrorIs(t, err, agentvault.ErrApprovalForbidden, "ApproveSigned err = %v", err)
			}
			assert.Contains(t, err.Error(), tc.msg)
			got, gerr := s.v.GetApproval(ctx, id)
			require.NoError(t, gerr)
			assert.LessOrEqual(t, len(got.Votes), 1, "the refused approval is not counted")
			for _, vt := range got.Votes {
				assert.Equal(t, "carol", vt.Approver.ID)
			}
			_, err = s.v.RedeemApproval(bob, id)
			assert.Error(t, err, "RedeemApproval after a refused approval")
		})
	}
}

func TestSignedDenyAndCancel(t *testing.T) {
	t.Run("deny needs a signature over the deny statement", func(t *testing.T) {
		s := newSignedSetup(t)
		id := s.request(t)
		_, err := s.v.Deny(alice, id, "no")
		assert.ErrorIs(t, err, agentvault.ErrSignatureRequired)
		_, err = s.v.DenySigned(ctx, id, "no", sign(t, s.v, id, agentvault.DecisionApprove, s.alice))
		assert.ErrorIs(t, err, agentvault.ErrBadSignature, "an approve signature cannot deny")
		a, err := s.v.DenySigned(ctx, id, "no", sign(t, s.v, id, agentvault.DecisionDeny, s.alice))
		require.NoError(t, err)
		assert.Equal(t, agentvault.ApprovalDenied, a.State)
		assert.Equal(t, "alice", a.DecidedBy.ID)
		require.NotNil(t, a.Decision)
		assert.Equal(t, ssh.FingerprintSHA256(s.alice.signer.PublicKey()), a.Decision.Fingerprint)
		denied := s.events(t, agentvault.EventApprovalDenied)
		require.NotEmpty(t, denied)
		last := denied[len(denied)-1]
		assert.Equal(t, agentvault.OutcomeAllowed, last.Outcome)
		assert.Equal(t, "alice", last.Approver)
		assert.Equal(t, a.Decision.Fingerprint, last.Fingerprint)
	})
	t.Run("cancel: someone else needs a signed cancel; the requester does not", func(t *testing.T) {
		s := newSignedSetup(t)
		id := s.request(t)
		_, err := s.v.CancelApproval(agentvault.ContextWithActor(ctx, "mallory"), id)
		assert.ErrorIs(t, err, agentvault.ErrSignatureRequired, "mallory's unsigned cancel")
		a, err := s.v.CancelSigned(ctx, id, sign(t, s.v, id, agentvault.DecisionCancel, s.carol))
		require.NoError(t, err)
		assert.Equal(t, agentvault.ApprovalCancelled, a.State)
		assert.Equal(t, "carol", a.DecidedBy.ID)

		id2 := s.request(t)
		a, err = s.v.CancelApproval(bob, id2)
		require.NoError(t, err, "the requester cancels its own request")
		assert.Equal(t, agentvault.ApprovalCancelled, a.State)
	})
}

func TestTrustedCallerApprovals(t *testing.T) {
	s := newSignedSetup(t, agentvault.WithTrustedCallerApprovals())
	id := s.request(t)
	a, err := s.v.Approve(alice, id)
	require.NoError(t, err)
	require.Len(t, a.Votes, 1)
	assert.Equal(t, agentvault.TrustTrustedCaller, a.Votes[0].Trust)
	assert.Empty(t, a.Votes[0].Fingerprint)
	a, err = s.v.ApproveSigned(ctx, id, sign(t, s.v, id, agentvault.DecisionApprove, s.carol))
	require.NoError(t, err, "signed approvals are still accepted")
	assert.Equal(t, agentvault.ApprovalApproved, a.State)
	granted := s.events(t, agentvault.EventApprovalGranted)
	require.Len(t, granted, 2)
	assert.Equal(t, "1 of 2; unsigned (trusted caller)", granted[0].Reason)
	assert.Equal(t, "alice", granted[0].Approver)
}

func TestUnsignedApprovalsWithoutApprovers(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "prod/db", "pw", agentvault.TierCritical)
	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:prod/*"}})
	_, err := v.Approve(alice, id)
	require.NoError(t, err, "no approvers registered: caller-named approvals as before")
	a, err := v.Approve(carol, id)
	require.NoError(t, err)
	assert.Equal(t, agentvault.ApprovalApproved, a.State)
	assert.Empty(t, a.Votes[0].Trust)

	// Registering an approver turns signatures on for the next request.
	addApprover(t, v, "alice", nil, newEd25519(t))
	id = requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:prod/*"}})
	_, err = v.Approve(carol, id)
	assert.ErrorIs(t, err, agentvault.ErrSignatureRequired)
}

func TestApprovalRuleFrom(t *testing.T) {
	s := newSignedSetup(t, agentvault.WithApprovalRule("prod/*", agentvault.TierCritical,
		agentvault.TierRule{Approvers: 1, From: []string{"group:sre"}}))
	id := s.request(t)
	_, err := s.v.ApproveSigned(ctx, id, sign(t, s.v, id, agentvault.DecisionApprove, s.carol))
	assert.ErrorIs(t, err, agentvault.ErrApprovalForbidden, "carol is not in group sre")
	assert.Contains(t, err.Error(), "carol is not one of them")
	a, err := s.v.ApproveSigned(ctx, id, sign(t, s.v, id, agentvault.DecisionApprove, s.alice))
	require.NoError(t, err)
	assert.Equal(t, agentvault.ApprovalApproved, a.State)
}

func TestApproverRegistry(t *testing.T) {
	s := newSignedSetup(t)
	v := s.v
	list, err := v.ListApprovers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "alice", list[0].Name)
	assert.Equal(t, []string{"sre"}, list[0].Groups)
	assert.Equal(t, ssh.FingerprintSHA256(s.alice.signer.PublicKey()), list[0].Keys[0].Fingerprint)

	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	_, err = v.AddApprover(ctx, agentvault.ApproverInput{Name: "dave", Keys: []string{keyFromSigner(t, ec).line + " dave@laptop"}})
	require.NoError(t, err, "ecdsa-sha2-nistp384 with a comment")

	small, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		in   agentvault.ApproverInput
		want error
		msg  string
	}{
		{"rsa 2048", agentvault.ApproverInput{Name: "erin", Keys: []string{keyFromSigner(t, small).line}}, agentvault.ErrInvalidInput, "at least 3072 bits"},
		{"no key", agentvault.ApproverInput{Name: "erin"}, agentvault.ErrInvalidInput, "1 to 16 keys"},
		{"not a key", agentvault.ApproverInput{Name: "erin", Keys: []string{"hello"}}, agentvault.ErrInvalidInput, "not an SSH public key"},
		{"bad name", agentvault.ApproverInput{Name: "erin\n", Keys: []string{newEd25519(t).line}}, agentvault.ErrInvalidInput, "approver name"},
		{"name taken", agentvault.ApproverInput{Name: "alice", Keys: []string{newEd25519(t).line}}, agentvault.ErrAlreadyExists, "already registered"},
		{"key of another approver", agentvault.ApproverInput{Name: "erin", Keys: []string{s.carol.line}}, agentvault.ErrInvalidInput, "already belongs to approver carol"},
	} {
		_, err := v.AddApprover(ctx, tc.in)
		assert.ErrorIs(t, err, tc.want, "AddApprover(%s)", tc.name)
		if err != nil {
			assert.Contains(t, err.Error(), tc.msg, tc.name)
		}
	}

	_, err = v.AddApprover(agentvault.ContextWithAgentKey(ctx, "avk_x"), agentvault.ApproverInput{Name: "erin", Keys: []string{newEd25519(t).line}})
	assert.ErrorIs(t, err, agentvault.ErrUnauthorized, "an agent cannot add approvers")
	assert.ErrorIs(t, v.RemoveApprover(agentvault.ContextWithAgentKey(ctx, "avk_x"), "alice"), agentvault.ErrUnauthorized)

	require.NoError(t, v.RemoveApprover(ctx, "dave"))
	assert.ErrorIs(t, v.RemoveApprover(ctx, "dave"), agentvault.ErrNotFound)
	added := s.events(t, agentvault.EventApproverAdded)
	require.NotEmpty(t, added)
	assert.Equal(t, "alice", added[0].Approver)
	assert.Equal(t, ssh.FingerprintSHA256(s.alice.signer.PublicKey()), added[0].Fingerprint)
	removed := s.events(t, agentvault.EventApproverRemoved)
	require.Len(t, removed, 3, "the agent's refused removal, dave's, and the second one")
	assert.Equal(t, agentvault.OutcomeDenied, removed[0].Outcome)
	assert.Equal(t, agentvault.OutcomeAllowed, removed[1].Outcome)
	assert.Equal(t, "dave", removed[1].Approver)
	assert.Equal(t, agentvault.OutcomeFailed, removed[2].Outcome)
}

func TestNotifierCarriesStatement(t *testing.T) {
	var mu sync.Mutex
	var notices []agentvault.ApprovalNotice
	s := newSignedSetup(t, agentvault.WithNotifier(agentvault.NotifierFunc(func(_ context.Context, n agentvault.ApprovalNotice) error {
		mu.Lock()
		notices = append(notices, n)
		mu.Unlock()
		return nil
	})))
	id := s.request(t)
	mu.Lock()
	require.Len(t, notices, 1)
	n := notices[0]
	mu.Unlock()
	want, err := s.v.ApprovalStatement(ctx, id, agentvault.DecisionApprove)
	require.NoError(t, err)
	assert.Equal(t, string(want), n.Statement)
	deny, err := s.v.ApprovalStatement(ctx, id, agentvault.DecisionDeny)
	require.NoError(t, err)
	assert.Equal(t, string(deny), n.DenyStatement)

	// A receiver signs the statement from the notice and hands it back.
	sig, err := agentvault.SignStatement([]byte(n.Statement), s.alice.signer)
	require.NoError(t, err)
	_, err = s.v.ApproveSigned(ctx, id, sig)
	require.NoError(t, err)
}

func TestApprovalStatementFormat(t *testing.T) {
	s := newSignedSetup(t)
	id := requireApproval(t, s.v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:prod/db", "secrets:read:prod/*"},
		TTL: 15 * time.Minute, MaxUses: 2, AllowedIPs: []string{"10.0.0.0/8"}})
	st, err := s.v.ApprovalStatement(ctx, id, agentvault.DecisionApprove)
	require.NoError(t, err)
	lines := strings.Split(string(st), "\n")
	require.Len(t, lines, 14, "statement:\n%s", st)
	assert.Equal(t, "agentvault approval statement v1", lines[0])
	assert.Equal(t, "namespace: agentvault-approval", lines[1])
	assert.Regexp(t, `^vault: [0-9a-f]{32}$`, lines[2])
	assert.Equal(t, []string{
		"approval: " + id,
		"decision: approve",
		"requester: human:bob",
		"tier: critical",
		"scope: secrets:read:prod/db",
		"scope: secrets:read:prod/*",
		"allowed-ip: 10.0.0.0/8",
		"token-ttl: 15m0s",
		"token-max-uses: 2",
		"request-expires: 2026-11-26T13:00:00Z",
	}, lines[3:13])
	assert.Equal(t, "", lines[13], "ends with a newline")

	_, err = s.v.ApprovalStatement(ctx, id, "maybe")
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput)
	// The statement stays the same once the request is approved (its
	// expiry moves), so a signed cancel can still be made.
	_, err = s.v.ApproveSigned(ctx, id, sign(t, s.v, id, agentvault.DecisionApprove, s.alice))
	require.NoError(t, err)
	_, err = s.v.ApproveSigned(ctx, id, sign(t, s.v, id, agentvault.DecisionApprove, s.carol))
	require.NoError(t, err)
	again, err := s.v.ApprovalStatement(ctx, id, agentvault.DecisionApprove)
	require.NoError(t, err)
	assert.Equal(t, string(st), string(again))
}

// signNS signs msg with k in namespace ns.
func signNS(t testing.TB, msg []byte, k approverKey, ns string) []byte {
	t.Helper()
	sig, err := sshsig.Sign(strings.NewReader(string(msg)), k.signer, sshsig.HashSHA512, ns)
	require.NoError(t, err)
	return sshsig.Armor(sig)
}

// forgeKey signs msg with by but names claim's public key in the
// signature.
func forgeKey(t testing.TB, msg []byte, by, claim approverKey) []byte {
	t.Helper()
	sig, err := sshsig.Sign(strings.NewReader(string(msg)), by.signer, sshsig.HashSHA512, agentvault.SignatureNamespace)
	require.NoError(t, err)
	sig.PublicKey = claim.signer.PublicKey()
	return sshsig.Armor(sig)
}

func TestRequireSignedApprovalsWithoutApprovers(t *testing.T) {
	v, b := newVault(t, agentvault.WithRequireSignedApprovals())
	createTier(t, v, "prod/db", "pw", agentvault.TierCritical)
	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:prod/*"}})
	_, err := v.Approve(alice, id)
	assert.ErrorIs(t, err, agentvault.ErrSignatureRequired, "no approvers registered, signatures still required")

	// Without the option, deleting the approver records from the storage
	// would bring back unsigned approvals; with it, it does not.
	k := newEd25519(t)
	addApprover(t, v, "alice", nil, k)
	keys, err := b.List(ctx, "apv/")
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.NoError(t, b.Delete(ctx, keys[0], 0))
	_, err = v.Approve(alice, id)
	assert.ErrorIs(t, err, agentvault.ErrSignatureRequired)
	_, err = v.ApproveSigned(ctx, id, sign(t, v, id, agentvault.DecisionApprove, k))
	assert.ErrorIs(t, err, agentvault.ErrBadSignature, "the deleted approver's key")
}

func TestRedeemRefusedAfterSigningApproverRemoved(t *testing.T) {
	s := newSignedSetup(t)
	id := s.request(t)
	for _, k := range []approverKey{s.alice, s.carol} {
		_, err := s.v.ApproveSigned(ctx, id, sign(t, s.v, id, agentvault.DecisionApprove, k))
		require.NoError(t, err)
	}
	require.NoError(t, s.v.RemoveApprover(ctx, "alice"))
	tok, err := s.v.RedeemApproval(bob, id)
	assert.Nil(t, tok)
	assert.ErrorIs(t, err, agentvault.ErrApprovalForbidden, "RedeemApproval after alice was removed")
	assert.Contains(t, err.Error(), "the approval by alice no longer counts")

	// Registered again with the same key, her approval stands again.
	addApprover(t, s.v, "alice", nil, s.alice)
	tok, err = s.v.RedeemApproval(bob, id)
	require.NoError(t, err)
	assert.NotNil(t, tok)
}
