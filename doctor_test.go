package agentvault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/membackend"
)

// flipByte flips one byte in the middle of the stored record at key.
func flipByte(t *testing.T, b backend.Backend, key string) {
	t.Helper()
	raw, rev, err := b.Get(ctx, key)
	require.NoError(t, err, "Get(%q)", key)
	raw = append([]byte(nil), raw...)
	raw[len(raw)/2] ^= 0x40
	_, err = b.Put(ctx, key, raw, rev)
	require.NoError(t, err, "Put(%q)", key)
}

// TestDoctor: a sound vault is reported sound; one flipped byte in a
// record, and one in an audit entry (stored under its own key, or in a
// writer's log), are each reported, and the rest is still checked.
func TestDoctor(t *testing.T) {
	for _, layout := range auditLayouts {
		t.Run(layout, func(t *testing.T) { testDoctor(t, layout) })
	}
}

func testDoctor(t *testing.T, layout string) {
	b, mb := layoutBackend(layout)
	v, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	defer v.Close()
	create(t, v, "app/a", "one")
	update(t, v, "app/a", "two")
	create(t, v, "app/b", "three")
	create(t, v, "app/c", "four")

	rep, err := v.Doctor(ctx)
	require.NoError(t, err)
	assert.True(t, rep.Sound(), "Doctor() on a sound vault: %+v", rep)
	assert.Equal(t, 3, rep.Secrets)
	assert.Equal(t, 4, rep.Versions)
	assert.Positive(t, rep.AuditEvents)

	flipByte(t, b, "s/app/b")
	chains := storedChains(t, mb)
	require.NotEmpty(t, chains)
	first := chains[0].where[0]
	b = chains[0].edit(func(r [][]byte) [][]byte {
		flipped := append([]byte(nil), r[0]...)
		flipped[len(flipped)/2] ^= 0x40
		r[0] = flipped
		return r
	})
	if layout == "keys" {
		b = keysOnly{b}
	}

	// A fresh vault on the same store: no cached records.
	v2, err := agentvault.Open(b, testKey(t))
	require.NoError(t, err)
	defer v2.Close()
	rep, err = v2.Doctor(ctx)
	require.NoError(t, err)
	assert.False(t, rep.Sound())
	require.Len(t, rep.Problems, 1, "Doctor() problems %+v", rep.Problems)
	assert.Equal(t, "app/b", rep.Problems[0].Path)
	assert.Contains(t, rep.Problems[0].Problem, "integrity check failed")
	assert.Equal(t, 2, rep.Secrets)
	assert.Equal(t, 3, rep.Versions)
	assert.Contains(t, rep.AuditError, "modified")
	for _, p := range rep.Problems {
		assert.NotContains(t, p.Problem, "three")
	}

	// QueryAudit returns the readable events and names the bad entry.
	evs, err := v2.QueryAudit(ctx, agentvault.AuditQuery{})
	var ue *agentvault.UnreadableAuditError
	require.ErrorAs(t, err, &ue, "QueryAudit with a corrupt entry")
	assert.ErrorIs(t, err, agentvault.ErrIntegrity)
	assert.Equal(t, []string{first}, ue.Keys)
	assert.NotEmpty(t, evs, "QueryAudit returns the readable events")

	// Rewrap rewraps the others and names the unreadable one.
	res, err := v2.Rewrap(ctx, agentvault.RewrapOptions{})
	var re *agentvault.UnreadableError
	require.True(t, errors.As(err, &re), "Rewrap err = %v, want *UnreadableError", err)
	assert.Equal(t, []string{"app/b"}, re.Paths)
	require.NotNil(t, res)
	assert.Equal(t, []string{"app/b"}, res.Unreadable)
	assert.Equal(t, 3, res.Secrets)
	got, err := v2.GetSecret(ctx, "app/c")
	require.NoError(t, err)
	assert.Equal(t, "four", got.Value.Reveal())
}

// brokenBackend is a backend with one stored record it cannot parse (as a
// truncated file): Get of that key, and any batch holding it, fail with
// ErrIntegrity, as the vault sees a backend's corruption errors.
type brokenBackend struct {
	backend.Backend
	broken string
}

func (b *brokenBackend) Get(ctx context.Context, key string) ([]byte, int64, error) {
	if key == b.broken {
		return nil, 0, fmt.Errorf("%w: corrupt file", agentvault.ErrIntegrity)
	}
	return b.Backend.Get(ctx, key)
}

func (b *brokenBackend) GetMany(ctx context.Context, keys []string) ([]backend.Item, error) {
	items := make([]backend.Item, len(keys))
	for i, k := range keys {
		v, rev, err := b.Get(ctx, k)
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			return nil, err // the whole batch fails
		}
		items[i] = backend.Item{Key: k, Value: v, Rev: rev}
	}
	return items, nil
}

// TestListSkipsRecordTheBackendCannotRead: a record the backend cannot
// read fails its batch; ListSecrets and QueryAudit still return the rest
// and name it.
func TestListSkipsRecordTheBackendCannotRead(t *testing.T) {
	// Events one key each: a key the backend cannot read is the case here.
	b := keysOnly{membackend.New()}
	v, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	create(t, v, "app/a", "one")
	create(t, v, "app/b", "two")
	create(t, v, "app/c", "three")
	auditKeys, err := b.List(ctx, "audit/")
	require.NoError(t, err)
	require.NotEmpty(t, auditKeys)
	require.NoError(t, v.Close())

	for _, broken := range []string{"s/app/b", auditKeys[0]} {
		v2, err := agentvault.Open(&brokenBackend{Backend: b, broken: broken}, testKey(t))
		require.NoError(t, err)
		ms, err := v2.ListSecrets(ctx, agentvault.ListFilter{})
		evs, qerr := v2.QueryAudit(ctx, agentvault.AuditQuery{})
		require.NoError(t, v2.Close())
		if broken == "s/app/b" {
			var ue *agentvault.UnreadableError
			require.ErrorAs(t, err, &ue, "ListSecrets with %s broken", broken)
			assert.Equal(t, []string{"app/b"}, ue.Paths)
			require.Len(t, ms, 2)
			assert.Equal(t, "app/a", ms[0].Path)
			assert.Equal(t, "app/c", ms[1].Path)
			assert.NoError(t, qerr)
			continue
		}
		require.NoError(t, err)
		assert.Len(t, ms, 3)
		var ae *agentvault.UnreadableAuditError
		require.ErrorAs(t, qerr, &ae, "QueryAudit with %s broken", broken)
		assert.Equal(t, []string{broken}, ae.Keys)
		assert.NotEmpty(t, evs)
	}
}
