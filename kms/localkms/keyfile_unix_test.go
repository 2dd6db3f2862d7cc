//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package localkms

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/kms"
)

func TestLoadFileFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	_, err := LoadFile(fifo)
	assert.ErrorIs(t, err, kms.ErrInvalidInput, "LoadFile(FIFO) must fail, not block")
}

// TestKeyFileModeIgnoresUmask checks that GenerateKeyFile and RotateKeyFile
// write mode 0600 exactly, even under a umask that would strip the owner's
// write bit.
func TestKeyFileModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o277)
	t.Cleanup(func() { syscall.Umask(old) })

	path := filepath.Join(t.TempDir(), "key")
	_, err := GenerateKeyFile(path)
	require.NoError(t, err, "GenerateKeyFile under umask 0277")
	assert.Equal(t, os.FileMode(0o600), fileMode(t, path), "mode after GenerateKeyFile under umask 0277")

	_, err = RotateKeyFile(path)
	require.NoError(t, err, "RotateKeyFile under umask 0277")
	assert.Equal(t, os.FileMode(0o600), fileMode(t, path), "mode after RotateKeyFile under umask 0277")
}
