package agentvault_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/filebackend"
)

// TestFileBackendFullDisk fills a real (tmpfs) file system under the file
// backend: the update that does not fit fails with an error wrapping
// ENOSPC, every version written before reads back exactly, no temporary
// file is left, the audit chains verify, and once space is freed the next
// update succeeds. Mounting needs root (CAP_SYS_ADMIN); elsewhere the test
// skips, and TestFaultInjectedStorage covers ENOSPC through an injector.
func TestFileBackendFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=512k,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, 0) })
	padding := filepath.Join(dir, "padding")
	require.NoError(t, os.WriteFile(padding, make([]byte, 128<<10), 0o600))
	store := filepath.Join(dir, "store")
	fb, err := filebackend.Open(store)
	require.NoError(t, err)
	defer fb.Close()
	v, err := agentvault.New(fb, testKey(t))
	require.NoError(t, err)

	value := func(i int) string { return strings.Repeat(string(rune('a'+i%26)), 30<<10) }
	createTier(t, v, "app/big", value(0), agentvault.TierStandard)
	written := 1
	var full error
	for i := 1; i < 100 && full == nil; i++ {
		val := agentvault.StringValue(value(i))
		if _, full = v.UpdateSecret(ctx, "app/big", agentvault.UpdateSecretInput{Value: &val}); full == nil {
			written++
		}
	}
	require.Error(t, full, "the disk never filled up")
	assert.ErrorIs(t, full, syscall.ENOSPC, "the error names the full disk")
	assert.NotContains(t, full.Error(), value(written), "the error quotes the value")
	t.Logf("disk full after %d versions of 30 KiB: %v", written, full)

	check := func() {
		for i := 0; i < written; i++ {
			s, err := v.GetSecret(ctx, "app/big", agentvault.AtVersion(agentvault.FormatVersion(uint32(i+1))))
			require.NoError(t, err, "version %d after the disk filled up", i+1)
			assert.Equal(t, value(i), s.Value.Reveal(), "version %d", i+1)
		}
	}
	check()
	_, err = v.VerifyAudit(ctx)
	require.NoError(t, err)
	require.Empty(t, tempFiles(t, store), "a failed write leaves no temporary file")

	require.NoError(t, os.Remove(padding))
	val := agentvault.StringValue(value(written))
	m, err := v.UpdateSecret(ctx, "app/big", agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err, "the next update, with space again")
	assert.Equal(t, agentvault.FormatVersion(uint32(written+1)), m.Version, "no version number used by the failed update")
	written++
	check()
	if _, err := v.GetSecret(ctx, "app/big"); errors.Is(err, agentvault.ErrIntegrity) {
		t.Fatalf("ErrIntegrity after a full disk: %v", err)
	}
}
