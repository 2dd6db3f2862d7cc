package main

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tree lists every file and directory below dir, with its mode and size.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel+" "+fi.Mode().String()+" "+fi.ModTime().String())
		return nil
	}))
	sort.Strings(out)
	return out
}

func TestInitTwice(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	out := s.ok("", "init")
	assert.Contains(t, out, "initialised a new vault at "+s.home+"\n")
	assert.Contains(t, out, "store: file://"+filepath.Join(s.home, "store"))
	assert.Regexp(t, `key:   local://`+filepath.Join(s.home, "key")+` \(key id k-\d{8}-[0-9a-f]{8}\)`, out)

	fi, err := os.Stat(s.home)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "ASS_HOME mode")
	fi, err = os.Stat(filepath.Join(s.home, "key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "key file mode")
	fi, err = os.Stat(filepath.Join(s.home, "store"))
	require.NoError(t, err)
	assert.True(t, fi.IsDir())
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "store mode")

	key, err := os.ReadFile(filepath.Join(s.home, "key"))
	require.NoError(t, err)
	before := tree(t, s.home)

	again := s.ok("", "init")
	assert.Equal(t, "already initialised: vault at "+s.home+" (nothing changed)\n", again)
	key2, err := os.ReadFile(filepath.Join(s.home, "key"))
	require.NoError(t, err)
	assert.Equal(t, key, key2, "second init changed the key")
	assert.Equal(t, before, tree(t, s.home), "second init changed the files")

	j := decodeObject(t, s.ok("", "init", "--json"))
	assert.Equal(t, "already_initialised", j["status"])
	assert.Equal(t, s.home, j["home"])
	assert.Equal(t, "file://"+filepath.Join(s.home, "store"), j["backend"])
	assert.Equal(t, "local://"+filepath.Join(s.home, "key"), j["kms"])
	assert.Regexp(t, `^k-\d{8}-[0-9a-f]{8}$`, j["key_id"])

	// The vault works.
	s.ok("v", "set", "a/b")
	assert.Equal(t, "v", s.ok("", "get", "a/b"))
}

func TestInitJSON(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	j := decodeObject(t, s.ok("", "--json", "init"))
	assert.Equal(t, "created", j["status"])
	assert.Equal(t, s.home, j["home"])
}

func TestNoVault(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	want := `ass: no vault at ` + s.home + ` (run "ass init" first)` + "\n"
	for _, args := range [][]string{
		{"set", "a/b", canary},
		{"set", "a/b"},
		{"create", "a/b", canary},
		{"get", "a/b"},
		{"get", "a/b", "--json", "--version", "v1"},
		{"update", "a/b", "--description", "x"},
		{"list"},
		{"list", "--json"},
		{"versions", "a/b"},
		{"rollback", "a/b", "v1"},
		{"delete", "a/b"},
	} {
		assert.Equal(t, want, s.fails(exitError, canary+"\n", args...), "ass %q", args)
		assert.NoDirExists(t, s.home, "ass %q created ASS_HOME", args)
	}

	// A half-made home (a store, but no key) is no vault either, and stays as it was.
	require.NoError(t, os.MkdirAll(filepath.Join(s.home, "store"), 0o700))
	before := tree(t, s.home)
	assert.Equal(t, want, s.fails(exitError, "", "list"))
	assert.Equal(t, before, tree(t, s.home))
	require.NoError(t, os.RemoveAll(s.home))

	// A store or key named explicitly is reported by its path.
	dir := filepath.Join(t.TempDir(), "elsewhere")
	stderr := s.fails(exitError, "", "list", "--backend", "file://"+dir, "--kms", "env://UNUSED")
	// The key is checked first: env://UNUSED is not set.
	assert.Contains(t, stderr, "UNUSED is not set")
	s.env["K"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	stderr = s.fails(exitError, "", "list", "--backend", "file://"+dir, "--kms", "env://K")
	assert.Equal(t, `ass: no vault at `+dir+` (run "ass init" with the same --backend and --kms first)`+"\n", stderr)
	assert.NoDirExists(t, dir)
	key := filepath.Join(t.TempDir(), "key")
	stderr = s.fails(exitError, "", "list", "--backend", "mem://", "--kms", "local://"+key)
	assert.Equal(t, `ass: no key file at `+key+` (run "ass init" with the same --backend and --kms first)`+"\n", stderr)
	assert.NoFileExists(t, key)
}

func TestInitElsewhere(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	dir := filepath.Join(t.TempDir(), "deep", "store")
	key := filepath.Join(t.TempDir(), "keys", "vault.key")
	flags := []string{"--backend", "file://" + dir, "--kms", "local://" + key}

	out := s.ok("", append([]string{"init"}, flags...)...)
	assert.Contains(t, out, "initialised a new vault\n")
	assert.Contains(t, out, "store: file://"+dir)
	assert.Contains(t, out, "key:   local://"+key)
	assert.DirExists(t, dir)
	assert.FileExists(t, key)
	assert.NoDirExists(t, s.home, "init elsewhere touched ASS_HOME")

	assert.Contains(t, s.ok("", append([]string{"init"}, flags...)...), "already initialised: vault in file://"+dir)
	s.ok(canary, append([]string{"set", "a/b"}, flags...)...)
	assert.Equal(t, canary, s.ok("", append([]string{"get", "a/b"}, flags...)...))

	// The same store with a missing key file: init must not generate a
	// key that cannot open the vault, and must leave nothing behind.
	other := filepath.Join(t.TempDir(), "newdir", "other.key")
	stderr := s.fails(exitError, "", "init", "--backend", "file://"+dir, "--kms", "local://"+other)
	assert.Contains(t, stderr, "key file "+other+" is missing: restore it")
	assert.NoFileExists(t, other)
	assert.NoDirExists(t, filepath.Dir(other))
	assert.Equal(t, canary, s.ok("", append([]string{"get", "a/b"}, flags...)...))

	// A default home whose store exists but whose key is gone: same.
	s2 := newSandbox(t)
	s2.init()
	require.NoError(t, os.Remove(filepath.Join(s2.home, "key")))
	s2.fails(exitError, "", "init")
	assert.NoFileExists(t, filepath.Join(s2.home, "key"))
}

func TestInitMem(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	out := s.ok("", "init", "--backend", "mem://")
	assert.Contains(t, out, "initialised a new vault\n")
	assert.Contains(t, out, "mem:// is ephemeral")
	// The default key was made, since local:// key files are generated by init.
	assert.FileExists(t, filepath.Join(s.home, "key"))
}

// TestInitNeverSplitsVault: with the store's configuration moved away,
// commands say so (not "run ass init"), and init refuses to create a new
// vault over the records; with the key file gone, every command, init
// included, says the key is missing and creates nothing.
func TestInitNeverSplitsVault(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	for _, p := range []string{"a/one", "a/two", "a/three"} {
		s.ok(canary, "set", p)
	}
	cfg := filepath.Join(s.home, "store", "meta", "vault,v")
	require.FileExists(t, cfg)
	moved := filepath.Join(t.TempDir(), "vault.cfg")
	require.NoError(t, os.Rename(cfg, moved))
	before := tree(t, s.home)

	for _, args := range [][]string{{"get", "a/one"}, {"list"}, {"init"}, {"init", "--json"}} {
		stderr := s.fails(exitError, "", args...)
		assert.Contains(t, stderr, "records but no vault config: restore it", "ass %q", args)
		assert.NotContains(t, stderr, "run \"ass init\"", "ass %q", args)
	}
	assert.Equal(t, before, tree(t, s.home), "nothing was written")
	assert.NoFileExists(t, cfg)

	require.NoError(t, os.Rename(moved, cfg))
	assert.Equal(t, canary, s.ok("", "get", "a/one"), "restored, everything reads")

	// The key file gone.
	key := filepath.Join(s.home, "key")
	movedKey := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.Rename(key, movedKey))
	before = tree(t, s.home)
	for _, args := range [][]string{{"get", "a/one"}, {"list"}, {"init"}, {"set", "a/x", "v"}} {
		stderr := s.fails(exitError, "", args...)
		assert.Contains(t, stderr, "key file "+key+" is missing: restore it; without it nothing", "ass %q", args)
		assert.NotContains(t, stderr, "ass init", "ass %q", args)
	}
	assert.Equal(t, before, tree(t, s.home), "nothing was written, no key generated")
	require.NoError(t, os.Rename(movedKey, key))
	assert.Equal(t, canary, s.ok("", "get", "a/one"))
}
