package localkms

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/kms"
	"github.com/agentvault/agentvault/kms/kmstest"
)

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func newKeyring(t testing.TB, id string) (*Keyring, []byte) {
	t.Helper()
	raw := randomKey(t)
	k, err := New(id, raw)
	require.NoError(t, err, "New(%q, 32-byte key)", id)
	return k, raw
}

func TestConformance(t *testing.T) {
	kmstest.Run(t, func(t *testing.T) kms.KeyProvider {
		k, _ := newKeyring(t, "k1")
		return k
	})
}

// TestConformanceRotated runs the suite on a keyring whose primary key is not
// the first one, with a 64-character id.
func TestConformanceRotated(t *testing.T) {
	kmstest.Run(t, func(t *testing.T) kms.KeyProvider {
		k, _ := newKeyring(t, "k1")
		id := strings.Repeat("x", MaxKeyIDLen)
		require.NoError(t, k.AddKey(id, randomKey(t)), "AddKey")
		require.NoError(t, k.SetPrimary(id), "SetPrimary")
		return k
	})
}

// The frozen test vector: it must keep decrypting, whatever changes.
const (
	vectorID         = "frozen-v1"
	vectorPlaintext  = "agentvault localkms frozen vector"
	vectorAAD        = "vault-1\x00production/db/password\x00v1"
	vectorCiphertext = "010966726f7a656e2d7631e5455ad63bec4a34a377e8a12e773e82f9d746f7efa76cc1b3f48696ac3000a5a2384f9412d27e8bf0622beba660118a229375b926a31e644da74a7635"
)

// vectorKey is 0x00, 0x01, ..., 0x1f.
func vectorKey() []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func TestFrozenVector(t *testing.T) {
	ct, err := hex.DecodeString(vectorCiphertext)
	require.NoError(t, err)
	k, err := New(vectorID, vectorKey())
	require.NoError(t, err)

	got, err := k.Decrypt(context.Background(), ct, []byte(vectorAAD))
	require.NoError(t, err, "Decrypt(frozen vector)")
	assert.Equal(t, vectorPlaintext, string(got), "Decrypt(frozen vector)")

	_, err = k.Decrypt(context.Background(), ct, []byte(vectorAAD+"x"))
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(frozen vector, other aad)")
}

// TestFrozenVectorIndependent opens the frozen vector with crypto/cipher
// alone, following the format the package doc describes, so that a change to
// both Encrypt and Decrypt cannot go unnoticed.
func TestFrozenVectorIndependent(t *testing.T) {
	ct, err := hex.DecodeString(vectorCiphertext)
	require.NoError(t, err)
	require.Equal(t, byte(0x01), ct[0], "version byte")
	n := int(ct[1])
	require.Equal(t, vectorID, string(ct[2:2+n]), "key id")
	nonce, sealed := ct[2+n:2+n+12], ct[2+n+12:]

	var ad []byte
	for _, f := range []string{"agentvault-localkms-v1", vectorID, vectorAAD} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(f)))
		ad = append(ad, f...)
	}
	block, err := aes.NewCipher(vectorKey())
	require.NoError(t, err)
	gcm, err := cipher.NewGCM(block)
	require.NoError(t, err)
	got, err := gcm.Open(nil, nonce, sealed, ad)
	require.NoError(t, err, "AES-GCM Open of the frozen vector with the documented additional data")
	assert.Equal(t, vectorPlaintext, string(got))
}

func TestCiphertextLayout(t *testing.T) {
	k, _ := newKeyring(t, "layout.key_1")
	pt := []byte("0123456789abcdef0123456789abcdef")
	ct, err := k.Encrypt(context.Background(), pt, nil)
	require.NoError(t, err, "Encrypt")
	assert.Len(t, ct, 2+len("layout.key_1")+12+len(pt)+16, "ciphertext length")
	assert.Equal(t, byte(formatVersion), ct[0], "version byte")
	assert.Equal(t, byte(len("layout.key_1")), ct[1], "id length byte")
	assert.Equal(t, "layout.key_1", string(ct[2:2+len("layout.key_1")]), "id bytes")

	id, sealed, err := parseCiphertext(ct)
	require.NoError(t, err, "parseCiphertext(fresh ciphertext)")
	assert.Equal(t, "layout.key_1", id)
	assert.Equal(t, ct, append(appendHeader(nil, id), sealed...), "header + sealed re-serializes the ciphertext")
}

// appendHeader appends the ciphertext header for id; the tests use it to
// re-serialize parsed ciphertexts.
func appendHeader(dst []byte, id string) []byte {
	return append(append(dst, formatVersion, byte(len(id))), id...)
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	aad := []byte("vault/path/v1")
	k, _ := newKeyring(t, "k1")
	ct1, err := k.Encrypt(ctx, []byte("dek under k1"), aad)
	require.NoError(t, err, "Encrypt under k1")

	require.NoError(t, k.AddKey("k2", randomKey(t)), "AddKey(k2)")
	assert.Equal(t, "k1", k.KeyID(), "KeyID() after AddKey: a new key is decrypt-only until SetPrimary")
	ct, err := k.Encrypt(ctx, []byte("still k1"), aad)
	require.NoError(t, err)
	assert.Equal(t, "k1", string(ct[2:2+ct[1]]), "Encrypt after AddKey(k2) uses k1")

	require.NoError(t, k.SetPrimary("k2"), "SetPrimary(k2)")
	assert.Equal(t, "k2", k.KeyID(), "KeyID() after SetPrimary(k2)")
	assert.Equal(t, []string{"k1", "k2"}, k.KeyIDs(), "KeyIDs()")

	ct2, err := k.Encrypt(ctx, []byte("dek under k2"), aad)
	require.NoError(t, err, "Encrypt under k2")
	assert.Equal(t, "k2", string(ct2[2:2+ct2[1]]), "Encrypt after SetPrimary(k2) names k2")

	got, err := k.Decrypt(ctx, ct1, aad)
	require.NoError(t, err, "Decrypt(ciphertext made under k1) after rotation")
	assert.Equal(t, "dek under k1", string(got))
	got, err = k.Decrypt(ctx, ct2, aad)
	require.NoError(t, err, "Decrypt(ciphertext made under k2)")
	assert.Equal(t, "dek under k2", string(got))

	// A keyring without k2 cannot open the new ciphertext: ErrKeyNotFound.
	old, err := New("k1", randomKey(t))
	require.NoError(t, err)
	_, err = old.Decrypt(ctx, ct2, aad)
	assert.ErrorIs(t, err, kms.ErrKeyNotFound, "Decrypt(ciphertext naming k2) by a keyring without k2")
	assert.Contains(t, fmt.Sprint(err), `"k2"`, "ErrKeyNotFound names the key id")

	// Same id, other key bytes: ErrDecrypt.
	_, err = old.Decrypt(ctx, ct1, aad)
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(ciphertext of k1) by a keyring whose k1 is another key")

	// Rotating back to k1 works too.
	require.NoError(t, k.SetPrimary("k1"), "SetPrimary(k1)")
	assert.Equal(t, "k1", k.KeyID())
}

// TestRelabelledCiphertext checks that the key id is authenticated: a
// ciphertext whose id is changed to another id holding the same key bytes
// does not open.
func TestRelabelledCiphertext(t *testing.T) {
	ctx := context.Background()
	raw := randomKey(t)
	k, err := New("ka", raw)
	require.NoError(t, err)
	require.NoError(t, k.AddKey("kb", raw))
	ct, err := k.Encrypt(ctx, []byte("secret dek"), nil)
	require.NoError(t, err)
	relabelled := bytes.Clone(ct)
	relabelled[3] = 'b'
	_, err = k.Decrypt(ctx, relabelled, nil)
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(ciphertext relabelled from ka to kb, same key bytes)")
}

func TestNewInvalid(t *testing.T) {
	good := randomKey(t)
	for _, tc := range []struct {
		name string
		id   string
		key  []byte
	}{
		{"empty id", "", good},
		{"id too long", strings.Repeat("a", MaxKeyIDLen+1), good},
		{"id with space", "k 1", good},
		{"id with slash", "k/1", good},
		{"id with colon", "k:1", good},
		{"id with non-ASCII", "clé", good},
		{"id with NUL", "k\x00", good},
		{"nil key", "k1", nil},
		{"16-byte key", "k1", good[:16]},
		{"31-byte key", "k1", good[:31]},
		{"33-byte key", "k1", append(bytes.Clone(good), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := New(tc.id, tc.key)
			assert.ErrorIs(t, err, kms.ErrInvalidInput, "New(%q, %d-byte key)", tc.id, len(tc.key))
			assert.Nil(t, k, "New(%q, %d-byte key) returned a keyring with an error", tc.id, len(tc.key))
			if err != nil {
				assert.True(t, strings.HasPrefix(err.Error(), "localkms: "), "error %q lacks the localkms: prefix", err)
			}
			var z Keyring
			assert.ErrorIs(t, z.AddKey(tc.id, tc.key), kms.ErrInvalidInput, "AddKey(%q, %d-byte key)", tc.id, len(tc.key))
		})
	}
	assert.NoError(t, func() error { _, err := New(strings.Repeat("a", MaxKeyIDLen), good); return err }(), "New(64-char id)")
	assert.NoError(t, func() error { _, err := New("A-z_0.9", good); return err }(), "New(id with every allowed class)")
}

func TestInvalidIDNotEchoed(t *testing.T) {
	raw := randomKey(t)
	b64 := base64.StdEncoding.EncodeToString(raw)
	_, err := New(b64, raw) // arguments "swapped" by a careless caller
	require.ErrorIs(t, err, kms.ErrInvalidInput)
	assert.NotContains(t, err.Error(), b64, "New(invalid id) error echoes the id")
}

func TestAddKeyDuplicate(t *testing.T) {
	k, _ := newKeyring(t, "k1")
	err := k.AddKey("k1", randomKey(t))
	assert.ErrorIs(t, err, kms.ErrInvalidInput, "AddKey(existing id)")
	assert.Equal(t, []string{"k1"}, k.KeyIDs(), "KeyIDs() after a refused AddKey")
}

func TestSetPrimaryUnknown(t *testing.T) {
	k, _ := newKeyring(t, "k1")
	assert.ErrorIs(t, k.SetPrimary("k2"), kms.ErrKeyNotFound, "SetPrimary(unknown id)")
	assert.ErrorIs(t, k.SetPrimary("bad id"), kms.ErrInvalidInput, "SetPrimary(invalid id)")
	assert.Equal(t, "k1", k.KeyID(), "KeyID() after failed SetPrimary")
}

func TestKeyCopiedIn(t *testing.T) {
	ctx := context.Background()
	raw := randomKey(t)
	orig := bytes.Clone(raw)
	k, err := New("k1", raw)
	require.NoError(t, err)
	ct, err := k.Encrypt(ctx, []byte("dek"), nil)
	require.NoError(t, err)
	for i := range raw {
		raw[i] = 0
	}
	got, err := k.Decrypt(ctx, ct, nil)
	require.NoError(t, err, "Decrypt after the caller zeroed its key slice")
	assert.Equal(t, "dek", string(got))

	other, err := New("k1", orig)
	require.NoError(t, err)
	_, err = other.Decrypt(ctx, ct, nil)
	assert.NoError(t, err, "a keyring from the original bytes decrypts: the key was used as given")

	ids := k.KeyIDs()
	ids[0] = "mutated"
	assert.Equal(t, []string{"k1"}, k.KeyIDs(), "KeyIDs() returns a copy")
}

func TestZeroValue(t *testing.T) {
	ctx := context.Background()
	var k Keyring
	assert.Equal(t, "", k.KeyID(), "KeyID() of the zero Keyring")
	assert.Empty(t, k.KeyIDs(), "KeyIDs() of the zero Keyring")
	assert.Equal(t, "localkms.Keyring{primary: (none), keys: []}", k.String())
	_, err := k.Encrypt(ctx, []byte("dek"), nil)
	assert.ErrorIs(t, err, kms.ErrKeyNotFound, "Encrypt on the zero Keyring")
	_, err = k.MarshalKeyFile()
	assert.ErrorIs(t, err, kms.ErrKeyNotFound, "MarshalKeyFile on the zero Keyring")

	require.NoError(t, k.AddKey("k1", randomKey(t)), "AddKey on the zero Keyring")
	_, err = k.Encrypt(ctx, []byte("dek"), nil)
	assert.ErrorIs(t, err, kms.ErrKeyNotFound, "Encrypt before SetPrimary")
	require.NoError(t, k.SetPrimary("k1"), "SetPrimary")
	ct, err := k.Encrypt(ctx, []byte("dek"), nil)
	require.NoError(t, err, "Encrypt after AddKey and SetPrimary")
	got, err := k.Decrypt(ctx, ct, nil)
	require.NoError(t, err)
	assert.Equal(t, "dek", string(got))

	var nilK *Keyring
	assert.Equal(t, "localkms.Keyring(nil)", fmt.Sprint(nilK), "fmt of a nil *Keyring")
}

func TestEncryptInvalid(t *testing.T) {
	k, _ := newKeyring(t, "k1")
	for _, n := range []int{0, kms.MaxPlaintext + 1} {
		_, err := k.Encrypt(context.Background(), make([]byte, n), nil)
		assert.ErrorIs(t, err, kms.ErrInvalidInput, "Encrypt(%d-byte plaintext)", n)
	}
	_, err := k.Encrypt(context.Background(), make([]byte, kms.MaxPlaintext), nil)
	assert.NoError(t, err, "Encrypt(kms.MaxPlaintext bytes)")
}

func TestDecryptMalformed(t *testing.T) {
	k, _ := newKeyring(t, "k1")
	good, err := k.Encrypt(context.Background(), []byte("dek"), nil)
	require.NoError(t, err)
	sealed := good[4:]
	long := append(appendHeader(nil, "k1"), make([]byte, nonceSize+kms.MaxPlaintext+tagSize+1)...)
	for _, tc := range []struct {
		name string
		ct   []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"version only", []byte{1}, "too short"},
		{"version 0", append([]byte{0, 2, 'k', '1'}, sealed...), "unknown version 0"},
		{"version 2", append([]byte{2, 2, 'k', '1'}, sealed...), "unknown version 2"},
		{"id length 0", append([]byte{1, 0}, sealed...), "key id length"},
		{"id length 65", append(append([]byte{1, 65}, strings.Repeat("k", 65)...), sealed...), "key id length"},
		{"id length past end", []byte{1, 10, 'k', '1'}, "too short"},
		{"invalid id", append([]byte{1, 2, 'k', '/'}, sealed...), "invalid key id"},
		{"header only", appendHeader(nil, "k1"), "too short"},
		{"empty plaintext", append(appendHeader(nil, "k1"), make([]byte, nonceSize+tagSize)...), "too short"},
		{"too long", long, "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := k.Decrypt(context.Background(), tc.ct, nil)
			assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(%s)", tc.name)
			assert.Nil(t, pt)
			if err != nil {
				assert.Contains(t, err.Error(), tc.want, "Decrypt(%s) error", tc.name)
			}
		})
	}
}

// keyForms are the spellings of a key that must never appear in output.
func keyForms(raw []byte) map[string]string {
	return map[string]string{
		"raw":        string(raw),
		"hex":        hex.EncodeToString(raw),
		"HEX":        strings.ToUpper(hex.EncodeToString(raw)),
		"base64":     base64.StdEncoding.EncodeToString(raw),
		"base64 raw": base64.RawStdEncoding.EncodeToString(raw),
		"base64 url": base64.RawURLEncoding.EncodeToString(raw),
		"%v":         strings.Trim(fmt.Sprint(raw), "[]"),
		"%q":         strings.Trim(fmt.Sprintf("%q", raw), `"`),
		// Half of the key, in case of a partial dump.
		"hex prefix":    hex.EncodeToString(raw[:KeySize/2]),
		"base64 prefix": base64.StdEncoding.EncodeToString(raw)[:20],
	}
}

func assertNoKey(t *testing.T, s string, raw []byte, what string) {
	t.Helper()
	for form, needle := range keyForms(raw) {
		if strings.Contains(s, needle) {
			t.Errorf("%s contains the key (%s form): %s", what, form, s)
		}
	}
}

func TestNoKeyMaterialInOutput(t *testing.T) {
	k, raw1 := newKeyring(t, "k1")
	raw2 := randomKey(t)
	require.NoError(t, k.AddKey("k2", raw2))
	require.NoError(t, k.SetPrimary("k2"))

	const want = "localkms.Keyring{primary: k2, keys: [k1 k2]}"
	assert.Equal(t, want, k.String(), "String()")
	assert.Equal(t, want, k.GoString(), "GoString()")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%100v"} {
		s := fmt.Sprintf(verb, k)
		assertNoKey(t, s, raw1, "fmt "+verb)
		assertNoKey(t, s, raw2, "fmt "+verb)
	}
	assert.Equal(t, want, fmt.Sprintf("%v", k), "%%v")
	assert.Equal(t, want, fmt.Sprintf("%#v", k), "%%#v")

	// Nested in a struct, a slice and a map.
	nested := struct {
		K  *Keyring
		KS []*Keyring
		KM map[string]*Keyring
	}{k, []*Keyring{k}, map[string]*Keyring{"x": k}}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		s := fmt.Sprintf(verb, nested)
		assertNoKey(t, s, raw1, "nested fmt "+verb)
		assertNoKey(t, s, raw2, "nested fmt "+verb)
		assert.Contains(t, s, want, "nested fmt %s uses Format", verb)
	}

	// slog, with both the text and the JSON handler.
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "keyring", k)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("loaded", "keyring", k)
	assertNoKey(t, buf.String(), raw1, "slog output")
	assertNoKey(t, buf.String(), raw2, "slog output")
	assert.Contains(t, buf.String(), "primary: k2", "slog output uses LogValue")

	// JSON has no exported fields to show.
	j, err := json.Marshal(k)
	require.NoError(t, err)
	assertNoKey(t, string(j), raw1, "json.Marshal")

	// Errors of every Keyring operation.
	ctx := context.Background()
	ct, err := k.Encrypt(ctx, raw1, []byte("aad"))
	require.NoError(t, err)
	var errs []error
	_, err = k.Decrypt(ctx, ct, []byte("other"))
	errs = append(errs, err)
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		_, err = k.Decrypt(ctx, bad, []byte("aad"))
		errs = append(errs, err)
	}
	_, err = k.Encrypt(ctx, append(bytes.Clone(raw1), make([]byte, kms.MaxPlaintext)...), nil)
	errs = append(errs, err)
	errs = append(errs, k.AddKey("k1", raw1), k.AddKey("k3", raw1[:31]), k.AddKey(string(raw1), raw2))
	for i, err := range errs {
		require.Error(t, err, "error %d", i)
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			assertNoKey(t, s, raw1, fmt.Sprintf("error %d", i))
			assertNoKey(t, s, raw2, fmt.Sprintf("error %d", i))
		}
	}
}

func TestConcurrentRotation(t *testing.T) {
	ctx := context.Background()
	k, _ := newKeyring(t, "k0")
	keys := make([][]byte, 21)
	for i := range keys {
		keys[i] = randomKey(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	wg.Go(func() {
		for i := 1; i <= 20; i++ {
			id := fmt.Sprintf("k%d", i)
			if err := k.AddKey(id, keys[i]); err != nil {
				errs <- err
				return
			}
			if err := k.SetPrimary(id); err != nil {
				errs <- err
				return
			}
		}
	})
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				aad := []byte(fmt.Sprintf("%d/%d", g, i))
				ct, err := k.Encrypt(ctx, []byte("dek"), aad)
				if err != nil {
					errs <- err
					return
				}
				if _, err := k.Decrypt(ctx, ct, aad); err != nil {
					errs <- err
					return
				}
				_ = k.String()
				_ = k.KeyIDs()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Equal(t, "k20", k.KeyID())
	assert.Len(t, k.KeyIDs(), 21)
}

func FuzzDecrypt(f *testing.F) {
	ctx := context.Background()
	k, err := New(vectorID, vectorKey())
	require.NoError(f, err)
	require.NoError(f, k.AddKey("k2", bytes.Repeat([]byte{7}, KeySize)))
	vector, err := hex.DecodeString(vectorCiphertext)
	require.NoError(f, err)

	f.Add(vector, []byte(vectorAAD))
	f.Add(vector[:len(vector)-1], []byte(vectorAAD))
	f.Add(vector, []byte(nil))
	for _, n := range []int{1, 32, 100} {
		ct, err := k.Encrypt(ctx, make([]byte, n), []byte("aad"))
		require.NoError(f, err)
		f.Add(ct, []byte("aad"))
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1, 2, 'k', '2'}, []byte{})
	f.Add([]byte{1, 64}, []byte{})

	f.Fuzz(func(t *testing.T, ct, aad []byte) {
		pt, err := k.Decrypt(ctx, ct, aad)
		if err != nil {
			if !errors.Is(err, kms.ErrDecrypt) && !errors.Is(err, kms.ErrKeyNotFound) {
				t.Fatalf("Decrypt err = %v, want ErrDecrypt or ErrKeyNotFound", err)
			}
			if pt != nil {
				t.Fatalf("Decrypt returned %d bytes with err = %v", len(pt), err)
			}
			return
		}
		// Anything that opens parses, re-serializes byte for byte, and holds
		// a plaintext Encrypt would accept.
		id, sealed, perr := parseCiphertext(ct)
		if perr != nil {
			t.Fatalf("Decrypt succeeded on a ciphertext parseCiphertext rejects: %v", perr)
		}
		if !bytes.Equal(append(appendHeader(nil, id), sealed...), ct) {
			t.Fatalf("accepted ciphertext does not re-serialize to itself")
		}
		if len(pt) == 0 || len(pt) > kms.MaxPlaintext {
			t.Fatalf("Decrypt returned %d bytes, outside 1..kms.MaxPlaintext", len(pt))
		}
	})
}

func BenchmarkEncrypt(b *testing.B) {
	ctx := context.Background()
	k, _ := newKeyring(b, "k1")
	dek := randomKey(b)
	aad := []byte("vault-0123456789abcdef/production/openai/api-key/v1")
	b.SetBytes(int64(len(dek)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Encrypt(ctx, dek, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	ctx := context.Background()
	k, _ := newKeyring(b, "k1")
	aad := []byte("vault-0123456789abcdef/production/openai/api-key/v1")
	ct, err := k.Encrypt(ctx, randomKey(b), aad)
	require.NoError(b, err)
	b.SetBytes(KeySize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Decrypt(ctx, ct, aad); err != nil {
			b.Fatal(err)
		}
	}
}
