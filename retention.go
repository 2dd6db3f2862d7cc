package agentvault

import (
	"context"
	"crypto/cipher"
	"errors"
	"math"
	"time"

	"github.com/agentvault/agentvault/internal/record"
)

// EventSecretVersionPruned is the audit event of one version removed by the
// retention policy (Version names it, Reason says which rule:
// "retention_age" or "retention_count").
const EventSecretVersionPruned = "secret.version_pruned"

// DefaultRetentionAge is the age from which inactive versions are pruned
// by default.
const DefaultRetentionAge = 90 * 24 * time.Hour

// RetentionPolicy says which inactive versions of a secret are pruned:
// their data key and ciphertext are removed from the record for good, and
// ListVersions lists them with Pruned set. The active version, the previous
// version while its grace period lasts, and a version a rotation wrote less
// than a claim lease ago and has not activated yet are never pruned.
//
// Pruning happens when a new value is written (UpdateSecret, RotateSecret),
// on PruneVersions, and in every scheduler pass (RunOnce, Run).
//
// The zero RetentionPolicy keeps every version.
type RetentionPolicy struct {
	// MaxAge prunes inactive versions created at least MaxAge ago (a
	// version exactly MaxAge old is pruned, one a nanosecond younger is
	// kept). The age counts from the version's creation, not from when it
	// stopped being active. Zero: no age limit.
	MaxAge time.Duration

	// MaxVersions keeps at most this many versions, the protected ones
	// (active, in grace, pending) counted first and kept even beyond it;
	// the newest of the others fill the remaining places. Zero: no limit.
	MaxVersions int
}

// DefaultRetention returns the default policy: inactive versions are pruned
// at DefaultRetentionAge (90 days); no count limit.
func DefaultRetention() RetentionPolicy { return RetentionPolicy{MaxAge: DefaultRetentionAge} }

// WithRetention sets the version retention policy. Default
// DefaultRetention(); RetentionPolicy{} keeps every version.
func WithRetention(p RetentionPolicy) Option {
	return func(o *options) { o.lifecycle.retention = p }
}

// PruneResult reports a PruneVersions call.
type PruneResult struct {
	Path   string   `json:"path"`
	Pruned []string `json:"pruned"` // the versions removed by this call, oldest first
}

type prunedVersion struct {
	number uint32
	reason string // "retention_age" or "retention_count"
}

// prune removes from rec the versions p drops as of now and returns them,
// oldest first. lease protects a rotation's not yet activated version.
func (p RetentionPolicy) prune(rec *record.Secret, now time.Time, lease time.Duration) []prunedVersion {
	if p.MaxAge <= 0 && p.MaxVersions <= 0 {
		return nil
	}
	protected := func(ver *record.Version) bool {
		switch {
		case ver.Number == rec.Active:
			return true
		case ver.Number == rec.Previous && now.UnixNano() < rec.GraceUntil:
			return true
		case ver.Number == rec.MaxVersion && ver.Number > rec.Active && now.Sub(time.Unix(0, ver.CreatedAt)) < lease:
			return true // written by a rotation that may still activate it
		}
		return false
	}
	// A version is at least MaxAge old when now - CreatedAt >= MaxAge, that
	// is CreatedAt <= now - MaxAge (saturating like time.Time.Sub).
	ageCut := now.UnixNano() - int64(p.MaxAge)
	if ageCut > now.UnixNano() {
		ageCut = math.MinInt64
	}
	keep := make([]bool, len(rec.Versions))
	kept := 0
	for i := range rec.Versions {
		if protected(&rec.Versions[i]) {
			keep[i] = true
			kept++
		}
	}
	var out []prunedVersion
	for i := len(rec.Versions) - 1; i >= 0; i-- {
		ver := &rec.Versions[i]
		if keep[i] {
			continue
		}
		switch {
		case p.MaxAge > 0 && ver.CreatedAt <= ageCut:
			out = append(out, prunedVersion{ver.Number, "retention_age"})
		case p.MaxVersions > 0 && kept >= p.MaxVersions:
			out = append(out, prunedVersion{ver.Number, "retention_count"})
		default:
			keep[i] = true
			kept++
		}
	}
	if len(out) == 0 {
		return nil
	}
	vs := rec.Versions[:0]
	for i := range rec.Versions {
		if keep[i] {
			vs = append(vs, rec.Versions[i])
		}
	}
	clear(rec.Versions[len(vs):])
	rec.Versions = vs
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// PruneVersions applies the retention policy (WithRetention) to the secret
// at path now and reports what it removed; each removed version is audited
// as secret.version_pruned. Pruning nothing is not an error.
func (v *AgentVault) PruneVersions(ctx context.Context, path string) (*PruneResult, error) {
	const op = "prune"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	if err := v.check(path); err != nil {
		return nil, opErr(op, safePath(path, err), "", err)
	}
	res, err := v.prunePath(ctx, path)
	if err != nil {
		return nil, opErr(op, path, "", err)
	}
	return res, nil
}

func (v *AgentVault) prunePath(ctx context.Context, path string) (*PruneResult, error) {
	var pruned []prunedVersion
	err := v.modify(ctx, path, func(rec *record.Secret) (cipher.AEAD, *record.Version, error) {
		pruned = v.opts.lifecycle.retention.prune(rec, v.opts.now(), v.opts.lifecycle.lease)
		if len(pruned) == 0 {
			return nil, nil, errNothingToDo
		}
		return nil, nil, nil
	})
	if errors.Is(err, errNothingToDo) {
		pruned, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	v.auditPruned(ctx, path, pruned)
	res := &PruneResult{Path: path, Pruned: make([]string, len(pruned))}
	for i, p := range pruned {
		res.Pruned[i] = FormatVersion(p.number)
	}
	return res, nil
}

// wouldPrune reports whether the retention policy drops anything from rec
// now, without changing it.
func (v *AgentVault) wouldPrune(rec *record.Secret, now time.Time) bool {
	return len(v.opts.lifecycle.retention.prune(cloneRecord(rec), now, v.opts.lifecycle.lease)) > 0
}

// auditPruned writes one secret.version_pruned event per pruned version.
// They are written even when the operation that pruned is itself audited
// by its caller (ImportEnv's and a Session's inner writes run under
// withoutAudit): nobody else writes them.
func (v *AgentVault) auditPruned(ctx context.Context, path string, pruned []prunedVersion) {
	ctx = context.WithValue(ctx, noAuditKey{}, nil)
	for _, p := range pruned {
		e := v.lifecycleEvent(ctx, EventSecretVersionPruned, path)
		e.Version = FormatVersion(p.number)
		e.finish(nil)
		e.Reason = p.reason
		_ = v.emit(ctx, e)
	}
}

// versionInfos lists every version number up to rec.MaxVersion: stored
// ones with their details, missing ones (pruned) marked Pruned.
func versionInfos(rec *record.Secret) []VersionInfo {
	out := make([]VersionInfo, 0, len(rec.Versions))
	next := uint32(1)
	add := func(upTo uint32) {
		for ; next < upTo; next++ {
			out = append(out, VersionInfo{Version: FormatVersion(next), Pruned: true})
		}
	}
	for _, ver := range rec.Versions {
		add(ver.Number)
		vi := VersionInfo{
			Version: FormatVersion(ver.Number), CreatedAt: timeUTC(ver.CreatedAt),
			CreatedBy: ver.CreatedBy, IsActive: ver.Number == rec.Active,
		}
		if ver.Tier > rec.Tier {
			vi.MinTier, _ = tierFromRank(ver.Tier)
		}
		if rec.Previous != 0 && ver.Number == rec.Previous && rec.GraceUntil != 0 {
			vi.IsPrevious, vi.GraceEndsAt = true, timeUTC(rec.GraceUntil)
		}
		out = append(out, vi)
		next = ver.Number + 1
	}
	add(rec.MaxVersion + 1)
	return out
}
