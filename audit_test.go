package agentvault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
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
// copyBackend copies b's keys and, when it has them, its logs (a
// backend.Appender) into a new memory backend.
func copyBackend(t *testing.T, b backend.Backend) *membackend.Backend {
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
	if a, ok := b.(backend.Appender); ok {
		logs, err := a.Logs(ctx, "")
		require.NoError(t, err)
		for _, l := range logs {
			recs, err := a.ReadLog(ctx, l)
			require.NoError(t, err)
			require.NoError(t, nb.Append(ctx, l, nil, recs))
		}
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

// auditLayouts are the two ways a memory backend stores audit events: one
// key per event (a backend without logs, hidden behind keysOnly; also the
// layout of chains written before logs existed) and the writers' logs
// (backend.Appender, membackend's default).
var auditLayouts = []string{"keys", "log"}

// layoutBackend returns a fresh memory backend storing audit events in
// layout, and the memory backend underneath.
func layoutBackend(layout string) (backend.Backend, *membackend.Backend) {
	mb := membackend.New()
	if layout == "keys" {
		return keysOnly{mb}, mb
	}
	return mb, mb
}

// auditChain is one writer's stored audit entries on a memory backend,
// in chain order, with ways to tamper with a copy of the whole store.
type auditChain struct {
	where   []string // how VerifyAudit and QueryAudit name each entry
	records [][]byte
	// edit returns a copy of the store whose chain is edit(records): on the
	// key layout, the i-th result is stored under the i-th entry's key and
	// a nil result deletes that key; on the log layout, the nil results are
	// dropped and the log rewritten.
	edit func(func(recs [][]byte) [][]byte) backend.Backend
}

// storedChains returns the audit chains stored in mb, in key or log name
// order.
func storedChains(t *testing.T, mb *membackend.Backend) []auditChain {
	t.Helper()
	var out []auditChain
	keys, err := mb.List(ctx, "audit/")
	require.NoError(t, err)
	byWriter := map[string]int{}
	for _, k := range keys {
		w := strings.Split(k, "/")[1]
		i, ok := byWriter[w]
		if !ok {
			i = len(out)
			byWriter[w] = i
			out = append(out, auditChain{})
		}
		raw, _, err := mb.Get(ctx, k)
		require.NoError(t, err)
		out[i].where = append(out[i].where, k)
		out[i].records = append(out[i].records, raw)
	}
	for i := range out {
		c := &out[i]
		c.edit = func(f func([][]byte) [][]byte) backend.Backend {
			nb := copyBackend(t, mb)
			for j, r := range f(slices.Clone(c.records)) {
				if r == nil {
					require.NoError(t, nb.Delete(ctx, c.where[j], 0))
				} else {
					replace(t, nb, c.where[j], r)
				}
			}
			return nb
		}
	}
	logs, err := mb.Logs(ctx, "audit.")
	require.NoError(t, err)
	for _, l := range logs {
		recs, err := mb.ReadLog(ctx, l)
		require.NoError(t, err)
		c := auditChain{records: recs}
		for j := range recs {
			c.where = append(c.where, fmt.Sprintf("log %s record %d", l, j+1))
		}
		c.edit = func(f func([][]byte) [][]byte) backend.Backend {
			nb := copyBackend(t, mb)
			var kept [][]byte
			for _, r := range f(slices.Clone(recs)) {
				if r != nil {
					kept = append(kept, r)
				}
			}
			require.NoError(t, nb.ReplaceLog(ctx, l, kept))
			return nb
		}
		out = append(out, c)
	}
	return out
}

// storedAuditLines returns every stored audit entry of mb, keys first (in
// key order), then logs (in name order), one per line.
func storedAuditLines(t *testing.T, mb *membackend.Backend) (string, int) {
	t.Helper()
	var buf strings.Builder
	n := 0
	for _, c := range storedChains(t, mb) {
		for _, r := range c.records {
			buf.Write(r)
			buf.WriteByte('\n')
			n++
		}
	}
	return buf.String(), n
}

// TestAuditTamperDetected alters, deletes and swaps each event of a chain in
// turn and checks VerifyAudit names the first broken entry, on both
// layouts.
func TestAuditTamperDetected(t *testing.T) {
	for _, layout := range auditLayouts {
		t.Run(layout, func(t *testing.T) { testAuditTamperDetected(t, layout) })
	}
}

func testAuditTamperDetected(t *testing.T, layout string) {
	b, mb := layoutBackend(layout)
	v, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	defer v.Close()
	v2, err := agentvault.New(b, testKey(t)) // a second writer on the same backend
	require.NoError(t, err)
	defer v2.Close()
	for i := 0; i < 6; i++ {
		createTier(t, v, "app/k"+string(rune('a'+i)), "x", agentvault.TierStandard)
		_, err := v2.GetSecret(ctx, "app/k"+string(rune('a'+i)))
		require.NoError(t, err)
	}
	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Writers)
	assert.Equal(t, 12, rep.Events)

	chains := storedChains(t, mb)
	require.Len(t, chains, 2)
	chain := chains[0] // one writer's entries, in order
	require.Len(t, chain.records, 6)
	if layout == "keys" {
		require.Equal(t, strings.Split(chain.where[0], "/")[1], strings.Split(chain.where[5], "/")[1])
	} else {
		logs, err := mb.Logs(ctx, "")
		require.NoError(t, err)
		require.Len(t, logs, 2, "events are in the writers' logs")
		keys, err := mb.List(ctx, "audit/")
		require.NoError(t, err)
		require.Empty(t, keys, "no event stored under its own key")
	}

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
	for i, raw := range chain.records {
		nb := chain.edit(func(r [][]byte) [][]byte { // alter one field
			r[i] = bytes.Replace(raw, []byte(`"outcome":"allowed"`), []byte(`"outcome":"denied"`), 1)
			return r
		})
		check("altered", i, verify(nb), "modified")

		nb = chain.edit(func(r [][]byte) [][]byte { // flip one byte anywhere
			flipped := append([]byte(nil), raw...)
			flipped[len(flipped)/2] ^= 1
			r[i] = flipped
			return r
		})
		check("flipped", i, verify(nb), "modified")

		if i < len(chain.records)-1 {
			// delete (the newest entry's deletion is the documented limit)
			nb = chain.edit(func(r [][]byte) [][]byte { r[i] = nil; return r })
			check("deleted", i, verify(nb), "deleted")

			nb = chain.edit(func(r [][]byte) [][]byte { r[i], r[i+1] = r[i+1], r[i]; return r })
			check("swapped", i, verify(nb), "reordered")
		}
	}
	// Truncated entries: every entry cut short is reported as modified.
	for i, raw := range chain.records {
		nb := chain.edit(func(r [][]byte) [][]byte { r[i] = raw[:len(raw)-3]; return r })
		check("truncated", i, verify(nb), "modified")
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

	stored, n := storedAuditLines(t, b.(*membackend.Backend))
	require.Positive(t, n)
	q, err := v.QueryAudit(ctx, agentvault.AuditQuery{})
	require.NoError(t, err)
	assert.Len(t, q, n)
	for name, out := range map[string]string{"backend": stored, "writer": log.String()} {
		assert.NotContains(t, out, canary, name)
		assert.NotContains(t, out, raw[len("ast_tok_"):], name)
		assert.Contains(t, out, tok.Accessor, name)
	}
	assert.Equal(t, stored, log.String(), "the writer gets the same lines as the backend")

	rep, err := v.VerifyAuditLog(strings.NewReader(log.String()))
	require.NoError(t, err)
	assert.Equal(t, n, rep.Events)
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
	logs, err := b.(backend.Appender).Logs(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, logs)
}
