package redisbackend

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
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
// shard(key) = FNV-1a-64(key) mod N. A record (layout 2) is
//
//	"2 " <revision, 19 decimal digits, zero-padded> " " <write id, 16 lowercase hex digits> " " <value bytes>
//
// The client builds it (revision zero) and SETs it, with an expiry, at the
// staging key {P:S}:t:<write id>, in the same pipeline as the script: the
// script checks the revision, writes the new one into the staged record in
// place (SETRANGE), RENAMEs it over the data key and removes the expiry it
// carried over (PERSIST). The value never passes
// through Lua (a 64 KiB script argument alone costs several times a SET),
// and is never copied or concatenated on the server. Layout 1, written by
// earlier versions, is read as well and replaced on the key's next Put:
//
//	"1 " <revision, decimal> " " <write id, 16 lowercase hex digits> " " <value bytes>
//
// A value of at most inlineMax bytes is not staged: it is an argument of
// putManyScript, which builds the same record around it and SETs it at
// the data key (one command instead of a staging SET and a RENAME; for a
// small value the argument costs less than the staging).
//
// The write id is random per Put call; it makes a Put that go-redis retries
// after a lost reply idempotent (see putScript).
//
// Besides putScript and deleteScript, condAppendScript (GetAppend) reads
// a record's header, "[12] <revision> ", to compare the revision, and
// readAppendScript (GetAppend of small records) the whole record.

// Record layouts: the first byte of every record.
const (
	recordVersion1 = '1'
	recordVersion  = '2'
	revDigits      = 19 // layout 2's zero-padded revision
)

// stagingTTL is how long a staged record outlives a Put that never ran its
// script (a connection lost in between).
const stagingTTL = time.Minute

func stagingKey(tag, id string) string { return tag + ":t:" + id }

// stagedRecord builds the layout 2 record of value for write id, with a
// zero revision for the script to fill in.
func stagedRecord(id string, value []byte) []byte {
	return appendStaged(make([]byte, 0, 2+revDigits+1+len(id)+1+len(value)), id, value)
}

func appendStaged(b []byte, id string, value []byte) []byte {
	b = append(b, recordVersion, ' ')
	for range revDigits {
		b = append(b, '0')
	}
	b = append(b, ' ')
	b = append(b, id...)
	b = append(b, ' ')
	return append(b, value...)
}

// stagedPool holds staged-record buffers for reuse. A fresh buffer per
// staged Put costs more than the SET that sends it: a large allocation is
// zeroed and its pages faulted in (a 64 KiB update measured 1.5 to 2.7
// times a raw SET for the allocation alone).
var stagedPool sync.Pool // *[]byte

// stagedPoolMax is the largest buffer kept in stagedPool.
const stagedPoolMax = 4 << 20

// newStaged is stagedRecord in a buffer from stagedPool; give it back with
// releaseStaged once the command that sends it has returned (go-redis
// writes a command's arguments before the call returns and keeps no
// reference to them).
func newStaged(id string, value []byte) *[]byte {
	n := 2 + revDigits + 1 + len(id) + 1 + len(value)
	p, _ := stagedPool.Get().(*[]byte)
	if p == nil || cap(*p) < n {
		p = new([]byte)
		*p = make([]byte, 0, n)
	}
	*p = appendStaged((*p)[:0], id, value)
	return p
}

// releaseStaged clears a buffer of newStaged (no value lingers in a pooled
// buffer) and returns it to the pool. p may be nil.
func releaseStaged(p *[]byte) {
	if p == nil {
		return
	}
	clear(*p)
	*p = (*p)[:0]
	if cap(*p) <= stagedPoolMax {
		stagedPool.Put(p)
	}
}

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
var errMalformed = errors.New("malformed record")

// errExhausted is returned when a shard's revisions reached 2^53 (Lua's doubles
// would no longer hold them exactly).
var errExhausted = errors.New("revisions exhausted")

// parseRecord splits a stored record into its value (a fresh copy) and its
// revision.
func parseRecord(rec string) (value []byte, rev int64, err error) {
	if len(rec) < 2 || (rec[0] != recordVersion1 && rec[0] != recordVersion) || rec[1] != ' ' {
		return nil, 0, errMalformed
	}
	i := 2
	for i < len(rec) && rec[i] >= '0' && rec[i] <= '9' {
		i++
	}
	if i == 2 || i-2 > revDigits || i >= len(rec) || rec[i] != ' ' ||
		(rec[0] == recordVersion1 && rec[2] == '0') || (rec[0] == recordVersion && i-2 != revDigits) {
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
	// putManyScript only, for one write of the batch:
	statusMalformed = 3 // the stored record has no valid header
	statusExhausted = 4 // revisions reached 2^53
)

// Error-reply codes of the scripts, each followed by a space and a detail
// (Redis prefixes a code-less reply with ERR).
const (
	replyLayout    = "AVLAYOUT"    // followed by the stored shard count
	replyMalformed = "AVMALFORMED" // the stored record has no valid header
	replyExhausted = "AVEXHAUSTED" // revisions reached 2^53
)

// putScript stores a staged record if the key's revision is the expected
// one, and deletes the staged record otherwise.
//
//	KEYS: data, index, meta, staging
//	ARGV: expected revision ("0": create only), unused, write id, key, shard count
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
var putScript = redis.NewScript(`
local meta = redis.call('HMGET', KEYS[3], 'clock', 'shards')
if meta[2] and meta[2] ~= ARGV[5] then
  return redis.error_reply('AVLAYOUT ' .. meta[2])
end
local hdr = redis.call('GETRANGE', KEYS[1], 0, 63)
local old = false
if hdr ~= '' then
  local rev, id = string.match(hdr, '^[12] (%d+) (%x+) ')
  if not rev then
    redis.call('DEL', KEYS[4])
    return redis.error_reply('AVMALFORMED stored record has no valid header')
  end
  rev = string.format('%.0f', tonumber(rev))
  if id == ARGV[3] then
    redis.call('DEL', KEYS[4])
    return {0, rev}
  end
  if rev ~= ARGV[1] then
    redis.call('DEL', KEYS[4])
    return {1, rev}
  end
  old = tonumber(rev)
elseif ARGV[1] ~= '0' then
  redis.call('DEL', KEYS[4])
  return {1, '0'}
end
if redis.call('EXISTS', KEYS[4]) == 0 then
  return redis.error_reply('AVSTAGING the staged record is gone')
end
local t = redis.call('TIME')
local rev = tonumber(t[1]) * 1000000 + tonumber(t[2])
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
redis.call('SETRANGE', KEYS[4], 2, string.format('%019.0f', rev))
redis.call('RENAME', KEYS[4], KEYS[1])
redis.call('PERSIST', KEYS[1])
redis.call('HSET', KEYS[3], 'clock', revs, 'shards', ARGV[5])
redis.call('ZADD', KEYS[2], 0, ARGV[4])
return {0, revs}
`)

// inlineMax is the largest value a Put or PutMany passes to putManyScript
// (inline) instead of staging it.
const inlineMax = 4096

// putManyScript stores values passed inline (a Put's, or a PutMany's for
// one index shard: one call instead of one per key), building for each the
// layout 2 record (the same bytes a staged write stores) and SETting it at
// its data key if the key's revision is the expected one.
//
//	KEYS: index, meta, then the data key of each write
//	ARGV: shard count, then for each write: expected revision ("0": create
//	      only), write id, key, value
//
// Each write is decided as putScript decides it (the same revision rule;
// a retried call whose record is already stored, same write id, gets that
// record's revision), with one reply pair {status, revision} per write, in
// order; a stored record without a valid header is statusMalformed and
// revisions at 2^53 statusExhausted, for that write alone. All reads come
// before the first write. The writes get increasing revisions from
// max(TIME, clock+1), each also above the record it replaces, and the
// clock moves to the last one. SET drops any expiry, as putScript's
// PERSIST does.
var putManyScript = redis.NewScript(`
local meta = redis.call('HMGET', KEYS[2], 'clock', 'shards')
if meta[2] and meta[2] ~= ARGV[1] then
  return redis.error_reply('AVLAYOUT ' .. meta[2])
end
local n = #KEYS - 2
local out, olds = {}, {}
for i = 1, n do
  local a = 4 * i - 2
  local hdr = redis.call('GETRANGE', KEYS[i + 2], 0, 63)
  local st, r = false, '0'
  if hdr ~= '' then
    local rev, id = string.match(hdr, '^[12] (%d+) (%x+) ')
    if not rev then
      st = 3
    else
      r = string.format('%.0f', tonumber(rev))
      if id == ARGV[a + 1] then
        st = 0
      elseif r ~= ARGV[a] then
        st = 1
      else
        olds[i] = tonumber(r)
      end
    end
  elseif ARGV[a] ~= '0' then
    st = 1
  end
  out[2 * i - 1], out[2 * i] = st, r
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local clock = tonumber(meta[1])
local members = {}
for i = 1, n do
  if out[2 * i - 1] == false then
    local a = 4 * i - 2
    local rev = now
    if clock and clock >= rev then
      rev = clock + 1
    end
    if olds[i] and olds[i] >= rev then
      rev = olds[i] + 1
    end
    if rev >= 9007199254740992 then
      out[2 * i - 1] = 4
    else
      redis.call('SET', KEYS[i + 2], '2 ' .. string.format('%019.0f', rev) .. ' ' .. ARGV[a + 1] .. ' ' .. ARGV[a + 3])
      clock = rev
      out[2 * i - 1], out[2 * i] = 0, string.format('%.0f', rev)
      members[#members + 1] = '0'
      members[#members + 1] = ARGV[a + 2]
    end
  end
end
if #members > 0 then
  redis.call('HSET', KEYS[2], 'clock', string.format('%.0f', clock), 'shards', ARGV[1])
  redis.call('ZADD', KEYS[1], unpack(members))
end
return out
`)

// deleteScript removes a record and its index entry if the key's revision
// is the expected one.
//
//	KEYS: data, index, meta
//	ARGV: expected revision ("0": any), key, shard count
//
// The shard clock is left alone: it is already at least the deleted
// revision, so the key's next revision is larger.
var deleteScript = redis.NewScript(`
local shards = redis.call('HGET', KEYS[3], 'shards')
if shards and shards ~= ARGV[3] then
  return redis.error_reply('AVLAYOUT ' .. shards)
end
local hdr = redis.call('GETRANGE', KEYS[1], 0, 63)
if hdr == '' then
  return {2, '0'}
end
local rev = string.match(hdr, '^[12] (%d+) ')
if not rev then
  return redis.error_reply('AVMALFORMED stored record has no valid header')
end
rev = string.format('%.0f', tonumber(rev))
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
