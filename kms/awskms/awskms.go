package awskms

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	awssdkkms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/agentvault/agentvault/kms"
)

// EncryptionContextKey is the one key of the encryption context Encrypt and
// Decrypt send; its value is the standard base64 encoding of the SHA-256 hash
// of the aad. It is part of the ciphertext format and never changes.
const EncryptionContextKey = "agentvault-aad-sha256"

// maxCiphertext is the largest ciphertext blob AWS KMS Decrypt accepts.
const maxCiphertext = 6144

// maxKeyIDLen bounds key ids, ARNs and alias names (AWS allows 2048).
const maxKeyIDLen = 2048

// KMSAPI is the part of the AWS KMS client a Provider uses. *kms.Client from
// github.com/aws/aws-sdk-go-v2/service/kms satisfies it; tests and wrappers
// (metrics, tracing) may provide their own.
type KMSAPI interface {
	Encrypt(ctx context.Context, params *awssdkkms.EncryptInput, optFns ...func(*awssdkkms.Options)) (*awssdkkms.EncryptOutput, error)
	Decrypt(ctx context.Context, params *awssdkkms.DecryptInput, optFns ...func(*awssdkkms.Options)) (*awssdkkms.DecryptOutput, error)
}

var _ KMSAPI = (*awssdkkms.Client)(nil)

// Provider is a kms.KeyProvider that wraps data keys with AWS KMS.
//
// A Provider is safe for concurrent use if its client is. The zero value is
// not usable: call New or OpenURL.
type Provider struct {
	client      KMSAPI
	keyID       string
	decryptKeys []string // keyID first, then the WithDecryptKeys keys
}

var _ kms.KeyProvider = (*Provider)(nil)

// Option configures a Provider. Options are applied in order by New and
// OpenURL.
type Option func(*options)

// options holds every optional setting, with its default.
type options struct {
	// decryptKeys are the keys Decrypt tries after the primary. Default: none.
	decryptKeys []string
	// configOptions are passed to config.LoadDefaultConfig by OpenURL.
	// Default: none.
	configOptions []func(*config.LoadOptions) error
}

// WithDecryptKeys lists keys (key ids, ARNs, alias names or alias ARNs) that
// Decrypt also accepts, tried in order after the primary key, for ciphertexts
// made before the primary key changed. Encrypt never uses them. Default:
// none, only the primary key decrypts.
func WithDecryptKeys(keyIDs ...string) Option {
	return func(o *options) { o.decryptKeys = append(o.decryptKeys, keyIDs...) }
}

// New returns a Provider that encrypts under keyID (a key id, key ARN, alias
// name such as "alias/agentvault" or alias ARN) through client.
//
// New makes no call to AWS: a missing key or missing permission shows up on
// the first Encrypt or Decrypt. It returns an error wrapping
// kms.ErrInvalidInput when client is nil or a key id is empty or malformed.
func New(client KMSAPI, keyID string, opts ...Option) (*Provider, error) {
	if client == nil {
		return nil, fmt.Errorf("awskms: %w: nil client", kms.ErrInvalidInput)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.configOptions) > 0 {
		return nil, fmt.Errorf("awskms: %w: WithConfigOptions applies to OpenURL only", kms.ErrInvalidInput)
	}
	return newProvider(client, keyID, &o)
}

func newProvider(client KMSAPI, keyID string, o *options) (*Provider, error) {
	keys := append([]string{keyID}, o.decryptKeys...)
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if err := validateKeyID(k); err != nil {
			return nil, err
		}
		if seen[k] {
			return nil, fmt.Errorf("awskms: %w: key %q listed twice", kms.ErrInvalidInput, k)
		}
		seen[k] = true
	}
	return &Provider{client: client, keyID: keyID, decryptKeys: keys}, nil
}

// validateKeyID checks the shape of a key id, ARN or alias; KMS checks the
// rest.
func validateKeyID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("awskms: %w: empty key id", kms.ErrInvalidInput)
	case len(id) > maxKeyIDLen:
		return fmt.Errorf("awskms: %w: key id longer than %d bytes", kms.ErrInvalidInput, maxKeyIDLen)
	case strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f || r > 0x7e }):
		return fmt.Errorf("awskms: %w: key id contains a space, control or non-ASCII character", kms.ErrInvalidInput)
	}
	return nil
}

// KeyID returns the key id, ARN or alias Encrypt uses, exactly as given to
// New (KMS resolves aliases at each call).
func (p *Provider) KeyID() string { return p.keyID }

// Encrypt wraps plaintext (1 to kms.MaxPlaintext bytes) under the primary key,
// binding aad through the encryption context. It makes one KMS Encrypt call.
func (p *Provider) Encrypt(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if len(plaintext) == 0 {
		return nil, fmt.Errorf("awskms: encrypt: %w: empty plaintext", kms.ErrInvalidInput)
	}
	if len(plaintext) > kms.MaxPlaintext {
		return nil, fmt.Errorf("awskms: encrypt: %w: plaintext longer than %d bytes", kms.ErrInvalidInput, kms.MaxPlaintext)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("awskms: encrypt: %w", err)
	}
	out, err := p.client.Encrypt(ctx, &awssdkkms.EncryptInput{
		KeyId:               &p.keyID,
		Plaintext:           plaintext,
		EncryptionContext:   encryptionContext(aad),
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
	})
	if err != nil {
		return nil, mapError(ctx, "encrypt", err)
	}
	if out == nil || len(out.CiphertextBlob) == 0 {
		return nil, fmt.Errorf("awskms: encrypt: %w: empty ciphertext in response", kms.ErrUnavailable)
	}
	return out.CiphertextBlob, nil
}

// Decrypt unwraps a ciphertext made by Encrypt under the primary key or one
// of the WithDecryptKeys keys, with the same aad. It asks KMS with the primary
// key first, then with each decrypt key in order until one opens the
// ciphertext; so a ciphertext under the primary key costs one KMS call, and a
// tampered one costs one call per key.
//
// It stops at the first kms.ErrUnavailable or when ctx is done. When every
// key fails, the error is the first that is not kms.ErrDecrypt (a disabled or
// deleted old key says more than "not this key"), or else the primary key's
// kms.ErrDecrypt.
func (p *Provider) Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error) {
	// KMS would reject these too; rejecting them here saves a call and keeps
	// validation errors out of the integrity path.
	if len(ciphertext) == 0 {
		return nil, fmt.Errorf("awskms: decrypt: %w: empty ciphertext", kms.ErrDecrypt)
	}
	if len(ciphertext) > maxCiphertext {
		return nil, fmt.Errorf("awskms: decrypt: %w: ciphertext longer than %d bytes", kms.ErrDecrypt, maxCiphertext)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("awskms: decrypt: %w", err)
	}
	encCtx := encryptionContext(aad)
	var firstErr, decryptErr error
	for _, keyID := range p.decryptKeys {
		out, err := p.client.Decrypt(ctx, &awssdkkms.DecryptInput{
			KeyId:               &keyID,
			CiphertextBlob:      ciphertext,
			EncryptionContext:   encCtx,
			EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
		})
		if err == nil {
			if out == nil || len(out.Plaintext) == 0 {
				return nil, fmt.Errorf("awskms: decrypt: %w: empty plaintext in response", kms.ErrUnavailable)
			}
			return out.Plaintext, nil
		}
		err = mapError(ctx, "decrypt", err)
		if ctx.Err() != nil || errors.Is(err, kms.ErrUnavailable) {
			// Another key will not fare better.
			return nil, err
		}
		if errors.Is(err, kms.ErrDecrypt) {
			if decryptErr == nil {
				decryptErr = err
			}
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, decryptErr
}

// encryptionContext returns the encryption context that binds aad; see the
// package documentation.
func encryptionContext(aad []byte) map[string]string {
	sum := sha256.Sum256(aad)
	return map[string]string{EncryptionContextKey: base64.StdEncoding.EncodeToString(sum[:])}
}
