package agentvault

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/internal/record"
	"github.com/agentvault/agentvault/kms"
)

// WithPreviousKeyProvider lets the vault unwrap data keys that were wrapped
// by another KeyProvider, during a migration between providers (local key
// to AWS KMS, one AWS key to another). The previous provider is used only
// for keys whose recorded key id equals its KeyID(): it is chosen by the
// stored envelope, never tried as a fallback after a failure, and never
// used to wrap (a provider that lists its key ids, as a rotated localkms
// keyring does, also unwraps keys recorded under its older ids). Run Rewrap to move every key to the vault's provider, then
// drop this option. May be given more than once.
func WithPreviousKeyProvider(p kms.KeyProvider) Option {
	return func(o *options) { o.previous = append(o.previous, p) }
}

// providerFor returns the provider that unwraps a key recorded under keyID:
// a previous provider with exactly that id, else the vault's own (whose
// keyring may hold older keys, as localkms does after a rotation).
func (v *AgentVault) providerFor(keyID string) kms.KeyProvider {
	if keyID != v.kp.KeyID() {
		for _, p := range v.opts.previous {
			if p.KeyID() == keyID || holdsKey(p, keyID) {
				return p
			}
		}
	}
	return v.kp
}

// holdsKey reports whether a provider that lists its keys (a localkms
// keyring after rotations) holds keyID, for a previous provider whose
// primary key is not the one a data key was wrapped under.
func holdsKey(p kms.KeyProvider, keyID string) bool {
	l, ok := p.(interface{ KeyIDs() []string })
	if !ok {
		return false
	}
	for _, id := range l.KeyIDs() {
		if id == keyID {
			return true
		}
	}
	return false
}

// RewrapOptions controls Rewrap.
type RewrapOptions struct {
	// Progress, if set, is called after each secret with the number of
	// secrets done and the total.
	Progress func(done, total int)
}

// RewrapResult reports a Rewrap.
type RewrapResult struct {
	Secrets   int `json:"secrets"`   // secrets examined
	Rewrapped int `json:"rewrapped"` // versions whose data key was re-wrapped
	Current   int `json:"current"`   // versions already wrapped by the current key
	// Unreadable lists the secrets skipped because their record does not
	// authenticate (altered or corrupted); see ErrIntegrity.
	Unreadable []string `json:"unreadable,omitempty"`
}

// Rewrap re-wraps every version's data key, and the vault's own MAC key,
// under the vault's KeyProvider's current primary key (its KeyID). Value
// ciphertexts are not touched and values never leave memory unwrapped
// beyond the data keys.
//
// Use it after rotating a local keyring (localkms.RotateKeyFile) or to
// migrate between providers: open the vault with the new provider and
// WithPreviousKeyProvider(old), then Rewrap.
//
// Rewrap is idempotent and resumable: each secret is rewritten atomically,
// versions already under the current key are skipped, and the vault's MAC
// key is re-wrapped last, so a crash at any point leaves every value
// readable (with the same options) and running Rewrap again finishes the
// job. It fails closed: if a key provider fails, nothing more is written and
// no other key is used instead. A secret whose record does not authenticate
// is skipped and the others are rewrapped; the result then lists it in
// Unreadable, with an error wrapping an *UnreadableError (and ErrIntegrity).
// Audited as vault.rewrapped, with the counts.
func (v *AgentVault) Rewrap(ctx context.Context, opts RewrapOptions) (res *RewrapResult, err error) {
	const op = "rewrap"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	defer func() {
		if !v.auditing(ctx) {
			return
		}
		e := v.event(ctx, EventVaultRewrapped, "").finish(err)
		if res != nil {
			counts := fmt.Sprintf("secrets %d, rewrapped %d, current %d", res.Secrets, res.Rewrapped, res.Current)
			if e.Reason != "" {
				counts = e.Reason + "; " + counts
			}
			e.Reason = counts
		}
		_ = v.emit(ctx, e)
	}()
	keys, err := v.b.List(ctx, secretPrefix)
	if err != nil {
		return nil, opErr(op, "", "", err)
	}
	res = &RewrapResult{}
	target := v.kp.KeyID()
	for i, k := range keys {
		path := k[len(secretPrefix):]
		var rewrapped, current int
		err := v.modify(ctx, path, func(rec *record.Secret) (cipher.AEAD, *record.Version, error) {
			rewrapped, current = 0, 0
			for j := range rec.Versions {
				ver := &rec.Versions[j]
				if ver.Detached() {
					continue // in its version record: rewrapVersions
				}
				if ver.KeyID == target {
					current++
					continue
				}
				aad := record.AAD(record.PurposeDEK, v.id[:], path, ver.Number)
				dek, err := v.providerFor(ver.KeyID).Decrypt(ctx, ver.WrappedDEK, aad)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: unwrap data key (key %s): %w", FormatVersion(ver.Number), ver.KeyID, err)
				}
				wrapped, err := v.kp.Encrypt(ctx, dek, aad)
				clear(dek)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: wrap data key: %w", FormatVersion(ver.Number), err)
				}
				ver.WrappedDEK, ver.KeyID = wrapped, target
				rewrapped++
			}
			if rewrapped == 0 {
				return nil, nil, errNothingToDo
			}
			return nil, nil, nil
		})
		if err == nil || errors.Is(err, errNothingToDo) {
			var r, c int
			r, c, err = v.rewrapVersions(ctx, path)
			rewrapped, current = rewrapped+r, current+c
			if err == nil && rewrapped == 0 {
				err = errNothingToDo
			}
		}
		switch {
		case errors.Is(err, ErrNotFound):
			// deleted meanwhile
		case errors.Is(err, errNothingToDo):
			res.Current += current
		case errors.Is(err, ErrIntegrity):
			// An unreadable record: skip it, rewrap the others.
			res.Unreadable = append(res.Unreadable, path)
		case err != nil:
			return res, opErr(op, path, "", err)
		default:
			res.Rewrapped += rewrapped
			res.Current += current
		}
		res.Secrets++
		if opts.Progress != nil {
			opts.Progress(i+1, len(keys))
		}
	}
	if err := v.rewrapConfig(ctx); err != nil {
		return res, opErr(op, "", "", err)
	}
	if len(res.Unreadable) > 0 {
		return res, &Error{Op: op, Err: &UnreadableError{Paths: res.Unreadable}}
	}
	return res, nil
}

var errNothingToDo = errors.New("nothing to do")

// rewrapVersions re-wraps the data keys in the version records of the
// secret at path (its non-active versions, format version 4), each record
// rewritten by a conditional write. It returns how many it re-wrapped and
// how many were already current.
func (v *AgentVault) rewrapVersions(ctx context.Context, path string) (rewrapped, current int, err error) {
	rec, _, err := v.load(ctx, path)
	if err != nil {
		return 0, 0, err
	}
	target := v.kp.KeyID()
	for i := range rec.Versions {
		ver := &rec.Versions[i]
		if !ver.Detached() || ver.Number == rec.Active {
			continue // the head holds the active version's envelope (its entry may be detached: record.Secret.Derive)
		}
		key := versionKey(path, ver.Number)
		raw, rev, err := v.b.Get(ctx, key)
		if err != nil {
			if errors.Is(err, backend.ErrNotFound) {
				err = fmt.Errorf("%w: the version record of %s is missing", ErrIntegrity, FormatVersion(ver.Number))
			}
			return rewrapped, current, err
		}
		vr, err := v.decodeVersion(path, rec.SecretID, ver.Number, raw)
		if err != nil {
			return rewrapped, current, err
		}
		if vr.Version.KeyID == target {
			current++
			continue
		}
		aad := record.AAD(record.PurposeDEK, v.id[:], path, ver.Number)
		dek, err := v.providerFor(vr.Version.KeyID).Decrypt(ctx, vr.Version.WrappedDEK, aad)
		if err != nil {
			return rewrapped, current, fmt.Errorf("%s: unwrap data key (key %s): %w", FormatVersion(ver.Number), vr.Version.KeyID, err)
		}
		wrapped, err := v.kp.Encrypt(ctx, dek, aad)
		clear(dek)
		if err != nil {
			return rewrapped, current, fmt.Errorf("%s: wrap data key: %w", FormatVersion(ver.Number), err)
		}
		vr.Version.WrappedDEK, vr.Version.KeyID = wrapped, target
		if _, err := v.b.Put(ctx, key, v.encodeVersion(path, rec.SecretID, &vr.Version), rev); err != nil {
			if errors.Is(err, backend.ErrConflict) {
				err = fmt.Errorf("%w: the version record of %s changed during the rewrap", ErrConflict, FormatVersion(ver.Number))
			}
			return rewrapped, current, err
		}
		rewrapped++
	}
	return rewrapped, current, nil
}

// rewrapConfig re-wraps the vault's MAC key under the current primary key.
func (v *AgentVault) rewrapConfig(ctx context.Context) error {
	raw, rev, err := v.b.Get(ctx, configKey)
	if err != nil {
		return fmt.Errorf("read vault configuration: %w", err)
	}
	cfg, err := record.ParseConfig(raw)
	if err != nil {
		return fmt.Errorf("%w: vault configuration: %w", ErrIntegrity, err)
	}
	if cfg.KeyID == v.kp.KeyID() {
		return nil
	}
	aad := record.AAD(record.PurposeMACKey, cfg.VaultID[:], "", 0)
	key, err := v.providerFor(cfg.KeyID).Decrypt(ctx, cfg.WrappedMACKey, aad)
	if err != nil {
		return fmt.Errorf("unwrap vault key: %w", err)
	}
	defer clear(key)
	wrapped, err := v.kp.Encrypt(ctx, key, aad)
	if err != nil {
		return fmt.Errorf("wrap vault key: %w", err)
	}
	cfg.WrappedMACKey, cfg.KeyID = wrapped, v.kp.KeyID()
	if _, err := v.b.Put(ctx, configKey, cfg.Marshal(), rev); err != nil {
		return fmt.Errorf("write vault configuration: %w", err)
	}
	return nil
}
