// Package kms defines the key-wrapping interface agentvault encrypts data keys
// through, and the errors every implementation maps its failures onto.
//
// agentvault seals each secret version with a fresh random data key (DEK) and
// asks a KeyProvider to wrap that DEK under a key-encryption key (KEK) it
// never sees: a local AES key (package localkms), an AWS KMS key (awskms) or
// a GCP Cloud KMS key (gcpkms). Implementers run the conformance suite in
// package kmstest.
package kms

import (
	"context"
	"errors"
)

// Errors returned by KeyProviders. Implementations wrap them with %w, keeping
// the underlying provider error reachable through errors.As where there is one.
var (
	// ErrDecrypt is returned by Decrypt when the ciphertext or the additional
	// authenticated data is not what the key produced: tampering, a wrong
	// AAD, or a ciphertext from another key. agentvault reports it as an
	// integrity failure.
	ErrDecrypt = errors.New("kms: decryption failed")

	// ErrKeyNotFound is returned when the key a ciphertext names, or the key
	// the provider is configured with, does not exist.
	ErrKeyNotFound = errors.New("kms: key not found")

	// ErrKeyDisabled is returned when the key exists but may not be used
	// (disabled, pending deletion, destroyed).
	ErrKeyDisabled = errors.New("kms: key disabled")

	// ErrPermission is returned when the caller is not allowed to use the key.
	ErrPermission = errors.New("kms: permission denied")

	// ErrUnavailable is returned when the key service cannot be reached or
	// is throttling; the operation may succeed if retried later.
	ErrUnavailable = errors.New("kms: service unavailable")

	// ErrInvalidInput is returned for arguments the provider rejects before
	// contacting any service (empty plaintext, oversized input, bad key id).
	ErrInvalidInput = errors.New("kms: invalid input")
)

// KeyProvider wraps and unwraps data keys.
//
// Encrypt must bind aad to the ciphertext: Decrypt with any other aad fails
// with ErrDecrypt. Ciphertexts must identify the key that made them, so that
// after a rotation (a new primary key) Decrypt still opens ciphertexts made
// under earlier keys. Implementations must be safe for concurrent use and
// must never include plaintext, key material or aad contents that could be
// secret in errors or logs.
type KeyProvider interface {
	// KeyID names the key Encrypt uses now (the primary key). agentvault
	// records it beside each wrapped data key, to find data keys that a
	// rewrap should move to a new primary.
	KeyID() string

	// Encrypt wraps plaintext (a data key, at most 4 KiB) under the primary key.
	Encrypt(ctx context.Context, plaintext, aad []byte) ([]byte, error)

	// Decrypt unwraps a ciphertext made by Encrypt of this provider, under
	// any key it still holds.
	Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

// MaxPlaintext is the largest plaintext a KeyProvider must accept.
const MaxPlaintext = 4096
