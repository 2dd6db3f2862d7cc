package agentvault

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/agentvault/agentvault/internal/record"
)

// EventSecretRotated is the audit event of a rotation (RotateSecret, or a
// scheduled one): outcome allowed with the new active version, or failed
// with Reason "rotator_failed", "verify_failed" or the usual codes, and the
// version that was written but not activated, if any.
const EventSecretRotated = "secret.rotated"

// ErrRotationFailed is returned by RotateSecret when the Rotator could not
// produce a value or its check rejected the new one. The previous version
// stays active.
var ErrRotationFailed = errors.New("agentvault: rotation failed")

// Rotator produces the next value of a secret from its current one: it
// typically creates a new credential at the provider (a new API key, a new
// database password) and returns it. Register one per SecretType
// (WithRotator) or per path pattern (WithPathRotator). Implementations must
// be safe for concurrent use, and bound their own time (the claim lease,
// WithLifecycleLease, should exceed it for scheduled rotations).
//
// A Rotator that also implements RotationVerifier has the new value checked
// after it is stored and before it is activated.
type Rotator interface {
	Rotate(ctx context.Context, req RotationRequest) (SecretValue, error)
}

// RotationVerifier is the optional check of a Rotator: Verify tests the new
// value (a smoke-test call to the provider); an error leaves the previous
// version active.
type RotationVerifier interface {
	Verify(ctx context.Context, req RotationRequest, next SecretValue) error
}

// RotatorFunc adapts a function to Rotator.
type RotatorFunc func(ctx context.Context, req RotationRequest) (SecretValue, error)

// Rotate calls f.
func (f RotatorFunc) Rotate(ctx context.Context, req RotationRequest) (SecretValue, error) {
	return f(ctx, req)
}

// RotationRequest is what a Rotator is given.
type RotationRequest struct {
	Secret     SecretMetadata // the secret, as of its active version
	Current    SecretValue    // the active version's value
	NewVersion string         // for Verify: the version the new value was stored as
}

type rotatorRule struct {
	typ   SecretType // or
	scope Scope      // a path pattern
	err   error      // an invalid pattern, reported at use
	r     Rotator
}

// WithRotator registers r for the secrets of type t. Path rotators
// (WithPathRotator) take precedence; the first matching registration wins.
func WithRotator(t SecretType, r Rotator) Option {
	return func(o *options) { o.lifecycle.rotators = append(o.lifecycle.rotators, rotatorRule{typ: t, r: r}) }
}

// WithPathRotator registers r for the secrets whose path matches pattern
// (a glob as in Scope: "payments/*", "{prod,staging}/stripe/*"). Path
// rotators are tried in the order given, before type rotators. An invalid
// pattern makes rotations fail with ErrInvalidInput.
func WithPathRotator(pattern string, r Rotator) Option {
	return func(o *options) {
		sc, err := ParseScope("secrets:*:" + pattern)
		o.lifecycle.rotators = append(o.lifecycle.rotators, rotatorRule{scope: sc, err: err, r: r})
	}
}

// rotatorFor returns the registered Rotator for a secret, or nil.
func (v *AgentVault) rotatorFor(path string, t SecretType) (Rotator, error) {
	rules := v.opts.lifecycle.rotators
	for _, rl := range rules {
		if rl.err != nil {
			return nil, rl.err
		}
		if rl.typ == "" && rl.scope.Match(path) {
			return rl.r, nil
		}
	}
	for _, rl := range rules {
		if rl.typ != "" && rl.typ == t {
			return rl.r, nil
		}
	}
	return nil, nil
}

// RotateOptions controls RotateSecret.
type RotateOptions struct {
	// Value, if set, is the new value (a manual rotation, like `ass rotate
	// --value`): no Rotator is asked, but a registered Rotator's
	// RotationVerifier still checks it.
	Value *SecretValue

	// Rotator, if set, is used instead of the registered one.
	Rotator Rotator

	// GracePeriod keeps the replaced version readable as
	// AtVersion("previous"), and safe from retention, for this long.
	// Zero: no grace period.
	GracePeriod time.Duration
}

// RotationResult reports a successful rotation.
type RotationResult struct {
	SecretMetadata        // the secret after the rotation: Version is the new active version
	Replaced       string `json:"replaced"` // the version that was active before
}

// RotateSecret replaces the value of the secret at path: it asks the
// Rotator registered for the secret (or takes opts.Value), stores the new
// value as a new version without activating it, checks it with the
// Rotator's RotationVerifier if it has one, and then activates it with a
// second conditional write, giving the replaced version opts.GracePeriod.
// Without a verifier the new version is stored and activated in one write.
//
// On failure the previous version stays active and the call fails with an
// error wrapping ErrRotationFailed (the Rotator or the check failed),
// ErrConflict (the secret got another active version meanwhile) or the
// storage error; the failure is audited as secret.rotated with outcome
// failed. A version stored but not activated stays as an inactive version
// (ListVersions shows it; the retention policy prunes it in time); the
// error names it. Success is audited as secret.rotated.
//
// Rotation also works on an expired secret; the expiry is not changed.
func (v *AgentVault) RotateSecret(ctx context.Context, path string, opts RotateOptions) (res *RotationResult, err error) {
	const op = "rotate"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	e := v.lifecycleEvent(ctx, EventSecretRotated, path)
	var reason string
	var pruned []prunedVersion
	defer func() {
		if res != nil {
			e.Version, e.Type, e.Tier = res.Version, res.Type, res.Tier
		} else {
			var ae *Error
			if errors.As(err, &ae) {
				e.Version = ae.Version
			}
		}
		e.finish(err)
		if reason != "" {
			e.Reason = reason
		}
		_ = v.emit(ctx, e)
		if err == nil {
			v.auditPruned(ctx, path, pruned)
		}
	}()
	if err := v.check(path); err != nil {
		return nil, opErr(op, safePath(path, err), "", err)
	}
	if err := validateGrace(opts.GracePeriod, true, v.opts.now()); err != nil {
		return nil, opErr(op, path, "", err)
	}
	actor, err := v.actor(ctx)
	if err != nil {
		return nil, opErr(op, path, "", err)
	}
	rec, _, err := v.load(ctx, path)
	if err != nil {
		return nil, opErr(op, path, "", err)
	}
	base := rec.Active
	meta := metadata(rec, base)
	e.Type, e.Tier = meta.Type, meta.Tier
	rot := opts.Rotator
	if rot == nil {
		if rot, err = v.rotatorFor(path, meta.Type); err != nil {
			return nil, opErr(op, path, "", err)
		}
	}
	req := RotationRequest{Secret: meta}
	var next SecretValue
	switch {
	case opts.Value != nil:
		next = *opts.Value
	case rot == nil:
		return nil, opErr(op, path, "", fmt.Errorf("%w: no rotator registered for %s or type %s, and no value given", ErrInvalidInput, path, meta.Type))
	default:
		cur, err := v.open(ctx, path, rec, rec.Find(base))
		if err != nil {
			return nil, opErr(op, path, meta.Version, err)
		}
		req.Current = SecretValue{b: cur}
		if next, err = rot.Rotate(ctx, req); err != nil {
			reason = "rotator_failed"
			return nil, opErr(op, path, "", fmt.Errorf("%w: rotator: %w", ErrRotationFailed, err))
		}
	}
	if err := v.validateValue(next); err != nil {
		return nil, opErr(op, path, "", err)
	}
	verifier, _ := rot.(RotationVerifier)
	grace := opts.GracePeriod
	var n uint32
	var out SecretMetadata
	// Write the new version; without a verifier, activate it in the same write.
	err = v.modify(ctx, path, func(rec *record.Secret) (cipher.AEAD, *record.Version, error) {
		if rec.Active != base {
			return nil, nil, fmt.Errorf("%w: the active version changed to %s during the rotation", ErrConflict, FormatVersion(rec.Active))
		}
		if rec.MaxVersion == ^uint32(0) {
			return nil, nil, fmt.Errorf("%w: version numbers exhausted", ErrInvalidInput)
		}
		now := v.opts.now()
		n = rec.MaxVersion + 1
		ver, aead, err := v.seal(ctx, path, n, next.b, now, actor)
		if err != nil {
			return nil, nil, err
		}
		rec.Versions = append(rec.Versions, ver)
		rec.MaxVersion = n
		rec.UpdatedAt = now.UnixNano()
		pruned = nil
		if verifier == nil {
			activate(rec, n, grace, now)
			pruned = v.opts.lifecycle.retention.prune(rec, now, v.opts.lifecycle.lease)
		}
		out = metadata(rec, rec.Active)
		return aead, &rec.Versions[len(rec.Versions)-1], nil
	})
	if err != nil {
		return nil, opErr(op, path, "", err)
	}
	if verifier == nil {
		return &RotationResult{SecretMetadata: out, Replaced: FormatVersion(base)}, nil
	}
	nv := FormatVersion(n)
	req.NewVersion = nv
	if err := verifier.Verify(ctx, req, next); err != nil {
		reason = "verify_failed"
		return nil, opErr(op, path, nv, fmt.Errorf("%w: check of the new version: %w (it stays stored, inactive)", ErrRotationFailed, err))
	}
	err = v.modify(ctx, path, func(rec *record.Secret) (cipher.AEAD, *record.Version, error) {
		if rec.Active != base {
			return nil, nil, fmt.Errorf("%w: the active version changed to %s during the rotation", ErrConflict, FormatVersion(rec.Active))
		}
		if rec.Find(n) == nil {
			return nil, nil, fmt.Errorf("%w: the new version was removed before it could be activated", ErrConflict)
		}
		now := v.opts.now()
		activate(rec, n, grace, now)
		pruned = v.opts.lifecycle.retention.prune(rec, now, v.opts.lifecycle.lease)
		out = metadata(rec, n)
		return nil, nil, nil
	})
	if err != nil {
		return nil, opErr(op, path, nv, err)
	}
	return &RotationResult{SecretMetadata: out, Replaced: FormatVersion(base)}, nil
}

// SetRotationSchedule makes the secret at path due for rotation every
// `every`, the first time `every` from now (and then `every` after each new
// active value, however it was written); scheduled rotations (RotateDue,
// RunOnce, Run) use the registered Rotator and give the replaced version
// `grace`. every 0 removes the schedule. The schedule is stored with the
// secret. Audited as secret.updated.
func (v *AgentVault) SetRotationSchedule(ctx context.Context, path string, every, grace time.Duration) (meta *SecretMetadata, rerr error) {
	const op = "schedule"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	defer v.auditMeta(ctx, EventSecretUpdated, path, &meta, &rerr)
	if err := v.check(path); err != nil {
		return nil, opErr(op, safePath(path, err), "", err)
	}
	if every < 0 || grace < 0 || (every == 0 && grace != 0) {
		return nil, opErr(op, path, "", fmt.Errorf("%w: rotation interval %v and grace %v must be positive (or both zero to remove the schedule)", ErrInvalidInput, every, grace))
	}
	if err := storableSpan("rotation interval", v.opts.now(), every); err != nil {
		return nil, opErr(op, path, "", err)
	}
	if err := storableSpan("rotation grace period", v.opts.now(), grace); err != nil {
		return nil, opErr(op, path, "", err)
	}
	var out SecretMetadata
	err := v.modify(ctx, path, func(rec *record.Secret) (cipher.AEAD, *record.Version, error) {
		now := v.opts.now()
		rec.RotateEvery, rec.RotationGrace, rec.NextRotation = int64(every), int64(grace), 0
		if every > 0 {
			rec.NextRotation = nanosAfter(now, every)
		}
		rec.UpdatedAt = now.UnixNano()
		out = metadata(rec, rec.Active)
		return nil, nil, nil
	})
	if err != nil {
		return nil, opErr(op, path, "", err)
	}
	return &out, nil
}

// RotationReport reports a RotateDue pass.
type RotationReport struct {
	Due     int      `json:"due"`     // secrets whose scheduled rotation was due
	Rotated []string `json:"rotated"` // paths this call rotated
	Failed  []string `json:"failed"`  // paths whose rotation this call attempted and failed (retried later)
}

// RotateDue rotates every secret whose scheduled rotation is due (see
// SetRotationSchedule). Each due rotation is claimed in the backend, so
// however many processes call RotateDue at once it runs once. A failed
// rotation is audited and retried after DefaultRotationRetry (1 hour) or
// the secret's interval, whichever is shorter. A claim whose process died
// is taken over after the lease (WithLifecycleLease); if that process had
// already activated the new value, nothing is rotated twice (the due time
// it claimed has moved on).
func (v *AgentVault) RotateDue(ctx context.Context) (*RotationReport, error) {
	rep := &RotationReport{Rotated: []string{}, Failed: []string{}}
	now := v.opts.now()
	var errs []error
	err := v.scan(ctx, func(path string, rec *record.Secret) error {
		if rec.RotateEvery <= 0 || rec.NextRotation == 0 || now.UnixNano() < rec.NextRotation {
			return nil
		}
		rep.Due++
		ok, err := v.rotateScheduled(ctx, path, rec.NextRotation)
		switch {
		case err != nil:
			rep.Failed = append(rep.Failed, path)
			errs = append(errs, err)
		case ok:
			rep.Rotated = append(rep.Rotated, path)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return rep, &Error{Op: "rotate due", Err: errors.Join(errs...)}
	}
	return rep, nil
}

func rotationKey(path string, due int64) string {
	return claimPrefix + "rotate/" + path + "/" + strconv.FormatInt(due, 10)
}

// rotateScheduled runs the rotation of path due at `due`, if this process
// wins its claim. ok reports whether it rotated.
func (v *AgentVault) rotateScheduled(ctx context.Context, path string, due int64) (ok bool, err error) {
	c, err := v.acquire(ctx, rotationKey(path, due))
	if c == nil || err != nil {
		return false, err
	}
	sctx := asSystem(ctx)
	rec, _, err := v.load(ctx, path)
	if errors.Is(err, ErrNotFound) || (err == nil && rec.NextRotation != due) {
		return false, v.done(ctx, c) // deleted, rescheduled, or already rotated
	}
	if err != nil {
		v.release(ctx, c)
		return false, err
	}
	_, rerr := v.RotateSecret(sctx, path, RotateOptions{GracePeriod: time.Duration(rec.RotationGrace)})
	if rerr != nil {
		// Retry later rather than at every pass.
		retry := min(v.opts.lifecycle.rotationRetry, time.Duration(rec.RotateEvery))
		_ = v.modify(ctx, path, func(r *record.Secret) (cipher.AEAD, *record.Version, error) {
			if r.NextRotation != due {
				return nil, nil, errNothingToDo
			}
			r.NextRotation = nanosAfter(v.opts.now(), retry)
			return nil, nil, nil
		})
	}
	if err := v.done(ctx, c); err != nil && rerr == nil {
		return true, err
	}
	return rerr == nil, rerr
}
