package agentvault_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/membackend"
)

// counterRotator appends "+" to the current value; its check rejects
// values when reject is set. It counts its calls.
type counterRotator struct {
	calls  atomic.Int32
	checks atomic.Int32
	reject atomic.Bool
	fail   atomic.Bool
	panics atomic.Int32 // panic on this many calls (a "crash" mid-rotation)
	during func()       // called inside Verify
}

func (r *counterRotator) Rotate(_ context.Context, req agentvault.RotationRequest) (agentvault.SecretValue, error) {
	r.calls.Add(1)
	if r.panics.Add(-1) >= 0 {
		panic("simulated crash")
	}
	if r.fail.Load() {
		return agentvault.SecretValue{}, errors.New("provider unavailable")
	}
	return agentvault.StringValue(req.Current.Reveal() + "+"), nil
}

func (r *counterRotator) Verify(_ context.Context, req agentvault.RotationRequest, next agentvault.SecretValue) error {
	r.checks.Add(1)
	if r.during != nil {
		r.during()
	}
	if req.NewVersion == "" || !strings.HasSuffix(next.Reveal(), "+") {
		return errors.New("bad request")
	}
	if r.reject.Load() {
		return errors.New("smoke test failed")
	}
	return nil
}

func rotatedEvents(t *testing.T, v *agentvault.AgentVault) []string {
	t.Helper()
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretRotated})
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %s %s %s %s", e.Actor.Kind, e.Path, e.Version, e.Outcome, e.Reason))
	}
	return out
}

func TestRotateWithRotator(t *testing.T) {
	clk := newClock()
	rot := &counterRotator{}
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithRotator(agentvault.TypeAPIKey, rot))
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "svc/key", Value: agentvault.StringValue("k"), Type: agentvault.TypeAPIKey})
	require.NoError(t, err)
	res, err := v.RotateSecret(ctx, "svc/key", agentvault.RotateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "v2", res.Version)
	assert.Equal(t, "v1", res.Replaced)
	assert.EqualValues(t, 1, rot.checks.Load(), "Verify calls")
	assert.Equal(t, "k+", get(t, v, "svc/key").Value.Reveal())
	assert.Equal(t, []string{"service svc/key v2 allowed "}, rotatedEvents(t, v))
	// Without a grace period "previous" is not readable.
	_, err = v.GetSecret(ctx, "svc/key", agentvault.AtVersion(agentvault.PreviousVersion))
	assert.ErrorIs(t, err, agentvault.ErrNotFound, "GetSecret(previous) without grace")
}

func TestRotateVerifyFailureKeepsOldVersion(t *testing.T) {
	rot := &counterRotator{}
	rot.reject.Store(true)
	v, _ := newVault(t, agentvault.WithRotator(agentvault.TypeAPIKey, rot))
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "svc/key", Value: agentvault.StringValue("k"), Type: agentvault.TypeAPIKey})
	require.NoError(t, err)
	_, err = v.RotateSecret(ctx, "svc/key", agentvault.RotateOptions{GracePeriod: time.Hour})
	require.ErrorIs(t, err, agentvault.ErrRotationFailed, "RotateSecret with a failing check")
	var ae *agentvault.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "v2", ae.Version, "the error names the unactivated version")
	s := get(t, v, "svc/key")
	assert.Equal(t, "v1", s.Version)
	assert.Equal(t, "k", s.Value.Reveal())
	assert.Empty(t, s.PreviousVersion)
	assert.Equal(t, []string{"v1:active", "v2"}, versionStates(t, v, "svc/key"), "v2 stays stored, inactive")
	assert.Equal(t, []string{"service svc/key v2 failed verify_failed"}, rotatedEvents(t, v))

	// A failing rotator writes nothing.
	rot.reject.Store(false)
	rot.fail.Store(true)
	_, err = v.RotateSecret(ctx, "svc/key", agentvault.RotateOptions{})
	require.ErrorIs(t, err, agentvault.ErrRotationFailed)
	assert.NotContains(t, err.Error(), "k+", "the error names no value")
	assert.Equal(t, []string{"v1:active", "v2"}, versionStates(t, v, "svc/key"))
	assert.Equal(t, "service svc/key  failed rotator_failed", rotatedEvents(t, v)[1])

	// Then a good rotation: v3, from the active v1.
	rot.fail.Store(false)
	res, err := v.RotateSecret(ctx, "svc/key", agentvault.RotateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "v3", res.Version)
	assert.Equal(t, "k+", get(t, v, "svc/key").Value.Reveal())
}

func TestRotateConflictDuringCheck(t *testing.T) {
	rot := &counterRotator{}
	v, _ := newVault(t, agentvault.WithRotator(agentvault.TypeAPIKey, rot))
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "svc/key", Value: agentvault.StringValue("k"), Type: agentvault.TypeAPIKey})
	require.NoError(t, err)
	rot.during = func() { update(t, v, "svc/key", "manual") } // v3, written while v2 is being checked
	_, err = v.RotateSecret(ctx, "svc/key", agentvault.RotateOptions{})
	require.ErrorIs(t, err, agentvault.ErrConflict)
	s := get(t, v, "svc/key")
	assert.Equal(t, "v3", s.Version)
	assert.Equal(t, "manual", s.Value.Reveal())
}

func TestRotateRouting(t *testing.T) {
	byType, byPath := &counterRotator{}, &counterRotator{}
	v, _ := newVault(t, agentvault.WithRotator(agentvault.TypeAPIKey, byType),
		agentvault.WithPathRotator("payments/*", byPath))
	for _, p := range []string{"payments/stripe", "svc/key"} {
		_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: p, Value: agentvault.StringValue("k"), Type: agentvault.TypeAPIKey})
		require.NoError(t, err)
		_, err = v.RotateSecret(ctx, p, agentvault.RotateOptions{})
		require.NoError(t, err, "RotateSecret(%q)", p)
	}
	assert.EqualValues(t, 1, byPath.calls.Load(), "path rotator calls")
	assert.EqualValues(t, 1, byType.calls.Load(), "type rotator calls")

	create(t, v, "other/custom", "x")
	_, err := v.RotateSecret(ctx, "other/custom", agentvault.RotateOptions{})
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "RotateSecret without a rotator")

	bad, _ := newVault(t, agentvault.WithPathRotator("a/[", byPath))
	create(t, bad, "a/b", "x")
	_, err = bad.RotateSecret(ctx, "a/b", agentvault.RotateOptions{})
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "RotateSecret with an invalid pattern")
	_, err = v.RotateSecret(ctx, "missing/x", agentvault.RotateOptions{})
	assert.ErrorIs(t, err, agentvault.ErrNotFound)
}

func TestManualRotationGraceBoundaries(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now))
	create(t, v, "svc/key", "old")
	val := agentvault.StringValue("new")
	res, err := v.RotateSecret(ctx, "svc/key", agentvault.RotateOptions{Value: &val, GracePeriod: 15 * time.Minute})
	require.NoError(t, err)
	end := clk.Now().Add(15 * time.Minute)
	assert.Equal(t, "v1", res.PreviousVersion)
	assert.Equal(t, end, res.GraceEndsAt)
	m, err := v.GetMetadata(ctx, "svc/key")
	require.NoError(t, err)
	assert.Equal(t, end, m.GraceEndsAt, "GetMetadata reports when the grace ends")
	assert.True(t, m.InGrace(clk.Now()))
	assert.Equal(t, []string{"v1:previous", "v2:active"}, versionStates(t, v, "svc/key"))

	clk.Add(15*time.Minute - time.Nanosecond)
	prev := get(t, v, "svc/key", agentvault.AtVersion(agentvault.PreviousVersion))
	assert.Equal(t, "old", prev.Value.Reveal(), "previous at grace-1ns")
	assert.Equal(t, "v1", prev.Version)
	assert.Equal(t, "new", get(t, v, "svc/key").Value.Reveal())

	clk.Add(time.Nanosecond)
	_, err = v.GetSecret(ctx, "svc/key", agentvault.AtVersion(agentvault.PreviousVersion))
	require.ErrorIs(t, err, agentvault.ErrNotFound, "previous at the end of the grace")
	assert.Contains(t, err.Error(), "grace period")
	assert.False(t, m.InGrace(clk.Now()))
	// By its id the old version stays readable, like any inactive version, until pruned.
	assert.Equal(t, "old", get(t, v, "svc/key", agentvault.AtVersion("v1")).Value.Reveal())

	// A rollback ends a grace period; UpdateSecret gives one too.
	v2 := agentvault.StringValue("newer")
	um, err := v.UpdateSecret(ctx, "svc/key", agentvault.UpdateSecretInput{Value: &v2, GracePeriod: time.Hour})
	require.NoError(t, err)
	assert.Equal(t, "v2", um.PreviousVersion)
	assert.Equal(t, "new", get(t, v, "svc/key", agentvault.AtVersion("previous")).Value.Reveal())
	_, err = v.Rollback(ctx, "svc/key", "v2")
	require.NoError(t, err)
	_, err = v.GetSecret(ctx, "svc/key", agentvault.AtVersion("previous"))
	assert.ErrorIs(t, err, agentvault.ErrNotFound, "previous after a rollback")

	_, err = v.UpdateSecret(ctx, "svc/key", agentvault.UpdateSecretInput{GracePeriod: time.Hour})
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "GracePeriod without a value")
	_, err = v.RotateSecret(ctx, "svc/key", agentvault.RotateOptions{Value: &val, GracePeriod: -1})
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "negative grace")
}

func TestScheduledRotation(t *testing.T) {
	clk := newClock()
	rot := &counterRotator{}
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithRotator(agentvault.TypeAPIKey, rot))
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "svc/key", Value: agentvault.StringValue("k"), Type: agentvault.TypeAPIKey})
	require.NoError(t, err)
	m, err := v.SetRotationSchedule(ctx, "svc/key", 7*day, 15*time.Minute)
	require.NoError(t, err)
	due := clk.Now().Add(7 * day)
	assert.Equal(t, 7*day, m.RotateEvery)
	assert.Equal(t, due, m.NextRotationAt)

	clk.Add(7*day - time.Nanosecond)
	rep, err := v.RotateDue(ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Due, "RotateDue 1ns early")
	clk.Add(time.Nanosecond)
	rep, err = v.RotateDue(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"svc/key"}, rep.Rotated)
	rep, err = v.RotateDue(ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Due, "RotateDue again")

	s := get(t, v, "svc/key")
	assert.Equal(t, "k+", s.Value.Reveal())
	vis, err := v.ListVersions(ctx, "svc/key")
	require.NoError(t, err)
	assert.Equal(t, "scheduler", vis[1].CreatedBy, "the new version's creator")
	assert.Equal(t, due.Add(7*day), s.NextRotationAt)
	assert.Equal(t, due.Add(15*time.Minute), s.GraceEndsAt)
	assert.Equal(t, []string{"system svc/key v2 allowed "}, rotatedEvents(t, v))

	// A failed scheduled rotation is audited and retried an hour later.
	rot.fail.Store(true)
	clk.Add(7 * day)
	rep, err = v.RotateDue(ctx)
	require.Error(t, err)
	assert.Equal(t, []string{"svc/key"}, rep.Failed)
	m, err = v.GetMetadata(ctx, "svc/key")
	require.NoError(t, err)
	assert.Equal(t, clk.Now().Add(agentvault.DefaultRotationRetry), m.NextRotationAt)
	rot.fail.Store(false)
	clk.Add(agentvault.DefaultRotationRetry)
	lrep, err := v.RunOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"svc/key"}, lrep.Rotation.Rotated)
	assert.Equal(t, "k++", get(t, v, "svc/key").Value.Reveal())

	// Removing the schedule.
	m, err = v.SetRotationSchedule(ctx, "svc/key", 0, 0)
	require.NoError(t, err)
	assert.Zero(t, m.RotateEvery)
	assert.True(t, m.NextRotationAt.IsZero())
	_, err = v.SetRotationSchedule(ctx, "svc/key", -time.Hour, 0)
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput)
}

// TestScheduledRotationOnce: four vaults on one store run RotateDue at
// once; the due rotation runs once.
func TestScheduledRotationOnce(t *testing.T) {
	sharedStores(t, func(t *testing.T, open func() backend.Backend) {
		clk := newClock()
		rot := &counterRotator{}
		vs := vaults(t, 4, open, agentvault.WithClock(clk.Now), agentvault.WithRotator(agentvault.TypeAPIKey, rot))
		for i := 0; i < 3; i++ {
			p := fmt.Sprintf("svc/key%d", i)
			_, err := vs[0].CreateSecret(ctx, agentvault.CreateSecretInput{Path: p, Value: agentvault.StringValue("k"), Type: agentvault.TypeAPIKey})
			require.NoError(t, err)
			_, err = vs[0].SetRotationSchedule(ctx, p, day, 0)
			require.NoError(t, err)
		}
		clk.Add(day)
		for round := 0; round < 3; round++ {
			concurrently(4, func(i int) {
				_, err := vs[i].RotateDue(ctx)
				assert.NoError(t, err, "RotateDue in vault %d", i)
			})
		}
		assert.EqualValues(t, 3, rot.calls.Load(), "rotator calls")
		for i := 0; i < 3; i++ {
			p := fmt.Sprintf("svc/key%d", i)
			assert.Equal(t, []string{"v1", "v2:active"}, versionStates(t, vs[0], p), p)
			assert.Equal(t, "k+", get(t, vs[0], p).Value.Reveal())
		}
	})
}

// TestScheduledRotationCrash: a process that claimed a rotation and died is
// replaced after the lease.
func TestScheduledRotationCrash(t *testing.T) {
	clk := newClock()
	rot := &counterRotator{}
	b := membackend.New()
	va := mustVault(t, b, agentvault.WithClock(clk.Now), agentvault.WithRotator(agentvault.TypeAPIKey, rot))
	vb := mustVault(t, b, agentvault.WithClock(clk.Now), agentvault.WithRotator(agentvault.TypeAPIKey, rot))
	_, err := va.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "svc/key", Value: agentvault.StringValue("k"), Type: agentvault.TypeAPIKey})
	require.NoError(t, err)
	_, err = va.SetRotationSchedule(ctx, "svc/key", day, 0)
	require.NoError(t, err)
	clk.Add(day)
	rot.panics.Store(1)
	assert.Panics(t, func() { _, _ = va.RotateDue(ctx) }, "the crash")

	clk.Add(agentvault.DefaultLifecycleLease - time.Nanosecond)
	rep, err := vb.RotateDue(ctx)
	require.NoError(t, err)
	assert.Empty(t, rep.Rotated, "lease not over")
	clk.Add(time.Nanosecond)
	rep, err = vb.RotateDue(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"svc/key"}, rep.Rotated, "taken over at the end of the lease")
	assert.Equal(t, "k+", get(t, vb, "svc/key").Value.Reveal())
}
