package redisbackend_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

const secretPassword = "hunter2-Secret"

func TestOpenConnectionRefused(t *testing.T) {
	t.Parallel()
	addr := fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t)) // nothing listens there
	for _, url := range []string{
		"redis://:" + secretPassword + "@" + addr + "/0",
		"redis://user:" + secretPassword + "@" + addr,
		"redis+cluster://:" + secretPassword + "@" + addr,
		"redis+sentinel://:" + secretPassword + "@" + addr + "?master=mymaster",
	} {
		start := time.Now()
		b, err := redisbackend.Open(url, redisbackend.WithDialTimeout(2*time.Second))
		elapsed := time.Since(start)
		if !assert.Error(t, err, "Open(%s) with nothing listening", addr) {
			b.Close()
			continue
		}
		t.Logf("Open(%s…) failed in %v: %v", strings.SplitN(url, ":", 2)[0], elapsed.Round(time.Millisecond), err)
		msg := err.Error()
		assert.True(t, strings.HasPrefix(msg, "redisbackend: open "), "Open error = %q, want prefix %q", msg, "redisbackend: open ")
		assert.Contains(t, msg, addr, "Open error names the address")
		assert.NotContains(t, msg, secretPassword, "Open error leaks the password")
		assert.NotContains(t, msg, "hunter2", "Open error leaks part of the password")
		assert.Less(t, elapsed, 500*time.Millisecond, "Open of a refused connection must fail at once")
	}
}

func TestOpenHungServer(t *testing.T) {
	t.Parallel()
	// A listener that never accepts: the kernel completes the TCP
	// handshake, then nothing ever answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err, "Listen")
	defer l.Close()
	const dial = 500 * time.Millisecond
	start := time.Now()
	_, err = redisbackend.Open("redis://:"+secretPassword+"@"+l.Addr().String()+"/0", redisbackend.WithDialTimeout(dial))
	elapsed := time.Since(start)
	require.Error(t, err, "Open of a server that never answers")
	t.Logf("Open failed in %v: %v", elapsed.Round(time.Millisecond), err)
	assert.Contains(t, err.Error(), l.Addr().String(), "Open error names the address")
	assert.NotContains(t, err.Error(), secretPassword, "Open error leaks the password")
	assert.Less(t, elapsed, dial+time.Second, "Open must give up after the dial timeout")
}

func TestOpenWrongPassword(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t, redistest.WithPassword("right-password"))
	_, err := redisbackend.Open("redis://:" + secretPassword + "@" + srv.Addr + "/0")
	require.Error(t, err, "Open with a wrong password")
	assert.Contains(t, err.Error(), "WRONGPASS", "Open error")
	assert.Contains(t, err.Error(), srv.Addr, "Open error names the address")
	assert.NotContains(t, err.Error(), secretPassword, "Open error leaks the password")
	_, err = redisbackend.Open("redis://" + srv.Addr + "/0")
	require.Error(t, err, "Open without a password")
	assert.Contains(t, err.Error(), "NOAUTH", "Open error")
}

// faultKey is one key of the fault test with a single writer, so its state
// is known exactly except for one uncertain operation.
type faultKey struct {
	name string
	// Acknowledged state.
	exists bool
	value  string
	rev    int64
	// uncertain is set when an operation failed with a network error: it
	// may or may not have been applied. The key is then left alone.
	uncertain bool
	tryPut    bool // the uncertain operation was a Put of tryValue (else a Delete)
	tryValue  string
}

// TestFaultServerStopped kills a persistent Redis while 8 goroutines write,
// then checks that every operation failed promptly, that nothing was
// half-written (each key holds its acknowledged state or the result of its
// one uncertain operation, with a consistent revision, and the index agrees
// with the data), and that work resumes after a restart.
func TestFaultServerStopped(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t, redistest.WithPersistence())
	const (
		clientTimeout = 300 * time.Millisecond
		opTimeout     = 2 * time.Second // the configured per-operation deadline
		workers       = 8
		keysPer       = 4
	)
	b, err := redisbackend.Open("redis://"+srv.Addr+"/0", redisbackend.WithPrefix("fault"),
		redisbackend.WithDialTimeout(clientTimeout), redisbackend.WithReadTimeout(clientTimeout), redisbackend.WithWriteTimeout(clientTimeout))
	require.NoError(t, err, "Open")
	defer b.Close()

	keys := make([][]*faultKey, workers)
	for w := range keys {
		for j := range keysPer {
			keys[w] = append(keys[w], &faultKey{name: fmt.Sprintf("fault/w%d/k%d", w, j)})
		}
	}

	var (
		stop             atomic.Bool
		down             atomic.Bool
		okOps, failedOps atomic.Int64
		maxFailLatency   atomic.Int64
		wg               sync.WaitGroup
	)
	workerErrs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for seq := 0; !stop.Load(); seq++ {
				k := keys[w][rng.IntN(keysPer)]
				ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
				start := time.Now()
				var err error
				var op string
				value := fmt.Sprintf("w%d-%d", w, seq)
				switch {
				case k.uncertain:
					op = "Get"
					_, _, err = b.Get(ctx, k.name)
					if errors.Is(err, backend.ErrNotFound) {
						err = nil
					}
				case k.exists && rng.IntN(4) == 0:
					op = "Delete"
					err = b.Delete(ctx, k.name, k.rev)
					if err == nil {
						k.exists, k.value, k.rev = false, "", 0
					}
				default:
					op = "Put"
					var rev int64
					rev, err = b.Put(ctx, k.name, []byte(value), k.rev)
					if err == nil {
						if rev <= k.rev {
							workerErrs[w] = fmt.Errorf("Put(%q) rev %d after rev %d", k.name, rev, k.rev)
						}
						k.exists, k.value, k.rev = true, value, rev
					}
				}
				elapsed := time.Since(start)
				cancel()
				if err == nil {
					okOps.Add(1)
					continue
				}
				if errors.Is(err, backend.ErrConflict) || errors.Is(err, backend.ErrNotFound) {
					// One writer per key: a conflict means state was lost.
					workerErrs[w] = fmt.Errorf("%s(%q): %w", op, k.name, err)
					return
				}
				if !down.Load() {
					workerErrs[w] = fmt.Errorf("%s(%q) failed while the server was up: %w", op, k.name, err)
					return
				}
				failedOps.Add(1)
				if elapsed > time.Duration(maxFailLatency.Load()) {
					maxFailLatency.Store(int64(elapsed))
				}
				if elapsed > opTimeout+500*time.Millisecond {
					workerErrs[w] = fmt.Errorf("%s(%q) took %v to fail, more than the %v deadline: %v", op, k.name, elapsed, opTimeout, err)
				}
				if !strings.HasPrefix(err.Error(), "redisbackend: "+strings.ToLower(op)+" ") {
					workerErrs[w] = fmt.Errorf("%s error %q lacks the operation", op, err)
				}
				if op != "Get" {
					k.uncertain, k.tryPut, k.tryValue = true, op == "Put", value
				}
			}
		})
	}

	// Let every worker succeed at least once first (on a loaded machine a
	// fixed sleep may not be enough), bounded so the test cannot hang.
	for deadline := time.Now().Add(30 * time.Second); okOps.Load() < int64(4*workers) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	down.Store(true)
	srv.Stop()
	okBefore := okOps.Load()
	time.Sleep(2500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	for w, err := range workerErrs {
		require.NoError(t, err, "worker %d", w)
	}
	t.Logf("%d operations succeeded before the kill, %d failed after it; slowest failure %v",
		okBefore, failedOps.Load(), time.Duration(maxFailLatency.Load()).Round(time.Millisecond))
	require.GreaterOrEqual(t, okBefore, int64(workers), "operations before the kill")
	require.GreaterOrEqual(t, failedOps.Load(), int64(workers), "failed operations after the kill")

	srv.Restart()
	ctx := t.Context()
	// go-redis's dial circuit breaker reopens the pool within about a
	// second of the server's return.
	restarted := time.Now()
	for {
		_, _, err := b.Get(ctx, keys[0][0].name)
		if err == nil || errors.Is(err, backend.ErrNotFound) {
			break
		}
		require.Less(t, time.Since(restarted), 5*time.Second, "the Backend did not recover after the restart: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the Backend works again %v after the restart", time.Since(restarted).Round(time.Millisecond))
	var wantList []string
	uncertain := 0
	for _, ks := range keys {
		for _, k := range ks {
			v, rev, err := b.Get(ctx, k.name)
			exists := err == nil
			if err != nil {
				require.ErrorIs(t, err, backend.ErrNotFound, "Get(%q) after restart", k.name)
			}
			acked := exists == k.exists && string(v) == k.value && rev == k.rev
			if k.uncertain {
				uncertain++
				applied := exists == k.tryPut && (!exists || string(v) == k.tryValue && rev > k.rev)
				assert.True(t, acked || applied, "Get(%q) after restart = %q rev %d exists %v; want the acknowledged %q rev %d exists %v, or the uncertain %s of %q",
					k.name, v, rev, exists, k.value, k.rev, k.exists, map[bool]string{true: "Put", false: "Delete"}[k.tryPut], k.tryValue)
			} else {
				assert.True(t, acked, "Get(%q) after restart = %q rev %d exists %v; want %q rev %d exists %v",
					k.name, v, rev, exists, k.value, k.rev, k.exists)
			}
			if exists {
				wantList = append(wantList, k.name)
				k.exists, k.value, k.rev = true, string(v), rev
			} else {
				k.exists, k.value, k.rev = false, "", 0
			}
			k.uncertain = false
		}
	}
	t.Logf("%d keys had an uncertain operation", uncertain)
	slices.Sort(wantList)
	got, err := b.List(ctx, "fault/")
	require.NoError(t, err, "List after restart")
	assert.Equal(t, wantList, got, "List after restart agrees with Get")
	checkIndex(t, srv, "fault")

	// Work resumes: every key can be written again through the same Backend.
	for _, ks := range keys {
		for _, k := range ks {
			_, err := b.Put(ctx, k.name, []byte("after restart"), k.rev)
			require.NoError(t, err, "Put(%q, rev %d) after restart", k.name, k.rev)
		}
	}
	checkIndex(t, srv, "fault")
}

// checkIndex checks, by scanning the server (which the backend never does),
// that the index shards of prefix list exactly the keys that have a record.
func checkIndex(t *testing.T, srv *redistest.Server, prefix string) {
	t.Helper()
	c := srv.Client(t)
	ctx := t.Context()
	var records, indexed []string
	iter := c.Scan(ctx, 0, "{"+prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		tagEnd := strings.Index(key, "}")
		switch rest := key[tagEnd+1:]; {
		case strings.HasPrefix(rest, ":k:"):
			records = append(records, key[:tagEnd+1]+" "+rest[len(":k:"):])
		case rest == ":idx":
			members, err := c.ZRange(ctx, key, 0, -1).Result()
			require.NoError(t, err, "ZRANGE %s", key)
			for _, m := range members {
				indexed = append(indexed, key[:tagEnd+1]+" "+m)
			}
		case rest == ":meta":
		default:
			t.Errorf("unexpected key %q", key)
		}
	}
	require.NoError(t, iter.Err(), "SCAN")
	slices.Sort(records)
	slices.Sort(indexed)
	assert.Equal(t, records, indexed, "records and index entries (by shard tag)")
}

// TestFaultServerHung freezes the server (SIGSTOP): operations must fail
// within their deadline, or within the client's read timeout and retries
// without one, and work resumes when the server does.
func TestFaultServerHung(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	const clientTimeout = 200 * time.Millisecond
	b, err := redisbackend.Open("redis://"+srv.Addr+"/0", redisbackend.WithPrefix("hung"),
		redisbackend.WithDialTimeout(clientTimeout), redisbackend.WithReadTimeout(clientTimeout), redisbackend.WithWriteTimeout(clientTimeout))
	require.NoError(t, err, "Open")
	defer b.Close()
	rev, err := b.Put(t.Context(), "k", []byte("v"), 0)
	require.NoError(t, err, "Put")

	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	ops := map[string]func(ctx context.Context) error{
		"get":    func(ctx context.Context) error { _, _, err := b.Get(ctx, "k"); return err },
		"put":    func(ctx context.Context) error { _, err := b.Put(ctx, "k", []byte("w"), rev); return err },
		"delete": func(ctx context.Context) error { return b.Delete(ctx, "k", rev) },
		"list":   func(ctx context.Context) error { _, err := b.List(ctx, ""); return err },
		"get many": func(ctx context.Context) error {
			_, err := b.GetMany(ctx, []string{"k"})
			return err
		},
	}
	var wg sync.WaitGroup
	for name, op := range ops {
		wg.Go(func() {
			// With a context deadline.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := op(ctx)
			withDeadline := time.Since(start)
			assert.Error(t, err, "%s on a hung server", name)
			assert.Less(t, withDeadline, 800*time.Millisecond, "%s with a 300ms deadline on a hung server took too long", name)
			assert.Contains(t, fmt.Sprint(err), "redisbackend: "+name, "%s error names the operation", name)

			// Without one: the client's read timeout and retries bound it.
			start = time.Now()
			err = op(context.Background())
			elapsed := time.Since(start)
			assert.Error(t, err, "%s on a hung server without a deadline", name)
			assert.Less(t, elapsed, 5*time.Second, "%s without a deadline on a hung server took too long", name)
			t.Logf("%s on a hung server: %v with a 300ms deadline, %v without (%v)", name, withDeadline.Round(time.Millisecond), elapsed.Round(time.Millisecond), err)
		})
	}
	wg.Wait()
	srv.Resume()
	resumed = true

	// The frozen Put and Delete may have run when the server resumed; the
	// key is in one of the states they allow, and usable.
	// The client's 200ms read timeout may still fire while the resumed
	// server works through its backlog on a loaded machine: retry those.
	var v []byte
	var rev2 int64
	require.Eventually(t, func() bool {
		v, rev2, err = b.Get(t.Context(), "k")
		return err == nil || errors.Is(err, backend.ErrNotFound)
	}, 20*time.Second, 50*time.Millisecond, "Get after resume keeps failing (last err %v)", err)
	if err == nil {
		assert.Contains(t, []string{"v", "w"}, string(v), "Get after resume")
		_, err = b.Put(t.Context(), "k", []byte("x"), rev2)
		require.NoError(t, err, "Put after resume")
	} else {
		require.ErrorIs(t, err, backend.ErrNotFound, "Get after resume")
		_, err = b.Put(t.Context(), "k", []byte("x"), 0)
		require.NoError(t, err, "Put after resume")
	}
	checkIndex(t, srv, "hung")
}
