package agentvault_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/membackend"
)

func auditEvents(t *testing.T, v *agentvault.AgentVault) []agentvault.AuditEvent {
	t.Helper()
	ev, err := v.QueryAudit(ctx, agentvault.AuditQuery{})
	require.NoError(t, err)
	return ev
}

// TestAuditOneEventPerOperation runs every audited public method allowed,
// denied and failing, and checks each call appends exactly one event with
// the expected name and outcome.
func TestAuditOneEventPerOperation(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now))
	createTier(t, v, "app/std", "s", agentvault.TierStandard)
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/old", Value: agentvault.StringValue("o"), Tier: agentvault.TierStandard, ExpiresIn: time.Minute})
	require.NoError(t, err)
	update(t, v, "app/std", "s2")
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:*:app/*"}})
	sess := v.Session(tok.Value.Reveal())
	short := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}, TTL: time.Minute})
	createTier(t, v, "app/sens", "s", agentvault.TierSensitive)
	createTier(t, v, "app/crit", "c", agentvault.TierCritical)
	_, akey, err := v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "a", Scopes: []string{"secrets:read:app/std"}})
	require.NoError(t, err)
	actx := agentvault.ContextWithAgentKey(ctx, akey.Reveal())
	apr := func() string {
		return requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/sens"}})
	}
	a1, a2, a3, a4 := apr(), apr(), apr(), apr()
	_, err = v.Approve(alice, a4)
	require.NoError(t, err)
	clk.Add(2 * time.Minute) // app/old and the short token expire
	val := agentvault.StringValue("new")
	desc := "d"
	agentID := ""
	if l, err := v.ListAgents(ctx); assert.NoError(t, err) {
		agentID = l[0].ID
	}

	A, D, F := agentvault.OutcomeAllowed, agentvault.OutcomeDenied, agentvault.OutcomeFailed
	cases := []struct {
		name    string
		event   string
		outcome agentvault.Outcome
		call    func() error
	}{
		{"CreateSecret", agentvault.EventSecretCreated, A, func() error {
			_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/n", Value: val})
			return err
		}},
		{"CreateSecret exists", agentvault.EventSecretCreated, F, func() error {
			_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/n", Value: val})
			return err
		}},
		{"CreateSecret bad path", agentvault.EventSecretCreated, F, func() error {
			_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "../x", Value: val})
			return err
		}},
		{"GetSecret", agentvault.EventSecretRead, A, func() error { _, err := v.GetSecret(ctx, "app/std"); return err }},
		{"GetSecret expired", agentvault.EventSecretExpired, D, func() error { _, err := v.GetSecret(ctx, "app/old"); return err }},
		{"GetSecret missing", agentvault.EventSecretRead, F, func() error { _, err := v.GetSecret(ctx, "app/none"); return err }},
		{"UpdateSecret", agentvault.EventSecretUpdated, A, func() error {
			_, err := v.UpdateSecret(ctx, "app/n", agentvault.UpdateSecretInput{Value: &val})
			return err
		}},
		{"UpdateSecret missing", agentvault.EventSecretUpdated, F, func() error {
			_, err := v.UpdateSecret(ctx, "app/none", agentvault.UpdateSecretInput{Value: &val})
			return err
		}},
		{"Rollback", agentvault.EventSecretRolledBack, A, func() error { _, err := v.Rollback(ctx, "app/std", "v1"); return err }},
		{"Rollback missing version", agentvault.EventSecretRolledBack, F, func() error { _, err := v.Rollback(ctx, "app/std", "v9"); return err }},
		{"ListVersions", agentvault.EventSecretListed, A, func() error { _, err := v.ListVersions(ctx, "app/std"); return err }},
		{"ListVersions missing", agentvault.EventSecretListed, F, func() error { _, err := v.ListVersions(ctx, "app/none"); return err }},
		{"ListSecrets", agentvault.EventSecretListed, A, func() error { _, err := v.ListSecrets(ctx, agentvault.ListFilter{Prefix: "app/"}); return err }},
		{"ListSecrets bad prefix", agentvault.EventSecretListed, F, func() error { _, err := v.ListSecrets(ctx, agentvault.ListFilter{Prefix: "a b"}); return err }},
		{"ImportEnv", agentvault.EventSecretImported, A, func() error {
			// A dry run: a real import also writes two events per secret
			// (TestImportAuditedPerSecret).
			_, err := v.ImportEnv(ctx, strings.NewReader("A=1\nB=2\n"), agentvault.ImportOptions{Namespace: "imp", DryRun: true})
			return err
		}},
		{"ImportEnv bad", agentvault.EventSecretImported, F, func() error {
			_, err := v.ImportEnv(ctx, strings.NewReader("1A=1\n"), agentvault.ImportOptions{Namespace: "imp"})
			return err
		}},
		{"DeleteSecret", agentvault.EventSecretDeleted, A, func() error { return v.DeleteSecret(ctx, "app/n") }},
		{"DeleteSecret missing", agentvault.EventSecretDeleted, F, func() error { return v.DeleteSecret(ctx, "app/n") }},

		{"RequestToken", agentvault.EventTokenIssued, A, func() error {
			_, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/std"}})
			return err
		}},
		{"RequestToken approval", agentvault.EventApprovalRequested, A, func() error {
			_, err := v.RequestToken(bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/crit"}})
			return ignore(err, agentvault.ErrApprovalRequired)
		}},
		{"RequestToken beyond ceiling", agentvault.EventTokenDenied, D, func() error {
			_, err := v.RequestToken(actx, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}})
			return err
		}},
		{"RequestToken bad scope", agentvault.EventTokenDenied, F, func() error {
			_, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"x"}})
			return err
		}},
		{"Session.GetSecret", agentvault.EventSecretRead, A, func() error { _, err := sess.GetSecret(ctx, "app/std"); return err }},
		{"Session.GetSecret tier", agentvault.EventTokenDenied, D, func() error { _, err := sess.GetSecret(ctx, "app/crit"); return err }},
		{"Session.GetSecret token expired", agentvault.EventTokenExpired, D, func() error { _, err := v.Session(short.Value.Reveal()).GetSecret(ctx, "app/std"); return err }},
		{"Session.GetSecret unknown", agentvault.EventTokenDenied, D, func() error { _, err := v.Session("ast_tok_nope").GetSecret(ctx, "app/std"); return err }},
		{"Session.GetSecret missing", agentvault.EventSecretRead, F, func() error { _, err := sess.GetSecret(ctx, "app/none"); return err }},
		{"Session.ListSecrets", agentvault.EventSecretListed, A, func() error { _, err := sess.ListSecrets(ctx, agentvault.ListFilter{}); return err }},
		{"Session.ListSecrets unknown", agentvault.EventTokenDenied, D, func() error { _, err := v.Session("x").ListSecrets(ctx, agentvault.ListFilter{}); return err }},
		{"Session.ListSecrets bad prefix", agentvault.EventSecretListed, F, func() error { _, err := sess.ListSecrets(ctx, agentvault.ListFilter{Prefix: "%"}); return err }},
		{"Session.CreateSecret", agentvault.EventSecretCreated, A, func() error {
			_, err := sess.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/t", Value: val})
			return err
		}},
		{"Session.CreateSecret scope", agentvault.EventTokenDenied, D, func() error {
			_, err := sess.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "other/t", Value: val})
			return err
		}},
		{"Session.CreateSecret exists", agentvault.EventSecretCreated, F, func() error {
			_, err := sess.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/t", Value: val})
			return err
		}},
		{"Session.UpdateSecret", agentvault.EventSecretUpdated, A, func() error {
			_, err := sess.UpdateSecret(ctx, "app/t", agentvault.UpdateSecretInput{Value: &val})
			return err
		}},
		{"Session.UpdateSecret tier", agentvault.EventTokenDenied, D, func() error {
			_, err := sess.UpdateSecret(ctx, "app/sens", agentvault.UpdateSecretInput{Value: &val})
			return err
		}},
		{"Session.UpdateSecret missing", agentvault.EventSecretUpdated, F, func() error {
			_, err := sess.UpdateSecret(ctx, "app/none", agentvault.UpdateSecretInput{Value: &val})
			return err
		}},
		{"Session.DeleteSecret", agentvault.EventSecretDeleted, A, func() error { return sess.DeleteSecret(ctx, "app/t") }},
		{"Session.DeleteSecret scope", agentvault.EventTokenDenied, D, func() error { return sess.DeleteSecret(ctx, "x/t") }},
		{"Session.DeleteSecret missing", agentvault.EventSecretDeleted, F, func() error { return sess.DeleteSecret(ctx, "app/t") }},
		{"Session.Check", agentvault.EventTokenUsed, A, func() error { _, err := sess.Check(ctx); return err }},
		{"Session.Check expired", agentvault.EventTokenExpired, D, func() error { _, err := v.Session(short.Value.Reveal()).Check(ctx); return err }},

		{"Approve", agentvault.EventApprovalGranted, A, func() error { _, err := v.Approve(alice, a1); return err }},
		{"Approve self", agentvault.EventApprovalGranted, D, func() error { _, err := v.Approve(bob, a2); return err }},
		{"Approve missing", agentvault.EventApprovalGranted, F, func() error { _, err := v.Approve(alice, "apr_00000000000000000000"); return err }},
		{"Deny", agentvault.EventApprovalDenied, A, func() error { _, err := v.Deny(alice, a2, "no"); return err }},
		{"Deny closed", agentvault.EventApprovalDenied, D, func() error { _, err := v.Deny(alice, a2, "no"); return err }},
		{"Deny bad id", agentvault.EventApprovalDenied, F, func() error { _, err := v.Deny(alice, "x", "no"); return err }},
		{"CancelApproval", agentvault.EventApprovalDenied, A, func() error { _, err := v.CancelApproval(bob, a3); return err }},
		{"CancelApproval closed", agentvault.EventApprovalDenied, D, func() error { _, err := v.CancelApproval(bob, a3); return err }},
		{"CancelApproval missing", agentvault.EventApprovalDenied, F, func() error { _, err := v.CancelApproval(bob, "apr_00000000000000000000"); return err }},
		{"RedeemApproval", agentvault.EventTokenIssued, A, func() error { _, err := v.RedeemApproval(bob, a4); return err }},
		{"RedeemApproval twice", agentvault.EventTokenDenied, D, func() error { _, err := v.RedeemApproval(bob, a4); return err }},
		{"RedeemApproval missing", agentvault.EventTokenDenied, F, func() error { _, err := v.RedeemApproval(bob, "apr_00000000000000000000"); return err }},
		{"RevokeToken", agentvault.EventTokenRevoked, A, func() error { return v.RevokeToken(ctx, tok.Accessor) }},
		{"RevokeToken unknown", agentvault.EventTokenRevoked, D, func() error { return v.RevokeToken(ctx, "acc_000000000000000000000000") }},
		{"RevokeToken bad", agentvault.EventTokenRevoked, F, func() error { return v.RevokeToken(ctx, "x") }},
		{"Session.GetSecret revoked", agentvault.EventTokenDenied, D, func() error { _, err := sess.GetSecret(ctx, "app/std"); return err }},

		{"CreateAgent", agentvault.EventAgentCreated, A, func() error {
			_, _, err := v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "b", Scopes: []string{"secrets:read:*"}})
			return err
		}},
		{"CreateAgent bad", agentvault.EventAgentCreated, F, func() error { _, _, err := v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "b"}); return err }},
		{"UpdateAgent", agentvault.EventAgentUpdated, A, func() error {
			_, err := v.UpdateAgent(ctx, agentID, agentvault.UpdateAgentInput{Description: &desc})
			return err
		}},
		{"UpdateAgent missing", agentvault.EventAgentUpdated, F, func() error {
			_, err := v.UpdateAgent(ctx, "agt_000000000000000000000000", agentvault.UpdateAgentInput{})
			return err
		}},
	}
	for _, c := range cases {
		before := auditEvents(t, v)
		err := c.call()
		if c.outcome == A {
			assert.NoError(t, err, c.name)
		} else {
			assert.Error(t, err, c.name)
		}
		after := auditEvents(t, v)
		if !assert.Len(t, after, len(before)+1, "%s: events written", c.name) {
			continue
		}
		e := after[len(after)-1]
		assert.Equal(t, c.event, e.Event, "%s: event", c.name)
		assert.Equal(t, c.outcome, e.Outcome, "%s: outcome (reason %q)", c.name, e.Reason)
	}
	_, err = v.VerifyAudit(ctx)
	assert.NoError(t, err)
}

func ignore(err, target error) error {
	if errors.Is(err, target) {
		return nil
	}
	return err
}

func TestAuditEventFields(t *testing.T) {
	v, _ := newVault(t, agentvault.WithActor("deployer"))
	createTier(t, v, "app/key", "x", agentvault.TierStandard)
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	_, err := v.Session(tok.Value.Reveal()).GetSecret(ctx, "app/key")
	require.NoError(t, err)
	_, err = v.GetSecret(alice, "app/key")
	require.NoError(t, err)
	ev := auditEvents(t, v)
	require.Len(t, ev, 4)
	assert.Equal(t, agentvault.Actor{Kind: agentvault.ActorService, ID: "deployer"}, ev[0].Actor)
	assert.Equal(t, agentvault.EventTokenIssued, ev[1].Event)
	assert.Equal(t, tok.Accessor, ev[1].TokenAccessor)
	r := ev[2]
	assert.Equal(t, agentvault.EventSecretRead, r.Event)
	assert.Equal(t, agentvault.Actor{Kind: agentvault.ActorToken, ID: tok.Accessor}, r.Actor)
	assert.Equal(t, "app/key", r.Path)
	assert.Equal(t, "v1", r.Version)
	assert.Equal(t, agentvault.TierStandard, r.Tier)
	assert.Equal(t, agentvault.TypeCustom, r.Type)
	assert.Equal(t, agentvault.Actor{Kind: agentvault.ActorHuman, ID: "alice"}, ev[3].Actor)
	assert.NotEmpty(t, r.ID)
	assert.Equal(t, ev[1].Hash, r.Prev, "hash chain")

	q, err := v.QueryAudit(ctx, agentvault.AuditQuery{PathPrefix: "app/", Event: "secret.", ActorKind: agentvault.ActorToken})
	require.NoError(t, err)
	require.Len(t, q, 1)
	q, err = v.QueryAudit(ctx, agentvault.AuditQuery{ActorID: "alice"})
	require.NoError(t, err)
	assert.Len(t, q, 1)
	q, err = v.QueryAudit(ctx, agentvault.AuditQuery{Since: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	assert.Empty(t, q)
	q, err = v.QueryAudit(ctx, agentvault.AuditQuery{Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, ev[2:], q)
}

// copyBackend returns a new memory backend holding everything in b.
func copyBackend(t *testing.T, b backend.Backend) backend.Backend {
	t.Helper()
	nb := membackend.New()
	keys, err := b.List(ctx, "")
	require.NoError(t, err)
	for _, k := range keys {
		val, _, err := b.Get(ctx, k)
		require.NoError(t, err)
		_, err = nb.Put(ctx, k, val, 0)
		require.NoError(t, err)
	}
	return nb
}

func replace(t *testing.T, b backend.Backend, key string, val []byte) {
	t.Helper()
	_, rev, err := b.Get(ctx, key)
	require.NoError(t, err)
	_, err = b.Put(ctx, key, val, rev)
	require.NoError(t, err)
}

// TestAuditTamperDetected alters, deletes and swaps each event of a chain in
// turn and checks VerifyAudit names the first broken entry.
func TestAuditTamperDetected(t *testing.T) {
	v, b := newVault(t)
	v2, err := agentvault.New(b, testKey(t)) // a second writer on the same backend
	require.NoError(t, err)
	for i := 0; i < 6; i++ {
		createTier(t, v, "app/k"+string(rune('a'+i)), "x", agentvault.TierStandard)
		_, err := v2.GetSecret(ctx, "app/k"+string(rune('a'+i)))
		require.NoError(t, err)
	}
	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Writers)
	assert.Equal(t, 12, rep.Events)

	keys, err := b.List(ctx, "audit/")
	require.NoError(t, err)
	require.Len(t, keys, 12)
	chain := keys[:6] // one writer's entries, in order
	require.Equal(t, strings.Split(chain[0], "/")[1], strings.Split(chain[5], "/")[1])

	verify := func(nb backend.Backend) error {
		nv, err := agentvault.New(nb, testKey(t))
		require.NoError(t, err)
		defer nv.Close()
		_, err = nv.VerifyAudit(ctx)
		return err
	}
	check := func(what string, i int, err error, problem string) {
		var ie *agentvault.AuditIntegrityError
		if assert.True(t, errors.As(err, &ie), "%s entry %d: VerifyAudit err = %v, want *AuditIntegrityError", what, i, err) {
			assert.ErrorIs(t, err, agentvault.ErrIntegrity)
			assert.Equal(t, problem, ie.Problem, "%s entry %d: %v", what, i, err)
			assert.LessOrEqual(t, ie.Seq, uint64(i+1), "%s entry %d reported at %d", what, i, ie.Seq)
		}
	}
	for i, k := range chain {
		raw, _, err := b.Get(ctx, k)
		require.NoError(t, err)

		nb := copyBackend(t, b) // alter one field
		replace(t, nb, k, bytes.Replace(raw, []byte(`"outcome":"allowed"`), []byte(`"outcome":"denied"`), 1))
		check("altered", i, verify(nb), "modified")

		nb = copyBackend(t, b) // flip one byte anywhere
		flipped := append([]byte(nil), raw...)
		flipped[len(flipped)/2] ^= 1
		replace(t, nb, k, flipped)
		check("flipped", i, verify(nb), "modified")

		if i < len(chain)-1 {
			nb = copyBackend(t, b) // delete (the newest entry's deletion is the documented limit)
			require.NoError(t, nb.Delete(ctx, k, 0))
			check("deleted", i, verify(nb), "deleted")

			nb = copyBackend(t, b) // swap with the next entry
			next, _, err := b.Get(ctx, chain[i+1])
			require.NoError(t, err)
			replace(t, nb, k, next)
			replace(t, nb, chain[i+1], raw)
			check("swapped", i, verify(nb), "reordered")
		}
	}
}

func TestAuditWriterAndCanary(t *testing.T) {
	const canary = "CANARY-7f3a9c-SECRET-VALUE"
	var log bytes.Buffer
	v, b := newVault(t, agentvault.WithAuditWriter(&log))
	createTier(t, v, "app/canary", canary, agentvault.TierStandard)
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:*:app/*"}, Description: "d"})
	raw := tok.Value.Reveal()
	s := v.Session(raw)
	_, err := s.GetSecret(ctx, "app/canary")
	require.NoError(t, err)
	_, _ = v.GetSecret(ctx, "app/"+canary+"/../x") // a value pasted into an invalid path
	_, _ = v.Session(raw).GetSecret(ctx, canary+" ")
	_, _ = v.Session(raw+"A").GetSecret(ctx, "app/canary")
	_, _ = v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:" + canary + "["}})
	_, _ = v.ListSecrets(ctx, agentvault.ListFilter{Prefix: canary + " "})
	_, _ = v.ImportEnv(ctx, strings.NewReader("X="+canary+"\n"), agentvault.ImportOptions{Namespace: "imp"})
	nv := agentvault.StringValue(canary + "2")
	_, err = s.UpdateSecret(ctx, "app/canary", agentvault.UpdateSecretInput{Value: &nv})
	require.NoError(t, err)

	var stored bytes.Buffer
	keys, err := b.List(ctx, "audit/")
	require.NoError(t, err)
	for _, k := range keys {
		val, _, err := b.Get(ctx, k)
		require.NoError(t, err)
		stored.Write(val)
		stored.WriteByte('\n')
	}
	q, err := v.QueryAudit(ctx, agentvault.AuditQuery{})
	require.NoError(t, err)
	assert.Len(t, q, len(keys))
	for name, out := range map[string]string{"backend": stored.String(), "writer": log.String()} {
		assert.NotContains(t, out, canary, name)
		assert.NotContains(t, out, raw[len("ast_tok_"):], name)
		assert.Contains(t, out, tok.Accessor, name)
	}
	assert.Equal(t, stored.String(), log.String(), "the writer gets the same lines as the backend")

	rep, err := v.VerifyAuditLog(strings.NewReader(log.String()))
	require.NoError(t, err)
	assert.Equal(t, len(keys), rep.Events)
	lines := strings.SplitAfter(log.String(), "\n")
	tampered := strings.Join(append(append([]string{}, lines[:2]...), lines[3:]...), "")
	_, err = v.VerifyAuditLog(strings.NewReader(tampered))
	assert.ErrorIs(t, err, agentvault.ErrIntegrity, "a line deleted from the log")
}

// failingAudit fails every Put of an audit entry.
type failingAudit struct {
	backend.Backend
	mu   sync.Mutex
	fail bool
}

func (f *failingAudit) Put(ctx context.Context, key string, val []byte, rev int64) (int64, error) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail && strings.HasPrefix(key, "audit/") {
		return 0, errors.New("disk full")
	}
	return f.Backend.Put(ctx, key, val, rev)
}

func TestAuditFailClosed(t *testing.T) {
	for _, closed := range []bool{false, true} {
		fb := &failingAudit{Backend: membackend.New()}
		v, err := agentvault.New(fb, testKey(t), agentvault.WithAuditFailClosed(closed))
		require.NoError(t, err)
		createTier(t, v, "app/key", "x", agentvault.TierStandard)
		tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}})
		fb.mu.Lock()
		fb.fail = true
		fb.mu.Unlock()
		s, err := v.GetSecret(ctx, "app/key")
		ts, terr := v.Session(tok.Value.Reveal()).GetSecret(ctx, "app/key")
		nt, nerr := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}})
		if closed {
			assert.ErrorIs(t, err, agentvault.ErrAuditFailed, "GetSecret fails closed")
			assert.Nil(t, s)
			assert.ErrorIs(t, terr, agentvault.ErrAuditFailed, "Session.GetSecret fails closed")
			assert.Nil(t, ts)
			assert.ErrorIs(t, nerr, agentvault.ErrAuditFailed, "RequestToken fails closed")
			assert.Nil(t, nt)
		} else {
			assert.NoError(t, err, "GetSecret fails open")
			assert.NoError(t, terr)
			assert.NoError(t, nerr)
		}
		fb.mu.Lock()
		fb.fail = false
		fb.mu.Unlock()
		_, err = v.GetSecret(ctx, "app/key")
		require.NoError(t, err)
		_, err = v.VerifyAudit(ctx)
		assert.NoError(t, err, "the chain continues after failed writes")
		v.Close()
	}
}

func TestAuditOff(t *testing.T) {
	v, b := newVault(t, agentvault.WithAudit(false))
	createTier(t, v, "app/key", "x", agentvault.TierStandard)
	_, err := v.GetSecret(ctx, "app/key")
	require.NoError(t, err)
	keys, err := b.List(ctx, "audit/")
	require.NoError(t, err)
	assert.Empty(t, keys)
}
