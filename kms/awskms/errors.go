package awskms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/agentvault/agentvault/kms"
)

// errorCodes maps AWS error codes (smithy.APIError.ErrorCode) onto the kms
// sentinels. Codes not listed are returned without a sentinel. The modeled
// KMS exceptions come first, then the codes every AWS JSON service can send.
var errorCodes = map[string]error{
	// The ciphertext, its encryption context or the key named on Decrypt
	// does not match.
	"InvalidCiphertextException": kms.ErrDecrypt,
	"IncorrectKeyException":      kms.ErrDecrypt,

	"NotFoundException": kms.ErrKeyNotFound,

	"DisabledException":        kms.ErrKeyDisabled,
	"KMSInvalidStateException": kms.ErrKeyDisabled, // pending deletion, pending import, unavailable key store

	"AccessDeniedException":               kms.ErrPermission,
	"InvalidGrantTokenException":          kms.ErrPermission,
	"UnrecognizedClientException":         kms.ErrPermission,
	"InvalidClientTokenId":                kms.ErrPermission,
	"InvalidSignatureException":           kms.ErrPermission,
	"IncompleteSignature":                 kms.ErrPermission,
	"MissingAuthenticationToken":          kms.ErrPermission,
	"ExpiredTokenException":               kms.ErrPermission,
	"NotAuthorized":                       kms.ErrPermission,
	"AccessDenied":                        kms.ErrPermission,
	"SignatureDoesNotMatch":               kms.ErrPermission,
	"RequestExpired":                      kms.ErrPermission,
	"AuthFailure":                         kms.ErrPermission,
	"OptInRequired":                       kms.ErrPermission,
	"MissingAuthenticationTokenException": kms.ErrPermission,

	"ThrottlingException":                 kms.ErrUnavailable,
	"Throttling":                          kms.ErrUnavailable,
	"TooManyRequestsException":            kms.ErrUnavailable,
	"RequestLimitExceeded":                kms.ErrUnavailable,
	"LimitExceededException":              kms.ErrUnavailable, // request quota
	"KMSInternalException":                kms.ErrUnavailable,
	"DependencyTimeoutException":          kms.ErrUnavailable,
	"KeyUnavailableException":             kms.ErrUnavailable,
	"CustomKeyStoreInvalidStateException": kms.ErrUnavailable,
	"InternalFailure":                     kms.ErrUnavailable,
	"InternalError":                       kms.ErrUnavailable,
	"InternalServerError":                 kms.ErrUnavailable,
	"ServiceUnavailable":                  kms.ErrUnavailable,
	"ServiceUnavailableException":         kms.ErrUnavailable,
	"RequestTimeout":                      kms.ErrUnavailable,
	"RequestTimeoutException":             kms.ErrUnavailable,

	// The key is not a symmetric encryption key, or the request is malformed.
	"InvalidKeyUsageException":      kms.ErrInvalidInput,
	"InvalidArnException":           kms.ErrInvalidInput,
	"ValidationException":           kms.ErrInvalidInput,
	"SerializationException":        kms.ErrInvalidInput,
	"UnsupportedOperationException": kms.ErrInvalidInput,
}

// mapError wraps err, an error from the KMS client, with the kms sentinel
// the table above or its transport gives, keeping err reachable through
// errors.As. When ctx is done the result also wraps ctx.Err().
func mapError(ctx context.Context, op string, err error) error {
	sentinel := classify(err)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	if sentinel == nil || errors.Is(err, sentinel) {
		return fmt.Errorf("awskms: %s: %w", op, err)
	}
	return fmt.Errorf("awskms: %s: %w: %w", op, sentinel, err)
}

// classify returns the kms sentinel for err, or nil.
func classify(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if s, ok := errorCodes[apiErr.ErrorCode()]; ok {
			return s
		}
	}
	// An HTTP response without a known error code.
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		switch code := respErr.HTTPStatusCode(); {
		case code == http.StatusTooManyRequests || code >= 500:
			return kms.ErrUnavailable
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			return kms.ErrPermission
		}
	}
	// Cancelled by the caller mid-flight: not the service's fault.
	var canceled *smithy.CanceledError
	if errors.As(err, &canceled) {
		return nil
	}
	// No response: connection refused or reset, DNS, TLS, timeouts, or a
	// response that could not be read.
	var sendErr *smithyhttp.RequestSendError
	var netErr net.Error
	var deserErr *smithy.DeserializationError
	switch {
	case errors.As(err, &sendErr), errors.As(err, &netErr), errors.As(err, &deserErr),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, context.DeadlineExceeded):
		return kms.ErrUnavailable
	}
	return nil
}
