package redisbackend

import (
	"fmt"
	"hash/maphash"
	"sync"
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
type marks struct {
	seed   maphash.Seed
	per    int // marks kept per index shard
	shards []markShard
}

type markShard struct {
	mu sync.Mutex
	m  map[string]mark
}

// mark is an acknowledged write: a Put of content with hash sum at rev, or
// a Delete of revision rev.
type mark struct {
	rev     int64
	sum     uint64
	deleted bool
}

func newMarks(shards int) *marks {
	return &marks{
		seed:   maphash.MakeSeed(),
		per:    max(64, maxMarks/shards),
		shards: make([]markShard, shards),
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
	} else if len(sh.m) >= ms.per {
		for k := range sh.m {
			delete(sh.m, k)
			break
		}
	}
	sh.m[key] = m
}

// check returns an error wrapping ErrLostWrite if Redis serving value at
// rev for key contradicts a write this Backend acknowledged.
func (ms *marks) check(s int, key string, rev int64, value []byte) error {
	sh := &ms.shards[s]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m, ok := sh.m[key]
	switch {
	case !ok:
		return nil
	case rev > m.rev:
		delete(sh.m, key) // newer state: nothing left to compare with
		return nil
	case m.deleted:
		return fmt.Errorf("%w: served revision %d, but this process deleted revision %d", ErrLostWrite, rev, m.rev)
	case rev < m.rev:
		return fmt.Errorf("%w: served revision %d, but this process wrote revision %d", ErrLostWrite, rev, m.rev)
	case maphash.Bytes(ms.seed, value) != m.sum:
		return fmt.Errorf("%w: revision %d holds other content than this process wrote under it", ErrLostWrite, rev)
	}
	return nil
}
