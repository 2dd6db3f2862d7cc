package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/agentvault/agentvault/backend"
)

// Logs (backend.Appender), part of the frozen layout (see layout.go):
//
//	{P:log:<name>}:log   list   the log's records, oldest first
//	{P:logs}             set    the names of the logs, for Logs
//
// Each log has its own hash tag, so logs spread over a cluster's nodes. A
// name joins the set before the log's first record is appended, so Logs
// never misses a log (it may list one whose first Append failed: empty).

var _ backend.Appender = (*Backend)(nil)

func (b *Backend) logKey(name string) string { return "{" + b.prefix + ":log:" + name + "}:log" }
func (b *Backend) logsKey() string           { return "{" + b.prefix + ":logs}" }
func logErr(op, name string, err error) error {
	return fmt.Errorf("redisbackend: %s log %s: %w", op, name, err)
}

func (b *Backend) checkLog(ctx context.Context, name string) error {
	if b.closed.Load() {
		return backend.ErrClosed
	}
	if err := backend.ValidateLogName(name); err != nil {
		return err
	}
	return ctx.Err()
}

// appendScript appends records to a log if its last record is the expected
// one.
//
//	KEYS: the log
//	ARGV: the expected last record ("" for an empty log), the records
//
// If the log already ends with this call's last record, an earlier attempt
// of the same Append was applied (go-redis retried after losing the reply):
// it reports success instead of a false conflict. Records are unique (an
// audit record holds its chain position and hash).
var appendScript = redis.NewScript(`
local last = redis.call('LINDEX', KEYS[1], -1)
if last == false then last = '' end
if last ~= ARGV[1] then
  if last == ARGV[#ARGV] then return 1 end
  return 0
end
for i = 2, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 1
`)

// Append adds records to the log with one EVALSHA (two round trips for
// the log's first Append, which also records its name). It is as durable
// as the server's persistence settings make it (see the package
// documentation).
func (b *Backend) Append(ctx context.Context, name string, last []byte, records [][]byte) error {
	if err := b.checkLog(ctx, name); err != nil {
		return logErr("append", name, err)
	}
	if err := backend.ValidateRecords(records); err != nil {
		return logErr("append", name, err)
	}
	if len(records) == 0 {
		return nil
	}
	if last == nil {
		if err := b.client.SAdd(ctx, b.logsKey(), name).Err(); err != nil {
			return logErr("append", name, err)
		}
	}
	args := make([]any, 0, len(records)+1)
	args = append(args, last)
	for _, r := range records {
		args = append(args, r)
	}
	ok, err := appendScript.Run(ctx, b.client, []string{b.logKey(name)}, args...).Int()
	if err != nil {
		return logErr("append", name, err)
	}
	if ok != 1 {
		return logErr("append", name, backend.ErrConflict)
	}
	return nil
}

// Last returns the log's last record with one LINDEX.
func (b *Backend) Last(ctx context.Context, name string) ([]byte, error) {
	if err := b.checkLog(ctx, name); err != nil {
		return nil, logErr("read", name, err)
	}
	r, err := b.client.LIndex(ctx, b.logKey(name), -1).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, logErr("read", name, err)
	}
	return r, nil
}

// ReadLog returns the log's records, read 10,000 per LRANGE.
func (b *Backend) ReadLog(ctx context.Context, name string) ([][]byte, error) {
	if err := b.checkLog(ctx, name); err != nil {
		return nil, logErr("read", name, err)
	}
	const chunk = 10000
	var out [][]byte
	for start := int64(0); ; start += chunk {
		rs, err := b.client.LRange(ctx, b.logKey(name), start, start+chunk-1).Result()
		if err != nil {
			return nil, logErr("read", name, err)
		}
		for _, r := range rs {
			out = append(out, []byte(r))
		}
		if len(rs) < chunk {
			return out, nil
		}
	}
}

// Logs returns the names of the logs that start with prefix.
func (b *Backend) Logs(ctx context.Context, prefix string) ([]string, error) {
	if b.closed.Load() {
		return nil, fmt.Errorf("redisbackend: list logs %s: %w", quote(prefix), backend.ErrClosed)
	}
	names, err := b.client.SMembers(ctx, b.logsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("redisbackend: list logs %s: %w", quote(prefix), err)
	}
	names = slices.DeleteFunc(names, func(n string) bool {
		return !strings.HasPrefix(n, prefix) || backend.ValidateLogName(n) != nil
	})
	slices.Sort(names)
	return names, nil
}
