package redisbackend_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// Environment of TestHelperProcess.
const (
	helperEnv       = "AGENTVAULT_REDIS_HELPER"
	helperAddrEnv   = "AGENTVAULT_REDIS_HELPER_ADDR"
	helperPrefixEnv = "AGENTVAULT_REDIS_HELPER_PREFIX"
	helperCountEnv  = "AGENTVAULT_REDIS_HELPER_COUNT"
)

// TestMultiProcessIncrements runs 8 copies of this test binary, each doing
// 200 compare-and-set increments of one counter through one Redis: the
// counter must end at exactly 1600, and the values the processes wrote
// must be 1..1600, each once (no lost and no duplicated update).
func TestMultiProcessIncrements(t *testing.T) {
	t.Parallel()
	const procs, each = 8, 200
	srv := redistest.StartServer(t)
	prefix := uniquePrefix(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	outs := make([]*bytes.Buffer, procs)
	cmds := make([]*exec.Cmd, procs)
	for i := range procs {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.timeout=60s")
		cmd.Env = append(os.Environ(),
			helperEnv+"=1",
			helperAddrEnv+"="+srv.Addr,
			helperPrefixEnv+"="+prefix,
			helperCountEnv+"="+strconv.Itoa(each),
		)
		outs[i] = new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		cmds[i] = cmd
	}
	start := time.Now()
	for i, cmd := range cmds {
		require.NoError(t, cmd.Start(), "start helper %d", i)
	}
	var values []int64
	for i, cmd := range cmds {
		err := cmd.Wait()
		require.NoError(t, err, "helper %d failed:\n%s", i, outs[i])
		n := 0
		sc := bufio.NewScanner(outs[i])
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "increment "); ok {
				x, err := strconv.ParseInt(v, 10, 64)
				require.NoError(t, err, "helper %d output %q", i, sc.Text())
				values = append(values, x)
				n++
			}
		}
		assert.Equal(t, each, n, "increments reported by helper %d", i)
	}
	t.Logf("%d processes x %d increments in %v", procs, each, time.Since(start).Round(time.Millisecond))

	b, err := redisbackend.New(srv.Client(t), redisbackend.WithPrefix(prefix))
	require.NoError(t, err, "New")
	got, err := backendtest.ReadCounter(t.Context(), b, "counter")
	require.NoError(t, err, "ReadCounter")
	assert.Equal(t, int64(procs*each), got, "counter")
	slices.Sort(values)
	want := make([]int64, procs*each)
	for i := range want {
		want[i] = int64(i + 1)
	}
	assert.Equal(t, want, values, "values written by all processes")
}

// TestHelperProcess is one process of TestMultiProcessIncrements; it does
// nothing when run directly.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process of TestMultiProcessIncrements")
	}
	n, err := strconv.Atoi(os.Getenv(helperCountEnv))
	require.NoError(t, err, helperCountEnv)
	b, err := redisbackend.Open("redis://"+os.Getenv(helperAddrEnv)+"/0", redisbackend.WithPrefix(os.Getenv(helperPrefixEnv)))
	require.NoError(t, err, "Open")
	defer b.Close()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for range n {
		v, err := backendtest.Increment(t.Context(), b, "counter")
		require.NoError(t, err, "Increment")
		fmt.Fprintf(w, "increment %d\n", v)
	}
}

// TestConcurrentCASHistory has 8 goroutines increment one counter with
// Get and conditional Put, on a single node and on a Cluster. Every
// successful Put is recorded: the values must be 1..N, each once, and their
// revisions must grow with the value (the register's history is
// linearizable), and every revision must be distinct.
func TestConcurrentCASHistory(t *testing.T) {
	t.Parallel()
	clients := map[string]redis.UniversalClient{
		"single":  redistest.StartServer(t).Client(t),
		"cluster": redistest.StartCluster(t, 3).Client(t),
	}
	for name, client := range clients {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const goroutines, each = 8, 100
			b, err := redisbackend.New(client, redisbackend.WithPrefix(uniquePrefix(t)))
			require.NoError(t, err, "New")
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()

			type write struct{ value, rev int64 }
			histories := make([][]write, goroutines)
			errs := make([]error, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for range each {
						for {
							v, rev, err := b.Get(ctx, "counter")
							n := int64(0)
							switch {
							case errors.Is(err, backend.ErrNotFound):
							case err != nil:
								errs[g] = err
								return
							default:
								if n, err = strconv.ParseInt(string(v), 10, 64); err != nil {
									errs[g] = err
									return
								}
							}
							newRev, err := b.Put(ctx, "counter", []byte(strconv.FormatInt(n+1, 10)), rev)
							if errors.Is(err, backend.ErrConflict) {
								continue
							}
							if err != nil {
								errs[g] = err
								return
							}
							histories[g] = append(histories[g], write{n + 1, newRev})
							break
						}
					}
				})
			}
			wg.Wait()
			for g, err := range errs {
				require.NoError(t, err, "goroutine %d", g)
			}
			all := slices.Concat(histories...)
			slices.SortFunc(all, func(a, b write) int { return int(a.value - b.value) })
			require.Len(t, all, goroutines*each, "successful writes")
			for i, w := range all {
				require.Equal(t, int64(i+1), w.value, "write %d value (lost or duplicated update)", i)
				if i > 0 {
					require.Greater(t, w.rev, all[i-1].rev, "revision of value %d vs value %d", w.value, all[i-1].value)
				}
			}
		})
	}
}
