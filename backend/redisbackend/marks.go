package redisbackend

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// maxMarks bounds how many acknowledged writes a Backend remembers for
// lost-write detection (about 100 bytes each plus the key).
const maxMarks = 1 << 16

// marks remembers, per key, the last write this Backend acknowledged, so
// that a read which finds an older revision (or other content under the
// acknowledged revision) fails with ErrLostWrite instead of serving state
// that silently went backwards. A mark is dropped once Redis serves a newer
// revision; when a shard holds its maximum, an arbitrary mark is evicted
// (detection is best effort beyond maxMarks keys).
//
// A read is compared only with marks set before it was sent (now returns
// the clock to take first): a Get racing with a Put of the same process may
// legitimately return the revision before it.
type marks struct {
	clock  atomic.Int64 // bumped by every mark
	seed   maphash.Seed
	per    int // marks kept per index shard
	shards []markShard
}

type markShard struct {
	mu sync.Mutex
	m  map[string]mark
}

// mark is an acknowledged write: a Put of content with hash sum at rev, or
// a Delete of revision rev (rev 0: none); and unconfirmed, the revision of
// a later Put that the master applied but too few replicas confirmed
// (ErrNotReplicated), or 0.
type mark struct {
	at          int64 // marks.clock when set
	rev         int64
	sum         uint64
	deleted     bool
	unconfirmed int64
}

// checkResult is what check found.
type checkResult int

const (
	markOK      checkResult = iota // nothing contradicts the read
	markConfirm                    // the read is this Backend's unconfirmed write: confirm it first
)

func newMarks(shards int) *marks {
	return &marks{
		seed:   maphash.MakeSeed(),
		per:    max(64, maxMarks/shards),
		shards: make([]markShard, shards),
	}
}

// now returns the clock a read takes before it is sent.
func (ms *marks) now() int64 { return ms.clock.Load() }

// unconfirmed records a Put of rev that the master applied but too few
// replicas confirmed.
func (ms *marks) unconfirmed(s int, key string, rev int64) {
	sh := &ms.shards[s]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[string]mark)
	}
	m, ok := sh.m[key]
	if !ok && len(sh.m) >= ms.per {
		ms.evict(sh)
	}
	m.unconfirmed = max(m.unconfirmed, rev)
	m.at = ms.clock.Add(1)
	sh.m[key] = m
}

// confirmed records that the unconfirmed write of rev reached its
// replicas after all.
func (ms *marks) confirmed(s int, key string, rev int64) {
	sh := &ms.shards[s]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if m, ok := sh.m[key]; ok && m.unconfirmed == rev {
		delete(sh.m, key) // rev is newer than any acknowledged write
	}
}

// put records an acknowledged Put of value at rev.
func (ms *marks) put(s int, key string, rev int64, value []byte) {
	ms.set(s, key, mark{rev: rev, sum: maphash.Bytes(ms.seed, value)})
}

// deleted records an acknowledged Delete of revision rev.
func (ms *marks) deleted(s int, key string, rev int64) {
	ms.set(s, key, mark{rev: rev, deleted: true})
}

func (ms *marks) set(s int, key string, m mark) {
	sh := &ms.shards[s]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[string]mark)
	}
	if old, ok := sh.m[key]; ok {
		if old.rev > m.rev {
			return
		}
		if old.unconfirmed > m.rev {
			m.unconfirmed = old.unconfirmed
		}
	} else if len(sh.m) >= ms.per {
		ms.evict(sh)
	}
	m.at = ms.clock.Add(1)
	sh.m[key] = m
}

// evict drops an arbitrary mark of a full shard. The caller holds sh.mu.
func (ms *marks) evict(sh *markShard) {
	for k := range sh.m {
		delete(sh.m, k)
		return
	}
}

// check returns an error wrapping ErrLostWrite if Redis serving value at
// rev for key, in a read sent at clock sent, contradicts a write this
// Backend acknowledged before, and
// markConfirm if rev is a write of this Backend that its replicas have not
// confirmed: it must not be served before they do.
func (ms *marks) check(s int, key string, rev int64, value []byte, sent int64) (checkResult, error) {
	sh := &ms.shards[s]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m, ok := sh.m[key]
	if !ok || m.at > sent {
		return markOK, nil // nothing known, or only writes newer than the read
	}
	if m.unconfirmed != 0 {
		switch {
		case rev == m.unconfirmed:
			return markConfirm, nil
		case rev > m.unconfirmed:
			delete(sh.m, key) // newer state: nothing left to compare with
			return markOK, nil
		}
		// The unconfirmed write is gone (it was never acknowledged);
		// compare with the acknowledged one.
		m.unconfirmed = 0
		if m.rev == 0 {
			delete(sh.m, key)
			return markOK, nil
		}
		sh.m[key] = m
	}
	switch {
	case rev > m.rev:
		delete(sh.m, key)
		return markOK, nil
	case m.deleted:
		return markOK, fmt.Errorf("%w: served revision %d, but this process deleted revision %d", ErrLostWrite, rev, m.rev)
	case rev < m.rev:
		return markOK, fmt.Errorf("%w: served revision %d, but this process wrote revision %d", ErrLostWrite, rev, m.rev)
	case maphash.Bytes(ms.seed, value) != m.sum:
		return markOK, fmt.Errorf("%w: revision %d holds other content than this process wrote under it", ErrLostWrite, rev)
	}
	return markOK, nil
}
