package agentvault

import (
	"context"
	"errors"
	"time"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/internal/record"
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

// predicted is a read whose event was predicted (see readPredicted).
type predicted struct {
	secret  *Secret
	err     error // the read's error
	werr    error // the event's write error (the io.Writer sink), when written
	written bool  // the event of (secret, err) is written
	read    bool  // the record was read; if not, nothing was read or written
}

// readPredicted is the one-round-trip read (see above). event returns the
// base event of the read (actor, path); check, when set, runs on the
// cached record and version first: an error means no prediction. get
// finishes the read on the record read (authorization, decryption). If
// p.read is false the caller reads the normal way; if p.written is false
// it writes the read's event.
func (v *AgentVault) readPredicted(ctx context.Context, path, version string, want uint32,
	event func() *AuditEvent, check func(*record.Secret, *record.Version) error,
	get func(r *auditRead) (*Secret, error)) (p predicted) {
	e, r := v.predictRead(ctx, path, version, want, event, check)
	if e == nil {
		return p
	}
	werr := v.emitRead(ctx, e, r)
	if !r.done {
		return p
	}
	p.read = true
	p.secret, p.err = get(r)
	if !r.appended || p.err != nil {
		return p
	}
	if s := p.secret; s.Version != e.Version || s.Type != e.Type || s.Tier != e.Tier {
		return p // not what the written event says: write the real one too
	}
	p.written, p.werr = true, werr
	return p
}

// predictRead returns the event a read of path at version would write, as
// of the cached record, and the read to make with it; nil when there is
// nothing to predict from (no store to append to, a backend without
// ReadAppender, the record not cached with its revision) or the read would
// not simply succeed (expired, no such version, check refuses).
func (v *AgentVault) predictRead(ctx context.Context, path, version string, want uint32,
	event func() *AuditEvent, check func(*record.Secret, *record.Version) error) (*AuditEvent, *auditRead) {
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
	if ver == nil || (check != nil && check(rec, ver) != nil) {
		return nil, nil
	}
	tier, _ := tierFromRank(rec.Tier)
	e := event()
	e.Version, e.Type, e.Tier = FormatVersion(ver.Number), SecretType(rec.Type), tier
	return e.finish(nil), &auditRead{key: secretPrefix + path, rev: rev, size: approxSize(rec)}
}

const sizeHintMax = 8 << 10

// approxSize is about the size of rec's stored record: the backend's hint
// for how to read it (backend.ReadCond.Size), never a limit. Stores tell
// small records (a few KiB) from large ones, so it stops counting past
// sizeHintMax: a record with a long history costs no more.
func approxSize(rec *record.Secret) int {
	n := 128 + len(rec.Path) + len(rec.Type) + len(rec.Description) + len(rec.CreatedBy)
	for _, t := range rec.Tags {
		n += 8 + len(t.Key) + len(t.Value)
	}
	for i := range rec.Versions {
		v := &rec.Versions[i]
		n += 48 + len(v.CreatedBy) + len(v.KeyID) + len(v.WrappedDEK) + len(v.Ciphertext)
		if n > sizeHintMax {
			break
		}
	}
	return n
}

// readRecord authenticates the record r read.
func (v *AgentVault) readRecord(path string, r *auditRead) (*record.Secret, error) {
	if err := r.err; err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return v.decodeRev(path, r.value, false, r.curRev)
}

// getRead is GetSecret on the record r read.
func (v *AgentVault) getRead(ctx context.Context, path, version string, want uint32, r *auditRead) (*Secret, error) {
	rec, err := v.readRecord(path, r)
	if err != nil {
		return nil, opErr("get", path, version, err)
	}
	return v.getFrom(ctx, path, version, want, rec)
}
