package agentvault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/internal/record"
)

// Lifecycle: version retention (retention.go), rotation with grace periods
// (rotation.go), expiry notices (expiry.go), and the scheduler that runs
// them (this file), with the claims that make each scheduled action happen
// once across every process sharing the backend.

// Defaults of the lifecycle options.
const (
	DefaultLifecycleLease    = 5 * time.Minute // how long a claim stays owned before another process may retry it
	DefaultSchedulerInterval = time.Minute     // Run's pause between passes
	DefaultRotationRetry     = time.Hour       // a failed scheduled rotation is retried after this (or its interval, if shorter)
)

// PreviousVersion is the version name AtVersion accepts for the version
// that was active before the last rotation, during its grace period.
const PreviousVersion = "previous"

type lifecycleOptions struct {
	retention     RetentionPolicy
	lease         time.Duration
	interval      time.Duration
	rotationRetry time.Duration
	rotators      []rotatorRule
	notifiers     []ExpiryNotifier
	onError       func(error)
	st            *lifecycleState
}

func defaultLifecycleOptions() lifecycleOptions {
	return lifecycleOptions{
		retention:     DefaultRetention(),
		lease:         DefaultLifecycleLease,
		interval:      DefaultSchedulerInterval,
		rotationRetry: DefaultRotationRetry,
		st:            &lifecycleState{},
	}
}

// lifecycleState is per-vault mutable state: the claims this process knows
// are done, so it does not ask the backend again.
type lifecycleState struct {
	mu   sync.Mutex
	done map[string]bool
}

const maxDoneCache = 1 << 14

func (s *lifecycleState) isDone(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done[key]
}

func (s *lifecycleState) setDone(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil || len(s.done) >= maxDoneCache {
		s.done = make(map[string]bool)
	}
	s.done[key] = true
}

// WithLifecycleLease sets how long a process owns a claim on a scheduled
// action (an expiry notice, a secret.expired record, a scheduled rotation)
// before another process may take it over and retry. It must exceed the
// longest delivery (a WebhookNotifier's retries) or rotation. Default 5
// minutes (DefaultLifecycleLease).
func WithLifecycleLease(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.lifecycle.lease = d
		}
	}
}

// WithSchedulerInterval sets the pause between Run's passes. Default 1
// minute (DefaultSchedulerInterval). Notices and rotations are due at exact
// instants, but are acted on at the first pass at or after them.
func WithSchedulerInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.lifecycle.interval = d
		}
	}
}

// WithSchedulerErrors sets a function Run calls with the error of a pass
// that failed (the pass is retried at the next interval). Default none.
func WithSchedulerErrors(f func(error)) Option {
	return func(o *options) { o.lifecycle.onError = f }
}

// LifecycleReport reports one scheduler pass.
type LifecycleReport struct {
	Expiry   *ExpiryReport   `json:"expiry"`
	Rotation *RotationReport `json:"rotation"`
	Pruned   []PruneResult   `json:"pruned,omitempty"` // secrets whose versions this pass pruned
	// ClaimsRemoved counts the lifecycle claims this pass deleted because
	// they can no longer matter (their secret is gone, its expiry or
	// rotation schedule moved on; see RemoveOrphans).
	ClaimsRemoved int `json:"claims_removed,omitempty"`
	// OrphansRemoved counts the orphan version records (see
	// DoctorReport.OrphanVersions) this pass deleted.
	OrphansRemoved int `json:"orphans_removed,omitempty"`
}

// RunOnce runs one scheduler pass: CheckExpirations, RotateDue, the
// retention policy on every secret, then the removal of lifecycle claims
// that can no longer matter and of orphan version records older than 15
// minutes (RemoveOrphans). It goes on after a failure in one part
// and returns the parts' errors joined. Safe to call from any number of
// processes at once: each notice and rotation happens once.
func (v *AgentVault) RunOnce(ctx context.Context) (*LifecycleReport, error) {
	rep := &LifecycleReport{}
	var errs []error
	var err error
	if rep.Expiry, err = v.CheckExpirations(ctx); err != nil {
		errs = append(errs, err)
	}
	if rep.Rotation, err = v.RotateDue(ctx); err != nil {
		errs = append(errs, err)
	}
	if rep.Pruned, err = v.pruneAll(ctx); err != nil {
		errs = append(errs, err)
	}
	if removed, err := v.sweepClaimsEntered(ctx); err != nil {
		errs = append(errs, opErr("sweep claims", "", "", err))
	} else {
		rep.ClaimsRemoved = len(removed)
	}
	if removed, err := v.removeOrphans(ctx); err != nil {
		errs = append(errs, opErr("orphans", "", "", err))
	} else {
		rep.OrphansRemoved = len(removed)
	}
	return rep, errors.Join(errs...)
}

// Run runs a scheduler pass (RunOnce) at once and then every interval
// (WithSchedulerInterval) until ctx is done, and returns nil then. A
// failing pass is reported to WithSchedulerErrors and retried at the next
// interval. Run as many schedulers as you like, in as many processes: the
// claims in the backend make each notice and rotation happen once. Apps
// with their own cron call RunOnce (or CheckExpirations) instead.
func (v *AgentVault) Run(ctx context.Context) error {
	t := time.NewTicker(v.opts.lifecycle.interval)
	defer t.Stop()
	for {
		if v.closed.Load() {
			return &Error{Op: "run", Err: ErrClosed}
		}
		if _, err := v.RunOnce(ctx); err != nil && ctx.Err() == nil && v.opts.lifecycle.onError != nil {
			v.opts.lifecycle.onError(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// pruneAll applies the retention policy to every secret that needs it.
func (v *AgentVault) pruneAll(ctx context.Context) ([]PruneResult, error) {
	var out []PruneResult
	now := v.opts.now()
	err := v.scan(ctx, func(path string, rec *record.Secret) error {
		if !v.wouldPrune(rec, now) {
			return nil
		}
		res, err := v.prunePath(asSystem(ctx), path)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return opErr("prune", path, "", err)
		}
		if len(res.Pruned) > 0 {
			out = append(out, *res)
		}
		return nil
	})
	return out, err
}

// scan calls f with every secret's authenticated record, in path order,
// without auditing (the scheduler's reads are bookkeeping, not access).
func (v *AgentVault) scan(ctx context.Context, f func(path string, rec *record.Secret) error) error {
	if err := v.enter(); err != nil {
		return err
	}
	defer v.leave()
	keys, err := v.b.List(ctx, secretPrefix)
	if err != nil {
		return err
	}
	const batch = 256
	for len(keys) > 0 {
		n := min(batch, len(keys))
		items, err := v.getMany(ctx, keys[:n])
		if err != nil {
			return err
		}
		keys = keys[n:]
		for _, it := range items {
			if it.Value == nil {
				continue
			}
			path := it.Key[len(secretPrefix):]
			rec, err := v.decode(path, it.Value)
			if err != nil {
				return opErr("scan", path, "", err)
			}
			if err := f(path, rec); err != nil {
				return err
			}
		}
	}
	return nil
}

type systemActorKey struct{}

// asSystem marks ctx as the scheduler's: its audit events name the system
// actor and the versions it writes are created by "scheduler".
func asSystem(ctx context.Context) context.Context {
	return context.WithValue(ContextWithActor(ctx, schedulerActor), systemActorKey{}, true)
}

const schedulerActor = "scheduler"

// lifecycleEvent starts an audit event of a lifecycle action: by the
// system when the scheduler acts, else by the caller.
func (v *AgentVault) lifecycleEvent(ctx context.Context, name, path string) *AuditEvent {
	e := v.event(ctx, name, auditPath(path))
	if ctx.Value(systemActorKey{}) != nil {
		e.Actor = Actor{Kind: ActorSystem, ID: schedulerActor}
	}
	return e
}

// Claims. A scheduled action is claimed by a create-only Put of a claim
// record at a key naming the action (see noticeKey, rotationKey). The
// claimer performs the action, then marks the claim done (a conditional
// Put). A claim whose owner neither finished nor released it (the process
// died) is taken over by another process once its lease has passed; a
// failed action releases the claim so the next pass retries it.
//
// Delivery is therefore at least once: a process that dies after the
// action but before marking it done has it repeated after the lease, and so
// does one whose action outlasts the lease. Without such a crash or
// overrun, each action happens exactly once however many processes run.
// Notices carry a stable ID so receivers can drop such a repeat.

const claimPrefix = "lifecycle/"

type claimRecord struct {
	State      string `json:"state"` // "claimed" or "done"
	Owner      string `json:"owner"` // the claiming vault's writer id
	LeaseUntil int64  `json:"lease_until"`
	Attempt    int    `json:"attempt"`
	DoneAt     int64  `json:"done_at,omitempty"`
}

const (
	claimClaimed = "claimed"
	claimDone    = "done"
)

type claim struct {
	key     string
	rev     int64
	attempt int
}

// acquire claims key. It returns nil, nil when the action is done or owned
// by another process whose lease has not passed.
func (v *AgentVault) acquire(ctx context.Context, key string) (*claim, error) {
	st := v.opts.lifecycle.st
	if st.isDone(key) {
		return nil, nil
	}
	owner := v.opts.access.st.instance
	for attempt := 0; attempt < 3; attempt++ {
		now := v.opts.now()
		rec := claimRecord{State: claimClaimed, Owner: owner, LeaseUntil: nanosAfter(now, v.opts.lifecycle.lease), Attempt: 1}
		rev, err := v.b.Put(ctx, key, v.sealJSON("claim", key, &rec), 0)
		if err == nil {
			return &claim{key: key, rev: rev, attempt: 1}, nil
		}
		if !errors.Is(err, backend.ErrConflict) {
			return nil, err
		}
		raw, cur, err := v.b.Get(ctx, key)
		if errors.Is(err, backend.ErrNotFound) {
			continue // released meanwhile: try again
		}
		if err != nil {
			return nil, err
		}
		var old claimRecord
		if err := v.openJSON("claim", key, raw, &old); err != nil {
			return nil, err
		}
		if old.State == claimDone {
			st.setDone(key)
			return nil, nil
		}
		if now.UnixNano() < old.LeaseUntil {
			return nil, nil
		}
		rec.Attempt = old.Attempt + 1
		rev, err = v.b.Put(ctx, key, v.sealJSON("claim", key, &rec), cur)
		if errors.Is(err, backend.ErrConflict) {
			return nil, nil // another process took it over first
		}
		if err != nil {
			return nil, err
		}
		return &claim{key: key, rev: rev, attempt: rec.Attempt}, nil
	}
	return nil, nil
}

// done marks c's action performed. It fails with ErrConflict when the
// lease ran out and another process took the claim over.
func (v *AgentVault) done(ctx context.Context, c *claim) error {
	rec := claimRecord{State: claimDone, Owner: v.opts.access.st.instance, Attempt: c.attempt, DoneAt: v.opts.now().UnixNano()}
	_, err := v.b.Put(context.WithoutCancel(ctx), c.key, v.sealJSON("claim", c.key, &rec), c.rev)
	if errors.Is(err, backend.ErrConflict) {
		return fmt.Errorf("%w: claim %s was taken over after its lease ran out", ErrConflict, c.key)
	}
	if err == nil {
		v.opts.lifecycle.st.setDone(c.key)
	}
	return err
}

// release gives c up so the next pass retries the action.
func (v *AgentVault) release(ctx context.Context, c *claim) {
	_ = v.b.Delete(context.WithoutCancel(ctx), c.key, c.rev)
}

// Grace periods and version resolution.

func validateGrace(grace time.Duration, hasValue bool, now time.Time) error {
	if grace < 0 {
		return fmt.Errorf("%w: GracePeriod %v is negative", ErrInvalidInput, grace)
	}
	if err := storableSpan("GracePeriod", now, grace); err != nil {
		return err
	}
	if grace > 0 && !hasValue {
		return fmt.Errorf("%w: GracePeriod needs a new Value", ErrInvalidInput)
	}
	return nil
}

// activate makes version n active at now, giving the version it replaces a
// grace period (none when grace is 0), and restarts the rotation schedule.
func activate(rec *record.Secret, n uint32, grace time.Duration, now time.Time) {
	old := rec.Active
	rec.Active = n
	rec.Previous, rec.GraceUntil = 0, 0
	if grace > 0 && old != n {
		rec.Previous, rec.GraceUntil = old, nanosAfter(now, grace)
	}
	if rec.RotateEvery > 0 {
		rec.NextRotation = nanosAfter(now, time.Duration(rec.RotateEvery))
	}
	rec.UpdatedAt = now.UnixNano()
}

// previousVersion resolves AtVersion("previous") at now.
func previousVersion(rec *record.Secret, now time.Time) (uint32, error) {
	if rec.Previous == 0 || rec.GraceUntil == 0 {
		return 0, fmt.Errorf("%w: no previous version in a grace period", ErrNotFound)
	}
	if !now.Before(time.Unix(0, rec.GraceUntil)) {
		return 0, fmt.Errorf("%w: the grace period of previous version %s ended at %s", ErrNotFound,
			FormatVersion(rec.Previous), timeUTC(rec.GraceUntil).Format(time.RFC3339Nano))
	}
	return rec.Previous, nil
}

// missingVersion is the error for a version number rec does not store.
func missingVersion(rec *record.Secret, n uint32) error {
	if n != 0 && n <= rec.MaxVersion {
		return fmt.Errorf("%w: version %s was pruned by the retention policy", ErrNotFound, FormatVersion(n))
	}
	return ErrNotFound
}

func lifecycleMetadata(m *SecretMetadata, rec *record.Secret) {
	if rec.Previous != 0 && rec.GraceUntil != 0 {
		m.PreviousVersion, m.GraceEndsAt = FormatVersion(rec.Previous), timeUTC(rec.GraceUntil)
	}
	if rec.RotateEvery > 0 {
		m.RotateEvery = time.Duration(rec.RotateEvery)
		if rec.NextRotation != 0 {
			m.NextRotationAt = timeUTC(rec.NextRotation)
		}
	}
}
