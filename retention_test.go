package agentvault_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

const day = 24 * time.Hour

func versionStates(t *testing.T, v *agentvault.AgentVault, path string) []string {
	t.Helper()
	vs, err := v.ListVersions(ctx, path)
	require.NoError(t, err, "ListVersions(%q)", path)
	out := make([]string, len(vs))
	for i, vi := range vs {
		s := vi.Version
		switch {
		case vi.Pruned:
			s += ":pruned"
		case vi.IsActive:
			s += ":active"
		case vi.IsPrevious:
			s += ":previous"
		}
		out[i] = s
	}
	return out
}

func prunedEvents(t *testing.T, v *agentvault.AgentVault) []string {
	t.Helper()
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretVersionPruned})
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %s %s %s", e.Path, e.Version, e.Reason, e.Outcome))
	}
	return out
}

func TestRetentionAgeBoundary(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now)) // default policy: 90 days
	t0 := clk.Now()
	create(t, v, "app/key", "one")
	clk.Add(time.Hour)
	update(t, v, "app/key", "two")

	clk.Add(t0.Add(agentvault.DefaultRetentionAge - time.Nanosecond).Sub(clk.Now()))
	res, err := v.PruneVersions(ctx, "app/key")
	require.NoError(t, err)
	assert.Empty(t, res.Pruned, "PruneVersions at 90d-1ns")
	assert.Equal(t, "one", get(t, v, "app/key", agentvault.AtVersion("v1")).Value.Reveal())

	clk.Add(time.Nanosecond) // v1 is exactly 90 days old
	res, err = v.PruneVersions(ctx, "app/key")
	require.NoError(t, err)
	assert.Equal(t, []string{"v1"}, res.Pruned, "PruneVersions at 90d")
	assert.Equal(t, []string{"v1:pruned", "v2:active"}, versionStates(t, v, "app/key"))
	_, err = v.GetSecret(ctx, "app/key", agentvault.AtVersion("v1"))
	require.ErrorIs(t, err, agentvault.ErrNotFound, "GetSecret(v1) after pruning")
	assert.Contains(t, err.Error(), "pruned")
	_, err = v.Rollback(ctx, "app/key", "v1")
	require.ErrorIs(t, err, agentvault.ErrNotFound, "Rollback(pruned v1)")
	assert.Equal(t, []string{"app/key v1 retention_age allowed"}, prunedEvents(t, v))

	// The active version is never pruned, however old.
	clk.Add(1000 * day)
	res, err = v.PruneVersions(ctx, "app/key")
	require.NoError(t, err)
	assert.Empty(t, res.Pruned)
	assert.Equal(t, "two", get(t, v, "app/key").Value.Reveal())

	// The next version continues the numbering.
	update(t, v, "app/key", "three") // prunes v2 (1000 days old) on the update
	assert.Equal(t, []string{"v1:pruned", "v2:pruned", "v3:active"}, versionStates(t, v, "app/key"))
}

func TestRetentionCount(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithRetention(agentvault.RetentionPolicy{MaxVersions: 3}))
	create(t, v, "app/key", "v1")
	for i := 2; i <= 3; i++ {
		update(t, v, "app/key", fmt.Sprintf("v%d", i))
	}
	assert.Equal(t, []string{"v1", "v2", "v3:active"}, versionStates(t, v, "app/key"), "3 versions: none pruned")
	update(t, v, "app/key", "v4") // pruned on the update
	assert.Equal(t, []string{"v1:pruned", "v2", "v3", "v4:active"}, versionStates(t, v, "app/key"))

	// After a rollback the old active version is kept and counts.
	_, err := v.Rollback(ctx, "app/key", "v2")
	require.NoError(t, err)
	update(t, v, "app/key", "v5")
	assert.Equal(t, []string{"v1:pruned", "v2:pruned", "v3", "v4", "v5:active"}, versionStates(t, v, "app/key"))
	_, err = v.Rollback(ctx, "app/key", "v3")
	require.NoError(t, err)
	res, err := v.PruneVersions(ctx, "app/key")
	require.NoError(t, err)
	assert.Empty(t, res.Pruned, "3 versions, active v3")
	assert.Len(t, prunedEvents(t, v), 2)
}

func TestRetentionNeverPrunesGrace(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithRetention(agentvault.RetentionPolicy{MaxAge: time.Hour, MaxVersions: 1}))
	create(t, v, "app/key", "one")
	clk.Add(2 * time.Hour)
	val := agentvault.StringValue("two")
	m, err := v.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{Value: &val, GracePeriod: 30 * time.Minute})
	require.NoError(t, err)
	assert.Equal(t, "v1", m.PreviousVersion)
	assert.Equal(t, []string{"v1:previous", "v2:active"}, versionStates(t, v, "app/key"), "v1 in grace, over both limits, kept")

	clk.Add(30*time.Minute - time.Nanosecond)
	res, err := v.PruneVersions(ctx, "app/key")
	require.NoError(t, err)
	assert.Empty(t, res.Pruned, "grace-1ns")
	clk.Add(time.Nanosecond)
	res, err = v.PruneVersions(ctx, "app/key")
	require.NoError(t, err)
	assert.Equal(t, []string{"v1"}, res.Pruned, "at the end of the grace")
}

func TestRetentionOff(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithRetention(agentvault.RetentionPolicy{}))
	create(t, v, "app/key", "one")
	update(t, v, "app/key", "two")
	clk.Add(10000 * day)
	update(t, v, "app/key", "three")
	res, err := v.PruneVersions(ctx, "app/key")
	require.NoError(t, err)
	assert.Empty(t, res.Pruned)
	assert.Equal(t, []string{"v1", "v2", "v3:active"}, versionStates(t, v, "app/key"))
}

func TestRetentionBySchedulerPass(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now))
	create(t, v, "a/one", "x")
	update(t, v, "a/one", "y")
	create(t, v, "a/two", "x")
	clk.Add(agentvault.DefaultRetentionAge)
	rep, err := v.RunOnce(ctx)
	require.NoError(t, err)
	require.Len(t, rep.Pruned, 1)
	assert.Equal(t, agentvault.PruneResult{Path: "a/one", Pruned: []string{"v1"}}, rep.Pruned[0])
	events, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretVersionPruned})
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, agentvault.Actor{Kind: agentvault.ActorSystem, ID: "scheduler"}, events[0].Actor)
	_, err = v.PruneVersions(ctx, "a/missing")
	assert.ErrorIs(t, err, agentvault.ErrNotFound, "PruneVersions(missing)")
}
