package agentvault_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

func versionKeys(t *testing.T, b backend.Backend, path string) []string {
	t.Helper()
	keys, err := b.List(ctx, "sv/"+path+"@")
	require.NoError(t, err)
	return keys
}

// TestFormatV4HeadAndVersionRecords: a secret is a format version 4 head
// holding the active envelope, plus one version record per older version;
// every version reads back.
func TestFormatV4HeadAndVersionRecords(t *testing.T) {
	v, b := newVault(t)
	create(t, v, "app/key", "one")
	assert.Empty(t, versionKeys(t, b, "app/key"), "a new secret is its head alone")
	update(t, v, "app/key", "two")
	update(t, v, "app/key", "three")
	head, _, err := b.Get(ctx, "s/app/key")
	require.NoError(t, err)
	assert.Equal(t, "AVSR\x04", string(head[:5]))
	assert.NotContains(t, string(head), "one", "no plaintext")
	assert.Equal(t, []string{"sv/app/key@1", "sv/app/key@2"}, versionKeys(t, b, "app/key"))
	for ver, want := range map[string]string{"v1": "one", "v2": "two", "v3": "three", "": "three"} {
		var opts []agentvault.GetOption
		if ver != "" {
			opts = append(opts, agentvault.AtVersion(ver))
		}
		assert.Equal(t, want, get(t, v, "app/key", opts...).Value.Reveal(), "GetSecret(%q)", ver)
	}
	vs, err := v.ListVersions(ctx, "app/key")
	require.NoError(t, err)
	require.Len(t, vs, 3)
	assert.True(t, vs[2].IsActive)

	// A rollback moves v1's envelope into the head; v3 keeps its record.
	_, err = v.Rollback(ctx, "app/key", "v1")
	require.NoError(t, err)
	assert.Equal(t, "one", get(t, v, "app/key").Value.Reveal())
	assert.Equal(t, "three", get(t, v, "app/key", agentvault.AtVersion("v3")).Value.Reveal())
	update(t, v, "app/key", "four")
	assert.Equal(t, "one", get(t, v, "app/key", agentvault.AtVersion("v1")).Value.Reveal())
	assert.Equal(t, []string{"sv/app/key@1", "sv/app/key@2", "sv/app/key@3"}, versionKeys(t, b, "app/key"))
}

// TestVersionRecordSwapIsIntegrityError: a storage writer who moves a
// version record to another secret, another version, or into a deleted
// and re-created secret at the same path gets ErrIntegrity, never the
// other value.
func TestVersionRecordSwapIsIntegrityError(t *testing.T) {
	v, b := newVault(t)
	for _, p := range []string{"a/one", "a/two"} {
		create(t, v, p, p+"-v1")
		update(t, v, p, p+"-v2")
		update(t, v, p, p+"-v3")
	}
	raw := func(k string) []byte {
		val, _, err := b.Get(ctx, k)
		require.NoError(t, err)
		return val
	}
	put := func(k string, val []byte) {
		_, rev, err := b.Get(ctx, k)
		require.NoError(t, err)
		_, err = b.Put(ctx, k, val, rev)
		require.NoError(t, err)
	}
	other, v1 := raw("sv/a/two@1"), raw("sv/a/one@1")
	put("sv/a/one@1", other)
	_, err := v.GetSecret(ctx, "a/one", agentvault.AtVersion("v1"))
	assert.ErrorIs(t, err, agentvault.ErrIntegrity, "record of another secret")
	put("sv/a/one@1", raw("sv/a/one@2"))
	_, err = v.GetSecret(ctx, "a/one", agentvault.AtVersion("v1"))
	assert.ErrorIs(t, err, agentvault.ErrIntegrity, "record of another version")
	flipped := append([]byte(nil), v1...)
	flipped[len(flipped)/2] ^= 1
	put("sv/a/one@1", flipped)
	_, err = v.GetSecret(ctx, "a/one", agentvault.AtVersion("v1"))
	assert.ErrorIs(t, err, agentvault.ErrIntegrity, "flipped byte")
	require.NoError(t, b.Delete(ctx, "sv/a/one@2", 0))
	_, err = v.GetSecret(ctx, "a/one", agentvault.AtVersion("v2"))
	assert.ErrorIs(t, err, agentvault.ErrIntegrity, "missing record")

	// A deleted incarnation's record replayed into a new one at the same path.
	old := raw("sv/a/two@1")
	require.NoError(t, v.DeleteSecret(ctx, "a/two"))
	assert.Empty(t, versionKeys(t, b, "a/two"), "DeleteSecret deletes the version records")
	create(t, v, "a/two", "new-v1")
	update(t, v, "a/two", "new-v2")
	put("sv/a/two@1", old)
	_, err = v.GetSecret(ctx, "a/two", agentvault.AtVersion("v1"))
	assert.ErrorIs(t, err, agentvault.ErrIntegrity, "record of a deleted incarnation")
}

// headFault fails the next Put of a secret head (after the version records
// went through): a crash between the two writes.
type headFault struct {
	backend.Backend
	armed atomic.Bool
}

var errCrash = errors.New("simulated crash")

func (f *headFault) Put(ctx context.Context, key string, val []byte, rev int64) (int64, error) {
	if strings.HasPrefix(key, "s/") && f.armed.CompareAndSwap(true, false) {
		return 0, errCrash
	}
	return f.Backend.Put(ctx, key, val, rev)
}

// TestCrashBetweenVersionAndHead: a write that dies after the version
// record and before the head leaves every version readable; what it
// leaves behind is at most an orphan, which Doctor reports and RunOnce
// removes once it is older than the grace period.
func TestCrashBetweenVersionAndHead(t *testing.T) {
	clock := newClock()
	b := &headFault{Backend: membackend.New()}
	v, err := agentvault.New(b, testKey(t), agentvault.WithClock(clock.Now))
	require.NoError(t, err)
	create(t, v, "c/key", "one")
	update(t, v, "c/key", "two")

	b.armed.Store(true)
	val := agentvault.StringValue("three")
	_, err = v.UpdateSecret(ctx, "c/key", agentvault.UpdateSecretInput{Value: &val})
	require.ErrorIs(t, err, errCrash)
	assert.Equal(t, "two", get(t, v, "c/key").Value.Reveal())
	assert.Equal(t, "one", get(t, v, "c/key", agentvault.AtVersion("v1")).Value.Reveal())
	update(t, v, "c/key", "three") // rewrites the displaced version's record
	assert.Equal(t, "two", get(t, v, "c/key", agentvault.AtVersion("v2")).Value.Reveal())

	// An interrupted delete: the head is gone, its version records stay.
	require.NoError(t, b.Backend.Delete(ctx, "s/c/key", 0))
	rep, err := v.Doctor(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"sv/c/key@1", "sv/c/key@2"}, rep.OrphanVersions)
	assert.True(t, rep.Sound(), "orphans hold nothing readable")

	lr, err := v.RunOnce(ctx)
	require.NoError(t, err)
	assert.Zero(t, lr.OrphansRemoved, "young orphans may belong to a write in flight")
	clock.Add(16 * time.Minute)
	lr, err = v.RunOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, lr.OrphansRemoved)
	assert.Empty(t, versionKeys(t, b, "c/key"))
}

// TestRetentionDeletesVersionRecords: a pruned version's record goes too.
func TestRetentionDeletesVersionRecords(t *testing.T) {
	v, b := newVault(t, agentvault.WithRetention(agentvault.RetentionPolicy{MaxVersions: 2}))
	create(t, v, "r/key", "1")
	for _, val := range []string{"2", "3", "4"} {
		update(t, v, "r/key", val)
	}
	assert.Equal(t, []string{"sv/r/key@3"}, versionKeys(t, b, "r/key"))
	assert.Equal(t, "3", get(t, v, "r/key", agentvault.AtVersion("v3")).Value.Reveal())
	_, err := v.GetSecret(ctx, "r/key", agentvault.AtVersion("v1"))
	assert.ErrorIs(t, err, agentvault.ErrNotFound)
}

// TestRewrapVersionRecords: Rewrap re-wraps the data keys kept in
// version records too, so every version reads with the new key alone.
func TestRewrapVersionRecords(t *testing.T) {
	b := membackend.New()
	old := testKey(t)
	v, err := agentvault.New(b, old)
	require.NoError(t, err)
	create(t, v, "w/key", "one")
	update(t, v, "w/key", "two")
	update(t, v, "w/key", "three")
	require.NoError(t, v.Close())

	next, err := localkms.New("next-key", []byte("fedcba9876543210fedcba9876543210"))
	require.NoError(t, err)
	v, err = agentvault.New(b, next, agentvault.WithPreviousKeyProvider(old))
	require.NoError(t, err)
	res, err := v.Rewrap(ctx, agentvault.RewrapOptions{})
	require.NoError(t, err)
	assert.Equal(t, 3, res.Rewrapped)
	require.NoError(t, v.Close())

	v, err = agentvault.New(b, next)
	require.NoError(t, err)
	for ver, want := range map[string]string{"v1": "one", "v2": "two", "v3": "three"} {
		assert.Equal(t, want, get(t, v, "w/key", agentvault.AtVersion(ver)).Value.Reveal(), ver)
	}
}

// TestWarmMemoryReadCopiesNothing: a warm GetSecret on the memory backend
// neither copies nor compares the stored head (GetShared and a cache that
// recognises the immutable slice): what it allocates does not depend on
// the head's size.
func TestWarmMemoryReadCopiesNothing(t *testing.T) {
	v, b := newVault(t, agentvault.WithAudit(false))
	tags := map[string]string{}
	for i := range 60 {
		tags[strings.Repeat("k", 10)+string(rune('A'+i))] = strings.Repeat("v", 500)
	}
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "big/head", Value: agentvault.StringValue("x"),
		Tags: tags, Description: strings.Repeat("d", 1000)})
	require.NoError(t, err)
	head, _, err := b.Get(ctx, "s/big/head")
	require.NoError(t, err)
	require.Greater(t, len(head), 30_000)
	get(t, v, "big/head") // warm
	get(t, v, "big/head") // adopt the shared slice
	const n = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if _, err := v.GetSecret(ctx, "big/head"); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perRead := (after.TotalAlloc - before.TotalAlloc) / n
	assert.Less(t, perRead, uint64(len(head)/2), "bytes allocated per warm read of a %d-byte head", len(head))
}

// TestDerivedUpdatesKeepEveryVersion: updates derive the new head from the
// cached one, sharing its version table (record.Secret.Derive). Two vaults
// (two processes' caches) on one store update one secret concurrently,
// with lowered tiers and metadata-only updates mixed in; afterwards every
// version reads back with exactly the value it was acknowledged with, from
// the writers and from a fresh vault, every older version has its record,
// and Doctor finds nothing wrong.
func TestDerivedUpdatesKeepEveryVersion(t *testing.T) {
	b := membackend.New()
	key := testKey(t)
	open := func() *agentvault.AgentVault {
		v, err := agentvault.New(b, key, agentvault.WithAudit(false), agentvault.WithRetention(agentvault.RetentionPolicy{}))
		require.NoError(t, err)
		t.Cleanup(func() { v.Close() })
		return v
	}
	v1, v2 := open(), open()
	_, err := v1.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "d/key", Value: agentvault.StringValue("v1"), Tier: agentvault.TierCritical})
	require.NoError(t, err)
	var mu sync.Mutex
	acked := map[string]string{"v1": "v1"}
	var wg sync.WaitGroup
	for w, v := range []*agentvault.AgentVault{v1, v2, v1, v2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				in := agentvault.UpdateSecretInput{}
				val := fmt.Sprintf("w%d-%d", w, i)
				switch i % 10 {
				case 3:
					d := val
					in.Description = &d // metadata only
				case 7:
					in.Tier = agentvault.TierStandard // lowers once: every version gets a floor
					fallthrough
				default:
					sv := agentvault.StringValue(val)
					in.Value = &sv
				}
				meta, err := v.UpdateSecret(ctx, "d/key", in)
				if err != nil {
					t.Error(err)
					return
				}
				if in.Value != nil {
					mu.Lock()
					_, dup := acked[meta.Version]
					acked[meta.Version] = val
					mu.Unlock()
					if dup {
						t.Errorf("%s acknowledged twice", meta.Version)
					}
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, acked, 1+4*36)
	for _, v := range []*agentvault.AgentVault{v1, v2, open()} {
		for ver, want := range acked {
			s, err := v.GetSecret(ctx, "d/key", agentvault.AtVersion(ver))
			require.NoError(t, err, ver)
			assert.Equal(t, want, s.Value.Reveal(), ver)
		}
		rep, err := v.Doctor(ctx)
		require.NoError(t, err)
		assert.Empty(t, rep.Problems)
		assert.Empty(t, rep.OrphanVersions)
		assert.Equal(t, len(acked), rep.Versions)
	}
	assert.Len(t, versionKeys(t, b, "d/key"), len(acked)-1)
}

// TestRewrapAfterDerivedUpdates: the vault that rewraps has just updated
// the secret itself, so its cached head is a derived one (the active
// entry detached, its envelope held apart): Rewrap still re-wraps every
// version, the active one in the head.
func TestRewrapAfterDerivedUpdates(t *testing.T) {
	b := membackend.New()
	old := testKey(t)
	v, err := agentvault.New(b, old)
	require.NoError(t, err)
	create(t, v, "w/key", "one")
	update(t, v, "w/key", "two")
	require.NoError(t, v.Close())

	next, err := localkms.New("next-key", []byte("fedcba9876543210fedcba9876543210"))
	require.NoError(t, err)
	v, err = agentvault.New(b, next, agentvault.WithPreviousKeyProvider(old))
	require.NoError(t, err)
	update(t, v, "w/key", "three")
	update(t, v, "w/key", "four")
	res, err := v.Rewrap(ctx, agentvault.RewrapOptions{})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Rewrapped, "v1 and v2 (v3 and v4 were wrapped under the new key)")
	assert.Empty(t, res.Unreadable)
	require.NoError(t, v.Close())

	v, err = agentvault.New(b, next)
	require.NoError(t, err)
	defer v.Close()
	for ver, want := range map[string]string{"v1": "one", "v2": "two", "v3": "three", "v4": "four"} {
		assert.Equal(t, want, get(t, v, "w/key", agentvault.AtVersion(ver)).Value.Reveal(), ver)
	}
}

// TestUpdateBytesFlatWithHistory: an update derives the new head from the
// cached one without copying its version table, so what it allocates
// grows only with the head's encoded size (a few bytes per version), not
// with a copy of every version (over 100 bytes each before).
func TestUpdateBytesFlatWithHistory(t *testing.T) {
	v, b := newVault(t, agentvault.WithAudit(false))
	create(t, v, "h/long", "x")
	for range 999 {
		update(t, v, "h/long", "x")
	}
	head, _, err := b.Get(ctx, "s/h/long")
	require.NoError(t, err)
	perUpdate := func(path string) float64 {
		update(t, v, path, "x") // warm
		const n = 50
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range n {
			update(t, v, path, "x")
		}
		runtime.ReadMemStats(&after)
		return float64(after.TotalAlloc-before.TotalAlloc) / n
	}
	create(t, v, "h/short", "x")
	short, long := perUpdate("h/short"), perUpdate("h/long")
	perVersion := (long - short) / 1000
	t.Logf("bytes allocated per update: %.0f at 1 version, %.0f at 1,000 (head %d bytes): %.1f per version", short, long, len(head), perVersion)
	assert.Less(t, perVersion, 30.0, "bytes allocated per update per stored version")
}
