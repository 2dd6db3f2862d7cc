package agentvault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/agentvault/agentvault/internal/record"
	"github.com/agentvault/agentvault/kms"
)

const dekLen = 32

// seal encrypts value for (path, version) under a fresh data key and returns
// the version envelope and the data key's AEAD (for the cache).
func (v *AgentVault) seal(ctx context.Context, path string, n uint32, value []byte, now time.Time, actor string) (record.Version, cipher.AEAD, error) {
	dek := make([]byte, dekLen)
	if _, err := rand.Read(dek); err != nil {
		return record.Version{}, nil, err
	}
	defer clear(dek)
	aead, err := newGCM(dek)
	if err != nil {
		return record.Version{}, nil, err
	}
	ver := record.Version{Number: n, CreatedAt: now.UnixNano(), CreatedBy: actor, KeyID: v.kp.KeyID()}
	if _, err := rand.Read(ver.Nonce[:]); err != nil {
		return record.Version{}, nil, err
	}
	ver.Ciphertext = aead.Seal(nil, ver.Nonce[:], value, record.AAD(record.PurposeValue, v.id[:], path, n))
	wrapped, err := v.kp.Encrypt(ctx, dek, record.AAD(record.PurposeDEK, v.id[:], path, n))
	if err != nil {
		return record.Version{}, nil, fmt.Errorf("wrap data key: %w", err)
	}
	ver.WrappedDEK = wrapped
	return ver, aead, nil
}

// open decrypts version ver of rec, the record at path, reading its
// version record first when its envelope is not in rec.
func (v *AgentVault) open(ctx context.Context, path string, rec *record.Secret, ver *record.Version) ([]byte, error) {
	ver, err := v.envelope(ctx, path, rec, ver)
	if err != nil {
		return nil, err
	}
	k, err := v.dekFor(ctx, path, ver)
	if err != nil {
		return nil, err
	}
	return openWith(k, ver)
}

// openWith decrypts the envelope ver with its data key k.
func openWith(k dataKey, ver *record.Version) ([]byte, error) {
	pt, err := k.aead.Open(nil, ver.Nonce[:], ver.Ciphertext, k.aad)
	if err != nil {
		return nil, fmt.Errorf("%w: value ciphertext does not authenticate", ErrIntegrity)
	}
	return pt, nil
}

// dataKey is an unwrapped data key, ready to open its version's value:
// the AEAD and the value's additional data (bound to path and version).
type dataKey struct {
	aead cipher.AEAD
	aad  []byte
}

func (v *AgentVault) newDataKey(aead cipher.AEAD, path string, n uint32) dataKey {
	return dataKey{aead: aead, aad: record.AAD(record.PurposeValue, v.id[:], path, n)}
}

// dekFor returns the data key of a version, from the cache or by
// unwrapping it through the KeyProvider.
func (v *AgentVault) dekFor(ctx context.Context, path string, ver *record.Version) (dataKey, error) {
	d, err := v.dekEntryFor(ctx, path, ver)
	if err != nil {
		return dataKey{}, err
	}
	return d.key, nil
}

// dekEntryFor is dekFor returning the cache's entry (an entry not cached
// when the cache is off).
func (v *AgentVault) dekEntryFor(ctx context.Context, path string, ver *record.Version) (*dekEntry, error) {
	if d := v.cache.dek(ver.WrappedDEK); d != nil {
		return d, nil
	}
	dek, err := v.providerFor(ver.KeyID).Decrypt(ctx, ver.WrappedDEK, record.AAD(record.PurposeDEK, v.id[:], path, ver.Number))
	if err != nil {
		switch {
		case errors.Is(err, kms.ErrDecrypt):
			return nil, fmt.Errorf("%w: wrapped data key does not open (tampered, moved, or wrong key): %w", ErrIntegrity, err)
		case errors.Is(err, kms.ErrKeyNotFound):
			return nil, fmt.Errorf("%w: wrapped data key names a key the provider does not hold (a key rotated in elsewhere and not loaded here, a deleted key, or tampering): %w", ErrIntegrity, err)
		}
		return nil, fmt.Errorf("unwrap data key: %w", err)
	}
	defer clear(dek)
	if len(dek) != dekLen {
		return nil, fmt.Errorf("%w: data key has wrong length", ErrIntegrity)
	}
	aead, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	return v.cache.putDEK(string(ver.WrappedDEK), v.newDataKey(aead, path, ver.Number)), nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (v *AgentVault) mac(body []byte) []byte {
	m := hmac.New(sha256.New, v.macKey)
	m.Write(body)
	return m.Sum(nil)
}

// encode MACs and encodes a record.
func (v *AgentVault) encode(s *record.Secret) []byte {
	body := s.MarshalBodyKeep() // s is about to be stored and cached: keep its table's encoding
	return append(body, v.mac(body)...)
}

// decode parses and authenticates the raw record stored for path. Records
// already authenticated are served from the cache when the bytes match.
func (v *AgentVault) decode(path string, raw []byte) (*record.Secret, error) {
	return v.decodeRaw(path, raw, false)
}

// decodeRaw is decode; shared says raw came from GetShared (immutable, so
// the cache may keep it and recognise it by identity, without comparing).
func (v *AgentVault) decodeRaw(path string, raw []byte, shared bool) (*record.Secret, error) {
	return v.decodeRev(path, raw, shared, 0)
}

// decodeRev is decodeRaw for raw read at revision rev (0: unknown), which
// the cache keeps with the record: an audited read predicts its event from
// a record cached with its revision (see predictRead).
func (v *AgentVault) decodeRev(path string, raw []byte, shared bool, rev int64) (*record.Secret, error) {
	if s := v.cache.record(path, raw, shared, rev); s != nil {
		return s, nil
	}
	s, body, mac, err := record.ParseSecret(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntegrity, err)
	}
	if !hmac.Equal(mac, v.mac(body)) {
		return nil, fmt.Errorf("%w: record MAC does not verify", ErrIntegrity)
	}
	if s.Path != path {
		return nil, fmt.Errorf("%w: record belongs to another path", ErrIntegrity)
	}
	if _, ok := tierFromRank(s.Tier); !ok || !SecretType(s.Type).Valid() || !validFloors(s) {
		return nil, fmt.Errorf("%w: unknown tier or type in record", ErrIntegrity)
	}
	v.cache.putRecordRev(path, raw, s, rev)
	return s, nil
}

// cache holds authenticated records (keyed by path, valid only for the exact
// bytes they were parsed from, recognised by identity when those bytes are
// a backend's immutable shared slice) and unwrapped data keys (keyed by the
// wrapped key, valid for maxAge). Both are bounded; eviction is arbitrary.
// Records hold no plaintext.
//
// A record's entry also holds what a warm read of it needs besides the
// record: its backend key (built once) and the data key of its active
// version (the same entry as in deks, so it ages out with it), so that a
// warm read is one lookup here, one backend read and one open.
type cache struct {
	size   int
	maxAge time.Duration
	now    func() time.Time

	mu   sync.RWMutex
	recs map[string]recEntry
	deks map[string]*dekEntry
}

type recEntry struct {
	key string // the backend key of the record, secretPrefix+path
	raw []byte
	rec *record.Secret
	rev int64     // the backend revision raw was read at; 0: unknown
	act *dekEntry // the data key of rec's active version, once used; nil: not yet
}

// A dekEntry is immutable once cached.
type dekEntry struct {
	key  dataKey
	born time.Time
}

func newCache(size int, maxAge time.Duration, now func() time.Time) *cache {
	return &cache{size: size, maxAge: maxAge, now: now,
		recs: make(map[string]recEntry), deks: make(map[string]*dekEntry)}
}

// entry returns the cached entry of path. Only valid paths have entries
// (see putRecordRev).
func (c *cache) entry(path string) (recEntry, bool) {
	if c.size <= 0 {
		return recEntry{}, false
	}
	c.mu.RLock()
	e, ok := c.recs[path]
	c.mu.RUnlock()
	return e, ok
}

// hit reports whether raw, read at revision rev by GetShared, is the very
// slice e's record was parsed from, at the revision e knows: then e.rec is
// the record, with nothing to compare or update.
func (e *recEntry) hit(raw []byte, rev int64) bool {
	return e.rec != nil && rev == e.rev && rev != 0 && len(raw) == len(e.raw) && len(raw) > 0 && &raw[0] == &e.raw[0]
}

// fresh reports whether d may still be used (younger than maxAge).
func (c *cache) fresh(d *dekEntry) bool {
	// born is a time.Now reading (c.now): its monotonic clock reading lets
	// Since read only that clock, not the wall clock too.
	return d != nil && time.Since(d.born) < c.maxAge
}

// record returns the cached record of path if it was parsed from raw's
// bytes. A raw read by GetShared is immutable: when the entry holds that
// very slice (the same stored revision) no byte is compared, and after one
// comparison the entry keeps it, so that warm reads of a large record cost
// no copy and no comparison. rev, when not 0, is the revision raw was read
// at: the entry keeps it.
func (c *cache) record(path string, raw []byte, shared bool, rev int64) *record.Secret {
	if c.size <= 0 {
		return nil
	}
	c.mu.RLock()
	e, ok := c.recs[path]
	c.mu.RUnlock()
	if !ok || len(e.raw) != len(raw) {
		return nil
	}
	same := len(raw) > 0 && &e.raw[0] == &raw[0]
	if !same && string(e.raw) != string(raw) {
		return nil
	}
	if (!same && shared) || (rev != 0 && rev != e.rev) {
		c.mu.Lock()
		if cur, ok := c.recs[path]; ok && cur.rec == e.rec {
			if !same && shared {
				cur.raw = raw
			}
			if rev != 0 {
				cur.rev = rev
			}
			c.recs[path] = cur
		}
		c.mu.Unlock()
	}
	return e.rec
}

// setActive records d as the data key of the active version of rec, the
// cached record of path (nothing when path's entry holds another record).
func (c *cache) setActive(path string, rec *record.Secret, d *dekEntry) {
	if c.size <= 0 || d == nil {
		return
	}
	c.mu.Lock()
	if e, ok := c.recs[path]; ok && e.rec == rec && e.act != d {
		e.act = d
		c.recs[path] = e
	}
	c.mu.Unlock()
}

// learnRev records that the cached record of path, when it is still the
// one parsed from raw (the same slice), is stored at revision rev: a write
// that stored raw returned it.
func (c *cache) learnRev(path string, raw []byte, rev int64) {
	if c.size <= 0 || len(raw) == 0 {
		return
	}
	c.mu.Lock()
	if e, ok := c.recs[path]; ok && len(e.raw) == len(raw) && &e.raw[0] == &raw[0] {
		e.rev = rev
		c.recs[path] = e
	}
	c.mu.Unlock()
}

// current returns the cached record of path and the revision it was read
// at, or nil when there is none or its revision is unknown.
func (c *cache) current(path string) (*record.Secret, int64) {
	if c.size <= 0 {
		return nil, 0
	}
	c.mu.RLock()
	e, ok := c.recs[path]
	c.mu.RUnlock()
	if !ok || e.rev == 0 {
		return nil, 0
	}
	return e.rec, e.rev
}

func (c *cache) putRecord(path string, raw []byte, s *record.Secret) {
	c.putRecordRev(path, raw, s, 0)
}

// putRecordRev is putRecord for raw stored at revision rev (0: unknown). A
// path that ValidatePath refuses (a record stored under older rules) is not
// cached: a path that has an entry is valid, which lets a warm read skip
// validating it.
func (c *cache) putRecordRev(path string, raw []byte, s *record.Secret, rev int64) {
	if c.size <= 0 || ValidatePath(path) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.recs[path]
	if !ok && len(c.recs) >= c.size {
		for k := range c.recs {
			delete(c.recs, k)
			break
		}
	}
	key := e.key
	if !ok {
		key = secretPrefix + path
	}
	c.recs[path] = recEntry{key: key, raw: raw, rec: s, rev: rev}
}

// dek returns the cached data key of wrapped, nil when there is none or it
// is maxAge old.
func (c *cache) dek(wrapped []byte) *dekEntry {
	if c.size <= 0 {
		return nil
	}
	c.mu.RLock()
	d := c.deks[string(wrapped)]
	c.mu.RUnlock()
	if !c.fresh(d) {
		return nil
	}
	return d
}

// putDEK caches k as the data key of wrapped and returns its entry (not
// cached when the cache is off).
func (c *cache) putDEK(wrapped string, k dataKey) *dekEntry {
	d := &dekEntry{key: k, born: c.now()}
	if c.size <= 0 {
		return d
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.deks[wrapped]; !ok && len(c.deks) >= c.size {
		for k := range c.deks {
			delete(c.deks, k)
			break
		}
	}
	c.deks[wrapped] = d
	return d
}

func (c *cache) forget(path string) {
	c.mu.Lock()
	delete(c.recs, path)
	c.mu.Unlock()
}

func (c *cache) purge() {
	c.mu.Lock()
	c.recs = make(map[string]recEntry)
	c.deks = make(map[string]*dekEntry)
	c.mu.Unlock()
}

func timeUTC(nanos int64) time.Time { return time.Unix(0, nanos).UTC() }
