package agentvault

import (
	"context"
	"errors"
	"time"

	"github.com/agentvault/agentvault/backend"
)

// An audited read costs a read and an append. When the backend can do both
// in one call (backend.ReadAppender: one Redis script) and the record cache
// holds the secret with the revision it was read at, GetSecret predicts the
// read's event from the cached record (version, type, tier; outcome
// allowed), and the leader of the event's audit batch reads the record and
// appends the event together, the append conditional on the record still
// being at that revision. Then:
//
//   - appended, and the read succeeds with the predicted metadata: done, in
//     one round trip, no other event;
//   - appended, but the read fails (the value does not open or
//     authenticate, a lost write) or differs from the prediction: the real
//     outcome is written as its own, second event;
//   - not appended (the record changed, or is gone): the read goes on with
//     what was read and writes its real event, as without prediction;
//   - the call failed, or was not made: the read starts over the normal way
//     (the audit chain is resynchronised from the stored tail first).
//
// A value is therefore never returned before an event recording its read
// is durable, and every read's outcome is recorded.

// readPredicted is GetSecret's one-round-trip read (see above). read says
// whether it read the record; if not, nothing was read or written and the
// caller reads the normal way. written says whether the read's event (the
// one for s, err) is written; if not, the caller writes it.
func (v *AgentVault) readPredicted(ctx context.Context, path, version string, want uint32) (s *Secret, written, read bool, err error) {
	e, r := v.predictRead(ctx, path, version, want)
	if e == nil {
		return nil, false, false, nil
	}
	werr := v.emitRead(ctx, e, r)
	if !r.done {
		return nil, false, false, nil
	}
	s, err = v.getRead(ctx, path, version, want, r)
	if !r.appended || err != nil {
		return s, false, true, err
	}
	if s.Version != e.Version || s.Type != e.Type || s.Tier != e.Tier {
		return s, false, true, nil // not what the written event says: write the real one too
	}
	if werr != nil && v.opts.access.failClosed { // the io.Writer sink failed (see auditSecret)
		return nil, true, true, &Error{Op: "get", Path: path, Err: werr}
	}
	return s, true, true, nil
}

// predictRead returns the event a read of path at version would write, as
// of the cached record, and the read to make with it; nil when there is
// nothing to predict from (no store to append to, a backend without
// ReadAppender, the record not cached with its revision) or the read would
// not simply succeed (expired, no such version).
func (v *AgentVault) predictRead(ctx context.Context, path, version string, want uint32) (*AuditEvent, *auditRead) {
	if !v.opts.access.auditStore || !v.auditing(ctx) {
		return nil, nil
	}
	if _, ok := v.b.b.(backend.ReadAppender); !ok {
		return nil, nil
	}
	rec, rev := v.cache.current(path)
	if rec == nil {
		return nil, nil
	}
	if rec.ExpiresAt != 0 || version == PreviousVersion {
		now := v.opts.now()
		if rec.ExpiresAt != 0 && !now.Before(time.Unix(0, rec.ExpiresAt)) {
			return nil, nil
		}
		if version == PreviousVersion {
			n, err := previousVersion(rec, now)
			if err != nil {
				return nil, nil
			}
			want = n
		}
	}
	if want == 0 {
		want = rec.Active
	}
	ver := rec.Find(want)
	if ver == nil {
		return nil, nil
	}
	tier, _ := tierFromRank(rec.Tier)
	e := v.event(ctx, EventSecretRead, auditPath(path))
	e.Version, e.Type, e.Tier = FormatVersion(ver.Number), SecretType(rec.Type), tier
	return e.finish(nil), &auditRead{key: secretPrefix + path, rev: rev}
}

// getRead is GetSecret on the record r read.
func (v *AgentVault) getRead(ctx context.Context, path, version string, want uint32, r *auditRead) (*Secret, error) {
	if err := r.err; err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			err = ErrNotFound
		}
		return nil, opErr("get", path, version, err)
	}
	rec, err := v.decodeRev(path, r.value, false, r.curRev)
	if err != nil {
		return nil, opErr("get", path, version, err)
	}
	return v.getFrom(ctx, path, version, want, rec)
}
