package kmstest

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/agentvault/agentvault/kms"
)

// Counting is a kms.KeyProvider that forwards to another provider and counts
// the Encrypt and Decrypt calls it forwards, successful or not. Vault tests use
// it to assert how often agentvault reaches the KMS, for example "no KMS call
// per warm read".
//
// A Counting is safe for concurrent use if the provider it wraps is. Its zero
// value has no provider and must not be used; call NewCounting.
type Counting struct {
	p        kms.KeyProvider
	encrypts atomic.Int64
	decrypts atomic.Int64
}

var _ kms.KeyProvider = (*Counting)(nil)

// NewCounting returns a Counting that forwards to p, with both counters at
// zero.
func NewCounting(p kms.KeyProvider) *Counting {
	return &Counting{p: p}
}

// KeyID returns the wrapped provider's KeyID. It is not counted.
func (c *Counting) KeyID() string { return c.p.KeyID() }

// Encrypt counts the call and forwards it to the wrapped provider.
func (c *Counting) Encrypt(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	c.encrypts.Add(1)
	return c.p.Encrypt(ctx, plaintext, aad)
}

// Decrypt counts the call and forwards it to the wrapped provider.
func (c *Counting) Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error) {
	c.decrypts.Add(1)
	return c.p.Decrypt(ctx, ciphertext, aad)
}

// Encrypts returns the number of Encrypt calls since NewCounting or the last
// Reset.
func (c *Counting) Encrypts() int64 { return c.encrypts.Load() }

// Decrypts returns the number of Decrypt calls since NewCounting or the last
// Reset.
func (c *Counting) Decrypts() int64 { return c.decrypts.Load() }

// Reset sets both counters to zero. Calls running concurrently with Reset may
// be counted before or after it.
func (c *Counting) Reset() {
	c.encrypts.Store(0)
	c.decrypts.Store(0)
}

// Unwrap returns the wrapped provider, so that tests can reach optional
// interfaces it implements.
func (c *Counting) Unwrap() kms.KeyProvider { return c.p }

// String describes the counters, for failure messages.
func (c *Counting) String() string {
	return fmt.Sprintf("kmstest.Counting{encrypts: %d, decrypts: %d}", c.Encrypts(), c.Decrypts())
}
