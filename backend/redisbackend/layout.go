package redisbackend

import (
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/agentvault/agentvault/backend"
)

// This file holds the stored layout, which is frozen: processes of different
// versions share one Redis, so changing any of it needs a new record format
// version (the leading "1") and a migration.
//
// For index shard s (0 <= s < N) of prefix P, with S the decimal s padded to
// two digits ("07"), three Redis keys share the hash tag {P:S}:
//
//	{P:S}:k:<key>   string   the record of <key>, for every key with shard(key) == s
//	{P:S}:idx       zset     every <key> of the shard, score 0, for ZRANGEBYLEX
//	{P:S}:meta      hash     clock: the last revision handed out in the shard
//	                         shards: N, to catch processes configured with another N
//
// shard(key) = FNV-1a-64(key) mod N. A record (layout 2) is a hash:
//
//	r   the revision, decimal
//	w   the write id, 16 lowercase hex digits
//	v   the value bytes
//
// so that a write sets the value as it came, never copying or
// concatenating it inside the script. Layout 1, written by earlier
// versions and still read (and replaced by layout 2 on the key's next
// Put), is a string:
//
//	"1 " <revision, decimal> " " <write id, 16 lowercase hex digits> " " <value bytes>
//
// The write id is random per Put call; it makes a Put that go-redis retries
// after a lost reply idempotent (see putScript).

// recordVersion is the first byte of every record.
const recordVersion = '1'

// shardOf returns the index shard of key: FNV-1a-64(key) mod n.
func shardOf(key string, n int) int {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= prime64
	}
	return int(h % uint64(n))
}

// tag returns "{prefix:SS}" for shard s.
func tag(prefix string, s int) string {
	ss := strconv.Itoa(s)
	if len(ss) < 2 {
		ss = "0" + ss
	}
	return "{" + prefix + ":" + ss + "}"
}

func dataKey(tag, key string) string { return tag + ":k:" + key }
func indexKey(tag string) string     { return tag + ":idx" }
func metaKey(tag string) string      { return tag + ":meta" }

// errMalformed is returned for a stored record this package cannot parse.
var errMalformed = fmt.Errorf("%w: malformed record", backend.ErrCorrupt)

// parseRecord splits a stored record into its value (a fresh copy) and its
// revision.
func parseRecord(rec string) (value []byte, rev int64, err error) {
	if len(rec) < 2 || rec[0] != recordVersion || rec[1] != ' ' {
		return nil, 0, errMalformed
	}
	i := 2
	for i < len(rec) && rec[i] >= '0' && rec[i] <= '9' {
		i++
	}
	if i == 2 || i-2 > 19 || rec[2] == '0' || i >= len(rec) || rec[i] != ' ' {
		return nil, 0, errMalformed
	}
	rev, err = strconv.ParseInt(rec[2:i], 10, 64)
	if err != nil || rev <= 0 {
		return nil, 0, errMalformed
	}
	i++
	const idLen = 16
	if len(rec) < i+idLen+1 || rec[i+idLen] != ' ' {
		return nil, 0, errMalformed
	}
	for _, c := range []byte(rec[i : i+idLen]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return nil, 0, errMalformed
		}
	}
	return []byte(rec[i+idLen+1:]), rev, nil
}

// Script results: {status, revision}.
const (
	statusOK       = 0
	statusConflict = 1 // revision is the current one, "0" if the key is missing
	statusNotFound = 2
)

// Error-reply codes of the scripts, each followed by a space and a detail
// (Redis prefixes a code-less reply with ERR).
const (
	replyLayout    = "AVLAYOUT"    // followed by the stored shard count
	replyMalformed = "AVMALFORMED" // the stored record has no valid header
	replyExhausted = "AVEXHAUSTED" // revisions reached 2^53
)

// putScript stores a record if the key's revision is the expected one.
//
//	KEYS: data, index, meta
//	ARGV: expected revision ("0": create only), value, write id, key, shard count
//
// It reads everything before its first write, so a script denied by
// maxmemory writes nothing, and Redis runs it atomically, so the data key,
// the index and the clock never disagree.
//
// The new revision is max(TIME in microseconds, clock+1, old+1), where clock
// is the last revision handed out in the shard. The shard clock survives
// Delete, so a re-created key never gets a revision it had before, even if
// the server's clock steps back or a failover lands on a machine whose clock
// is behind; TIME keeps revisions unique even if the meta key is lost.
// Revisions stay below 2^53 until the year 2255, so Lua's doubles hold them
// exactly; they are compared as decimal strings.
//
// If the record already carries this call's write id, an earlier attempt of
// the same Put has been applied (go-redis retried after losing the reply):
// its revision is returned as success instead of a false conflict.
var putScript = redis.NewScript(headerLua + `
local meta = redis.call('HMGET', KEYS[3], 'clock', 'shards')
if meta[2] and meta[2] ~= ARGV[5] then
  return redis.error_reply('AVLAYOUT ' .. meta[2])
end
local rev, id, legacy = header(KEYS[1])
if rev == nil then
  return redis.error_reply('AVMALFORMED stored record has no valid header')
end
local old = false
if rev then
  if id == ARGV[3] then
    return {0, rev}
  end
  if rev ~= ARGV[1] then
    return {1, rev}
  end
  old = tonumber(rev)
elseif ARGV[1] ~= '0' then
  return {1, '0'}
end
local t = redis.call('TIME')
rev = tonumber(t[1]) * 1000000 + tonumber(t[2])
local clock = tonumber(meta[1])
if clock and clock >= rev then
  rev = clock + 1
end
if old and old >= rev then
  rev = old + 1
end
if rev >= 9007199254740992 then
  return redis.error_reply('AVEXHAUSTED revisions reached 2^53')
end
local revs = string.format('%.0f', rev)
if legacy then
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'r', revs, 'w', ARGV[3], 'v', ARGV[2])
redis.call('HSET', KEYS[3], 'clock', revs, 'shards', ARGV[5])
redis.call('ZADD', KEYS[2], 0, ARGV[4])
return {0, revs}
`)

// headerLua defines header(key): the revision and write id of the record
// at key, and whether it has layout 1 (a string, see parseRecord); false
// when the key does not exist, nil when the record is malformed. It reads
// the header only, never the value.
const headerLua = `
local function header(key)
  local f = redis.pcall('HMGET', key, 'r', 'w')
  if f['err'] then
    local hdr = redis.call('GETRANGE', key, 0, 63)
    local rev, id = string.match(hdr, '^1 (%d+) (%x+) ')
    if not rev then
      return nil
    end
    return rev, id, true
  end
  if not f[1] then
    if f[2] or redis.call('EXISTS', key) == 1 then
      return nil -- a hash that is not a record
    end
    return false
  end
  if not string.match(f[1], '^[1-9]%d*$') or not f[2] then
    return nil
  end
  return f[1], f[2], false
end
`

// deleteScript removes a record and its index entry if the key's revision
// is the expected one.
//
//	KEYS: data, index, meta
//	ARGV: expected revision ("0": any), key, shard count
//
// The shard clock is left alone: it is already at least the deleted
// revision, so the key's next revision is larger.
var deleteScript = redis.NewScript(headerLua + `
local shards = redis.call('HGET', KEYS[3], 'shards')
if shards and shards ~= ARGV[3] then
  return redis.error_reply('AVLAYOUT ' .. shards)
end
local rev = header(KEYS[1])
if rev == nil then
  return redis.error_reply('AVMALFORMED stored record has no valid header')
end
if not rev then
  return {2, '0'}
end
if ARGV[1] ~= '0' and rev ~= ARGV[1] then
  return {1, rev}
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return {0, rev}
`)

// lexRange returns the ZRANGEBYLEX bounds of the keys that start with
// prefix: from "[prefix" (inclusive) to "(" + the smallest string greater
// than every string with that prefix (exclusive), or "-" and "+" for the
// whole index.
func lexRange(prefix string) (lo, hi string) {
	if prefix == "" {
		return "-", "+"
	}
	lo = "[" + prefix
	// The successor of the prefix: drop trailing 0xff bytes, then increment
	// the last byte. Keys are UTF-8, which never contains 0xff, but the
	// bound is exact for any bytes.
	end := []byte(prefix)
	for len(end) > 0 && end[len(end)-1] == 0xff {
		end = end[:len(end)-1]
	}
	if len(end) == 0 {
		return lo, "+"
	}
	end[len(end)-1]++
	return lo, "(" + string(end)
}

// parseHash turns the fields r, w, v of a layout 2 record (HMGET order)
// into its value and revision; ok is false when the key does not exist.
func parseHash(f []any) (value []byte, rev int64, ok bool, err error) {
	if len(f) != 3 {
		return nil, 0, false, errMalformed
	}
	if f[0] == nil && f[1] == nil && f[2] == nil {
		return nil, 0, false, nil // missing, or a hash of other fields (see Get)
	}
	revs, ok1 := f[0].(string)
	id, ok2 := f[1].(string)
	val, ok3 := f[2].(string)
	if !ok1 || !ok2 || !ok3 || len(id) != 16 || revs == "" || revs[0] == '0' || len(revs) > 19 {
		return nil, 0, false, errMalformed
	}
	rev, perr := strconv.ParseInt(revs, 10, 64)
	if perr != nil || rev <= 0 {
		return nil, 0, false, errMalformed
	}
	return []byte(val), rev, true, nil
}
