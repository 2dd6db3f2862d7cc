package agentvault_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
)

func claimKeys(t *testing.T, b backend.Backend) []string {
	t.Helper()
	keys, err := b.List(ctx, "lifecycle/")
	require.NoError(t, err)
	return keys
}

// TestRunOnceRemovesStaleClaims: the claims of a deleted secret and of an
// expiry a secret no longer has are removed; those of a live secret's
// current expiry stay; and a secret re-created at a deleted one's path
// with the same expiry gets its notice again (before, the old claim said
// "already sent" forever).
func TestRunOnceRemovesStaleClaims(t *testing.T) {
	clk := newClock()
	log := &noticeLog{}
	v, b := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithExpiryNotifier(log))
	exp := clk.Now().Add(3 * day)
	expiring(t, v, "app/gone", exp)
	expiring(t, v, "app/moved", exp)
	expiring(t, v, "app/kept", exp)
	check(t, v)
	require.Len(t, log.notices(), 3, "the 7-day notices")
	require.Len(t, claimKeys(t, b), 3)

	require.NoError(t, v.DeleteSecret(ctx, "app/gone"))
	later := exp.Add(30 * day)
	_, err := v.UpdateSecret(ctx, "app/moved", agentvault.UpdateSecretInput{ExpiresAt: &later})
	require.NoError(t, err)

	rep, err := v.RunOnce(ctx)
	require.NoError(t, err, "RunOnce")
	assert.Equal(t, 2, rep.ClaimsRemoved, "claims of the deleted secret and of the old expiry")
	left := claimKeys(t, b)
	require.Len(t, left, 1, "claims left: %v", left)
	assert.Contains(t, left[0], "app/kept/", "the live secret's claim stays")

	// Re-created with the same expiry: notified again.
	expiring(t, v, "app/gone", exp)
	before := len(log.notices())
	check(t, v)
	assert.Len(t, log.notices(), before+1, "the re-created secret's notice")
}

// TestRemoveOrphansKeepsClaimsInProgress: a claim whose lease has not
// passed is kept even when its secret is gone; once the lease passes it is
// removed; RemoveOrphans lists what it removed and is audited.
func TestRemoveOrphansKeepsClaimsInProgress(t *testing.T) {
	clk := newClock()
	log := &noticeLog{}
	v, b := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithExpiryNotifier(log))
	expiring(t, v, "app/x", clk.Now().Add(3*day))
	log.boom.Store(1) // the process "dies" mid-delivery: the claim stays claimed
	func() {
		defer func() { _ = recover() }()
		_, _ = v.CheckExpirations(ctx)
	}()
	require.Len(t, claimKeys(t, b), 1, "a claim in progress")
	require.NoError(t, v.DeleteSecret(ctx, "app/x"))

	removed, err := v.RemoveOrphans(ctx)
	require.NoError(t, err)
	assert.Empty(t, removed, "a claim whose lease has not passed stays")

	clk.Add(agentvault.DefaultLifecycleLease + 1)
	removed, err = v.RemoveOrphans(ctx)
	require.NoError(t, err)
	require.Len(t, removed, 1)
	assert.True(t, strings.HasPrefix(removed[0], "lifecycle/notice/app/x/"), "removed %q", removed[0])
	assert.Empty(t, claimKeys(t, b))

	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventOrphansRemoved})
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Contains(t, evs[1].Reason, "removed 1")
}
