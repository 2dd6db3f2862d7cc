package gcpkms

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentvault/agentvault/kms"
)

// statusCodes maps gRPC status codes onto the kms sentinels. InvalidArgument
// depends on the call and is handled in classify; codes not listed
// (Canceled, Unknown, ...) are returned without a sentinel.
var statusCodes = map[codes.Code]error{
	codes.NotFound:           kms.ErrKeyNotFound,
	codes.FailedPrecondition: kms.ErrKeyDisabled, // version disabled, destroyed or pending
	codes.PermissionDenied:   kms.ErrPermission,
	codes.Unauthenticated:    kms.ErrPermission,
	codes.Unavailable:        kms.ErrUnavailable,
	codes.DeadlineExceeded:   kms.ErrUnavailable,
	codes.ResourceExhausted:  kms.ErrUnavailable, // quota, rate limit
	codes.Internal:           kms.ErrUnavailable,
	codes.Aborted:            kms.ErrUnavailable,
}

// mapError wraps err, an error from the KMS client, with the kms sentinel
// its status code gives, keeping err reachable for status.FromError and
// errors.As. When ctx is done the result also wraps ctx.Err().
func mapError(ctx context.Context, op string, err error) error {
	sentinel := classify(op, err)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	if sentinel == nil || errors.Is(err, sentinel) {
		return fmt.Errorf("gcpkms: %s: %w", op, err)
	}
	return fmt.Errorf("gcpkms: %s: %w: %w", op, sentinel, err)
}

// classify returns the kms sentinel for err from the call op, or nil.
func classify(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		// The deadline passed during the call or between the client's
		// retries: the service did not answer in time.
		return kms.ErrUnavailable
	}
	code := status.Code(err)
	if code == codes.InvalidArgument {
		// On Decrypt: a ciphertext that is not from this key, or the wrong
		// aad ("Decryption failed: verify that 'name' refers to the correct
		// CryptoKey"). On Encrypt: a request Cloud KMS refuses.
		if op == "decrypt" {
			return kms.ErrDecrypt
		}
		return kms.ErrInvalidInput
	}
	return statusCodes[code]
}
