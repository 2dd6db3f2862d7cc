package agentvault

import (
	"context"
	"crypto/cipher"
	"fmt"

	"github.com/agentvault/agentvault/internal/record"
)

// ListVersions returns every version of the secret at path, oldest first,
// marking the active one, the previous one of a grace period, and the ones
// the retention policy pruned (listed with Pruned set, no value stored). It
// works on expired secrets too.
func (v *AgentVault) ListVersions(ctx context.Context, path string) (_ []VersionInfo, err error) {
	const op = "versions"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	defer v.auditErr(ctx, EventSecretListed, path, &err)
	if err := v.check(path); err != nil {
		return nil, opErr(op, safePath(path, err), "", err)
	}
	rec, _, err := v.load(ctx, path)
	if err != nil {
		return nil, opErr(op, path, "", err)
	}
	return versionInfos(rec), nil
}

// Rollback makes version (e.g. "v2") the active version of the secret at
// path. Nothing is re-encrypted: the stored data key and ciphertext of that
// version are served again. Versions stay immutable, and the next update
// creates version max+1. A rollback ends any grace period.
func (v *AgentVault) Rollback(ctx context.Context, path, version string) (meta *SecretMetadata, rerr error) {
	const op = "rollback"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	defer v.auditMeta(ctx, EventSecretRolledBack, path, &meta, &rerr)
	if err := v.check(path); err != nil {
		return nil, opErr(op, safePath(path, err), "", err)
	}
	n, err := ParseVersion(version)
	if err != nil {
		return nil, opErr(op, path, "", err)
	}
	var out *SecretMetadata
	err = v.modify(ctx, path, func(rec *record.Secret) (cipher.AEAD, *record.Version, error) {
		if rec.Find(n) == nil {
			if n <= rec.MaxVersion {
				return nil, nil, missingVersion(rec, n)
			}
			return nil, nil, fmt.Errorf("%w: no version %s (versions go up to %s)", ErrNotFound, version, FormatVersion(rec.MaxVersion))
		}
		rec.Active = n
		rec.Previous, rec.GraceUntil = 0, 0 // a rollback ends any grace period
		rec.UpdatedAt = v.opts.now().UnixNano()
		m := metadata(rec, n)
		out = &m
		return nil, nil, nil
	})
	if err != nil {
		return nil, opErr(op, path, version, err)
	}
	return out, nil
}
