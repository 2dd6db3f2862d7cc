package agentvault_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// tripCounter counts client round trips: one per command or pipeline.
type tripCounter struct{ trips atomic.Int64 }

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.trips.Add(1); return next(ctx, cmd) }
}

func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.trips.Add(1); return next(ctx, cmds) }
}

// TestRedisRoundTrips: with audit off, GetSecret is one round trip once the
// data key is cached, CreateSecret one, UpdateSecret two (read, conditional
// write), ListSecrets two (index, values). The audit trail (on by default)
// adds one write per operation, except to GetSecret: a read of a record
// cached with its revision reads it and appends its event in one script
// (backend.ReadAppender).
func TestRedisRoundTrips(t *testing.T) {
	for _, audit := range []bool{false, true} {
		t.Run(fmt.Sprintf("audit=%t", audit), func(t *testing.T) {
			extra := int64(0)
			if audit {
				extra = 1
			}
			srv := redistest.StartServer(t)
			client := srv.Client(t)
			trips := &tripCounter{}
			client.AddHook(trips)
			rb, err := redisbackend.New(client)
			require.NoError(t, err)
			v, err := agentvault.New(rb, testKey(t), agentvault.WithAudit(audit))
			require.NoError(t, err)
			create(t, v, "warm/up", "x") // loads the Lua scripts
			get(t, v, "warm/up")
			for i := 0; i < 5; i++ {
				create(t, v, fmt.Sprintf("rt/k%d", i), "value")
			}
			// Warm the connection pool (a new connection costs a HELLO).
			_, err = v.ListSecrets(ctx, agentvault.ListFilter{Prefix: "rt/"})
			require.NoError(t, err)
			count := func(name string, f func()) int64 {
				trips.trips.Store(0)
				f()
				n := trips.trips.Load()
				t.Logf("%s: %d round trip(s)", name, n)
				return n
			}
			assert.EqualValues(t, 1+extra, count("CreateSecret", func() { create(t, v, "rt/new", "v") }))
			assert.EqualValues(t, 1, count("GetSecret", func() { get(t, v, "rt/k0") }))
			// An update reads the head, writes the displaced version's record,
			// then swaps the head (record format 4).
			assert.EqualValues(t, 3+extra, count("UpdateSecret", func() { update(t, v, "rt/k0", "v2") }))
			assert.EqualValues(t, 1, count("GetSecret after update", func() { get(t, v, "rt/k0") }))
			assert.EqualValues(t, 2, count("GetSecret of an older version", func() {
				_, err := v.GetSecret(ctx, "rt/k0", agentvault.AtVersion("v1"))
				require.NoError(t, err)
			}))
			assert.EqualValues(t, 2+extra, count("ListSecrets", func() {
				list, err := v.ListSecrets(ctx, agentvault.ListFilter{Prefix: "rt/"})
				require.NoError(t, err)
				require.Len(t, list, 6)
			}))
		})
	}
}

// TestRedisMultiProcessUpdates: 8 processes × 200 updates of one secret
// through one Redis give exactly versions v1..v1600 (plus the initial one),
// none lost or duplicated, every one readable.
func TestRedisMultiProcessUpdates(t *testing.T) {
	procs, each := 8, 200
	if testing.Short() {
		procs, each = 4, 25
	}
	srv := redistest.StartServer(t)
	url := "redis://" + srv.Addr + "/0"
	rb, err := redisbackend.Open(url)
	require.NoError(t, err)
	t.Cleanup(func() { rb.Close() })
	v, err := agentvault.New(rb, testKey(t))
	require.NoError(t, err)
	create(t, v, "shared/key", "initial")

	cmds := make([]*exec.Cmd, procs)
	for p := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessRedisUpdate$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AGENTVAULT_REDIS_URL="+url, "AGENTVAULT_HELPER_ID="+strconv.Itoa(p),
			"AGENTVAULT_HELPER_N="+strconv.Itoa(each))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		require.NoError(t, cmd.Start())
		cmds[p] = cmd
	}
	for p, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "helper process %d", p)
	}
	vs, err := v.ListVersions(ctx, "shared/key")
	require.NoError(t, err)
	require.Len(t, vs, procs*each+1)
	seen := map[string]bool{}
	for i, vi := range vs {
		require.Equal(t, "v"+strconv.Itoa(i+1), vi.Version)
		s := get(t, v, "shared/key", agentvault.AtVersion(vi.Version))
		require.False(t, seen[s.Value.Reveal()], "%s duplicates a value", vi.Version)
		seen[s.Value.Reveal()] = true
	}
	for p := 0; p < procs; p++ {
		for i := 0; i < each; i++ {
			require.True(t, seen[fmt.Sprintf("p%d-%d", p, i)], "update p%d-%d lost", p, i)
		}
	}
}

// TestHelperProcessRedisUpdate is the child of TestRedisMultiProcessUpdates.
func TestHelperProcessRedisUpdate(t *testing.T) {
	url := os.Getenv("AGENTVAULT_REDIS_URL")
	if url == "" {
		return
	}
	n, _ := strconv.Atoi(os.Getenv("AGENTVAULT_HELPER_N"))
	rb, err := redisbackend.Open(url)
	require.NoError(t, err)
	v, err := agentvault.New(rb, testKey(t))
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		update(t, v, "shared/key", fmt.Sprintf("p%s-%d", os.Getenv("AGENTVAULT_HELPER_ID"), i))
	}
}

// TestRedisStoppedMidRun: with Redis gone, vault calls fail within the
// deadline with an error naming the server, nothing half-written; after a
// restart work resumes.
func TestRedisStoppedMidRun(t *testing.T) {
	srv := redistest.StartServer(t, redistest.WithPersistence())
	rb, err := redisbackend.Open("redis://"+srv.Addr+"/0?dial_timeout=200ms&read_timeout=200ms&write_timeout=200ms&max_retries=1", redisbackend.WithPrefix("fault"))
	require.NoError(t, err)
	t.Cleanup(func() { rb.Close() })
	v, err := agentvault.New(rb, testKey(t))
	require.NoError(t, err)
	create(t, v, "f/a", "one")

	srv.Stop()
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	val := agentvault.StringValue("two")
	_, err = v.UpdateSecret(c, "f/a", agentvault.UpdateSecretInput{Value: &val})
	require.Error(t, err)
	_, err = v.GetSecret(c, "f/a")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "agentvault: get f/a")
	assert.Less(t, time.Since(start), 3*time.Second, "errors come back within the deadline")

	srv.Restart()
	require.Eventually(t, func() bool {
		_, err := v.GetSecret(ctx, "f/a")
		return err == nil
	}, 10*time.Second, 100*time.Millisecond, "work resumes after Redis returns")
	s := get(t, v, "f/a")
	assert.Equal(t, "one", s.Value.Reveal(), "the failed update left nothing behind")
	assert.Equal(t, "v1", s.Version)
	update(t, v, "f/a", "three")
	assert.Equal(t, "v2", get(t, v, "f/a").Version)
}

// BenchmarkGetSecretRedis compares a warm vault read with a raw go-redis GET
// of a value the size of the stored record, on the same server, serially
// and with 8 goroutines.
func BenchmarkGetSecretRedis(b *testing.B) {
	srv := redistest.StartServer(b)
	client := srv.Client(b)
	rb, err := redisbackend.New(client)
	if err != nil {
		b.Fatal(err)
	}
	v, err := agentvault.New(rb, testKey(b), agentvault.WithAudit(false))
	if err != nil {
		b.Fatal(err)
	}
	audited, err := agentvault.New(rb, testKey(b))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "production/openai/api-key", Value: agentvault.NewValue(benchValue()),
		Type: agentvault.TypeAPIKey, Tier: agentvault.TierStandard}); err != nil {
		b.Fatal(err)
	}
	recSize := storedRecordSize(b)
	if err := client.Set(ctx, "raw", strings.Repeat("x", recSize), 0).Err(); err != nil {
		b.Fatal(err)
	}
	vaultGet := func() {
		if _, err := v.GetSecret(ctx, "production/openai/api-key"); err != nil {
			b.Fatal(err)
		}
	}
	auditedGet := func() {
		if _, err := audited.GetSecret(ctx, "production/openai/api-key"); err != nil {
			b.Fatal(err)
		}
	}
	rawGet := func() {
		if _, err := client.Get(ctx, "raw").Bytes(); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		f    func()
	}{{"vault", vaultGet}, {"vault-audited", auditedGet}, {"rawGET", rawGet}} {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c.f()
			}
		})
		b.Run(c.name+"/parallel8", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(4) // 4 × GOMAXPROCS(2) = 8 goroutines
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.f()
				}
			})
		})
	}
}

// BenchmarkListSecretsRedis100k lists a 1,000-secret prefix among 100,000
// secrets stored in Redis (seeding takes a few seconds and is not timed).
func BenchmarkListSecretsRedis100k(b *testing.B) {
	srv := redistest.StartServer(b)
	rb, err := redisbackend.New(srv.Client(b))
	if err != nil {
		b.Fatal(err)
	}
	v, err := agentvault.New(rb, testKey(b), agentvault.WithAudit(false))
	if err != nil {
		b.Fatal(err)
	}
	const total, match, workers = 100_000, 1_000, 8
	var next atomic.Int64
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for {
				i := next.Add(1) - 1
				if i >= total {
					errs <- nil
					return
				}
				ns := "other"
				if i < match {
					ns = "team-a"
				}
				_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: fmt.Sprintf("%s/svc-%06d/key", ns, i), Value: agentvault.StringValue("value")})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		list, err := v.ListSecrets(ctx, agentvault.ListFilter{Prefix: "team-a/"})
		if err != nil || len(list) != match {
			b.Fatalf("ListSecrets: %d results, %v", len(list), err)
		}
	}
}
