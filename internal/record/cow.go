package record

import (
	"encoding/binary"
	"sync/atomic"
)

// Copy-on-write version tables (format version 4, in memory only: nothing
// here changes a stored byte).
//
// An update of a secret with n stored versions reads the cached head,
// derives the new head from it and encodes it. Copying n Version structs
// and re-encoding n table entries made that O(n). Instead:
//
//   - Derive returns a copy of a head that shares its version table: the
//     Versions slice aliases the same backing array. That array holds every
//     version detached (metadata only); the active version's envelope is
//     held apart (cow.held, returned by Find). Nothing in the shared part of
//     the array is ever written again, so records derived from one another
//     can share it while other goroutines read them.
//   - AppendVersion on a derived record writes the new (detached) entry into
//     the array's spare capacity, after claiming that slot with a
//     compare-and-swap on the array's claimed length: only a record whose
//     table is the longest on the array can claim the next slot, so two
//     records never write the same slot, and no record's Versions ever
//     covers a slot written after it was published (Versions is clipped to
//     its length, so a plain append on it reallocates). A record that loses
//     the claim copies the table (amortised O(1): capacity doubles).
//   - The encoded table of Versions[:tblN] is kept (cow.tbl, immutable
//     bytes: MarshalBodyKeep keeps what it wrote, Derive shares it), and
//     MarshalBody re-encodes only the versions after it: the
//     last run's count is patched and the new entries appended, which gives
//     exactly the bytes appendTable would write (runs stay maximal).
//
// Any change other than appending (lowering a tier changes every floor,
// retention removes entries, a rewrap rewrites envelopes in place) needs
// Own first, which copies the table into a private array in the layout a
// parsed record has (the active version's envelope in its entry).

// cowState is a Secret's copy-on-write bookkeeping. The zero value is a
// record whose Versions it owns, without a kept table encoding.
type cowState struct {
	held *Version // the active version with its envelope while Versions holds it detached
	// displaced is the version held before AppendVersion took its place:
	// its envelope is in memory only until the caller writes its version
	// record (see SetHeld).
	displaced *Version
	arr       *sharedArray
	derived   bool  // Derive made this record and only AppendVersion changed its table since
	oldest    int64 // the smallest CreatedAt in Versions (kept while derived)

	tbl     []byte // the encoding of Versions[:tblN] (immutable; shared between derived records)
	tblN    int
	lastRun int // offset in tbl of the last run
}

// sharedArray is a version array that derived records share.
type sharedArray struct {
	claimed atomic.Int64 // entries of buf written (the longest Versions on it)
	buf     []Version    // len(buf) == cap(buf)
}

// Derive returns a copy of s for a change that may set s's scalar
// fields and tags (assigning new slices) and append versions with
// AppendVersion, and must call Own before changing any stored version or
// removing one. The copy shares s's version table; s is not changed (it
// may be read by other goroutines meanwhile). s is a stored head: a
// version it displaced has its version record (SetHeld). A record of
// format versions 1–3 gets a private copy (Clone).
func (s *Secret) Derive() *Secret {
	if !s.IsV4() {
		return s.Clone()
	}
	c := *s
	c.Tags = cloneTags(s.Tags)
	c.cow.derived = true
	c.cow.displaced = nil // a stored head has none (SetHeld)
	if c.cow.held != nil {
		return &c
	}
	// A parsed (or owned) head holds the active envelope in its entry: move
	// the table onto a shared array with every entry detached (once per
	// parse).
	c.cow.oldest = s.OldestCreated()
	n := len(s.Versions)
	sa := &sharedArray{buf: make([]Version, n+n/2+2)}
	copy(sa.buf, s.Versions)
	sa.claimed.Store(int64(n))
	if i, ok := s.index(s.Active); ok && !sa.buf[i].Detached() {
		h := sa.buf[i]
		c.cow.held = &h
		sa.buf[i] = detached(&h)
	}
	c.Versions = sa.buf[:n:n]
	c.cow.arr = sa
	return &c
}

// Clone returns a deep copy of s that owns its version table, in the
// layout of a parsed record (the active version's envelope in its entry).
// Envelope bytes are shared (they are never changed in place).
func (s *Secret) Clone() *Secret {
	c := *s
	c.Tags = cloneTags(s.Tags)
	c.Versions = append(make([]Version, 0, len(s.Versions)+1), s.Versions...)
	c.cow = cowState{}
	for _, h := range []*Version{s.cow.displaced, s.cow.held} {
		if h == nil {
			continue
		}
		if i, ok := c.index(h.Number); ok {
			c.Versions[i] = *h
		}
	}
	return &c
}

// Own gives s, a record private to the caller (from Derive or Clone), a
// private copy of its version table (see Clone), so that its versions may
// be changed in place; it only forgets the kept table encoding of a record
// that owns its table already.
func (s *Secret) Own() {
	if s.cow.held == nil && s.cow.displaced == nil && s.cow.arr == nil && !s.cow.derived {
		s.cow.tbl = nil
		return
	}
	*s = *s.Clone()
}

// Derived reports whether s was made by Derive and, since, only had
// versions appended (no version changed or removed).
func (s *Secret) Derived() bool { return s.cow.derived }

// OldestCreated returns the smallest CreatedAt of s's versions (O(1) on a
// derived record).
func (s *Secret) OldestCreated() int64 {
	if s.cow.derived {
		return s.cow.oldest
	}
	var m int64
	for i := range s.Versions {
		if i == 0 || s.Versions[i].CreatedAt < m {
			m = s.Versions[i].CreatedAt
		}
	}
	return m
}

// Held returns the versions whose envelopes s holds apart from their
// (detached) table entries: held, the active version when s was derived
// or the version AppendVersion added, and displaced, the version held
// before that append. Either may be nil.
func (s *Secret) Held() (held, displaced *Version) { return s.cow.held, s.cow.displaced }

// SetHeld makes active (the active version, with its envelope) the only
// version s holds apart from its table, once the caller has written the
// version records of the others Held returned. Only for a derived record.
func (s *Secret) SetHeld(active *Version) { s.cow.held, s.cow.displaced = active, nil }

// AppendVersion appends ver (numbered above every stored version) and
// returns the stored copy, envelope included. On a derived record, a
// second append leaves copy-on-write (Own): only one version is displaced
// at a time.
func (s *Secret) AppendVersion(ver Version) *Version {
	if s.cow.derived && s.cow.displaced != nil {
		s.Own()
	}
	if !s.cow.derived {
		s.Versions = append(s.Versions, ver)
		return &s.Versions[len(s.Versions)-1]
	}
	n := len(s.Versions)
	d := detached(&ver)
	if sa := s.cow.arr; sa != nil && n < len(sa.buf) && sa.claimed.CompareAndSwap(int64(n), int64(n+1)) {
		sa.buf[n] = d
		s.Versions = sa.buf[: n+1 : n+1]
	} else {
		sa := &sharedArray{buf: make([]Version, 2*n+4)}
		copy(sa.buf, s.Versions)
		sa.buf[n] = d
		sa.claimed.Store(int64(n + 1))
		s.Versions = sa.buf[: n+1 : n+1]
		s.cow.arr = sa
	}
	s.cow.oldest = min(s.cow.oldest, ver.CreatedAt)
	// The version held before keeps its detached entry; the caller writes
	// its version record (see Held).
	s.cow.displaced = s.cow.held
	h := ver
	s.cow.held = &h
	return &h
}

func detached(v *Version) Version {
	return Version{Number: v.Number, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, Tier: v.Tier}
}

func cloneTags(t []Tag) []Tag {
	if t == nil {
		return nil
	}
	return append([]Tag(nil), t...)
}

// index returns the position of version n in s.Versions.
func (s *Secret) index(n uint32) (int, bool) {
	lo, hi := 0, len(s.Versions)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch v := s.Versions[m].Number; {
		case v == n:
			return m, true
		case v < n:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0, false
}

// MarshalBodyKeep is MarshalBody, and keeps the encoded version table in s
// so that records derived from s re-encode only the versions they add. s
// must not change afterwards except through Derive (it is about to be
// stored and shared).
func (s *Secret) MarshalBodyKeep() []byte {
	if !s.IsV4() {
		return s.MarshalBody()
	}
	b, start, end, last := s.marshalV4Table()
	s.cow.tbl, s.cow.tblN, s.cow.lastRun = b[start:end:end], len(s.Versions), last
	return b
}

// appendTableFrom appends the encoding of s.Versions, reusing the kept
// encoding of its first tblN entries. It returns b and the offset (from
// the table's start) of its last run.
func (s *Secret) appendTableFrom(b []byte) ([]byte, int) {
	start := len(b)
	t, n := s.cow.tbl, s.cow.tblN
	if t == nil || n == 0 || n > len(s.Versions) {
		b, last := appendTableLast(b, s.Versions)
		return b, last
	}
	b = append(b, t...)
	last := s.cow.lastRun
	for i := n; i < len(s.Versions); i++ {
		prev, v := &s.Versions[i-1], &s.Versions[i]
		if sameRun(prev, v) {
			at := start + last + 4
			binary.BigEndian.PutUint32(b[at:], binary.BigEndian.Uint32(b[at:])+1)
			b = binary.AppendVarint(b, v.CreatedAt-prev.CreatedAt)
			continue
		}
		binary.BigEndian.PutUint32(b[start:], binary.BigEndian.Uint32(b[start:])+1)
		last = len(b) - start
		b = appendRunHead(b, v, prev)
	}
	return b, last
}

// appendRunHead appends the head of a run starting at v (prev: the entry
// before it, or nil) with a count of 1.
func appendRunHead(b []byte, v, prev *Version) []byte {
	b = binary.BigEndian.AppendUint32(b, v.Number)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, v.Tier)
	if prev != nil && v.CreatedBy == prev.CreatedBy {
		b = binary.BigEndian.AppendUint16(b, sameActor)
	} else {
		b = put16(b, v.CreatedBy)
	}
	return binary.BigEndian.AppendUint64(b, uint64(v.CreatedAt))
}
