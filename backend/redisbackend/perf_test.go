package redisbackend

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/internal/redistest"
)

// roundTrips counts what a client sends: one round trip per command or
// pipeline.
type roundTrips struct {
	trips, cmds atomic.Int64
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.trips.Add(1)
		r.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.trips.Add(1)
		r.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// commandStats returns the server's calls per command since the last
// CONFIG RESETSTAT, leaving out the commands used to read and reset them.
func commandStats(t *testing.T, srv *redistest.Server) map[string]int {
	t.Helper()
	reply, err := srv.Do("INFO", "commandstats")
	require.NoError(t, err, "INFO commandstats")
	stats := map[string]int{}
	for line := range strings.SplitSeq(reply.(string), "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd || name == "info" || name == "config|resetstat" || name == "auth" {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.Atoi(calls)
		require.NoError(t, err, "INFO commandstats line %q", line)
		stats[name] = n
	}
	return stats
}

func formatStats(stats map[string]int) string {
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for i, n := range names {
		if i > 0 {
			sb.WriteString(" ")
		}
		fmt.Fprintf(&sb, "%s=%d", n, stats[n])
	}
	return sb.String()
}

// TestRoundTrips measures, per operation, the round trips the client makes
// and the commands the server runs (INFO commandstats deltas; the commands
// a Lua script calls are counted by the server too, but cost no round
// trip).
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	client := srv.Client(t)
	counter := &roundTrips{}
	client.AddHook(counter)
	b, err := New(client, WithPrefix("rt"))
	require.NoError(t, err, "New")
	ctx := t.Context()

	// Warm up: load the scripts and open connections.
	rev, err := b.Put(ctx, "warm", []byte("x"), 0)
	require.NoError(t, err, "Put")
	require.NoError(t, b.Delete(ctx, "warm", rev), "Delete")
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = fmt.Sprintf("s/app/key%d", i)
		_, err := b.Put(ctx, keys[i], bytes.Repeat([]byte("v"), 1024), 0)
		require.NoError(t, err, "Put")
	}
	var lastRev int64
	_, lastRev, err = b.Get(ctx, keys[0])
	require.NoError(t, err, "Get")
	_, err = b.List(ctx, "") // opens a connection of the pipeline pool
	require.NoError(t, err, "List")

	tests := []struct {
		name      string
		op        func() error
		wantTrips int64
		wantTop   map[string]int // commands sent by the client
	}{
		{"Get", func() error { _, _, err := b.Get(ctx, keys[1]); return err }, 1, map[string]int{"get": 1}},
		{"Put (create)", func() error { _, err := b.Put(ctx, "s/app/new", []byte("v"), 0); return err }, 1, map[string]int{"evalsha": 1}},
		{"Put (update)", func() error {
			r, err := b.Put(ctx, keys[0], []byte("w"), lastRev)
			lastRev = r
			return err
		}, 1, map[string]int{"evalsha": 1}},
		{"Put (conflict)", func() error { _, err := b.Put(ctx, keys[0], []byte("w"), 1); return ignoreConflict(err) }, 1, map[string]int{"evalsha": 1}},
		{"Delete", func() error { return b.Delete(ctx, "s/app/new", 0) }, 1, map[string]int{"evalsha": 1}},
		{"List (10 of 10)", func() error { _, err := b.List(ctx, "s/app/"); return err }, 1, map[string]int{"zrangebylex": DefaultIndexShards}},
		{"GetMany (10)", func() error { _, err := b.GetMany(ctx, keys); return err }, 1, map[string]int{"get": 10}},
	}
	for _, tt := range tests {
		_, err := srv.Do("CONFIG", "RESETSTAT")
		require.NoError(t, err, "CONFIG RESETSTAT")
		trips0, cmds0 := counter.trips.Load(), counter.cmds.Load()
		require.NoError(t, tt.op(), tt.name)
		trips, cmds := counter.trips.Load()-trips0, counter.cmds.Load()-cmds0
		stats := commandStats(t, srv)
		t.Logf("%-16s round trips %d, commands sent %d; server: %s", tt.name, trips, cmds, formatStats(stats))
		assert.Equal(t, tt.wantTrips, trips, "%s round trips", tt.name)
		for name, n := range tt.wantTop {
			assert.Equal(t, n, stats[name], "%s: server calls of %s", tt.name, name)
		}
		if tt.name == "Get" {
			assert.Equal(t, map[string]int{"get": 1}, stats, "Get runs exactly one command")
		}
		assert.Zero(t, stats["eval"], "%s: EVAL (the script cache must be warm)", tt.name)
		assert.Zero(t, stats["keys"]+stats["scan"], "%s: keyspace scan", tt.name)
	}
}

func ignoreConflict(err error) error {
	if err != nil && strings.Contains(err.Error(), "revision conflict") {
		return nil
	}
	return err
}

// parallelism returns the b.SetParallelism argument that runs 8
// goroutines (parallelism × GOMAXPROCS).
func parallelism() int {
	return max(1, (8+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0))
}

// benchSetup starts a server and stores a 1 KiB value through the Backend
// under "bench/key", and a plain string of the record's stored size under
// "raw".
func benchSetup(b *testing.B) (*Backend, *redis.Client) {
	b.Helper()
	srv := redistest.StartServer(b)
	client := srv.Client(b)
	be, err := New(client, WithPrefix("bench"))
	require.NoError(b, err, "New")
	ctx := context.Background()
	_, err = be.Put(ctx, "bench/key", bytes.Repeat([]byte("v"), 1024), 0)
	require.NoError(b, err, "Put")
	size, err := client.StrLen(ctx, be.dataKey("bench/key")).Result()
	require.NoError(b, err, "STRLEN")
	require.NoError(b, client.Set(ctx, "raw", strings.Repeat("r", int(size)), 0).Err(), "SET")
	return be, client
}

// BenchmarkGet reads a 1 KiB value through the Backend: one GET and a
// header parse. Compare with BenchmarkRawGET.
func BenchmarkGet(b *testing.B) {
	be, _ := benchSetup(b)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := be.Get(ctx, "bench/key"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel8", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(parallelism())
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := be.Get(ctx, "bench/key"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRawGET is a plain go-redis GET of a string of the same stored
// size as BenchmarkGet's record: the floor BenchmarkGet is measured
// against.
func BenchmarkRawGET(b *testing.B) {
	_, client := benchSetup(b)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := client.Get(ctx, "raw").Result(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel8", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(parallelism())
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := client.Get(ctx, "raw").Result(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkPut updates a 1 KiB value with a conditional Put (one EVALSHA).
func BenchmarkPut(b *testing.B) {
	be, _ := benchSetup(b)
	ctx := context.Background()
	value := bytes.Repeat([]byte("w"), 1024)
	_, rev, err := be.Get(ctx, "bench/key")
	require.NoError(b, err, "Get")
	b.ReportAllocs()
	for b.Loop() {
		if rev, err = be.Put(ctx, "bench/key", value, rev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList lists a 1,000-key prefix among 100,000 keys.
func BenchmarkList(b *testing.B) {
	srv := redistest.StartServer(b)
	client := srv.Client(b)
	be, err := New(client, WithPrefix("list"))
	require.NoError(b, err, "New")
	ctx := context.Background()
	// Populate through the Put script, pipelined 1,000 at a time.
	require.NoError(b, putScript.Load(ctx, client).Err(), "SCRIPT LOAD")
	const total, match = 100_000, 1_000
	for start := 0; start < total; start += 1000 {
		_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < start+1000; i++ {
				ns := "s/other"
				if i%(total/match) == 0 {
					ns = "s/match"
				}
				k := fmt.Sprintf("%s/key%06d", ns, i)
				s := shardOf(k, be.shards)
				putScript.EvalSha(ctx, p, []string{dataKey(be.tags[s], k), be.idx[s], metaKey(be.tags[s])},
					"0", "value", fmt.Sprintf("%016x", i), k, be.nstr)
			}
			return nil
		})
		require.NoError(b, err, "populate")
	}
	keys, err := be.List(ctx, "s/match/")
	require.NoError(b, err, "List")
	require.Len(b, keys, match, "List")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := be.List(ctx, "s/match/"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetVsRawGET alternates blocks of Backend Gets and raw GETs of
// the same stored size, so that load drifting on a shared machine hits
// both alike, and reports each one's ns/op and their ratio (get/raw: time
// for serial, throughput's inverse for 8 goroutines). One b.N iteration is
// one block of each.
func BenchmarkGetVsRawGET(b *testing.B) {
	be, client := benchSetup(b)
	ctx := context.Background()
	get := func() error { _, _, err := be.Get(ctx, "bench/key"); return err }
	raw := func() error { return client.Get(ctx, "raw").Err() }
	const block = 200
	run := func(b *testing.B, goroutines int, op func() error) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range block {
					if err := op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	for _, g := range []int{1, 8} {
		name := "serial"
		if g > 1 {
			name = fmt.Sprintf("parallel%d", g)
		}
		b.Run(name, func(b *testing.B) {
			var tGet, tRaw time.Duration
			for b.Loop() {
				tGet += run(b, g, get)
				tRaw += run(b, g, raw)
			}
			ops := float64(b.N * block * g)
			b.ReportMetric(float64(tGet.Nanoseconds())/ops, "get-ns/op")
			b.ReportMetric(float64(tRaw.Nanoseconds())/ops, "raw-ns/op")
			b.ReportMetric(float64(tGet)/float64(tRaw), "get/raw")
			b.ReportMetric(0, "ns/op")
		})
	}
}
