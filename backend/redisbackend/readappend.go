package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/agentvault/agentvault/backend"
)

var _ backend.ReadAppender = (*Backend)(nil)

// condAppendScript appends to a log if every record named is at its
// expected revision and the log ends with the expected record.
//
//	KEYS: the log, then the data key of each read
//	ARGV: the expected last record ("" for an empty log), the expected
//	      revision of each read (decimal, no leading zero), then the records
//
// A revision is compared as a digit string, the stored one without the
// leading zeros of layout 2: exact at any size (a Lua number holds
// integers exactly only up to 2^53).
//
// It returns 1 appended, 0 a revision differed or a record is missing
// (nothing appended), 2 the log's last record differed (nothing appended).
// It reads only each record's header (GETRANGE), never its value: GetAppend
// runs it in a MULTI with the GETs of the records, so the values are served
// by plain GETs of the same, atomic, state. It reads everything before its
// first write, so a script denied by maxmemory writes nothing. As in
// appendScript, a log already ending with this call's last record means an
// earlier attempt of the same call was applied (go-redis retried after
// losing the reply): it reports success.
//
// The data keys and the log have different hash tags, so this runs only on
// a single node (or a Sentinel master); on a Cluster GetAppend reads and
// then appends, in two round trips.
var condAppendScript = redis.NewScript(`
for i = 2, #KEYS do
  local hdr = redis.call('GETRANGE', KEYS[i], 0, 63)
  if string.match(hdr, '^[12] 0*(%d+) ') ~= ARGV[i] then
    return 0
  end
end
local last = redis.call('LINDEX', KEYS[1], -1)
if last == false then last = '' end
if last ~= ARGV[1] then
  if last == ARGV[#ARGV] then return 1 end
  return 2
end
for i = #KEYS + 1, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 1
`)

// readAppendScript is condAppendScript for small records: it GETs the
// records itself and returns them with its status, so that GetAppend is one
// EVALSHA, without MULTI, EXEC and separate GETs. A large value through Lua
// costs more than a plain GET (a copy into Lua and one out of it), so
// GetAppend uses it only when the reads are expected to be small
// (ReadCond.Size, readInlineMax).
//
//	KEYS: the log, then the data key of each read
//	ARGV: as condAppendScript's
//
// It returns {status, record of each read (nil for a missing key)}, the
// status as condAppendScript's; the records are read, in the same atomic
// step, whatever the status. It reads everything before its first write,
// and compares revisions as digit strings, as condAppendScript does.
var readAppendScript = redis.NewScript(`
local out = {0}
local match = true
for i = 2, #KEYS do
  local rec = redis.call('GET', KEYS[i])
  out[i] = rec
  if match and (not rec or string.match(rec, '^[12] 0*(%d+) ') ~= ARGV[i]) then
    match = false
  end
end
if not match then return out end
local last = redis.call('LINDEX', KEYS[1], -1)
if last == false then last = '' end
if last ~= ARGV[1] then
  if last == ARGV[#ARGV] then out[1] = 1 else out[1] = 2 end
  return out
end
for i = #KEYS + 1, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
out[1] = 1
return out
`)

// readInlineMax is the largest expected size of all values together
// (the sum of the ReadCond.Size) a GetAppend reads through
// readAppendScript: every GET in Lua costs more than a plain one, so a
// batch of many reads goes the MULTI way too.
const readInlineMax = 4096

// GetAppend reads the records of reads and appends records to the log if
// each is at its expected revision (backend.ReadAppender). On a single
// node or through Sentinel it costs one round trip, a MULTI holding an
// EVALSHA that checks the revisions and appends and the GETs of the records
// (plus one SADD for the log's first append, as Append; and once per
// server, the script's source); on a Cluster (or a Ring) the records and
// the log live on different slots, so it pipelines the GETs and then
// Appends: two round trips. Every record read goes through the lost-write
// detection Get applies (ErrLostWrite, confirmation of this Backend's
// unconfirmed writes); such an error is the read's result, and the records
// may have been appended.
func (b *Backend) GetAppend(ctx context.Context, reads []backend.ReadCond, name string, last []byte, records [][]byte) ([]backend.ReadResult, bool, error) {
	if err := b.checkLog(ctx, name); err != nil {
		return nil, false, logErr("get and append", name, err)
	}
	if err := backend.ValidateRecords(records); err != nil {
		return nil, false, logErr("get and append", name, err)
	}
	if len(records) == 0 || len(reads) == 0 {
		return nil, false, logErr("get and append", name, errors.New("no records or no reads"))
	}
	for _, r := range reads {
		if err := backend.ValidateKey(r.Key); err != nil {
			return nil, false, opErr("get and append", r.Key, err)
		}
		if r.Rev <= 0 {
			return nil, false, opErr("get and append", r.Key, fmt.Errorf("%w: expected revision %d, want > 0", backend.ErrInvalidKey, r.Rev))
		}
	}
	if _, single := b.client.(*redis.Client); !single {
		return b.getThenAppend(ctx, reads, name, last, records)
	}
	if last == nil {
		if err := b.client.SAdd(ctx, b.logsKey(), name).Err(); err != nil {
			return nil, false, logErr("get and append", name, err)
		}
	}
	keys := make([]string, 1+len(reads))
	keys[0] = b.logKey(name)
	args := make([]any, 1+len(reads)+len(records))
	args[0] = last
	small, total := true, 0
	for i, r := range reads {
		keys[1+i] = b.dataKey(r.Key)
		args[1+i] = strconv.FormatInt(r.Rev, 10)
		total += r.Size
		small = small && r.Size > 0 && total <= readInlineMax
	}
	for i, r := range records {
		args[1+len(reads)+i] = r
	}
	var (
		status int64
		recs   []any
		gets   []*redis.StringCmd
		sent   int64
		err    error
	)
	for _, source := range []bool{false, true} {
		// source: the server does not hold the script yet (a restart,
		// a failover): send its source, once.
		sent = b.marksNow()
		if small {
			status, recs, err = b.readAppend(ctx, keys, args, source)
		} else {
			status, gets, err = b.condAppend(ctx, keys, args, source)
		}
		if !isNoScript(err) {
			break
		}
	}
	if err != nil {
		return nil, false, logErr("get and append", name, err)
	}
	if status == 2 {
		return nil, false, logErr("get and append", name, backend.ErrConflict)
	}
	out := make([]backend.ReadResult, len(reads))
	for i, r := range reads {
		var rec string
		if small {
			rec, err = recordReply(recs[i])
		} else {
			rec, err = gets[i].Result()
		}
		switch {
		case errors.Is(err, redis.Nil):
			out[i].Err = opErr("get", r.Key, backend.ErrNotFound)
		case err != nil:
			out[i].Err = opErr("get", r.Key, err)
		default:
			out[i] = b.readResult(ctx, r.Key, rec, sent)
		}
	}
	return out, status == 1, nil
}

// readAppend runs readAppendScript (by its SHA, or its source when
// source): one command, one round trip. It returns the script's status
// and the replies of the records' GETs.
func (b *Backend) readAppend(ctx context.Context, keys []string, args []any, source bool) (int64, []any, error) {
	var c *redis.Cmd
	if source {
		c = readAppendScript.Eval(ctx, b.client, keys, args...)
	} else {
		c = readAppendScript.EvalSha(ctx, b.client, keys, args...)
	}
	reply, err := c.Slice()
	if err != nil {
		return 0, nil, err
	}
	if len(reply) != len(keys) {
		return 0, nil, fmt.Errorf("unexpected script reply of %d items, want %d", len(reply), len(keys))
	}
	status, ok := reply[0].(int64)
	if !ok || status < 0 || status > 2 {
		return 0, nil, fmt.Errorf("unexpected script status %v", reply[0])
	}
	return status, reply[1:], nil
}

// recordReply is one record of readAppendScript's reply: redis.Nil for a
// missing key.
func recordReply(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", redis.Nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("unexpected script reply of type %T", v)
	}
}

// condAppend sends condAppendScript (by its SHA, or its source when
// source) and the GETs of keys[1:] in one MULTI: one round trip. It
// returns the script's status and the GETs.
func (b *Backend) condAppend(ctx context.Context, keys []string, args []any, source bool) (int64, []*redis.StringCmd, error) {
	var eval *redis.Cmd
	gets := make([]*redis.StringCmd, len(keys)-1)
	_, err := b.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if source {
			eval = condAppendScript.Eval(ctx, p, keys, args...)
		} else {
			eval = condAppendScript.EvalSha(ctx, p, keys, args...)
		}
		for i, k := range keys[1:] {
			gets[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		if eerr := eval.Err(); eerr != nil {
			return 0, nil, eerr
		}
		return 0, nil, err
	}
	status, err := eval.Int64()
	if err != nil {
		return 0, nil, err
	}
	if status < 0 || status > 2 {
		return 0, nil, fmt.Errorf("unexpected script status %d", status)
	}
	return status, gets, nil
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// readResult parses one record read and checks it against this Backend's
// acknowledged writes, as Get does.
func (b *Backend) readResult(ctx context.Context, key, rec string, sent int64) backend.ReadResult {
	value, rev, err := parseRecord(rec)
	if err == nil {
		err = b.checkMark(ctx, shardOf(key, b.shards), key, rev, value, sent)
	}
	if err != nil {
		return backend.ReadResult{Err: opErr("get", key, err)}
	}
	return backend.ReadResult{Value: value, Rev: rev}
}

// getThenAppend is GetAppend in two round trips, for clients whose
// records and logs may live on different nodes: the GETs in one pipeline,
// then, if every revision matched, Append.
func (b *Backend) getThenAppend(ctx context.Context, reads []backend.ReadCond, name string, last []byte, records [][]byte) ([]backend.ReadResult, bool, error) {
	cmds := make([]*redis.StringCmd, len(reads))
	sent := b.marksNow()
	_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range reads {
			cmds[i] = p.Get(ctx, b.dataKey(r.Key))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, logErr("get and append", name, err)
	}
	out := make([]backend.ReadResult, len(reads))
	match := true
	for i, c := range cmds {
		rec, err := c.Result()
		switch {
		case errors.Is(err, redis.Nil):
			out[i].Err = opErr("get", reads[i].Key, backend.ErrNotFound)
		case err != nil:
			out[i].Err = opErr("get", reads[i].Key, err)
		default:
			out[i] = b.readResult(ctx, reads[i].Key, rec, sent)
		}
		match = match && out[i].Err == nil && out[i].Rev == reads[i].Rev
	}
	if !match {
		return out, false, nil
	}
	if err := b.Append(ctx, name, last, records); err != nil {
		return nil, false, err
	}
	return out, true, nil
}
