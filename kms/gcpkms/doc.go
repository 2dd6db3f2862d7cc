// Package gcpkms is a kms.KeyProvider backed by a Google Cloud KMS symmetric
// encryption key (purpose ENCRYPT_DECRYPT).
//
// Call New with a KeyManagementClient you built and the key's resource name:
//
//	client, err := kms.NewKeyManagementClient(ctx) // cloud.google.com/go/kms/apiv1
//	if err != nil { ... }
//	defer client.Close()
//	p, err := gcpkms.New(client, "projects/my-project/locations/europe-west2/keyRings/agentvault/cryptoKeys/kek")
//
// New never loads credentials: the client carries them. OpenURL, meant for
// command-line flags, is the one place the package builds a client itself,
// with Application Default Credentials (see OpenURL for the URL form).
//
// This package is its own Go module (github.com/agentvault/agentvault/kms/gcpkms),
// so that importing agentvault does not pull in the Google Cloud client
// libraries.
//
// # IAM permissions
//
// The principal the client runs as needs roles/cloudkms.cryptoKeyEncrypterDecrypter
// on the key (or on its key ring), that is the permissions
// cloudkms.cryptoKeyVersions.useToEncrypt and
// cloudkms.cryptoKeyVersions.useToDecrypt; the same on every key given to
// WithDecryptKeys. No other permission is used. Without them Cloud KMS
// answers PERMISSION_DENIED, also for a key that does not exist, so a
// misspelt key name usually shows up as kms.ErrPermission rather than
// kms.ErrKeyNotFound.
//
// # Integrity checks
//
// Every request carries CRC32C (Castagnoli) checksums of its data, which
// Cloud KMS verifies: plaintext and additional authenticated data (aad) on
// Encrypt, ciphertext and aad on Decrypt. Every response is checked as Google
// documents: an Encrypt response must report both checksums verified
// (verified_plaintext_crc32c, verified_additional_authenticated_data_crc32c),
// carry a ciphertext_crc32c that matches the ciphertext, and name a version
// of the requested key; a Decrypt response must carry a plaintext_crc32c that
// matches the plaintext. A response that fails a check is discarded, never
// returned, and the call is retried, up to three attempts in all; after that
// the error wraps ErrCorruptResponse and kms.ErrUnavailable.
//
// # Threat model
//
// Cloud KMS holds the key-encryption key; this package never sees it. aad is
// passed as additional_authenticated_data, bound to the ciphertext by the
// service and never stored or logged by it. Decrypt always names the key it
// expects, so a ciphertext made under another key is refused (a ciphertext
// names its key version, and the version must belong to the named key). The
// checksums above protect against corruption in transit and in memory, not
// against an attacker; TLS and the client's credentials do that.
//
// # Rotation
//
// Cloud KMS key rotation adds a new primary version to the same key:
// ciphertexts name their version, keep opening while it is enabled, and
// nothing needs to change here. To move to a different key, configure the
// new key as the primary and list the old one with WithDecryptKeys: Decrypt
// tries the primary key first and the old keys after it, and agentvault's
// rewrap can move data keys to the new primary.
//
// # Errors
//
// Encrypt and Decrypt return errors that wrap one of the kms sentinels,
// chosen from the gRPC status code by the table in errors.go, and also wrap
// the client's error, so that status.FromError, status.Code and
// errors.As(err, **apierror.APIError) keep working. When ctx is done the
// error also wraps ctx.Err(); a deadline that passes during a call is
// reported as kms.ErrUnavailable too (the service did not answer in time),
// while a context already done before the call, or cancelled during it,
// carries no kms sentinel. Codes the table does not know keep only the
// client's error. No error contains plaintext or aad.
//
// The generated client retries UNAVAILABLE and DEADLINE_EXCEEDED by itself
// for up to 60 seconds; bound calls with a context deadline, or pass
// gax.WithTimeout or gax.WithRetry through WithCallOptions.
//
// # Concurrency
//
// A Provider is safe for concurrent use by multiple goroutines if its client
// is (a *kms.KeyManagementClient is). Its zero value is not usable: call New
// or OpenURL.
//
// # Compatibility
//
// Ciphertexts are Cloud KMS ciphertexts, unchanged; gcloud kms decrypt opens
// them given the same additional authenticated data.
package gcpkms
