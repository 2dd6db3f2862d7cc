package agentvault

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/internal/record"
)

// Version records. A secret is stored as a head at secretPrefix+path
// (record format version 4: metadata, the version table and the active
// version's envelope) plus one version record per other stored version at
// versionKey(path, n). Reading the active version is one backend read, an
// older one two. A write that displaces the active version (an update, a
// rollback, a rotation) first writes the displaced version's record, then
// swaps the head by revision: a crash in between leaves at most a version
// record no head references (an orphan), never a head that references a
// missing one. Retention and DeleteSecret remove the head's reference
// first and the version record after; RunOnce removes orphans older than
// orphanGrace, and Doctor reports them.
//
// A version record's MAC binds it to the vault (the MAC key), the path,
// the version number and the head's SecretID (this incarnation of the
// path): a storage writer who swaps version records between secrets,
// versions or a deleted and re-created secret gets ErrIntegrity.

// versionPrefix starts every version record key. '@' never occurs in a
// path, so versionKeys(path) lists exactly path's version records.
const versionPrefix = "sv/"

// orphanGrace is how old an unreferenced version record must be before
// RunOnce removes it: younger ones may belong to a write in flight.
const orphanGrace = 15 * time.Minute

func versionKey(path string, n uint32) string {
	return versionPrefix + path + "@" + strconv.FormatUint(uint64(n), 10)
}

// parseVersionKey splits a version record key into path and number.
func parseVersionKey(key string) (string, uint32, bool) {
	rest, ok := strings.CutPrefix(key, versionPrefix)
	i := strings.LastIndexByte(rest, '@')
	if !ok || i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(rest[i+1:], 10, 32)
	if err != nil || n == 0 || ValidatePath(rest[:i]) != nil {
		return "", 0, false
	}
	return rest[:i], uint32(n), true
}

// encodeVersion MACs and encodes ver's version record.
func (v *AgentVault) encodeVersion(path string, id [record.SecretIDLen]byte, ver *record.Version) []byte {
	vr := record.VersionRecord{Path: path, SecretID: id, WrittenAt: v.opts.now().UnixNano(),
		Version: record.Version{Number: ver.Number, KeyID: ver.KeyID, WrappedDEK: ver.WrappedDEK, Nonce: ver.Nonce, Ciphertext: ver.Ciphertext}}
	body := vr.MarshalBody()
	return append(body, v.mac(body)...)
}

// decodeVersionRecord parses and authenticates a version record, without
// checking whose it is.
func (v *AgentVault) decodeVersionRecord(raw []byte) (*record.VersionRecord, error) {
	vr, body, mac, err := record.ParseVersionRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: version record: %w", ErrIntegrity, err)
	}
	if !hmac.Equal(mac, v.mac(body)) {
		return nil, fmt.Errorf("%w: version record MAC does not verify", ErrIntegrity)
	}
	return vr, nil
}

// decodeVersion authenticates the version record of version n of the
// secret incarnation id at path.
func (v *AgentVault) decodeVersion(path string, id [record.SecretIDLen]byte, n uint32, raw []byte) (*record.VersionRecord, error) {
	vr, err := v.decodeVersionRecord(raw)
	if err != nil {
		return nil, err
	}
	if vr.Path != path || vr.Version.Number != n || vr.SecretID != id {
		return nil, fmt.Errorf("%w: version record belongs to another secret or version", ErrIntegrity)
	}
	return vr, nil
}

// envelope returns ver with its envelope: ver itself when the envelope is
// in memory (the active version, or any version of a format 1–3 record),
// else a copy completed from its version record.
func (v *AgentVault) envelope(ctx context.Context, path string, rec *record.Secret, ver *record.Version) (*record.Version, error) {
	if !ver.Detached() {
		return ver, nil
	}
	if f := rec.Find(ver.Number); f != nil && !f.Detached() {
		return f, nil // the active version of a derived head (its entry is detached, Find has the envelope)
	}
	raw, _, err := v.b.GetShared(ctx, versionKey(path, ver.Number))
	if errors.Is(err, backend.ErrNotFound) {
		return nil, fmt.Errorf("%w: the version record of %s is missing", ErrIntegrity, FormatVersion(ver.Number))
	}
	if err != nil {
		return nil, err
	}
	vr, err := v.decodeVersion(path, rec.SecretID, ver.Number, raw)
	if err != nil {
		return nil, err
	}
	out := *ver
	out.KeyID, out.WrappedDEK, out.Nonce, out.Ciphertext = vr.Version.KeyID, vr.Version.WrappedDEK, vr.Version.Nonce, vr.Version.Ciphertext
	return &out, nil
}

// storeVersions prepares rec, about to be written as a head, for format
// version 4: it gives a record of format 1–3 a SecretID, writes the
// version record of every non-active version whose envelope is in memory
// (the version a change displaced or added inactive, every version of a
// record being upgraded) and then drops those envelopes from rec, and it
// loads the active version's envelope when it is detached (a rollback).
func (v *AgentVault) storeVersions(ctx context.Context, path string, rec *record.Secret) error {
	if !rec.IsV4() {
		if _, err := rand.Read(rec.SecretID[:]); err != nil {
			return err
		}
	}
	for i := range rec.Versions {
		ver := &rec.Versions[i]
		if ver.Number == rec.Active {
			if ver.Detached() {
				full, err := v.envelope(ctx, path, rec, ver)
				if err != nil {
					return err
				}
				*ver = *full
			}
			continue
		}
		if ver.Detached() {
			continue
		}
		if err := v.putVersion(ctx, path, rec.SecretID, ver); err != nil {
			return fmt.Errorf("write version record of %s: %w", FormatVersion(ver.Number), err)
		}
		*ver = record.Version{Number: ver.Number, CreatedAt: ver.CreatedAt, CreatedBy: ver.CreatedBy, Tier: ver.Tier}
	}
	return nil
}

// storeDerived is storeVersions for rec, derived from the cached head
// (record.Secret.Derive) with versions only added: it writes the version
// record of each version whose envelope rec holds apart from its table
// and that is not the active one (the version an update displaced), and
// loads the active version's envelope if rec does not hold it. O(1) in
// the number of versions.
func (v *AgentVault) storeDerived(ctx context.Context, path string, rec *record.Secret) error {
	held, displaced := rec.Held()
	var act *record.Version
	for _, ver := range []*record.Version{displaced, held} {
		switch {
		case ver == nil:
		case ver.Number == rec.Active:
			act = ver
		default:
			if err := v.putVersion(ctx, path, rec.SecretID, ver); err != nil {
				return fmt.Errorf("write version record of %s: %w", FormatVersion(ver.Number), err)
			}
		}
	}
	if act == nil {
		ver := rec.Find(rec.Active)
		if ver == nil {
			return fmt.Errorf("%w: active version %s is not stored", ErrIntegrity, FormatVersion(rec.Active))
		}
		full, err := v.envelope(ctx, path, rec, ver)
		if err != nil {
			return err
		}
		act = full
	}
	rec.SetHeld(act)
	return nil
}

// putVersion writes ver's version record. A record already there for the
// same version of the same incarnation is kept when it holds the same
// envelope or one wrapped under the current primary key (a rewrap that
// went first); anything else there (an orphan of a deleted incarnation, a
// damaged record, an envelope wrapped under an older key) is replaced.
func (v *AgentVault) putVersion(ctx context.Context, path string, id [record.SecretIDLen]byte, ver *record.Version) error {
	key := versionKey(path, ver.Number)
	raw := v.encodeVersion(path, id, ver)
	var rev int64
	for attempt := 0; ; attempt++ {
		_, err := v.b.Put(ctx, key, raw, rev)
		if err == nil || !errors.Is(err, backend.ErrConflict) {
			return err
		}
		if attempt >= v.opts.maxRetries {
			return fmt.Errorf("%w: gave up after %d attempts", ErrConflict, attempt+1)
		}
		old, oldRev, err := v.b.Get(ctx, key)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			rev = 0
			continue
		case errors.Is(err, ErrIntegrity):
			// Damaged beyond the backend's own parsing: replace it.
			if err := v.b.Delete(ctx, key, 0); err != nil && !errors.Is(err, backend.ErrNotFound) {
				return err
			}
			rev = 0
			continue
		case err != nil:
			return err
		}
		if vr, err := v.decodeVersion(path, id, ver.Number, old); err == nil &&
			(vr.Version.KeyID == v.kp.KeyID() || string(vr.Version.WrappedDEK) == string(ver.WrappedDEK)) {
			return nil
		}
		rev = oldRev
	}
}

// dropVersions deletes the version records of the versions prev stored
// and rec no longer does (pruned), once rec's head is written. A failure
// leaves an orphan, which RunOnce removes later.
func (v *AgentVault) dropVersions(ctx context.Context, path string, prev, rec *record.Secret) {
	if !prev.IsV4() || rec.SecretID != prev.SecretID {
		return
	}
	j := 0 // both tables are sorted: walk them together
	for i := range prev.Versions {
		n := prev.Versions[i].Number
		for j < len(rec.Versions) && rec.Versions[j].Number < n {
			j++
		}
		if j < len(rec.Versions) && rec.Versions[j].Number == n {
			continue
		}
		if n != prev.Active { // an active version may have no record
			_ = v.b.Delete(ctx, versionKey(path, n), 0)
		}
	}
}

// deleteVersions deletes the version records of the incarnation id at
// path (after its head is gone). A record replaced meanwhile by a new
// incarnation's is left alone (conditional delete).
func (v *AgentVault) deleteVersions(ctx context.Context, path string, id [record.SecretIDLen]byte) {
	keys, err := v.b.List(ctx, versionPrefix+path+"@")
	if err != nil || len(keys) == 0 {
		return
	}
	items, err := v.getMany(ctx, keys)
	if err != nil {
		return
	}
	for _, it := range items {
		if it.Value == nil {
			continue
		}
		if vr, err := v.decodeVersionRecord(it.Value); err == nil && vr.SecretID == id && vr.Path == path {
			_ = v.b.Delete(ctx, it.Key, it.Rev)
		}
	}
}

// orphanVersion is a version record no head references.
type orphanVersion struct {
	key       string
	rev       int64
	writtenAt int64 // 0 when the record does not authenticate
}

// orphanVersions lists the version records no secret's head references:
// the head is gone, belongs to another incarnation, or no longer stores
// that version. Records that do not authenticate are listed too (with a
// zero writtenAt) unless their head references them (Doctor reports
// those as damaged versions).
func (v *AgentVault) orphanVersions(ctx context.Context) ([]orphanVersion, error) {
	keys, err := v.b.List(ctx, versionPrefix)
	if err != nil {
		return nil, err
	}
	var out []orphanVersion
	heads := map[string]*record.Secret{}
	for len(keys) > 0 {
		n := min(256, len(keys))
		items, err := v.getMany(ctx, keys[:n])
		if err != nil {
			return nil, err
		}
		keys = keys[n:]
		for _, it := range items {
			if it.Value == nil {
				continue
			}
			path, num, ok := parseVersionKey(it.Key)
			if !ok {
				continue // not a key agentvault writes
			}
			head, seen := heads[path]
			if !seen {
				head, _, err = v.load(ctx, path)
				switch {
				case errors.Is(err, ErrNotFound), errors.Is(err, ErrIntegrity):
					head = nil // no head, or one that cannot vouch for anything
				case err != nil:
					return nil, err
				}
				heads[path] = head
			}
			vr, verr := v.decodeVersion(path, secretIDOf(head), num, it.Value)
			if head != nil && head.Find(num) != nil && (verr == nil || errors.Is(verr, ErrIntegrity) && head.IsV4()) {
				continue // referenced (a damaged one is the version check's to report)
			}
			o := orphanVersion{key: it.Key, rev: it.Rev}
			if verr == nil {
				o.writtenAt = vr.WrittenAt
			} else if vr, err := v.decodeVersionRecord(it.Value); err == nil && vr.Path == path && vr.Version.Number == num {
				o.writtenAt = vr.WrittenAt // another incarnation's
			}
			out = append(out, o)
		}
	}
	return out, nil
}

func secretIDOf(rec *record.Secret) [record.SecretIDLen]byte {
	if rec == nil {
		return [record.SecretIDLen]byte{}
	}
	return rec.SecretID
}

// removeOrphans deletes the authenticated orphan version records older
// than orphanGrace and returns their keys. Records that do not
// authenticate are left for an operator (Doctor lists them).
func (v *AgentVault) removeOrphans(ctx context.Context) ([]string, error) {
	if err := v.enter(); err != nil {
		return nil, err
	}
	defer v.leave()
	orphans, err := v.orphanVersions(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := v.opts.now().Add(-orphanGrace).UnixNano()
	var removed []string
	for _, o := range orphans {
		if o.writtenAt == 0 || o.writtenAt > cutoff {
			continue
		}
		err := v.b.Delete(ctx, o.key, o.rev)
		switch {
		case err == nil:
			removed = append(removed, o.key)
		case errors.Is(err, backend.ErrNotFound), errors.Is(err, backend.ErrConflict):
		default:
			return removed, err
		}
	}
	return removed, nil
}
