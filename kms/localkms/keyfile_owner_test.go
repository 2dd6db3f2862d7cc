//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package localkms

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadFileRefusesForeignKey: a key file, or a symbolic link to it,
// that someone else could have planted is refused with how to fix it; the
// owner's own link is followed.
func TestLoadFileRefusesForeignKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	_, err := GenerateKeyFile(key)
	require.NoError(t, err)

	// Our own link to our own file is fine.
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(key, link))
	_, err = LoadFile(link)
	require.NoError(t, err, "LoadFile(own symlink to own key)")

	// GenerateKeyFile never writes through a link, dangling or not.
	target := filepath.Join(t.TempDir(), "target")
	dangling := filepath.Join(dir, "dangling")
	require.NoError(t, os.Symlink(target, dangling))
	_, err = GenerateKeyFile(dangling)
	require.ErrorIs(t, err, os.ErrExist, "GenerateKeyFile(dangling symlink)")
	_, err = os.Lstat(target)
	assert.True(t, os.IsNotExist(err), "GenerateKeyFile created the link's target")

	// The rotation lock is never taken through a link either.
	lockTarget := filepath.Join(t.TempDir(), "elsewhere")
	require.NoError(t, os.Symlink(lockTarget, key+".lock"))
	_, err = RotateKeyFile(key)
	require.Error(t, err, "RotateKeyFile with a symlinked .lock")
	_, err = os.Lstat(lockTarget)
	assert.True(t, os.IsNotExist(err), "RotateKeyFile created the lock link's target")

	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	// A link planted by another user, even to our own key.
	require.NoError(t, os.Lchown(link, 4242, 4242))
	_, err = LoadFile(link)
	require.ErrorIs(t, err, ErrInsecurePermissions, "LoadFile(symlink owned by uid 4242)")
	assert.Contains(t, err.Error(), "symbolic link owned by uid 4242")
	_, err = RotateKeyFile(link)
	require.ErrorIs(t, err, ErrInsecurePermissions, "RotateKeyFile(symlink owned by uid 4242)")

	// A key file owned by another user, directly or through our link.
	foreign := filepath.Join(t.TempDir(), "foreign")
	_, err = GenerateKeyFile(foreign)
	require.NoError(t, err)
	require.NoError(t, os.Chown(foreign, 4242, 4242))
	_, err = LoadFile(foreign)
	require.ErrorIs(t, err, ErrInsecurePermissions, "LoadFile(key owned by uid 4242)")
	assert.Contains(t, err.Error(), "fix it with: chown 0 "+foreign)
	ours := filepath.Join(dir, "to-foreign")
	require.NoError(t, os.Symlink(foreign, ours))
	_, err = LoadFile(ours)
	require.ErrorIs(t, err, ErrInsecurePermissions, "LoadFile(own link to a key owned by uid 4242)")
	_, err = LoadFileInsecure(foreign)
	require.NoError(t, err, "LoadFileInsecure skips the checks")
}
