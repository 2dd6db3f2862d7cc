// Package kmstest is the conformance suite every kms.KeyProvider runs.
//
// An implementation's test is a few lines:
//
//	func TestConformance(t *testing.T) {
//		kmstest.Run(t, func(t *testing.T) kms.KeyProvider {
//			return newProvider(t) // a fresh provider, cleaned up with t.Cleanup
//		})
//	}
//
// Run checks the behaviours agentvault relies on, one subtest per behaviour,
// each with a fresh provider: round trips, AAD binding, tamper and truncation
// detection without panics, randomized ciphertexts, a stable key id,
// concurrent use, context cancellation, and that plaintext never appears in
// errors. The package also offers Counting, a KeyProvider wrapper that counts
// calls, for tests that assert how often agentvault reaches the KMS.
//
// # Portable contract
//
// Beyond what kms.KeyProvider documents, the suite pins down these choices so
// that every provider behaves the same under agentvault:
//
//   - Empty plaintext is either accepted (and round-trips to an empty
//     plaintext) or rejected with kms.ErrInvalidInput, the same way for nil
//     and for a zero-length slice.
//   - Plaintexts of 1 to kms.MaxPlaintext bytes round-trip. A larger
//     plaintext either round-trips or fails with kms.ErrInvalidInput.
//   - A nil aad and an empty aad are the same aad: a ciphertext made with
//     one opens with the other. (AES-GCM, AWS KMS encryption contexts and GCP
//     KMS additional authenticated data all treat "empty" as "absent".)
//   - Any other change to the aad fails with kms.ErrDecrypt.
//   - A modified, truncated or extended ciphertext fails with
//     kms.ErrDecrypt, kms.ErrInvalidInput or kms.ErrKeyNotFound (a
//     modification may land on the key id the ciphertext carries). It never
//     panics and never returns a plaintext.
//   - A context that is already cancelled or past its deadline makes Encrypt
//     and Decrypt fail with an error that wraps ctx.Err().
package kmstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/kms"
)

// canary is a recognizable plaintext prefix the suite searches for in error
// strings.
const canary = "kmstest-CANARY-plaintext-must-never-leak"

// Run runs the conformance suite against the providers newProvider returns.
// newProvider is called once per subtest and must return a fresh, working
// provider; it should register any cleanup with t.Cleanup and fail t (not
// return nil) when it cannot build one.
func Run(t *testing.T, newProvider func(t *testing.T) kms.KeyProvider) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, p kms.KeyProvider)
	}{
		{"KeyID", testKeyID},
		{"RoundTripDEK", testRoundTripDEK},
		{"RoundTripSizes", testRoundTripSizes},
		{"EmptyPlaintext", testEmptyPlaintext},
		{"OversizedPlaintext", testOversizedPlaintext},
		{"InputsNotModified", testInputsNotModified},
		{"WrongAAD", testWrongAAD},
		{"NilAndEmptyAADEqual", testNilAndEmptyAAD},
		{"Randomized", testRandomized},
		{"ByteFlips", testByteFlips},
		{"Truncated", testTruncated},
		{"Extended", testExtended},
		{"Garbage", testGarbage},
		{"Concurrent", testConcurrent},
		{"CancelledContext", testCancelledContext},
		{"ExpiredDeadline", testExpiredDeadline},
		{"NoPlaintextInErrors", testNoPlaintextInErrors},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t)
			require.NotNil(t, p, "newProvider returned nil")
			tc.fn(t, p)
		})
	}
}

// randBytes returns n random bytes.
func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err, "crypto/rand.Read")
	return b
}

// canaryPlaintext returns n bytes that start with the canary string (as far
// as it fits) followed by random bytes.
func canaryPlaintext(t *testing.T, n int) []byte {
	t.Helper()
	b := randBytes(t, n)
	copy(b, canary)
	return b
}

// aadFor returns a realistic aad: length-prefixed vault id, path and version.
func aadFor(path string) []byte {
	var b []byte
	for _, f := range []string{"vault-0123456789abcdef", path, "v1"} {
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	return b
}

// mustEncrypt encrypts and fails the test on error.
func mustEncrypt(t *testing.T, p kms.KeyProvider, pt, aad []byte) []byte {
	t.Helper()
	ct, err := p.Encrypt(context.Background(), pt, aad)
	require.NoError(t, err, "Encrypt(%d-byte plaintext, %d-byte aad)", len(pt), len(aad))
	require.NotEmpty(t, ct, "Encrypt(%d-byte plaintext) returned an empty ciphertext", len(pt))
	return ct
}

// decryptNoPanic calls Decrypt, turning a panic into a test error.
func decryptNoPanic(t *testing.T, p kms.KeyProvider, ct, aad []byte, what string) (pt []byte, err error, panicked bool) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Decrypt(%s) panicked: %v", what, r)
			pt, err, panicked = nil, nil, true
		}
	}()
	pt, err = p.Decrypt(context.Background(), ct, aad)
	return pt, err, false
}

// isRejection reports whether err is one of the errors a provider may return
// for a ciphertext it did not make.
func isRejection(err error) bool {
	return errors.Is(err, kms.ErrDecrypt) || errors.Is(err, kms.ErrInvalidInput) || errors.Is(err, kms.ErrKeyNotFound)
}

// checkRejected asserts that Decrypt of a ciphertext the provider did not make
// fails with a rejection error, without panicking or returning plaintext. It
// reports whether the check passed, so that loops can stop at the first
// failure instead of flooding the output.
func checkRejected(t *testing.T, p kms.KeyProvider, ct, aad []byte, what string) bool {
	t.Helper()
	pt, err, panicked := decryptNoPanic(t, p, ct, aad, what)
	switch {
	case panicked:
		return false
	case err == nil:
		t.Errorf("Decrypt(%s) succeeded (returned %d bytes), want ErrDecrypt, ErrInvalidInput or ErrKeyNotFound", what, len(pt))
		return false
	case !isRejection(err):
		t.Errorf("Decrypt(%s) err = %v, want ErrDecrypt, ErrInvalidInput or ErrKeyNotFound", what, err)
		return false
	case pt != nil:
		t.Errorf("Decrypt(%s) returned %d bytes of plaintext along with err = %v, want nil", what, len(pt), err)
		return false
	}
	return true
}

func testKeyID(t *testing.T, p kms.KeyProvider) {
	id := p.KeyID()
	require.NotEmpty(t, id, "KeyID() is empty")
	assert.Equal(t, id, p.KeyID(), "KeyID() changed between two calls")
	aad := aadFor("stable/key-id")
	ct := mustEncrypt(t, p, randBytes(t, 32), aad)
	_, err := p.Decrypt(context.Background(), ct, aad)
	require.NoError(t, err, "Decrypt(fresh ciphertext)")
	assert.Equal(t, id, p.KeyID(), "KeyID() changed after Encrypt and Decrypt")
}

func testRoundTripDEK(t *testing.T, p kms.KeyProvider) {
	dek := randBytes(t, 32)
	aad := aadFor("production/openai/api-key")
	ct := mustEncrypt(t, p, dek, aad)
	assert.False(t, bytes.Contains(ct, dek), "Encrypt(32-byte DEK): ciphertext contains the plaintext")
	got, err := p.Decrypt(context.Background(), ct, aad)
	require.NoError(t, err, "Decrypt(ciphertext of 32-byte DEK)")
	assert.Equal(t, dek, got, "Decrypt(Encrypt(dek)) != dek")
}

// sizes lists the plaintext sizes tested: every size up to 65, then the
// boundaries around AES blocks and powers of two, up to kms.MaxPlaintext.
func sizes() []int {
	var s []int
	for n := 1; n <= 65; n++ {
		s = append(s, n)
	}
	for _, n := range []int{127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025, 2048, 4000, kms.MaxPlaintext - 1, kms.MaxPlaintext} {
		if n > 65 && n <= kms.MaxPlaintext {
			s = append(s, n)
		}
	}
	return s
}

func testRoundTripSizes(t *testing.T, p kms.KeyProvider) {
	ctx := context.Background()
	for _, n := range sizes() {
		pt := randBytes(t, n)
		aad := aadFor(fmt.Sprintf("sizes/%d", n))
		ct, err := p.Encrypt(ctx, pt, aad)
		if !assert.NoError(t, err, "Encrypt(%d-byte plaintext)", n) {
			continue
		}
		got, err := p.Decrypt(ctx, ct, aad)
		if assert.NoError(t, err, "Decrypt(ciphertext of %d-byte plaintext)", n) {
			assert.True(t, bytes.Equal(pt, got), "Decrypt(Encrypt(%d-byte plaintext)) returned different bytes (len %d)", n, len(got))
		}
	}
}

func testEmptyPlaintext(t *testing.T, p kms.KeyProvider) {
	ctx := context.Background()
	aad := aadFor("empty/plaintext")
	ctNil, errNil := p.Encrypt(ctx, nil, aad)
	ctEmpty, errEmpty := p.Encrypt(ctx, []byte{}, aad)
	if errNil != nil || errEmpty != nil {
		// Rejecting is allowed, but then for both spellings, with ErrInvalidInput.
		assert.ErrorIs(t, errNil, kms.ErrInvalidInput, "Encrypt(nil plaintext): empty plaintext is rejected, so it must be with ErrInvalidInput")
		assert.ErrorIs(t, errEmpty, kms.ErrInvalidInput, "Encrypt([]byte{} plaintext): empty plaintext is rejected, so it must be with ErrInvalidInput")
		return
	}
	for name, ct := range map[string][]byte{"nil": ctNil, "[]byte{}": ctEmpty} {
		got, err := p.Decrypt(ctx, ct, aad)
		if assert.NoError(t, err, "Decrypt(ciphertext of %s plaintext)", name) {
			assert.Empty(t, got, "Decrypt(ciphertext of %s plaintext) returned %d bytes", name, len(got))
		}
		got, err = p.Decrypt(ctx, ct, aadFor("other"))
		assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(ciphertext of %s plaintext, wrong aad)", name)
		assert.Nil(t, got, "Decrypt(ciphertext of %s plaintext, wrong aad) returned plaintext", name)
	}
}

func testOversizedPlaintext(t *testing.T, p kms.KeyProvider) {
	ctx := context.Background()
	for _, n := range []int{kms.MaxPlaintext + 1, 4 * kms.MaxPlaintext} {
		pt := randBytes(t, n)
		aad := aadFor("oversized")
		ct, err := p.Encrypt(ctx, pt, aad)
		if err != nil {
			assert.ErrorIs(t, err, kms.ErrInvalidInput, "Encrypt(%d-byte plaintext, over kms.MaxPlaintext)", n)
			continue
		}
		got, err := p.Decrypt(ctx, ct, aad)
		if assert.NoError(t, err, "Decrypt(ciphertext of accepted %d-byte plaintext)", n) {
			assert.True(t, bytes.Equal(pt, got), "Decrypt(Encrypt(%d-byte plaintext)) returned different bytes", n)
		}
	}
}

func testInputsNotModified(t *testing.T, p kms.KeyProvider) {
	pt := randBytes(t, 32)
	aad := aadFor("inputs/not-modified")
	ptCopy, aadCopy := bytes.Clone(pt), bytes.Clone(aad)
	ct := mustEncrypt(t, p, pt, aad)
	assert.Equal(t, ptCopy, pt, "Encrypt modified its plaintext argument")
	assert.Equal(t, aadCopy, aad, "Encrypt modified its aad argument")

	ctCopy := bytes.Clone(ct)
	got, err := p.Decrypt(context.Background(), ct, aad)
	require.NoError(t, err, "Decrypt(fresh ciphertext)")
	assert.Equal(t, ctCopy, ct, "Decrypt modified its ciphertext argument")
	assert.Equal(t, aadCopy, aad, "Decrypt modified its aad argument")

	// The returned plaintext must not alias the ciphertext: scribbling over it
	// must not break a second Decrypt.
	for i := range got {
		got[i] ^= 0xff
	}
	again, err := p.Decrypt(context.Background(), ct, aad)
	require.NoError(t, err, "Decrypt(same ciphertext) after modifying the first result")
	assert.Equal(t, pt, again, "Decrypt result aliases provider state: second Decrypt differs")
}

func testWrongAAD(t *testing.T, p kms.KeyProvider) {
	ctx := context.Background()
	aad := aadFor("production/db/password")
	ct := mustEncrypt(t, p, randBytes(t, 32), aad)

	flipped := bytes.Clone(aad)
	flipped[len(flipped)-1] ^= 0x01
	wrong := map[string][]byte{
		"nil aad":              nil,
		"other path":           aadFor("production/db/passwore"),
		"last byte flipped":    flipped,
		"one byte longer":      append(bytes.Clone(aad), 0),
		"one byte shorter":     aad[:len(aad)-1],
		"first byte only":      aad[:1],
		"aad of zeros":         make([]byte, len(aad)),
		"aad doubled":          append(bytes.Clone(aad), aad...),
		"aad with leading nul": append([]byte{0}, aad...),
	}
	for name, w := range wrong {
		got, err := p.Decrypt(ctx, ct, w)
		assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(ciphertext, %s)", name)
		assert.Nil(t, got, "Decrypt(ciphertext, %s) returned plaintext", name)
	}

	// A ciphertext made without aad must not open with one.
	ctNoAAD := mustEncrypt(t, p, randBytes(t, 32), nil)
	got, err := p.Decrypt(ctx, ctNoAAD, aad)
	assert.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(ciphertext made with nil aad, non-empty aad)")
	assert.Nil(t, got, "Decrypt(ciphertext made with nil aad, non-empty aad) returned plaintext")
}

func testNilAndEmptyAAD(t *testing.T, p kms.KeyProvider) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		encAAD  []byte
		decAADs map[string][]byte
	}{
		{"nil", nil, map[string][]byte{"nil": nil, "[]byte{}": {}}},
		{"[]byte{}", []byte{}, map[string][]byte{"nil": nil, "[]byte{}": {}}},
	} {
		pt := randBytes(t, 32)
		ct := mustEncrypt(t, p, pt, tc.encAAD)
		for dname, daad := range tc.decAADs {
			got, err := p.Decrypt(ctx, ct, daad)
			if assert.NoError(t, err, "Decrypt(ciphertext made with %s aad, %s aad): nil and empty aad must be equivalent", tc.name, dname) {
				assert.Equal(t, pt, got, "Decrypt(ciphertext made with %s aad, %s aad)", tc.name, dname)
			}
		}
	}
}

func testRandomized(t *testing.T, p kms.KeyProvider) {
	ctx := context.Background()
	pt := randBytes(t, 32)
	aad := aadFor("randomized")
	seen := map[string]bool{}
	for i := range 8 {
		ct := mustEncrypt(t, p, pt, aad)
		assert.False(t, seen[string(ct)], "Encrypt(same plaintext, same aad) call %d returned a ciphertext seen before: encryption is not randomized", i+1)
		seen[string(ct)] = true
		got, err := p.Decrypt(ctx, ct, aad)
		if assert.NoError(t, err, "Decrypt(ciphertext %d of the same plaintext)", i+1) {
			assert.Equal(t, pt, got, "Decrypt(ciphertext %d of the same plaintext)", i+1)
		}
	}
}

func testByteFlips(t *testing.T, p kms.KeyProvider) {
	aad := aadFor("tamper/byte-flips")
	ct := mustEncrypt(t, p, randBytes(t, 32), aad)
	for i := range ct {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(ct)
			bad[i] ^= mask
			if !checkRejected(t, p, bad, aad, fmt.Sprintf("ciphertext with byte %d of %d xor 0x%02x", i, len(ct), mask)) {
				return
			}
		}
	}
}

func testTruncated(t *testing.T, p kms.KeyProvider) {
	aad := aadFor("tamper/truncated")
	ct := mustEncrypt(t, p, randBytes(t, 32), aad)
	for n := 0; n < len(ct); n++ {
		if !checkRejected(t, p, bytes.Clone(ct[:n]), aad, fmt.Sprintf("ciphertext truncated to %d of %d bytes", n, len(ct))) {
			break
		}
	}
	checkRejected(t, p, nil, aad, "nil ciphertext")
	// Dropping bytes from the front must fail too.
	for n := 1; n < len(ct); n++ {
		if !checkRejected(t, p, bytes.Clone(ct[n:]), aad, fmt.Sprintf("ciphertext without its first %d of %d bytes", n, len(ct))) {
			break
		}
	}
}

func testExtended(t *testing.T, p kms.KeyProvider) {
	aad := aadFor("tamper/extended")
	ct := mustEncrypt(t, p, randBytes(t, 32), aad)
	for _, extra := range [][]byte{{0}, {0xff}, make([]byte, 16), randBytes(t, 64)} {
		checkRejected(t, p, append(bytes.Clone(ct), extra...), aad, fmt.Sprintf("ciphertext with %d bytes appended", len(extra)))
	}
	checkRejected(t, p, append(bytes.Clone(ct), ct...), aad, "ciphertext repeated twice")
}

func testGarbage(t *testing.T, p kms.KeyProvider) {
	aad := aadFor("tamper/garbage")
	for _, n := range []int{1, 2, 16, 31, 32, 60, 64, 100, 256, 1024, 8192} {
		ok := checkRejected(t, p, randBytes(t, n), aad, fmt.Sprintf("%d random bytes", n))
		ok = checkRejected(t, p, make([]byte, n), aad, fmt.Sprintf("%d zero bytes", n)) && ok
		ok = checkRejected(t, p, bytes.Repeat([]byte{0xff}, n), aad, fmt.Sprintf("%d 0xff bytes", n)) && ok
		if !ok {
			return
		}
	}
}

func testConcurrent(t *testing.T, p kms.KeyProvider) {
	const goroutines, iterations = 16, 25
	ctx := context.Background()
	shared := randBytes(t, 32)
	sharedAAD := aadFor("concurrent/shared")
	sharedCT := mustEncrypt(t, p, shared, sharedAAD)

	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range iterations {
				pt := make([]byte, 32)
				if _, err := rand.Read(pt); err != nil {
					errs <- err
					return
				}
				aad := aadFor(fmt.Sprintf("concurrent/%d/%d", g, i))
				ct, err := p.Encrypt(ctx, pt, aad)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d: Encrypt #%d: %w", g, i, err)
					return
				}
				got, err := p.Decrypt(ctx, ct, aad)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d: Decrypt #%d: %w", g, i, err)
					return
				}
				if !bytes.Equal(got, pt) {
					errs <- fmt.Errorf("goroutine %d: Decrypt(Encrypt(pt)) #%d returned different bytes", g, i)
					return
				}
				got, err = p.Decrypt(ctx, sharedCT, sharedAAD)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d: Decrypt(shared ciphertext) #%d: %w", g, i, err)
					return
				}
				if !bytes.Equal(got, shared) {
					errs <- fmt.Errorf("goroutine %d: Decrypt(shared ciphertext) #%d returned different bytes", g, i)
					return
				}
				if p.KeyID() == "" {
					errs <- fmt.Errorf("goroutine %d: KeyID() empty during concurrent use", g)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// checkCtxErr runs Encrypt and Decrypt under ctx, which is already done, and
// asserts both fail with an error wrapping want.
func checkCtxErr(t *testing.T, p kms.KeyProvider, ctx context.Context, want error, what string) {
	t.Helper()
	pt := randBytes(t, 32)
	aad := aadFor("context/" + what)
	ct := mustEncrypt(t, p, pt, aad)

	got, err := p.Encrypt(ctx, pt, aad)
	assert.ErrorIs(t, err, want, "Encrypt(%s context)", what)
	assert.Nil(t, got, "Encrypt(%s context) returned a ciphertext", what)

	got, err = p.Decrypt(ctx, ct, aad)
	assert.ErrorIs(t, err, want, "Decrypt(%s context)", what)
	assert.Nil(t, got, "Decrypt(%s context) returned a plaintext", what)
}

func testCancelledContext(t *testing.T, p kms.KeyProvider) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checkCtxErr(t, p, ctx, context.Canceled, "cancelled")
}

func testExpiredDeadline(t *testing.T, p kms.KeyProvider) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	checkCtxErr(t, p, ctx, context.DeadlineExceeded, "expired")
}

// leakForms returns the spellings of b a careless error message might use.
func leakForms(b []byte) map[string]string {
	return map[string]string{
		"raw":          string(b),
		"hex":          hex.EncodeToString(b),
		"HEX":          strings.ToUpper(hex.EncodeToString(b)),
		"base64":       base64.StdEncoding.EncodeToString(b),
		"base64 (url)": base64.RawURLEncoding.EncodeToString(b),
		"%v of []byte": strings.Trim(fmt.Sprint(b), "[]"),
		"%q of []byte": strings.Trim(fmt.Sprintf("%q", b), `"`),
	}
}

// checkNoLeak asserts that no error message or rendering of err contains pt.
// It reports at most one finding per call.
func checkNoLeak(t *testing.T, err error, pt []byte, call string) {
	t.Helper()
	if err == nil {
		return
	}
	// Search for a 16-byte window, so that partial dumps are caught too.
	window := pt
	if len(window) > 16 {
		window = window[:16]
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for form, needle := range leakForms(window) {
			if needle != "" && strings.Contains(s, needle) {
				t.Errorf("%s: error contains the plaintext (%s form): %s", call, form, s)
				return
			}
		}
		if strings.Contains(s, canary) {
			t.Errorf("%s: error contains the canary plaintext: %s", call, s)
			return
		}
	}
}

func testNoPlaintextInErrors(t *testing.T, p kms.KeyProvider) {
	aad := aadFor("leak/canary")
	pt := canaryPlaintext(t, 64)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Encrypt(cancelled, pt, aad)
	checkNoLeak(t, err, pt, "Encrypt(cancelled context)")

	big := canaryPlaintext(t, 2*kms.MaxPlaintext)
	_, err = p.Encrypt(context.Background(), big, aad)
	checkNoLeak(t, err, big, "Encrypt(oversized plaintext)")

	ct := mustEncrypt(t, p, pt, aad)
	_, err = p.Decrypt(cancelled, ct, aad)
	checkNoLeak(t, err, pt, "Decrypt(cancelled context)")
	_, err = p.Decrypt(context.Background(), ct, aadFor("leak/other"))
	require.Error(t, err, "Decrypt(wrong aad)")
	checkNoLeak(t, err, pt, "Decrypt(wrong aad)")
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		_, err, _ := decryptNoPanic(t, p, bad, aad, fmt.Sprintf("ciphertext with byte %d flipped", i))
		checkNoLeak(t, err, pt, fmt.Sprintf("Decrypt(ciphertext with byte %d flipped)", i))
	}
	_, err, _ = decryptNoPanic(t, p, ct[:len(ct)-1], aad, "truncated ciphertext")
	checkNoLeak(t, err, pt, "Decrypt(truncated ciphertext)")
}
