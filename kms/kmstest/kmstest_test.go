package kmstest_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/kms"
	"github.com/agentvault/agentvault/kms/kmstest"
)

// refProvider is a minimal correct KeyProvider: AES-256-GCM with a random
// nonce, accepting empty plaintexts (the branch localkms does not take). The
// broken field selects a deliberate defect, for the tests that check that
// the suite catches it.
type refProvider struct {
	aead   cipher.AEAD
	broken string
	calls  atomic.Int64
}

func newRef(t *testing.T, broken string) *refProvider {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	aead, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return &refProvider{aead: aead, broken: broken}
}

func (p *refProvider) KeyID() string {
	if p.broken == "unstableKeyID" {
		return fmt.Sprintf("ref-%d", p.calls.Add(1))
	}
	return "ref"
}

func (p *refProvider) Encrypt(ctx context.Context, pt, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil && p.broken != "ignoresCtx" {
		if p.broken == "leaksPlaintext" {
			return nil, fmt.Errorf("ref: encrypt %x: %w", pt, err)
		}
		return nil, fmt.Errorf("ref: encrypt: %w", err)
	}
	if len(pt) > kms.MaxPlaintext {
		return nil, fmt.Errorf("ref: encrypt: plaintext too long: %w", kms.ErrInvalidInput)
	}
	if p.broken == "ignoresAAD" {
		aad = nil
	}
	nonce := make([]byte, p.aead.NonceSize())
	if p.broken != "deterministic" {
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
	}
	if p.broken == "unauthenticated" {
		out := append(nonce, pt...)
		for i := range pt {
			out[len(nonce)+i] ^= nonce[i%len(nonce)] ^ 0x5a
		}
		return out, nil
	}
	return p.aead.Seal(nonce, nonce, pt, aad), nil
}

func (p *refProvider) Decrypt(ctx context.Context, ct, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil && p.broken != "ignoresCtx" {
		return nil, fmt.Errorf("ref: decrypt: %w", err)
	}
	if p.broken == "panicsOnShort" {
		_ = ct[p.aead.NonceSize()+p.aead.Overhead()-1]
	}
	n := p.aead.NonceSize()
	if p.broken == "unauthenticated" {
		if len(ct) < n {
			return nil, fmt.Errorf("ref: decrypt: short: %w", kms.ErrInvalidInput)
		}
		out := bytes.Clone(ct[n:])
		for i := range out {
			out[i] ^= ct[i%n] ^ 0x5a
		}
		return out, nil
	}
	if len(ct) < n+p.aead.Overhead() {
		return nil, fmt.Errorf("ref: decrypt: short ciphertext: %w", kms.ErrInvalidInput)
	}
	if p.broken == "ignoresAAD" {
		aad = nil
	}
	pt, err := p.aead.Open(nil, ct[:n], ct[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("ref: decrypt: %w", kms.ErrDecrypt)
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

func TestRunReference(t *testing.T) {
	kmstest.Run(t, func(t *testing.T) kms.KeyProvider { return newRef(t, "") })
}

func TestRunCounting(t *testing.T) {
	kmstest.Run(t, func(t *testing.T) kms.KeyProvider { return kmstest.NewCounting(newRef(t, "")) })
}

func TestCounting(t *testing.T) {
	ctx := context.Background()
	c := kmstest.NewCounting(newRef(t, ""))
	assert.Equal(t, "ref", c.KeyID(), "KeyID()")
	assert.Zero(t, c.Encrypts(), "Encrypts() of a new Counting")
	assert.Zero(t, c.Decrypts(), "Decrypts() of a new Counting")

	ct, err := c.Encrypt(ctx, []byte("dek"), nil)
	require.NoError(t, err, "Encrypt")
	_, err = c.Decrypt(ctx, ct, nil)
	require.NoError(t, err, "Decrypt")
	_, err = c.Decrypt(ctx, ct, []byte("wrong"))
	require.ErrorIs(t, err, kms.ErrDecrypt, "Decrypt(wrong aad)")
	assert.Equal(t, int64(1), c.Encrypts(), "Encrypts() after one Encrypt")
	assert.Equal(t, int64(2), c.Decrypts(), "Decrypts() after two Decrypts, one failing")
	assert.Equal(t, "kmstest.Counting{encrypts: 1, decrypts: 2}", c.String(), "String()")

	c.Reset()
	assert.Zero(t, c.Encrypts(), "Encrypts() after Reset")
	assert.Zero(t, c.Decrypts(), "Decrypts() after Reset")
	_, isRef := c.Unwrap().(*refProvider)
	assert.True(t, isRef, "Unwrap() returns the wrapped provider")
}

// TestBrokenProvider runs the suite against a defective provider. It only
// runs in the child processes TestRunCatchesBrokenProviders starts, which
// expect it to fail.
func TestBrokenProvider(t *testing.T) {
	broken := os.Getenv("KMSTEST_BROKEN")
	if broken == "" {
		t.Skip("run by TestRunCatchesBrokenProviders")
	}
	kmstest.Run(t, func(t *testing.T) kms.KeyProvider { return newRef(t, broken) })
}

func TestRunCatchesBrokenProviders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, tc := range []struct{ broken, failing, message string }{
		{"ignoresAAD", "WrongAAD", "Decrypt(ciphertext, "},
		{"deterministic", "Randomized", "not randomized"},
		{"unauthenticated", "ByteFlips", "Decrypt(ciphertext with byte"},
		{"panicsOnShort", "Truncated", "panicked"},
		{"ignoresCtx", "CancelledContext", "Encrypt(cancelled context)"},
		{"leaksPlaintext", "NoPlaintextInErrors", "error contains the plaintext"},
		{"unstableKeyID", "KeyID", "KeyID() changed"},
	} {
		t.Run(tc.broken, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenProvider$", "-test.count=1")
			cmd.Env = append(os.Environ(), "KMSTEST_BROKEN="+tc.broken)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "suite against %s provider: err = %v, want a failing exit; output:\n%s", tc.broken, err, out)
			assert.Contains(t, string(out), "--- FAIL: TestBrokenProvider/"+tc.failing+" ", "suite against %s provider must fail subtest %s", tc.broken, tc.failing)
			assert.Contains(t, string(out), tc.message, "suite against %s provider: failure message", tc.broken)
			if t.Failed() {
				t.Logf("output:\n%s", limit(string(out), 4000))
			}
		})
	}
}

func limit(s string, n int) string {
	if len(s) > n {
		return s[:n] + "\n…"
	}
	return strings.TrimSpace(s)
}
