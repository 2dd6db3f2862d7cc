package localkms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"

	"github.com/agentvault/agentvault/kms"
)

const (
	// KeySize is the size in bytes of every key in a Keyring (AES-256).
	KeySize = 32

	// MaxKeyIDLen is the longest key id, in bytes.
	MaxKeyIDLen = 64
)

// Ciphertext format constants. They are frozen: see the package doc.
const (
	formatVersion = 0x01
	aadLabel      = "agentvault-localkms-v1"
	nonceSize     = 12
	tagSize       = 16
	headerMin     = 2 // version byte and id length byte
)

// Keyring is a set of AES-256-GCM keys, each named by an id, one of which is
// the primary key that Encrypt uses. Decrypt uses whichever key the
// ciphertext names, so that ciphertexts made under earlier primary keys keep
// opening after a rotation. Keys are never removed.
//
// A Keyring is safe for concurrent use by multiple goroutines. The zero value
// is an empty keyring: Encrypt fails with kms.ErrKeyNotFound until a key is
// added with AddKey and made primary with SetPrimary. A Keyring must not be
// copied after first use.
type Keyring struct {
	mu      sync.RWMutex
	primary string               // "" when there is no primary key yet
	order   []string             // ids in the order they were added
	keys    map[string]*keyEntry // by id
}

// keyEntry is one entry of a Keyring. It is only ever reached through a pointer,
// so printing a Keyring by reflection shows an address, never the bytes.
type keyEntry struct {
	raw  []byte      // a private copy, read only by MarshalKeyFile
	aead cipher.AEAD // AES-256-GCM with random 12-byte nonces prepended
}

var _ kms.KeyProvider = (*Keyring)(nil)

// New returns a Keyring holding one key, which is primary. key must be
// KeySize bytes and is copied; id must be 1 to 64 characters from
// A-Z a-z 0-9 . _ -. Errors wrap kms.ErrInvalidInput.
func New(id string, key []byte) (*Keyring, error) {
	k := &Keyring{}
	if err := k.AddKey(id, key); err != nil {
		return nil, err
	}
	k.primary = id
	return k, nil
}

// AddKey adds a key that Decrypt can use, without making it primary (see
// SetPrimary). key must be KeySize bytes and is copied; id must be valid and
// not already in the Keyring. Errors wrap kms.ErrInvalidInput.
func (k *Keyring) AddKey(id string, key []byte) error {
	if !validID(id) {
		return errInvalidID("add key")
	}
	if len(key) != KeySize {
		return fmt.Errorf("localkms: add key %q: key is %d bytes, want %d: %w", id, len(key), KeySize, kms.ErrInvalidInput)
	}
	e, err := newKey(key)
	if err != nil {
		return fmt.Errorf("localkms: add key %q: %w", id, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, dup := k.keys[id]; dup {
		return fmt.Errorf("localkms: add key %q: id already in use: %w", id, kms.ErrInvalidInput)
	}
	if k.keys == nil {
		k.keys = make(map[string]*keyEntry)
	}
	k.keys[id] = e
	k.order = append(k.order, id)
	return nil
}

func newKey(raw []byte) (*keyEntry, error) {
	raw = append([]byte(nil), raw...)
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	return &keyEntry{raw: raw, aead: aead}, nil
}

// has reports whether the Keyring holds a key named id.
func (k *Keyring) has(id string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	_, ok := k.keys[id]
	return ok
}

// SetPrimary makes the key named id the one Encrypt uses. The previous
// primary key stays in the Keyring and keeps decrypting. It returns an error
// wrapping kms.ErrKeyNotFound if the Keyring has no key named id.
func (k *Keyring) SetPrimary(id string) error {
	if !validID(id) {
		return errInvalidID("set primary")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.keys[id]; !ok {
		return fmt.Errorf("localkms: set primary %q: %w", id, kms.ErrKeyNotFound)
	}
	k.primary = id
	return nil
}

// KeyID returns the id of the primary key, or "" if there is none (only for
// a zero Keyring without SetPrimary).
func (k *Keyring) KeyID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primary
}

// KeyIDs returns the ids of all keys, in the order they were added. The
// slice is a copy.
func (k *Keyring) KeyIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return append([]string(nil), k.order...)
}

// Encrypt seals plaintext (1 to kms.MaxPlaintext bytes) under the primary key,
// bound to aad, in the format the package doc describes. It fails with an
// error wrapping ctx.Err() if ctx is already done, kms.ErrInvalidInput for an
// empty or oversized plaintext, and kms.ErrKeyNotFound if there is no
// primary key.
func (k *Keyring) Encrypt(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localkms: encrypt: %w", err)
	}
	if len(plaintext) == 0 {
		return nil, fmt.Errorf("localkms: encrypt: empty plaintext: %w", kms.ErrInvalidInput)
	}
	if len(plaintext) > kms.MaxPlaintext {
		return nil, fmt.Errorf("localkms: encrypt: plaintext is %d bytes, max %d: %w", len(plaintext), kms.MaxPlaintext, kms.ErrInvalidInput)
	}
	if uint64(len(aad)) > math.MaxUint32 {
		return nil, fmt.Errorf("localkms: encrypt: aad too long: %w", kms.ErrInvalidInput)
	}
	k.mu.RLock()
	id, e := k.primary, k.keys[k.primary]
	k.mu.RUnlock()
	if e == nil {
		return nil, fmt.Errorf("localkms: encrypt: no primary key: %w", kms.ErrKeyNotFound)
	}
	out := make([]byte, 0, headerMin+len(id)+nonceSize+len(plaintext)+tagSize)
	out = append(out, formatVersion, byte(len(id)))
	out = append(out, id...)
	return e.aead.Seal(out, nil, plaintext, additionalData(id, aad)), nil
}

// Decrypt opens a ciphertext made by Encrypt of a Keyring holding the same
// key, under the key the ciphertext names, and checks that it is bound to
// aad. It fails with an error wrapping ctx.Err() if ctx is already done,
// kms.ErrKeyNotFound if the Keyring has no key of that id, and kms.ErrDecrypt
// for anything else: a malformed, truncated or modified ciphertext, or
// another aad. The returned plaintext is a new slice.
func (k *Keyring) Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localkms: decrypt: %w", err)
	}
	id, sealed, err := parseCiphertext(ciphertext)
	if err != nil {
		return nil, fmt.Errorf("localkms: decrypt: malformed ciphertext: %s: %w", err, kms.ErrDecrypt)
	}
	if uint64(len(aad)) > math.MaxUint32 {
		return nil, fmt.Errorf("localkms: decrypt: aad too long: %w", kms.ErrDecrypt)
	}
	k.mu.RLock()
	e := k.keys[id]
	k.mu.RUnlock()
	if e == nil {
		// id passed validID in parseCiphertext, so it is safe to print.
		return nil, fmt.Errorf("localkms: decrypt: ciphertext names key %q: %w", id, kms.ErrKeyNotFound)
	}
	plaintext, err := e.aead.Open(nil, nil, sealed, additionalData(id, aad))
	if err != nil {
		return nil, fmt.Errorf("localkms: decrypt: key %q: message authentication failed: %w", id, kms.ErrDecrypt)
	}
	return plaintext, nil
}

// parseCiphertext splits a ciphertext into the key id and the sealed part
// (nonce, ciphertext, tag), checking every length. Its errors are reasons
// without key material, for Decrypt to wrap.
func parseCiphertext(ct []byte) (id string, sealed []byte, err error) {
	if len(ct) < headerMin {
		return "", nil, errReason("too short")
	}
	if ct[0] != formatVersion {
		return "", nil, errReason(fmt.Sprintf("unknown version %d", ct[0]))
	}
	n := int(ct[1])
	if n < 1 || n > MaxKeyIDLen {
		return "", nil, errReason("key id length out of range")
	}
	if len(ct) < headerMin+n {
		return "", nil, errReason("too short")
	}
	id = string(ct[headerMin : headerMin+n])
	if !validID(id) {
		return "", nil, errReason("invalid key id")
	}
	sealed = ct[headerMin+n:]
	switch {
	case len(sealed) < nonceSize+1+tagSize:
		return "", nil, errReason("too short")
	case len(sealed) > nonceSize+kms.MaxPlaintext+tagSize:
		return "", nil, errReason("too long")
	}
	return id, sealed, nil
}

// appendField appends b to dst, preceded by its length as a 4-byte
// big-endian unsigned integer. Callers bound len(b) to math.MaxUint32.
func appendField(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// additionalData is the GCM additional data for a key id and a caller's aad:
// the length-prefixed label, key id and aad.
func additionalData(id string, aad []byte) []byte {
	b := make([]byte, 0, 3*4+len(aadLabel)+len(id)+len(aad))
	b = appendField(b, []byte(aadLabel))
	b = appendField(b, []byte(id))
	return appendField(b, aad)
}

// validID reports whether id is 1 to MaxKeyIDLen characters from
// A-Z a-z 0-9 . _ -.
func validID(id string) bool {
	if len(id) == 0 || len(id) > MaxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// errInvalidID does not echo the id: a caller that swapped arguments could
// have passed key material.
func errInvalidID(op string) error {
	return fmt.Errorf("localkms: %s: invalid key id: want 1 to %d characters from A-Z a-z 0-9 . _ -: %w", op, MaxKeyIDLen, kms.ErrInvalidInput)
}

type errReason string

func (e errReason) Error() string { return string(e) }

// String describes the Keyring by its key ids, for example
// "localkms.Keyring{primary: k2, keys: [k1 k2]}". It never shows key bytes.
func (k *Keyring) String() string {
	if k == nil {
		return "localkms.Keyring(nil)"
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	primary := k.primary
	if primary == "" {
		primary = "(none)"
	}
	return "localkms.Keyring{primary: " + primary + ", keys: [" + strings.Join(k.order, " ") + "]}"
}

// GoString returns the same as String, so that %#v shows no key bytes.
func (k *Keyring) GoString() string { return k.String() }

// Format writes String for every verb and flag, so that no fmt verb (%v, %+v,
// %#v, %s, %x, ...) shows key bytes.
func (k *Keyring) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue implements slog.LogValuer with String, so that logging a Keyring
// shows key ids only.
func (k *Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }
