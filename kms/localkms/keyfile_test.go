package localkms

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/kms"
)

// Fixed keys for the parsing tables: 32 bytes of 0x01, 0x02, 0x03.
var (
	key1 = bytes.Repeat([]byte{1}, KeySize)
	key2 = bytes.Repeat([]byte{2}, KeySize)
	key3 = bytes.Repeat([]byte{3}, KeySize)
	b64a = base64.StdEncoding.EncodeToString(key1)
	b64b = base64.StdEncoding.EncodeToString(key2)
)

// checkKeys asserts that k holds exactly the given id → key pairs, by
// encrypting under each and decrypting with a keyring built from the bytes.
func checkKeys(t *testing.T, k *Keyring, want map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	require.Len(t, k.KeyIDs(), len(want), "KeyIDs() = %v", k.KeyIDs())
	for id, raw := range want {
		ref, err := New(id, raw)
		require.NoError(t, err)
		ct, err := ref.Encrypt(ctx, []byte("probe"), nil)
		require.NoError(t, err)
		pt, err := k.Decrypt(ctx, ct, nil)
		if assert.NoError(t, err, "Decrypt(ciphertext under %s) with the parsed keyring", id) {
			assert.Equal(t, "probe", string(pt))
		}
	}
}

func TestParseGood(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    string
		primary string
		ids     []string
		keys    map[string][]byte
	}{
		{
			name:    "generated layout",
			data:    "# agentvault local key file: keep secret, mode 0600\nprimary k-20261126\nkey k-20261126 " + b64a + "\nkey k-old " + b64b + "\n",
			primary: "k-20261126", ids: []string{"k-20261126", "k-old"},
			keys: map[string][]byte{"k-20261126": key1, "k-old": key2},
		},
		{
			name:    "primary after keys, not the first key",
			data:    "key a " + b64a + "\nkey b " + b64b + "\nprimary b",
			primary: "b", ids: []string{"a", "b"},
			keys: map[string][]byte{"a": key1, "b": key2},
		},
		{
			name:    "CRLF, blank lines, indentation, tabs, comments",
			data:    "\r\n  # comment\r\n\tprimary\tk1  \r\n\r\n   key   k1\t" + b64a + "\r\n# key k9 garbage\r\n",
			primary: "k1", ids: []string{"k1"},
			keys: map[string][]byte{"k1": key1},
		},
		{
			name:    "single key base64",
			data:    b64a,
			primary: singleKeyID(key1), ids: []string{singleKeyID(key1)},
			keys: map[string][]byte{singleKeyID(key1): key1},
		},
		{
			name:    "single key base64 with newline and CRLF",
			data:    "  " + b64a + "\r\n",
			primary: singleKeyID(key1), ids: []string{singleKeyID(key1)},
			keys: map[string][]byte{singleKeyID(key1): key1},
		},
		{
			name:    "single key raw bytes",
			data:    string(key3),
			primary: singleKeyID(key3), ids: []string{singleKeyID(key3)},
			keys: map[string][]byte{singleKeyID(key3): key3},
		},
		{
			name:    "64-character id",
			data:    "primary " + strings.Repeat("z", 64) + "\nkey " + strings.Repeat("z", 64) + " " + b64a,
			primary: strings.Repeat("z", 64), ids: []string{strings.Repeat("z", 64)},
			keys: map[string][]byte{strings.Repeat("z", 64): key1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Parse([]byte(tc.data))
			require.NoError(t, err, "Parse")
			assert.Equal(t, tc.primary, k.KeyID(), "KeyID()")
			assert.Equal(t, tc.ids, k.KeyIDs(), "KeyIDs()")
			checkKeys(t, k, tc.keys)
		})
	}
}

func TestSingleKeyID(t *testing.T) {
	// SHA-256 of 32 bytes of 0x01 starts 72cd6e84.
	assert.Equal(t, "local-72cd6e84", singleKeyID(key1))
}

func TestParseBad(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(key1[:16])
	long := base64.StdEncoding.EncodeToString(append(bytes.Clone(key1), 1))
	unpadded := base64.RawStdEncoding.EncodeToString(key1)
	urlsafe := base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, KeySize))
	for _, tc := range []struct {
		name string
		data string
		line int
		want string
	}{
		{"empty", "", 0, "empty"},
		{"blank", " \n\r\n\t", 0, "empty"},
		{"comments only", "# nothing\n# here\n", 0, `no "key" line`},
		{"missing primary", "key k1 " + b64a + "\n", 0, `no "primary" line`},
		{"primary without key", "primary k1\n", 0, `no "key" line`},
		{"primary names unknown key", "key k1 " + b64a + "\n\nprimary k2\n", 3, `primary key "k2" has no "key" line`},
		{"two primaries", "primary k1\nkey k1 " + b64a + "\nprimary k1\n", 3, `second "primary" line (the first is line 1)`},
		{"primary without id", "key k1 " + b64a + "\nprimary\n", 2, `want "primary <key id>"`},
		{"primary with extra field", "primary k1 k2\n", 1, `want "primary <key id>"`},
		{"primary invalid id", "primary k/1\n", 1, "invalid key id"},
		{"duplicate id", "primary k1\nkey k1 " + b64a + "\n# x\nkey k1 " + b64b + "\n", 4, `duplicate key id "k1" (first on line 2)`},
		{"key without id", "primary k1\nkey " + b64a + "\n", 2, `want "key <key id> <standard base64 of 32 bytes>"`},
		{"key with extra field", "primary k1\nkey k1 " + b64a + " # comment\n", 2, `want "key <key id>`},
		{"key invalid id", "primary k1\nkey k:1 " + b64a + "\n", 2, "invalid key id"},
		{"key id too long", "key " + strings.Repeat("k", 65) + " " + b64a + "\n", 1, "invalid key id"},
		{"16-byte key", "primary k1\nkey k1 " + short + "\n", 2, `key "k1" is 16 bytes, want 32`},
		{"33-byte key", "primary k1\nkey k1 " + long + "\n", 2, `key "k1" is 33 bytes, want 32`},
		{"bad base64", "primary k1\nkey k1 !!!!" + b64a[4:] + "\n", 2, `key "k1": invalid standard base64`},
		{"unpadded base64", "primary k1\nkey k1 " + unpadded + "\n", 2, `key "k1": invalid standard base64`},
		{"url-safe base64", "primary k1\nkey k1 " + urlsafe + "\n", 2, `key "k1": invalid standard base64`},
		{"unknown directive", "primary k1\nkey k1 " + b64a + "\nkeys k2 " + b64b + "\n", 3, `want a "primary" or "key" line`},
		{"bare base64 line among directives", "primary k1\nkey k1 " + b64a + "\n" + b64b + "\n", 3, `want a "primary" or "key" line`},
		{"uppercase directive", "PRIMARY k1\n", 1, `want a "primary" or "key" line`},
		{"invalid UTF-8", "primary k1\nkey k1 " + b64a + "\n# \xff\xfe\n", 3, "not valid UTF-8"},
		{"NUL in line", "primary k1\x00\n", 1, "invalid key id"},
		{"single key too short", short, 1, "single-key form: key is 16 bytes, want 32"},
		{"single key unpadded", unpadded, 1, "single-key form: invalid standard base64"},
		{"32 printable bytes", "abcdefghijklmnop qrstuvwxyz01234", 1, `want a "primary" or "key" line`},
		{"too large", strings.Repeat("#", MaxKeyFileSize+1), 0, "larger than 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Parse([]byte(tc.data))
			require.Error(t, err, "Parse")
			assert.Nil(t, k, "Parse returned a keyring with an error")
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "Parse err = %T %v, want *ParseError", err, err)
			assert.Equal(t, tc.line, pe.Line, "ParseError.Line for %v", err)
			assert.Contains(t, err.Error(), tc.want, "Parse error")
			assert.ErrorIs(t, err, kms.ErrInvalidInput, "Parse error wraps kms.ErrInvalidInput")
			assert.True(t, strings.HasPrefix(err.Error(), "localkms: key file"), "error %q prefix", err)
			if tc.line > 0 {
				assert.Contains(t, err.Error(), fmt.Sprintf(", line %d: ", tc.line), "error names the line")
			}
			for _, raw := range [][]byte{key1, key2} {
				assertNoKey(t, err.Error(), raw, "Parse error")
				assertNoKey(t, fmt.Sprintf("%#v", err), raw, "Parse error %#v")
			}
			assert.NotContains(t, err.Error(), short, "Parse error echoes key material")
			assert.NotContains(t, err.Error(), unpadded, "Parse error echoes key material")
		})
	}
}

func TestParseErrorZeroValue(t *testing.T) {
	var pe ParseError
	assert.Equal(t, "localkms: key file: invalid key file", pe.Error(), "zero ParseError.Error()")
	assert.ErrorIs(t, &pe, kms.ErrInvalidInput, "zero ParseError wraps kms.ErrInvalidInput")
}

func TestMarshalKeyFileRoundTrip(t *testing.T) {
	k, err := Parse([]byte("primary b\nkey a " + b64a + "\nkey b " + b64b + "\n"))
	require.NoError(t, err)
	data, err := k.MarshalKeyFile()
	require.NoError(t, err, "MarshalKeyFile")
	assert.Equal(t, keyFileHeader+"primary b\nkey a "+b64a+"\nkey b "+b64b+"\n", string(data))
	k2, err := Parse(data)
	require.NoError(t, err, "Parse(MarshalKeyFile())")
	assert.Equal(t, "b", k2.KeyID())
	assert.Equal(t, []string{"a", "b"}, k2.KeyIDs())
	checkKeys(t, k2, map[string][]byte{"a": key1, "b": key2})
}

func writeFile(t *testing.T, name, data string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(data), mode))
	require.NoError(t, os.Chmod(path, mode)) // whatever the umask
	return path
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Mode().Perm()
}

func skipOnWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
}

func TestLoadFilePermissions(t *testing.T) {
	skipOnWindows(t)
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o700, true},
		{0o640, false}, {0o644, false}, {0o604, false}, {0o660, false}, {0o602, false}, {0o666, false},
	} {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			path := writeFile(t, "key", b64a+"\n", tc.mode)
			k, err := LoadFile(path)
			if tc.ok {
				require.NoError(t, err, "LoadFile(mode %04o)", tc.mode)
				assert.Equal(t, singleKeyID(key1), k.KeyID())
				return
			}
			require.ErrorIs(t, err, ErrInsecurePermissions, "LoadFile(mode %04o)", tc.mode)
			assert.Nil(t, k)
			assert.Contains(t, err.Error(), path, "error names the path")
			assert.Contains(t, err.Error(), "chmod 600 "+path, "error gives the fix")
			assert.Contains(t, err.Error(), fmt.Sprintf("%04o", tc.mode), "error gives the mode")

			k, err = LoadFileInsecure(path)
			require.NoError(t, err, "LoadFileInsecure(mode %04o)", tc.mode)
			assert.Equal(t, singleKeyID(key1), k.KeyID())
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadFile(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, kms.ErrKeyNotFound, "LoadFile(missing file)")
	assert.ErrorIs(t, err, fs.ErrNotExist, "LoadFile(missing file)")

	_, err = LoadFile(dir)
	assert.ErrorIs(t, err, kms.ErrInvalidInput, "LoadFile(directory)")
	assert.Contains(t, fmt.Sprint(err), "not a regular file")

	big := writeFile(t, "big", strings.Repeat("#", MaxKeyFileSize+1), 0o600)
	_, err = LoadFile(big)
	var pe *ParseError
	assert.True(t, errors.As(err, &pe), "LoadFile(oversized file) err = %v, want *ParseError", err)

	bad := writeFile(t, "bad", "primary k1\nkey k1 "+b64a[:40]+"\n", 0o600)
	_, err = LoadFile(bad)
	require.True(t, errors.As(err, &pe), "LoadFile(bad file) err = %v, want *ParseError", err)
	assert.Equal(t, 2, pe.Line)
	assert.Equal(t, "key file "+bad, pe.Source)
	assert.True(t, strings.HasPrefix(err.Error(), "localkms: key file "+bad+", line 2: "), "error %q", err)
}

func TestLoadFileFollowsSymlink(t *testing.T) {
	path := writeFile(t, "key", "primary k1\nkey k1 "+b64a+"\n", 0o600)
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(path, link))
	k, err := LoadFile(link)
	require.NoError(t, err, "LoadFile(symlink)")
	assert.Equal(t, "k1", k.KeyID())
}

func TestFromEnv(t *testing.T) {
	const name = "LOCALKMS_TEST_KEY"
	t.Setenv(name, b64a)
	k, err := FromEnv(name)
	require.NoError(t, err, "FromEnv(base64)")
	assert.Equal(t, singleKeyID(key1), k.KeyID())

	t.Setenv(name, "primary k2\nkey k1 "+b64a+"\nkey k2 "+b64b+"\n")
	k, err = FromEnv(name)
	require.NoError(t, err, "FromEnv(key file format)")
	assert.Equal(t, "k2", k.KeyID())
	checkKeys(t, k, map[string][]byte{"k1": key1, "k2": key2})

	t.Setenv(name, "primary k1\nkey k1 "+b64a[:20]+"\n")
	_, err = FromEnv(name)
	var pe *ParseError
	require.True(t, errors.As(err, &pe), "FromEnv(bad) err = %v, want *ParseError", err)
	assert.Equal(t, 2, pe.Line)
	assert.Contains(t, err.Error(), "localkms: environment variable "+name+", line 2: ")
	assert.NotContains(t, err.Error(), b64a[:20], "FromEnv error echoes key material")

	t.Setenv(name, "  \n")
	_, err = FromEnv(name)
	assert.ErrorIs(t, err, kms.ErrKeyNotFound, "FromEnv(blank)")

	_, err = FromEnv("LOCALKMS_TEST_UNSET_VARIABLE")
	assert.ErrorIs(t, err, kms.ErrKeyNotFound, "FromEnv(unset)")
	assert.Contains(t, fmt.Sprint(err), "LOCALKMS_TEST_UNSET_VARIABLE", "FromEnv(unset) names the variable")
}

func TestGenerateKeyFile(t *testing.T) {
	skipOnWindows(t)
	path := filepath.Join(t.TempDir(), "key")
	id, err := GenerateKeyFile(path)
	require.NoError(t, err, "GenerateKeyFile")
	assert.True(t, validID(id), "GenerateKeyFile id %q is a valid id", id)
	assert.True(t, strings.HasPrefix(id, "k-"), "GenerateKeyFile id %q", id)
	assert.Equal(t, os.FileMode(0o600), fileMode(t, path), "mode of the generated file")

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), keyFileHeader), "generated file starts with the header comment")

	k, err := LoadFile(path)
	require.NoError(t, err, "LoadFile(generated file)")
	assert.Equal(t, id, k.KeyID(), "KeyID() of the generated file")
	assert.Equal(t, []string{id}, k.KeyIDs())

	// Never overwrite.
	_, err = GenerateKeyFile(path)
	assert.ErrorIs(t, err, fs.ErrExist, "GenerateKeyFile(existing file)")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, data, after, "GenerateKeyFile(existing file) changed the file")

	// Two generated files hold different keys.
	path2 := filepath.Join(t.TempDir(), "key")
	id2, err := GenerateKeyFile(path2)
	require.NoError(t, err)
	k2, err := LoadFile(path2)
	require.NoError(t, err)
	ct, err := k2.Encrypt(context.Background(), []byte("dek"), nil)
	require.NoError(t, err)
	if id2 != id {
		_, err = k.Decrypt(context.Background(), ct, nil)
		assert.ErrorIs(t, err, kms.ErrKeyNotFound)
	}

	_, err = GenerateKeyFile(filepath.Join(t.TempDir(), "no", "such", "dir", "key"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "GenerateKeyFile(missing directory)")
}

func TestRotateKeyFile(t *testing.T) {
	skipOnWindows(t)
	ctx := context.Background()
	aad := []byte("vault/path/v1")
	path := filepath.Join(t.TempDir(), "key")
	id1, err := GenerateKeyFile(path)
	require.NoError(t, err)
	k1, err := LoadFile(path)
	require.NoError(t, err)
	ct1, err := k1.Encrypt(ctx, []byte("dek under first key"), aad)
	require.NoError(t, err)

	id2, err := RotateKeyFile(path)
	require.NoError(t, err, "RotateKeyFile")
	assert.NotEqual(t, id1, id2, "RotateKeyFile returns a new id")
	assert.Equal(t, os.FileMode(0o600), fileMode(t, path), "mode after RotateKeyFile")

	k2, err := LoadFile(path)
	require.NoError(t, err, "LoadFile after RotateKeyFile")
	assert.Equal(t, id2, k2.KeyID(), "primary after RotateKeyFile")
	assert.Equal(t, []string{id1, id2}, k2.KeyIDs(), "KeyIDs() after RotateKeyFile")
	got, err := k2.Decrypt(ctx, ct1, aad)
	require.NoError(t, err, "Decrypt(ciphertext under the first key) after RotateKeyFile")
	assert.Equal(t, "dek under first key", string(got))
	ct2, err := k2.Encrypt(ctx, []byte("dek under second key"), aad)
	require.NoError(t, err)
	assert.Equal(t, id2, string(ct2[2:2+ct2[1]]), "Encrypt after rotation names the new key")

	id3, err := RotateKeyFile(path)
	require.NoError(t, err, "second RotateKeyFile")
	k3, err := LoadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []string{id1, id2, id3}, k3.KeyIDs())
	assert.Equal(t, id3, k3.KeyID())

	// No temporary files are left behind; only the lock file is added.
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"key", "key.lock"}, names, "directory after RotateKeyFile")
}

func TestRotateKeyFileSingleKeyForm(t *testing.T) {
	skipOnWindows(t)
	path := writeFile(t, "key", b64a+"\n", 0o600)
	newID, err := RotateKeyFile(path)
	require.NoError(t, err, "RotateKeyFile(single-key file)")
	k, err := LoadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []string{singleKeyID(key1), newID}, k.KeyIDs(), "the single key keeps its derived id")
	assert.Equal(t, newID, k.KeyID())
}

func TestRotateKeyFileRefuses(t *testing.T) {
	skipOnWindows(t)
	insecure := writeFile(t, "key", "primary k1\nkey k1 "+b64a+"\n", 0o644)
	_, err := RotateKeyFile(insecure)
	assert.ErrorIs(t, err, ErrInsecurePermissions, "RotateKeyFile(mode 0644)")
	data, err := os.ReadFile(insecure)
	require.NoError(t, err)
	assert.Equal(t, "primary k1\nkey k1 "+b64a+"\n", string(data), "refused rotation changed the file")

	bad := writeFile(t, "key", "primary k1\n", 0o600)
	_, err = RotateKeyFile(bad)
	var pe *ParseError
	assert.True(t, errors.As(err, &pe), "RotateKeyFile(bad file) err = %v, want *ParseError", err)

	_, err = RotateKeyFile(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "RotateKeyFile(missing file)")
	assert.ErrorIs(t, err, kms.ErrKeyNotFound, "RotateKeyFile(missing file)")
}

func TestRotateKeyFileSymlink(t *testing.T) {
	skipOnWindows(t)
	path := writeFile(t, "key", "primary k1\nkey k1 "+b64a+"\n", 0o600)
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(path, link))
	newID, err := RotateKeyFile(link)
	require.NoError(t, err, "RotateKeyFile(symlink)")
	target, err := os.Readlink(link)
	require.NoError(t, err, "the link is still a link")
	assert.Equal(t, path, target)
	k, err := LoadFile(path)
	require.NoError(t, err)
	assert.Equal(t, newID, k.KeyID(), "the link's target was rotated")
}

func TestRotateKeyFileConcurrent(t *testing.T) {
	skipOnWindows(t)
	path := filepath.Join(t.TempDir(), "key")
	first, err := GenerateKeyFile(path)
	require.NoError(t, err)
	const n = 8
	ids := make(chan string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			id, err := RotateKeyFile(path)
			if err != nil {
				errs <- err
				return
			}
			ids <- id
		})
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Error("RotateKeyFile:", err)
	}
	k, err := LoadFile(path)
	require.NoError(t, err)
	got := k.KeyIDs()
	assert.Len(t, got, n+1, "every concurrent rotation kept its key")
	assert.Equal(t, first, got[0])
	for id := range ids {
		assert.Contains(t, got, id, "key %s added by a concurrent rotation", id)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("primary k1\nkey k1 " + b64a + "\n"))
	f.Add([]byte("# c\r\nprimary b\r\nkey a " + b64a + "\r\nkey b " + b64b + "\r\n"))
	f.Add([]byte(b64a))
	f.Add(key3)
	f.Add([]byte("primary k1\nprimary k1\n"))
	f.Add([]byte("key k1 " + b64a[:10]))
	f.Add([]byte{0xff, 0xfe, '\n'})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse err = %T %v, want *ParseError", err, err)
			}
			return
		}
		// Whatever parses marshals to a file that parses to the same keyring.
		out, err := k.MarshalKeyFile()
		if err != nil {
			t.Fatalf("MarshalKeyFile of a parsed keyring: %v", err)
		}
		k2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(MarshalKeyFile()): %v", err)
		}
		if k.KeyID() != k2.KeyID() || fmt.Sprint(k.KeyIDs()) != fmt.Sprint(k2.KeyIDs()) {
			t.Fatalf("round trip changed the keyring: %v -> %v", k, k2)
		}
		out2, err := k2.MarshalKeyFile()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("MarshalKeyFile is not stable under Parse")
		}
	})
}
