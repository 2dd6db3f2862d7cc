// Package localkms is a kms.KeyProvider that wraps data keys with local
// AES-256-GCM keys: a Keyring holds one or more 32-byte keys, each with an id,
// one of which (the primary) encrypts. The others only decrypt, so that data
// keys wrapped before a rotation still open after it.
//
// What to call first: LoadFile to read a key file (GenerateKeyFile makes one,
// RotateKeyFile adds a new primary key to one), FromEnv to read a key from an
// environment variable, or New with key bytes you already hold.
//
//	id, err := localkms.GenerateKeyFile("/etc/agentvault/key") // once
//	kr, err := localkms.LoadFile("/etc/agentvault/key")
//	vault, err := agentvault.New(backend, kr)
//
// # Key file
//
// A key file is UTF-8 text, at most 64 KiB, one directive per line:
//
//	# agentvault local key file: keep secret, mode 0600
//	primary k-20261126-3f9a1c2e
//	key k-20261126-3f9a1c2e <standard base64 of 32 random bytes>
//	key k-old <standard base64 of 32 random bytes>
//
// Blank lines and lines starting with '#' are ignored; "\r\n" line endings
// are accepted. Each "key" line names a key id (1 to 64 characters from
// A-Z a-z 0-9 . _ -) and its 32 bytes in standard, padded base64; ids are
// unique. Exactly one "primary" line names the key Encrypt uses.
//
// A file (or environment variable) that holds only the standard base64 of one
// key, or exactly 32 raw bytes, is a keyring of that one key, whose id is
// "local-" followed by the first 8 hex digits of the key's SHA-256.
//
// LoadFile refuses a key file that group or others may read or write (on
// Unix). Errors name the line at fault and never contain key material.
//
// # Ciphertext format
//
// The format is frozen; a test vector in the tests must keep decrypting.
//
//	0x01                     version
//	n                        key id length, 1..64
//	id                       n bytes, the key id, [A-Za-z0-9._-]
//	nonce                    12 random bytes
//	sealed                   AES-256-GCM seal of the plaintext (1..kms.MaxPlaintext
//	                         bytes), with its 16-byte tag
//
// The GCM additional data is the concatenation, for each of the three fields
// "agentvault-localkms-v1", the key id and the caller's aad, of the field's
// length as a 4-byte big-endian unsigned integer followed by the field. The
// key id is therefore authenticated, and a nil aad is the same as an empty one.
// Parsing is strict: any other version, length or id is an error.
//
// # Threat model
//
// A Keyring protects data keys at rest against whoever can read the storage
// backend but not the key file or the process memory. The key file is the
// root of trust: anyone who reads it can unwrap every data key, and anyone who
// can write it can substitute keys. Keep it mode 0600 on a disk the storage
// backend does not share, or use a cloud KMS. LoadFile enforces part of
// this: on Unix it refuses a key file that group or others may access, that
// the current user does not own, or that is reached through a symbolic link
// owned by someone other than the current user or root; key files and their
// rotation lock are never created through a symbolic link. Key bytes are
// copied in and never printed: String, GoString, Format and LogValue show key
// ids only.
//
// # Errors
//
// Errors are prefixed "localkms: " and wrap the kms sentinels: Decrypt returns
// kms.ErrDecrypt for a ciphertext that is malformed, was tampered with or
// is bound to another aad, and kms.ErrKeyNotFound for one naming a key id the
// Keyring does not hold; Encrypt returns kms.ErrInvalidInput for an empty
// or oversized plaintext. Key file errors are *ParseError (which also wraps
// kms.ErrInvalidInput), ErrInsecurePermissions, or file system errors.
// Neither key material nor plaintext appears in any error.
//
// # Concurrency
//
// A Keyring is safe for concurrent use: AddKey and SetPrimary may run while
// other goroutines encrypt and decrypt. RotateKeyFile takes an advisory lock
// (path + ".lock", on Unix) so concurrent rotations of one file do not lose a
// key. Processes that loaded a key file before a rotation do not see the new
// key until they load it again.
//
// # Compatibility
//
// The ciphertext format and the key file format are stable: later versions
// keep decrypting ciphertexts and reading key files written by this one.
package localkms
