package redisbackend

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/agentvault/agentvault/backend"
)

// Compile-time checks.
var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.Batcher = (*Backend)(nil)
)

// Backend is a backend.Backend (and backend.Batcher) on Redis. It is safe
// for concurrent use by multiple goroutines, and by multiple processes and
// machines sharing one Redis. Create it with New or Open; the zero value is
// not usable.
type Backend struct {
	client redis.UniversalClient
	owned  bool // Close closes client: Open created it
	desc   string
	prefix string
	shards int
	nstr   string   // shards, in decimal, as the scripts compare it
	tags   []string // tags[s] is the hash tag of shard s
	idx    []string // idx[s] is the index key of shard s
	repl   replication
	marks  *marks // acknowledged writes, for ErrLostWrite; nil: no detection
	closed atomic.Bool
}

// New returns a Backend that stores its data through client: a
// *redis.Client (single node, or a Sentinel failover client from
// redis.NewFailoverClient), a *redis.ClusterClient, or any other
// redis.UniversalClient. The Backend never closes client: the caller keeps
// owning it and closes it after the Backend.
//
// New does no I/O. Timeouts, retries and TLS come from the client's
// options; set ContextTimeoutEnabled in them so that context deadlines
// also bound socket reads. Writes wait for replicas as WithWait says
// (WaitAuto by default); with a client other than *redis.Client and
// *redis.ClusterClient (a Ring) they cannot, WaitAuto means no wait, and
// WithWait(N) for N > 0 is an error.
func New(client redis.UniversalClient, opts ...Option) (*Backend, error) {
	if client == nil {
		return nil, errors.New("redisbackend: new: nil client")
	}
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.wait > 0 && !waitSupported(client) {
		return nil, fmt.Errorf("redisbackend: new: WithWait(%d) needs a *redis.Client or *redis.ClusterClient, not %T", o.wait, client)
	}
	return newBackend(client, false, describeClient(client), o), nil
}

func newBackend(client redis.UniversalClient, owned bool, desc string, o options) *Backend {
	if o.wait == WaitAuto && !waitSupported(client) {
		o.wait = 0
	}
	b := &Backend{
		client: client,
		owned:  owned,
		desc:   desc,
		prefix: o.prefix,
		shards: o.shards,
		nstr:   strconv.Itoa(o.shards),
		tags:   make([]string, o.shards),
		idx:    make([]string, o.shards),
		repl:   replication{want: o.wait, timeout: o.waitTimeout},
	}
	if !o.noMarks {
		b.marks = newMarks(o.shards)
	}
	for s := range o.shards {
		b.tags[s] = tag(o.prefix, s)
		b.idx[s] = indexKey(b.tags[s])
	}
	return b
}

// describeClient names the servers a client talks to, without credentials.
func describeClient(c redis.UniversalClient) string {
	switch c := c.(type) {
	case *redis.Client:
		o := c.Options()
		if o.Addr == "FailoverClient" { // go-redis's placeholder for Sentinel clients
			return "redis sentinel"
		}
		return fmt.Sprintf("redis %s db %d", o.Addr, o.DB)
	case *redis.ClusterClient:
		return "redis cluster " + strings.Join(c.Options().Addrs, ",")
	case *redis.Ring:
		return "redis ring"
	default:
		return fmt.Sprintf("redis %T", c)
	}
}

// String describes the Backend: its servers and key prefix, never a
// password.
func (b *Backend) String() string {
	return fmt.Sprintf("redisbackend(%s, prefix %q)", b.desc, b.prefix)
}

// GoString is String, so that %#v prints no client internals.
func (b *Backend) GoString() string { return b.String() }

// Close marks the Backend closed, after which every method returns an
// error wrapping backend.ErrClosed. It closes the client only if Open
// created it. A second Close returns ErrClosed.
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return fmt.Errorf("redisbackend: close: %w", backend.ErrClosed)
	}
	if b.owned {
		if err := b.client.Close(); err != nil {
			return fmt.Errorf("redisbackend: close: %w", err)
		}
	}
	return nil
}

// check runs the checks every keyed method starts with.
func (b *Backend) check(ctx context.Context, key string) error {
	if b.closed.Load() {
		return backend.ErrClosed
	}
	if err := backend.ValidateKey(key); err != nil {
		return err
	}
	return ctx.Err()
}

// Get returns the value stored at key and its revision, or an error
// wrapping backend.ErrNotFound. It costs one GET. It returns an error
// wrapping ErrLostWrite, and no value, if the record contradicts a write
// this Backend acknowledged (see ErrLostWrite).
func (b *Backend) Get(ctx context.Context, key string) ([]byte, int64, error) {
	if err := b.check(ctx, key); err != nil {
		return nil, 0, opErr("get", key, err)
	}
	s := shardOf(key, b.shards)
	sent := b.marksNow()
	dk := dataKey(b.tags[s], key)
	f, err := b.client.HMGet(ctx, dk, "r", "w", "v").Result()
	var value []byte
	var rev int64
	switch {
	case isWrongType(err):
		value, rev, err = b.getLegacy(ctx, dk)
	case err == nil:
		var ok bool
		if value, rev, ok, err = parseHash(f); err == nil && !ok {
			if value, rev, ok, err = b.reread(ctx, dk); err == nil && !ok {
				err = backend.ErrNotFound
			}
		}
	}
	if err == nil {
		err = b.checkMark(ctx, s, key, rev, value, sent)
	}
	if err != nil {
		return nil, 0, opErr("get", key, err)
	}
	return value, rev, nil
}

// getLegacy reads a layout 1 record (a string).
func (b *Backend) getLegacy(ctx context.Context, dk string) ([]byte, int64, error) {
	rec, err := b.client.Get(ctx, dk).Result()
	if errors.Is(err, redis.Nil) {
		return nil, 0, backend.ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	return parseRecord(rec)
}

// reread reads dk again after an HMGET found none of a record's fields:
// HMGET and EXISTS in one transaction, so a key created in between is
// read, not mistaken for a hash of other fields (malformed). ok is false
// when the key does not exist.
func (b *Backend) reread(ctx context.Context, dk string) (value []byte, rev int64, ok bool, err error) {
	var hm *redis.SliceCmd
	var ex *redis.IntCmd
	_, err = b.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		hm = p.HMGet(ctx, dk, "r", "w", "v")
		ex = p.Exists(ctx, dk)
		return nil
	})
	if isWrongType(err) {
		value, rev, err = b.getLegacy(ctx, dk)
		return value, rev, err == nil, err
	}
	if err != nil {
		return nil, 0, false, err
	}
	if value, rev, ok, err = parseHash(hm.Val()); err != nil || ok {
		return value, rev, ok, err
	}
	if ex.Val() > 0 {
		return nil, 0, false, errMalformed
	}
	return nil, 0, false, nil
}

// isWrongType reports a WRONGTYPE reply: the key holds a layout 1 record.
func isWrongType(err error) bool {
	return err != nil && redis.HasErrorPrefix(err, "WRONGTYPE")
}

// Put stores value at key if the key's revision is expectedRev (0: only if
// the key does not exist) and returns the new revision. A stale revision
// writes nothing and returns an error wrapping backend.ErrConflict. It
// costs one round trip: an EVALSHA (the data key, the index and the shard
// clock are updated by one Lua script, atomically), pipelined with the
// WAIT for replicas and the ROLE that WithWait calls for.
//
// A Put that returns nil is as durable as the server's persistence
// settings make it (appendonly yes with appendfsync always for every
// write) and confirmed by the replicas WithWait asks for; one that too few
// replicas confirmed returns an error wrapping ErrNotReplicated. See the
// package documentation, "Replication and failover".
func (b *Backend) Put(ctx context.Context, key string, value []byte, expectedRev int64) (int64, error) {
	if err := b.check(ctx, key); err != nil {
		return 0, opErr("put", key, err)
	}
	s := shardOf(key, b.shards)
	t := b.tags[s]
	var id [8]byte
	putUint64(id[:], rand.Uint64())
	res, err := b.runWrite(ctx, putScript,
		[]string{dataKey(t, key), b.idx[s], metaKey(t)},
		strconv.FormatInt(expectedRev, 10), value, hex.EncodeToString(id[:]), key, b.nstr,
	)
	if err != nil {
		if errors.Is(err, ErrNotReplicated) && b.marks != nil {
			if st, rev, perr := scriptResult(res); perr == nil && st == statusOK {
				b.marks.unconfirmed(s, key, rev)
			}
		}
		return 0, opErr("put", key, b.scriptErr(err))
	}
	status, rev, err := scriptResult(res)
	if err != nil {
		return 0, opErr("put", key, err)
	}
	switch status {
	case statusOK:
		// Creates are not remembered: a lost create cannot be told from
		// a key deleted elsewhere, and write-once keys (audit entries)
		// would crowd out the others.
		if b.marks != nil && expectedRev != 0 {
			b.marks.put(s, key, rev, value)
		}
		return rev, nil
	case statusConflict:
		return 0, conflictErr("put", key, expectedRev, rev)
	default:
		return 0, opErr("put", key, fmt.Errorf("unexpected script status %d", status))
	}
}

// Delete removes key if its revision is expectedRev, or whatever its
// revision when expectedRev is 0. It returns an error wrapping
// backend.ErrNotFound when the key does not exist and backend.ErrConflict
// on a revision mismatch. It costs one round trip, and waits for replicas
// as Put does (ErrNotReplicated).
//
// If go-redis retries a Delete whose first attempt was applied but whose
// reply was lost, the retry reports ErrNotFound.
func (b *Backend) Delete(ctx context.Context, key string, expectedRev int64) error {
	if err := b.check(ctx, key); err != nil {
		return opErr("delete", key, err)
	}
	s := shardOf(key, b.shards)
	t := b.tags[s]
	res, err := b.runWrite(ctx, deleteScript,
		[]string{dataKey(t, key), b.idx[s], metaKey(t)},
		strconv.FormatInt(expectedRev, 10), key, b.nstr,
	)
	if err != nil {
		return opErr("delete", key, b.scriptErr(err))
	}
	status, rev, err := scriptResult(res)
	if err != nil {
		return opErr("delete", key, err)
	}
	switch status {
	case statusOK:
		if b.marks != nil {
			b.marks.deleted(s, key, rev)
		}
		return nil
	case statusNotFound:
		return opErr("delete", key, backend.ErrNotFound)
	case statusConflict:
		return conflictErr("delete", key, expectedRev, rev)
	default:
		return opErr("delete", key, fmt.Errorf("unexpected script status %d", status))
	}
}

// List returns the keys that start with prefix, in ascending byte order.
// It never scans the keyspace: it sends one ZRANGEBYLEX per index shard in
// one pipeline (one round trip on a single node; one per Cluster node, in
// parallel, on a Cluster) and merges the sorted results.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	if b.closed.Load() {
		return nil, listErr(prefix, backend.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, listErr(prefix, err)
	}
	lo, hi := lexRange(prefix)
	by := &redis.ZRangeBy{Min: lo, Max: hi}
	cmds := make([]*redis.StringSliceCmd, b.shards)
	_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for s := range cmds {
			cmds[s] = p.ZRangeByLex(ctx, b.idx[s], by)
		}
		return nil
	})
	if err != nil {
		return nil, listErr(prefix, err)
	}
	n := 0
	for _, c := range cmds {
		n += len(c.Val())
	}
	keys := make([]string, 0, n)
	for _, c := range cmds {
		keys = append(keys, c.Val()...)
	}
	slices.Sort(keys)
	return keys, nil
}

// GetMany returns one Item per key, in the order given; a missing key has
// a nil Value and Rev 0. It sends all GETs in one pipeline (on a Cluster,
// one per node, in parallel).
func (b *Backend) GetMany(ctx context.Context, keys []string) ([]backend.Item, error) {
	if b.closed.Load() {
		return nil, fmt.Errorf("redisbackend: get many: %w", backend.ErrClosed)
	}
	for _, k := range keys {
		if err := backend.ValidateKey(k); err != nil {
			return nil, opErr("get many", k, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisbackend: get many: %w", err)
	}
	items := make([]backend.Item, len(keys))
	if len(keys) == 0 {
		return items, nil
	}
	cmds := make([]*redis.SliceCmd, len(keys))
	sent := b.marksNow()
	_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, b.dataKey(k), "r", "w", "v")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !isWrongType(err) {
		return nil, fmt.Errorf("redisbackend: get many: %w", err)
	}
	for i, c := range cmds {
		items[i].Key = keys[i]
		f, err := c.Result()
		var ok bool
		switch {
		case isWrongType(err):
			items[i].Value, items[i].Rev, err = b.getLegacy(ctx, b.dataKey(keys[i]))
			ok = err == nil
			if errors.Is(err, backend.ErrNotFound) {
				err = nil
			}
		case err == nil:
			items[i].Value, items[i].Rev, ok, err = parseHash(f)
			if err == nil && !ok {
				items[i].Value, items[i].Rev, ok, err = b.reread(ctx, b.dataKey(keys[i]))
			}
		}
		if err != nil {
			return nil, opErr("get many", keys[i], err)
		}
		if !ok {
			continue
		}
		if err := b.checkMark(ctx, shardOf(keys[i], b.shards), keys[i], items[i].Rev, items[i].Value, sent); err != nil {
			return nil, opErr("get many", keys[i], err)
		}
	}
	return items, nil
}

// checkMark returns an error wrapping ErrLostWrite if a record read from
// Redis contradicts a write this Backend acknowledged. A record this
// Backend wrote but its replicas did not confirm (its Put returned
// ErrNotReplicated) is served only once they do: otherwise a caller could
// build on a write that a failover then discards.
func (b *Backend) checkMark(ctx context.Context, s int, key string, rev int64, value []byte, sent int64) error {
	if b.marks == nil {
		return nil
	}
	res, err := b.marks.check(s, key, rev, value, sent)
	if err != nil || res != markConfirm {
		return err
	}
	if err := b.confirm(ctx, dataKey(b.tags[s], key), metaKey(b.tags[s])); err != nil {
		return fmt.Errorf("record written by this process is not confirmed by replicas: %w", err)
	}
	b.marks.confirmed(s, key, rev)
	return nil
}

// marksNow returns the marks clock a read takes before it is sent.
func (b *Backend) marksNow() int64 {
	if b.marks == nil {
		return 0
	}
	return b.marks.now()
}

// dataKey returns the Redis key of key's record.
func (b *Backend) dataKey(key string) string {
	return dataKey(b.tags[shardOf(key, b.shards)], key)
}

// scriptErr turns the scripts' error replies into clear errors.
func (b *Backend) scriptErr(err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, replyLayout+" "):
		return fmt.Errorf("key prefix %q was written with %s index shards, this Backend uses %d (WithIndexShards must match)",
			b.prefix, strings.TrimPrefix(msg, replyLayout+" "), b.shards)
	case strings.HasPrefix(msg, replyMalformed+" "):
		return errMalformed
	case strings.HasPrefix(msg, replyExhausted+" "):
		return errors.New("revisions exhausted")
	}
	return err
}

// scriptResult decodes a script's {status, revision} reply.
func scriptResult(res []any) (status int64, rev int64, err error) {
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("unexpected script reply %v", res)
	}
	status, ok := res[0].(int64)
	revs, ok2 := res[1].(string)
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("unexpected script reply %v", res)
	}
	rev, err = strconv.ParseInt(revs, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("unexpected script revision %q", revs)
	}
	return status, rev, nil
}

func opErr(op, key string, err error) error {
	return fmt.Errorf("redisbackend: %s %s: %w", op, quote(key), err)
}

func listErr(prefix string, err error) error {
	return fmt.Errorf("redisbackend: list %s: %w", quote(prefix), err)
}

// quote quotes a key for an error message, shortened to its first 100
// bytes.
func quote(key string) string {
	if len(key) > 100 {
		return strconv.Quote(key[:100]) + "..."
	}
	return strconv.Quote(key)
}

func conflictErr(op, key string, expected, current int64) error {
	cur := "missing"
	if current != 0 {
		cur = strconv.FormatInt(current, 10)
	}
	return fmt.Errorf("redisbackend: %s %s: %w (expected revision %d, current %s)",
		op, quote(key), backend.ErrConflict, expected, cur)
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}
