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
	rec, err := b.client.Get(ctx, dataKey(b.tags[s], key)).Result()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, 0, opErr("get", key, backend.ErrNotFound)
		}
		return nil, 0, opErr("get", key, err)
	}
	value, rev, err := parseRecord(rec)
	if err == nil {
		err = b.checkMark(ctx, s, key, rev, value, sent)
	}
	if err != nil {
		return nil, 0, opErr("get", key, err)
	}
	return value, rev, nil
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
	script, keys, args, stage, staged := b.putCall(ctx, s, key, value, expectedRev)
	res, err := b.runWrite(ctx, s, stage, script, keys, args...)
	releaseStaged(staged)
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
	case statusMalformed: // putManyScript reports these per write
		return 0, opErr("put", key, errMalformed)
	case statusExhausted:
		return 0, opErr("put", key, errExhausted)
	default:
		return 0, opErr("put", key, fmt.Errorf("unexpected script status %d", status))
	}
}

// putCall returns the script, keys and arguments of one Put, and the
// staging of its record (sent before the script, in one pipeline) with
// the record's buffer (release it with releaseStaged once the staging has
// run), both nil for a value of at most inlineMax bytes, which the script
// gets inline.
func (b *Backend) putCall(ctx context.Context, s int, key string, value []byte, expectedRev int64) (*redis.Script, []string, []any, func(redis.Pipeliner), *[]byte) {
	t := b.tags[s]
	id := newWriteID()
	if len(value) <= inlineMax {
		keys := []string{b.idx[s], metaKey(t), dataKey(t, key)}
		return putManyScript, keys, []any{b.nstr, strconv.FormatInt(expectedRev, 10), id, key, value}, nil, nil
	}
	staging := stagingKey(t, id)
	rec := newStaged(id, value)
	keys := []string{dataKey(t, key), b.idx[s], metaKey(t), staging}
	args := []any{strconv.FormatInt(expectedRev, 10), "", id, key, b.nstr}
	return putScript, keys, args, func(p redis.Pipeliner) { p.Set(ctx, staging, *rec, stagingTTL) }, rec
}

// newWriteID returns a random write id: 16 lowercase hex digits.
func newWriteID() string {
	var raw [8]byte
	putUint64(raw[:], rand.Uint64())
	return hex.EncodeToString(raw[:])
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
	res, err := b.runWrite(ctx, s, nil, deleteScript,
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
	cmds := make([]*redis.StringCmd, len(keys))
	sent := b.marksNow()
	_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, b.dataKey(k))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisbackend: get many: %w", err)
	}
	for i, c := range cmds {
		items[i].Key = keys[i]
		rec, err := c.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, opErr("get many", keys[i], err)
		}
		if items[i].Value, items[i].Rev, err = parseRecord(rec); err != nil {
			return nil, opErr("get many", keys[i], err)
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
		return errExhausted
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
