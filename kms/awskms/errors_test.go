package awskms

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/kms"
)

// opErr wraps err the way the SDK returns errors from an operation.
func opErr(op string, err error) error {
	return &smithy.OperationError{ServiceID: "KMS", OperationName: op, Err: err}
}

func httpResponseError(status int, err error) error {
	return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}
}

var allSentinels = []error{kms.ErrDecrypt, kms.ErrKeyNotFound, kms.ErrKeyDisabled, kms.ErrPermission, kms.ErrUnavailable, kms.ErrInvalidInput}

func TestErrorMapping(t *testing.T) {
	connRefused := &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	for _, tc := range []struct {
		name string
		err  error // as the client returns it
		want error // sentinel, or nil for none
	}{
		{"InvalidCiphertextException", httpResponseError(400, &types.InvalidCiphertextException{}), kms.ErrDecrypt},
		{"IncorrectKeyException", httpResponseError(400, &types.IncorrectKeyException{}), kms.ErrDecrypt},
		{"NotFoundException", httpResponseError(400, &types.NotFoundException{}), kms.ErrKeyNotFound},
		{"DisabledException", httpResponseError(400, &types.DisabledException{}), kms.ErrKeyDisabled},
		{"KMSInvalidStateException", httpResponseError(400, &types.KMSInvalidStateException{}), kms.ErrKeyDisabled},
		{"AccessDeniedException", httpResponseError(400, &smithy.GenericAPIError{Code: "AccessDeniedException"}), kms.ErrPermission},
		{"UnrecognizedClientException", httpResponseError(400, &smithy.GenericAPIError{Code: "UnrecognizedClientException"}), kms.ErrPermission},
		{"ThrottlingException", httpResponseError(400, &smithy.GenericAPIError{Code: "ThrottlingException"}), kms.ErrUnavailable},
		{"KMSInternalException", httpResponseError(500, &types.KMSInternalException{}), kms.ErrUnavailable},
		{"DependencyTimeoutException", httpResponseError(503, &types.DependencyTimeoutException{}), kms.ErrUnavailable},
		{"KeyUnavailableException", httpResponseError(500, &types.KeyUnavailableException{}), kms.ErrUnavailable},
		{"InvalidKeyUsageException", httpResponseError(400, &types.InvalidKeyUsageException{}), kms.ErrInvalidInput},
		{"retries exhausted on throttling", &retry.MaxAttemptsError{Attempt: 3, Err: httpResponseError(400, &smithy.GenericAPIError{Code: "ThrottlingException"})}, kms.ErrUnavailable},
		{"connection refused", connRefused, kms.ErrUnavailable},
		{"retries exhausted on connection refused", &retry.MaxAttemptsError{Attempt: 3, Err: connRefused}, kms.ErrUnavailable},
		{"bare net.Error", &net.DNSError{Err: "no such host", Name: "kms.example", IsNotFound: true}, kms.ErrUnavailable},
		{"HTTP 503 without code", httpResponseError(503, errors.New("service unavailable")), kms.ErrUnavailable},
		{"HTTP 429 without code", httpResponseError(429, errors.New("slow down")), kms.ErrUnavailable},
		{"HTTP 403 without code", httpResponseError(403, errors.New("forbidden")), kms.ErrPermission},
		{"garbled response", &smithy.DeserializationError{Err: errors.New("unexpected EOF")}, kms.ErrUnavailable},
		{"unknown code", httpResponseError(400, &smithy.GenericAPIError{Code: "BrandNewException"}), nil},
		{"HTTP 400 without code", httpResponseError(400, errors.New("bad")), nil},
		{"cancelled mid-flight", &smithy.CanceledError{Err: context.Canceled}, nil},
		{"other", errors.New("something else"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdkErr := opErr("Decrypt", tc.err)
			err := mapError(context.Background(), "decrypt", sdkErr)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "awskms: decrypt: "), "message %q lacks the package prefix", err)
			for _, s := range allSentinels {
				if s == tc.want {
					assert.ErrorIs(t, err, s, "mapError(%s)", tc.name)
				} else {
					assert.NotErrorIs(t, err, s, "mapError(%s)", tc.name)
				}
			}
			// The SDK's error stays reachable.
			var op *smithy.OperationError
			assert.ErrorAs(t, err, &op, "errors.As(*smithy.OperationError)")
			assert.ErrorIs(t, err, tc.err, "the client's error is still in the chain")
			var api smithy.APIError
			if errors.As(tc.err, &api) {
				var got smithy.APIError
				require.ErrorAs(t, err, &got, "errors.As(smithy.APIError)")
				assert.Equal(t, api.ErrorCode(), got.ErrorCode())
			}
		})
	}
}

// TestErrorCodeTable checks every entry of the table through a generic API
// error, as the SDK builds for codes it has no type for.
func TestErrorCodeTable(t *testing.T) {
	for code, want := range errorCodes {
		err := mapError(context.Background(), "encrypt", opErr("Encrypt", &smithy.GenericAPIError{Code: code}))
		assert.ErrorIs(t, err, want, "code %s", code)
	}
}

func TestErrorMappingDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := mapError(ctx, "encrypt", opErr("Encrypt", &smithy.CanceledError{Err: context.Canceled}))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, strings.Count(err.Error(), "context canceled"), "ctx error repeated in %q", err)

	// A done context the client error does not mention is added.
	err = mapError(ctx, "encrypt", opErr("Encrypt", errors.New("boom")))
	assert.ErrorIs(t, err, context.Canceled)
}
