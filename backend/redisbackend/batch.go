package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentvault/agentvault/backend"
)

var _ backend.BatchWriter = (*Backend)(nil)

// PutMany applies each write as Put would, pipelined: all the EVALSHAs in
// one round trip (values of at most 4 KiB: one putManyScript per index
// shard for all of that shard's writes; larger ones staged, one putScript
// each), followed in the same pipeline by the one WAIT (and ROLE)
// that WithWait calls for, which covers every write before it. On a
// Cluster without waiting, go-redis sends one pipeline per node; on a
// Cluster with waiting, each write is one Put.
func (b *Backend) PutMany(ctx context.Context, writes []backend.Write) ([]backend.WriteResult, error) {
	if b.closed.Load() {
		return nil, fmt.Errorf("redisbackend: put many: %w", backend.ErrClosed)
	}
	seen := make(map[string]struct{}, len(writes))
	for _, w := range writes {
		if _, dup := seen[w.Key]; dup {
			return nil, opErr("put many", w.Key, fmt.Errorf("key twice in one batch: %w", backend.ErrInvalidKey))
		}
		seen[w.Key] = struct{}{}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisbackend: put many: %w", err)
	}
	out := make([]backend.WriteResult, len(writes))
	node, single := b.client.(*redis.Client)
	if b.repl.want != 0 && !single {
		for i, w := range writes {
			out[i].Rev, out[i].Err = b.Put(ctx, w.Key, w.Value, w.ExpectedRev)
		}
		return out, nil
	}
	// Values of at most inlineMax bytes go in one putManyScript call per
	// index shard (all of a shard's keys share its hash tag, so one call
	// is one slot); larger ones are staged, one putScript each.
	type group struct {
		keys []string
		args []any
		cmd  *redis.Cmd
		res  []any
		err  error
	}
	type call struct {
		i      int
		s      int
		keys   []string
		args   []any
		stage  func(redis.Pipeliner)
		script *redis.Script
		cmd    *redis.Cmd
		g      *group // inline: its group, and its place in it
		gi     int
	}
	calls := make([]*call, 0, len(writes))
	groups := map[int]*group{}
	var order []*group
	for i, w := range writes {
		if err := backend.ValidateKey(w.Key); err != nil {
			out[i].Err = opErr("put", w.Key, err)
			continue
		}
		s := shardOf(w.Key, b.shards)
		if len(w.Value) <= inlineMax {
			g := groups[s]
			if g == nil {
				g = &group{keys: []string{b.idx[s], metaKey(b.tags[s])}, args: []any{b.nstr}}
				groups[s] = g
				order = append(order, g)
			}
			calls = append(calls, &call{i: i, s: s, g: g, gi: len(g.keys) - 2})
			g.keys = append(g.keys, dataKey(b.tags[s], w.Key))
			g.args = append(g.args, strconv.FormatInt(w.ExpectedRev, 10), newWriteID(), w.Key, w.Value)
			continue
		}
		script, keys, args, stage, staged := b.putCall(ctx, s, w.Key, w.Value, w.ExpectedRev)
		defer releaseStaged(staged) // after the pipeline and any resend
		calls = append(calls, &call{i: i, s: s, keys: keys, args: args, stage: stage, script: script})
	}
	if len(calls) == 0 {
		return out, nil
	}
	n, auto := b.repl.want, b.repl.want == WaitAuto
	nodeID := ""
	if auto {
		n, _ = b.repl.target(nodeID)
	}
	var pipe redis.Pipeliner
	if single {
		pipe = node.Pipeline()
	} else {
		pipe = b.client.Pipeline()
	}
	for _, g := range order {
		g.cmd = putManyScript.EvalSha(ctx, pipe, g.keys, g.args...)
	}
	for _, c := range calls {
		if c.g != nil {
			continue
		}
		if c.stage != nil {
			c.stage(pipe)
		}
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	var wait, role *redis.Cmd
	if n > 0 {
		wait = waitCmd(ctx, pipe, n, b.repl.timeout)
	}
	if auto {
		role = pipe.Do(ctx, "ROLE")
	}
	_, _ = pipe.Exec(ctx)
	for _, g := range order {
		if redis.HasErrorPrefix(g.cmd.Err(), "NOSCRIPT") {
			// The script cache was flushed: load it (Run does); the
			// write ids keep the resent writes idempotent.
			g.cmd = putManyScript.Run(ctx, b.client, g.keys, g.args...)
		}
		g.res, g.err = g.cmd.Slice()
		if g.err == nil && len(g.res) != 2*(len(g.keys)-2) {
			g.err = fmt.Errorf("unexpected script reply of %d values for %d writes", len(g.res), len(g.keys)-2)
		}
	}
	for _, c := range calls {
		if c.g != nil {
			continue
		}
		if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			// The script cache was flushed: load it (Run does) and go on
			// one by one; the write id keeps a resent write idempotent.
			var res []any
			var err error
			if c.stage == nil {
				res, err = c.script.Run(ctx, b.client, c.keys, c.args...).Slice()
			} else {
				res, err = stagedRun(ctx, b.client, c.stage, c.script, c.keys, c.args)
			}
			c.cmd = redis.NewCmd(ctx)
			c.cmd.SetVal(res)
			c.cmd.SetErr(err)
		}
	}
	var replErr error
	switch {
	case n > 0:
		replErr = confirmed(wait, n, b.repl.timeout)
	case auto:
		connected, err := roleReplicas(role)
		switch {
		case err != nil:
			replErr = fmt.Errorf("%w: ROLE after the writes failed: %w", ErrNotReplicated, err)
		case connected > 0:
			b.repl.observe(nodeID, connected, time.Now())
			replErr = b.confirm(ctx, dataKey(b.tags[calls[0].s], writes[calls[0].i].Key), metaKey(b.tags[calls[0].s]))
		}
	}
	for _, c := range calls {
		w := writes[c.i]
		var res []any
		var err error
		if c.g != nil {
			res, err = c.g.res, c.g.err
			if err == nil {
				res = res[2*c.gi : 2*c.gi+2]
			}
		} else {
			res, err = c.cmd.Slice()
		}
		if err != nil {
			out[c.i].Err = opErr("put", w.Key, b.scriptErr(err))
			continue
		}
		status, rev, err := scriptResult(res)
		switch {
		case err != nil:
			out[c.i].Err = opErr("put", w.Key, err)
		case status == statusConflict:
			out[c.i].Err = conflictErr("put", w.Key, w.ExpectedRev, rev)
		case status == statusMalformed:
			out[c.i].Err = opErr("put", w.Key, errMalformed)
		case status == statusExhausted:
			out[c.i].Err = opErr("put", w.Key, errExhausted)
		case status != statusOK:
			out[c.i].Err = opErr("put", w.Key, fmt.Errorf("unexpected script status %d", status))
		case replErr != nil:
			if errors.Is(replErr, ErrNotReplicated) && b.marks != nil {
				b.marks.unconfirmed(c.s, w.Key, rev)
			}
			out[c.i].Err = opErr("put", w.Key, replErr)
		default:
			if b.marks != nil && w.ExpectedRev != 0 {
				b.marks.put(c.s, w.Key, rev, w.Value)
			}
			out[c.i].Rev = rev
		}
	}
	return out, nil
}
