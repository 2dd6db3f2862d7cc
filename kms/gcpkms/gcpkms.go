package gcpkms

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"regexp"
	"strings"

	gcpkmsapi "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/agentvault/agentvault/kms"
)

// ErrCorruptResponse is returned, together with kms.ErrUnavailable, when
// every attempt of a call got a response that failed its integrity checks
// (see the package documentation). The corrupted data is never returned.
var ErrCorruptResponse = errors.New("gcpkms: response corrupted in transit")

const (
	// maxAAD is the largest aad Cloud KMS accepts for software keys.
	maxAAD = 64 << 10
	// maxCiphertext bounds what Decrypt sends: Encrypt of kms.MaxPlaintext
	// bytes yields far less.
	maxCiphertext = 64 << 10
	// attempts is how many times a call is made when responses fail their
	// integrity checks.
	attempts = 3
)

// keyNameRE matches a CryptoKey resource name (not a CryptoKeyVersion).
var keyNameRE = regexp.MustCompile(`^projects/[A-Za-z0-9.:_-]+/locations/[A-Za-z0-9_-]+/keyRings/[A-Za-z0-9_-]+/cryptoKeys/[A-Za-z0-9_-]+$`)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) *wrapperspb.Int64Value {
	return wrapperspb.Int64(int64(crc32.Checksum(b, crc32c)))
}

func checksumOK(b []byte, v *wrapperspb.Int64Value) bool {
	return v != nil && v.GetValue() == int64(crc32.Checksum(b, crc32c))
}

// KMSClient is the part of the Cloud KMS client a Provider uses.
// *kms.KeyManagementClient from cloud.google.com/go/kms/apiv1 satisfies it;
// tests and wrappers (metrics, tracing) may provide their own.
type KMSClient interface {
	Encrypt(ctx context.Context, req *kmspb.EncryptRequest, opts ...gax.CallOption) (*kmspb.EncryptResponse, error)
	Decrypt(ctx context.Context, req *kmspb.DecryptRequest, opts ...gax.CallOption) (*kmspb.DecryptResponse, error)
}

var _ KMSClient = (*gcpkmsapi.KeyManagementClient)(nil)

// Provider is a kms.KeyProvider that wraps data keys with Cloud KMS.
//
// A Provider is safe for concurrent use if its client is. The zero value is
// not usable: call New or OpenURL.
type Provider struct {
	client      KMSClient
	keyName     string
	decryptKeys []string // keyName first, then the WithDecryptKeys keys
	callOpts    []gax.CallOption
	closer      io.Closer // the client OpenURL created, or nil
}

var _ kms.KeyProvider = (*Provider)(nil)

// Option configures a Provider. Options are applied in order by New and
// OpenURL.
type Option func(*options)

// options holds every optional setting, with its default.
type options struct {
	// decryptKeys are the keys Decrypt tries after the primary. Default: none.
	decryptKeys []string
	// callOpts are passed on every Encrypt and Decrypt call. Default: none,
	// the client's own defaults.
	callOpts []gax.CallOption
	// clientOpts are passed to kms.NewKeyManagementClient by OpenURL.
	// Default: none.
	clientOpts []option.ClientOption
}

// WithDecryptKeys lists CryptoKey resource names that Decrypt also accepts,
// tried in order after the primary key, for ciphertexts made before the
// primary key changed. Encrypt never uses them. Default: none, only the
// primary key decrypts.
func WithDecryptKeys(keyNames ...string) Option {
	return func(o *options) { o.decryptKeys = append(o.decryptKeys, keyNames...) }
}

// WithCallOptions passes gax call options (retry policy, timeout) on every
// Encrypt and Decrypt call, after the client's defaults. Default: none.
func WithCallOptions(opts ...gax.CallOption) Option {
	return func(o *options) { o.callOpts = append(o.callOpts, opts...) }
}

// WithClientOptions passes options to kms.NewKeyManagementClient when
// OpenURL builds its client, for example an endpoint and credentials.
// Default: none (the production endpoint, Application Default Credentials).
// New rejects it, since it builds no client.
func WithClientOptions(opts ...option.ClientOption) Option {
	return func(o *options) { o.clientOpts = append(o.clientOpts, opts...) }
}

// New returns a Provider that encrypts under keyName, a CryptoKey resource
// name ("projects/P/locations/L/keyRings/R/cryptoKeys/K", not a key
// version), through client.
//
// New makes no call to Cloud KMS: a missing key or missing permission shows
// up on the first Encrypt or Decrypt. It returns an error wrapping
// kms.ErrInvalidInput when client is nil or a key name is malformed. The
// Provider does not close client.
func New(client KMSClient, keyName string, opts ...Option) (*Provider, error) {
	if client == nil {
		return nil, fmt.Errorf("gcpkms: %w: nil client", kms.ErrInvalidInput)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.clientOpts) > 0 {
		return nil, fmt.Errorf("gcpkms: %w: WithClientOptions applies to OpenURL only", kms.ErrInvalidInput)
	}
	return newProvider(client, keyName, &o)
}

func newProvider(client KMSClient, keyName string, o *options) (*Provider, error) {
	keys, err := keyList(keyName, o)
	if err != nil {
		return nil, err
	}
	return &Provider{client: client, keyName: keyName, decryptKeys: keys, callOpts: o.callOpts}, nil
}

// keyList validates the primary and decrypt key names and returns them in
// the order Decrypt tries them.
func keyList(keyName string, o *options) ([]string, error) {
	keys := append([]string{keyName}, o.decryptKeys...)
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if !keyNameRE.MatchString(k) {
			return nil, fmt.Errorf("gcpkms: %w: key name must have the form projects/P/locations/L/keyRings/R/cryptoKeys/K", kms.ErrInvalidInput)
		}
		if seen[k] {
			return nil, fmt.Errorf("gcpkms: %w: key %q listed twice", kms.ErrInvalidInput, k)
		}
		seen[k] = true
	}
	return keys, nil
}

// KeyID returns the CryptoKey resource name Encrypt uses. It does not change
// when Cloud KMS rotates the key to a new primary version.
func (p *Provider) KeyID() string { return p.keyName }

// Close closes the client if OpenURL created it, and does nothing for a
// Provider from New (the caller owns that client). The Provider must not be
// used after Close.
func (p *Provider) Close() error {
	if p.closer == nil {
		return nil
	}
	return p.closer.Close()
}

// Encrypt wraps plaintext (1 to kms.MaxPlaintext bytes) under the primary
// version of the key, with aad (at most 64 KiB) as additional authenticated
// data. It makes one Cloud KMS Encrypt call, more only when a response fails
// its integrity checks.
func (p *Provider) Encrypt(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	switch {
	case len(plaintext) == 0:
		return nil, fmt.Errorf("gcpkms: encrypt: %w: empty plaintext", kms.ErrInvalidInput)
	case len(plaintext) > kms.MaxPlaintext:
		return nil, fmt.Errorf("gcpkms: encrypt: %w: plaintext longer than %d bytes", kms.ErrInvalidInput, kms.MaxPlaintext)
	case len(aad) > maxAAD:
		return nil, fmt.Errorf("gcpkms: encrypt: %w: aad longer than %d bytes", kms.ErrInvalidInput, maxAAD)
	}
	req := &kmspb.EncryptRequest{
		Name:                              p.keyName,
		Plaintext:                         plaintext,
		AdditionalAuthenticatedData:       aad,
		PlaintextCrc32C:                   checksum(plaintext),
		AdditionalAuthenticatedDataCrc32C: checksum(aad),
	}
	var problem string
	for range attempts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("gcpkms: encrypt: %w", err)
		}
		resp, err := p.client.Encrypt(ctx, req, p.callOpts...)
		if err != nil {
			return nil, mapError(ctx, "encrypt", err)
		}
		if problem = p.checkEncrypt(resp); problem == "" {
			return resp.GetCiphertext(), nil
		}
	}
	return nil, fmt.Errorf("gcpkms: encrypt: %w: %w: %s", ErrCorruptResponse, kms.ErrUnavailable, problem)
}

// checkEncrypt returns what is wrong with an Encrypt response, or "".
func (p *Provider) checkEncrypt(resp *kmspb.EncryptResponse) string {
	switch {
	case resp == nil:
		return "no response"
	case !resp.GetVerifiedPlaintextCrc32C():
		return "plaintext checksum not verified by the service"
	case !resp.GetVerifiedAdditionalAuthenticatedDataCrc32C():
		return "aad checksum not verified by the service"
	case len(resp.GetCiphertext()) == 0:
		return "empty ciphertext"
	case !checksumOK(resp.GetCiphertext(), resp.GetCiphertextCrc32C()):
		return "ciphertext checksum mismatch"
	case !strings.HasPrefix(resp.GetName(), p.keyName+"/cryptoKeyVersions/"):
		return "response names a key version of another key"
	}
	return ""
}

// Decrypt unwraps a ciphertext made by Encrypt under the primary key or one
// of the WithDecryptKeys keys, with the same aad. It asks Cloud KMS with the
// primary key first, then with each decrypt key in order until one opens the
// ciphertext; so a ciphertext under the primary key costs one call, and a
// tampered one costs one call per key.
//
// It stops at the first kms.ErrUnavailable or when ctx is done. When every
// key fails, the error is the first that is not kms.ErrDecrypt (a disabled or
// deleted old key says more than "not this key"), or else the primary key's
// kms.ErrDecrypt.
func (p *Provider) Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error) {
	switch {
	case len(ciphertext) == 0:
		return nil, fmt.Errorf("gcpkms: decrypt: %w: empty ciphertext", kms.ErrDecrypt)
	case len(ciphertext) > maxCiphertext:
		return nil, fmt.Errorf("gcpkms: decrypt: %w: ciphertext longer than %d bytes", kms.ErrDecrypt, maxCiphertext)
	case len(aad) > maxAAD:
		return nil, fmt.Errorf("gcpkms: decrypt: %w: aad longer than %d bytes", kms.ErrDecrypt, maxAAD)
	}
	var firstErr, decryptErr error
	for _, keyName := range p.decryptKeys {
		pt, err := p.decryptWith(ctx, keyName, ciphertext, aad)
		if err == nil {
			return pt, nil
		}
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

// decryptWith makes the Decrypt call for one key, retrying responses that
// fail their integrity check.
func (p *Provider) decryptWith(ctx context.Context, keyName string, ciphertext, aad []byte) ([]byte, error) {
	req := &kmspb.DecryptRequest{
		Name:                              keyName,
		Ciphertext:                        ciphertext,
		AdditionalAuthenticatedData:       aad,
		CiphertextCrc32C:                  checksum(ciphertext),
		AdditionalAuthenticatedDataCrc32C: checksum(aad),
	}
	var problem string
	for range attempts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("gcpkms: decrypt: %w", err)
		}
		resp, err := p.client.Decrypt(ctx, req, p.callOpts...)
		if err != nil {
			return nil, mapError(ctx, "decrypt", err)
		}
		switch {
		case resp == nil:
			problem = "no response"
		case len(resp.GetPlaintext()) == 0:
			problem = "empty plaintext"
		case !checksumOK(resp.GetPlaintext(), resp.GetPlaintextCrc32C()):
			problem = "plaintext checksum mismatch"
		default:
			return resp.GetPlaintext(), nil
		}
	}
	return nil, fmt.Errorf("gcpkms: decrypt: %w: %w: %s", ErrCorruptResponse, kms.ErrUnavailable, problem)
}
