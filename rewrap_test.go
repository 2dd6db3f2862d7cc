package agentvault_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/kmstest"
	"github.com/agentvault/agentvault/kms/localkms"
)

func keyring(t testing.TB, id string, fill byte) *localkms.Keyring {
	t.Helper()
	k, err := localkms.New(id, []byte(fmt.Sprintf("%032d", fill)))
	require.NoError(t, err)
	return k
}

// fill creates n secrets with two versions each; it returns path → {v1, v2}.
func fill(t testing.TB, v *agentvault.AgentVault, n int) map[string][2]string {
	t.Helper()
	want := map[string][2]string{}
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("ns/secret-%03d", i)
		create(t, v, p, p+"-one")
		update(t, v, p, p+"-two")
		want[p] = [2]string{p + "-one", p + "-two"}
	}
	return want
}

func checkAll(t testing.TB, v *agentvault.AgentVault, want map[string][2]string) {
	t.Helper()
	for p, vals := range want {
		for i, val := range vals {
			s, err := v.GetSecret(ctx, p, agentvault.AtVersion(fmt.Sprintf("v%d", i+1)))
			require.NoError(t, err, "GetSecret(%s, v%d)", p, i+1)
			require.Equal(t, val, s.Value.Reveal(), "GetSecret(%s, v%d)", p, i+1)
		}
	}
}

func TestRewrapAfterLocalRotation(t *testing.T) {
	b := membackend.New()
	k := keyring(t, "k1", 1)
	v, err := agentvault.New(b, k)
	require.NoError(t, err)
	want := fill(t, v, 5)

	require.NoError(t, k.AddKey("k2", []byte(fmt.Sprintf("%032d", 2))))
	require.NoError(t, k.SetPrimary("k2"))
	var progress []int
	res, err := v.Rewrap(ctx, agentvault.RewrapOptions{Progress: func(done, total int) { progress = append(progress, done*100+total) }})
	require.NoError(t, err)
	assert.Equal(t, agentvault.RewrapResult{Secrets: 5, Rewrapped: 10}, *res)
	assert.Equal(t, []int{105, 205, 305, 405, 505}, progress)

	// Only the new key is needed now.
	onlyNew := keyring(t, "k2", 2)
	v2, err := agentvault.New(b, onlyNew)
	require.NoError(t, err)
	checkAll(t, v2, want)

	res, err = v.Rewrap(ctx, agentvault.RewrapOptions{})
	require.NoError(t, err)
	assert.Equal(t, agentvault.RewrapResult{Secrets: 5, Current: 10}, *res, "a second run has nothing to do")
}

func TestRewrapAcrossProviders(t *testing.T) {
	b := membackend.New()
	oldKMS := keyring(t, "local-old", 1)
	v, err := agentvault.New(b, oldKMS)
	require.NoError(t, err)
	want := fill(t, v, 4)

	newKMS := kmstest.NewCounting(keyring(t, "cloud-new", 9))
	_, err = agentvault.New(b, newKMS)
	require.ErrorIs(t, err, agentvault.ErrIntegrity, "the new provider alone cannot open the vault before the migration")

	mig, err := agentvault.New(b, newKMS, agentvault.WithPreviousKeyProvider(oldKMS))
	require.NoError(t, err)
	checkAll(t, mig, want) // reads work during the migration
	newKMS.Reset()
	res, err := mig.Rewrap(ctx, agentvault.RewrapOptions{})
	require.NoError(t, err)
	assert.Equal(t, 8, res.Rewrapped)
	assert.EqualValues(t, 9, newKMS.Encrypts(), "one wrap per version plus the vault key")

	after, err := agentvault.New(b, newKMS)
	require.NoError(t, err)
	checkAll(t, after, want)
}

func TestRewrapFailsClosed(t *testing.T) {
	b := membackend.New()
	oldKMS := keyring(t, "old", 1)
	v, err := agentvault.New(b, oldKMS)
	require.NoError(t, err)
	want := fill(t, v, 3)
	before := snapshot(t, b)

	down := &flakyKMS{KeyProvider: keyring(t, "new", 2)}
	mig, err := agentvault.New(b, down, agentvault.WithPreviousKeyProvider(oldKMS))
	require.NoError(t, err)
	down.fail.Store(true)
	_, err = mig.Rewrap(ctx, agentvault.RewrapOptions{})
	require.ErrorIs(t, err, errKMSDown)
	after := snapshot(t, b)
	for k := range after {
		if strings.HasPrefix(k, "audit/") && before[k] == "" {
			delete(after, k) // the failed rewrap's own audit event
		}
	}
	assert.Equal(t, before, after, "nothing written while the new KMS is down")
	checkAll(t, v, want)
}

func snapshot(t testing.TB, b backend.Backend) map[string]string {
	t.Helper()
	keys, err := b.List(ctx, "")
	require.NoError(t, err)
	out := map[string]string{}
	for _, k := range keys {
		val, _, err := b.Get(ctx, k)
		require.NoError(t, err)
		out[k] = string(val)
	}
	return out
}

// TestRewrapKilledAndResumed kills a rewrapping process at random points;
// after every kill all values still read back (old and new keys both
// available), and a final run completes the migration.
func TestRewrapKilledAndResumed(t *testing.T) {
	dir := t.TempDir()
	fb, err := filebackend.Open(dir)
	require.NoError(t, err)
	v, err := agentvault.New(fb, keyring(t, "old", 1))
	require.NoError(t, err)
	want := fill(t, v, 120)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := 0; round < 6; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessRewrap$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AGENTVAULT_REWRAP_DIR="+dir)
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()

		mid, err := agentvault.New(fb, keyring(t, "new", 2), agentvault.WithPreviousKeyProvider(keyring(t, "old", 1)))
		require.NoError(t, err, "round %d", round)
		checkAll(t, mid, want)
	}
	final, err := agentvault.New(fb, keyring(t, "new", 2), agentvault.WithPreviousKeyProvider(keyring(t, "old", 1)))
	require.NoError(t, err)
	_, err = final.Rewrap(ctx, agentvault.RewrapOptions{})
	require.NoError(t, err)
	done, err := agentvault.New(fb, keyring(t, "new", 2))
	require.NoError(t, err)
	checkAll(t, done, want)
}

// TestHelperProcessRewrap is the killable rewrap of TestRewrapKilledAndResumed.
func TestHelperProcessRewrap(t *testing.T) {
	dir := os.Getenv("AGENTVAULT_REWRAP_DIR")
	if dir == "" {
		return
	}
	fb, err := filebackend.Open(dir)
	require.NoError(t, err)
	v, err := agentvault.New(fb, keyring(t, "new", 2), agentvault.WithPreviousKeyProvider(keyring(t, "old", 1)))
	require.NoError(t, err)
	_, err = v.Rewrap(ctx, agentvault.RewrapOptions{})
	require.NoError(t, err)
}

// TestRewrapFromRotatedKeyring migrates from a local keyring that was
// rotated (data keys under two of its keys) to another provider.
func TestRewrapFromRotatedKeyring(t *testing.T) {
	b := membackend.New()
	old := keyring(t, "k1", 1)
	v, err := agentvault.New(b, old)
	require.NoError(t, err)
	want := fill(t, v, 2)
	require.NoError(t, old.AddKey("k2", []byte(fmt.Sprintf("%032d", 2))))
	require.NoError(t, old.SetPrimary("k2"))
	more := fill(t, v, 0)
	create(t, v, "ns/after-rotation", "fresh")
	more["ns/after-rotation"] = [2]string{}

	mig, err := agentvault.New(b, keyring(t, "cloud", 9), agentvault.WithPreviousKeyProvider(old))
	require.NoError(t, err)
	_, err = mig.Rewrap(ctx, agentvault.RewrapOptions{})
	require.NoError(t, err)
	done, err := agentvault.New(b, keyring(t, "cloud", 9))
	require.NoError(t, err)
	checkAll(t, done, want)
	assert.Equal(t, "fresh", get(t, done, "ns/after-rotation").Value.Reveal())
}
