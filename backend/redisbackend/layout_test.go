package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// The layout is frozen: these vectors must never change.
func TestLayoutVectors(t *testing.T) {
	for _, tt := range []struct {
		key       string
		s16, s1k  int
		dataKey16 string
	}{
		{"a", 12, 140, "{agentvault:12}:k:a"},
		{"s/production/openai/api-key", 10, 890, "{agentvault:10}:k:s/production/openai/api-key"},
		{"é", 1, 513, "{agentvault:01}:k:é"},
		{"counter", 3, 99, "{agentvault:03}:k:counter"},
	} {
		assert.Equal(t, tt.s16, shardOf(tt.key, 16), "shardOf(%q, 16)", tt.key)
		assert.Equal(t, tt.s1k, shardOf(tt.key, 1024), "shardOf(%q, 1024)", tt.key)
		assert.Equal(t, tt.dataKey16, dataKey(tag(DefaultPrefix, tt.s16), tt.key), "dataKey(%q)", tt.key)
	}
	assert.Equal(t, "{p:00}", tag("p", 0), "tag")
	assert.Equal(t, "{p:123}", tag("p", 123), "tag")
	assert.Equal(t, "{p:07}:idx", indexKey(tag("p", 7)), "indexKey")
	assert.Equal(t, "{p:07}:meta", metaKey(tag("p", 7)), "metaKey")
}

func TestParseRecord(t *testing.T) {
	good := []struct {
		rec   string
		value string
		rev   int64
	}{
		{"1 1 0123456789abcdef ", "", 1},
		{"1 1712345678901234 0123456789abcdef value", "value", 1712345678901234},
		{"1 42 ffffffffffffffff  lead space\x00\xff", " lead space\x00\xff", 42},
		{"1 9223372036854775807 0000000000000000 x", "x", 9223372036854775807},
		{"2 0000000000000000042 0123456789abcdef v", "v", 42},
		{"2 9223372036854775807 0123456789abcdef ", "", 9223372036854775807},
	}
	for _, tt := range good {
		v, rev, err := parseRecord(tt.rec)
		if assert.NoError(t, err, "parseRecord(%q)", tt.rec) {
			assert.Equal(t, tt.value, string(v), "parseRecord(%q) value", tt.rec)
			assert.NotNil(t, v, "parseRecord(%q) value", tt.rec)
			assert.Equal(t, tt.rev, rev, "parseRecord(%q) rev", tt.rec)
		}
	}
	bad := []string{
		"", "1", "1 ", "2 1 0123456789abcdef x", "11 0123456789abcdef x", "1  0123456789abcdef x",
		"1 0 0123456789abcdef x", "1 01 0123456789abcdef x", "1 -1 0123456789abcdef x",
		"1 9223372036854775808 0123456789abcdef x", "1 12345678901234567890 0123456789abcdef x",
		"1 1 0123456789abcdef", "1 1 0123456789abcde x", "1 1 0123456789ABCDEF x", "1 1 0123456789abcdeg x",
		"1 1x 0123456789abcdef x", "plain value",
		"2 0000000000000000000 0123456789abcdef x", "2 000000000000000042 0123456789abcdef x",
	}
	for _, rec := range bad {
		_, _, err := parseRecord(rec)
		assert.ErrorIs(t, err, errMalformed, "parseRecord(%q)", rec)
	}
}

func TestLexRange(t *testing.T) {
	for _, tt := range []struct{ prefix, lo, hi string }{
		{"", "-", "+"},
		{"a", "[a", "(b"},
		{"a/", "[a/", "(a0"},
		{"\xc3", "[\xc3", "(\xc4"},
		{"a\xff", "[a\xff", "(b"},
		{"a\xff\xff", "[a\xff\xff", "(b"},
		{"\xff", "[\xff", "+"},
		{"[x", "[[x", "([y"},
		{"(", "[(", "()"},
		{"-", "[-", "(."},
	} {
		lo, hi := lexRange(tt.prefix)
		assert.Equal(t, tt.lo, lo, "lexRange(%q) lo", tt.prefix)
		assert.Equal(t, tt.hi, hi, "lexRange(%q) hi", tt.prefix)
	}
}

func TestWriteIDMakesRetriedPutIdempotent(t *testing.T) {
	t.Parallel()
	client := redistest.StartServer(t).Client(t)
	for _, inline := range []bool{false, true} {
		b, err := New(client, WithPrefix("idem"+strconv.FormatBool(inline)))
		require.NoError(t, err, "New")
		ctx := t.Context()
		s := shardOf("k", b.shards)
		keys := []string{dataKey(b.tags[s], "k"), b.idx[s], metaKey(b.tags[s])}
		run := func(expected, value, id string) []any {
			t.Helper()
			if inline {
				res, err := putManyScript.Run(ctx, client, []string{keys[1], keys[2], keys[0]}, b.nstr, expected, id, "k", value).Slice()
				require.NoError(t, err, "putManyScript")
				return res
			}
			staging := stagingKey(b.tags[s], id)
			require.NoError(t, client.Set(ctx, staging, stagedRecord(id, []byte(value)), stagingTTL).Err(), "stage")
			res, err := putScript.Run(ctx, client, append(keys, staging), expected, "", id, "k", b.nstr).Slice()
			require.NoError(t, err, "putScript")
			return res
		}

		first := run("0", "v1", "00000000000000aa")
		require.Equal(t, int64(statusOK), first[0], "first attempt")
		// The same call again, as go-redis retries it after a lost reply: the
		// earlier attempt's revision, not a conflict, and nothing rewritten.
		again := run("0", "v1", "00000000000000aa")
		assert.Equal(t, first, again, "retried attempt (inline %v)", inline)
		// Another call with the same stale expectation conflicts.
		other := run("0", "v2", "00000000000000bb")
		assert.Equal(t, []any{int64(statusConflict), first[1]}, other, "other writer")

		v, rev, err := b.Get(ctx, "k")
		require.NoError(t, err, "Get")
		assert.Equal(t, "v1", string(v), "Get value")
		assert.Equal(t, first[1], strconv.FormatInt(rev, 10), "Get rev")
		rec, err := client.Get(ctx, keys[0]).Result()
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("2 %019d 00000000000000aa v1", rev), rec, "the stored record (inline %v)", inline)
	}
}

func TestLayoutMismatch(t *testing.T) {
	t.Parallel()
	client := redistest.StartServer(t).Client(t)
	ctx := t.Context()
	b16, err := New(client, WithPrefix("mix"))
	require.NoError(t, err, "New")
	b1, err := New(client, WithPrefix("mix"), WithIndexShards(1))
	require.NoError(t, err, "New")

	// "a" is in shard 12 of 16; with one shard everything is in shard 00.
	// Write shard 00 through b16 with a key that lives there.
	var k00 string
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t"} {
		if shardOf(k, 16) == 0 {
			k00 = k
			break
		}
	}
	require.NotEmpty(t, k00, "a key of shard 0")
	_, err = b16.Put(ctx, k00, []byte("x"), 0)
	require.NoError(t, err, "Put(%q) through 16 shards", k00)

	_, err = b1.Put(ctx, "other", []byte("x"), 0)
	require.Error(t, err, "Put through 1 shard")
	assert.Contains(t, err.Error(), "written with 16 index shards, this Backend uses 1", "Put error")
	err = b1.Delete(ctx, k00, 0)
	assert.Contains(t, err.Error(), "written with 16 index shards", "Delete error")
}

func TestMalformedRecord(t *testing.T) {
	t.Parallel()
	client := redistest.StartServer(t).Client(t)
	ctx := t.Context()
	b, err := New(client, WithPrefix("bad"))
	require.NoError(t, err, "New")
	require.NoError(t, client.Set(ctx, b.dataKey("k"), "not a record", 0).Err(), "SET")

	_, _, err = b.Get(ctx, "k")
	assert.ErrorIs(t, err, errMalformed, "Get")
	_, err = b.Put(ctx, "k", []byte("v"), 0)
	assert.ErrorIs(t, err, errMalformed, "Put")
	err = b.Delete(ctx, "k", 0)
	assert.ErrorIs(t, err, errMalformed, "Delete")
	_, err = b.GetMany(ctx, []string{"k"})
	assert.ErrorIs(t, err, errMalformed, "GetMany")
	assert.False(t, errors.Is(err, backend.ErrNotFound), "malformed is not ErrNotFound")

	// A key of another type is reported, not misread.
	require.NoError(t, client.HSet(ctx, b.dataKey("h"), "f", "v").Err(), "HSET")
	_, _, err = b.Get(ctx, "h")
	assert.ErrorContains(t, err, "WRONGTYPE", "Get of a hash")
	_, err = b.Put(ctx, "h", []byte("v"), 0)
	assert.ErrorContains(t, err, "WRONGTYPE", "Put over a hash")
}

func TestStringHasNoPassword(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t, redistest.WithPassword(testPassword))
	b, err := Open("redis://:"+testPassword+"@"+srv.Addr+"/0", WithPrefix("str"))
	require.NoError(t, err, "Open with the right password")
	defer b.Close()
	for _, s := range []string{b.String(), b.GoString(), sprint(b)} {
		assert.NotContains(t, s, testPassword, "String")
		assert.Contains(t, s, srv.Addr, "String names the server")
		assert.Contains(t, s, `prefix "str"`, "String names the prefix")
	}
	_, err = b.Put(context.Background(), "k", []byte("v"), 0)
	require.NoError(t, err, "Put with the right password")

	client := srv.Client(t)
	b2, err := New(client)
	require.NoError(t, err, "New")
	assert.Equal(t, `redisbackend(redis `+srv.Addr+` db 0, prefix "agentvault")`, b2.String(), "String")
	require.NoError(t, b2.Close(), "Close")
	// Close of a Backend from New leaves the caller's client open.
	require.NoError(t, client.Ping(t.Context()).Err(), "client after Close")
}

func sprint(b *Backend) string {
	var sb strings.Builder
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		sb.WriteString(fmt.Sprintf(f, b))
	}
	return sb.String()
}

// TestRevisionClock checks the revision scheme: revisions are server
// microseconds, and the shard clock keeps them growing when TIME is behind
// (a clock step back, a failover to a slower machine), across Delete.
func TestRevisionClock(t *testing.T) {
	t.Parallel()
	client := redistest.StartServer(t).Client(t)
	b, err := New(client, WithPrefix("clock"))
	require.NoError(t, err, "New")
	ctx := t.Context()
	meta := metaKey(b.tags[shardOf("k", b.shards)])

	before := time.Now().UnixMicro()
	r1, err := b.Put(ctx, "k", []byte("v"), 0)
	require.NoError(t, err, "Put")
	assert.InDelta(t, before, r1, float64(time.Minute.Microseconds()), "first revision is the server's TIME in microseconds")

	// The server's clock falls an hour behind the shard clock.
	ahead := r1 + time.Hour.Microseconds()
	require.NoError(t, client.HSet(ctx, meta, "clock", ahead).Err(), "HSET clock")
	r2, err := b.Put(ctx, "k", []byte("w"), r1)
	require.NoError(t, err, "Put")
	assert.Equal(t, ahead+1, r2, "revision after the clock fell behind")

	// Across Delete and re-create, the shard clock still wins.
	require.NoError(t, b.Delete(ctx, "k", r2), "Delete")
	r3, err := b.Put(ctx, "k", []byte("x"), 0)
	require.NoError(t, err, "Put after Delete")
	assert.Equal(t, r2+1, r3, "revision after Delete and re-create")
	// Other keys of the shard share the clock.
	var other string
	for i := 0; other == ""; i++ {
		if k := fmt.Sprintf("o%d", i); shardOf(k, b.shards) == shardOf("k", b.shards) {
			other = k
		}
	}
	r4, err := b.Put(ctx, other, []byte("y"), 0)
	require.NoError(t, err, "Put(%q)", other)
	assert.Equal(t, r3+1, r4, "revision of another key of the shard")

	// If the clock is lost, the key's own revision still moves forward.
	require.NoError(t, client.Del(ctx, meta).Err(), "DEL meta")
	r5, err := b.Put(ctx, "k", []byte("z"), r3)
	require.NoError(t, err, "Put after losing the clock")
	assert.Equal(t, r3+1, r5, "revision after losing the clock")
	shards, err := client.HGet(ctx, meta, "shards").Result()
	require.NoError(t, err, "HGET shards")
	assert.Equal(t, "16", shards, "the clock's hash records the shard count again")
}

// TestStagedWrites: a Put of a value over inlineMax bytes stages its
// record and the script renames it into place; a smaller one goes inline
// and is stored as the same record (layout 2, zero-padded revision, the
// value as given, no expiry); nothing staged is left behind by a write, a
// conflict or a malformed record; layout 1 records (written by earlier
// versions) are read and replaced on their next Put.
func TestStagedWrites(t *testing.T) {
	t.Parallel()
	client := redistest.StartServer(t).Client(t)
	ctx := t.Context()
	for _, size := range []int{5, inlineMax, inlineMax + 1, 64 << 10} {
		b, err := New(client, WithPrefix("st"+strconv.Itoa(size)))
		require.NoError(t, err, "New")
		value := strings.Repeat("v", size-5) + "value"
		rev, err := b.Put(ctx, "k", []byte(value), 0)
		require.NoError(t, err, "Put")
		rec, err := client.Get(ctx, b.dataKey("k")).Result()
		require.NoError(t, err)
		assert.Regexp(t, `^2 [0-9]{19} [0-9a-f]{16} $`, rec[:39], "layout 2 header, size %d", size)
		assert.Equal(t, fmt.Sprintf("2 %019d ", rev), rec[:22], "layout 2 header")
		assert.Equal(t, value, rec[39:], "value stored as given, size %d", size)
		ttl, err := client.PTTL(ctx, b.dataKey("k")).Result()
		require.NoError(t, err)
		assert.Equal(t, time.Duration(-1), ttl, "the record keeps no expiry from its staging key")
		// An expiry set on a record by hand is dropped by the next Put.
		require.NoError(t, client.Expire(ctx, b.dataKey("k"), time.Hour).Err())
		rev, err = b.Put(ctx, "k", []byte(value), rev)
		require.NoError(t, err, "Put over a record with an expiry")
		ttl, err = client.PTTL(ctx, b.dataKey("k")).Result()
		require.NoError(t, err)
		assert.Equal(t, time.Duration(-1), ttl, "size %d: the expiry is gone", size)
		_, err = b.Put(ctx, "k", []byte(value+"stale"), rev+1)
		assert.ErrorIs(t, err, backend.ErrConflict, "Put with a wrong revision")
		_, err = b.Put(ctx, "k", []byte(value+"again"), 0)
		assert.ErrorIs(t, err, backend.ErrConflict, "create over an existing key")
		require.NoError(t, client.Set(ctx, b.dataKey("bad"), "junk", 0).Err())
		_, err = b.Put(ctx, "bad", []byte(value), 0)
		assert.ErrorIs(t, err, errMalformed, "Put over a malformed record")
		res, err := b.PutMany(ctx, []backend.Write{{Key: "m1", Value: []byte(value)}, {Key: "k", Value: []byte(value)}, {Key: "bad", Value: []byte(value)}})
		require.NoError(t, err, "PutMany")
		assert.NoError(t, res[0].Err)
		assert.ErrorIs(t, res[1].Err, backend.ErrConflict, "PutMany: create over an existing key")
		assert.ErrorIs(t, res[2].Err, errMalformed, "PutMany over a malformed record")
		got, _, err := b.Get(ctx, "m1")
		require.NoError(t, err)
		assert.Equal(t, value, string(got))
		staged, err := client.Keys(ctx, "*:t:*").Result()
		require.NoError(t, err)
		assert.Empty(t, staged, "staged records left behind")
	}
	b, err := New(client, WithPrefix("st"))
	require.NoError(t, err, "New")

	// Layout 1.
	require.NoError(t, client.Set(ctx, b.dataKey("old"), "1 1700000000000000 0123456789abcdef old value", 0).Err())
	val, got, err := b.Get(ctx, "old")
	require.NoError(t, err, "Get of a layout 1 record")
	assert.Equal(t, "old value", string(val))
	assert.EqualValues(t, 1700000000000000, got)
	items, err := b.GetMany(ctx, []string{"old"})
	require.NoError(t, err)
	assert.Equal(t, "old value", string(items[0].Value))
	rev2, err := b.Put(ctx, "old", []byte("new"), got)
	require.NoError(t, err, "Put over a layout 1 record")
	assert.Greater(t, rev2, got)
	val, got, err = b.Get(ctx, "old")
	require.NoError(t, err)
	assert.Equal(t, "new", string(val))
	assert.Equal(t, rev2, got)
	require.NoError(t, client.Set(ctx, b.dataKey("old2"), "1 1700000000000001 0123456789abcdef x", 0).Err())
	require.NoError(t, b.Delete(ctx, "old2", 1700000000000001), "Delete of a layout 1 record")
}

// TestPutManyScript: one putManyScript call per shard decides each write
// as a single Put would: creates and updates land with increasing
// revisions above the shard clock and the replaced record; a stale
// expectation conflicts alone; every created key is indexed; the clock
// ends at the last revision; the same call retried (go-redis after a lost
// reply) returns the same revisions and rewrites nothing.
func TestPutManyScript(t *testing.T) {
	t.Parallel()
	client := redistest.StartServer(t).Client(t)
	ctx := t.Context()
	b, err := New(client, WithPrefix("pm"), WithIndexShards(1)) // every key in one shard: one call
	require.NoError(t, err)
	old, err := b.Put(ctx, "upd", []byte("before"), 0)
	require.NoError(t, err)
	_, err = b.Put(ctx, "stale", []byte("x"), 0)
	require.NoError(t, err)
	// Push the clock far ahead: revisions must still grow from it.
	meta := metaKey(b.tags[0])
	require.NoError(t, client.HSet(ctx, meta, "clock", "8000000000000000").Err())

	keys := []string{b.idx[0], meta}
	args := []any{b.nstr}
	add := func(key, expected, id, value string) {
		keys = append(keys, dataKey(b.tags[0], key))
		args = append(args, expected, id, key, value)
	}
	add("c1", "0", "00000000000000c1", "one")
	add("upd", strconv.FormatInt(old, 10), "000000000000000a", "after")
	add("stale", "0", "00000000000000bb", "no")
	add("c2", "0", "00000000000000c2", "two")
	res, err := putManyScript.Run(ctx, client, keys, args...).Slice()
	require.NoError(t, err)
	require.Len(t, res, 8)
	revs := []int64{}
	for i, st := range []int64{statusOK, statusOK, statusConflict, statusOK} {
		assert.Equal(t, st, res[2*i], "write %d status", i)
		r, err := strconv.ParseInt(res[2*i+1].(string), 10, 64)
		require.NoError(t, err)
		if st == statusOK {
			revs = append(revs, r)
		}
	}
	assert.Equal(t, []int64{8000000000000001, 8000000000000002, 8000000000000003}, revs, "from the clock, increasing")
	clock, err := client.HGet(ctx, meta, "clock").Result()
	require.NoError(t, err)
	assert.Equal(t, "8000000000000003", clock)
	for key, want := range map[string]string{"c1": "one", "upd": "after", "stale": "x", "c2": "two"} {
		v, _, err := b.Get(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, want, string(v), key)
	}
	rec, err := client.Get(ctx, dataKey(b.tags[0], "c2")).Result()
	require.NoError(t, err)
	assert.Equal(t, "2 0008000000000000003 00000000000000c2 two", rec, "the record a staged write would store")
	listed, err := b.List(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"c1", "c2", "stale", "upd"}, listed)

	again, err := putManyScript.Run(ctx, client, keys, args...).Slice()
	require.NoError(t, err)
	assert.Equal(t, res, again, "a retried call reports the same outcome")
	clock, err = client.HGet(ctx, meta, "clock").Result()
	require.NoError(t, err)
	assert.Equal(t, "8000000000000003", clock, "and writes nothing")

	// Through PutMany, over several shards and mixed sizes.
	b16, err := New(client, WithPrefix("pm16"))
	require.NoError(t, err)
	var writes []backend.Write
	for i := range 40 {
		size := 10
		if i%7 == 0 {
			size = inlineMax + 1
		}
		writes = append(writes, backend.Write{Key: fmt.Sprintf("k%02d", i), Value: []byte(strings.Repeat(strconv.Itoa(i%10), size))})
	}
	out, err := b16.PutMany(ctx, writes)
	require.NoError(t, err)
	for i, w := range writes {
		require.NoError(t, out[i].Err, w.Key)
		v, rev, err := b16.Get(ctx, w.Key)
		require.NoError(t, err)
		assert.Equal(t, w.Value, v, w.Key)
		assert.Equal(t, out[i].Rev, rev, w.Key)
		writes[i].ExpectedRev = rev
		writes[i].Value = []byte("updated")
	}
	writes[3].ExpectedRev++ // stale
	out, err = b16.PutMany(ctx, writes)
	require.NoError(t, err)
	for i, w := range writes {
		if i == 3 {
			assert.ErrorIs(t, out[i].Err, backend.ErrConflict)
			continue
		}
		require.NoError(t, out[i].Err, w.Key)
		assert.Greater(t, out[i].Rev, w.ExpectedRev, w.Key)
	}
	listed, err = b16.List(ctx, "")
	require.NoError(t, err)
	assert.Len(t, listed, 40)
}
