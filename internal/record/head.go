package record

import (
	"encoding/binary"
	"fmt"
)

// Format version 4: a head record plus one version record per version.
//
// The head (magic "AVSR", format byte 4) holds the secret's metadata, its
// lifecycle fields (always present), a random SecretID naming this
// incarnation of the path, the version table and the active version's
// envelope inline. The table is a list of runs, each of consecutively
// numbered stored versions with the same tier floor and creator: first
// number, count, floor, creator (a 16-bit length and bytes; the length
// 0xFFFF and no bytes for the previous run's creator), the first version's
// creation time, and for each further version its creation time as a
// signed varint difference from the one before. Runs are maximal (two
// adjacent runs could not be one), so a table has one encoding, and its
// size grows by a few bytes per version. Every other stored version's envelope
// lives in its own version record (magic "AVSV", format byte 4), whose
// body names the path, the version number and the SecretID, so that the
// MAC the caller appends binds it to exactly one version of one
// incarnation of one secret. The head's MAC covers the version table: a
// version record can neither be added nor dropped unnoticed.
//
// MarshalBody writes format version 4 exactly when SecretID is non-zero;
// ParseSecret rejects a version 4 head with a zero SecretID, so every head
// still has one encoding. A parsed version 4 head carries envelopes for the
// active version only: the other Versions have an empty KeyID, nil
// WrappedDEK and Ciphertext, and a zero Nonce (Detached reports this).

const (
	formatV4     = 4
	versionMagic = "AVSV"
	sameActor    = 0xFFFF // a version-table creator equal to the previous entry's
	SecretIDLen  = 16
	runHeadSz    = 4 + 4 + 1 + 2 + 8 // first, count, tier, creator length, created_at
)

// Detached reports whether ver's envelope is not in memory: a non-active
// version of a format version 4 head, whose envelope is in its version
// record.
func (ver *Version) Detached() bool { return len(ver.WrappedDEK) == 0 }

// IsV4 reports whether s is written as format version 4 (a head plus
// version records): whether it has a SecretID.
func (s *Secret) IsV4() bool { return s.SecretID != [SecretIDLen]byte{} }

func (s *Secret) marshalV4() []byte {
	b, _, _, _ := s.marshalV4Table()
	return b
}

// marshalV4Table encodes s as a format version 4 head and returns the
// bytes, the table's start and end offsets and the offset (from the
// table's start) of its last run.
func (s *Secret) marshalV4Table() (b []byte, start, end, lastRun int) {
	n := 5 + 2 + len(s.Path) + 1 + len(s.Type) + 1 + 2 + len(s.Description) + 2 +
		2 + len(s.CreatedBy) + 8*3 + 4*2 + v2Len + SecretIDLen + 4
	for _, t := range s.Tags {
		n += 1 + len(t.Key) + 2 + len(t.Value)
	}
	if t := s.cow.tbl; t != nil && s.cow.tblN <= len(s.Versions) {
		n += len(t)
		for i := s.cow.tblN; i < len(s.Versions); i++ {
			n += runHeadSz + 2 + len(s.Versions[i].CreatedBy)
		}
	} else {
		n += 4 + len(s.Versions)*3
	}
	act := s.Find(s.Active)
	if act != nil {
		n += envelopeLen(act)
	}
	b = make([]byte, 0, n+MACLen)
	b = appendMeta(b, s, formatV4)
	b = binary.BigEndian.AppendUint64(b, uint64(s.GraceUntil))
	b = binary.BigEndian.AppendUint32(b, s.Previous)
	b = binary.BigEndian.AppendUint64(b, uint64(s.RotateEvery))
	b = binary.BigEndian.AppendUint64(b, uint64(s.RotationGrace))
	b = binary.BigEndian.AppendUint64(b, uint64(s.NextRotation))
	b = append(b, s.SecretID[:]...)
	start = len(b)
	b, lastRun = s.appendTableFrom(b)
	end = len(b)
	if act != nil {
		b = appendEnvelope(b, act)
	}
	return b, start, end, lastRun
}

func envelopeLen(v *Version) int {
	return 2 + len(v.KeyID) + 2 + len(v.WrappedDEK) + NonceLen + 4 + len(v.Ciphertext)
}

func appendEnvelope(b []byte, v *Version) []byte {
	b = put16(b, v.KeyID)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v.WrappedDEK)))
	b = append(b, v.WrappedDEK...)
	b = append(b, v.Nonce[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(v.Ciphertext)))
	return append(b, v.Ciphertext...)
}

func (r *reader) envelope(v *Version) {
	v.KeyID = r.str16("key id", MaxKeyIDLen)
	v.WrappedDEK = r.bytes16("wrapped key", MaxWrappedDEKLen)
	copy(v.Nonce[:], r.bytes(NonceLen))
	v.Ciphertext = r.bytes32("ciphertext", MaxCiphertextLen)
	if r.err == nil && (len(v.WrappedDEK) == 0 || len(v.Ciphertext) < 16) {
		r.fail("empty wrapped key or ciphertext")
	}
}

// parseV4 decodes the rest of a format version 4 head after its format byte.
func parseV4(r *reader) *Secret {
	s := &Secret{}
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
	s.GraceUntil = int64(r.u64())
	s.Previous = r.u32()
	s.RotateEvery = int64(r.u64())
	s.RotationGrace = int64(r.u64())
	s.NextRotation = int64(r.u64())
	copy(s.SecretID[:], r.bytes(SecretIDLen))
	if r.err == nil && !s.IsV4() {
		r.fail("format version 4 with a zero secret id")
	}
	s.Versions = r.table()
	if r.err != nil {
		return nil
	}
	if s.Versions[len(s.Versions)-1].Number > s.MaxVersion {
		r.fail("version numbers out of order")
		return nil
	}
	act := s.Find(s.Active)
	if act == nil {
		r.fail("active version %d is not stored", s.Active)
		return nil
	}
	r.envelope(act)
	return s
}

// VersionRecord is a format version 4 version record: one version's
// envelope, stored apart from its secret's head.
type VersionRecord struct {
	Path     string
	SecretID [SecretIDLen]byte
	Version  Version // CreatedAt, CreatedBy and Tier are not stored here (the head has them)
	// WrittenAt is when the record was written (Unix nanoseconds): an
	// unreferenced record younger than a grace period may belong to a write
	// still in flight, so cleaners leave it alone.
	WrittenAt int64
}

// MarshalBody encodes r without the trailing MAC.
func (vr *VersionRecord) MarshalBody() []byte {
	b := make([]byte, 0, 5+2+len(vr.Path)+4+SecretIDLen+8+envelopeLen(&vr.Version)+MACLen)
	b = append(b, versionMagic...)
	b = append(b, formatV4)
	b = put16(b, vr.Path)
	b = binary.BigEndian.AppendUint32(b, vr.Version.Number)
	b = append(b, vr.SecretID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(vr.WrittenAt))
	return appendEnvelope(b, &vr.Version)
}

// ParseVersionRecord decodes a version record, returning it, the body the
// MAC covers and the MAC. It checks structure only; the caller verifies the
// MAC and that path, number and SecretID are the ones it asked for.
func ParseVersionRecord(b []byte) (vr *VersionRecord, body []byte, mac []byte, err error) {
	if len(b) < 5+MACLen {
		return nil, nil, nil, fmt.Errorf("%w: %d bytes is too short", ErrFormat, len(b))
	}
	body, mac = b[:len(b)-MACLen], b[len(b)-MACLen:]
	r := reader{b: body}
	if string(r.bytes(4)) != versionMagic {
		return nil, nil, nil, fmt.Errorf("%w: not a version record", ErrFormat)
	}
	if f := r.u8(); f != formatV4 && r.err == nil {
		return nil, nil, nil, fmt.Errorf("%w: unknown version record format %d", ErrFormat, f)
	}
	vr = &VersionRecord{}
	vr.Path = r.str16("path", MaxPathLen)
	vr.Version.Number = r.u32()
	copy(vr.SecretID[:], r.bytes(SecretIDLen))
	vr.WrittenAt = int64(r.u64())
	r.envelope(&vr.Version)
	if r.err == nil && r.remaining() != 0 {
		r.fail("%d trailing bytes", r.remaining())
	}
	if r.err == nil && (vr.Path == "" || vr.Version.Number == 0) {
		r.fail("empty path or version number 0")
	}
	if r.err != nil {
		return nil, nil, nil, r.err
	}
	return vr, body, mac, nil
}

// sameRun reports whether b can follow a in one run of the version table.
func sameRun(a, b *Version) bool {
	return b.Number == a.Number+1 && b.Tier == a.Tier && b.CreatedBy == a.CreatedBy
}

func appendTable(b []byte, vs []Version) []byte {
	b, _ = appendTableLast(b, vs)
	return b
}

// appendTableLast is appendTable; it also returns the offset (from the
// table's start) of the last run.
func appendTableLast(b []byte, vs []Version) ([]byte, int) {
	nrunsAt := len(b)
	last := 0
	b = append(b, 0, 0, 0, 0)
	runs := uint32(0)
	for i := 0; i < len(vs); {
		j := i + 1
		for j < len(vs) && sameRun(&vs[j-1], &vs[j]) {
			j++
		}
		v := &vs[i]
		last = len(b) - nrunsAt
		b = binary.BigEndian.AppendUint32(b, v.Number)
		b = binary.BigEndian.AppendUint32(b, uint32(j-i))
		b = append(b, v.Tier)
		if i > 0 && v.CreatedBy == vs[i-1].CreatedBy {
			b = binary.BigEndian.AppendUint16(b, sameActor)
		} else {
			b = put16(b, v.CreatedBy)
		}
		b = binary.BigEndian.AppendUint64(b, uint64(v.CreatedAt))
		for k := i + 1; k < j; k++ {
			b = binary.AppendVarint(b, vs[k].CreatedAt-vs[k-1].CreatedAt)
		}
		runs++
		i = j
	}
	binary.BigEndian.PutUint32(b[nrunsAt:], runs)
	return b, last
}

// varint reads a signed varint in its shortest encoding.
func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Varint(r.b[r.off:])
	if n <= 0 || n != len(binary.AppendVarint(nil, x)) {
		r.fail("bad varint at offset %d", r.off)
		return 0
	}
	r.off += n
	return x
}

func (r *reader) table() []Version {
	nruns := r.u32()
	if nruns == 0 || nruns > MaxVersions || uint64(nruns)*runHeadSz > uint64(r.remaining()) {
		r.fail("bad version run count %d", nruns)
		return nil
	}
	var vs []Version
	for i := uint32(0); i < nruns && r.err == nil; i++ {
		first, count, tier := r.u32(), r.u32(), r.u8()
		var by string
		if n := r.u16(); n == sameActor && len(vs) > 0 {
			by = vs[len(vs)-1].CreatedBy
		} else {
			p := r.limited("version created_by", int(n), MaxActorLen)
			if r.err == nil && len(vs) > 0 && string(p) == vs[len(vs)-1].CreatedBy {
				r.fail("version creator repeated (must be written as the previous run's)")
			}
			by = string(p)
		}
		at := int64(r.u64())
		if r.err != nil {
			break
		}
		if count == 0 || uint64(len(vs))+uint64(count) > MaxVersions || uint64(count-1) > uint64(r.remaining()) ||
			first == 0 || uint64(first)+uint64(count)-1 > uint64(^uint32(0)) {
			r.fail("bad version run (%d versions from %d)", count, first)
			break
		}
		if len(vs) > 0 {
			last := &vs[len(vs)-1]
			if first <= last.Number {
				r.fail("version numbers out of order")
				break
			}
			if sameRun(last, &Version{Number: first, Tier: tier, CreatedBy: by}) {
				r.fail("version runs not maximal")
				break
			}
		}
		if vs == nil {
			vs = make([]Version, 0, count)
		}
		for k := uint32(0); k < count && r.err == nil; k++ {
			if k > 0 {
				at += r.varint()
			}
			vs = append(vs, Version{Number: first + k, CreatedAt: at, CreatedBy: by, Tier: tier})
		}
	}
	if r.err != nil {
		return nil
	}
	return vs
}
