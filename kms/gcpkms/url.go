package gcpkms

import (
	"context"
	"fmt"
	"strings"

	gcpkmsapi "cloud.google.com/go/kms/apiv1"

	"github.com/agentvault/agentvault/kms"
)

// Scheme is the URL scheme OpenURL accepts.
const Scheme = "gcpkms"

// OpenURL creates a KeyManagementClient with Application Default Credentials
// (or the client options given with WithClientOptions) and returns a
// Provider using it; the Provider's Close closes that client. It is meant for
// command-line flags such as --kms; programs that already have a client
// should call New.
//
// The URL form is
//
//	gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K
//
// that is the scheme followed by the CryptoKey resource name, for example
// gcpkms://projects/acme-prod/locations/europe-west2/keyRings/agentvault/cryptoKeys/kek.
// The form gcpkms:///projects/... (three slashes) is accepted too. The URL
// takes no query parameters. A malformed URL is an error wrapping
// kms.ErrInvalidInput.
//
// OpenURL makes no call to Cloud KMS (the gRPC connection is made lazily).
func OpenURL(ctx context.Context, rawURL string, opts ...Option) (*Provider, error) {
	keyName, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// Validate before creating a client that would then have to be closed.
	keys, err := keyList(keyName, &o)
	if err != nil {
		return nil, err
	}
	client, err := gcpkmsapi.NewKeyManagementClient(ctx, o.clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("gcpkms: creating Cloud KMS client: %w", err)
	}
	return &Provider{client: client, keyName: keyName, decryptKeys: keys, callOpts: o.callOpts, closer: client}, nil
}

// parseURL returns the key name of a gcpkms URL.
func parseURL(rawURL string) (string, error) {
	rest, ok := strings.CutPrefix(rawURL, Scheme+"://")
	if !ok {
		return "", fmt.Errorf("gcpkms: %w: URL must start with %s://", kms.ErrInvalidInput, Scheme)
	}
	if strings.ContainsAny(rest, "?#") {
		return "", fmt.Errorf("gcpkms: %w: URL takes no query or fragment", kms.ErrInvalidInput)
	}
	keyName := strings.TrimPrefix(rest, "/")
	if !keyNameRE.MatchString(keyName) {
		return "", fmt.Errorf("gcpkms: %w: URL must have the form %s://projects/P/locations/L/keyRings/R/cryptoKeys/K", kms.ErrInvalidInput, Scheme)
	}
	return keyName, nil
}
