// Package awskms is a kms.KeyProvider backed by an AWS KMS symmetric key
// (SYMMETRIC_DEFAULT, key usage ENCRYPT_DECRYPT).
//
// Call New with a KMS client you built and a key id, key ARN, alias name or
// alias ARN:
//
//	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("eu-west-2"))
//	if err != nil { ... }
//	p, err := awskms.New(awssdkkms.NewFromConfig(cfg), "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
//
// New never loads credentials: the client carries them, with its region,
// retry policy and endpoint. OpenURL, meant for command-line flags, is the one
// place the package builds a client itself, with the default credential chain
// (see OpenURL for the URL form).
//
// This package is its own Go module (github.com/agentvault/agentvault/kms/awskms),
// so that importing agentvault does not pull in the AWS SDK.
//
// # IAM permissions
//
// The principal the client runs as needs kms:Encrypt and kms:Decrypt on the
// key (and on every key given to WithDecryptKeys). No other permission is
// used. Key policies and IAM conditions may test the encryption context key
// EncryptionContextKey ("kms:EncryptionContextKeys"); its value is a hash and
// is not useful in conditions.
//
// # Encryption context and CloudTrail
//
// Encrypt binds the caller's additional authenticated data (aad) to the
// ciphertext by sending it as the KMS encryption context
//
//	{"agentvault-aad-sha256": base64(SHA-256(aad))}
//
// and Decrypt sends the same context, so that KMS refuses a ciphertext opened
// with any other aad (InvalidCiphertextException, reported as kms.ErrDecrypt).
// AWS records encryption contexts in plaintext in CloudTrail. agentvault's
// aad holds only identifiers (vault id, secret path, version), but secret
// paths can be telling, so the package sends a hash rather than the aad
// itself. The hash keeps paths out of casual reading of CloudTrail; it is not
// a secret, and someone who can read CloudTrail and guess a path can confirm
// the guess. A nil aad and an empty aad are the same aad.
//
// # Threat model
//
// AWS KMS holds the key-encryption key; this package never sees it. Every
// Decrypt names the key it expects (KeyId), so a ciphertext made under another
// key, for example one planted by someone who can write to the storage
// backend, is refused by KMS instead of being opened under a key the attacker
// chose. The package trusts the AWS endpoint the client talks to (TLS and the
// SDK's SigV4 signing protect the exchange).
//
// # Rotation
//
// AWS automatic key rotation keeps the key id, so ciphertexts made before a
// rotation keep opening and nothing needs to change. To move to a different
// KMS key, configure the new key as the primary and list the old one with
// WithDecryptKeys: Decrypt then tries the primary key first and the old keys
// after it, and agentvault's rewrap can move data keys to the new primary.
// Aliases are resolved by KMS at each call: re-pointing an alias used as the
// key id is a move to a different key, and ciphertexts made under the old
// target then need that key in WithDecryptKeys.
//
// # Errors
//
// Encrypt and Decrypt return errors that wrap one of the kms sentinels
// (kms.ErrDecrypt, kms.ErrKeyNotFound, kms.ErrKeyDisabled,
// kms.ErrPermission, kms.ErrUnavailable, kms.ErrInvalidInput) chosen by the
// table in errors.go, and also wrap the SDK's error, so that errors.As finds
// smithy.APIError, the modeled exception types of the KMS SDK package and
// smithy-go's transport errors. When ctx is done the error also wraps
// ctx.Err(); a deadline that passes during a call is reported as
// kms.ErrUnavailable too (the service did not answer in time), while a
// context already done before the call, or cancelled during it, carries no
// kms sentinel. Errors the table does not know keep only the SDK error. No
// error contains plaintext or aad.
//
// # Concurrency
//
// A Provider is safe for concurrent use by multiple goroutines if its client
// is (a *kms.Client is). Its zero value is not usable: call New or OpenURL.
//
// # Compatibility
//
// Ciphertexts are AWS KMS ciphertext blobs, unchanged: the AWS CLI or any SDK
// can decrypt them given the encryption context above. The context key and
// its encoding are frozen; changing them would make every existing ciphertext
// fail to open.
package awskms
