package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// movedRetries bounds how often a waited write is re-sent after the node
// it went to answered MOVED (nothing was written; the slot moved, for
// instance in a Cluster failover).
const movedRetries = 3

// replication is a Backend's replica-wait state.
type replication struct {
	want    int // WaitAuto, 0 (off) or a replica count
	timeout time.Duration

	mu  sync.Mutex
	had map[string]bool // masters (by address; "" for a non-Cluster client) seen with replicas
}

// hadReplicas reports whether node was ever seen with a connected replica.
func (r *replication) hadReplicas(node string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.had[node]
}

func (r *replication) sawReplicas(node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.had == nil {
		r.had = make(map[string]bool)
	}
	r.had[node] = true
}

// waitSupported reports whether WAIT can be sent for client's writes: a
// single-node or Sentinel *redis.Client, or a *redis.ClusterClient (to the
// key's master). A Ring or another UniversalClient cannot say which node
// a write went to.
func waitSupported(c redis.UniversalClient) bool {
	switch c.(type) {
	case *redis.Client, *redis.ClusterClient:
		return true
	}
	return false
}

// runWrite runs one of the write scripts (its KEYS are data, index, meta of
// one shard) and, as WithWait asks, waits for replicas in the same round
// trip. A nil error means the script ran and, if it wrote (status OK), the
// write is confirmed by the replicas asked for.
func (b *Backend) runWrite(ctx context.Context, script *redis.Script, keys []string, args ...any) ([]any, error) {
	if b.repl.want == 0 {
		return script.Run(ctx, b.client, keys, args...).Slice()
	}
	for attempt := 0; ; attempt++ {
		node, id, err := b.master(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		res, err := b.writeOn(ctx, node, id, script, keys, args)
		if err == nil || attempt >= movedRetries || !redis.HasErrorPrefix(err, "MOVED") {
			return res, err
		}
		// The slot moved: nothing was written. Let the Cluster client
		// refresh its slot map and try the new owner.
		if cc, ok := b.client.(*redis.ClusterClient); ok {
			cc.ReloadState(ctx)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
}

// master returns the client of the master that owns key and its identity
// for the "had replicas" memory.
func (b *Backend) master(ctx context.Context, key string) (*redis.Client, string, error) {
	switch c := b.client.(type) {
	case *redis.ClusterClient:
		node, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, "", err
		}
		return node, node.Options().Addr, nil
	case *redis.Client:
		return c, "", nil
	}
	return nil, "", fmt.Errorf("wait for replicas: unsupported client %T", b.client)
}

// writeOn sends the script and then WAIT (or, in WaitAuto mode on a master
// never seen with replicas, ROLE) to node in one pipeline.
func (b *Backend) writeOn(ctx context.Context, node *redis.Client, id string, script *redis.Script, keys []string, args []any) ([]any, error) {
	n, probe := b.repl.want, false
	if n == WaitAuto {
		n = 0
		if b.repl.hadReplicas(id) {
			n = 1
		} else {
			probe = true
		}
	}
	var (
		eval *redis.Cmd
		wait *redis.Cmd
		role *redis.Cmd
	)
	send := func(full bool) {
		_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
			if full {
				eval = script.Eval(ctx, p, keys, args...)
			} else {
				eval = script.EvalSha(ctx, p, keys, args...)
			}
			if n > 0 {
				wait = waitCmd(ctx, p, n, b.repl.timeout)
			} else if probe {
				role = p.Do(ctx, "ROLE")
			}
			return nil
		})
	}
	send(false)
	if redis.HasErrorPrefix(eval.Err(), "NOSCRIPT") {
		send(true)
	}
	res, err := eval.Slice()
	if err != nil {
		return nil, err
	}
	if st, _, perr := scriptResult(res); perr != nil || st != statusOK {
		return res, nil // nothing written: nothing to wait for
	}
	if n > 0 {
		return res, confirmed(wait, n, b.repl.timeout)
	}
	if !probe {
		return res, nil
	}
	replicas, err := roleReplicas(role)
	if err != nil {
		return nil, fmt.Errorf("%w: ROLE after the write: %w", ErrNotReplicated, err)
	}
	if replicas == 0 {
		return res, nil
	}
	// First sight of a replica on this master: from now on every write to
	// it waits for one. This write too: WAIT counts from the connection's
	// last write, so make one on the same connection (a no-op rewrite of
	// the shard's layout field, which the script just checked) and wait.
	b.repl.sawReplicas(id)
	_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, keys[2], "shards", b.nstr)
		wait = waitCmd(ctx, p, 1, b.repl.timeout)
		return nil
	})
	return res, confirmed(wait, 1, b.repl.timeout)
}

// confirmed turns a WAIT reply into nil if at least n replicas confirmed,
// or an error wrapping ErrNotReplicated.
func confirmed(wait *redis.Cmd, n int, timeout time.Duration) error {
	got, err := wait.Int64()
	if err != nil {
		return fmt.Errorf("%w: WAIT: %w", ErrNotReplicated, err)
	}
	if got < int64(n) {
		return fmt.Errorf("%w: %d of %d replicas confirmed within %v", ErrNotReplicated, got, n, timeout)
	}
	return nil
}

// waitCmd queues WAIT n timeout (Pipeliner has no Wait method).
func waitCmd(ctx context.Context, p redis.Pipeliner, n int, timeout time.Duration) *redis.Cmd {
	return p.Do(ctx, "WAIT", n, max(1, timeout.Milliseconds()))
}

// roleReplicas returns how many replicas a ROLE reply lists (0 for a
// replica or sentinel).
func roleReplicas(role *redis.Cmd) (int, error) {
	v, err := role.Slice()
	if err != nil {
		return 0, err
	}
	if len(v) < 3 || v[0] != "master" {
		return 0, nil
	}
	list, ok := v[2].([]any)
	if !ok {
		return 0, errors.New("unexpected ROLE reply")
	}
	return len(list), nil
}
