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

// autoWindow is how long WaitAuto keeps waiting for a replica that is no
// longer connected: a master's replica target only drops to a lower count
// after no higher one has been seen for this long.
const autoWindow = time.Minute

// replication is a Backend's replica-wait state.
type replication struct {
	want    int // WaitAuto, 0 (off) or a replica count
	timeout time.Duration

	mu    sync.Mutex
	nodes map[string]*nodeReplicas // by master address; "" for a non-Cluster client
}

// nodeReplicas is what WaitAuto knows of one master's replicas.
type nodeReplicas struct {
	target int       // replicas a write must reach
	seenAt time.Time // last time at least target replicas were connected
}

// target returns how many replicas a write to node waits for in WaitAuto
// mode, and false if the node was never observed.
func (r *replication) target(node string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.nodes[node]
	if !ok {
		return 0, false
	}
	return n.target, true
}

// observe records that node has connected replicas now. The target rises
// at once and falls only after autoWindow without the higher count.
func (r *replication) observe(node string, connected int, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nodes == nil {
		r.nodes = make(map[string]*nodeReplicas)
	}
	n, ok := r.nodes[node]
	if !ok {
		r.nodes[node] = &nodeReplicas{target: connected, seenAt: now}
		return
	}
	if connected >= n.target || now.Sub(n.seenAt) > autoWindow {
		n.target, n.seenAt = connected, now
	}
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

// runWrite runs one of the write scripts (its KEYS all keys of shard s)
// and, as WithWait asks, waits for replicas in the same round trip. A nil
// error means the script ran and, if it wrote (status OK), the write is
// confirmed by the replicas asked for.
func (b *Backend) runWrite(ctx context.Context, s int, stage func(redis.Pipeliner), script *redis.Script, keys []string, args ...any) ([]any, error) {
	if b.repl.want == 0 {
		if stage == nil {
			return script.Run(ctx, b.client, keys, args...).Slice()
		}
		return stagedRun(ctx, b.client, stage, script, keys, args)
	}
	for attempt := 0; ; attempt++ {
		node, id, err := b.master(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		res, err := b.writeOn(ctx, node, id, s, stage, script, keys, args)
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
// (its address on a Cluster, "" otherwise) for WaitAuto's replica memory.
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

// writeOn sends the script to node and, in one pipeline, WAIT for the
// replicas required and (in WaitAuto mode) ROLE, to learn how many
// replicas the master has.
func (b *Backend) writeOn(ctx context.Context, node *redis.Client, id string, s int, stage func(redis.Pipeliner), script *redis.Script, keys []string, args []any) ([]any, error) {
	n, auto := b.repl.want, b.repl.want == WaitAuto
	if auto {
		n, _ = b.repl.target(id)
	}
	var eval, wait, role *redis.Cmd
	send := func(full bool) {
		_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
			if stage != nil {
				stage(p)
			}
			if full {
				eval = script.Eval(ctx, p, keys, args...)
			} else {
				eval = script.EvalSha(ctx, p, keys, args...)
			}
			if n > 0 {
				wait = waitCmd(ctx, p, n, b.repl.timeout)
			}
			if auto {
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
	connected := -1
	if auto {
		if c, err := roleReplicas(role); err == nil {
			connected = c
			b.repl.observe(id, c, time.Now())
		}
	}
	if st, _, perr := scriptResult(res); perr != nil || st != statusOK {
		return res, nil // nothing written: nothing to wait for
	}
	if n > 0 {
		return res, confirmed(wait, n, b.repl.timeout)
	}
	if !auto {
		return res, nil
	}
	if connected < 0 {
		return res, fmt.Errorf("%w: ROLE after the write failed: %w", ErrNotReplicated, role.Err())
	}
	if connected == 0 {
		return res, nil
	}
	// First sight of replicas on this master: this write waits for them
	// too. WAIT counts from the connection's last write, so make one on
	// the same connection (a no-op rewrite of the shard's layout field,
	// which the script just checked) and wait.
	_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, metaKey(b.tags[s]), "shards", b.nstr)
		wait = waitCmd(ctx, p, connected, b.repl.timeout)
		return nil
	})
	return res, confirmed(wait, connected, b.repl.timeout)
}

// confirm waits until the replicas a write to key's master needs have
// everything that master applied so far, in particular an earlier write of
// this Backend that returned ErrNotReplicated. WAIT counts from the
// connection's last write, so it first makes one: a no-op rewrite of the
// shard's layout field (meta is the shard's meta key).
func (b *Backend) confirm(ctx context.Context, key, meta string) error {
	node, id, err := b.master(ctx, key)
	if err != nil {
		return err
	}
	n, auto := b.repl.want, b.repl.want == WaitAuto
	if auto {
		n, _ = b.repl.target(id)
	}
	if n <= 0 {
		return nil
	}
	var hset *redis.IntCmd
	var wait *redis.Cmd
	_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
		hset = p.HSet(ctx, meta, "shards", b.nstr)
		wait = waitCmd(ctx, p, n, b.repl.timeout)
		return nil
	})
	if err := hset.Err(); err != nil {
		return err
	}
	return confirmed(wait, n, b.repl.timeout)
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

// stagedRun sends stage and the script in one pipeline (the script by its
// SHA, again in full if the server does not know it) and returns the
// script's reply.
func stagedRun(ctx context.Context, c redis.Cmdable, stage func(redis.Pipeliner), script *redis.Script, keys []string, args []any) ([]any, error) {
	var eval *redis.Cmd
	send := func(full bool) {
		_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			stage(p)
			if full {
				eval = script.Eval(ctx, p, keys, args...)
			} else {
				eval = script.EvalSha(ctx, p, keys, args...)
			}
			return nil
		})
	}
	send(false)
	if redis.HasErrorPrefix(eval.Err(), "NOSCRIPT") {
		send(true)
	}
	return eval.Slice()
}
