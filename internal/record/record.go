// Package record is agentvault's frozen storage format: the binary encoding
// of a secret (its metadata and every version's envelope) and of a vault's
// configuration, and the additional authenticated data (AAD) that binds
// ciphertexts to where they belong.
//
// The encoding is strict: a magic string and a format version byte, then
// fixed-width integers and length-prefixed fields, each bounded. Parse
// rejects unknown format versions, out-of-range lengths, unsorted or
// duplicate entries and trailing bytes, so every accepted input has exactly
// one encoding and Parse(b).Marshal() == b. Nothing here encrypts or
// authenticates: package agentvault seals values, wraps data keys and MACs
// the encoded body; this package only moves bytes.
//
// Changing the layout of format version 1 breaks existing vaults: add a new
// version instead, and keep the frozen test vectors decoding.
//
// # Format versions
//
// Version 1 is the original layout. Version 2 is version 1 followed by the
// lifecycle fields (grace period, rotation schedule), five fixed-width
// integers after the last version envelope. MarshalBody writes version 2
// only when one of those fields is set, and version 1 otherwise, so a vault
// that uses no lifecycle feature keeps writing records that older readers
// accept; ParseSecret accepts both, and rejects a version 2 record whose
// lifecycle fields are all zero (its one encoding is version 1).
//
// Version 3 is version 2 (its lifecycle fields always present, zero or not)
// followed by one byte per version envelope, in envelope order: the
// version's tier floor (Version.Tier), the tier in force when it was
// written, kept when the secret's tier is later lowered. MarshalBody writes
// version 3 only when some version has a non-zero floor, and ParseSecret
// rejects a version 3 record whose floors are all zero (its one encoding is
// version 1 or 2), so every record still has exactly one encoding. (This
// is the single-record layout's third version.)
//
// Version 4 is a different layout: a small head record plus one version
// record per non-active version (see head.go). Version 4 heads carry the
// lifecycle fields and the version tier floors always.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Format limits. They bound what Parse accepts; the limits agentvault
// enforces on input (64 KiB values, 64 tags, …) are tighter.
const (
	MaxPathLen        = 512
	MaxTypeLen        = 64
	MaxDescriptionLen = 4096
	MaxTags           = 256
	MaxTagKeyLen      = 255
	MaxTagValueLen    = 4096
	MaxActorLen       = 1024
	MaxKeyIDLen       = 2048
	MaxWrappedDEKLen  = 8192
	MaxCiphertextLen  = 64 << 20
	MaxVersions       = 1 << 20
	NonceLen          = 12
	MACLen            = 32
	VaultIDLen        = 16
)

// ErrFormat is returned (wrapped) by every parse failure.
var ErrFormat = errors.New("record: malformed record")

const (
	secretMagic = "AVSR"
	configMagic = "AVVC"
	formatV1    = 1
	formatV2    = 2
	formatV3    = 3
)

// v2Len is the size of the version 2 lifecycle fields.
const v2Len = 8 + 4 + 8 + 8 + 8

// Version is one immutable secret version: its sealed value and wrapped data key.
type Version struct {
	Number     uint32
	CreatedAt  int64 // Unix nanoseconds
	CreatedBy  string
	KeyID      string // the KeyProvider key id that wrapped the DEK
	WrappedDEK []byte
	Nonce      [NonceLen]byte
	Ciphertext []byte // AES-256-GCM output, tag included

	// Tier is the version's tier floor, stored from format version 3 on:
	// reading the version needs at least this tier as well as the secret's
	// current one. 0: no floor beyond the secret's tier.
	Tier uint8
}

// Tag is one key-value tag. Tags are stored sorted by Key, keys unique.
type Tag struct {
	Key, Value string
}

// Secret is a secret's stored record: metadata and all versions.
type Secret struct {
	Path        string
	Type        string
	Tier        uint8
	Description string
	Tags        []Tag
	CreatedBy   string
	CreatedAt   int64 // Unix nanoseconds
	UpdatedAt   int64
	ExpiresAt   int64 // 0: never
	Active      uint32
	MaxVersion  uint32
	Versions    []Version // ascending by Number

	// Lifecycle fields, stored from format version 2 on (all zero in a
	// version 1 record).
	Previous      uint32 // the version active before the last activation; 0: none
	GraceUntil    int64  // Unix nanoseconds until which Previous stays readable as "previous"; 0: no grace
	RotateEvery   int64  // rotation schedule in nanoseconds; 0: none
	RotationGrace int64  // grace period in nanoseconds given to scheduled rotations
	NextRotation  int64  // Unix nanoseconds when the next scheduled rotation is due; 0: none

	// SecretID names this incarnation of the path (random, set when the
	// secret is created or its record first rewritten as format version
	// 4); zero in records of format versions 1 to 3. See head.go.
	SecretID [SecretIDLen]byte

	cow cowState // copy-on-write bookkeeping of a format version 4 head (cow.go)
}

// HasV2 reports whether s sets a field that only format version 2 stores.
func (s *Secret) HasV2() bool {
	return s.Previous != 0 || s.GraceUntil != 0 || s.RotateEvery != 0 || s.RotationGrace != 0 || s.NextRotation != 0
}

// HasV3 reports whether s sets a field that only format version 3 stores:
// a version's tier floor.
func (s *Secret) HasV3() bool {
	for i := range s.Versions {
		if s.Versions[i].Tier != 0 {
			return true
		}
	}
	return false
}

// Find returns the version numbered n, or nil.
func (s *Secret) Find(n uint32) *Version {
	if h := s.cow.held; h != nil && h.Number == n {
		return h
	}
	lo, hi := 0, len(s.Versions)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch v := s.Versions[m].Number; {
		case v == n:
			return &s.Versions[m]
		case v < n:
			lo = m + 1
		default:
			hi = m
		}
	}
	return nil
}

// MarshalBody encodes s without the trailing MAC. The caller appends the
// MACLen-byte MAC it computes over these bytes.
func (s *Secret) MarshalBody() []byte {
	if s.IsV4() {
		return s.marshalV4()
	}
	n := 5 + 2 + len(s.Path) + 1 + len(s.Type) + 1 + 2 + len(s.Description) + 2 +
		2 + len(s.CreatedBy) + 8*3 + 4*3
	for _, t := range s.Tags {
		n += 1 + len(t.Key) + 2 + len(t.Value)
	}
	for i := range s.Versions {
		v := &s.Versions[i]
		n += 4 + 8 + 2 + len(v.CreatedBy) + 2 + len(v.KeyID) + 2 + len(v.WrappedDEK) + NonceLen + 4 + len(v.Ciphertext)
	}
	format := byte(formatV1)
	switch {
	case s.HasV3():
		format, n = formatV3, n+v2Len+len(s.Versions)
	case s.HasV2():
		format, n = formatV2, n+v2Len
	}
	b := make([]byte, 0, n+MACLen)
	b = appendMeta(b, s, format)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Versions)))
	for i := range s.Versions {
		v := &s.Versions[i]
		b = binary.BigEndian.AppendUint32(b, v.Number)
		b = binary.BigEndian.AppendUint64(b, uint64(v.CreatedAt))
		b = put16(b, v.CreatedBy)
		b = put16(b, v.KeyID)
		b = put16(b, string(v.WrappedDEK))
		b = append(b, v.Nonce[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v.Ciphertext)))
		b = append(b, v.Ciphertext...)
	}
	if format >= formatV2 {
		b = binary.BigEndian.AppendUint64(b, uint64(s.GraceUntil))
		b = binary.BigEndian.AppendUint32(b, s.Previous)
		b = binary.BigEndian.AppendUint64(b, uint64(s.RotateEvery))
		b = binary.BigEndian.AppendUint64(b, uint64(s.RotationGrace))
		b = binary.BigEndian.AppendUint64(b, uint64(s.NextRotation))
	}
	if format == formatV3 {
		for i := range s.Versions {
			b = append(b, s.Versions[i].Tier)
		}
	}
	return b
}

// ParseSecret decodes a stored secret record, returning the record, the body
// the MAC covers, and the MAC. It checks structure only; the caller verifies
// the MAC and that Path is the path it asked for.
func ParseSecret(b []byte) (s *Secret, body []byte, mac []byte, err error) {
	if len(b) < 5+MACLen {
		return nil, nil, nil, fmt.Errorf("%w: %d bytes is too short", ErrFormat, len(b))
	}
	body, mac = b[:len(b)-MACLen], b[len(b)-MACLen:]
	r := reader{b: body}
	if string(r.bytes(4)) != secretMagic {
		return nil, nil, nil, fmt.Errorf("%w: not a secret record", ErrFormat)
	}
	format := r.u8()
	if format != formatV1 && format != formatV2 && format != formatV3 && format != formatV4 && r.err == nil {
		return nil, nil, nil, fmt.Errorf("%w: unknown format version %d", ErrFormat, format)
	}
	if format == formatV4 {
		s = parseV4(&r)
		return finish(&r, s, body, mac)
	}
	s = &Secret{}
	s.Path = r.str16("path", MaxPathLen)
	s.Type = r.str8("type", MaxTypeLen)
	s.Tier = r.u8()
	s.Description = r.str16("description", MaxDescriptionLen)
	s.Tags = r.tags()
	s.CreatedBy = r.str16("created_by", MaxActorLen)
	s.CreatedAt = int64(r.u64())
	s.UpdatedAt = int64(r.u64())
	s.ExpiresAt = int64(r.u64())
	s.Active = r.u32()
	s.MaxVersion = r.u32()
	nv := r.u32()
	if nv == 0 || nv > MaxVersions || uint64(nv)*(4+8+2+2+2+NonceLen+4) > uint64(r.remaining()) {
		r.fail("bad version count %d", nv)
	}
	if r.err == nil {
		s.Versions = make([]Version, nv)
		for i := range s.Versions {
			v := &s.Versions[i]
			v.Number = r.u32()
			v.CreatedAt = int64(r.u64())
			v.CreatedBy = r.str16("version created_by", MaxActorLen)
			v.KeyID = r.str16("key id", MaxKeyIDLen)
			v.WrappedDEK = r.bytes16("wrapped key", MaxWrappedDEKLen)
			copy(v.Nonce[:], r.bytes(NonceLen))
			v.Ciphertext = r.bytes32("ciphertext", MaxCiphertextLen)
			if r.err != nil {
				break
			}
			if v.Number == 0 || v.Number > s.MaxVersion || (i > 0 && v.Number <= s.Versions[i-1].Number) {
				r.fail("version numbers out of order")
			}
			if len(v.WrappedDEK) == 0 || len(v.Ciphertext) < 16 {
				r.fail("empty wrapped key or ciphertext")
			}
		}
	}
	if r.err == nil && format >= formatV2 {
		s.GraceUntil = int64(r.u64())
		s.Previous = r.u32()
		s.RotateEvery = int64(r.u64())
		s.RotationGrace = int64(r.u64())
		s.NextRotation = int64(r.u64())
		if r.err == nil && format == formatV2 && !s.HasV2() {
			r.fail("format version 2 without lifecycle fields (must be version 1)")
		}
	}
	if r.err == nil && format == formatV3 {
		tiers := r.bytes(len(s.Versions))
		for i := range tiers {
			s.Versions[i].Tier = tiers[i]
		}
		if r.err == nil && !s.HasV3() {
			r.fail("format version 3 without version tiers (must be version 1 or 2)")
		}
	}
	return finish(&r, s, body, mac)
}

// finish applies the checks common to every format version.
func finish(r *reader, s *Secret, body, mac []byte) (*Secret, []byte, []byte, error) {
	if r.err == nil && r.remaining() != 0 {
		r.fail("%d trailing bytes", r.remaining())
	}
	if r.err == nil && s.Find(s.Active) == nil {
		r.fail("active version %d is not stored", s.Active)
	}
	if r.err == nil && (s.Path == "" || s.Type == "") {
		r.fail("empty path or type")
	}
	if r.err != nil {
		return nil, nil, nil, r.err
	}
	return s, body, mac, nil
}

func (r *reader) tags() []Tag {
	nt := int(r.u16())
	if nt > MaxTags {
		r.fail("%d tags, more than %d", nt, MaxTags)
	}
	if r.err != nil || nt == 0 {
		return nil
	}
	tags := make([]Tag, 0, nt)
	for i := 0; i < nt && r.err == nil; i++ {
		t := Tag{Key: r.str8("tag key", MaxTagKeyLen), Value: r.str16("tag value", MaxTagValueLen)}
		if r.err == nil && (t.Key == "" || (i > 0 && t.Key <= tags[i-1].Key)) {
			r.fail("tag keys empty, unsorted or duplicated")
		}
		tags = append(tags, t)
	}
	return tags
}

// Config is a vault's configuration record: its identity and its MAC key,
// wrapped by the KeyProvider.
type Config struct {
	VaultID       [VaultIDLen]byte
	CreatedAt     int64
	KeyID         string
	WrappedMACKey []byte
}

// Marshal encodes c.
func (c *Config) Marshal() []byte {
	b := make([]byte, 0, 5+VaultIDLen+8+4+len(c.KeyID)+len(c.WrappedMACKey))
	b = append(b, configMagic...)
	b = append(b, formatV1)
	b = append(b, c.VaultID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.CreatedAt))
	b = put16(b, c.KeyID)
	b = put16(b, string(c.WrappedMACKey))
	return b
}

// ParseConfig decodes a configuration record.
func ParseConfig(b []byte) (*Config, error) {
	r := reader{b: b}
	if string(r.bytes(4)) != configMagic {
		return nil, fmt.Errorf("%w: not a vault configuration record", ErrFormat)
	}
	if f := r.u8(); f != formatV1 && r.err == nil {
		return nil, fmt.Errorf("%w: unknown configuration format version %d", ErrFormat, f)
	}
	c := &Config{}
	copy(c.VaultID[:], r.bytes(VaultIDLen))
	c.CreatedAt = int64(r.u64())
	c.KeyID = r.str16("key id", MaxKeyIDLen)
	c.WrappedMACKey = r.bytes16("wrapped mac key", MaxWrappedDEKLen)
	if r.err == nil && r.remaining() != 0 {
		r.fail("%d trailing bytes", r.remaining())
	}
	if r.err == nil && len(c.WrappedMACKey) == 0 {
		r.fail("empty wrapped mac key")
	}
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// Purposes for AAD: each kind of ciphertext gets its own, so one can never
// stand in for another.
const (
	PurposeValue  = "value"
	PurposeDEK    = "dek"
	PurposeMACKey = "mac-key"
)

// AAD returns the additional authenticated data binding a ciphertext to its
// purpose, vault, canonical path and version, as length-prefixed fields.
func AAD(purpose string, vaultID []byte, path string, version uint32) []byte {
	const label = "agentvault/v1"
	b := make([]byte, 0, 2+len(label)+2+len(purpose)+2+len(vaultID)+2+len(path)+4)
	b = put16(b, label)
	b = put16(b, purpose)
	b = put16(b, string(vaultID))
	b = put16(b, path)
	b = binary.BigEndian.AppendUint32(b, version)
	return b
}

func put8(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

func put16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// reader is a bounds-checked cursor; after the first failure every read
// returns zero values and err keeps the first error.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
	}
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.remaining() {
		r.fail("truncated at offset %d", r.off)
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8() uint8 {
	if p := r.bytes(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.bytes(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.bytes(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.bytes(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) limited(name string, n, max int) []byte {
	if r.err == nil && n > max {
		r.fail("%s is %d bytes, more than %d", name, n, max)
	}
	return r.bytes(n)
}

func (r *reader) str8(name string, max int) string {
	return string(r.limited(name, int(r.u8()), max))
}

func (r *reader) str16(name string, max int) string {
	return string(r.limited(name, int(r.u16()), max))
}

func (r *reader) bytes16(name string, max int) []byte {
	return clone(r.limited(name, int(r.u16()), max))
}

func (r *reader) bytes32(name string, max int) []byte {
	n := r.u32()
	if r.err == nil && n > uint32(max) {
		r.fail("%s is %d bytes, more than %d", name, n, max)
		return nil
	}
	return clone(r.bytes(int(n)))
}

func clone(p []byte) []byte {
	if p == nil {
		return nil
	}
	return append([]byte(nil), p...)
}

// appendMeta appends the magic, the format version and the metadata every
// format starts with (path through the max version), in their frozen order.
func appendMeta(b []byte, s *Secret, format byte) []byte {
	b = append(b, secretMagic...)
	b = append(b, format)
	b = put16(b, s.Path)
	b = put8(b, s.Type)
	b = append(b, s.Tier)
	b = put16(b, s.Description)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Tags)))
	for _, t := range s.Tags {
		b = put8(b, t.Key)
		b = put16(b, t.Value)
	}
	b = put16(b, s.CreatedBy)
	b = binary.BigEndian.AppendUint64(b, uint64(s.CreatedAt))
	b = binary.BigEndian.AppendUint64(b, uint64(s.UpdatedAt))
	b = binary.BigEndian.AppendUint64(b, uint64(s.ExpiresAt))
	b = binary.BigEndian.AppendUint32(b, s.Active)
	b = binary.BigEndian.AppendUint32(b, s.MaxVersion)
	return b
}
