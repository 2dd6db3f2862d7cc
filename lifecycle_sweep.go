package agentvault

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/agentvault/agentvault/backend"
)

// Lifecycle claims outlive what they claimed: a notice claim names an
// expiry the secret may no longer have, a rotation claim a due time the
// schedule has passed, and both stay when their secret is deleted. They
// are small, but a vault that churns secrets accumulates them forever, and
// a secret re-created at the same path with the same expiry would find its
// notice already "sent". sweepClaims removes the claims that provably no
// longer matter.

// staleClaim reports whether the claim at key can no longer matter, given
// the current record of its secret (nil when the secret does not exist).
// ok is false for keys it does not understand (kept, never guessed at).
func staleClaim(key string, rec func(path string) (exists bool, expiresAt, nextRotation int64, err error)) (stale, ok bool, err error) {
	rest, isNotice := strings.CutPrefix(key, claimPrefix+"notice/")
	if !isNotice {
		var isRotate bool
		if rest, isRotate = strings.CutPrefix(key, claimPrefix+"rotate/"); !isRotate {
			return false, false, nil
		}
		i := strings.LastIndexByte(rest, '/')
		if i <= 0 {
			return false, false, nil
		}
		due, perr := strconv.ParseInt(rest[i+1:], 10, 64)
		if perr != nil {
			return false, false, nil
		}
		exists, _, next, err := rec(rest[:i])
		if err != nil {
			return false, true, err
		}
		// A schedule moves its next due time forward once a rotation is
		// done: a claim for an earlier due time is history.
		return !exists || next == 0 || due < next, true, nil
	}
	i := strings.LastIndexByte(rest, '/') // …/<exp>/<kind>
	if i <= 0 {
		return false, false, nil
	}
	j := strings.LastIndexByte(rest[:i], '/')
	if j <= 0 {
		return false, false, nil
	}
	exp, perr := strconv.ParseInt(rest[j+1:i], 10, 64)
	if perr != nil {
		return false, false, nil
	}
	exists, expiresAt, _, err := rec(rest[:j])
	if err != nil {
		return false, true, err
	}
	return !exists || expiresAt != exp, true, nil
}

// sweepClaims deletes the lifecycle claims that can no longer matter (see
// staleClaim) and are not in progress: a claim is removed only when its
// action is done or its lease has passed, with a conditional delete, so a
// claim taken meanwhile stays. A claim whose secret cannot be read
// (ErrIntegrity) is kept: that is not proof. It returns the removed keys.
func (v *AgentVault) sweepClaims(ctx context.Context) ([]string, error) {
	keys, err := v.b.List(ctx, claimPrefix)
	if err != nil {
		return nil, err
	}
	type state struct {
		exists         bool
		expires, rnext int64
		err            error
	}
	seen := map[string]state{}
	lookup := func(path string) (bool, int64, int64, error) {
		if s, ok := seen[path]; ok {
			return s.exists, s.expires, s.rnext, s.err
		}
		var s state
		if ValidatePath(path) != nil {
			s.err = ErrInvalidPath // not a claim of ours: keep it
		} else {
			r, _, err := v.load(ctx, path)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				s.err = err
			default:
				s.exists, s.expires, s.rnext = true, r.ExpiresAt, r.NextRotation
			}
		}
		seen[path] = s
		return s.exists, s.expires, s.rnext, s.err
	}
	var removed []string
	var errs []error
	now := v.opts.now().UnixNano()
	for i, key := range keys {
		if err := ctxEvery(ctx, i); err != nil {
			return removed, err
		}
		stale, ok, err := staleClaim(key, lookup)
		if !ok || !stale {
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrInvalidPath) {
				errs = append(errs, err)
			}
			continue
		}
		raw, rev, err := v.b.Get(ctx, key)
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var c claimRecord
		if err := v.openJSON("claim", key, raw, &c); err != nil {
			continue // not provably ours: keep it (Doctor reports storage damage)
		}
		if c.State != claimDone && now < c.LeaseUntil {
			continue // in progress
		}
		switch err := v.b.Delete(ctx, key, rev); {
		case err == nil:
			removed = append(removed, key)
			v.opts.lifecycle.st.forget(key)
		case errors.Is(err, backend.ErrNotFound), errors.Is(err, backend.ErrConflict):
			// someone else removed or took it meanwhile
		default:
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// RemoveOrphans removes what provably belongs to nothing and returns the
// backend keys it removed: lifecycle claims (expiry notices, scheduled
// rotations) of secrets that no longer exist, of an expiry a secret no
// longer has, or of a rotation due time its schedule has passed; and
// authenticated orphan version records (DoctorReport.OrphanVersions) older
// than 15 minutes. A claim in progress (its lease not passed), one whose
// secret cannot be read, and a version record that does not authenticate
// are kept. RunOnce does the same on every pass; `ass doctor --repair` calls
// this. Audited as vault.orphans_removed.
func (v *AgentVault) RemoveOrphans(ctx context.Context) (removed []string, err error) {
	const op = "remove orphans"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	defer func() {
		if !v.auditing(ctx) {
			return
		}
		e := v.event(ctx, EventOrphansRemoved, "").finish(err)
		e.Reason = strings.TrimPrefix(e.Reason+"; ", "; ") + "removed " + strconv.Itoa(len(removed))
		_ = v.emit(ctx, e)
	}()
	if _, err := v.ctxActor(ctx); err != nil {
		return nil, opErr(op, "", "", err)
	}
	removed, err = v.sweepClaims(ctx)
	versions, verr := v.removeOrphans(ctx)
	removed = append(removed, versions...)
	if removed == nil {
		removed = []string{}
	}
	if err = errors.Join(err, verr); err != nil {
		return removed, opErr(op, "", "", err)
	}
	return removed, nil
}

// sweepClaimsEntered is sweepClaims inside the operation gate.
func (v *AgentVault) sweepClaimsEntered(ctx context.Context) ([]string, error) {
	if err := v.enter(); err != nil {
		return nil, err
	}
	defer v.leave()
	return v.sweepClaims(ctx)
}

// forget drops key from the done cache (its claim was removed).
func (s *lifecycleState) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.done, key)
}
