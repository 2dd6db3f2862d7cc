package agentvault

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/internal/record"
	"github.com/agentvault/agentvault/kms"
)

// Backend keys. Every secret is one record at secretPrefix+path.
const (
	configKey    = "meta/vault"
	secretPrefix = "s/"
)

// AgentVault stores versioned, envelope-encrypted secrets in a Backend,
// wrapping data keys with a KeyProvider. Create one with New.
//
// An AgentVault is safe for concurrent use by multiple goroutines, and
// several AgentVaults (in one process or many) may share one backend: every
// write is a conditional write retried on conflict, so no version is lost or
// duplicated. The zero value is not usable.
type AgentVault struct {
	b      storage // the caller's Backend, its corruption errors mapped to ErrIntegrity
	kp     kms.KeyProvider
	opts   options
	id     [record.VaultIDLen]byte
	macKey []byte
	cache  *cache
	closed atomic.Bool // set when Close begins; gate refuses new operations
	gate   *gate
	shut   sync.Once
}

// New opens the vault stored in b, creating its configuration (a random
// vault id and a MAC key wrapped by k) on first use. Later opens must use a
// KeyProvider that can unwrap that key, or New fails with ErrIntegrity.
//
// The vault does not take ownership of b or k: Close does not close them.
func New(b backend.Backend, k kms.KeyProvider, opts ...Option) (*AgentVault, error) {
	if b == nil || k == nil {
		return nil, errors.New("agentvault: new: backend and key provider are required")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxValueSize <= 0 || o.maxValueSize > 16<<20 {
		return nil, fmt.Errorf("agentvault: new: max value size %d out of range (1 B – 16 MiB)", o.maxValueSize)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if err := o.access.validate(); err != nil {
		return nil, &Error{Op: "open", Err: err}
	}
	if err := o.validateSpans(); err != nil {
		return nil, &Error{Op: "open", Err: err}
	}
	if err := validateName("actor (WithActor)", o.actor, MaxActorLen); err != nil {
		return nil, &Error{Op: "open", Err: err}
	}
	v := &AgentVault{b: storage{b}, kp: k, opts: o, cache: newCache(o.cacheSize, o.cacheMaxAge, time.Now), gate: newGate()}
	ctx, cancel := context.WithTimeout(context.Background(), o.initTimeout)
	defer cancel()
	if err := v.init(ctx); err != nil {
		return nil, &Error{Op: "open", Err: err}
	}
	return v, nil
}

func (v *AgentVault) init(ctx context.Context) error {
	for attempt := 0; attempt < 3; attempt++ {
		raw, _, err := v.b.Get(ctx, configKey)
		if errors.Is(err, backend.ErrNotFound) {
			raw, err = v.createConfig(ctx)
			if errors.Is(err, backend.ErrConflict) {
				continue // another process created it first: read theirs
			}
		}
		if err != nil {
			return fmt.Errorf("read vault configuration: %w", err)
		}
		cfg, err := record.ParseConfig(raw)
		if err != nil {
			return fmt.Errorf("%w: vault configuration: %w", ErrIntegrity, err)
		}
		key, err := v.providerFor(cfg.KeyID).Decrypt(ctx, cfg.WrappedMACKey, record.AAD(record.PurposeMACKey, cfg.VaultID[:], "", 0))
		if err != nil {
			if errors.Is(err, kms.ErrDecrypt) || errors.Is(err, kms.ErrKeyNotFound) {
				return fmt.Errorf("%w: the key provider cannot unwrap this vault's key (wrong key, or a tampered configuration): %w", ErrIntegrity, err)
			}
			return fmt.Errorf("unwrap vault key: %w", err)
		}
		if len(key) != 32 {
			return fmt.Errorf("%w: vault key has wrong length", ErrIntegrity)
		}
		v.id, v.macKey = cfg.VaultID, key
		return nil
	}
	return errors.New("vault configuration keeps changing")
}

func (v *AgentVault) createConfig(ctx context.Context) ([]byte, error) {
	if err := refuseOrphaned(ctx, v.b); err != nil {
		return nil, err
	}
	cfg := record.Config{CreatedAt: v.opts.now().UnixNano(), KeyID: v.kp.KeyID()}
	key := make([]byte, 32)
	if _, err := rand.Read(cfg.VaultID[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	defer clear(key)
	wrapped, err := v.kp.Encrypt(ctx, key, record.AAD(record.PurposeMACKey, cfg.VaultID[:], "", 0))
	if err != nil {
		return nil, fmt.Errorf("wrap vault key: %w", err)
	}
	cfg.WrappedMACKey = wrapped
	raw := cfg.Marshal()
	if _, err := v.b.Put(ctx, configKey, raw, 0); err != nil {
		return nil, err
	}
	return raw, nil
}

// Close releases the vault's caches and wipes its keys from memory. Later
// calls fail with ErrClosed. Operations already in progress finish first
// (including their audit events): Close waits for them, so none writes
// with a wiped key; an operation that waits on a Rotator, a notifier or
// the backend delays Close as long (and a Rotator or notifier must not call
// Close itself). Calling Close again waits for the first call to finish
// and returns nil. It does not close the backend or KeyProvider.
func (v *AgentVault) Close() error {
	v.shut.Do(func() {
		v.closed.Store(true)
		v.gate.shut()
		v.cache.purge()
		clear(v.macKey)
		v.wipeAccessKeys()
	})
	return nil
}

func (v *AgentVault) check(path string) error {
	if v.closed.Load() {
		return ErrClosed
	}
	return ValidatePath(path)
}

// actor returns the caller's id to record as created_by: the context's
// actor or the vault's default. An invalid context actor is an error
// wrapping ErrInvalidInput (never truncated or re-encoded).
func (v *AgentVault) actor(ctx context.Context) (string, error) {
	a, err := v.ctxActor(ctx)
	return a.ID, err
}

// CreateSecret stores a new secret as version v1. It fails with
// ErrAlreadyExists if a secret exists at in.Path.
func (v *AgentVault) CreateSecret(ctx context.Context, in CreateSecretInput) (out *Secret, err error) {
	const op = "create"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	defer v.auditCreate(ctx, in.Path, &out, &err)
	if err := v.check(in.Path); err != nil {
		return nil, opErr(op, safePath(in.Path, err), "", err)
	}
	rec, raw, aead, err := v.newSecret(ctx, in)
	if err != nil {
		return nil, opErr(op, in.Path, errVersion(err), err)
	}
	rev, err := v.b.Put(ctx, secretPrefix+in.Path, raw, 0)
	if err != nil {
		if errors.Is(err, backend.ErrConflict) {
			err = ErrAlreadyExists
		}
		return nil, opErr(op, in.Path, "", err)
	}
	v.created(in.Path, rec, raw, aead)
	v.cache.learnRev(in.Path, raw, rev)
	return &Secret{SecretMetadata: metadata(rec, 1), Value: NewValue(in.Value.b)}, nil
}

// sealError marks a failure to seal a new secret's value (named "v1" in
// the operation's error).
type sealError struct{ err error }

func (e *sealError) Error() string { return e.err.Error() }
func (e *sealError) Unwrap() error { return e.err }

func errVersion(err error) string {
	var se *sealError
	if errors.As(err, &se) {
		return "v1"
	}
	return ""
}

// newSecret checks in and seals its value as version v1: the record to
// store at secretPrefix+in.Path (format 4, create only), its encoding, and
// the data key's AEAD for the cache.
func (v *AgentVault) newSecret(ctx context.Context, in CreateSecretInput) (*record.Secret, []byte, cipher.AEAD, error) {
	now := v.opts.now()
	typ, tier := in.Type, in.Tier
	if typ == "" {
		typ = TypeCustom
	}
	if tier == "" {
		tier = TierSensitive
	}
	if err := v.validateCreate(in, typ, tier, now); err != nil {
		return nil, nil, nil, err
	}
	actor, err := v.actor(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	ver, aead, err := v.seal(ctx, in.Path, 1, in.Value.b, now, actor)
	if err != nil {
		return nil, nil, nil, &sealError{err}
	}
	rec := &record.Secret{
		Path: in.Path, Type: string(typ), Tier: tierRanks[tier], Description: in.Description,
		Tags: toRecordTags(in.Tags), CreatedBy: actor, CreatedAt: now.UnixNano(), UpdatedAt: now.UnixNano(),
		ExpiresAt: expiryNanos(in.ExpiresAt, in.ExpiresIn, now), Active: 1, MaxVersion: 1,
		Versions: []record.Version{ver},
	}
	if _, err := rand.Read(rec.SecretID[:]); err != nil {
		return nil, nil, nil, err
	}
	return rec, v.encode(rec), aead, nil
}

// created warms the cache with a secret just written by newSecret's
// record.
func (v *AgentVault) created(path string, rec *record.Secret, raw []byte, aead cipher.AEAD) {
	v.cache.putDEK(string(rec.Versions[0].WrappedDEK), v.newDataKey(aead, path, 1))
	v.cache.putRecord(path, raw, rec)
}

func (v *AgentVault) validateCreate(in CreateSecretInput, typ SecretType, tier AccessTier, now time.Time) error {
	if !typ.Valid() {
		_, err := ParseSecretType(string(typ))
		return err
	}
	if !tier.Valid() {
		_, err := ParseAccessTier(string(tier))
		return err
	}
	if err := v.validateValue(in.Value); err != nil {
		return err
	}
	if err := validateTags(in.Tags); err != nil {
		return err
	}
	if err := validateDescription(in.Description); err != nil {
		return err
	}
	if !in.ExpiresAt.IsZero() && in.ExpiresIn != 0 {
		return fmt.Errorf("%w: set ExpiresAt or ExpiresIn, not both", ErrInvalidInput)
	}
	if in.ExpiresIn < 0 {
		return fmt.Errorf("%w: ExpiresIn %v is negative", ErrInvalidInput, in.ExpiresIn)
	}
	if !in.ExpiresAt.IsZero() && !in.ExpiresAt.After(now) {
		return fmt.Errorf("%w: ExpiresAt %s is not in the future", ErrInvalidInput, in.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if !in.ExpiresAt.IsZero() {
		if err := storableTime("ExpiresAt", in.ExpiresAt); err != nil {
			return err
		}
	}
	return storableSpan("ExpiresIn", now, in.ExpiresIn)
}

func (v *AgentVault) validateValue(val SecretValue) error {
	if len(val.b) > v.opts.maxValueSize {
		return fmt.Errorf("%w: value is %d bytes, larger than the limit of %d", ErrInvalidInput, len(val.b), v.opts.maxValueSize)
	}
	return nil
}

// GetSecret returns the active version of the secret at path, or the version
// named with AtVersion. It fails with ErrNotFound, or ErrExpired when the
// secret's expiry has passed (its metadata stays listable).
//
// The read's audit event is durable before the value is returned. On a
// backend that can read and append together (backend.ReadAppender: Redis)
// a read of a secret this vault has read or written before costs one round
// trip, event included (the event is predicted from the cached record and
// appended only if the record is unchanged). If the secret changed
// meanwhile, nothing is appended and the real event takes a second round
// trip; if the value then fails to open, a second event records the
// failure.
func (v *AgentVault) GetSecret(ctx context.Context, path string, opts ...GetOption) (out *Secret, err error) {
	if err := v.enter(); err != nil {
		return nil, opErr("get", "", "", err)
	}
	defer v.leave()
	var g getCall
	defer func() {
		if !g.audited {
			v.auditGet(ctx, path, g.validPath, &out, &err)
		}
	}()
	// The body is getSecret, so that GetSecret's few returns leave its
	// defers open-coded (a hot path).
	return v.getSecret(ctx, path, getVersion(opts), &g)
}

// getCall is what GetSecret's deferred audit needs to know of the read.
type getCall struct {
	audited   bool // the read's event is already written (readPredicted)
	validPath bool // path passed ValidatePath: the event records it
}

// getSecret is GetSecret inside its operation gate and audit.
func (v *AgentVault) getSecret(ctx context.Context, path, version string, g *getCall) (*Secret, error) {
	const op = "get"
	if v.closed.Load() {
		return nil, opErr(op, safePath(path, ErrClosed), "", ErrClosed)
	}
	// A path with a cache entry is valid (see cache.putRecordRev): a warm
	// read does not validate it again.
	e, _ := v.cache.entry(path)
	if e.rec == nil {
		if err := ValidatePath(path); err != nil {
			return nil, opErr(op, safePath(path, err), "", err)
		}
	}
	g.validPath = true
	if _, err := v.ctxActor(ctx); err != nil {
		return nil, opErr(op, path, "", err)
	}
	want, err := wantVersion(version)
	if err != nil {
		return nil, opErr(op, path, version, err)
	}
	p := v.readPredicted(ctx, path, version, want,
		func() *AuditEvent { return v.event(ctx, EventSecretRead, path) }, nil,
		func(r *auditRead) (*Secret, error) { return v.getRead(ctx, path, version, want, r) })
	if p.read {
		g.audited = p.written
		if p.werr != nil && v.opts.access.failClosed { // the io.Writer sink failed (see auditSecret)
			return nil, &Error{Op: op, Path: path, Err: p.werr}
		}
		return p.secret, p.err
	}
	rec, err := v.loadWarm(ctx, path, &e)
	if err != nil {
		return nil, opErr(op, path, version, err)
	}
	return v.getFromWarm(ctx, path, version, want, rec, &e)
}

// loadWarm is load for a read whose path is valid and whose context's
// actor is checked, with e the path's cache entry when it has one (zero
// otherwise). When the backend returns the very slice e's record was
// parsed from, at e's revision, that record is the one, with nothing to
// compare or authenticate again.
func (v *AgentVault) loadWarm(ctx context.Context, path string, e *recEntry) (*record.Secret, error) {
	key := e.key
	if key == "" {
		key = secretPrefix + path
	}
	raw, rev, err := v.b.GetShared(ctx, key)
	if err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if e.hit(raw, rev) {
		return e.rec, nil
	}
	return v.decodeRev(path, raw, true, rev)
}

// getFrom is GetSecret once the record is loaded.
func (v *AgentVault) getFrom(ctx context.Context, path, version string, want uint32, rec *record.Secret) (*Secret, error) {
	return v.getFromWarm(ctx, path, version, want, rec, nil)
}

// getFromWarm is getFrom with e, when not nil, the path's cache entry as
// read before rec was loaded: when rec is its record, the active version's
// data key is taken from it (while younger than the cache's maxAge) or
// recorded in it.
func (v *AgentVault) getFromWarm(ctx context.Context, path, version string, want uint32, rec *record.Secret, e *recEntry) (*Secret, error) {
	const op = "get"
	rec, ver, err := v.selectVersion(ctx, rec, version, want, nil)
	if err != nil {
		return nil, opErr(op, path, version, err)
	}
	vs := FormatVersion(ver.Number)
	var pt []byte
	if e != nil && e.rec == rec && ver.Number == rec.Active && !ver.Detached() {
		d := e.act
		if !v.cache.fresh(d) {
			if d, err = v.dekEntryFor(ctx, path, ver); err != nil {
				return nil, opErr(op, path, vs, err)
			}
			v.cache.setActive(path, rec, d)
		}
		pt, err = openWith(d.key, ver)
	} else {
		pt, err = v.open(ctx, path, rec, ver)
	}
	if err != nil {
		return nil, opErr(op, path, vs, err)
	}
	out := &Secret{Value: SecretValue{b: pt}}
	fillMetadata(&out.SecretMetadata, rec, ver.Number)
	return out, nil
}

// getVersion applies GetOptions; without any it allocates nothing.
func getVersion(opts []GetOption) string {
	if len(opts) == 0 {
		return ""
	}
	var o getOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o.version
}

// resolve loads the record at path and selects the version asked for: ""
// (the active one), "vN", or "previous" (during a grace period). gate, if
// set, runs on the authenticated record before anything else is decided
// (a token's tier check). An expired secret is refused at every version.
func (v *AgentVault) resolve(ctx context.Context, path, version string, gate func(*record.Secret) error) (*record.Secret, *record.Version, error) {
	want, err := wantVersion(version)
	if err != nil {
		return nil, nil, err
	}
	rec, _, err := v.load(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	return v.selectVersion(ctx, rec, version, want, gate)
}

// wantVersion parses a version asked for: 0 for the active one or
// "previous".
func wantVersion(version string) (uint32, error) {
	if version == "" || version == PreviousVersion {
		return 0, nil
	}
	return ParseVersion(version)
}

// selectVersion is resolve once the record is loaded.
func (v *AgentVault) selectVersion(ctx context.Context, rec *record.Secret, version string, want uint32, gate func(*record.Secret) error) (*record.Secret, *record.Version, error) {
	if gate != nil {
		if err := gate(rec); err != nil {
			return nil, nil, err
		}
	}
	// The clock is read only when something depends on it (a hot path).
	if rec.ExpiresAt != 0 && !v.opts.now().Before(time.Unix(0, rec.ExpiresAt)) {
		v.expiredRead(ctx, rec)
		return nil, nil, ErrExpired
	}
	if version == PreviousVersion {
		var err error
		if want, err = previousVersion(rec, v.opts.now()); err != nil {
			return nil, nil, err
		}
	}
	if want == 0 {
		want = rec.Active
	}
	ver := rec.Find(want)
	if ver == nil {
		return nil, nil, missingVersion(rec, want)
	}
	return rec, ver, nil
}

// load reads and authenticates the record at path. It refuses a context
// naming an invalid actor (ctxActor), as modify does: every operation on a
// secret goes through one of them.
func (v *AgentVault) load(ctx context.Context, path string) (*record.Secret, int64, error) {
	if _, err := v.ctxActor(ctx); err != nil {
		return nil, 0, err
	}
	raw, rev, err := v.b.GetShared(ctx, secretPrefix+path)
	if err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, err
	}
	rec, err := v.decodeRev(path, raw, true, rev)
	if err != nil {
		return nil, 0, err
	}
	return rec, rev, nil
}

// UpdateSecret changes the secret at path. A new Value becomes a new
// version (max+1) and the active one; other fields change metadata only.
// Concurrent updates are serialised by conditional writes: each gets its
// own version number, none is lost.
//
// Lowering the tier is audited as secret.tier_lowered as well: the
// versions stored until then keep the old tier as their floor, so a token
// needs that tier to read them (see Session.GetSecret).
func (v *AgentVault) UpdateSecret(ctx context.Context, path string, in UpdateSecretInput) (meta *SecretMetadata, rerr error) {
	return v.updateSecret(ctx, path, in, nil)
}

// updateSecret is UpdateSecret; guard, if set, runs on the current record
// inside the conditional write (a Session's tier checks).
func (v *AgentVault) updateSecret(ctx context.Context, path string, in UpdateSecretInput, guard func(*record.Secret) error) (meta *SecretMetadata, rerr error) {
	const op = "update"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	defer v.auditMeta(ctx, EventSecretUpdated, path, &meta, &rerr)
	if err := v.check(path); err != nil {
		return nil, opErr(op, safePath(path, err), "", err)
	}
	if err := v.validateUpdate(in); err != nil {
		return nil, opErr(op, path, "", err)
	}
	var ifVersion uint32
	if in.IfVersion != "" {
		n, err := ParseVersion(in.IfVersion)
		if err != nil {
			return nil, opErr(op, path, "", err)
		}
		ifVersion = n
	}
	actor, err := v.actor(ctx)
	if err != nil {
		return nil, opErr(op, path, "", err)
	}
	var out *SecretMetadata
	var pruned []prunedVersion
	var loweredFrom uint8
	err = v.modifyDerived(ctx, path, func(rec *record.Secret) (cipher.AEAD, *record.Version, error) {
		pruned, loweredFrom = nil, 0
		if guard != nil {
			if err := guard(rec); err != nil {
				return nil, nil, err
			}
		}
		// rec shares its version table with the cached head: lowering the
		// tier (every version gets a floor) and retention (which removes
		// versions) change it in place, so they need a private copy.
		now := v.opts.now()
		if in.Tier != "" && tierRanks[in.Tier] < rec.Tier ||
			in.Value != nil && mayPrune(v.opts.lifecycle.retention, rec, len(rec.Versions)+1, now) {
			rec.Own()
		}
		if ifVersion != 0 && rec.Active != ifVersion {
			return nil, nil, fmt.Errorf("%w: active version is %s, not %s", ErrConflict, FormatVersion(rec.Active), in.IfVersion)
		}
		loweredFrom = applyMetadata(rec, in, now)
		if len(rec.Tags) > MaxTags {
			return nil, nil, fmt.Errorf("%w: %d tags after the update, more than %d", ErrInvalidInput, len(rec.Tags), MaxTags)
		}
		var aead cipher.AEAD
		var added *record.Version
		if in.Value != nil {
			if rec.MaxVersion == ^uint32(0) {
				return nil, nil, fmt.Errorf("%w: version numbers exhausted", ErrInvalidInput)
			}
			n := rec.MaxVersion + 1
			ver, a, err := v.seal(ctx, path, n, in.Value.b, now, actor)
			if err != nil {
				return nil, nil, err
			}
			added = rec.AppendVersion(ver)
			rec.MaxVersion = n
			activate(rec, n, in.GracePeriod, now)
			aead = a
			if !rec.Derived() { // else mayPrune found nothing to prune
				pruned = v.opts.lifecycle.retention.prune(rec, now, v.opts.lifecycle.lease)
			}
			if len(pruned) > 0 {
				added = &rec.Versions[len(rec.Versions)-1]
			}
		}
		rec.UpdatedAt = now.UnixNano()
		m := metadata(rec, rec.Active)
		out = &m
		return aead, added, nil
	})
	if err != nil {
		return nil, opErr(op, path, "", err)
	}
	v.auditTierLowered(ctx, path, loweredFrom, out.Tier)
	v.auditPruned(ctx, path, pruned)
	return out, nil
}

// mayPrune reports whether p could prune a version of rec, which will
// have n versions, at now: false when prune would remove nothing (every
// version is younger than MaxAge and there are at most MaxVersions). It
// is O(1) on a derived record (record.Secret.OldestCreated).
func mayPrune(p RetentionPolicy, rec *record.Secret, n int, now time.Time) bool {
	if p.MaxVersions > 0 && n > p.MaxVersions {
		return true
	}
	if p.MaxAge <= 0 {
		return false
	}
	ageCut := now.UnixNano() - int64(p.MaxAge) // as prune computes it
	if ageCut > now.UnixNano() {
		ageCut = math.MinInt64
	}
	return rec.OldestCreated() <= ageCut
}

func (v *AgentVault) validateUpdate(in UpdateSecretInput) error {
	if in.Type != "" && !in.Type.Valid() {
		_, err := ParseSecretType(string(in.Type))
		return err
	}
	if in.Tier != "" && !in.Tier.Valid() {
		_, err := ParseAccessTier(string(in.Tier))
		return err
	}
	if in.Value != nil {
		if err := v.validateValue(*in.Value); err != nil {
			return err
		}
	}
	if in.Tags != nil {
		if err := validateTags(in.Tags); err != nil {
			return err
		}
	}
	if in.SetTags != nil {
		if err := validateTags(in.SetTags); err != nil {
			return err
		}
	}
	if in.Description != nil {
		if err := validateDescription(*in.Description); err != nil {
			return err
		}
	}
	n := 0
	if in.ExpiresAt != nil {
		n++
	}
	if in.ExpiresIn != 0 {
		n++
	}
	if in.ClearExpiry {
		n++
	}
	if n > 1 {
		return fmt.Errorf("%w: set only one of ExpiresAt, ExpiresIn and ClearExpiry", ErrInvalidInput)
	}
	if in.ExpiresIn < 0 {
		return fmt.Errorf("%w: ExpiresIn %v is negative", ErrInvalidInput, in.ExpiresIn)
	}
	now := v.opts.now()
	if err := validateGrace(in.GracePeriod, in.Value != nil, now); err != nil {
		return err
	}
	if in.ExpiresAt != nil && in.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: ExpiresAt is the zero time (use ClearExpiry to remove the expiry)", ErrInvalidInput)
	}
	if in.ExpiresAt != nil {
		if err := storableTime("ExpiresAt", *in.ExpiresAt); err != nil {
			return err
		}
	}
	return storableSpan("ExpiresIn", now, in.ExpiresIn)
}

// applyMetadata applies the metadata changes of in; it returns the tier it
// lowered from (0 when it did not lower the tier).
func applyMetadata(rec *record.Secret, in UpdateSecretInput, now time.Time) (loweredFrom uint8) {
	if in.Type != "" {
		rec.Type = string(in.Type)
	}
	if in.Tier != "" {
		loweredFrom = setTier(rec, tierRanks[in.Tier])
	}
	if in.Tags != nil {
		rec.Tags = toRecordTags(in.Tags)
	}
	if len(in.SetTags) > 0 || len(in.RemoveTags) > 0 {
		merged := make(map[string]string, len(rec.Tags)+len(in.SetTags))
		for _, t := range rec.Tags {
			merged[t.Key] = t.Value
		}
		for _, k := range in.RemoveTags {
			delete(merged, k)
		}
		for k, val := range in.SetTags {
			merged[k] = val
		}
		rec.Tags = toRecordTags(merged)
	}
	if in.Description != nil {
		rec.Description = *in.Description
	}
	switch {
	case in.ClearExpiry:
		rec.ExpiresAt = 0
	case in.ExpiresAt != nil:
		rec.ExpiresAt = saturatedNanos(*in.ExpiresAt)
	case in.ExpiresIn != 0:
		rec.ExpiresAt = nanosAfter(now, in.ExpiresIn)
	}
	return loweredFrom
}

// modify runs a read-change-write cycle on the record at path, retrying
// when another writer changed it in between. change edits a private copy of
// the record; it may return the AEAD and envelope of a version it added, to
// warm the cache once the write lands. The record is written as a format
// version 4 head: the version records it needs are written first (see
// storeVersions), those of versions it dropped deleted after.
func (v *AgentVault) modify(ctx context.Context, path string, change func(*record.Secret) (cipher.AEAD, *record.Version, error)) error {
	return v.modifyRec(ctx, path, false, change)
}

// modifyDerived is modify for a change that sets the record's scalar fields
// and tags (assigning new slices), appends versions with AppendVersion and
// calls Own before changing or removing a stored version: the record it
// gets shares its version table with the cached head (record.Secret.Derive),
// so an update costs the same whatever the number of stored versions.
func (v *AgentVault) modifyDerived(ctx context.Context, path string, change func(*record.Secret) (cipher.AEAD, *record.Version, error)) error {
	return v.modifyRec(ctx, path, true, change)
}

func (v *AgentVault) modifyRec(ctx context.Context, path string, derive bool, change func(*record.Secret) (cipher.AEAD, *record.Version, error)) error {
	if _, err := v.ctxActor(ctx); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		raw, rev, err := v.b.GetShared(ctx, secretPrefix+path)
		if err != nil {
			if errors.Is(err, backend.ErrNotFound) {
				return ErrNotFound
			}
			return err
		}
		cur, err := v.decodeRaw(path, raw, true)
		if err != nil {
			return err
		}
		var rec *record.Secret
		if derive {
			rec = cur.Derive()
		} else {
			rec = cloneRecord(cur)
		}
		aead, added, err := change(rec)
		if err != nil {
			return err
		}
		var addedDEK string
		var addedN uint32
		if added != nil {
			addedDEK, addedN = string(added.WrappedDEK), added.Number
		}
		if rec.Derived() {
			err = v.storeDerived(ctx, path, rec)
		} else {
			err = v.storeVersions(ctx, path, rec)
		}
		if err != nil {
			return err
		}
		out := v.encode(rec)
		nrev, err := v.b.Put(ctx, secretPrefix+path, out, rev)
		if err == nil {
			if added != nil {
				v.cache.putDEK(addedDEK, v.newDataKey(aead, path, addedN))
			}
			v.cache.putRecord(path, out, rec)
			v.cache.learnRev(path, out, nrev)
			if !rec.Derived() { // a derived record only added versions
				v.dropVersions(ctx, path, cur, rec)
			}
			return nil
		}
		if !errors.Is(err, backend.ErrConflict) {
			return err
		}
		if attempt >= v.opts.maxRetries {
			return fmt.Errorf("%w: gave up after %d attempts", ErrConflict, attempt+1)
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// backoff sleeps a random time that grows with attempt, capped at 20ms.
func backoff(ctx context.Context, attempt int) error {
	limit := int64(50*time.Microsecond) << min(attempt, 9)
	limit = min(limit, int64(20*time.Millisecond))
	n, err := rand.Int(rand.Reader, big.NewInt(limit))
	if err != nil {
		return err
	}
	t := time.NewTimer(time.Duration(n.Int64()))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// cloneRecord returns a private deep copy of s, with the active version's
// envelope in its entry (the layout a parsed record has).
func cloneRecord(s *record.Secret) *record.Secret { return s.Clone() }

// DeleteSecret permanently removes the secret at path and all its versions.
func (v *AgentVault) DeleteSecret(ctx context.Context, path string) (rerr error) {
	const op = "delete"
	if err := v.enter(); err != nil {
		return opErr(op, "", "", err)
	}
	defer v.leave()
	defer v.auditErr(ctx, EventSecretDeleted, path, &rerr)
	if err := v.check(path); err != nil {
		return opErr(op, safePath(path, err), "", err)
	}
	if _, err := v.ctxActor(ctx); err != nil {
		return opErr(op, path, "", err)
	}
	err := v.deleteSecret(ctx, path)
	v.cache.forget(path)
	return opErr(op, path, "", err)
}

// deleteSecret deletes the head at path, then the version records of the
// incarnation it named. A crash in between leaves orphans (RunOnce removes
// them), never a head without its versions. A head that cannot be
// authenticated is deleted too; its version records become orphans.
func (v *AgentVault) deleteSecret(ctx context.Context, path string) error {
	for attempt := 0; ; attempt++ {
		raw, rev, err := v.b.Get(ctx, secretPrefix+path)
		if err != nil && !errors.Is(err, ErrIntegrity) {
			if errors.Is(err, backend.ErrNotFound) {
				return ErrNotFound
			}
			return err
		}
		var rec *record.Secret
		if err == nil {
			rec, _ = v.decode(path, raw)
		} else {
			rev = 0 // unreadable to the backend itself: delete whatever is there
		}
		err = v.b.Delete(ctx, secretPrefix+path, rev)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			return ErrNotFound
		case errors.Is(err, backend.ErrConflict) && attempt < v.opts.maxRetries:
			continue // changed meanwhile: read the newer head
		case err != nil:
			return err
		}
		if rec != nil && rec.IsV4() {
			v.deleteVersions(ctx, path, rec.SecretID)
		}
		return nil
	}
}

// ListSecrets returns the metadata (never the values) of the secrets that
// match f, sorted by path. Expired secrets are listed. A record that cannot
// be read (it fails authentication) is skipped: the others are returned,
// with an error wrapping an *UnreadableError that names the skipped paths
// (and ErrIntegrity).
func (v *AgentVault) ListSecrets(ctx context.Context, f ListFilter) (_ []SecretMetadata, err error) {
	const op = "list"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	defer v.auditErr(ctx, EventSecretListed, f.Prefix, &err)
	out, bad, err := v.listSecrets(ctx, f)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return out, &Error{Op: op, Path: f.Prefix, Err: &UnreadableError{Paths: bad}}
	}
	return out, nil
}

// listSecrets lists like ListSecrets, returning the paths of unreadable
// records (sorted) apart from the error. Its callers have entered the gate.
func (v *AgentVault) listSecrets(ctx context.Context, f ListFilter) ([]SecretMetadata, []string, error) {
	const op = "list"
	if v.closed.Load() {
		return nil, nil, opErr(op, "", "", ErrClosed)
	}
	if err := validPrefix(f.Prefix); err != nil {
		return nil, nil, opErr(op, "", "", err)
	}
	if _, err := v.ctxActor(ctx); err != nil {
		return nil, nil, opErr(op, "", "", err)
	}
	if f.Type != "" && !f.Type.Valid() {
		_, err := ParseSecretType(string(f.Type))
		return nil, nil, opErr(op, "", "", err)
	}
	if f.Tier != "" && !f.Tier.Valid() {
		_, err := ParseAccessTier(string(f.Tier))
		return nil, nil, opErr(op, "", "", err)
	}
	keys, err := v.b.List(ctx, secretPrefix+f.Prefix)
	if err != nil {
		return nil, nil, opErr(op, f.Prefix, "", err)
	}
	items, badKeys, err := v.getReadable(ctx, keys)
	if err != nil {
		return nil, nil, opErr(op, f.Prefix, "", err)
	}
	now := v.opts.now()
	out := make([]SecretMetadata, 0, len(items))
	var bad []string
	for _, k := range badKeys {
		bad = append(bad, k[len(secretPrefix):])
	}
	for _, it := range items {
		if it.Value == nil {
			continue // deleted since List
		}
		path := it.Key[len(secretPrefix):]
		rec, err := v.decode(path, it.Value)
		if err != nil {
			bad = append(bad, path)
			continue
		}
		m := metadata(rec, rec.Active)
		if matches(&m, f, now) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	sort.Strings(bad)
	return out, bad, nil
}

func (v *AgentVault) getMany(ctx context.Context, keys []string) ([]backend.Item, error) {
	return v.b.GetMany(ctx, keys)
}

func matches(m *SecretMetadata, f ListFilter, now time.Time) bool {
	if f.Type != "" && m.Type != f.Type {
		return false
	}
	if f.Tier != "" && m.Tier != f.Tier {
		return false
	}
	for k, want := range f.Tags {
		if got, ok := m.Tags[k]; !ok || got != want {
			return false
		}
	}
	if f.ExpiringWithin > 0 && (m.ExpiresAt.IsZero() || m.ExpiresAt.After(now.Add(f.ExpiringWithin))) {
		return false
	}
	return true
}

// metadata converts a record to the public metadata, as of version n.
func metadata(rec *record.Secret, n uint32) SecretMetadata {
	var m SecretMetadata
	fillMetadata(&m, rec, n)
	return m
}

// fillMetadata is metadata filling in *m, which is zero (in place: a
// result being built on the heap is not copied).
func fillMetadata(m *SecretMetadata, rec *record.Secret, n uint32) {
	tier, _ := tierFromRank(rec.Tier)
	m.Path, m.Type, m.Tier, m.Description = rec.Path, SecretType(rec.Type), tier, rec.Description
	m.CreatedBy, m.CreatedAt = rec.CreatedBy, time.Unix(0, rec.CreatedAt).UTC()
	m.UpdatedAt, m.Version = time.Unix(0, rec.UpdatedAt).UTC(), FormatVersion(n)
	if rec.ExpiresAt != 0 {
		m.ExpiresAt = time.Unix(0, rec.ExpiresAt).UTC()
	}
	lifecycleMetadata(m, rec)
	if len(rec.Tags) > 0 {
		m.Tags = make(map[string]string, len(rec.Tags))
		for _, t := range rec.Tags {
			m.Tags[t.Key] = t.Value
		}
	}
}

func toRecordTags(tags map[string]string) []record.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]record.Tag, 0, len(tags))
	for _, k := range sortedTagKeys(tags) {
		out = append(out, record.Tag{Key: k, Value: tags[k]})
	}
	return out
}

func expiryNanos(at time.Time, in time.Duration, now time.Time) int64 {
	switch {
	case !at.IsZero():
		return saturatedNanos(at)
	case in > 0:
		return nanosAfter(now, in)
	}
	return 0
}

// FormatVersion returns the version id of version number n: "v3".
func FormatVersion(n uint32) string {
	if n < uint32(len(smallVersions)) {
		return smallVersions[n]
	}
	return "v" + strconv.FormatUint(uint64(n), 10)
}

var smallVersions = func() (s [256]string) {
	for i := range s {
		s[i] = "v" + strconv.Itoa(i)
	}
	return s
}()

// ParseVersion parses a version id ("v3") into its number. The error wraps
// ErrInvalidInput.
func ParseVersion(s string) (uint32, error) {
	if len(s) < 2 || s[0] != 'v' || s[1] == '0' {
		return 0, fmt.Errorf("%w: version %q is not of the form v1, v2, …", ErrInvalidInput, truncate(s, 32))
	}
	n, err := strconv.ParseUint(s[1:], 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w: version %q is not of the form v1, v2, …", ErrInvalidInput, truncate(s, 32))
	}
	return uint32(n), nil
}

// safePath returns the path to name in an error: the path (or list
// prefix) itself when it is valid, else a quoted, shortened form (an
// invalid "path" may be a value pasted in the wrong place), "[REDACTED]"
// when it holds a credential. err is unused: the path is checked whatever
// the failure.
func safePath(p string, _ error) string {
	if ValidatePath(p) == nil || validPrefix(p) == nil {
		return p
	}
	return strconv.Quote(truncate(p, 64))
}
